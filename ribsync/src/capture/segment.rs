//! From a captured frame to a TCP segment (link layer, IPv4/IPv6, TCP header).
//!
//! Link-layer framing per [`LinkType`]; IP and TCP headers are sliced with the crate
//! `etherparse` in its lax mode, so that:
//! - the IP total length (IPv4) or payload length (IPv6) bounds the segment: Ethernet
//!   padding is dropped, and GSO/TSO super-frames captured before segmentation (larger than
//!   the MTU, or with an IPv4 total length of 0) are parsed whole;
//! - IP fragments are not reassembled: the first fragment of an IPv4 datagram yields the
//!   TCP header and its part of the payload, later fragments are skipped (their octets
//!   become a gap of the stream);
//! - a frame cut short by the capture's snapshot length still yields its TCP header and
//!   the captured part of the payload, with the length the payload had on the wire.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use super::{CaptureError, LinkType};

/// The TCP control bits an observer of a connection acts on (RFC 9293 section 3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN: synchronize sequence numbers; occupies one sequence number.
    pub syn: bool,
    /// FIN: no more data from sender; occupies one sequence number.
    pub fin: bool,
    /// RST: reset the connection.
    pub rst: bool,
    /// ACK: the acknowledgment number field is significant.
    pub ack: bool,
}

/// One TCP segment as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sender's address and port.
    pub src: SocketAddr,
    /// Receiver's address and port.
    pub dst: SocketAddr,
    /// Sequence number of the first octet of the segment (of the SYN when SYN is set).
    pub seq: u32,
    /// Acknowledgment number (the next sequence number the sender expects to receive),
    /// present when the ACK bit is set.
    pub ack: Option<u32>,
    /// Control bits.
    pub flags: TcpFlags,
    /// Receive window as sent (not scaled), in octets.
    pub window: u16,
    /// The captured payload; shorter than `wire_len` when the capture truncated the frame.
    pub payload: &'a [u8],
    /// Length of the payload on the wire, in octets.
    pub wire_len: u32,
}

