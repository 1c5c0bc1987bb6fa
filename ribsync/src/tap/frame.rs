//! Frames read from the mirror tap, and a header view of the TCP segment they carry.
//!
//! A tap on a veth with TSO sees GSO super-frames (one "frame" holding many MSS worth of
//! payload, 9.6 KB and more): the payload is delimited by the IP total length (IPv4) or
//! payload length (IPv6), never by the MTU. Ethernet padding after the IP packet is
//! excluded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

/// How the frame reached the interface (`sll_pkttype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Addressed to this host, broadcast, multicast or seen in promiscuous mode.
    Incoming,
    /// Sent by this host.
    Outgoing,
}

/// One Ethernet frame from the tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapFrame {
    /// Kernel receive time, since the Unix epoch.
    pub timestamp: Duration,
    /// The frame, from the Ethernet destination address on.
    pub data: Vec<u8>,
    /// The frame's length on the wire; larger than `data.len()` if truncated.
    pub wire_len: usize,
    /// Incoming or outgoing.
    pub direction: Direction,
}

impl TapFrame {
    /// The TCP segment carried by this frame, if it is IPv4/IPv6 TCP and complete.
    pub fn tcp(&self) -> Option<TcpSegmentView<'_>> {
        TcpSegmentView::parse(&self.data)
    }
}

/// TCP header flags (RFC 9293 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;

    /// True if every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// A borrowed view of a TCP segment inside an Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegmentView<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with ACK).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window field as sent (unscaled).
    pub window: u16,
    /// RFC 7323 TSval and TSecr, when the Timestamps option is present.
    pub timestamps: Option<(u32, u32)>,
    /// The payload.
    pub payload: &'a [u8],
    /// Where the payload lies in the frame.
    pub payload_range: Range<usize>,
}

impl<'a> TcpSegmentView<'a> {
    /// Parses Ethernet (optionally one 802.1Q tag) / IPv4 or IPv6 (no extension headers)
    /// / TCP. `None` for anything else or a truncated frame.
    pub fn parse(frame: &'a [u8]) -> Option<Self> {
        let mut off = 12;
        let mut ethertype = be16(frame, off)?;
        off += 2;
        if ethertype == 0x8100 {
            ethertype = be16(frame, off + 2)?;
            off += 4;
        }
        let (src_ip, dst_ip, l4, end) = match ethertype {
            0x0800 => {
                let ihl = usize::from(*frame.get(off)? & 0x0f) * 4;
                if *frame.get(off + 9)? != 6 || ihl < 20 || be16(frame, off + 6)? & 0x1fff != 0 {
                    return None;
                }
                let total = usize::from(be16(frame, off + 2)?);
                // tot_len 0 happens with BIG TCP super-frames: the frame delimits the packet.
                let end = if total == 0 { frame.len() } else { off + total };
                let s = Ipv4Addr::from(be32(frame, off + 12)?);
                let d = Ipv4Addr::from(be32(frame, off + 16)?);
                (IpAddr::V4(s), IpAddr::V4(d), off + ihl, end)
            }
            0x86dd => {
                if *frame.get(off + 6)? != 6 {
                    return None;
                }
                let plen = usize::from(be16(frame, off + 4)?);
                let end = if plen == 0 {
                    frame.len()
                } else {
                    off + 40 + plen
                };
                let s: [u8; 16] = frame.get(off + 8..off + 24)?.try_into().ok()?;
                let d: [u8; 16] = frame.get(off + 24..off + 40)?.try_into().ok()?;
                (
                    IpAddr::V6(Ipv6Addr::from(s)),
                    IpAddr::V6(Ipv6Addr::from(d)),
                    off + 40,
                    end,
                )
            }
            _ => return None,
        };
        if end > frame.len() {
            return None;
        }
        let doff = usize::from(*frame.get(l4 + 12)? >> 4) * 4;
        if doff < 20 || l4 + doff > end {
            return None;
        }
        let timestamps = find_timestamps(frame.get(l4 + 20..l4 + doff)?);
        let payload_range = l4 + doff..end;
        Some(TcpSegmentView {
            src: SocketAddr::new(src_ip, be16(frame, l4)?),
            dst: SocketAddr::new(dst_ip, be16(frame, l4 + 2)?),
            seq: be32(frame, l4 + 4)?,
            ack: be32(frame, l4 + 8)?,
            flags: TcpFlags(*frame.get(l4 + 13)?),
            window: be16(frame, l4 + 14)?,
            timestamps,
            payload: frame.get(payload_range.clone())?,
            payload_range,
        })
    }
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// The RFC 7323 Timestamps option (kind 8, length 10) among the TCP options.
fn find_timestamps(opts: &[u8]) -> Option<(u32, u32)> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return None,
            1 => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 {
                    return None;
                }
                if kind == 8 && len == 10 {
                    return Some((be32(opts, i + 2)?, be32(opts, i + 6)?));
                }
                i += len;
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + TCP with NOP,NOP,TS options and `payload`, plus Ethernet padding.
    fn frame(payload: &[u8], pad: usize) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 20 + 32 + payload.len();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        f.extend_from_slice(&ip);
        let mut tcp = vec![0u8; 32];
        tcp[0..2].copy_from_slice(&179u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&40000u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&0xfffffff0u32.to_be_bytes());
        tcp[8..12].copy_from_slice(&77u32.to_be_bytes());
        tcp[12] = 8 << 4;
        tcp[13] = TcpFlags::ACK | TcpFlags::PSH;
        tcp[14..16].copy_from_slice(&502u16.to_be_bytes());
        tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 7]);
        f.extend_from_slice(&tcp);
        f.extend_from_slice(payload);
        f.extend(std::iter::repeat_n(0xee, pad));
        f
    }

    #[test]
    fn parses_by_ip_length_not_frame_length() {
        let f = frame(b"hello", 9);
        let s = TcpSegmentView::parse(&f).unwrap();
        assert_eq!(s.src, "192.0.2.1:179".parse().unwrap());
        assert_eq!(s.dst, "192.0.2.2:40000".parse().unwrap());
        assert_eq!(s.seq, 0xfffffff0);
        assert_eq!(s.ack, 77);
        assert!(s.flags.has(TcpFlags::ACK | TcpFlags::PSH));
        assert!(!s.flags.has(TcpFlags::SYN));
        assert_eq!(s.window, 502);
        assert_eq!(s.timestamps, Some((12345, 7)));
        assert_eq!(s.payload, b"hello");
    }

    #[test]
    fn gso_super_frame_payload() {
        let big = vec![0x5a; 9600];
        let f = frame(&big, 0);
        let s = TcpSegmentView::parse(&f).unwrap();
        assert_eq!(s.payload.len(), 9600);
    }

    #[test]
    fn truncated_is_none() {
        let f = frame(b"hello", 0);
        assert!(TcpSegmentView::parse(&f[..f.len() - 1]).is_none());
        assert!(TcpSegmentView::parse(&f[..30]).is_none());
    }
}
