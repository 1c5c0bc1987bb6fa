//! RIB behaviour: interning, RFC 7606 outcomes, graceful restart, route reflection,
//! RFC 8212, loops, AS_TRANS, IPv6, originated routes, policy changes, route refresh.
#![allow(clippy::unwrap_used)]

mod rib_util;

use bgpd::rib::{Direction, FibChange, PeerId, RibEvent};
use bgpd::wire::{
    decode_message, encode_message, AfiSafi, AsPath, Asn, AttributeValue, Message, MpNextHop,
    MpNlri, MpReach, Nlri, Outcome, PathAttributes, SessionContext, Update,
};
use rib_util::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn loc_prefixes(rib: &bgpd::rib::Rib) -> Vec<String> {
    rib.loc_rib().iter().map(|e| e.prefix.to_string()).collect()
}

#[test]
fn attribute_sets_are_interned_and_freed() {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    rib.peer_up(peer(2, [192, 0, 2, 2], [192, 0, 2, 254], 65002))
        .unwrap();
    let a = attrs(&[65001, 64496], [192, 0, 2, 1], vec![]);
    let many: Vec<String> = (0..100).map(|i| format!("10.{i}.0.0/16")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    apply(&mut rib, 1, &announce(&refs[..50], a.clone()));
    apply(&mut rib, 1, &announce(&refs[50..], a.clone()));
    let s = rib.stats();
    assert_eq!(s.routes, 100);
    assert_eq!(s.attribute_sets, 1, "100 routes, one attribute set");
    // Same attributes from another neighbour: still one set (pre- and post-policy shared).
    let b = attrs(&[65001, 64496], [192, 0, 2, 1], vec![]);
    apply(&mut rib, 2, &announce(&refs[..10], b));
    assert_eq!(rib.stats().attribute_sets, 1);
    assert_eq!(rib.stats().routes, 110);
    // A different MED is a different set; withdrawing its only route frees it.
    let c = attrs(
        &[65001, 64496],
        [192, 0, 2, 1],
        vec![AttributeValue::MultiExitDisc(7)],
    );
    apply(&mut rib, 2, &announce(&["192.0.2.0/24"], c));
    assert_eq!(rib.stats().attribute_sets, 2);
    apply(&mut rib, 2, &withdraw(&["192.0.2.0/24"]));
    assert_eq!(rib.stats().attribute_sets, 1);
    // Everything gone: nothing left.
    rib.peer_down(PeerId(1));
    rib.peer_down(PeerId(2));
    assert_eq!(rib.stats().routes, 0);
    assert_eq!(rib.stats().attribute_sets, 0);
}

#[test]
fn treat_as_withdraw_removes_the_updates_prefixes() {
    let mut rib = rib();
    let p1 = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    rib.peer_up(p1.clone()).unwrap();
    apply(
        &mut rib,
        1,
        &announce(
            &["203.0.113.0/24", "198.51.100.0/24"],
            attrs(&[65001], [192, 0, 2, 1], vec![]),
        ),
    );
    assert_eq!(loc_prefixes(&rib).len(), 2);
    // Re-announce 203.0.113.0/24 with an invalid ORIGIN value (RFC 7606 section 7.1).
    let u = announce(&["203.0.113.0/24"], attrs(&[65001], [192, 0, 2, 1], vec![]));
    let mut bytes = encode_message(&Message::Update(u), &p1.ctx.reversed()).unwrap();
    let pos = bytes
        .windows(4)
        .position(|w| w == [0x40, 0x01, 0x01, 0x00])
        .expect("ORIGIN attribute");
    bytes[pos + 3] = 7;
    let d = decode_message(&bytes, &p1.ctx);
    assert!(
        matches!(d.outcome, Outcome::TreatAsWithdraw { .. }),
        "{:?}",
        d.outcome
    );
    let Some(Message::Update(u)) = &d.message else {
        panic!("update expected")
    };
    rib.apply_update(PeerId(1), u, &d.outcome).unwrap();
    assert_eq!(loc_prefixes(&rib), vec!["198.51.100.0/24"]);
}

#[test]
fn attribute_discard_keeps_the_route() {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    let u = announce(&["203.0.113.0/24"], attrs(&[65001], [192, 0, 2, 1], vec![]));
    rib.apply_update(
        PeerId(1),
        &u,
        &Outcome::AttributeDiscard {
            discarded: vec![7],
            reason: "AGGREGATOR malformed".into(),
        },
    )
    .unwrap();
    assert_eq!(loc_prefixes(&rib), vec!["203.0.113.0/24"]);
}

#[test]
fn graceful_restart_keeps_stale_routes_until_end_of_rib() {
    let mut rib = rib();
    let p1 = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    rib.peer_up(p1.clone()).unwrap();
    let a = attrs(&[65001], [192, 0, 2, 1], vec![]);
    apply(
        &mut rib,
        1,
        &announce(&["203.0.113.0/24", "198.51.100.0/24"], a.clone()),
    );
    let _ = rib.poll_fib();
    rib.peer_down_graceful(PeerId(1));
    // Still forwarding on the stale routes: no FIB change, both in the Loc-RIB, stale.
    assert!(rib.poll_fib().is_empty());
    let loc = rib.loc_rib();
    assert_eq!(loc.len(), 2);
    assert!(loc.iter().all(|e| e.stale));
    // The neighbour is back and re-announces one prefix, then End-of-RIB.
    rib.peer_up(p1).unwrap();
    apply(&mut rib, 1, &announce(&["198.51.100.0/24"], a));
    assert!(
        rib.loc_rib().iter().any(|e| e.stale),
        "not flushed before End-of-RIB"
    );
    rib.end_of_rib(PeerId(1), AfiSafi::IPV4_UNICAST);
    let loc = rib.loc_rib();
    assert_eq!(loc.len(), 1);
    assert_eq!(loc[0].prefix, p("198.51.100.0/24"));
    assert!(!loc[0].stale);
    // The re-announced route is unchanged (same next hop): only the removal reaches the FIB.
    assert_eq!(
        rib.poll_fib(),
        vec![FibChange::Remove {
            prefix: p("203.0.113.0/24")
        }]
    );
}

#[test]
fn restart_timer_expiry_flushes_stale_routes() {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    apply(
        &mut rib,
        1,
        &announce(&["203.0.113.0/24"], attrs(&[65001], [192, 0, 2, 1], vec![])),
    );
    rib.peer_down_graceful(PeerId(1));
    rib.flush_stale(PeerId(1));
    assert!(rib.loc_rib().is_empty());
    assert!(
        rib.peers().is_empty(),
        "a neighbour that is down is forgotten"
    );
}

fn ibgp(id: u32, last: u8, client: bool) -> bgpd::rib::PeerInfo {
    let mut i = peer(id, [10, 0, 0, last], [10, 0, 0, 254], LOCAL_AS);
    i.rr_client = client;
    i.import = vec![];
    i.export = vec![];
    i
}

#[test]
fn route_reflection_rules() {
    let mut rib = rib();
    let a = ibgp(1, 1, false);
    let b = ibgp(2, 2, false);
    let c = ibgp(3, 3, true);
    for i in [&a, &b, &c] {
        rib.peer_up(i.clone()).unwrap();
        let _ = rib.poll_updates(i.id);
    }
    let lp = |v| vec![AttributeValue::LocalPref(v)];
    // From non-client A: to client C only.
    apply(
        &mut rib,
        1,
        &announce(&["203.0.113.0/24"], attrs(&[64496], [10, 0, 0, 1], lp(120))),
    );
    assert!(
        rib.poll_updates(PeerId(2)).is_empty(),
        "non-client to non-client"
    );
    let us = decode_updates(&c, &rib.poll_updates(PeerId(3)));
    assert_eq!(us.len(), 1);
    let at = &us[0].attributes;
    assert_eq!(at.local_pref(), Some(120), "LOCAL_PREF kept on iBGP");
    assert_eq!(
        at.next_hop(),
        Some(Ipv4Addr::new(10, 0, 0, 1)),
        "next hop unchanged on iBGP"
    );
    assert_eq!(
        at.value(9),
        Some(&AttributeValue::OriginatorId(Ipv4Addr::new(10, 0, 0, 1)))
    );
    assert_eq!(
        at.value(10),
        Some(&AttributeValue::ClusterList(vec![router_id().0]))
    );
    // From client C: to A and B.
    apply(
        &mut rib,
        3,
        &announce(
            &["198.51.100.0/24"],
            attrs(&[64497], [10, 0, 0, 3], lp(100)),
        ),
    );
    for i in [&a, &b] {
        let us = real(decode_updates(i, &rib.poll_updates(i.id)));
        assert_eq!(us.len(), 1, "client route reflected to {:?}", i.id);
        assert_eq!(announced(&us[0]), vec![p("198.51.100.0/24")]);
    }
    // Our own ORIGINATOR_ID or CLUSTER_ID: ignored (RFC 4456 section 8).
    let mine = vec![
        AttributeValue::LocalPref(100),
        AttributeValue::OriginatorId(router_id().0),
    ];
    apply(
        &mut rib,
        2,
        &announce(&["192.0.2.0/25"], attrs(&[64498], [10, 0, 0, 2], mine)),
    );
    let looped = vec![
        AttributeValue::LocalPref(100),
        AttributeValue::ClusterList(vec![Ipv4Addr::new(10, 9, 9, 9), router_id().0]),
    ];
    apply(
        &mut rib,
        2,
        &announce(&["192.0.2.128/25"], attrs(&[64498], [10, 0, 0, 2], looped)),
    );
    assert!(rib.best(p("192.0.2.0/25")).is_none());
    assert!(rib.best(p("192.0.2.128/25")).is_none());
    let inn = rib.adj_rib_in(PeerId(2));
    assert_eq!(inn.len(), 2, "kept in the Adj-RIB-In");
    assert!(inn.iter().all(|e| !e.accepted));
}

#[test]
fn rfc8212_no_policy_no_routes_and_one_log_line() {
    let mut rib = rib();
    let mut p1 = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    p1.import = vec![];
    let mut p2 = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    p2.export = vec![];
    let p3 = peer(3, [203, 0, 113, 1], [203, 0, 113, 254], 65003);
    rib.peer_up(p1).unwrap();
    rib.peer_up(p2).unwrap();
    rib.peer_up(p3).unwrap();
    for i in 0..3 {
        apply(
            &mut rib,
            1,
            &announce(
                &[&format!("10.{i}.0.0/16")],
                attrs(&[65001], [192, 0, 2, 1], vec![]),
            ),
        );
    }
    assert!(
        rib.loc_rib().is_empty(),
        "no import policy: nothing accepted from eBGP"
    );
    assert_eq!(rib.adj_rib_in(PeerId(1)).len(), 3, "but kept pre-policy");
    apply(
        &mut rib,
        3,
        &announce(&["10.9.0.0/16"], attrs(&[65003], [203, 0, 113, 1], vec![])),
    );
    assert_eq!(rib.loc_rib().len(), 1);
    let to2 = real(decode_updates(
        &peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002),
        &rib.poll_updates(PeerId(2)),
    ));
    assert!(to2.is_empty(), "no export policy: nothing sent to eBGP");
    let _ = rib.poll_updates(PeerId(2));
    let ev = rib.poll_events();
    assert_eq!(
        ev,
        vec![
            RibEvent::NoPolicy {
                peer: PeerId(1),
                address: IpAddr::from([192, 0, 2, 1]),
                direction: Direction::Import
            },
            RibEvent::NoPolicy {
                peer: PeerId(2),
                address: IpAddr::from([198, 51, 100, 1]),
                direction: Direction::Export
            },
        ]
    );
    assert!(ev[0].to_string().contains("RFC 8212"));
}

