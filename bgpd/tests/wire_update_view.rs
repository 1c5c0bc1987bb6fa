//! The in-place UPDATE view (`UpdateView`, the ingest fast path) against the full decode:
//! whenever the view takes an UPDATE, the decode accepts it with the same prefixes and
//! attributes, and a RIB fed the view reaches the same state (digest, Loc-RIB, Adj-RIB-In)
//! as a RIB fed the decoded UPDATE. The view never panics on any input.
#![allow(clippy::unwrap_used)]

mod rib_util;
mod view_oracle;

use bgpd::rib::PeerId;
use bgpd::wire::{decode_message, Message, Outcome, SessionContext, Update, UpdateView};
use proptest::collection::vec;
use proptest::prelude::*;
use rib_util::*;
use view_oracle::*;

/// One attribute: flags (the extended-length bit set by `ext`), type code, value.
fn attribute(flags: u8, code: u8, value: &[u8], ext: bool) -> Vec<u8> {
    let mut a = Vec::new();
    if ext || value.len() > 255 {
        a.push(flags | 0x10);
        a.push(code);
        a.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        a.push(flags & !0x10);
        a.push(code);
        a.push(value.len() as u8);
    }
    a.extend_from_slice(value);
    a
}

fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(LOCAL_AS),
        Just(64_496u32),
        Just(64_497u32),
        Just(1u32),
        Just(4_200_000_000u32),
    ]
}

/// An AS_PATH value with 4-octet ASNs: segments of type 0..=5 (1-4 are defined; AS_SET and
/// AS_SEQUENCE, the common ones, drawn more often) with 0-3 ASNs.
fn as_path_value() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![2 => 1u8..3, 1 => 0u8..6];
    vec((kind, vec(asn(), 0..4)), 0..3).prop_map(|segs| {
        let mut v = Vec::new();
        for (t, asns) in segs {
            v.push(t);
            v.push(asns.len() as u8);
            for a in asns {
                v.extend_from_slice(&a.to_be_bytes());
            }
        }
        v
    })
}

/// (flags without the extended-length bit, type code, value): mostly well-formed attributes
/// of the types the view takes, some of the others, some malformed.
fn attr_parts() -> impl Strategy<Value = (u8, u8, Vec<u8>)> {
    prop_oneof![
        1 => (0u8..4).prop_map(|o| (0x40, 1, vec![o])),
        1 => as_path_value().prop_map(|v| (0x40, 2, v)),
        1 => prop_oneof![Just([192u8, 0, 2, 1]), Just([127, 0, 0, 1]), Just([10, 0, 0, 3])]
            .prop_map(|a| (0x40, 3, a.to_vec())),
        2 => any::<u32>().prop_map(|m| (0x80, 4, m.to_be_bytes().to_vec())),
        2 => any::<u32>().prop_map(|m| (0x40, 5, m.to_be_bytes().to_vec())),
        1 => Just((0x40, 6, Vec::new())),
        1 => (asn(), any::<[u8; 4]>()).prop_map(|(a, ip)| {
            let mut v = a.to_be_bytes().to_vec();
            v.extend_from_slice(&ip);
            (0xc0, 7, v)
        }),
        2 => vec(any::<u8>(), 0..3).prop_map(|c| (0xc0, 8, c.repeat(4))),
        1 => vec(any::<u8>(), 0..2).prop_map(|c| (0xc0, 16, c.repeat(8))),
        1 => vec(any::<u8>(), 0..2).prop_map(|c| (0xc0, 32, c.repeat(12))),
        // ORIGINATOR_ID and CLUSTER_LIST, sometimes our router id (= cluster id): a loop.
        2 => prop_oneof![Just([192u8, 0, 2, 254]), any::<[u8; 4]>()]
            .prop_map(|a| (0x80, 9, a.to_vec())),
        2 => vec(prop_oneof![Just([192u8, 0, 2, 254]), any::<[u8; 4]>()], 0..3)
            .prop_map(|ids| (0x80, 10, ids.concat())),
        1 => vec(any::<u8>(), 0..6).prop_map(|v| (0xc0, 99, v)),
        1 => (any::<u8>(), 0u8..40, vec(any::<u8>(), 0..6)),
    ]
}

