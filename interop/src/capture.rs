//! Packet captures of BGP sessions in a lab, and what they show on the wire: TCP SYN, FIN
//! and RST segments, and the BGP messages of each direction (reassembled with
//! `ribsync::capture`, framed by the BGP header, RFC 4271 section 4.1). This is how a
//! failover test checks that no OPEN, NOTIFICATION or RST reached a neighbour.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bgpd::wire::{decode_message, Message, Prefix, SessionContext};
use ribsync::capture::{parse_frame, PcapReader, Reassembler, ReassemblerConfig, StreamEvent};

use crate::error::{LabError, Result};
use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::LabProcess;
use crate::rawpeer::{msg_type, HEADER_LEN};

/// The kernel capture ring of each [`Capture`], in KiB (`tcpdump -B`). With whole frames
/// on a veth with segmentation offloads, libpcap sizes each ring slot for a 64 KiB frame,
/// so tcpdump's default 2 MiB holds about 32 frames: a burst of a takeover's first segments
/// on 100 sessions (about 200 frames within 4 ms) lost all but the first ~34, and the lost
/// ones looked like segments lost on the wire (`takeover-bench`, issue 7). 64 MiB holds
/// about 1,000.
pub const CAPTURE_BUFFER_KIB: u32 = 64 * 1024;

/// The tcpdump filter of the BGP frames a host's interface `iface` (in `ns`) sends or
/// is sent: TCP port 179 to or from its own MAC address. A switch floods a frame for a MAC it
/// has not learnt (or has forgotten: a dead box's port went down) to every port, so a
/// neighbour's link also carries segments between other hosts (the standby probing the dead
/// primary's session address, with a SYN): the neighbour's NIC drops those, and they are
/// nothing the neighbour saw.
///
/// # Errors
/// The interface's MAC address cannot be read.
pub fn own_bgp_frames(ns: &Netns, iface: &str) -> Result<String> {
    let mac = ns.exec("cat", &[&format!("/sys/class/net/{iface}/address")])?;
    let mac = mac.trim();
    if mac.len() != 17 {
        return Err(LabError::Topology {
            file: "<lab>".into(),
            detail: format!("{}: no MAC address on {iface}: {mac:?}", ns.name()),
        });
    }
    Ok(format!("tcp port 179 and ether host {mac}"))
}

/// A running `tcpdump` inside a namespace, writing a pcap file.
#[derive(Debug)]
pub struct Capture {
    process: LabProcess,
    file: PathBuf,
    log: PathBuf,
}

/// A stopped [`Capture`]: its file, and what tcpdump reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The pcap file.
    pub file: PathBuf,
    /// Frames that matched the filter but never reached the file: the kernel dropped them
    /// (ring full) or the filter queue did ("packets dropped by kernel" plus what "received
    /// by filter" counts beyond "captured"). `None` when tcpdump did not report its counts.
    pub dropped: Option<u64>,
}

impl Capture {
    /// Starts capturing on `iface` in `ns` into `{dir}/{name}.pcap`, with the pcap filter
    /// `filter` (e.g. `"tcp port 179"`), and waits until tcpdump listens. Whole frames,
    /// delivered and written one by one (`--immediate-mode -U`), so a capture stopped at any
    /// time holds everything seen until then; tcpdump keeps root (`-Z root`). The kernel's
    /// capture ring is [`CAPTURE_BUFFER_KIB`], so a burst (a takeover's first segments on
    /// 100 sessions) is not dropped before tcpdump reads it; [`Capture::dropped`] tells.
    pub fn start(ns: &Netns, iface: &str, filter: &str, dir: &Path, name: &str) -> Result<Capture> {
        let file = dir.join(format!("{name}.pcap"));
        let log = dir.join(format!("{name}.tcpdump.log"));
        let f = file.to_string_lossy().into_owned();
        let buffer = CAPTURE_BUFFER_KIB.to_string();
        let mut args = vec![
            "-i",
            iface,
            "-n",
            "-U",
            "--immediate-mode",
            "-B",
            &buffer,
            "-Z",
            "root",
            "-s",
            "0",
            "-w",
            &f,
        ];
        args.extend(filter.split_whitespace());
        let mut process = LabProcess::spawn(ns, name, "tcpdump", &args, &[], &log)?;
        poll_until(
            &format!("tcpdump on {iface} to listen"),
            crate::poll::STARTUP_TIMEOUT,
            Duration::from_millis(20),
            || {
                process.check_running()?;
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                Ok(text.contains("listening on").then_some(()))
            },
        )?;
        Ok(Capture { process, file, log })
    }