#[test]
fn own_as_in_path_is_rejected() {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    apply(
        &mut rib,
        1,
        &announce(
            &["203.0.113.0/24"],
            attrs(&[65001, LOCAL_AS, 64496], [192, 0, 2, 1], vec![]),
        ),
    );
    assert!(rib.loc_rib().is_empty());
    assert_eq!(rib.adj_rib_in(PeerId(1)).len(), 1);
}

#[test]
fn as_trans_merge_and_two_octet_output() {
    let mut rib = rib();
    let mut old = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    old.ctx.four_octet_as = false;
    let new = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    rib.peer_up(old.clone()).unwrap();
    rib.peer_up(new.clone()).unwrap();
    let _ = rib.poll_updates(PeerId(1));
    let _ = rib.poll_updates(PeerId(2));
    // A 2-octet speaker sends AS_PATH [65001 23456] + AS4_PATH [4200000001].
    let mut a = attrs(&[65001, 23456], [192, 0, 2, 1], vec![]);
    a.set(AttributeValue::As4Path(AsPath::sequence([Asn(
        4_200_000_001,
    )])));
    let bytes = encode_message(
        &Message::Update(announce(&["203.0.113.0/24"], a)),
        &old.ctx.reversed(),
    )
    .unwrap();
    let d = decode_message(&bytes, &old.ctx);
    let Some(Message::Update(u)) = &d.message else {
        panic!()
    };
    rib.apply_update(PeerId(1), u, &d.outcome).unwrap();
    let best = rib.best(p("203.0.113.0/24")).unwrap();
    assert_eq!(
        best.attributes.as_path(),
        Some(&AsPath::sequence([Asn(65001), Asn(4_200_000_001)]))
    );
    assert!(best.attributes.as4_path().is_none());
    // To a 4-octet neighbour: the real path.
    let us = decode_updates(&new, &rib.poll_updates(PeerId(2)));
    assert_eq!(
        us[0].attributes.as_path(),
        Some(&AsPath::sequence([
            Asn(65000),
            Asn(65001),
            Asn(4_200_000_001)
        ]))
    );
    // From the 4-octet neighbour back to the 2-octet one: AS_TRANS plus AS4_PATH.
    apply(
        &mut rib,
        2,
        &announce(
            &["198.51.100.0/24"],
            attrs(&[65002, 4_200_000_002], [198, 51, 100, 1], vec![]),
        ),
    );
    let us = real(decode_updates(&old, &rib.poll_updates(PeerId(1))));
    assert_eq!(us.len(), 1);
    assert_eq!(
        us[0].attributes.as_path(),
        Some(&AsPath::sequence([Asn(65000), Asn(65002), Asn(23456)]))
    );
    assert_eq!(
        us[0].attributes.effective_as_path(),
        Some(AsPath::sequence([
            Asn(65000),
            Asn(65002),
            Asn(4_200_000_002)
        ]))
    );
}

