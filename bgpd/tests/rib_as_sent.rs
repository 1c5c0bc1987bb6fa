//! What a neighbour holds on a node that does not write to it (a standby): the Adj-RIB-Out
//! difference of issue 7 as a state difference (`Rib::track_as_sent`, `note_as_sent`,
//! `as_sent_difference`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod rib_util;

use bgpd::rib::{PeerId, PeerInfo, Rib};
use bgpd::wire::{
    AfiSafi, AsPath, Asn, AttributeValue, Community, MpNextHop, MpNlri, MpReach, Nlri, Origin,
    PathAttributes, Prefix, Update,
};
use rib_util::*;
use std::collections::BTreeMap;

/// An eBGP neighbour with IPv4 and IPv6 unicast over IPv4.
fn dual(id: u32) -> PeerInfo {
    let mut info = peer(id, [192, 0, 2, id as u8], [192, 0, 2, 254], 65000 + id);
    info.ctx.afi_safis = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
    info
}

/// Peer 1 feeds, peer 2 is sent the routes; tracking on (a standby).
fn standby_rib() -> Rib {
    let mut rib = rib();
    rib.track_as_sent(true);
    rib.peer_up(dual(1)).unwrap();
    rib.peer_up(dual(2)).unwrap();
    rib
}

/// Peer 1's IPv6 announcement of `prefixes` with a path of `path`.
fn announce_v6(prefixes: &[&str], path: &[u32]) -> Update {
    let mut a = PathAttributes::new();
    a.set(AttributeValue::Origin(Origin::Igp));
    a.set(AttributeValue::AsPath(AsPath::sequence(
        path.iter().copied().map(Asn),
    )));
    a.set(AttributeValue::MpReach(MpReach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        },
        nlri: MpNlri::Prefixes(prefixes.iter().map(|s| Nlri::new(p(s))).collect()),
    }));
    Update {
        withdrawn: Vec::new(),
        attributes: a,
        nlri: Vec::new(),
    }
}

/// Feeds peer 1 a table of both families with a few attribute sets.
fn feed_table(rib: &mut Rib) {
    apply(
        rib,
        1,
        &announce(
            &["198.51.100.0/25", "203.0.113.0/26"],
            attrs(&[65001], [192, 0, 2, 1], vec![]),
        ),
    );
    apply(
        rib,
        1,
        &announce(
            &["203.0.113.64/26"],
            attrs(
                &[65001, 64512],
                [192, 0, 2, 1],
                vec![
                    AttributeValue::MultiExitDisc(7),
                    AttributeValue::Communities(vec![Community((65001 << 16) | 9)]),
                ],
            ),
        ),
    );
    apply(
        rib,
        1,
        &announce_v6(&["2001:db8:1::/48", "2001:db8:2::/48"], &[65001]),
    );
    apply(rib, 1, &announce_v6(&["2001:db8:3::/48"], &[65001, 64513]));
}

/// What a neighbour holds after `msgs`: prefix -> attributes as received.
fn view(info: &PeerInfo, msgs: &[Vec<u8>]) -> BTreeMap<Prefix, Update> {
    let mut held = BTreeMap::new();
    for u in decode_updates(info, msgs) {
        for w in withdrawn(&u) {
            held.remove(&w);
        }
        for a in announced(&u) {
            held.insert(a, u.clone());
        }
    }
    held
}

/// Notes `msgs` (UPDATEs this RIB produced for peer 2) as written to it by the primary.
fn primary_wrote(rib: &mut Rib, msgs: &[Vec<u8>]) {
    for u in decode_updates(&dual(2), msgs) {
        rib.note_as_sent(PeerId(2), &u).unwrap();
    }
}

/// Every UPDATE the primary wrote, decoded as the neighbour decodes it and noted, leaves
/// nothing to send: the attribute sets read back from the wire are the ones the export
/// stored, for IPv4 (NEXT_HOP) and IPv6 (MP_REACH_NLRI) alike, with MULTI_EXIT_DISC and
/// communities.
#[test]
fn what_the_primary_wrote_is_what_the_neighbour_holds_in_both_families() {
    let mut rib = standby_rib();
    feed_table(&mut rib);
    let msgs = rib.poll_updates(PeerId(2));
    let held = view(&dual(2), &msgs);
    assert_eq!(held.len(), 6, "{held:?}");
    assert_eq!(rib.as_sent_pending(PeerId(2)), 6, "nothing written yet");
    primary_wrote(&mut rib, &msgs);
    assert_eq!(rib.as_sent_pending(PeerId(2)), 0);
    assert!(rib.as_sent_difference(PeerId(2)).is_empty());
}

