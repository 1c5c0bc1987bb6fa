//! The mirror tap (DESIGN.md section 3, "Mirrored traffic"): an AF_PACKET socket on the
//! mirror port, promiscuous, with a kernel BPF filter for TCP port 179 of the session
//! addresses; it yields raw Ethernet frames with kernel timestamps (GSO super-frames
//! included) for the TCP reassembly, read from a TPACKET_V3 memory-mapped ring (or with
//! `recvmsg`), with the kernel's frame and drop counters.

pub mod bpf;
mod frame;
mod ring;
mod socket;

pub use frame::{Direction, TapFrame, TcpFlags, TcpSegmentView};
pub use ring::RingSize;
pub use socket::{MirrorTap, TapConfig, TapError, TapStats};