    /// Stops tcpdump (SIGINT, it closes the file) and returns the capture file.
    pub fn stop(self) -> Result<PathBuf> {
        Ok(self.finish()?.file)
    }

    /// Stops tcpdump (SIGINT, it closes the file) and returns the file and how many frames
    /// it did not capture.
    pub fn finish(mut self) -> Result<Captured> {
        self.process.signal(libc::SIGINT);
        let p = &mut self.process;
        poll_until(
            "tcpdump to stop",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || Ok(p.check_running().is_err().then_some(())),
        )?;
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        Ok(Captured {
            file: self.file.clone(),
            dropped: not_captured(&text),
        })
    }
}

/// From tcpdump's closing counts ("N packets captured", "N packets received by filter",
/// "N packets dropped by kernel"), the frames that matched but were not captured: the
/// kernel's drops, or those the filter received beyond the captured ones, whichever is
/// larger. `None` without the counts.
pub fn not_captured(log: &str) -> Option<u64> {
    let count = |what: &str| {
        log.lines().find_map(|l| {
            let (n, rest) = l.trim().split_once(' ')?;
            rest.trim_start_matches("packets ")
                .trim_start_matches("packet ")
                .eq(what)
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
    };
    let captured = count("captured")?;
    let received = count("received by filter")?;
    let dropped = count("dropped by kernel")?;
    Some(dropped.max(received.saturating_sub(captured)))
}

/// One BGP message seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Capture time since the Unix epoch, of the segment that completed it.
    pub time: Duration,
    /// The whole message.
    pub bytes: Vec<u8>,
}

impl WireMessage {
    /// The message type (octet 18).
    pub fn kind(&self) -> u8 {
        self.bytes[18]
    }
}

/// What a capture shows.
#[derive(Debug, Clone, Default)]
pub struct WireSummary {
    /// SYN segments (sender, receiver).
    pub syn: Vec<(SocketAddr, SocketAddr)>,
    /// FIN segments.
    pub fin: Vec<(SocketAddr, SocketAddr)>,
    /// RST segments.
    pub rst: Vec<(SocketAddr, SocketAddr)>,
    /// BGP messages in wire order per direction (directions interleaved by capture time).
    pub messages: Vec<WireMessage>,
    /// Stream octets never captured (a consumer would have to resynchronise).
    pub gaps: u64,
}

impl WireSummary {
    /// The messages of type `kind`.
    pub fn of_type(&self, kind: u8) -> Vec<&WireMessage> {
        self.messages.iter().filter(|m| m.kind() == kind).collect()
    }

    /// The NOTIFICATIONs.
    pub fn notifications(&self) -> Vec<&WireMessage> {
        self.of_type(msg_type::NOTIFICATION)
    }

    /// The OPENs.
    pub fn opens(&self) -> Vec<&WireMessage> {
        self.of_type(msg_type::OPEN)
    }
}

/// What one speaker sent in UPDATEs on a capture, from an instant on (see [`tally_updates`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateTally {
    /// UPDATE messages (End-of-RIB markers included).
    pub updates: u64,
    /// Prefixes withdrawn, summed over the UPDATEs (Withdrawn Routes and MP_UNREACH_NLRI).
    pub withdrawn: u64,
    /// Prefixes announced, summed over the UPDATEs (NLRI and MP_REACH_NLRI).
    pub announced: u64,
    /// Prefixes withdrawn and then announced again on the same session: a route flap the
    /// receiver saw (RFC 4271 section 9.1.4 counts it as two changes).
    pub flapped: BTreeSet<Prefix>,
    /// UPDATEs that did not decode (their prefixes are not counted).
    pub undecoded: u64,
}

