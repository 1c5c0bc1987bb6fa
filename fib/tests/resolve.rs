//! Next hops that are not on a connected network (iBGP) are resolved through the
//! kernel's route to them, and re-resolved when that route changes; with nexthop
//! objects (the default) and with plain routes.

#[macro_use]
mod support;

use std::time::Duration;

use fib::{NextHop, Outcome, RouteError, RouteUpdate};
use support::{a, config, p, tag, wait_for, Lab};

both_modes!(recursive_next_hop_follows_the_route_to_it);
fn recursive_next_hop_follows_the_route_to_it(nh: bool) {
    let lab = Lab::new(&tag("recurse", nh));
    // The IGP's route to the iBGP next hop 203.0.113.5.
    lab.ip("route add 203.0.113.0/24 via 192.0.2.2 proto static");
    lab.ip("-6 route add 2001:db8:aaaa::/48 via 2001:db8:ffff::2 proto static");
    let mut fib = lab.fib(config(nh));
    let r = fib
        .apply(&[
            RouteUpdate::install(p("198.51.100.0/24"), vec![NextHop::via(a("203.0.113.5"))]),
            RouteUpdate::install(
                p("2001:db8:6::/48"),
                vec![NextHop::via(a("2001:db8:aaaa::5"))],
            ),
        ])
        .expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed), "{r:?}");
    assert_eq!(
        lab.routes(),
        vec![
            "198.51.100.0/24 via 192.0.2.2 dev veth0 metric 20",
            "2001:db8:6::/48 via 2001:db8:ffff::2 dev veth0 metric 20 pref medium",
        ]
    );
    assert_eq!(lab.routes_with_nhid(), if nh { 2 } else { 0 });

    // The IGP moves the next hop behind another router: our routes follow.
    lab.ip("route replace 203.0.113.0/24 via 192.0.2.3 proto static");
    lab.ip("-6 route replace 2001:db8:aaaa::/48 via 2001:db8:ffff::3 proto static");
    let mut changed = Vec::new();
    assert!(wait_for(Duration::from_secs(20), || {
        if fib
            .wait_route_change(Duration::from_millis(100))
            .expect("poll")
        {
            changed.extend(fib.refresh_next_hops().expect("refresh"));
        }
        lab.routes()
            == vec![
                "198.51.100.0/24 via 192.0.2.3 dev veth0 metric 20",
                "2001:db8:6::/48 via 2001:db8:ffff::3 dev veth0 metric 20 pref medium",
            ]
    }));
    assert!(changed.iter().all(|x| x.outcome == Outcome::Installed));
    // The objects of the old paths went with them.
    let objects = lab.objects();
    assert_eq!(objects.len(), if nh { 2 } else { 0 }, "{objects:?}");
    assert!(objects
        .iter()
        .all(|l| !l.contains("192.0.2.2 ") && !l.contains("ffff::2 ")));

    // ECMP in the IGP: both paths.
    lab.ip("route replace 203.0.113.0/24 proto static nexthop via 192.0.2.2 nexthop via 192.0.2.3");
    assert!(wait_for(Duration::from_secs(20), || {
        if fib
            .wait_route_change(Duration::from_millis(100))
            .expect("poll")
        {
            fib.refresh_next_hops().expect("refresh");
        }
        lab.route_lines("route show proto 186")
            == vec!["198.51.100.0/24 metric 20 nexthop via 192.0.2.2 dev veth0 weight 1 nexthop via 192.0.2.3 dev veth0 weight 1"]
    }));

    // The next hop becomes unreachable: the route leaves the kernel...
    lab.ip("route del 203.0.113.0/24 proto static");
    let mut gone = Vec::new();
    assert!(wait_for(Duration::from_secs(20), || {
        if fib
            .wait_route_change(Duration::from_millis(100))
            .expect("poll")
        {
            gone.extend(fib.refresh_next_hops().expect("refresh"));
        }
        !lab.ip("route show proto 186").contains("198.51.100.0/24")
    }));
    assert!(gone.iter().any(|x| x.prefix == p("198.51.100.0/24")
        && x.outcome
            == Outcome::Failed(RouteError::Unresolved {
                next_hop: a("203.0.113.5")
            })));
    // ...and comes back when it is reachable again.
    lab.ip("route add 203.0.113.0/24 via 192.0.2.2 proto static");
    assert!(wait_for(Duration::from_secs(20), || {
        if fib
            .wait_route_change(Duration::from_millis(100))
            .expect("poll")
        {
            fib.refresh_next_hops().expect("refresh");
        }
        lab.route_lines("route show proto 186")
            .contains(&"198.51.100.0/24 via 192.0.2.2 dev veth0 metric 20".to_string())
    }));
}

both_modes!(our_own_routes_do_not_resolve_next_hops);
fn our_own_routes_do_not_resolve_next_hops(nh: bool) {
    let lab = Lab::new(&tag("norecurse", nh));
    let mut fib = lab.fib(config(nh));
    fib.apply(&[RouteUpdate::install(
        p("203.0.113.0/24"),
        vec![NextHop::via(a("192.0.2.2"))],
    )])
    .expect("apply");
    // 203.0.113.5 is only reachable through a BGP route of ours: not a resolver.
    let r = fib
        .apply(&[RouteUpdate::install(
            p("198.51.100.0/24"),
            vec![NextHop::via(a("203.0.113.5"))],
        )])
        .expect("apply");
    assert_eq!(
        r[0].outcome,
        Outcome::Failed(RouteError::Unresolved {
            next_hop: a("203.0.113.5")
        })
    );
}
