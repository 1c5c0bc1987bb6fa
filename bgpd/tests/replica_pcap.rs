//! Lockstep from a recorded session (issue 6, Tests): a real eBGP session captured by
//! packetlife.net (`shared/data/pcap/packetlife/EBGP_adjacency.cap`) is played to a primary
//! [`SpeakerReplica`] segment by segment, as its socket would have read it, and to a standby
//! through `ribsync::capture` (pcap reader, frame parser, TCP reassembly) with the segments
//! retransmitted and reordered, as a mirror port may deliver them. The standby is
//! introduced late, from a checkpoint taken after each of the neighbour's segments in turn,
//! and must reach the primary's digests and the Loc-RIB the capture announces.
//!
//! The capture: 1.1.1.1 (AS 65100, the neighbour) connects to 2.2.2.2 (AS 65200, played by
//! bgpd). `tcpdump -nr EBGP_adjacency.cap -vvv` shows the neighbour's stream: OPEN,
//! KEEPALIVE, five UPDATEs announcing 3 + 2 + 3 + 1 + 1 = 10 prefixes (AS_PATH 65100 or
//! 65100 65300), KEEPALIVEs, and an UPDATE with AS_PATH 65100 65200 that bgpd must reject:
//! it holds our own AS (RFC 4271 section 9.1.2).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bgpd::config::Config;
use bgpd::replica::SpeakerReplica;
use bgpd::session::ConnId;
use bgpd::speaker::{Input, Speaker};
use bgpd::time::Millis;
use ribsync::capture::{parse_frame, PcapReader, Reassembler, StreamEvent, TcpSegment};
use ribsync::checkpoint::{FlowId, Replicated};

const PCAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/pcap/packetlife/EBGP_adjacency.cap"
);

/// Prefixes the neighbour announces without our AS in the path (see the module docs).
const ANNOUNCED: usize = 10;

const CONFIG: &str = "router_id = \"10.20.3.1\"\nlocal_as = 65200\n\
    [policy.policies.all]\ndefault = \"accept\"\n\
    [[neighbor]]\naddress = \"1.1.1.1\"\nremote_as = 65100\n\
    local_address = \"2.2.2.2\"\nimport = [\"all\"]\nexport = [\"all\"]\n";

/// One captured TCP segment, owned.
#[derive(Debug, Clone)]
struct Seg {
    at_ms: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    rst: bool,
    window: u16,
    payload: Vec<u8>,
}

impl Seg {
    fn as_segment(&self) -> TcpSegment<'_> {
        let mut s = TcpSegment {
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            ack: self.ack,
            flags: Default::default(),
            window: self.window,
            payload: &self.payload,
            wire_len: self.payload.len() as u32,
        };
        s.flags.syn = self.syn;
        s.flags.fin = self.fin;
        s.flags.rst = self.rst;
        s.flags.ack = self.ack.is_some();
        s
    }
}

fn segments() -> Vec<Seg> {
    let file = std::fs::File::open(PCAP).expect("shared/data pcap");
    let mut out = Vec::new();
    let mut t0 = None;
    for frame in PcapReader::new(file).expect("pcap") {
        let frame = frame.expect("frame");
        let seg = parse_frame(frame.link_type, &frame.data)
            .expect("parses")
            .expect("TCP");
        let t = frame.timestamp.as_millis() as u64;
        let t0 = *t0.get_or_insert(t);
        out.push(Seg {
            at_ms: t - t0,
            src: seg.src,
            dst: seg.dst,
            seq: seg.seq,
            ack: seg.ack,
            syn: seg.flags.syn,
            fin: seg.flags.fin,
            rst: seg.flags.rst,
            window: seg.window,
            payload: seg.payload.to_vec(),
        });
    }
    out
}

fn neighbour() -> IpAddr {
    IpAddr::from([1, 1, 1, 1])
}

/// The flow as bgpd sees it: local 2.2.2.2:179, remote the neighbour's port.
fn flow_of(segs: &[Seg]) -> FlowId {
    let s = segs
        .iter()
        .find(|s| s.src.ip() == neighbour())
        .expect("neighbour segment");
    FlowId {
        local: s.dst,
        remote: s.src,
    }
}

/// A primary with the capture's connection accepted at the neighbour's SYN.
fn primary(flow: FlowId) -> SpeakerReplica {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let speaker = Speaker::new(Millis(0), config, 9).expect("speaker");
    let mut r = SpeakerReplica::new(speaker, 9, 1_700_000_000_000);
    let peer = r.speaker().peer_by_address(neighbour()).expect("peer");
    let conn = ConnId::incoming(1);
    r.bind_flow(flow, peer, conn);
    r.speaker_mut().handle(
        Millis(0),
        Input::ConnectionConfirmed {
            peer,
            conn,
            local_address: flow.local.ip(),
        },
    );
    r.drain_outputs();
    r
}

