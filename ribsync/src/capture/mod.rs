//! Capture input: pcap/pcapng files and TCP stream reassembly (DESIGN.md section 3,
//! "Mirrored traffic").
//!
//! The standby reads every frame between the primary and its neighbours from a mirror
//! port; tests and `understudy decode --pcap` read the same frames from a capture file.
//! Either way the path is the same:
//!
//! 1. [`PcapReader`] (files) or the AF_PACKET tap (live) yields [`Frame`]s;
//! 2. [`parse_frame`] slices the link layer, IPv4/IPv6 and TCP headers into a
//!    [`TcpSegment`];
//! 3. the sans-IO [`Reassembler`] turns the segments of every connection into two
//!    in-order byte streams ([`StreamEvent`]), with gaps, FIN/RST and the ACK numbers each
//!    side sent (RFC 9293).

mod error;
mod pcap;
mod reassembler;
mod segment;
mod stream;

pub use error::CaptureError;
pub use pcap::{Frame, LinkType, PcapReader};
pub use reassembler::{Flow, FlowKey, Reassembler, ReassemblerConfig};
pub use segment::{parse_frame, TcpFlags, TcpSegment};
pub use stream::{CloseReason, HalfState, HalfStream, HalfStreamStats, StreamEvent, StreamId};

#[cfg(test)]
mod tests;
