//! Plan building without a network: sequence arithmetic, the write-ahead backlog, the
//! mirror view from real frame bytes, address plans, and the Adj-RIB-Out difference.

use super::*;
use ribsync::takeover::{MssState, RepairWindow};
use ribsync::tap::{Direction, TapFrame, TcpFlags};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const LOCAL: &str = "192.0.2.1:40000";
const REMOTE: &str = "192.0.2.11:179";

fn flow_id() -> FlowId {
    FlowId {
        local: LOCAL.parse().unwrap(),
        remote: REMOTE.parse().unwrap(),
    }
}

fn tcp_state(snd_una: u32, rcv_nxt: u32, send_queue: Vec<u8>) -> TcpRepairState {
    TcpRepairState {
        local: LOCAL.parse().unwrap(),
        remote: REMOTE.parse().unwrap(),
        snd_una: SeqNum(snd_una),
        snd_nxt: SeqNum(snd_una).wrapping_add(send_queue.len() as u32),
        write_seq: SeqNum(snd_una).wrapping_add(send_queue.len() as u32),
        rcv_nxt: SeqNum(rcv_nxt),
        mss: MssState {
            peer: 1460,
            ours: 1460,
            effective: 1448,
        },
        window_scale: None,
        sack_permitted: true,
        timestamps: None,
        window: RepairWindow {
            snd_wl1: SeqNum(rcv_nxt),
            snd_wnd: 65535,
            max_window: 65535,
            rcv_wnd: 65535,
            rcv_wup: SeqNum(rcv_nxt),
        },
        send_queue,
        recv_queue: Vec::new(),
        md5_key_ref: None,
        peeked_at_unix_us: 0,
    }
}

/// An UPDATE whose body is `n` octets of `fill` (only the framing matters here).
fn update(n: usize, fill: u8) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + n) as u16).to_be_bytes());
    m.push(2);
    m.extend(std::iter::repeat_n(fill, n));
    m
}

fn takeover_of(tcp: TcpRepairState) -> FlowTakeover {
    FlowTakeover {
        flow: flow_id(),
        peer: PeerId(0),
        conn: ConnId(1),
        tcp,
        anchor: None,
        mirror: MirrorTcpView::default(),
        backlog: None,
        md5_key: None,
        received: None,
    }
}

#[test]
fn without_mirror_or_backlog_the_checkpoint_stands_and_a_keepalive_goes_first() {
    let f = takeover_of(tcp_state(1000, 5000, vec![1, 2, 3]));
    let p = plan_session(&f).unwrap();
    assert_eq!(p.state, f.tcp);
    assert_eq!(p.overrides.snd_una, Some(SeqNum(1000)));
    assert_eq!(p.overrides.rcv_nxt, None);
    assert_eq!(
        p.overrides.unacked, None,
        "the checkpoint's send queue is used"
    );
    assert_eq!(p.first_message, KEEPALIVE.to_vec());
    assert_eq!(&p.first_message[16..], &[0, 19, 4]);
}

#[test]
fn the_unacked_octets_start_at_the_neighbours_last_ack() {
    // Egress offset 0 is sequence 0xffff_fff0 (the stream wraps); the standby holds egress
    // octets from offset 100, and the neighbour has acknowledged up to offset 130.
    let anchor = SeqAnchor {
        peer_seq_at_zero: 7,
        our_seq_at_zero: 0xffff_fff0,
    };
    let msg = [update(11, 0xaa), update(30, 0xbb)].concat(); // 30 + 49 octets
    let mut f = takeover_of(tcp_state(0xffff_fff0u32.wrapping_add(90), 5000, vec![]));
    f.anchor = Some(anchor);
    f.mirror.peer_ack = Some(SeqNum(0xffff_fff0u32.wrapping_add(130)));
    f.mirror.primary_ack = Some(SeqNum(5400));
    f.mirror.primary_tsval = Some(77);
    f.md5_key = Some(b"k".to_vec());
    f.backlog = Some(EgressBacklog {
        offset: 100,
        bytes: msg.clone(),
        complete: true,
    });
    let p = plan_session(&f).unwrap();
    assert_eq!(p.overrides.snd_una, Some(SeqNum(0x72)));
    assert_eq!(p.overrides.unacked.as_deref(), Some(&msg[30..]));
    assert_eq!(p.overrides.rcv_nxt, Some(SeqNum(5400)));
    assert_eq!(p.overrides.last_tsval_seen, Some(77));
    assert_eq!(p.overrides.md5_key.as_deref(), Some(&b"k"[..]));
    assert_eq!(p.first_message, KEEPALIVE.to_vec());
}

