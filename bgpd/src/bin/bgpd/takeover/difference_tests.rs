//! The Adj-RIB-Out difference with real speakers: a primary and a standby restored from its
//! checkpoints, fed the same neighbour messages; the primary "dies" after computing UPDATEs
//! it never wrote. The ledger must give exactly those (nothing the neighbour already has, and
//! what it gets then is the standby's Adj-RIB-Out).

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
                our_seq_at_zero: 2000,
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
/// completing its last message) all of its messages to B but the last `unsent`.
/// Returns (the primary's messages to B, the difference, the standby's Adj-RIB-Out of B,
/// B's codec context).
fn scenario(n: usize, unsent: usize) -> Scenario {
    let (mut p, mut sb) = pair();
    let mut ledger = EgressLedger::default();
    let mut primary_msgs = Vec::new();
    let fb = flow(1);
    for k in 0..n {
        let m = feed_update(k);
        let at = sb.received(&flow(0)).unwrap();
        p.receive(Millis(10 + k as u64), &flow(0), &m).unwrap();
        sb.feed_peer_bytes(10 + k as u64, &flow(0), at, &m).unwrap();
        primary_msgs.extend(to_b(&mut p));
        for u in to_b(&mut sb) {
            ledger.generated(fb, &u);
        }
    }
    let written = primary_msgs.len() - unsent;
    // On the wire from 2^32 - 50: KEEPALIVEs between the UPDATEs, the last written one
    // cut in half on the mirror (the primary died while writing it) ...
    let mut wire = Vec::new();
    for m in &primary_msgs[..written] {
        wire.extend_from_slice(&KEEPALIVE);
        wire.extend_from_slice(m);
    }
    let base = SeqNum(u32::MAX - 50);
    let cut = wire.len() - primary_msgs[written - 1].len() / 2;
    ledger.primary_sent(fb, base, &wire[..cut]);
    // ... and the write-ahead holding everything the neighbour had not acknowledged.
    let acked = wire.len() - primary_msgs[written - 1].len() - 40;
    ledger.primary_sent(fb, base.wrapping_add(acked as u32), &wire[acked..]);
    let ctx = p
        .speaker()
        .session(peer_of(&p, 1))
        .and_then(|s| s.negotiated())
        .map(|n| n.ctx.clone())
        .unwrap();
    let out = adj_rib_out_of(&sb, 1);
    assert_eq!(out, adj_rib_out_of(&p, 1), "in lockstep");
    Scenario {
        primary: primary_msgs,
        written,
        difference: ledger.difference(&fb),
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
    let s = scenario(40, 3);
    assert!(s.written > 10, "{} messages written", s.written);
    // Exactly the three unwritten ones, in order: nothing the neighbour already has.
    assert_eq!(s.difference, s.primary[s.written..].to_vec());
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
    let s = scenario(25, 0);
    assert!(s.difference.is_empty(), "{} resent", s.difference.len());
    assert_eq!(neighbour_view(&s.primary, &s.ctx), s.out);
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

/// A standby that joins while A is still sending its routes: A's flow is checkpointed
/// after A's 3rd UPDATE, B's after A's 8th (B's Adj-RIB-Out as sent then holds 8 routes).
/// Restored in that order, the standby's Loc-RIB lags B's Adj-RIB-Out: its speaker withdraws
/// 5 routes from B, and announces them again as the mirror feeds A's 4th to 8th UPDATEs. The
/// primary wrote nothing after the checkpoints, so all of that is "the difference"; sent as
/// is, B sees 5 prefixes withdrawn and announced again though nothing changed. Netted, B is
/// sent no withdrawal, and ends with the standby's Adj-RIB-Out.
#[test]
fn a_standby_restored_mid_feed_sends_no_flap_in_its_difference() {
    let (mut p, _) = pair();
    let announce = |k: usize| {
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
    };
    let feed: Vec<Vec<u8>> = (0..8).map(announce).collect();
    for (k, m) in feed.iter().enumerate().take(3) {
        p.receive(Millis(10 + k as u64), &flow(0), m).unwrap();
    }
    let snap_a = p.snapshot_flow(&flow(0)).unwrap();
    for (k, m) in feed.iter().enumerate().skip(3) {
        p.receive(Millis(10 + k as u64), &flow(0), m).unwrap();
    }
    p.drain_outputs();
    let snap_b = p.snapshot_flow(&flow(1)).unwrap();
    assert_eq!(p.speaker().rib().adj_rib_out(peer_of(&p, 1)).len(), 8);

    let other = "router_id = \"198.51.100.9\"\nlocal_as = 64999\n";
    let speaker = Speaker::new(Millis(0), Config::from_toml_str(other).unwrap(), 1).unwrap();
    let mut sb = SpeakerReplica::new(speaker, 1, 0);
    sb.import_static(&p.export_static()).unwrap();
    let mut ledger = EgressLedger::default();
    let fb = flow(1);
    sb.restore_flow(&snap_a).unwrap();
    sb.restore_flow(&snap_b).unwrap();
    for u in to_b(&mut sb) {
        ledger.generated(fb, &u);
    }
    for (k, m) in feed.iter().enumerate().skip(3) {
        let at = sb.received(&flow(0)).unwrap();
        sb.feed_peer_bytes(10 + k as u64, &flow(0), at, m).unwrap();
        for u in to_b(&mut sb) {
            ledger.generated(fb, &u);
        }
    }
    let out = adj_rib_out_of(&sb, 1);
    let ctx = p
        .speaker()
        .session(peer_of(&p, 1))
        .and_then(|s| s.negotiated())
        .map(|n| n.ctx.clone())
        .unwrap();
    // What the ledger holds: the restore's withdrawals, then the same routes again.
    let raw = ledger.difference(&fb);
    assert_eq!(
        flapped(&raw, &ctx).len(),
        5,
        "the artefact this test is about"
    );
    let sent = netting::without_flaps(raw.clone(), &ctx);
    assert!(flapped(&sent, &ctx).is_empty(), "no flap left");
    for m in &sent {
        let Some(Message::Update(u)) = decode_message(m, &ctx).message else {
            panic!("not an UPDATE");
        };
        assert_eq!(u.withdrawn_count(), 0, "nothing withdrawn");
    }
    // B held the primary's 8 routes; it ends with the standby's Adj-RIB-Out either way.
    let held = snap_b_view(&p, &ctx);
    assert_eq!(neighbour_view(&[&held[..], &sent[..]].concat(), &ctx), out);
    assert_eq!(neighbour_view(&[&held[..], &raw[..]].concat(), &ctx), out);
    assert_eq!(out.len(), 8);
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

#[test]
fn netting_keeps_withdrawals_nothing_replaces_and_every_final_state() {
    let ctx = SessionContext::modern();
    let p = |k: u8| Nlri::new(Ipv4Prefix::new([10, 2, k, 0].into(), 24).unwrap());
    let attrs = |asn: u32| {
        attributes([
            AttributeValue::Origin(Origin::Igp),
            AttributeValue::AsPath(AsPath::sequence([Asn(asn)])),
            AttributeValue::NextHop(addr(0)),
        ])
    };
    let enc = |u: Update| encode_message(&Message::Update(u), &ctx).unwrap();
    let w12 = enc(Update {
        withdrawn: vec![p(1), p(2)],
        ..Update::default()
    });
    let a1 = enc(Update {
        withdrawn: vec![],
        attributes: attrs(65010),
        nlri: vec![p(1)],
    });
    let w3a3 = enc(Update {
        withdrawn: vec![p(3)],
        attributes: attrs(65011),
        nlri: vec![p(3)],
    });
    let eor = enc(Update::default());
    let sent = netting::without_flaps(
        vec![w12.clone(), a1.clone(), w3a3.clone(), eor.clone()],
        &ctx,
    );
    // p1's withdrawal goes (announced later), p2's stays; p3 withdrawn and announced in the
    // same UPDATE: announced only; the End-of-RIB marker stays as it was.
    let w2 = enc(Update {
        withdrawn: vec![p(2)],
        ..Update::default()
    });
    let a3 = enc(Update {
        withdrawn: vec![],
        attributes: attrs(65011),
        nlri: vec![p(3)],
    });
    assert_eq!(sent, vec![w2, a1.clone(), a3, eor.clone()]);
    // A withdrawal wholly replaced is dropped; nothing to net leaves the bytes alone.
    let w1 = enc(Update {
        withdrawn: vec![p(1)],
        ..Update::default()
    });
    assert_eq!(
        netting::without_flaps(vec![w1, a1.clone()], &ctx),
        vec![a1.clone()]
    );
    assert_eq!(
        netting::without_flaps(vec![a1.clone(), w12.clone()], &ctx),
        vec![a1, w12]
    );
    // Something that does not decode: left exactly as it was.
    let junk = [vec![0xff; 16], vec![0, 23, 2, 0, 9, 0, 0]].concat();
    assert_eq!(
        netting::without_flaps(vec![junk.clone(), eor.clone()], &ctx),
        vec![junk, eor]
    );
}
