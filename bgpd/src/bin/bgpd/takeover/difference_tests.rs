//! The Adj-RIB-Out difference with real speakers: a primary and a standby restored from its
//! checkpoints, fed the same neighbour messages; the primary "dies" after computing UPDATEs
//! it never wrote. The difference (what the neighbour holds, from the checkpoint and the
//! primary's egress, against the standby's Adj-RIB-Out) must give exactly those: nothing the
//! neighbour already has, and what it holds then is the standby's Adj-RIB-Out.

use super::*;
use bgpd::config::Config;
use bgpd::replica::SpeakerReplica;
use bgpd::speaker::{Input, Output, Speaker};
use bgpd::time::Millis;
use bgpd::wire::{
    builder::attributes, decode_message, encode_message, AfiSafi, AsPath, Asn, AttributeValue,
    Capability, HoldTime, Ipv4Prefix, Message, Nlri, Open, Origin, PathAttributes, Prefix,
    RouterId, SessionContext, Update,
};
use ribsync::checkpoint::Replicated;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

/// Neighbour 0 (A) feeds routes, neighbour 1 (B) is sent them.
const CONFIG: &str = "router_id = \"192.0.2.1\"\nlocal_as = 65001\n\
    [policy.policies.all]\ndefault = \"accept\"\n\
    [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65002\nlocal_address = \"192.0.2.1\"\n\
    import = [\"all\"]\nexport = [\"all\"]\n\
    [[neighbor]]\naddress = \"192.0.2.3\"\nremote_as = 65003\nlocal_address = \"192.0.2.1\"\n\
    import = [\"all\"]\nexport = [\"all\"]\n";

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 2 + i as u8)
}

fn flow(i: usize) -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 1], 179)),
        remote: SocketAddr::from((addr(i), 40_000 + i as u16)),
    }
}

fn peer_of(r: &SpeakerReplica, i: usize) -> PeerId {
    r.speaker().peer_by_address(addr(i).into()).unwrap()
}

/// Neighbour `i`'s OPEN and KEEPALIVE.
/// The codec context negotiated on `r`'s session with neighbour `i` (it must be Established).
fn negotiated_ctx(r: &SpeakerReplica, i: usize) -> SessionContext {
    r.speaker()
        .session(peer_of(r, i))
        .and_then(|s| s.negotiated())
        .map(|n| n.ctx.clone())
        .unwrap()
}

fn hello(i: usize) -> Vec<u8> {
    let o = Open::new(
        Asn(65002 + i as u32),
        HoldTime::new(90).unwrap(),
        RouterId(addr(i)),
        vec![Capability::Multiprotocol(AfiSafi::IPV4_UNICAST)],
    );
    let mut m = encode_message(&Message::Open(o), &SessionContext::new()).unwrap();
    m.extend_from_slice(&KEEPALIVE);
    m
}

/// A's UPDATE number `k`: an announcement of 10.0.(k % 16).0/24 with a path of 1 to 3
/// ASNs, or every fifth one a withdrawal of it.
fn feed_update(k: usize) -> Vec<u8> {
    let p = Nlri::new(Ipv4Prefix::new([10, 0, (k % 16) as u8, 0].into(), 24).unwrap());
    let u = if k % 5 == 4 {
        Update {
            withdrawn: vec![p],
            ..Update::default()
        }
    } else {
        let path = std::iter::once(Asn(65002)).chain((0..k % 3).map(|j| Asn(64_512 + j as u32)));
        Update {
            withdrawn: vec![],
            attributes: attributes([
                AttributeValue::Origin(Origin::Igp),
                AttributeValue::AsPath(AsPath::sequence(path)),
                AttributeValue::NextHop(addr(0)),
            ]),
            nlri: vec![p],
        }
    };
    let mut ctx = SessionContext::modern();
    ctx.extended_message = false;
    encode_message(&Message::Update(u), &ctx).unwrap()
}