#[test]
fn the_socket_expects_next_the_first_octet_the_standby_has_not_taken_in() {
    // The mirror delivered 60 octets beyond the primary's last ACK (in flight when it died,
    // and held as half a message by the replica): the neighbour's retransmission of them
    // is not taken twice, and the rest of the message is what the socket reads first.
    let mut f = takeover_of(tcp_state(1000, 5000, vec![]));
    f.mirror.primary_ack = Some(SeqNum(5400));
    f.received = Some(SeqNum(5460));
    assert_eq!(
        plan_session(&f).unwrap().overrides.rcv_nxt,
        Some(SeqNum(5460))
    );
    // Without a mirror ACK the replica decides alone.
    f.mirror.primary_ack = None;
    assert_eq!(
        plan_session(&f).unwrap().overrides.rcv_nxt,
        Some(SeqNum(5460))
    );
    // The primary acknowledged octets the standby never got (an unfilled mirror gap): the
    // neighbour will not resend them, so the session cannot be continued.
    f.mirror.primary_ack = Some(SeqNum(5500));
    assert_eq!(plan_session(&f).err(), Some(PlanError::IngressBehind(40)));
}

#[test]
fn an_ack_older_than_the_checkpoint_does_not_move_snd_una_back() {
    let mut f = takeover_of(tcp_state(1000, 5000, vec![]));
    f.mirror.peer_ack = Some(SeqNum(900));
    assert_eq!(
        plan_session(&f).unwrap().overrides.snd_una,
        Some(SeqNum(1000))
    );
}

#[test]
fn a_backlog_that_cannot_be_trusted_leaves_the_session_alone() {
    let anchor = SeqAnchor {
        peer_seq_at_zero: 0,
        our_seq_at_zero: 1000,
    };
    let mut f = takeover_of(tcp_state(1100, 0, vec![]));
    f.anchor = Some(anchor);
    f.backlog = Some(EgressBacklog {
        offset: 100,
        bytes: vec![1; 10],
        complete: false,
    });
    assert_eq!(plan_session(&f).unwrap_err(), PlanError::BacklogIncomplete);
    f.backlog = Some(EgressBacklog {
        offset: 120,
        bytes: vec![1; 10],
        complete: true,
    });
    assert_eq!(
        plan_session(&f).unwrap_err(),
        PlanError::BacklogStartsLate(20)
    );
    f.backlog = Some(EgressBacklog {
        offset: 100,
        bytes: vec![1; 10],
        complete: true,
    });
    f.mirror.peer_ack = Some(SeqNum(1115));
    assert_eq!(
        plan_session(&f).unwrap_err(),
        PlanError::AckBeyondBacklog(5)
    );
    f.anchor = None;
    assert_eq!(plan_session(&f).unwrap_err(), PlanError::NoAnchor);
    // An empty backlog at the neighbour's last ACK: nothing to resend.
    f.anchor = Some(anchor);
    f.backlog = Some(EgressBacklog {
        offset: 115,
        bytes: vec![],
        complete: true,
    });
    assert_eq!(plan_session(&f).unwrap().overrides.unacked, Some(vec![]));
}