/// An attribute as octets, sometimes with other flags, low flag bits or an extended length.
fn attr() -> impl Strategy<Value = Vec<u8>> {
    (attr_parts(), 0u8..8, any::<u8>(), any::<bool>()).prop_map(|((f, c, v), m, bits, ext)| {
        let flags = match m {
            0 => bits,              // any flags
            1 => f | (bits & 0x0f), // low bits, ignored on receipt
            _ => f,
        };
        attribute(flags, c, &v, ext && m == 2)
    })
}

/// A prefix field: prefixes from a small pool (so withdrawals meet announcements), or junk.
fn prefixes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec((0u8..4, prop_oneof![Just(24u8), Just(16), Just(0), Just(32), Just(23)]), 0..4)
            .prop_map(|ps| {
                let mut v = Vec::new();
                for (i, len) in ps {
                    v.push(len);
                    let a = [10u8, 0, i, 0];
                    v.extend_from_slice(&a[..usize::from(len).div_ceil(8)]);
                }
                v
            }),
        1 => vec(any::<u8>(), 0..6),
    ]
}

/// An UPDATE body: Withdrawn Routes, Path Attributes (the usual mandatory three first, when
/// `mandatory`), NLRI; `cut` drops octets from the attribute field's end to break it.
fn body() -> impl Strategy<Value = Vec<u8>> {
    (
        prefixes(),
        proptest::bool::weighted(0.8),
        as_path_value(),
        vec(attr(), 0..4),
        0u8..8,
        prefixes(),
    )
        .prop_map(|(w, mandatory, path, extra, cut, nlri)| {
            let mut attrs = Vec::new();
            if mandatory {
                attrs.extend(attribute(0x40, 1, &[0], false));
                attrs.extend(attribute(0x40, 2, &path, false));
                attrs.extend(attribute(0x40, 3, &[192, 0, 2, 1], false));
            }
            for a in extra {
                attrs.extend(a);
            }
            if cut == 7 && !attrs.is_empty() {
                attrs.pop();
            }
            let mut b = Vec::new();
            b.extend_from_slice(&(w.len() as u16).to_be_bytes());
            b.extend_from_slice(&w);
            b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
            b.extend_from_slice(&attrs);
            b.extend_from_slice(&nlri);
            b
        })
}

fn ctx_for(ibgp: bool) -> SessionContext {
    SessionContext {
        ibgp,
        ..SessionContext::modern()
    }
}

fn decoded(msg: &[u8], ctx: &SessionContext) -> (Option<Update>, Outcome) {
    let d = decode_message(msg, ctx);
    match d.message {
        Some(Message::Update(u)) => (Some(u), d.outcome),
        _ => (None, d.outcome),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whenever the view takes an UPDATE, the decode accepts it: same withdrawn prefixes,
    /// same NLRI, and the view's decoded form equals the decode's.
    #[test]
    fn the_view_takes_only_what_the_decode_accepts_unchanged(
        b in body(), ibgp in any::<bool>(), two_octet in proptest::bool::weighted(0.1),
        add_path in proptest::bool::weighted(0.1),
    ) {
        let mut ctx = ctx_for(ibgp);
        ctx.four_octet_as = !two_octet;
        if add_path {
            ctx.add_path_receive = vec![bgpd::wire::AfiSafi::IPV4_UNICAST];
        }
        let msg = update_message(&b);
        let Some(v) = UpdateView::parse_message(&msg, &ctx) else {
            return Ok(());
        };
        prop_assert_eq!(UpdateView::parse(&b, &ctx), Some(v));
        let (u, outcome) = decoded(&msg, &ctx);
        prop_assert_eq!(&outcome, &Outcome::Accept);
        let u = u.unwrap();
        prop_assert_eq!(v.withdrawn().collect::<Vec<_>>(), v4_prefixes(&u.withdrawn));
        prop_assert_eq!(v.nlri().collect::<Vec<_>>(), v4_prefixes(&u.nlri));
        prop_assert_eq!(v.withdrawn_count(), u.withdrawn_count());
        prop_assert_eq!(v.withdrawn_count(), v.withdrawn().count());
        prop_assert_eq!(v.announced_count(), v.nlri().count());
        prop_assert_eq!(v.announced_count(), u.announced_count());
        prop_assert_eq!(v.is_end_of_rib(), u.as_end_of_rib().is_some());
        prop_assert_eq!(v.to_received().to_update(), u);
    }

    /// A RIB fed the views of a sequence of UPDATEs (the decoded form where the view does not
    /// take one) equals a RIB fed every decoded UPDATE, after each UPDATE.
    #[test]
    fn a_rib_fed_views_equals_a_rib_fed_decoded_updates(
        bodies in vec(body(), 1..8), ibgp in any::<bool>(),
    ) {
        let info = if ibgp {
            peer(1, [10, 0, 0, 3], [10, 0, 0, 254], LOCAL_AS)
        } else {
            peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 64_496)
        };
        let ctx = info.ctx.clone();
        let mut by_view = rib();
        let mut by_decode = rib();
        by_view.peer_up(info.clone()).unwrap();
        by_decode.peer_up(info).unwrap();
        for b in &bodies {
            let msg = update_message(b);
            let (u, outcome) = decoded(&msg, &ctx);
            if let Some(u) = &u {
                by_decode.apply_update(PeerId(1), u, &outcome).unwrap();
            }
            match UpdateView::parse_message(&msg, &ctx) {
                Some(v) => by_view.apply_update_view(PeerId(1), &v).unwrap(),
                None => {
                    if let Some(u) = &u {
                        by_view.apply_update(PeerId(1), u, &outcome).unwrap();
                    }
                }
            }
            prop_assert_eq!(rib_state(&by_view), rib_state(&by_decode));
        }
    }

    /// Any octets: no panic, and nothing taken that the decode does not accept.
    #[test]
    fn the_view_of_any_octets_does_not_panic(b in vec(any::<u8>(), 0..80), ibgp in any::<bool>()) {
        let ctx = ctx_for(ibgp);
        let msg = update_message(&b);
        if let Some(v) = UpdateView::parse_message(&msg, &ctx) {
            let _ = v.nlri().count() + v.withdrawn().count();
            prop_assert_eq!(decoded(&msg, &ctx).1, Outcome::Accept);
        }
    }
}

