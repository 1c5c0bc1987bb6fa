//! Crafted-segment tests of the reassembler and the frame parser.
#![allow(clippy::single_range_in_vec_init)]

use std::net::SocketAddr;

use super::*;

fn a() -> SocketAddr {
    "192.0.2.1:40000".parse().expect("addr")
}
fn b() -> SocketAddr {
    "192.0.2.2:179".parse().expect("addr")
}

fn seg(src: SocketAddr, dst: SocketAddr, seq: u32, payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        src,
        dst,
        seq,
        ack: None,
        flags: TcpFlags {
            ack: false,
            ..TcpFlags::default()
        },
        window: 65535,
        payload,
        wire_len: payload.len() as u32,
    }
}

fn syn(src: SocketAddr, dst: SocketAddr, isn: u32) -> TcpSegment<'static> {
    let mut s = seg(src, dst, isn, &[]);
    s.flags.syn = true;
    s
}

fn ab() -> StreamId {
    StreamId { src: a(), dst: b() }
}

fn events(r: &mut Reassembler) -> Vec<StreamEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

/// Concatenates the Data events of one stream, checking their offsets are contiguous.
fn stream_bytes(evs: &[StreamEvent], id: StreamId) -> Vec<u8> {
    let mut out = Vec::new();
    for e in evs {
        if let StreamEvent::Data {
            stream,
            offset,
            bytes,
        } = e
        {
            if *stream == id {
                assert_eq!(*offset, out.len() as u64, "data offsets are contiguous");
                out.extend_from_slice(bytes);
            }
        }
    }
    out
}

#[test]
fn in_order_after_syn_starts_at_offset_zero() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 1000));
    r.push(&seg(a(), b(), 1001, b"hello "));
    r.push(&seg(a(), b(), 1007, b"world"));
    let evs = events(&mut r);
    assert_eq!(
        evs[0],
        StreamEvent::Opened {
            stream: ab(),
            isn: 1000
        }
    );
    assert_eq!(
        evs[1],
        StreamEvent::Data {
            stream: ab(),
            offset: 0,
            bytes: b"hello ".to_vec()
        }
    );
    assert_eq!(
        evs[2],
        StreamEvent::Data {
            stream: ab(),
            offset: 6,
            bytes: b"world".to_vec()
        }
    );
    assert_eq!(evs.len(), 3);
    assert_eq!(r.stream(ab()).map(|s| s.next_offset()), Some(11));
}

#[test]
fn reordered_segments_are_delivered_in_order() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 50));
    r.push(&seg(a(), b(), 55, b"FGHIJ")); // offsets 4..9
    r.push(&seg(a(), b(), 59, b"JKL")); // offsets 8..11 (overlaps one octet, same data)
    assert_eq!(r.stream(ab()).map(|s| s.holes()), Some(vec![0..4]));
    assert_eq!(r.stream(ab()).map(|s| s.buffered_bytes()), Some(7));
    r.push(&seg(a(), b(), 51, b"BCDE")); // offsets 0..4
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"BCDEFGHIJKL");
    // The in-order segment released everything buffered as one event.
    let data: Vec<_> = evs
        .iter()
        .filter(|e| matches!(e, StreamEvent::Data { .. }))
        .collect();
    assert_eq!(data.len(), 1);
    let st = r.stream(ab()).expect("stream").stats();
    assert_eq!(st.delivered_bytes, 11);
    assert_eq!(st.duplicate_bytes, 1);
    assert_eq!(st.conflicting_bytes, 0);
    assert!(!evs
        .iter()
        .any(|e| matches!(e, StreamEvent::Conflict { .. })));
}

#[test]
fn retransmission_is_delivered_once() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 7));
    r.push(&seg(a(), b(), 8, b"abcdef"));
    r.push(&seg(a(), b(), 8, b"abcdef")); // full retransmission
    r.push(&seg(a(), b(), 11, b"defgh")); // partial: "def" old, "gh" new
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"abcdefgh");
    let st = r.stream(ab()).expect("stream").stats();
    assert_eq!(st.duplicate_bytes, 6 + 3);
}