/// Counts the UPDATEs of `summary` sent by `sender` (any session) captured at or after
/// `since` (time since the Unix epoch), and the prefixes they withdraw and announce. The
/// UPDATEs are decoded with 4-octet AS numbers and without ADD-PATH (what FRR, BIRD and
/// understudy negotiate in the labs).
pub fn tally_updates(summary: &WireSummary, sender: IpAddr, since: Duration) -> UpdateTally {
    let ctx = SessionContext::modern();
    let mut tally = UpdateTally::default();
    // Per session (sender, receiver): the prefixes withdrawn so far and not announced since.
    let mut withdrawn: BTreeSet<(SocketAddr, SocketAddr, Prefix)> = BTreeSet::new();
    for m in summary
        .messages
        .iter()
        .filter(|m| m.src.ip() == sender && m.time >= since && m.kind() == msg_type::UPDATE)
    {
        tally.updates += 1;
        let Some(Message::Update(u)) = decode_message(&m.bytes, &ctx).message else {
            tally.undecoded += 1;
            continue;
        };
        for (_, n) in u.withdrawals() {
            tally.withdrawn += 1;
            withdrawn.insert((m.src, m.dst, n.prefix));
        }
        for (_, n) in u.announced() {
            tally.announced += 1;
            if withdrawn.remove(&(m.src, m.dst, n.prefix)) {
                tally.flapped.insert(n.prefix);
            }
        }
    }
    tally
}

/// Splits BGP messages off the front of `buf`. When the front is not a header (the capture
/// started inside a message), skips to the next all-ones marker.
fn frame_messages(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        if buf.len() < HEADER_LEN {
            return out;
        }
        let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
        let header_ok =
            buf[..16].iter().all(|b| *b == 0xff) && len >= HEADER_LEN && (1..=5).contains(&buf[18]);
        if !header_ok {
            let next = buf[1..]
                .windows(16)
                .position(|w| w.iter().all(|b| *b == 0xff));
            match next {
                Some(i) => {
                    buf.drain(..=i);
                }
                None => {
                    let keep = buf.len().min(15);
                    buf.drain(..buf.len() - keep);
                    return out;
                }
            }
            continue;
        }
        if buf.len() < len {
            return out;
        }
        let rest = buf.split_off(len);
        out.push(std::mem::replace(buf, rest));
    }
}

