//! The TCP context of one session, as read from the primary's live socket and carried in
//! checkpoints (DESIGN.md section 3, "Session context"; notes/tcp-takeover.md, last part).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// A TCP sequence number (RFC 9293 section 3.4): 32-bit, compared modulo 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self + n` modulo 2^32.
    pub fn wrapping_add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// Bytes from `earlier` to `self` modulo 2^32.
    pub fn distance_from(self, earlier: SeqNum) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// True when `self` is after `other` in sequence space (RFC 9293 section 3.4,
    /// comparisons modulo 2^32; the kernel's `after()`).
    pub fn is_after(self, other: SeqNum) -> bool {
        (self.0.wrapping_sub(other.0) as i32) > 0
    }

    /// The later of two sequence numbers.
    pub fn later(self, other: SeqNum) -> SeqNum {
        if other.is_after(self) {
            other
        } else {
            self
        }
    }
}

/// Window scale shift counts (RFC 7323 section 2), each 0..=14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowScale {
    /// The shift our side announced in its SYN (applies to windows we advertise).
    pub ours: u8,
    /// The shift the neighbour announced (applies to windows it advertises).
    pub peer: u8,
}

/// Which clock the TSval are taken from (Linux >= 6.7 can use microseconds,
/// `TCPI_OPT_USEC_TS`; the low bit of `TCP_TIMESTAMP` selects it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TsClock {
    /// One TSval tick per millisecond (the default).
    Millis,
    /// One TSval tick per microsecond.
    Micros,
}

impl TsClock {
    /// Ticks of this clock in `micros` microseconds.
    pub fn ticks(self, micros: u64) -> u64 {
        match self {
            TsClock::Millis => micros / 1000,
            TsClock::Micros => micros,
        }
    }
}

/// RFC 7323 timestamps, when negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampState {
    /// The clock the primary's TSval run on.
    pub clock: TsClock,
    /// The TSval the primary's socket would have sent at the moment of the peek
    /// (`TCP_TIMESTAMP`), in ticks of `clock`.
    pub tsval: u32,
}

/// `struct tcp_repair_window`: the window state both ways, bytes (already scaled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairWindow {
    /// Sequence number of the segment that last updated the send window.
    pub snd_wl1: SeqNum,
    /// The neighbour's receive window, bytes.
    pub snd_wnd: u32,
    /// The largest window the neighbour ever advertised, bytes.
    pub max_window: u32,
    /// The window our side advertised last, bytes.
    pub rcv_wnd: u32,
    /// `rcv_nxt` at the time our side last advertised its window (our last ACK).
    pub rcv_wup: SeqNum,
}

/// Maximum segment sizes, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MssState {
    /// The MSS the neighbour announced in its SYN (`mss_clamp`).
    pub peer: u16,
    /// The MSS our side announced (`tcpi_advmss`).
    pub ours: u16,
    /// The effective send MSS at peek time (`tcpi_snd_mss`, options deducted).
    pub effective: u16,
}

/// Everything needed to rebuild one established TCP connection on another host with the
/// same 4-tuple and sequence space (TCP_REPAIR), and the bytes in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpRepairState {
    /// Our side of the 4-tuple (the session address).
    pub local: SocketAddr,
    /// The neighbour's side of the 4-tuple.
    pub remote: SocketAddr,
    /// Oldest byte the neighbour has not acknowledged (its last ACK).
    pub snd_una: SeqNum,
    /// Next byte our side would send for the first time.
    pub snd_nxt: SeqNum,
    /// One past the last byte written into the send queue (`TCP_QUEUE_SEQ` of the send
    /// queue); `write_seq - snd_una == send_queue.len()`.
    pub write_seq: SeqNum,
    /// Next byte expected from the neighbour (`TCP_QUEUE_SEQ` of the receive queue).
    pub rcv_nxt: SeqNum,
    /// Maximum segment sizes.
    pub mss: MssState,
    /// Window scaling, when negotiated.
    pub window_scale: Option<WindowScale>,
    /// SACK permitted was negotiated (RFC 2018).
    pub sack_permitted: bool,
    /// Timestamps, when negotiated (RFC 7323).
    pub timestamps: Option<TimestampState>,
    /// The window state (`TCP_REPAIR_WINDOW`).
    pub window: RepairWindow,
    /// Bytes from `snd_una` to `write_seq`: sent but not acknowledged, then not yet sent.
    pub send_queue: Vec<u8>,
    /// Bytes received and acknowledged but not yet read by the application; they end at
    /// `rcv_nxt`.
    pub recv_queue: Vec<u8>,
    /// Name of the TCP-MD5 key (RFC 2385) in the configuration, if the session uses one;
    /// the key itself never travels in a checkpoint.
    pub md5_key_ref: Option<String>,
    /// When the peek was taken: microseconds since the Unix epoch (used to advance TSval).
    pub peeked_at_unix_us: u64,
}

impl TcpRepairState {
    /// Sent but unacknowledged byte count (`snd_nxt - snd_una`).
    pub fn unacked_len(&self) -> u32 {
        self.snd_nxt.distance_from(self.snd_una)
    }
}

/// Microseconds since the Unix epoch now (saturating at 0 for clocks before 1970).
pub fn unix_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seq_comparisons_wrap() {
        let a = SeqNum(0xffff_fff0);
        let b = a.wrapping_add(0x20);
        assert_eq!(b, SeqNum(0x10));
        assert!(b.is_after(a));
        assert!(!a.is_after(b));
        assert_eq!(b.distance_from(a), 0x20);
        assert_eq!(a.later(b), b);
        assert_eq!(b.later(a), b);
    }

    #[test]
    fn ts_clock_ticks() {
        assert_eq!(TsClock::Millis.ticks(12_345), 12);
        assert_eq!(TsClock::Micros.ticks(12_345), 12_345);
    }
}