#[test]
fn overlap_with_differing_data_keeps_first_copy_and_reports_conflict() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 0));
    r.push(&seg(a(), b(), 5, b"XXXX")); // offsets 4..8, buffered
    r.push(&seg(a(), b(), 3, b"ccYYYYzz")); // offsets 2..10, overlaps 4..8 with other bytes
    let evs = events(&mut r);
    assert!(evs.contains(&StreamEvent::Conflict {
        stream: ab(),
        offset: 4,
        len: 4
    }));
    r.push(&seg(a(), b(), 1, b"ab")); // offsets 0..2 fill the hole
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"abccXXXXzz");
    assert_eq!(r.stream(ab()).expect("stream").stats().conflicting_bytes, 4);
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut r = Reassembler::default();
    let isn = u32::MAX - 4; // data starts at 2^32 - 4
    r.push(&syn(a(), b(), isn));
    // Second segment first: it starts after the wrap (seq 4 = offset 8).
    r.push(&seg(a(), b(), 4, b"89"));
    r.push(&seg(a(), b(), u32::MAX - 3, b"01234567")); // offsets 0..8, crosses 2^32
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"0123456789");
    // An ACK after the wrap maps to the right offset.
    let mut ack = seg(b(), a(), 1, &[]);
    ack.ack = Some(6);
    ack.flags.ack = true;
    r.push(&ack);
    assert_eq!(r.stream(ab()).and_then(|s| s.acked_offset()), Some(10));
    assert_eq!(r.stream(ab()).and_then(|s| s.last_peer_ack()), Some(6));
}

#[test]
fn missing_segment_becomes_a_gap_on_flush() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 100));
    r.push(&seg(a(), b(), 101, b"first"));
    r.push(&seg(a(), b(), 116, b"third")); // offsets 15..20; 5..15 never captured
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"first");
    assert_eq!(r.stream(ab()).map(|s| s.holes()), Some(vec![5..15]));
    r.flush();
    let evs = events(&mut r);
    assert_eq!(
        evs,
        vec![
            StreamEvent::Gap {
                stream: ab(),
                range: 5..15
            },
            StreamEvent::Data {
                stream: ab(),
                offset: 15,
                bytes: b"third".to_vec()
            },
        ]
    );
    assert_eq!(r.stream(ab()).expect("stream").stats().gap_bytes, 10);
}

#[test]
fn peer_ack_beyond_a_hole_declares_the_gap_when_enabled() {
    let mut r = Reassembler::new(ReassemblerConfig {
        gap_on_peer_ack: true,
        ..ReassemblerConfig::default()
    });
    r.push(&syn(a(), b(), 0));
    r.push(&seg(a(), b(), 1, b"aa"));
    r.push(&seg(a(), b(), 5, b"ee")); // offsets 4..6; 2..4 missing
    let _ = events(&mut r);
    let mut ack = seg(b(), a(), 900, &[]);
    ack.flags.ack = true;
    ack.ack = Some(7); // acknowledges offsets 0..6: the peer got 2..4
    r.push(&ack);
    let evs = events(&mut r);
    assert_eq!(
        evs,
        vec![
            StreamEvent::Gap {
                stream: ab(),
                range: 2..4
            },
            StreamEvent::Data {
                stream: ab(),
                offset: 4,
                bytes: b"ee".to_vec()
            },
        ]
    );
}

#[test]
fn peer_ack_does_not_skip_by_default() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 0));
    r.push(&seg(a(), b(), 5, b"ee"));
    let mut ack = seg(b(), a(), 900, &[]);
    ack.flags.ack = true;
    ack.ack = Some(7);
    r.push(&ack);
    let evs = events(&mut r);
    assert!(evs.iter().all(|e| !matches!(e, StreamEvent::Gap { .. })));
    assert_eq!(r.stream(ab()).and_then(|s| s.acked_offset()), Some(6));
    // An older ACK does not move the acknowledged point back.
    ack.ack = Some(3);
    r.push(&ack);
    assert_eq!(r.stream(ab()).and_then(|s| s.acked_offset()), Some(6));
}