/// Parses a captured frame down to its TCP segment.
///
/// Returns `Ok(None)` for frames that carry no TCP segment we can read: non-IP frames
/// (ARP, LLDP, ...), other transports (UDP, ICMP, ...) and IP fragments.
///
/// # Errors
/// [`CaptureError::LinkHeader`] when the frame is shorter than its link-layer header,
/// [`CaptureError::UnsupportedLinkType`] for link types other than those of
/// [`LinkType`], [`CaptureError::Ip`] and [`CaptureError::Tcp`] for malformed headers.
pub fn parse_frame(
    link_type: LinkType,
    data: &[u8],
) -> Result<Option<TcpSegment<'_>>, CaptureError> {
    let packet = match link_type {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(data)
            .map_err(|e| CaptureError::LinkHeader(e.to_string()))?,
        LinkType::RawIp => {
            LaxSlicedPacket::from_ip(data).map_err(|e| CaptureError::Ip(e.to_string()))?
        }
        LinkType::LinuxSll => {
            // packet type (2), ARPHRD type (2), address length (2), address (8),
            // protocol (2).
            let header = data
                .get(..16)
                .ok_or_else(|| CaptureError::LinkHeader("Linux SLL header cut short".into()))?;
            let protocol = u16::from_be_bytes([header[14], header[15]]);
            LaxSlicedPacket::from_ether_type(EtherType(protocol), &data[16..])
        }
        LinkType::LinuxSll2 => {
            // protocol (2), reserved (2), interface index (4), ARPHRD type (2),
            // packet type (1), address length (1), address (8).
            let header = data
                .get(..20)
                .ok_or_else(|| CaptureError::LinkHeader("Linux SLL2 header cut short".into()))?;
            let protocol = u16::from_be_bytes([header[0], header[1]]);
            LaxSlicedPacket::from_ether_type(EtherType(protocol), &data[20..])
        }
        LinkType::CiscoHdlc => {
            let header = data
                .get(..4)
                .ok_or_else(|| CaptureError::LinkHeader("Cisco HDLC header cut short".into()))?;
            let protocol = u16::from_be_bytes([header[2], header[3]]);
            LaxSlicedPacket::from_ether_type(EtherType(protocol), &data[4..])
        }
        LinkType::Ppp => {
            let rest = match data {
                [0xff, 0x03, rest @ ..] => rest,
                rest => rest,
            };
            let header = rest
                .get(..2)
                .ok_or_else(|| CaptureError::LinkHeader("PPP header cut short".into()))?;
            // RFC 1332 (IPCP) and RFC 5072 (IPV6CP): PPP protocol numbers of IPv4 and IPv6.
            let ether_type = match u16::from_be_bytes([header[0], header[1]]) {
                0x0021 => EtherType::IPV4,
                0x0057 => EtherType::IPV6,
                _ => return Ok(None),
            };
            LaxSlicedPacket::from_ether_type(ether_type, &rest[2..])
        }
        LinkType::FrameRelay => {
            let cut = || CaptureError::LinkHeader("Frame Relay header cut short".into());
            let rest = data.get(2..).ok_or_else(cut)?;
            let (ether_type, payload) = match rest {
                // RFC 2427 section 4: control 0x03, optional pad, NLPID.
                [0x03, 0x00, nlpid, payload @ ..] | [0x03, nlpid, payload @ ..] => match nlpid {
                    0xcc => (EtherType::IPV4, payload),
                    0x8e => (EtherType::IPV6, payload),
                    // SNAP: OUI (3) and the EtherType.
                    0x80 => {
                        let t = payload.get(..5).ok_or_else(cut)?;
                        (EtherType(u16::from_be_bytes([t[3], t[4]])), &payload[5..])
                    }
                    _ => return Ok(None),
                },
                // Cisco encapsulation: the EtherType follows the address.
                [t0, t1, payload @ ..] => (EtherType(u16::from_be_bytes([*t0, *t1])), payload),
                _ => return Err(cut()),
            };
            LaxSlicedPacket::from_ether_type(ether_type, payload)
        }
        LinkType::JuniperEther => {
            let cut = || CaptureError::LinkHeader("Juniper header cut short".into());
            let header = data.get(..4).ok_or_else(cut)?;
            if &header[..3] != b"MGC" {
                return Err(CaptureError::LinkHeader(
                    "Juniper header without its magic".into(),
                ));
            }
            let flags = header[3];
            let mut rest = &data[4..];
            if flags & 0x80 != 0 {
                // Extension TLVs, preceded by their total length.
                let len = rest.get(..2).ok_or_else(cut)?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                rest = rest.get(2 + len..).ok_or_else(cut)?;
            }
            if flags & 0x02 != 0 {
                // No layer-2 header: the IP packet follows.
                LaxSlicedPacket::from_ip(rest).map_err(|e| CaptureError::Ip(e.to_string()))?
            } else {
                LaxSlicedPacket::from_ethernet(rest)
                    .map_err(|e| CaptureError::LinkHeader(e.to_string()))?
            }
        }
        LinkType::Null | LinkType::Loop => {
            let header = data
                .get(..4)
                .ok_or_else(|| CaptureError::LinkHeader("loopback header cut short".into()))?;
            // The family is in host byte order for NULL, network order for LOOP; the IP
            // version nibble tells IPv4 from IPv6 either way.
            if header.iter().all(|b| *b == 0) {
                return Ok(None);
            }
            LaxSlicedPacket::from_ip(&data[4..]).map_err(|e| CaptureError::Ip(e.to_string()))?
        }
        LinkType::Other(n) => return Err(CaptureError::UnsupportedLinkType(n)),
    };
    // MPLS (RFC 3032): skip the label stack, the IP packet follows the bottom label.
    if packet.net.is_none() {
        if let Some(ep) = packet.ether_payload() {
            if matches!(ep.ether_type.0, 0x8847 | 0x8848) {
                return match skip_mpls_labels(ep.payload) {
                    Some(ip) => {
                        let inner = LaxSlicedPacket::from_ip(ip)
                            .map_err(|e| CaptureError::Ip(e.to_string()))?;
                        from_sliced(&inner)
                    }
                    None => Err(CaptureError::LinkHeader(
                        "MPLS label stack cut short".into(),
                    )),
                };
            }
        }
    }
    from_sliced(&packet)
}