fn v6_update(prefix: &str, path: &[u32], nh: &str) -> Update {
    let mut a = PathAttributes::new();
    a.set(AttributeValue::Origin(bgpd::wire::Origin::Igp));
    a.set(AttributeValue::AsPath(AsPath::sequence(
        path.iter().copied().map(Asn),
    )));
    a.set(AttributeValue::MpReach(MpReach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: nh.parse().unwrap(),
            link_local: None,
        },
        nlri: MpNlri::Prefixes(vec![Nlri::new(p(prefix))]),
    }));
    Update {
        attributes: a,
        ..Update::default()
    }
}

#[test]
fn ipv6_unicast_in_and_out() {
    let mut rib = rib();
    let p1 = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    let p2 = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    rib.peer_up(p1).unwrap();
    rib.peer_up(p2.clone()).unwrap();
    let _ = rib.poll_updates(PeerId(2));
    apply(
        &mut rib,
        1,
        &v6_update("2001:db8:1::/48", &[65001], "2001:db8::1"),
    );
    assert_eq!(
        rib.poll_fib(),
        vec![FibChange::Install {
            prefix: p("2001:db8:1::/48"),
            next_hop: "2001:db8::1".parse().unwrap()
        }]
    );
    let us = decode_updates(&p2, &rib.poll_updates(PeerId(2)));
    assert_eq!(us.len(), 1);
    let r = us[0].attributes.mp_reach().unwrap();
    assert_eq!(r.afi_safi, AfiSafi::IPV6_UNICAST);
    assert_eq!(
        r.next_hop,
        MpNextHop::Ipv6 {
            global: "2001:db8::fe".parse::<Ipv6Addr>().unwrap(),
            link_local: None
        }
    );
    assert_eq!(announced(&us[0]), vec![p("2001:db8:1::/48")]);
    // MP_UNREACH withdrawal.
    let mut w = PathAttributes::new();
    w.set(AttributeValue::MpUnreach(bgpd::wire::MpUnreach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        withdrawn: MpNlri::Prefixes(vec![Nlri::new(p("2001:db8:1::/48"))]),
    }));
    apply(
        &mut rib,
        1,
        &Update {
            attributes: w,
            ..Update::default()
        },
    );
    let us = decode_updates(&p2, &rib.poll_updates(PeerId(2)));
    assert_eq!(withdrawn(&us[0]), vec![p("2001:db8:1::/48")]);
}