#[test]
fn fin_closes_the_stream_at_its_offset() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 10));
    let mut last = seg(a(), b(), 14, b"xyz"); // offsets 3..6, with FIN at 6
    last.flags.fin = true;
    r.push(&last);
    assert_eq!(r.stream(ab()).and_then(|s| s.fin_offset()), Some(6));
    assert_eq!(r.stream(ab()).map(|s| s.holes()), Some(vec![0..3]));
    r.push(&seg(a(), b(), 11, b"abc"));
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"abcxyz");
    assert_eq!(
        evs.last(),
        Some(&StreamEvent::Closed {
            stream: ab(),
            offset: 6,
            reason: CloseReason::Fin
        })
    );
    assert_eq!(r.stream(ab()).map(|s| s.state()), Some(HalfState::Finished));
    // Data after the FIN is dropped.
    r.push(&seg(a(), b(), 17, b"late"));
    assert!(events(&mut r).is_empty());
    // The FIN occupies one sequence number: its ACK is fin + 1.
    let mut ack = seg(b(), a(), 0, &[]);
    ack.flags.ack = true;
    ack.ack = Some(18);
    r.push(&ack);
    assert_eq!(r.stream(ab()).and_then(|s| s.acked_offset()), Some(7));
}

#[test]
fn rst_aborts_both_directions_and_drops_buffered_data() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 0));
    r.push(&syn(b(), a(), 500));
    r.push(&seg(a(), b(), 1, b"ok"));
    r.push(&seg(a(), b(), 10, b"held")); // buffered behind a hole
    let _ = events(&mut r);
    let mut rst = seg(b(), a(), 501, &[]);
    rst.flags.rst = true;
    r.push(&rst);
    let evs = events(&mut r);
    assert_eq!(
        evs,
        vec![
            StreamEvent::Closed {
                stream: ab(),
                offset: 2,
                reason: CloseReason::Reset
            },
            StreamEvent::Closed {
                stream: ab().reverse(),
                offset: 0,
                reason: CloseReason::Reset
            },
        ]
    );
    assert_eq!(r.stream(ab()).expect("stream").stats().dropped_bytes, 4);
    r.flush();
    assert!(events(&mut r).is_empty());
}

#[test]
fn new_syn_on_same_tuple_starts_a_new_connection() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 1000));
    r.push(&seg(a(), b(), 1001, b"old"));
    r.push(&seg(a(), b(), 1010, b"tail")); // buffered behind a hole
    let _ = events(&mut r);
    r.push(&syn(a(), b(), 77777));
    r.push(&seg(a(), b(), 77778, b"new"));
    let evs = events(&mut r);
    assert_eq!(
        evs,
        vec![
            StreamEvent::Gap {
                stream: ab(),
                range: 3..9
            },
            StreamEvent::Data {
                stream: ab(),
                offset: 9,
                bytes: b"tail".to_vec()
            },
            StreamEvent::Closed {
                stream: ab(),
                offset: 13,
                reason: CloseReason::Superseded
            },
            StreamEvent::Closed {
                stream: ab().reverse(),
                offset: 0,
                reason: CloseReason::Superseded
            },
            StreamEvent::Opened {
                stream: ab(),
                isn: 77777
            },
            StreamEvent::Data {
                stream: ab(),
                offset: 0,
                bytes: b"new".to_vec()
            },
        ]
    );
    // A retransmitted SYN of the new connection changes nothing.
    r.push(&syn(a(), b(), 77777));
    assert!(events(&mut r).is_empty());
}

#[test]
fn capture_started_mid_stream_begins_at_first_octet_seen() {
    let mut r = Reassembler::default();
    let mut pure_ack = seg(a(), b(), 4000, &[]);
    pure_ack.flags.ack = true;
    pure_ack.ack = Some(1);
    r.push(&pure_ack); // no data: does not fix the start
    r.push(&seg(a(), b(), 5000, b"mid"));
    r.push(&seg(a(), b(), 4990, b"0123456789")); // before the start: dropped, not a gap
    r.push(&seg(a(), b(), 5003, b"dle"));
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"middle");
    let s = r.stream(ab()).expect("stream");
    assert_eq!(s.isn(), None);
    assert_eq!(s.base_seq(), Some(5000));
    assert_eq!(s.stats().dropped_bytes, 10);
}

