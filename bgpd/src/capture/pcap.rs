//! A whole capture file to BGP messages.

use std::io::Read;

use ribsync::capture::{parse_frame, CaptureError, PcapReader, Reassembler, StreamEvent};

use super::{CapturedItem, ContextOverrides, SessionTracker};

/// Which TCP connections carry BGP: those with port 179 (RFC 4271 section 8.2.1) on
/// either side, plus any extra ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFilter {
    ports: Vec<u16>,
}

impl Default for PortFilter {
    fn default() -> Self {
        PortFilter { ports: vec![179] }
    }
}

impl PortFilter {
    /// Port 179 and `extra`.
    pub fn with_ports(extra: &[u16]) -> Self {
        let mut ports = vec![179];
        ports.extend_from_slice(extra);
        PortFilter { ports }
    }

    /// Whether a segment between these ports belongs to a BGP connection.
    pub fn matches(&self, src_port: u16, dst_port: u16) -> bool {
        self.ports.contains(&src_port) || self.ports.contains(&dst_port)
    }
}

/// Counters of one capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcapStats {
    /// Frames read.
    pub frames: u64,
    /// TCP segments of BGP connections.
    pub bgp_segments: u64,
    /// Frames whose headers could not be parsed.
    pub bad_frames: u64,
    /// Octets the capture missed (stream gaps).
    pub gap_bytes: u64,
    /// The capture file ended inside a record.
    pub truncated: bool,
}

/// Reads a pcap/pcapng capture, reassembles its BGP connections and hands every
/// [`CapturedItem`] to `sink`, in capture order.
///
/// # Errors
/// [`CaptureError::NotACapture`] and [`CaptureError::Io`] when the input is not a
/// readable capture; a capture that ends inside a record is read up to there
/// ([`PcapStats::truncated`]).
pub fn decode_pcap(
    input: impl Read + Send,
    filter: &PortFilter,
    overrides: &ContextOverrides,
    mut sink: impl FnMut(CapturedItem),
) -> Result<PcapStats, CaptureError> {
    let mut reader = PcapReader::new(input)?;
    let mut reassembler = Reassembler::default();
    let mut tracker = SessionTracker::new(overrides.clone());
    let mut stats = PcapStats::default();
    let mut pump =
        |reassembler: &mut Reassembler, tracker: &mut SessionTracker, stats: &mut PcapStats| {
            while let Some(ev) = reassembler.poll_event() {
                if let StreamEvent::Gap { range, .. } = &ev {
                    stats.gap_bytes += range.end - range.start;
                }
                tracker.on_event(ev);
            }
            while let Some(item) = tracker.poll_item() {
                sink(item);
            }
        };
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(CaptureError::Truncated) => {
                stats.truncated = true;
                break;
            }
            Err(e) => return Err(e),
        };
        stats.frames += 1;
        match parse_frame(frame.link_type, &frame.data) {
            Ok(Some(seg)) if filter.matches(seg.src.port(), seg.dst.port()) => {
                stats.bgp_segments += 1;
                reassembler.push(&seg);
            }
            Ok(_) => {}
            Err(_) => stats.bad_frames += 1,
        }
        pump(&mut reassembler, &mut tracker, &mut stats);
    }
    reassembler.flush();
    pump(&mut reassembler, &mut tracker, &mut stats);
    tracker.finish();
    pump(&mut reassembler, &mut tracker, &mut stats);
    Ok(stats)
}
