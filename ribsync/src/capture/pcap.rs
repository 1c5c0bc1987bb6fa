//! Reading captured frames from pcap and pcapng files (crate `pcap-parser`).
//!
//! [`PcapReader`] yields one [`Frame`] per packet record, in file order, with its link
//! type and timestamp. Both the legacy format (either byte order, microsecond or nanosecond
//! timestamps) and pcapng (several sections and interfaces, enhanced and simple packet
//! blocks) are read.

use std::io::Read;
use std::time::Duration;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::CaptureError;

/// Initial size of the reader's buffer; it grows when one record does not fit.
const INITIAL_BUFFER: usize = 256 * 1024;
/// Largest buffer the reader grows to; a record larger than this is reported malformed.
const MAX_BUFFER: usize = 64 * 1024 * 1024;

/// The link-layer framing of captured frames (the pcap `LINKTYPE_*` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1): Ethernet II / 802.3, optionally VLAN-tagged.
    Ethernet,
    /// `LINKTYPE_RAW` (101, also the BSD DLT values 12 and 14) and `LINKTYPE_IPV4`/`IPV6`
    /// (228/229): the frame starts with the IP header.
    RawIp,
    /// `LINKTYPE_LINUX_SLL` (113): the 16-byte Linux "cooked" header.
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276): the 20-byte Linux "cooked" v2 header.
    LinuxSll2,
    /// `LINKTYPE_C_HDLC` (104): Cisco HDLC, address, control and a 2-byte EtherType.
    CiscoHdlc,
    /// `LINKTYPE_PPP` (9) and `LINKTYPE_PPP_HDLC` (50): PPP, optionally with the HDLC
    /// address/control octets `ff 03`, then a 2-byte PPP protocol number.
    Ppp,
    /// `LINKTYPE_FRELAY` (107): Frame Relay, a 2-octet Q.922 address then either the
    /// RFC 2427 control/NLPID header or Cisco's 2-byte EtherType.
    FrameRelay,
    /// `LINKTYPE_JUNIPER_ETHER` (178): Juniper's capture header ("MGC", flags, optional
    /// extension TLVs) in front of an Ethernet frame.
    JuniperEther,
    /// `LINKTYPE_NULL` (0): BSD loopback, a 4-byte address family in host byte order.
    Null,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, a 4-byte address family in network order.
    Loop,
    /// Any other link type, kept as its number.
    Other(i32),
}

impl LinkType {
    /// Maps a pcap link-type number to a [`LinkType`].
    pub fn from_pcap(linktype: i32) -> Self {
        match linktype {
            1 => LinkType::Ethernet,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            104 => LinkType::CiscoHdlc,
            9 | 50 => LinkType::Ppp,
            107 => LinkType::FrameRelay,
            178 => LinkType::JuniperEther,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Other(other),
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The framing of `data`.
    pub link_type: LinkType,
    /// Capture time, since the Unix epoch (UTC).
    pub timestamp: Duration,
    /// The captured bytes (at most the snapshot length of the capture).
    pub data: Vec<u8>,
    /// Length of the frame on the wire, which exceeds `data.len()` when the capture
    /// truncated it.
    pub original_len: u32,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset: i64,
}

/// Reads the frames of a pcap or pcapng capture from any [`Read`] source.
///
/// ```no_run
/// # fn main() -> Result<(), ribsync::capture::CaptureError> {
/// let file = std::fs::File::open("session.pcap")?;
/// let mut reader = ribsync::capture::PcapReader::new(file)?;
/// while let Some(frame) = reader.next_frame()? {
///     println!("{} bytes", frame.data.len());
/// }
/// # Ok(()) }
/// ```
pub struct PcapReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    capacity: usize,
    /// Legacy pcap: the file header's link type and timestamp resolution.
    legacy: Option<Interface>,
    /// pcapng: the interfaces of the current section, by interface id.
    interfaces: Vec<Interface>,
}

impl std::fmt::Debug for PcapReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapReader")
            .field("consumed", &self.inner.consumed())
            .field("legacy", &self.legacy)
            .field("interfaces", &self.interfaces)
            .finish()
    }
}