#[test]
fn late_syn_before_first_data_is_accepted() {
    let mut r = Reassembler::default();
    r.push(&seg(a(), b(), 301, b"data"));
    r.push(&syn(a(), b(), 300)); // the SYN that belongs to this stream, seen late
    let evs = events(&mut r);
    assert_eq!(stream_bytes(&evs, ab()), b"data");
    assert_eq!(r.stream(ab()).and_then(|s| s.isn()), Some(300));
}

#[test]
fn buffer_limit_gives_up_the_oldest_hole() {
    let mut r = Reassembler::new(ReassemblerConfig {
        max_buffered_per_stream: 8,
        ..ReassemblerConfig::default()
    });
    r.push(&syn(a(), b(), 0));
    r.push(&seg(a(), b(), 11, b"12345")); // offsets 10..15
    r.push(&seg(a(), b(), 21, b"abcde")); // offsets 20..25: 10 buffered > 8
    let evs = events(&mut r);
    assert_eq!(
        evs[1..],
        [
            StreamEvent::Gap {
                stream: ab(),
                range: 0..10
            },
            StreamEvent::Data {
                stream: ab(),
                offset: 10,
                bytes: b"12345".to_vec()
            },
        ]
    );
    assert_eq!(r.stream(ab()).map(|s| s.holes()), Some(vec![15..20]));
}

#[test]
fn truncated_capture_leaves_a_hole_for_the_missing_tail() {
    let mut r = Reassembler::default();
    r.push(&syn(a(), b(), 0));
    let mut cut = seg(a(), b(), 1, b"abc");
    cut.wire_len = 10; // 7 octets not captured (snapshot length)
    cut.flags.fin = true;
    r.push(&cut);
    assert_eq!(r.stream(ab()).and_then(|s| s.fin_offset()), Some(10));
    r.flush();
    let evs = events(&mut r);
    assert_eq!(
        evs[1..],
        [
            StreamEvent::Data {
                stream: ab(),
                offset: 0,
                bytes: b"abc".to_vec()
            },
            StreamEvent::Gap {
                stream: ab(),
                range: 3..10
            },
            StreamEvent::Closed {
                stream: ab(),
                offset: 10,
                reason: CloseReason::Fin
            },
        ]
    );
}

// ---- frame parsing -------------------------------------------------------------------

/// Ethernet II + IPv4 (20 octets, total length `ip_total`) + TCP (20 octets) + payload.
fn eth_ipv4_tcp(payload: &[u8], ip_total: Option<u16>, pad_to: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2]); // destination MAC
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]); // source MAC
    f.extend_from_slice(&[0x08, 0x00]); // EtherType IPv4
    let total = ip_total.unwrap_or((20 + 20 + payload.len()) as u16);
    f.extend_from_slice(&[0x45, 0x00]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0]); // id 1, DF
    f.extend_from_slice(&[64, 6, 0, 0]); // TTL 64, protocol TCP, checksum (unchecked)
    f.extend_from_slice(&[192, 0, 2, 1]);
    f.extend_from_slice(&[192, 0, 2, 2]);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&179u16.to_be_bytes());
    f.extend_from_slice(&0x0102_0304u32.to_be_bytes()); // seq
    f.extend_from_slice(&0x0A0B_0C0Du32.to_be_bytes()); // ack
    f.extend_from_slice(&[0x50, 0x18]); // data offset 5, PSH+ACK
    f.extend_from_slice(&[0x20, 0x00, 0, 0, 0, 0]); // window 8192, checksum, urgent
    f.extend_from_slice(payload);
    while f.len() < pad_to {
        f.push(0);
    }
    f
}