#[test]
fn originated_network_is_announced_with_our_as_and_not_installed() {
    let mut rib = rib();
    let p2 = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    rib.peer_up(p2.clone()).unwrap();
    rib.originate(p("192.0.2.0/24"), PathAttributes::new())
        .unwrap();
    let us = real(decode_updates(&p2, &rib.poll_updates(PeerId(2))));
    assert_eq!(us.len(), 1);
    assert_eq!(
        us[0].attributes.as_path(),
        Some(&AsPath::sequence([Asn(65000)]))
    );
    assert_eq!(
        us[0].attributes.next_hop(),
        Some(Ipv4Addr::new(198, 51, 100, 254))
    );
    assert_eq!(
        rib.poll_fib(),
        vec![FibChange::Remove {
            prefix: p("192.0.2.0/24")
        }]
    );
    // A learned route for the same prefix does not beat the local one.
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    apply(
        &mut rib,
        1,
        &announce(
            &["192.0.2.0/24"],
            attrs(
                &[65001],
                [192, 0, 2, 1],
                vec![AttributeValue::LocalPref(500)],
            ),
        ),
    );
    assert_eq!(rib.best(p("192.0.2.0/24")).unwrap().peer, None);
    rib.withdraw_originated(p("192.0.2.0/24"));
    assert_eq!(rib.best(p("192.0.2.0/24")).unwrap().peer, Some(PeerId(1)));
}