/// Reads a capture file and summarises it.
pub fn analyze(path: &Path) -> Result<WireSummary> {
    let file = std::fs::File::open(path).map_err(|e| LabError::io(path, e))?;
    let mut reader =
        PcapReader::new(file).map_err(|e| LabError::parse(path.display().to_string(), e))?;
    let mut reasm = Reassembler::new(ReassemblerConfig::default());
    let mut buffers: BTreeMap<(SocketAddr, SocketAddr), Vec<u8>> = BTreeMap::new();
    let mut summary = WireSummary::default();
    let mut drain = |reasm: &mut Reassembler, summary: &mut WireSummary, time: Duration| {
        while let Some(ev) = reasm.poll_event() {
            match ev {
                StreamEvent::Data { stream, bytes, .. } => {
                    let buf = buffers.entry((stream.src, stream.dst)).or_default();
                    buf.extend_from_slice(&bytes);
                    for m in frame_messages(buf) {
                        summary.messages.push(WireMessage {
                            src: stream.src,
                            dst: stream.dst,
                            time,
                            bytes: m,
                        });
                    }
                }
                StreamEvent::Gap { stream, range } => {
                    summary.gaps += range.end - range.start;
                    buffers.remove(&(stream.src, stream.dst));
                }
                _ => {}
            }
        }
    };
    while let Some(frame) = reader
        .next_frame()
        .map_err(|e| LabError::parse(path.display().to_string(), e))?
    {
        // Frames that are not readable TCP (ARP, ICMP, fragments, malformed) are skipped.
        let Ok(Some(seg)) = parse_frame(frame.link_type, &frame.data) else {
            continue;
        };
        let pair = (seg.src, seg.dst);
        if seg.flags.syn {
            summary.syn.push(pair);
        }
        if seg.flags.fin {
            summary.fin.push(pair);
        }
        if seg.flags.rst {
            summary.rst.push(pair);
        }
        reasm.push(&seg);
        drain(&mut reasm, &mut summary, frame.timestamp);
    }
    reasm.flush();
    drain(&mut reasm, &mut summary, Duration::ZERO);
    Ok(summary)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::rawpeer::keepalive_bytes;

    #[test]
    fn tcpdumps_closing_counts_give_the_frames_not_captured() {
        // The takeover bench's capture of 100 sessions with tcpdump's default ring.
        let log = "tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length \
                   262144 bytes\n34 packets captured\n200 packets received by filter\n\
                   166 packets dropped by kernel\n";
        assert_eq!(not_captured(log), Some(166));
        let log =
            "682 packets captured\n683 packets received by filter\n1 packet dropped by kernel\n";
        assert_eq!(not_captured(log), Some(1));
        // Received by the filter but not captured, with no kernel drop counted.
        let log = "10 packets captured\n12 packets received by filter\n0 packets dropped by kernel";
        assert_eq!(not_captured(log), Some(2));
        assert_eq!(not_captured("tcpdump: listening on eth0\n"), None);
    }

    fn update(withdrawn: &[[u8; 4]], nlri: &[[u8; 4]]) -> Vec<u8> {
        use bgpd::wire::builder::attributes;
        use bgpd::wire::{encode_message, AsPath, Asn, AttributeValue, Ipv4Prefix, Nlri, Origin};
        let n = |a: &[u8; 4]| Nlri::new(Ipv4Prefix::new((*a).into(), 24).unwrap());
        let u = bgpd::wire::Update {
            withdrawn: withdrawn.iter().map(n).collect(),
            attributes: if nlri.is_empty() {
                Default::default()
            } else {
                attributes([
                    AttributeValue::Origin(Origin::Igp),
                    AttributeValue::AsPath(AsPath::sequence([Asn(65000)])),
                    AttributeValue::NextHop([192, 0, 2, 1].into()),
                ])
            },
            nlri: nlri.iter().map(n).collect(),
        };
        encode_message(&Message::Update(u), &SessionContext::modern()).unwrap()
    }

    #[test]
    fn updates_after_an_instant_are_counted_and_a_withdrawal_announced_again_is_a_flap() {
        let router: SocketAddr = "192.0.2.1:179".parse().unwrap();
        let peer: SocketAddr = "192.0.2.12:40000".parse().unwrap();
        let at = |s: u64, src, dst, bytes| WireMessage {
            src,
            dst,
            time: Duration::from_secs(s),
            bytes,
        };
        let (p1, p2, p3) = ([203, 0, 113, 0], [198, 51, 100, 0], [192, 0, 2, 0]);
        let summary = WireSummary {
            messages: vec![
                // Before the instant: not counted (nor is its withdrawal remembered).
                at(9, router, peer, update(&[p3], &[])),
                at(10, router, peer, keepalive_bytes()),
                at(10, router, peer, update(&[p1, p2], &[])),
                // The neighbour's own UPDATE: not the router's.
                at(11, peer, router, update(&[], &[p1])),
                at(11, router, peer, update(&[], &[p1, p3])),
                // An UPDATE too short to hold its two length fields.
                at(12, router, peer, [vec![0xff; 16], vec![0, 19, 2]].concat()),
            ],
            ..WireSummary::default()
        };
        let t = tally_updates(&summary, router.ip(), Duration::from_secs(10));
        assert_eq!(t.updates, 3);
        assert_eq!((t.withdrawn, t.announced), (2, 2));
        let p = |a: [u8; 4]| Prefix::V4(bgpd::wire::Ipv4Prefix::new(a.into(), 24).unwrap());
        assert_eq!(t.flapped, BTreeSet::from([p(p1)]));
        assert_eq!(t.undecoded, 1);
        // From the start: p3 was withdrawn at 9 and announced at 11, a flap too.
        let t = tally_updates(&summary, router.ip(), Duration::ZERO);
        assert_eq!(t.updates, 4);
        assert_eq!(t.flapped, BTreeSet::from([p(p1), p(p3)]));
        // Nothing from the neighbour's side but its one UPDATE.
        let t = tally_updates(&summary, peer.ip(), Duration::ZERO);
        assert_eq!((t.updates, t.withdrawn, t.announced), (1, 0, 1));
        assert!(t.flapped.is_empty());
    }

    #[test]
    fn framing_resynchronises_after_a_partial_message() {
        let mut buf = vec![0x12, 0x34, 0x00];
        buf.extend(keepalive_bytes());
        buf.extend(keepalive_bytes());
        buf.extend(&keepalive_bytes()[..5]);
        let msgs = frame_messages(&mut buf);
        assert_eq!(msgs, vec![keepalive_bytes(), keepalive_bytes()]);
        assert_eq!(buf.len(), 5, "the incomplete message waits for more bytes");
    }
}