/// Whole messages of one `Output::Transmit`.
fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 19 <= bytes.len() {
        let len = usize::from(u16::from_be_bytes([bytes[at + 16], bytes[at + 17]]));
        out.push(bytes[at..at + len].to_vec());
        at += len;
    }
    out
}

/// Drains `r` and returns the messages it would have written to B.
fn to_b(r: &mut SpeakerReplica) -> Vec<Vec<u8>> {
    let b = peer_of(r, 1);
    r.drain_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Transmit { peer, bytes, .. } if peer == b => Some(split(&bytes)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A primary with both sessions Established, and a standby restored from its checkpoints.
fn pair() -> (SpeakerReplica, SpeakerReplica) {
    let config = Config::from_toml_str(CONFIG).unwrap();
    let mut p = SpeakerReplica::new(Speaker::new(Millis(0), config, 7).unwrap(), 7, 1);
    for i in 0..2 {
        let peer = peer_of(&p, i);
        let conn = ConnId::incoming(1);
        p.bind_flow(flow(i), peer, conn);
        p.set_anchor(
            &flow(i),
            SeqAnchor {
                peer_seq_at_zero: 1000,
                // Our stream wraps around 2^32 a little after offset 0.
                our_seq_at_zero: u32::MAX - 50,
            },
        );
        p.speaker_mut().handle(
            Millis(5),
            Input::ConnectionConfirmed {
                peer,
                conn,
                local_address: [192, 0, 2, 1].into(),
            },
        );
        p.receive(Millis(6), &flow(i), &hello(i)).unwrap();
    }
    p.drain_outputs();
    let other = "router_id = \"198.51.100.9\"\nlocal_as = 64999\n";
    let speaker = Speaker::new(Millis(0), Config::from_toml_str(other).unwrap(), 1).unwrap();
    let mut sb = SpeakerReplica::new(speaker, 1, 0);
    sb.import_static(&p.export_static()).unwrap();
    for i in 0..2 {
        let snap = p.snapshot_flow(&flow(i)).expect("established");
        sb.restore_flow(&snap).unwrap();
    }
    sb.drain_outputs();
    (p, sb)
}

/// What B holds after receiving `msgs`: prefix -> attributes.
fn neighbour_view(msgs: &[Vec<u8>], ctx: &SessionContext) -> BTreeMap<Prefix, PathAttributes> {
    let mut view = BTreeMap::new();
    for m in msgs {
        let Some(Message::Update(u)) = decode_message(m, ctx).message else {
            panic!("not an UPDATE: {m:?}");
        };
        for w in &u.withdrawn {
            view.remove(&w.prefix);
        }
        for n in &u.nlri {
            view.insert(n.prefix, u.attributes.clone());
        }
    }
    view
}

/// Runs `n` of A's UPDATEs through both; the primary writes (mirror, then a write-ahead
/// completing its last message) all of its messages to B but the last `unsent`. With
/// `egress_first`, the standby sees the primary's egress before it is fed A's UPDATEs (its
/// mirror ran ahead of its speaker). Returns (the primary's messages to B, the difference,
/// the standby's Adj-RIB-Out of B, B's codec context).
fn scenario(n: usize, unsent: usize, egress_first: bool) -> Scenario {
    let (mut p, mut sb) = pair();
    let mut ledger = EgressLedger::default();
    let mut primary_msgs = Vec::new();
    let fb = flow(1);
    let feed: Vec<Vec<u8>> = (0..n).map(feed_update).collect();
    for (k, m) in feed.iter().enumerate() {
        p.receive(Millis(10 + k as u64), &flow(0), m).unwrap();
        primary_msgs.extend(to_b(&mut p));
    }
    let written = primary_msgs.len() - unsent;
    // On the wire from B's checkpoint on (offset 0): KEEPALIVEs between the UPDATEs, the
    // last written one cut in half on the mirror (the primary died while writing it) ...
    let mut wire = Vec::new();
    for m in &primary_msgs[..written] {
        wire.extend_from_slice(&KEEPALIVE);
        wire.extend_from_slice(m);
    }
    let base = SeqNum(sb.anchor(&fb).unwrap().our_seq_at_zero);
    let cut = wire.len() - primary_msgs[written - 1].len() / 2;
    let mut egress = |sb: &mut SpeakerReplica| {
        ledger.primary_sent(fb, base, &wire[..cut]);
        feed_primary_egress(sb, &mut ledger, &fb);
        // ... and the write-ahead holding everything the neighbour had not acknowledged.
        let acked = wire.len() - primary_msgs[written - 1].len() - 40;
        ledger.primary_sent(fb, base.wrapping_add(acked as u32), &wire[acked..]);
        feed_primary_egress(sb, &mut ledger, &fb);
    };
    if egress_first {
        egress(&mut sb);
    }
    for (k, m) in feed.iter().enumerate() {
        let at = sb.received(&flow(0)).unwrap();
        sb.feed_peer_bytes(10 + k as u64, &flow(0), at, m).unwrap();
        // The standby's own UPDATEs are never sent.
        to_b(&mut sb);
    }
    if !egress_first {
        egress(&mut sb);
    }
    let ctx = negotiated_ctx(&p, 1);
    let out = adj_rib_out_of(&sb, 1);
    assert_eq!(out, adj_rib_out_of(&p, 1), "in lockstep");
    Scenario {
        primary: primary_msgs,
        written,
        difference: sb.as_sent_difference(&fb),
        out,
        ctx,
    }
}

struct Scenario {
    primary: Vec<Vec<u8>>,
    written: usize,
    difference: Vec<Vec<u8>>,
    out: BTreeMap<Prefix, PathAttributes>,
    ctx: SessionContext,
}

#[test]
fn updates_the_primary_computed_but_never_wrote_are_the_difference() {
    for egress_first in [false, true] {
        let s = scenario(40, 3, egress_first);
        the_unwritten_three_are_the_difference(&s);
    }
}

fn the_unwritten_three_are_the_difference(s: &Scenario) {
    assert!(s.written > 10, "{} messages written", s.written);
    // Exactly the three unwritten ones (one prefix each, so packed alike; a state
    // difference sends its withdrawals first): nothing the neighbour already has.
    let mut got = s.difference.clone();
    got.sort();
    let mut unwritten = s.primary[s.written..].to_vec();
    unwritten.sort();
    assert_eq!(got, unwritten);
    for d in &s.difference {
        assert!(!s.primary[..s.written].contains(d), "sent twice");
    }
    // What B then holds is the Adj-RIB-Out, not what it held before.
    let before = neighbour_view(&s.primary[..s.written], &s.ctx);
    let after = neighbour_view(
        &[&s.primary[..s.written], &s.difference[..]].concat(),
        &s.ctx,
    );
    assert_eq!(after, s.out);
    assert_ne!(before, s.out, "the unwritten UPDATEs changed something");
}

#[test]
fn nothing_is_resent_when_the_primary_wrote_everything() {
    for egress_first in [false, true] {
        let s = scenario(25, 0, egress_first);
        assert!(s.difference.is_empty(), "{} resent", s.difference.len());
        assert_eq!(neighbour_view(&s.primary, &s.ctx), s.out);
    }
}

#[test]
fn a_restored_session_keeps_the_primarys_established_instant() {
    let (p, sb) = pair();
    for i in 0..2 {
        let since = |r: &SpeakerReplica| {
            r.speaker()
                .session(peer_of(r, i))
                .and_then(|s| s.stats().established_since)
        };
        // The neighbour's KEEPALIVE at replicated 6 ms made it Established on the primary.
        assert_eq!(since(&p), Some(Millis(6)));
        assert_eq!(since(&sb), since(&p), "restored on the standby");
    }
}

#[test]
fn a_message_cut_off_at_takeover_joins_the_rest_read_from_the_rebuilt_socket() {
    let (mut p, mut sb) = pair();
    let m = feed_update(1);
    let a = peer_of(&p, 0);
    p.receive(Millis(20), &flow(0), &m).unwrap();
    // The mirror showed the standby the first 23 octets before the primary failed; the
    // rebuilt socket starts right after them (rcv_nxt = what the replica took in).
    let at = sb.received(&flow(0)).unwrap();
    sb.feed_peer_bytes(20, &flow(0), at, &m[..23]).unwrap();
    assert_eq!(sb.received(&flow(0)), Some(at + 23), "held back, counted");
    assert!(sb.speaker().rib().adj_rib_in(a).is_empty(), "not whole yet");
    // The core reads the rest from the socket and hands it to the replica (CoreMsg::Bytes).
    sb.receive(Millis(21), &flow(0), &m[23..]).unwrap();
    assert_eq!(sb.received(&flow(0)), p.received(&flow(0)));
    assert_eq!(
        sb.speaker().rib().adj_rib_in(a),
        p.speaker().rib().adj_rib_in(a)
    );
    assert_eq!(sb.speaker().rib().adj_rib_in(a).len(), 1);
    assert_eq!(sb.flow_digest(&flow(0)), p.flow_digest(&flow(0)));
}

/// The prefixes withdrawn and then announced again by `msgs` (a flap the neighbour sees).
fn flapped(msgs: &[Vec<u8>], ctx: &SessionContext) -> Vec<Prefix> {
    let mut withdrawn = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for m in msgs {
        let Some(Message::Update(u)) = decode_message(m, ctx).message else {
            panic!("not an UPDATE: {m:?}");
        };
        for (_, w) in u.withdrawals() {
            withdrawn.insert(w.prefix);
        }
        for (_, n) in u.announced() {
            if withdrawn.remove(&n.prefix) {
                out.push(n.prefix);
            }
        }
    }
    out
}

/// A's UPDATE announcing 10.1.`k`.0/24 with a one-ASN path.
fn announce(k: usize) -> Vec<u8> {
    let u = Update {
        withdrawn: vec![],
        attributes: attributes([
            AttributeValue::Origin(Origin::Igp),
            AttributeValue::AsPath(AsPath::sequence([Asn(65002)])),
            AttributeValue::NextHop(addr(0)),
        ]),
        nlri: vec![Nlri::new(
            Ipv4Prefix::new([10, 1, k as u8, 0].into(), 24).unwrap(),
        )],
    };
    let mut ctx = SessionContext::modern();
    ctx.extended_message = false;
    encode_message(&Message::Update(u), &ctx).unwrap()
}

/// A standby that joins while A is still sending its routes: A's flow is checkpointed
/// after A's 3rd UPDATE, B's after A's 8th (B's Adj-RIB-Out as sent then holds 8 routes).
/// Restored in that order, the standby's Loc-RIB lags B's Adj-RIB-Out: its speaker withdraws
/// 5 routes from B, and announces them again as the mirror feeds A's 4th to 8th UPDATEs.
/// The primary wrote nothing after the checkpoints. With `extra_unwritten`, the primary
/// also computed (and never wrote) B's UPDATE for A's 9th route.
fn restored_mid_feed(extra_unwritten: bool) -> MidFeed {
    let (mut p, _) = pair();
    let feed: Vec<Vec<u8>> = (0..9).map(announce).collect();
    for (k, m) in feed.iter().enumerate().take(3) {
        p.receive(Millis(10 + k as u64), &flow(0), m).unwrap();
    }
    let snap_a = p.snapshot_flow(&flow(0)).unwrap();
    for (k, m) in feed.iter().enumerate().take(8).skip(3) {
        p.receive(Millis(10 + k as u64), &flow(0), m).unwrap();
    }
    p.drain_outputs();
    let snap_b = p.snapshot_flow(&flow(1)).unwrap();
    assert_eq!(p.speaker().rib().adj_rib_out(peer_of(&p, 1)).len(), 8);
    let ctx = negotiated_ctx(&p, 1);
    let held = snap_b_view(&p, &ctx);
    let fed = if extra_unwritten {
        // A's 9th UPDATE: the primary computes its UPDATE to B and dies before writing it.
        p.receive(Millis(30), &flow(0), &feed[8]).unwrap();
        assert_eq!(to_b(&mut p).len(), 1, "computed, never written");
        9
    } else {
        8
    };

    let other = "router_id = \"198.51.100.9\"\nlocal_as = 64999\n";
    let speaker = Speaker::new(Millis(0), Config::from_toml_str(other).unwrap(), 1).unwrap();
    let mut sb = SpeakerReplica::new(speaker, 1, 0);
    sb.import_static(&p.export_static()).unwrap();
    sb.restore_flow(&snap_a).unwrap();
    sb.restore_flow(&snap_b).unwrap();
    let mut produced = to_b(&mut sb);
    for (k, m) in feed.iter().enumerate().take(fed).skip(3) {
        let at = sb.received(&flow(0)).unwrap();
        sb.feed_peer_bytes(10 + k as u64, &flow(0), at, m).unwrap();
        produced.extend(to_b(&mut sb));
    }
    assert_eq!(adj_rib_out_of(&sb, 1), adj_rib_out_of(&p, 1), "in lockstep");
    MidFeed {
        sb,
        produced,
        held,
        ctx,
    }
}

/// What [`restored_mid_feed`] gives.
struct MidFeed {
    /// The standby, fed every UPDATE of A.
    sb: SpeakerReplica,
    /// What its speaker produced for B (never sent).
    produced: Vec<Vec<u8>>,
    /// What B holds at the failure, as UPDATEs.
    held: Vec<Vec<u8>>,
    /// B's codec context.
    ctx: SessionContext,
}

/// The restore's artefact (5 routes withdrawn and announced again by the standby's own
/// speaker) is no part of the difference: B held the primary's 8 routes, the standby's
/// Adj-RIB-Out holds the same 8, so nothing is sent at all.
#[test]
fn a_standby_restored_mid_feed_sends_no_flap_in_its_difference() {
    let MidFeed {
        mut sb,
        produced,
        held,
        ctx,
    } = restored_mid_feed(false);
    assert_eq!(
        flapped(&produced, &ctx).len(),
        5,
        "the artefact this test is about"
    );
    let sent = sb.as_sent_difference(&flow(1));
    assert!(flapped(&sent, &ctx).is_empty(), "no flap");
    assert!(sent.is_empty(), "{} UPDATEs for routes B holds", sent.len());
    let out = adj_rib_out_of(&sb, 1);
    assert_eq!(neighbour_view(&held, &ctx), out);
    assert_eq!(out.len(), 8);
}

/// As above, and the primary died after computing (not writing) B's UPDATE for A's 9th
/// route: the difference is that one announcement, nothing B already holds. (The ledger and
/// netting of 9e6d7da sent it with the 5 restored routes announced again.)
#[test]
fn a_standby_restored_mid_feed_sends_nothing_the_neighbour_already_holds() {
    let MidFeed {
        mut sb, held, ctx, ..
    } = restored_mid_feed(true);
    let sent = sb.as_sent_difference(&flow(1));
    let out = adj_rib_out_of(&sb, 1);
    assert_eq!(out.len(), 9);
    assert_eq!(neighbour_view(&[&held[..], &sent[..]].concat(), &ctx), out);
    let announced: Vec<Prefix> = sent
        .iter()
        .flat_map(|m| {
            let Some(Message::Update(u)) = decode_message(m, &ctx).message else {
                panic!("not an UPDATE");
            };
            assert_eq!(u.withdrawn_count(), 0, "nothing withdrawn");
            u.announced().map(|(_, n)| n.prefix).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        announced,
        vec![Prefix::V4(
            Ipv4Prefix::new([10, 1, 8, 0].into(), 24).unwrap()
        )],
        "nothing B already holds is announced again"
    );
    assert_eq!(sent.len(), 1);
    // Sent: the next difference is empty.
    assert!(sb.as_sent_difference(&flow(1)).is_empty());
}

/// `r`'s Adj-RIB-Out towards its neighbour number `n`, by prefix.
fn adj_rib_out_of(r: &SpeakerReplica, n: usize) -> BTreeMap<Prefix, PathAttributes> {
    r.speaker()
        .rib()
        .adj_rib_out(peer_of(r, n))
        .into_iter()
        .collect()
}

/// The UPDATEs that give B the primary's Adj-RIB-Out of B (what B holds at the failure).
fn snap_b_view(p: &SpeakerReplica, ctx: &SessionContext) -> Vec<Vec<u8>> {
    p.speaker()
        .rib()
        .adj_rib_out(peer_of(p, 1))
        .into_iter()
        .map(|(prefix, attributes)| {
            let Prefix::V4(v4) = prefix else {
                panic!("IPv4 only here")
            };
            let u = Update {
                withdrawn: vec![],
                attributes,
                nlri: vec![Nlri::new(v4)],
            };
            encode_message(&Message::Update(u), ctx).unwrap()
        })
        .collect()
}

/// The mirror runs ahead of the checkpoint: the standby's ledger holds B's egress from the
/// session's start before B's checkpoint (taken after A's 10th UPDATE, at an egress offset
/// past the first UPDATEs) is restored. What B holds is the checkpoint's Adj-RIB-Out moved by
/// the primary's UPDATEs from the checkpoint's offset on; the UPDATE the primary computed for
/// A's 20th and never wrote is the whole difference.
#[test]
fn egress_seen_before_the_checkpoint_is_restored_counts_from_its_offset() {
    let (mut p, _) = pair();
    let fb = flow(1);
    let base = SeqNum(p.anchor(&fb).unwrap().our_seq_at_zero);
    let feed: Vec<Vec<u8>> = (0..20).map(feed_update).collect();
    let mut wire = Vec::new();
    let (mut snap_a, mut snap_b) = (None, None);
    let mut unwritten = Vec::new();
    for (k, m) in feed.iter().enumerate() {
        p.receive(Millis(10 + k as u64), &flow(0), m).unwrap();
        let msgs = to_b(&mut p);
        if k == 19 {
            unwritten = msgs;
            continue;
        }
        for b in msgs {
            p.note_sent(&fb, b.len() as u64);
            wire.extend_from_slice(&b);
        }
        if k == 9 {
            snap_a = p.snapshot_flow(&flow(0));
            snap_b = p.snapshot_flow(&fb);
        }
    }
    let (snap_a, snap_b) = (snap_a.unwrap(), snap_b.unwrap());
    assert!(
        snap_b.offsets.sent_to_peer > 0,
        "the checkpoint is past some UPDATEs"
    );
    assert_eq!(unwritten.len(), 1);

    let other = "router_id = \"198.51.100.9\"\nlocal_as = 64999\n";
    let speaker = Speaker::new(Millis(0), Config::from_toml_str(other).unwrap(), 1).unwrap();
    let mut sb = SpeakerReplica::new(speaker, 1, 0);
    sb.import_static(&p.export_static()).unwrap();
    sb.restore_flow(&snap_a).unwrap();
    let mut ledger = EgressLedger::default();
    ledger.primary_sent(fb, base, &wire);
    assert_eq!(
        feed_primary_egress(&mut sb, &mut ledger, &fb),
        0,
        "B not restored"
    );
    sb.restore_flow(&snap_b).unwrap();
    to_b(&mut sb);
    for (k, m) in feed.iter().enumerate().skip(10) {
        let at = sb.received(&flow(0)).unwrap();
        sb.feed_peer_bytes(10 + k as u64, &flow(0), at, m).unwrap();
        to_b(&mut sb);
    }
    let taken = feed_primary_egress(&mut sb, &mut ledger, &fb);
    assert!(taken > 0, "the UPDATEs after the checkpoint's offset");
    assert_eq!(adj_rib_out_of(&sb, 1), adj_rib_out_of(&p, 1), "in lockstep");
    assert_eq!(sb.as_sent_difference(&fb), unwritten);
}