#[test]
fn policy_change_applies_without_reset() {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    apply(
        &mut rib,
        1,
        &announce(
            &["203.0.113.0/24", "198.51.100.0/24"],
            attrs(&[65001], [192, 0, 2, 1], vec![]),
        ),
    );
    assert_eq!(
        rib.best(p("203.0.113.0/24"))
            .unwrap()
            .attributes
            .local_pref(),
        None
    );
    let mut pol = basic_policy();
    let extra: bgpd::policy::PolicyConfig = toml::from_str(
        r#"
        [prefix_lists]
        doc3 = ["203.0.113.0/24"]
        [policies.accept-all]
        terms = [
          { match = { prefix_list = "doc3" }, set = { local_pref = 300 } },
          { action = "reject" },
        ]
        "#,
    )
    .unwrap();
    pol.prefix_lists = extra.prefix_lists;
    pol.policies
        .insert("accept-all".into(), extra.policies["accept-all"].clone());
    rib.set_policy(pol).unwrap();
    assert_eq!(loc_prefixes(&rib), vec!["203.0.113.0/24"]);
    assert_eq!(
        rib.best(p("203.0.113.0/24"))
            .unwrap()
            .attributes
            .local_pref(),
        Some(300)
    );
    assert_eq!(rib.adj_rib_in(PeerId(1)).len(), 2, "Adj-RIB-In unchanged");
    // Back to accept-all: the rejected route comes back from the Adj-RIB-In.
    rib.set_policy(basic_policy()).unwrap();
    assert_eq!(loc_prefixes(&rib).len(), 2);
    // An unknown policy name is refused and nothing changes.
    let mut broken = basic_policy();
    broken.policies.remove("accept-all");
    assert!(rib.set_policy(broken).is_err());
    assert_eq!(loc_prefixes(&rib).len(), 2);
}

#[test]
fn route_refresh_resends_everything() {
    let mut rib = rib();
    let p2 = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    rib.peer_up(p2.clone()).unwrap();
    apply(
        &mut rib,
        1,
        &announce(&["203.0.113.0/24"], attrs(&[65001], [192, 0, 2, 1], vec![])),
    );
    let first = rib.poll_updates(PeerId(2));
    assert!(rib.poll_updates(PeerId(2)).is_empty());
    rib.refresh_out(PeerId(2), AfiSafi::IPV4_UNICAST);
    let again = rib.poll_updates(PeerId(2));
    // The first poll also carried the End-of-RIBs of the initial exchange.
    let strip = |v: &[Vec<u8>]| real(decode_updates(&p2, v));
    assert_eq!(strip(&again), strip(&first));
    assert_eq!(strip(&again).len(), 1);
}

