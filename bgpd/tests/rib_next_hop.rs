//! Next hop self on a session whose local address is loopback: never announced (RFC 4271
//! section 5.1.3: the NEXT_HOP is an address the receiver can use; section 6.3: a receiver
//! treats a loopback one as withdrawn), and the reason is reported.
#![allow(clippy::unwrap_used)]

mod rib_util;

use bgpd::rib::{PeerId, RibEvent};
use bgpd::wire::{AfiSafi, MpNextHop, PathAttributes};
use rib_util::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn not_advertised(events: &[RibEvent]) -> Vec<(PeerId, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            RibEvent::NotAdvertised {
                peer,
                prefix,
                reason,
            } => Some((*peer, prefix.to_string(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn loopback_local_address_is_never_announced_as_next_hop_self() {
    let mut rib = rib();
    // eBGP over loopback: our end is 127.0.0.1.
    let lo = peer(2, [127, 0, 0, 2], [127, 0, 0, 1], 65002);
    rib.peer_up(lo.clone()).unwrap();
    // eBGP over a routable address: the same route goes out with that next hop.
    let routable = peer(3, [198, 51, 100, 1], [198, 51, 100, 254], 65003);
    rib.peer_up(routable.clone()).unwrap();
    rib.originate(p("203.0.113.0/24"), PathAttributes::new())
        .unwrap();
    rib.originate(p("198.51.100.0/24"), PathAttributes::new())
        .unwrap();

    let to_lo = real(decode_updates(&lo, &rib.poll_updates(PeerId(2))));
    assert!(
        to_lo.iter().all(|u| announced(u).is_empty()),
        "nothing announced with NEXT_HOP 127.0.0.1: {to_lo:?}"
    );
    // One event for the run of prefixes (not one per prefix of a full table), naming the
    // first.
    let events = not_advertised(&rib.poll_events());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, PeerId(2));
    assert_eq!(events[0].1, "198.51.100.0/24");
    assert!(
        events[0].2.contains("127.0.0.1") && events[0].2.contains("5.1.3"),
        "{}",
        events[0].2
    );

    let to_routable = real(decode_updates(&routable, &rib.poll_updates(PeerId(3))));
    assert_eq!(to_routable.len(), 1);
    assert_eq!(
        announced(&to_routable[0]),
        vec![p("198.51.100.0/24"), p("203.0.113.0/24")]
    );
    assert_eq!(
        to_routable[0].attributes.next_hop(),
        Some(Ipv4Addr::new(198, 51, 100, 254))
    );
}

#[test]
fn originated_ipv6_next_hop_is_announced_as_given_to_ibgp() {
    let mut rib = rib();
    // iBGP keeps an originated route's own next hop (RFC 4271 section 5.1.3).
    let mut ibgp = peer(2, [192, 0, 2, 2], [192, 0, 2, 254], LOCAL_AS);
    ibgp.ctx.afi_safis = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
    rib.peer_up(ibgp.clone()).unwrap();
    let nh: Ipv6Addr = "2001:db8::99".parse().unwrap();
    let mut a = PathAttributes::new();
    assert!(a.set_originated_next_hop(&p("2001:db8:1::/48"), IpAddr::V6(nh)));
    assert!(
        !PathAttributes::new().set_originated_next_hop(
            &p("2001:db8:1::/48"),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
        ),
        "an IPv4 next hop for an IPv6 prefix is refused"
    );
    rib.originate(p("2001:db8:1::/48"), a).unwrap();
    let us = real(decode_updates(&ibgp, &rib.poll_updates(PeerId(2))));
    assert_eq!(us.len(), 1, "{us:?}");
    assert_eq!(announced(&us[0]), vec![p("2001:db8:1::/48")]);
    match us[0].attributes.mp_reach().map(|m| &m.next_hop) {
        Some(MpNextHop::Ipv6 { global, .. }) => assert_eq!(*global, nh),
        other => panic!("IPv6 next hop expected: {other:?}"),
    }
}

/// An eBGP neighbour over IPv6 whose session runs from our `local` address.
fn v6_peer(id: u32, local: &str, next_hop_v6: Option<&str>) -> bgpd::rib::PeerInfo {
    let mut info = peer(id, [192, 0, 2, id as u8], [192, 0, 2, 254], 65000 + id);
    info.address = IpAddr::V6(format!("2001:db8::{id}").parse().unwrap());
    info.local_address = IpAddr::V6(local.parse().unwrap());
    info.next_hop_v6 = next_hop_v6.map(|a| a.parse().unwrap());
    info.ctx.afi_safis = vec![AfiSafi::IPV6_UNICAST];
    info
}

fn v6_next_hop(u: &bgpd::wire::Update) -> (Ipv6Addr, Option<Ipv6Addr>) {
    match u.attributes.mp_reach().map(|m| &m.next_hop) {
        Some(MpNextHop::Ipv6 { global, link_local }) => (*global, *link_local),
        other => panic!("IPv6 next hop expected: {other:?}"),
    }
}

/// RFC 2545 section 3: the first next hop is our global IPv6 address; a link-local one goes
/// only in the second 16 octets, never as the global one.
#[test]
fn link_local_local_address_goes_beside_a_global_next_hop_never_in_its_place() {
    let mut rib = rib();
    // Over a link-local address with no global next hop configured: not announced.
    let bare = v6_peer(2, "fe80::1", None);
    // Over a link-local address with ipv6_next_hop: global first, link-local second.
    let with_global = v6_peer(3, "fe80::1", Some("2001:db8:ff::1"));
    // Over a global address: that one alone.
    let global = v6_peer(4, "2001:db8::fe", None);
    for p in [&bare, &with_global, &global] {
        rib.peer_up(p.clone()).unwrap();
    }
    rib.originate(p("2001:db8:1::/48"), PathAttributes::new())
        .unwrap();

    let to_bare = real(decode_updates(&bare, &rib.poll_updates(PeerId(2))));
    assert!(
        to_bare.iter().all(|u| announced(u).is_empty()),
        "announced with a link-local global next hop: {to_bare:?}"
    );
    let events = not_advertised(&rib.poll_events());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, PeerId(2));
    assert_eq!(events[0].1, "2001:db8:1::/48");
    assert!(
        events[0].2.contains("fe80::1") && events[0].2.contains("RFC 2545"),
        "{}",
        events[0].2
    );

    let to_with_global = real(decode_updates(&with_global, &rib.poll_updates(PeerId(3))));
    assert_eq!(to_with_global.len(), 1, "{to_with_global:?}");
    assert_eq!(announced(&to_with_global[0]), vec![p("2001:db8:1::/48")]);
    assert_eq!(
        v6_next_hop(&to_with_global[0]),
        (
            "2001:db8:ff::1".parse().unwrap(),
            Some("fe80::1".parse().unwrap())
        )
    );

    let to_global = real(decode_updates(&global, &rib.poll_updates(PeerId(4))));
    assert_eq!(to_global.len(), 1, "{to_global:?}");
    assert_eq!(
        v6_next_hop(&to_global[0]),
        ("2001:db8::fe".parse().unwrap(), None)
    );
}