#[test]
fn without_write_ahead_only_a_fully_acknowledged_stream_is_taken_over() {
    // The neighbour acknowledged past the checkpoint's queue (the primary sent more after
    // it, e.g. KEEPALIVEs).
    let mut f = takeover_of(tcp_state(1000, 5000, vec![9; 19]));
    f.mirror.peer_ack = Some(SeqNum(1057));
    assert_eq!(plan_session(&f).unwrap_err(), PlanError::NoBacklog);
    f.mirror.primary_seq_next = Some(SeqNum(1057));
    let p = plan_session(&f).unwrap();
    assert_eq!(p.overrides.unacked, Some(vec![]));
    assert_eq!(p.overrides.snd_una, Some(SeqNum(1057)));
    // Within the checkpoint's queue, the queue itself is trimmed by the rebuild.
    f.mirror.peer_ack = Some(SeqNum(1010));
    assert_eq!(plan_session(&f).unwrap().overrides.unacked, None);
}

/// Ethernet + IPv4 + TCP (with a timestamps option when `ts` is given).
fn frame(src: SocketAddr, dst: SocketAddr, mac: [u8; 6], ack: u32, ts: Option<u32>) -> TapFrame {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        panic!("IPv4 only")
    };
    let opts: Vec<u8> = match ts {
        Some(v) => [vec![1, 1, 8, 10], v.to_be_bytes().to_vec(), vec![0; 4]].concat(),
        None => Vec::new(),
    };
    let tcp_len = 20 + opts.len();
    let mut f = vec![0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&s.octets());
    f.extend_from_slice(&d.octets());
    f.extend_from_slice(&src.port().to_be_bytes());
    f.extend_from_slice(&dst.port().to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.push(((tcp_len / 4) as u8) << 4);
    f.push(TcpFlags::ACK);
    f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(&opts);
    TapFrame {
        timestamp: Duration::ZERO,
        wire_len: f.len(),
        data: f,
        direction: Direction::Incoming,
    }
}

#[test]
fn the_mirror_view_follows_both_directions_and_never_goes_back() {
    let flow = flow_id();
    let peer_mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    let prim_mac = [0x02, 0xaa, 0, 0, 0, 1];
    let other: SocketAddr = "192.0.2.12:179".parse().unwrap();
    let neighbours = [flow.remote.ip(), other.ip()].into_iter().collect();
    let mut views = BTreeMap::new();
    let mut see = |f: TapFrame| {
        crate::ha_standby::note_segment(&mut views, &neighbours, &f, &f.tcp().unwrap());
    };
    see(frame(flow.remote, flow.local, peer_mac, 0xffff_fffe, None));
    see(frame(flow.local, flow.remote, prim_mac, 500, Some(1_000)));
    // Wrapped ACK from the neighbour (later), an older ACK and TSval seen out of order.
    see(frame(flow.remote, flow.local, peer_mac, 3, None));
    see(frame(flow.local, flow.remote, prim_mac, 400, Some(999)));
    // Another 4-tuple is ignored.
    see(frame(other, flow.local, [9; 6], 77, Some(5)));
    assert_eq!(
        MirrorTcpView::from(&views[&flow]),
        MirrorTcpView {
            peer_ack: Some(SeqNum(3)),
            primary_ack: Some(SeqNum(500)),
            primary_tsval: Some(1_000),
            peer_mac: Some(peer_mac),
            // Every frame has sequence number 1 and no payload.
            primary_seq_next: Some(SeqNum(1)),
        }
    );
}