impl<'r> PcapReader<'r> {
    /// Opens a capture; the format (pcapng or legacy pcap) is detected from the first
    /// bytes.
    ///
    /// # Errors
    /// [`CaptureError::NotACapture`] when the input starts with neither header (an empty
    /// input included), [`CaptureError::Io`] when reading fails.
    pub fn new<R: Read + Send + 'r>(reader: R) -> Result<Self, CaptureError> {
        let inner = pcap_parser::create_reader(INITIAL_BUFFER, reader).map_err(|e| match e {
            PcapError::ReadError => CaptureError::Io(std::io::Error::other("read failed")),
            _ => CaptureError::NotACapture,
        })?;
        Ok(PcapReader {
            inner,
            capacity: INITIAL_BUFFER,
            legacy: None,
            interfaces: Vec::new(),
        })
    }

    /// Returns the next captured frame, `Ok(None)` at the end of the capture.
    ///
    /// # Errors
    /// [`CaptureError::Truncated`] when the capture ends inside a record,
    /// [`CaptureError::Malformed`] for a record that cannot be parsed,
    /// [`CaptureError::UnknownInterface`] for a pcapng packet of an undeclared interface.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        loop {
            let consumed_before = self.inner.consumed() as u64;
            let step = match self.inner.next() {
                Ok((len, block)) => Ok((
                    len,
                    handle_block(block, &mut self.legacy, &mut self.interfaces),
                )),
                Err(e) => Err(classify(e)),
            };
            match step {
                Ok((len, frame)) => {
                    self.inner.consume(len);
                    match frame? {
                        Some(frame) => return Ok(Some(frame)),
                        None => continue,
                    }
                }
                Err(Step::Eof) => return Ok(None),
                Err(Step::Refill) => {
                    let before = self.inner.data().len();
                    self.inner
                        .refill()
                        .map_err(|_| CaptureError::Io(std::io::Error::other("read failed")))?;
                    if self.inner.data().len() == before && !self.inner.reader_exhausted() {
                        // No room left to read into: the record is larger than the buffer.
                        self.grow(consumed_before)?;
                    }
                }
                Err(Step::Grow) => self.grow(consumed_before)?,
                Err(Step::Truncated) => return Err(CaptureError::Truncated),
                Err(Step::Malformed(reason)) => {
                    return Err(CaptureError::Malformed {
                        offset: consumed_before,
                        reason,
                    })
                }
            }
        }
    }

    fn grow(&mut self, offset: u64) -> Result<(), CaptureError> {
        let new_size = self.capacity.saturating_mul(2);
        if new_size > MAX_BUFFER || !self.inner.grow(new_size) {
            return Err(CaptureError::Malformed {
                offset,
                reason: format!("record larger than {MAX_BUFFER} bytes"),
            });
        }
        self.capacity = new_size;
        Ok(())
    }
}

impl Iterator for PcapReader<'_> {
    type Item = Result<Frame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

enum Step {
    Eof,
    Refill,
    Grow,
    Truncated,
    Malformed(String),
}

fn classify(e: PcapError<&[u8]>) -> Step {
    match e {
        PcapError::Eof => Step::Eof,
        PcapError::Incomplete(_) => Step::Refill,
        PcapError::BufferTooSmall => Step::Grow,
        PcapError::UnexpectedEof => Step::Truncated,
        other => Step::Malformed(format!("{other:?}")),
    }
}

/// Turns one pcap block into a frame, updating the interface tables on header blocks.
fn handle_block(
    block: PcapBlockOwned<'_>,
    legacy: &mut Option<Interface>,
    interfaces: &mut Vec<Interface>,
) -> Result<Option<Frame>, CaptureError> {
    match block {
        PcapBlockOwned::LegacyHeader(header) => {
            *legacy = Some(Interface {
                link_type: LinkType::from_pcap(header.network.0),
                resolution: if header.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                },
                offset: 0,
            });
            Ok(None)
        }
        PcapBlockOwned::Legacy(record) => {
            let iface = legacy.ok_or(CaptureError::NotACapture)?;
            Ok(Some(Frame {
                link_type: iface.link_type,
                timestamp: timestamp(
                    u64::from(record.ts_sec),
                    u64::from(record.ts_usec),
                    iface.resolution,
                ),
                data: record.data.to_vec(),
                original_len: record.origlen,
            }))
        }
        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
            // Interface ids are local to a section (pcapng section 4.2).
            interfaces.clear();
            Ok(None)
        }
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
            interfaces.push(Interface {
                link_type: LinkType::from_pcap(idb.linktype.0),
                resolution: idb.ts_resolution().unwrap_or(1_000_000),
                offset: idb.ts_offset(),
            });
            Ok(None)
        }
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            let iface = *interfaces
                .get(epb.if_id as usize)
                .ok_or(CaptureError::UnknownInterface(epb.if_id))?;
            let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            let secs = units / iface.resolution.max(1);
            let frac = units % iface.resolution.max(1);
            let mut ts = timestamp(secs, frac, iface.resolution);
            if iface.offset >= 0 {
                ts += Duration::from_secs(iface.offset.unsigned_abs());
            } else {
                ts = ts.saturating_sub(Duration::from_secs(iface.offset.unsigned_abs()));
            }
            Ok(Some(Frame {
                link_type: iface.link_type,
                timestamp: ts,
                data: epb.packet_data().to_vec(),
                original_len: epb.origlen,
            }))
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            // A simple packet block belongs to the first interface (pcapng section 4.4).
            let iface = *interfaces
                .first()
                .ok_or(CaptureError::UnknownInterface(0))?;
            Ok(Some(Frame {
                link_type: iface.link_type,
                timestamp: Duration::ZERO,
                data: spb.packet_data().to_vec(),
                original_len: spb.origlen,
            }))
        }
        PcapBlockOwned::NG(_) => Ok(None),
    }
}

/// `secs` seconds plus `frac` units of `1/resolution` second.
fn timestamp(secs: u64, frac: u64, resolution: u64) -> Duration {
    let resolution = u128::from(resolution.max(1));
    let nanos = u128::from(frac) * 1_000_000_000 / resolution;
    let extra_secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let nanos = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(secs.saturating_add(extra_secs), nanos)
}