/// The payload after an MPLS label stack: 4-octet entries, the last one with the
/// bottom-of-stack bit set (RFC 3032 section 2.1).
fn skip_mpls_labels(mut data: &[u8]) -> Option<&[u8]> {
    loop {
        let entry = data.get(..4)?;
        data = &data[4..];
        if entry[2] & 0x01 != 0 {
            return Some(data);
        }
    }
}

fn from_sliced<'a>(packet: &LaxSlicedPacket<'a>) -> Result<Option<TcpSegment<'a>>, CaptureError> {
    let (src_ip, dst_ip, ip_payload, declared_len): (IpAddr, IpAddr, _, Option<usize>) =
        match &packet.net {
            Some(LaxNetSlice::Ipv4(v4)) => {
                let h = v4.header();
                let total = usize::from(h.total_len());
                let ext_len = v4.extensions().auth.map_or(0, |a| a.slice().len());
                let header_len = h.slice().len() + ext_len;
                // A total length of 0 (TSO) or below the header: the captured bytes count.
                let declared = (total > header_len).then(|| total - header_len);
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    v4.payload(),
                    declared,
                )
            }
            Some(LaxNetSlice::Ipv6(v6)) => {
                let h = v6.header();
                let payload_len = usize::from(h.payload_length());
                let ext_len = v6.extensions().slice().len();
                let declared = (payload_len > ext_len).then(|| payload_len - ext_len);
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    v6.payload(),
                    declared,
                )
            }
            Some(LaxNetSlice::Arp(_)) | None => {
                return match &packet.stop_err {
                    Some((err, _)) if packet.net.is_none() && packet.link.is_some() => {
                        Err(CaptureError::Ip(err.to_string()))
                    }
                    _ => Ok(None),
                }
            }
        };
    if ip_payload.ip_number != etherparse::ip_number::TCP {
        return Ok(None);
    }
    let first_fragment;
    let tcp = match &packet.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        // IP fragments are not reassembled. The first fragment of an IPv4 datagram still
        // holds the TCP header: its data is used, and the octets of the later fragments
        // become a hole of the stream (reported as a gap). Later fragments are skipped.
        _ if ip_payload.fragmented => {
            let is_first = matches!(&packet.net, Some(LaxNetSlice::Ipv4(v4))
                if v4.header().fragments_offset().value() == 0);
            if !is_first {
                return Ok(None);
            }
            first_fragment = etherparse::TcpSlice::from_slice(ip_payload.payload)
                .map_err(|e| CaptureError::Tcp(e.to_string()))?;
            &first_fragment
        }
        _ => {
            return Err(CaptureError::Tcp(match &packet.stop_err {
                Some((err, _)) => err.to_string(),
                None => "no TCP header".into(),
            }))
        }
    };
    let header_len = tcp.header_slice().len();
    let captured = tcp.payload();
    let wire_len = if ip_payload.incomplete && !ip_payload.fragmented {
        declared_len
            .map(|l| l.saturating_sub(header_len))
            .unwrap_or(captured.len())
            .max(captured.len())
    } else {
        captured.len()
    };
    Ok(Some(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.ack().then(|| tcp.acknowledgment_number()),
        flags: TcpFlags {
            syn: tcp.syn(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            ack: tcp.ack(),
        },
        window: tcp.window_size(),
        payload: captured,
        wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
    }))
}