/// The mirror's view: every segment twice, and each pair of neighbouring segments swapped.
fn mirrored(segs: &[Seg]) -> Vec<Seg> {
    let mut v: Vec<Seg> = Vec::new();
    for pair in segs.chunks(2) {
        for s in pair.iter().rev() {
            v.push(s.clone());
        }
        v.extend(pair.iter().cloned());
    }
    v
}

/// The neighbour's stream as the reassembler delivers it from the mirrored segments.
fn reassembled(segs: &[Seg], flow: FlowId) -> (Vec<u8>, Vec<String>) {
    let mut r = Reassembler::default();
    for s in mirrored(segs) {
        r.push(&s.as_segment());
    }
    r.flush();
    let mut bytes = BTreeMap::new();
    let mut other = Vec::new();
    while let Some(ev) = r.poll_event() {
        match ev {
            StreamEvent::Data {
                stream,
                offset,
                bytes: b,
            } if stream.src == flow.remote => {
                bytes.insert(offset, b);
            }
            StreamEvent::Gap { stream, .. } | StreamEvent::Conflict { stream, .. }
                if stream.src == flow.remote =>
            {
                other.push(format!("{ev:?}"));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (offset, b) in bytes {
        assert_eq!(offset, out.len() as u64, "in order, no hole");
        out.extend_from_slice(&b);
    }
    (out, other)
}

#[test]
fn a_standby_fed_the_reassembled_capture_reaches_the_primary_digest() {
    let segs = segments();
    let flow = flow_of(&segs);
    let (stream, oddities) = reassembled(&segs, flow);
    assert!(oddities.is_empty(), "{oddities:?}");
    let direct: Vec<u8> = segs
        .iter()
        .filter(|s| s.src == flow.remote)
        .flat_map(|s| s.payload.clone())
        .collect();
    assert_eq!(stream, direct, "reassembly gives the bytes the socket read");

    // The neighbour's data segments, with the instant each was read.
    let data: Vec<&Seg> = segs
        .iter()
        .filter(|s| s.src == flow.remote && !s.payload.is_empty())
        .collect();
    let mut checkpoints = 0;
    // A standby introduced after each of the neighbour's segments in turn.
    for cut in 0..=data.len() {
        let mut p = primary(flow);
        for s in &data[..cut] {
            p.receive(Millis(s.at_ms), &flow, &s.payload)
                .expect("primary");
            p.drain_outputs();
        }
        if !p.flows().contains(&flow) {
            continue; // not Established yet: nothing to checkpoint
        }
        checkpoints += 1;
        let snap = p.snapshot_flow(&flow).expect("snapshot");
        let mut sb = {
            let other = "router_id = \"198.51.100.9\"\nlocal_as = 64999\n";
            let speaker = Speaker::new(Millis(0), Config::from_toml_str(other).expect("cfg"), 1)
                .expect("speaker");
            SpeakerReplica::new(speaker, 1, 0)
        };
        sb.import_static(&p.export_static()).expect("static");
        sb.restore_flow(&snap).expect("restore");
        sb.drain_outputs();
        assert_eq!(sb.state_digest(), p.state_digest(), "cut {cut}");

        // The rest: the primary reads its socket, the standby its mirror, message by
        // message at the same instants (the standby's feed follows the primary's reads).
        let at = snap.offsets.consumed_from_peer as usize;
        let mut fed = at;
        for s in &data[cut..] {
            p.receive(Millis(s.at_ms), &flow, &s.payload)
                .expect("primary");
            p.drain_outputs();
            let upto = p.received(&flow).expect("bound") as usize;
            sb.feed_peer_bytes(s.at_ms, &flow, fed as u64, &stream[fed..upto])
                .expect("standby");
            sb.drain_outputs();
            fed = upto;
            assert_eq!(sb.flow_digest(&flow), p.flow_digest(&flow), "cut {cut}");
        }
        assert_eq!(fed, stream.len());
        assert_eq!(sb.flow_offsets(&flow), p.flow_offsets(&flow));
        assert_eq!(sb.state_digest(), p.state_digest(), "cut {cut}");
        assert_eq!(
            sb.speaker().state_digest(),
            p.speaker().state_digest(),
            "cut {cut}: one flow, same instants: even egress timing agrees"
        );
        let (pl, sl) = (p.speaker().rib().loc_rib(), sb.speaker().rib().loc_rib());
        assert_eq!(sl, pl);
        assert_eq!(pl.len(), ANNOUNCED, "cut {cut}");
        let peer = p.speaker().peer_by_address(neighbour()).expect("peer");
        let ins = p.speaker().rib().adj_rib_in(peer);
        assert_eq!(
            ins.iter().filter(|r| !r.accepted).count(),
            3,
            "looped routes kept, rejected"
        );
    }
    assert!(checkpoints >= 4, "{checkpoints} checkpoints");
}