#[test]
fn output_order_is_by_prefix_whatever_the_input_order() {
    let mk = |order: &[usize]| {
        let mut rib = rib();
        rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
            .unwrap();
        rib.peer_up(peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002))
            .unwrap();
        let _ = rib.poll_updates(PeerId(2));
        for &i in order {
            let a = attrs(&[65001, 64496 + (i % 3) as u32], [192, 0, 2, 1], vec![]);
            apply(&mut rib, 1, &announce(&[&format!("10.{i}.0.0/16")], a));
        }
        rib.poll_updates(PeerId(2))
    };
    let a = mk(&[5, 1, 4, 0, 3, 2]);
    let b = mk(&[0, 1, 2, 3, 4, 5]);
    assert_eq!(a, b, "same bytes whatever the arrival order");
    let p2 = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    let us = decode_updates(&p2, &a);
    // Three attribute sets; groups in the order of their lowest prefix.
    let groups: Vec<Vec<String>> = us
        .iter()
        .map(|u| announced(u).iter().map(|p| p.to_string()).collect())
        .collect();
    assert_eq!(
        groups,
        vec![
            vec!["10.0.0.0/16", "10.3.0.0/16"],
            vec!["10.1.0.0/16", "10.4.0.0/16"],
            vec!["10.2.0.0/16", "10.5.0.0/16"],
        ]
    );
}

#[test]
fn no_export_community_is_not_sent_to_ebgp() {
    let mut rib = rib();
    let p2 = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    rib.peer_up(p2.clone()).unwrap();
    let _ = rib.poll_updates(PeerId(2));
    apply(
        &mut rib,
        1,
        &announce(
            &["203.0.113.0/24"],
            attrs(
                &[65001],
                [192, 0, 2, 1],
                vec![AttributeValue::Communities(vec![
                    bgpd::wire::Community::NO_EXPORT,
                ])],
            ),
        ),
    );
    assert!(rib.poll_updates(PeerId(2)).is_empty());
    assert_eq!(rib.loc_rib().len(), 1);
}

#[test]
fn unknown_peer_and_reserved_id() {
    let mut rib = rib();
    let u = announce(&["203.0.113.0/24"], attrs(&[65001], [192, 0, 2, 1], vec![]));
    assert!(rib.apply_update(PeerId(9), &u, &Outcome::Accept).is_err());
    let mut bad = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    bad.id = PeerId(u32::MAX);
    assert!(rib.peer_up(bad).is_err());
    let mut unknown = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    unknown.import = vec!["nope".into()];
    assert!(rib.peer_up(unknown).is_err());
    let _ = SessionContext::new();
}

/// `Rib::fib_routes` (the whole FIB state at once, for a takeover on a shared kernel) is what
/// the changes of `poll_fib` add up to: the best route of each prefix learnt from a neighbour
/// with its next hop; withdrawn prefixes and locally originated ones are not in it.
#[test]
fn fib_routes_are_what_the_polled_fib_changes_add_up_to() {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    rib.peer_up(peer(2, [192, 0, 2, 2], [192, 0, 2, 254], 65002))
        .unwrap();
    let mut state: std::collections::BTreeMap<bgpd::wire::Prefix, IpAddr> = Default::default();
    let mut poll = |rib: &mut bgpd::rib::Rib| {
        for c in rib.poll_fib() {
            match c {
                FibChange::Install { prefix, next_hop } => {
                    state.insert(prefix, next_hop);
                }
                FibChange::Remove { prefix } => {
                    state.remove(&prefix);
                }
            }
        }
    };
    apply(
        &mut rib,
        1,
        &announce(
            &["198.51.100.0/25", "198.51.100.128/25"],
            attrs(&[65001], [192, 0, 2, 1], vec![]),
        ),
    );
    poll(&mut rib);
    apply(
        &mut rib,
        2,
        &announce(
            &["198.51.100.128/25", "203.0.113.0/25"],
            attrs(&[65002, 64512], [192, 0, 2, 2], vec![]),
        ),
    );
    apply(&mut rib, 1, &withdraw(&["198.51.100.0/25"]));
    rib.originate(p("203.0.113.128/25"), attrs(&[], [192, 0, 2, 254], vec![]))
        .unwrap();
    poll(&mut rib);
    let mut whole: Vec<(bgpd::wire::Prefix, IpAddr)> = rib
        .fib_routes()
        .into_iter()
        .map(|c| match c {
            FibChange::Install { prefix, next_hop } => (prefix, next_hop),
            FibChange::Remove { prefix } => panic!("a removal in the whole state: {prefix}"),
        })
        .collect();
    whole.sort();
    let v4 = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
    assert_eq!(
        whole,
        vec![
            (p("198.51.100.128/25"), v4([192, 0, 2, 1])),
            (p("203.0.113.0/25"), v4([192, 0, 2, 2])),
        ]
    );
    assert_eq!(whole, state.into_iter().collect::<Vec<_>>());
}