/// The fast path is the common path: every UPDATE of the generated Internet-like table is
/// taken by the view.
#[test]
fn every_update_of_the_generated_table_is_taken_by_the_view() {
    let ctx = SessionContext {
        ibgp: false,
        ..SessionContext::modern()
    };
    let t = bgpd::tablegen::internet_table(&bgpd::tablegen::TableSpec::new(20_000, 6_000), &ctx)
        .unwrap();
    let taken = t
        .messages
        .iter()
        .filter(|m| UpdateView::parse_message(m, &ctx).is_some())
        .count();
    assert_eq!(taken, t.messages.len());
}

/// The generator above reaches the view's accepting path often enough for the properties to
/// mean something, and its rejecting path too.
#[test]
fn the_generated_bodies_exercise_both_paths() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = body();
    let (mut taken, mut announcing, n) = (0, 0, 2000);
    for i in 0..n {
        let b = strategy.new_tree(&mut runner).unwrap().current();
        let ctx = ctx_for(i % 2 == 0);
        if let Some(v) = UpdateView::parse(&b, &ctx) {
            taken += 1;
            if v.announced_count() > 0 {
                announcing += 1;
            }
        }
    }
    assert!(taken > n / 10 && taken < n * 9 / 10, "{taken} of {n} taken");
    assert!(
        announcing > n / 20,
        "{announcing} of {n} taken and announcing"
    );
}

/// The real update stream of ../shared/data (an internal session from a route reflector:
/// LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST on almost every UPDATE): the view takes every
/// UPDATE that the decode accepts with nothing outside the view's attribute types.
#[test]
fn the_real_stream_is_taken_by_the_view() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/mrt/bgpdump/updates.et-header.2015.gz"
    );
    let r = bgpd::mrt::MrtReader::open(path).unwrap();
    let (mut updates, mut taken, mut plain) = (0usize, 0usize, 0usize);
    for (msg, ctx) in r.update_messages().map(Result::unwrap) {
        updates += 1;
        let view = UpdateView::parse_message(&msg, &ctx);
        let (u, outcome) = decoded(&msg, &ctx);
        let kinds_taken = u.as_ref().is_some_and(|u| {
            u.attributes
                .iter()
                .all(|a| matches!(a.type_code(), 1..=10 | 16 | 32))
        });
        if outcome == Outcome::Accept && kinds_taken {
            plain += 1;
            assert!(view.is_some(), "not taken: {u:?}");
        }
        if let Some(v) = view {
            taken += 1;
            assert_eq!(outcome, Outcome::Accept);
            assert_eq!(v.to_received().to_update(), u.unwrap());
        }
    }
    assert_eq!(updates, 89_679);
    assert_eq!(taken, plain);
    assert!(taken > updates * 99 / 100, "{taken} of {updates}");
}