#[test]
fn each_session_address_moves_once_with_its_neighbours_macs() {
    let mut a = takeover_of(tcp_state(0, 0, vec![]));
    a.mirror.peer_mac = Some([1; 6]);
    let mut b = a.clone();
    b.flow.remote = "192.0.2.12:179".parse().unwrap();
    b.mirror.peer_mac = Some([2; 6]);
    let mut c = a.clone();
    c.flow.local = "[2001:db8::1]:41000".parse().unwrap();
    c.flow.remote = "[2001:db8::11]:179".parse().unwrap();
    c.mirror.peer_mac = None;
    let own = [("192.0.2.2".parse().unwrap(), 24u8)];
    let gw: MovedAddress = "198.51.100.1/25 eth2".parse().unwrap();
    let plans = plan_addresses(
        &endpoints_of(&[a, b, c]),
        4,
        &|x| prefix_len_for(x, &own),
        &[(7, gw)],
    );
    assert_eq!(plans.len(), 3);
    assert_eq!(plans[0].addr, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!((plans[0].ifindex, plans[0].prefix_len), (4, 24));
    assert_eq!(
        plans[0].neighbours,
        vec![
            ("192.0.2.11".parse().unwrap(), [1; 6]),
            ("192.0.2.12".parse().unwrap(), [2; 6])
        ]
    );
    assert_eq!(plans[1].addr, "2001:db8::1".parse::<IpAddr>().unwrap());
    assert_eq!(plans[1].prefix_len, 64);
    assert!(plans[1].neighbours.is_empty());
    assert_eq!(plans[2].addr, "198.51.100.1".parse::<IpAddr>().unwrap());
    assert_eq!((plans[2].ifindex, plans[2].prefix_len), (7, 25));
}

#[test]
fn prefix_length_comes_from_our_own_address_in_the_subnet() {
    let own = [
        ("10.1.2.3".parse().unwrap(), 16u8),
        ("2001:db8:5::2".parse().unwrap(), 48u8),
    ];
    assert_eq!(prefix_len_for("10.1.200.1".parse().unwrap(), &own), 16);
    assert_eq!(prefix_len_for("10.2.0.1".parse().unwrap(), &own), 24);
    assert_eq!(prefix_len_for("2001:db8:5:1::1".parse().unwrap(), &own), 48);
    assert_eq!(prefix_len_for("2001:db8:6::1".parse().unwrap(), &own), 64);
}

#[test]
fn the_ledger_frames_the_primarys_egress_by_sequence_number() {
    let flow = flow_id();
    let (u1, u2, u3, u4) = (update(5, 1), update(6, 2), update(7, 3), update(8, 4));
    let mut l = EgressLedger::default();
    // The primary wrote KEEPALIVE, u1, u2, cut in odd places, with a repeat, from sequence
    // number 2^32 - 20 (wrapping).
    let base = SeqNum(u32::MAX - 19);
    let wire = [KEEPALIVE.to_vec(), u1.clone(), u2.clone()].concat();
    l.primary_sent(flow, base, &wire[..25]);
    l.primary_sent(flow, base.wrapping_add(10), &wire[10..40]);
    l.primary_sent(flow, base.wrapping_add(40), &wire[40..]);
    let at_u1 = base.wrapping_add(19);
    let at_u2 = at_u1.wrapping_add(u1.len() as u32);
    assert_eq!(
        l.messages_from(&flow, base),
        vec![
            (base, KEEPALIVE.to_vec()),
            (at_u1, u1.clone()),
            (at_u2, u2.clone())
        ]
    );
    assert_eq!(l.messages_from(&flow, at_u2), vec![(at_u2, u2.clone())]);
    let generation = l.generation();
    let at = base.wrapping_add(wire.len() as u32);
    l.primary_sent(flow, at, &[u3.clone(), u4.clone()].concat());
    assert_eq!(l.generation(), generation + 2);
    let at_u4 = at.wrapping_add(u3.len() as u32);
    assert_eq!(
        l.messages_from(&flow, at_u2),
        vec![(at_u2, u2), (at, u3), (at_u4, u4)]
    );
    assert!(!l.starts_after(&flow, base));
    let other = FlowId {
        local: "192.0.2.1:1".parse().unwrap(),
        remote: REMOTE.parse().unwrap(),
    };
    assert!(l.messages_from(&other, base).is_empty());
}

/// Each session's first segment is the unacknowledged octets and the KEEPALIVE, nothing
/// more: the Adj-RIB-Out difference is computed once every session is live and written by
/// the core ([`TakenSession::difference`]). Before, the plan's first message carried the
/// difference, computed for every flow before the first socket was rebuilt: every session's
/// first segment waited for all of them (about 150 ms with 100 sessions when one held
/// 30,008 UPDATEs, netted by decoding each), and a multi-megabyte first write went out while
/// the other sessions were still being brought live.
#[test]
fn the_first_message_is_the_keepalive_and_the_difference_comes_after() {
    let mut f = takeover_of(tcp_state(1000, 5000, vec![9; 40]));
    f.mirror.peer_ack = Some(SeqNum(1010));
    let p = plan_session(&f).unwrap();
    assert_eq!(p.first_message, KEEPALIVE.to_vec());
    assert_eq!(p.overrides.snd_una, Some(SeqNum(1010)));
    assert_eq!(
        p.overrides.unacked, None,
        "the checkpoint's queue, trimmed at the rebuild"
    );
}

#[test]
fn the_ledger_frames_from_the_next_marker_after_a_hole_or_a_late_start() {
    let flow = flow_id();
    let (u1, u2, u3) = (update(30, 1), update(40, 2), update(20, 3));
    let mut l = EgressLedger::default();
    // The mirror starts in the middle of u1 (the standby attached late), sees u2, misses
    // the start of u3 (a hole), then its end.
    let wire = [u1.clone(), u2.clone(), u3.clone()].concat();
    let base = SeqNum(1000);
    let at_u2 = base.wrapping_add(u1.len() as u32);
    let at_u3 = at_u2.wrapping_add(u2.len() as u32);
    l.primary_sent(flow, base.wrapping_add(7), &wire[7..60]);
    l.primary_sent(flow, base.wrapping_add(60), &wire[60..u1.len() + u2.len()]);
    assert_eq!(l.messages_from(&flow, base), vec![(at_u2, u2.clone())]);
    assert!(l.starts_after(&flow, base), "u1 never seen whole");
    l.primary_sent(
        flow,
        base.wrapping_add(wire.len() as u32 - 5),
        &wire[wire.len() - 5..],
    );
    assert_eq!(l.messages_from(&flow, at_u3), vec![], "u3 never seen whole");
    // The write-ahead brings all of u3 (overlapping what the mirror saw): framed again
    // from there.
    l.primary_sent(flow, at_u3, &u3);
    assert_eq!(l.messages_from(&flow, at_u3), vec![(at_u3, u3.clone())]);
    // A repeat of what was framed already changes nothing.
    let generation = l.generation();
    l.primary_sent(flow, base, &wire);
    assert_eq!(l.generation(), generation);
    assert_eq!(l.messages_from(&flow, base), vec![(at_u2, u2), (at_u3, u3)]);
}

#[test]
fn the_primarys_keepalives_since_a_checkpoint_are_counted() {
    let flow = flow_id();
    let mut l = EgressLedger::default();
    // KEEPALIVE at 100, UPDATE at 119, KEEPALIVE at 139, KEEPALIVE at 158.
    let u = update(1, 9);
    let wire = [
        KEEPALIVE.to_vec(),
        u.clone(),
        KEEPALIVE.to_vec(),
        KEEPALIVE.to_vec(),
    ]
    .concat();
    l.primary_sent(flow, SeqNum(100), &wire[..50]);
    l.primary_sent(flow, SeqNum(150), &wire[50..]);
    assert_eq!(l.other_messages_since(&flow, SeqNum(100)), 3);
    assert_eq!(l.other_messages_since(&flow, SeqNum(119)), 2);
    assert_eq!(l.other_messages_since(&flow, SeqNum(139)), 2);
    assert_eq!(l.other_messages_since(&flow, SeqNum(140)), 1);
    assert_eq!(l.other_messages_since(&flow, SeqNum(177)), 0);
    // The UPDATE is kept for the replica, not counted.
    assert_eq!(
        l.messages_from(&flow, SeqNum(119)).first(),
        Some(&(SeqNum(119), u))
    );
}