/// The primary computes changes and dies before writing them: the difference withdraws what
/// the neighbour holds and should not, announces what changed, and leaves alone what it
/// holds already; the neighbour ends with the Adj-RIB-Out.
#[test]
fn unwritten_changes_are_the_difference_and_nothing_else() {
    let mut rib = standby_rib();
    feed_table(&mut rib);
    let first = rib.poll_updates(PeerId(2));
    primary_wrote(&mut rib, &first);
    // Then: one IPv4 and one IPv6 prefix withdrawn, one of each with a longer path.
    apply(&mut rib, 1, &withdraw(&["198.51.100.0/25"]));
    apply(
        &mut rib,
        1,
        &announce(
            &["203.0.113.0/26"],
            attrs(&[65001, 64999], [192, 0, 2, 1], vec![]),
        ),
    );
    let mut w6 = Update::default();
    w6.attributes
        .set(AttributeValue::MpUnreach(bgpd::wire::MpUnreach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            withdrawn: MpNlri::Prefixes(vec![Nlri::new(p("2001:db8:1::/48"))]),
        }));
    apply(&mut rib, 1, &w6);
    apply(
        &mut rib,
        1,
        &announce_v6(&["2001:db8:2::/48"], &[65001, 64999]),
    );
    // The standby's own UPDATEs for these are never written.
    let unwritten = rib.poll_updates(PeerId(2));
    assert!(!unwritten.is_empty());
    assert_eq!(rib.as_sent_pending(PeerId(2)), 4);
    let diff = rib.as_sent_difference(PeerId(2));
    let us = decode_updates(&dual(2), &diff);
    let w: Vec<Prefix> = us.iter().flat_map(withdrawn).collect();
    let mut a: Vec<Prefix> = us.iter().flat_map(announced).collect();
    a.sort();
    assert_eq!(w, vec![p("198.51.100.0/25"), p("2001:db8:1::/48")]);
    assert_eq!(a, vec![p("203.0.113.0/26"), p("2001:db8:2::/48")]);
    // The neighbour then holds exactly what the standby's own UPDATEs would have given it.
    let after = view(&dual(2), &[&first[..], &diff[..]].concat());
    let intended = view(&dual(2), &[&first[..], &unwritten[..]].concat());
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        intended.keys().collect::<Vec<_>>()
    );
    for (prefix, u) in &after {
        let ours = &intended[prefix].attributes;
        let mut theirs = u.attributes.clone();
        let mut ours = ours.clone();
        for a in [&mut theirs, &mut ours] {
            if let Some(mut m) = a.mp_reach().cloned() {
                m.nlri = MpNlri::Prefixes(Vec::new());
                a.set(AttributeValue::MpReach(m));
            }
        }
        assert_eq!(theirs, ours, "{prefix}");
    }
    // Sent: nothing is left.
    assert!(rib.as_sent_difference(PeerId(2)).is_empty());
}

/// A change undone before the primary wrote it is nothing to send; a change the primary
/// wrote before this node computed it is nothing to send either (its mirror ran ahead).
#[test]
fn order_of_the_standbys_changes_and_the_primarys_writes_does_not_matter() {
    let mut rib = standby_rib();
    feed_table(&mut rib);
    let first = rib.poll_updates(PeerId(2));
    primary_wrote(&mut rib, &first);
    apply(&mut rib, 1, &withdraw(&["198.51.100.0/25"]));
    rib.poll_updates(PeerId(2));
    apply(
        &mut rib,
        1,
        &announce(
            &["198.51.100.0/25"],
            attrs(&[65001], [192, 0, 2, 1], vec![]),
        ),
    );
    rib.poll_updates(PeerId(2));
    assert_eq!(
        rib.as_sent_pending(PeerId(2)),
        0,
        "withdrawn and back: no change"
    );

    // The primary's UPDATE for a new route is seen before this node's speaker computes it.
    let mut twin = standby_rib();
    feed_table(&mut twin);
    twin.poll_updates(PeerId(2));
    let new = announce(&["192.0.2.128/25"], attrs(&[65001], [192, 0, 2, 1], vec![]));
    apply(&mut twin, 1, &new);
    let written = twin.poll_updates(PeerId(2));
    primary_wrote(&mut rib, &written);
    assert_eq!(
        rib.as_sent_pending(PeerId(2)),
        1,
        "the neighbour holds more"
    );
    apply(&mut rib, 1, &new);
    rib.poll_updates(PeerId(2));
    assert_eq!(rib.as_sent_pending(PeerId(2)), 0);
    assert!(rib.as_sent_difference(PeerId(2)).is_empty());
}

/// A primary keeps nothing: tracking is off by default.
#[test]
fn without_tracking_nothing_is_kept() {
    let mut rib = rib();
    rib.peer_up(dual(1)).unwrap();
    rib.peer_up(dual(2)).unwrap();
    feed_table(&mut rib);
    let msgs = rib.poll_updates(PeerId(2));
    assert!(!msgs.is_empty());
    assert_eq!(rib.as_sent_pending(PeerId(2)), 0);
    assert!(rib.as_sent_difference(PeerId(2)).is_empty());
}

/// The family of each End-of-RIB in `us`, `None` for any other UPDATE.
fn markers(us: &[Update]) -> Vec<Option<AfiSafi>> {
    us.iter().map(Update::as_end_of_rib).collect()
}