#[test]
fn ethernet_padding_is_not_payload() {
    let frame = eth_ipv4_tcp(b"\xff\xff", None, 60);
    assert_eq!(frame.len(), 60);
    let s = parse_frame(LinkType::Ethernet, &frame)
        .expect("parses")
        .expect("tcp");
    assert_eq!(s.src, a());
    assert_eq!(s.dst, b());
    assert_eq!(s.seq, 0x0102_0304);
    assert_eq!(s.ack, Some(0x0A0B_0C0D));
    assert!(s.flags.ack && !s.flags.syn && !s.flags.fin && !s.flags.rst);
    assert_eq!(s.window, 8192);
    assert_eq!(s.payload, b"\xff\xff");
    assert_eq!(s.wire_len, 2);
}

#[test]
fn gso_super_frame_with_zero_total_length_uses_captured_length() {
    let payload = vec![0x42u8; 3000]; // larger than any Ethernet MTU
    let frame = eth_ipv4_tcp(&payload, Some(0), 0);
    let s = parse_frame(LinkType::Ethernet, &frame)
        .expect("parses")
        .expect("tcp");
    assert_eq!(s.payload.len(), 3000);
    assert_eq!(s.wire_len, 3000);
}

#[test]
fn snaplen_truncated_frame_reports_wire_length() {
    let payload = vec![7u8; 100];
    let mut frame = eth_ipv4_tcp(&payload, None, 0);
    frame.truncate(14 + 40 + 30);
    let s = parse_frame(LinkType::Ethernet, &frame)
        .expect("parses")
        .expect("tcp");
    assert_eq!(s.payload.len(), 30);
    assert_eq!(s.wire_len, 100);
}

#[test]
fn linux_cooked_and_raw_ip_frames_parse() {
    let eth = eth_ipv4_tcp(b"bgp", None, 0);
    let ip = &eth[14..];
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(ip);
    let s = parse_frame(LinkType::LinuxSll, &sll)
        .expect("parses")
        .expect("tcp");
    assert_eq!(s.payload, b"bgp");
    let s = parse_frame(LinkType::RawIp, ip)
        .expect("parses")
        .expect("tcp");
    assert_eq!(s.payload, b"bgp");
    assert_eq!(s.dst.port(), 179);
}

#[test]
fn ipv6_tcp_frame_parses() {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(20u16 + 4).to_be_bytes()); // payload length
    f.extend_from_slice(&[6, 64]); // next header TCP, hop limit
    let src: std::net::Ipv6Addr = "2001:db8::1".parse().expect("v6");
    let dst: std::net::Ipv6Addr = "2001:db8::2".parse().expect("v6");
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&179u16.to_be_bytes());
    f.extend_from_slice(&50000u16.to_be_bytes());
    f.extend_from_slice(&5u32.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, 0x03, 0x10, 0, 0, 0, 0, 0]); // SYN+FIN, no ACK
    f.extend_from_slice(b"data");
    let s = parse_frame(LinkType::Ethernet, &f)
        .expect("parses")
        .expect("tcp");
    assert_eq!(
        s.src,
        "[2001:db8::1]:179".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(s.ack, None);
    assert!(s.flags.syn && s.flags.fin);
    assert_eq!(s.payload, b"data");
}

#[test]
fn non_tcp_frames_are_skipped_and_short_frames_rejected() {
    let mut udp = eth_ipv4_tcp(b"", None, 0);
    udp[14 + 9] = 17; // protocol UDP
    assert_eq!(parse_frame(LinkType::Ethernet, &udp).expect("parses"), None);
    assert!(parse_frame(LinkType::Ethernet, &[0u8; 5]).is_err());
    assert!(parse_frame(LinkType::LinuxSll, &[0u8; 10]).is_err());
    assert!(matches!(
        parse_frame(LinkType::Other(147), &[0u8; 64]),
        Err(CaptureError::UnsupportedLinkType(147))
    ));
}

// ---- capture files -------------------------------------------------------------------