/// The primary wrote the initial table but died before its last End-of-RIB (IPv6): the
/// difference is that End-of-RIB and nothing else (RFC 4724 section 2: the neighbour waits
/// for it). Before, the difference was empty and the neighbour never got it.
#[test]
fn an_end_of_rib_the_primary_never_wrote_ends_the_difference() {
    let mut rib = standby_rib();
    feed_table(&mut rib);
    let msgs = rib.poll_updates(PeerId(2));
    let us = decode_updates(&dual(2), &msgs);
    assert_eq!(
        markers(&us).last(),
        Some(&Some(AfiSafi::IPV6_UNICAST)),
        "the initial table ends with the IPv6 End-of-RIB"
    );
    primary_wrote(&mut rib, &msgs[..msgs.len() - 1]);
    let diff = decode_updates(&dual(2), &rib.as_sent_difference(PeerId(2)));
    assert_eq!(markers(&diff), vec![Some(AfiSafi::IPV6_UNICAST)]);
    // Sent: owed no more.
    assert!(rib.as_sent_difference(PeerId(2)).is_empty());
}

/// The primary wrote only the IPv4 routes: the difference completes IPv4 with its
/// End-of-RIB, then sends the IPv6 routes and the IPv6 End-of-RIB; the neighbour ends with
/// the Adj-RIB-Out.
#[test]
fn a_table_cut_short_is_completed_and_each_family_ends_with_end_of_rib() {
    let mut rib = standby_rib();
    feed_table(&mut rib);
    let msgs = rib.poll_updates(PeerId(2));
    let us = decode_updates(&dual(2), &msgs);
    let v4_routes = us
        .iter()
        .take_while(|u| u.as_end_of_rib().is_none())
        .count();
    assert_eq!(
        us[v4_routes].as_end_of_rib(),
        Some(AfiSafi::IPV4_UNICAST),
        "{us:?}"
    );
    primary_wrote(&mut rib, &msgs[..v4_routes]);
    let raw = rib.as_sent_difference(PeerId(2));
    let diff = decode_updates(&dual(2), &raw);
    let m = markers(&diff);
    assert_eq!(m.first(), Some(&Some(AfiSafi::IPV4_UNICAST)), "{diff:?}");
    assert_eq!(m.last(), Some(&Some(AfiSafi::IPV6_UNICAST)), "{diff:?}");
    assert_eq!(m.iter().filter(|x| x.is_some()).count(), 2, "{diff:?}");
    let announced_v6: Vec<Prefix> = diff.iter().flat_map(announced).collect();
    assert_eq!(
        announced_v6,
        vec![
            p("2001:db8:1::/48"),
            p("2001:db8:2::/48"),
            p("2001:db8:3::/48")
        ]
    );
    assert_eq!(
        view(&dual(2), &[&msgs[..v4_routes], &raw[..]].concat()).len(),
        6
    );
}

/// A checkpoint of neighbour 2 taken before the primary polled its initial table owes both
/// End-of-RIBs (the checkpoint's own record); the primary then wrote the routes and died:
/// the difference is the two End-of-RIBs. A checkpoint taken after the primary's poll owes
/// none (the End-of-RIBs are before its egress offset).
#[test]
fn a_restored_checkpoint_owes_the_end_of_rib_the_primary_still_owed() {
    for before_poll in [true, false] {
        let mut primary = rib();
        primary.peer_up(dual(1)).unwrap();
        primary.peer_up(dual(2)).unwrap();
        feed_table(&mut primary);
        let early = primary.peer_snapshot(PeerId(2)).unwrap();
        let msgs = primary.poll_updates(PeerId(2));
        let late = primary.peer_snapshot(PeerId(2)).unwrap();
        let feeder = primary.peer_snapshot(PeerId(1)).unwrap();

        let mut standby = rib();
        standby.track_as_sent(true);
        standby.restore_peer(PeerId(1), &feeder).unwrap();
        let checkpoint = if before_poll { &early } else { &late };
        standby.restore_peer(PeerId(2), checkpoint).unwrap();
        // The standby's own UPDATEs are never written.
        standby.poll_updates(PeerId(2));
        if before_poll {
            // The primary wrote its routes, not the End-of-RIBs.
            let routes: Vec<Vec<u8>> = msgs
                .iter()
                .zip(decode_updates(&dual(2), &msgs))
                .filter(|(_, u)| u.as_end_of_rib().is_none())
                .map(|(m, _)| m.clone())
                .collect();
            primary_wrote(&mut standby, &routes);
        }
        let diff = decode_updates(&dual(2), &standby.as_sent_difference(PeerId(2)));
        let want = if before_poll {
            vec![Some(AfiSafi::IPV4_UNICAST), Some(AfiSafi::IPV6_UNICAST)]
        } else {
            vec![]
        };
        assert_eq!(
            markers(&diff),
            want,
            "checkpoint before the poll: {before_poll}"
        );
    }
}