fn legacy_pcap(big_endian: bool, nanos: bool, frames: &[&[u8]]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend_from_slice(&w16(2));
    f.extend_from_slice(&w16(4));
    f.extend_from_slice(&w32(0));
    f.extend_from_slice(&w32(0));
    f.extend_from_slice(&w32(65535));
    f.extend_from_slice(&w32(1)); // Ethernet
    for (i, fr) in frames.iter().enumerate() {
        f.extend_from_slice(&w32(1_600_000_000 + i as u32));
        f.extend_from_slice(&w32(500));
        f.extend_from_slice(&w32(fr.len() as u32));
        f.extend_from_slice(&w32(fr.len() as u32));
        f.extend_from_slice(fr);
    }
    f
}

#[test]
fn legacy_pcap_both_byte_orders() {
    let f1 = eth_ipv4_tcp(b"one", None, 0);
    let f2 = eth_ipv4_tcp(b"two", None, 0);
    for be in [false, true] {
        let file = legacy_pcap(be, false, &[&f1, &f2]);
        let frames: Vec<Frame> = PcapReader::new(&file[..])
            .expect("pcap")
            .collect::<Result<_, _>>()
            .expect("frames");
        assert_eq!(frames.len(), 2, "big endian: {be}");
        assert_eq!(frames[0].data, f1);
        assert_eq!(frames[1].link_type, LinkType::Ethernet);
        assert_eq!(
            frames[1].timestamp,
            std::time::Duration::new(1_600_000_001, 500_000)
        );
    }
    let file = legacy_pcap(false, true, &[&f1]);
    let mut r = PcapReader::new(&file[..]).expect("pcap");
    let fr = r.next_frame().expect("ok").expect("frame");
    assert_eq!(fr.timestamp, std::time::Duration::new(1_600_000_000, 500));
    assert_eq!(r.next_frame().expect("ok"), None);
}

#[test]
fn truncated_and_foreign_files_are_errors() {
    let f1 = eth_ipv4_tcp(b"one", None, 0);
    let mut file = legacy_pcap(false, false, &[&f1]);
    file.truncate(file.len() - 5);
    let mut r = PcapReader::new(&file[..]).expect("header is fine");
    assert!(matches!(r.next_frame(), Err(CaptureError::Truncated)));
    assert!(matches!(
        PcapReader::new(&b"this is not a capture file at all"[..]),
        Err(CaptureError::NotACapture)
    ));
    assert!(matches!(
        PcapReader::new(&b""[..]),
        Err(CaptureError::NotACapture)
    ));
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn ng_block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    pad4(&mut body);
    let len = (12 + body.len()) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

#[test]
fn pcapng_with_two_interfaces() {
    let f1 = eth_ipv4_tcp(b"eth", None, 0);
    let f2 = &eth_ipv4_tcp(b"raw", None, 0)[14..];
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut file = ng_block(0x0A0D_0D0A, &shb);
    // IDB 0: Ethernet; IDB 1: raw IP.
    file.extend(ng_block(1, &[1, 0, 0, 0, 0xff, 0xff, 0, 0]));
    file.extend(ng_block(1, &[101, 0, 0, 0, 0xff, 0xff, 0, 0]));
    for (if_id, data) in [(1u32, f2), (0u32, &f1[..])] {
        let mut epb = Vec::new();
        epb.extend_from_slice(&if_id.to_le_bytes());
        let ts: u64 = 1_700_000_000_000_123; // microseconds (default resolution)
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        file.extend(ng_block(6, &epb));
    }
    let frames: Vec<Frame> = PcapReader::new(&file[..])
        .expect("pcapng")
        .collect::<Result<_, _>>()
        .expect("frames");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].link_type, LinkType::RawIp);
    assert_eq!(frames[0].data, f2);
    assert_eq!(frames[1].link_type, LinkType::Ethernet);
    assert_eq!(
        frames[0].timestamp,
        std::time::Duration::new(1_700_000_000, 123_000)
    );
    let seg = parse_frame(frames[0].link_type, &frames[0].data)
        .expect("parses")
        .expect("tcp");
    assert_eq!(seg.payload, b"raw");
}
