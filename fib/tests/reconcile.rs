//! Reconciliation against a real kernel, in a namespace of our own: from empty, from
//! a superset, from a conflicting set; ECMP; IPv6; withdrawals; errors. Each test runs
//! with nexthop objects (the default) and with plain routes.

#[macro_use]
mod support;

use fib::{FibConfig, NextHop, Outcome, RouteError, RouteUpdate};
use support::{a, config, p, tag, Lab, Watcher};

fn v4(prefix: &str, gws: &[&str]) -> RouteUpdate {
    RouteUpdate::install(p(prefix), gws.iter().map(|g| NextHop::via(a(g))).collect())
}

both_modes!(reconcile_from_empty_then_idempotent);
fn reconcile_from_empty_then_idempotent(nh: bool) {
    let lab = Lab::new(&tag("empty", nh));
    let mut fib = lab.fib(config(nh));
    let desired = vec![
        v4("198.51.100.0/26", &["192.0.2.2"]),
        v4("198.51.100.64/26", &["192.0.2.3"]),
        v4("2001:db8:1::/48", &["2001:db8:ffff::2"]),
    ];
    let r = fib.reconcile(&desired).expect("reconcile");
    assert_eq!((r.replaced, r.deleted, r.kept), (3, 0, 0));
    assert!(r.results.iter().all(|x| x.outcome == Outcome::Installed));
    assert_eq!(
        lab.routes(),
        vec![
            "198.51.100.0/26 via 192.0.2.2 dev veth0 metric 20",
            "198.51.100.64/26 via 192.0.2.3 dev veth0 metric 20",
            "2001:db8:1::/48 via 2001:db8:ffff::2 dev veth0 metric 20 pref medium",
        ]
    );
    assert_eq!(lab.routes_with_nhid(), if nh { 3 } else { 0 });
    assert_eq!(lab.objects().len(), if nh { 3 } else { 0 });
    // Second run: nothing to do, and nothing is sent.
    let mut watch = Watcher::new(&lab);
    let r = fib.reconcile(&desired).expect("reconcile");
    assert_eq!((r.replaced, r.deleted, r.kept), (0, 0, 3));
    assert_eq!(watch.events(), vec![]);
}

both_modes!(reconcile_from_superset_deletes_only_the_extra_of_ours);
fn reconcile_from_superset_deletes_only_the_extra_of_ours(nh: bool) {
    let lab = Lab::new(&tag("superset", nh));
    for (dst, gw) in [
        ("198.51.100.0/26", "192.0.2.2"),
        ("198.51.100.64/26", "192.0.2.2"),
        ("198.51.100.128/26", "192.0.2.2"),
    ] {
        lab.ip(&format!("route add {dst} via {gw} proto 186 metric 20"));
    }
    lab.ip("-6 route add 2001:db8:2::/48 via 2001:db8:ffff::2 proto 186 metric 20");
    // Not ours: another protocol in the same table.
    lab.ip("route add 198.51.100.192/26 via 192.0.2.2 proto static metric 20");
    let mut watch = Watcher::new(&lab);
    let mut fib = lab.fib(config(nh));
    let r = fib
        .reconcile(&[v4("198.51.100.0/26", &["192.0.2.2"])])
        .expect("reconcile");
    assert_eq!((r.replaced, r.deleted, r.kept), (0, 3, 1));
    assert_eq!(
        lab.routes(),
        vec!["198.51.100.0/26 via 192.0.2.2 dev veth0 metric 20"]
    );
    assert!(lab
        .ip("route show proto static")
        .contains("198.51.100.192/26 via 192.0.2.2"));
    let mut events = watch.events();
    events.sort_by_key(|e| e.prefix);
    let deleted: Vec<String> = events
        .iter()
        .map(|e| {
            assert!(!e.added, "only deletions expected: {e:?}");
            e.prefix.to_string()
        })
        .collect();
    assert_eq!(
        deleted,
        vec!["198.51.100.64/26", "198.51.100.128/26", "2001:db8:2::/48"]
    );
}

both_modes!(reconcile_from_conflicting_set_replaces_in_place);
fn reconcile_from_conflicting_set_replaces_in_place(nh: bool) {
    let lab = Lab::new(&tag("conflict", nh));
    lab.ip("route add 198.51.100.0/26 via 192.0.2.2 proto 186 metric 20");
    lab.ip("route add 198.51.100.64/26 via 192.0.2.2 proto 186 metric 20");
    lab.ip("route add 198.51.100.128/26 via 192.0.2.2 proto 186 metric 99");
    lab.ip("-6 route add 2001:db8:3::/48 via 2001:db8:ffff::2 proto 186 metric 20");
    let mut watch = Watcher::new(&lab);
    let mut fib = lab.fib(config(nh));
    let r = fib
        .reconcile(&[
            v4("198.51.100.0/26", &["192.0.2.3"]),
            v4("198.51.100.64/26", &["192.0.2.2"]),
            v4("198.51.100.128/26", &["192.0.2.2"]),
            v4("2001:db8:3::/48", &["2001:db8:ffff::3"]),
        ])
        .expect("reconcile");
    // .0 and the IPv6 route change gateway, .128 moves to our metric (a new route
    // for the kernel; the one at metric 99 is deleted), .64 is kept.
    assert_eq!((r.replaced, r.deleted, r.kept), (3, 1, 1));
    assert_eq!(
        lab.routes(),
        vec![
            "198.51.100.0/26 via 192.0.2.3 dev veth0 metric 20",
            "198.51.100.128/26 via 192.0.2.2 dev veth0 metric 20",
            "198.51.100.64/26 via 192.0.2.2 dev veth0 metric 20",
            "2001:db8:3::/48 via 2001:db8:ffff::3 dev veth0 metric 20 pref medium",
        ]
    );
    let events = watch.events();
    // No route that stays was deleted; .64 was not touched at all.
    let deletions: Vec<String> = events
        .iter()
        .filter(|e| !e.added)
        .map(|e| e.prefix.to_string())
        .collect();
    assert_eq!(deletions, vec!["198.51.100.128/26"]);
    assert!(events.iter().all(|e| e.prefix != p("198.51.100.64/26")));
}

both_modes!(ecmp_ipv4_and_ipv6);
fn ecmp_ipv4_and_ipv6(nh: bool) {
    let lab = Lab::new(&tag("ecmp", nh));
    let mut fib = lab.fib(config(nh));
    let res = fib
        .apply(&[
            v4("198.51.100.0/24", &["192.0.2.2", "192.0.2.3"]),
            v4("2001:db8:4::/48", &["2001:db8:ffff::3", "2001:db8:ffff::2"]),
        ])
        .expect("apply");
    assert!(
        res.iter().all(|r| r.outcome == Outcome::Installed),
        "{res:?}"
    );
    let v4lines = lab.route_lines("route show proto 186");
    assert_eq!(
        v4lines,
        vec!["198.51.100.0/24 metric 20 nexthop via 192.0.2.2 dev veth0 weight 1 nexthop via 192.0.2.3 dev veth0 weight 1"]
    );
    let v6lines = lab.route_lines("-6 route show proto 186");
    assert_eq!(
        v6lines,
        vec!["2001:db8:4::/48 metric 20 pref medium nexthop via 2001:db8:ffff::2 dev veth0 weight 1 nexthop via 2001:db8:ffff::3 dev veth0 weight 1"]
    );
    assert_eq!(lab.routes_with_nhid(), if nh { 2 } else { 0 });
    // Two groups of two single-path objects each.
    let objects = lab.objects();
    assert_eq!(objects.len(), if nh { 6 } else { 0 }, "{objects:?}");
    assert_eq!(
        objects.iter().filter(|l| l.contains(" group ")).count(),
        if nh { 2 } else { 0 }
    );
    // The kernel's view reads back equal to ours: a second writer adopting finds
    // nothing to change.
    let mut watch = Watcher::new(&lab);
    let mut second = lab.fib(config(nh));
    assert_eq!(second.adopt(None).expect("adopt"), 2);
    let res = second
        .apply(&[
            v4("198.51.100.0/24", &["192.0.2.3", "192.0.2.2"]),
            v4("2001:db8:4::/48", &["2001:db8:ffff::2", "2001:db8:ffff::3"]),
        ])
        .expect("apply");
    assert!(res.iter().all(|r| r.outcome == Outcome::Installed));
    assert_eq!(watch.events(), vec![]);
    // Shrink to one path: a replace, not a delete.
    second
        .apply(&[v4("198.51.100.0/24", &["192.0.2.3"])])
        .expect("apply");
    assert_eq!(
        lab.route_lines("route show proto 186"),
        vec!["198.51.100.0/24 via 192.0.2.3 dev veth0 metric 20"]
    );
    assert!(watch.events().iter().all(|e| e.added));
    // The IPv4 group and its member 192.0.2.2 are no longer used and went.
    let objects = lab.objects();
    assert_eq!(objects.len(), if nh { 4 } else { 0 }, "{objects:?}");
    assert!(
        objects.iter().all(|l| !l.contains("192.0.2.2")),
        "{objects:?}"
    );
}

both_modes!(withdraw_counts_esrch_as_done_and_errors_are_typed);
fn withdraw_counts_esrch_as_done_and_errors_are_typed(nh: bool) {
    let lab = Lab::new(&tag("errors", nh));
    let mut fib = lab.fib(config(nh));
    fib.apply(&[v4("198.51.100.0/28", &["192.0.2.2"])])
        .expect("apply");
    // Someone else deletes it behind our back: our withdrawal gets ESRCH = done.
    lab.ip("route del 198.51.100.0/28 proto 186 metric 20");
    let r = fib
        .apply(&[RouteUpdate::withdraw(p("198.51.100.0/28"))])
        .expect("apply");
    assert_eq!(r[0].outcome, Outcome::Removed);
    let r = fib
        .apply(&[
            // Not reachable through any route: unresolved, not installed.
            v4("198.51.100.16/28", &["203.0.113.9"]),
            // Forced onto veth0 where 203.0.113.9 is not on link: the kernel refuses.
            RouteUpdate::install(
                p("198.51.100.32/28"),
                vec![NextHop::via_dev(a("203.0.113.9"), lab.veth0)],
            ),
            // Wrong family.
            v4("198.51.100.48/28", &["2001:db8:ffff::2"]),
            v4("198.51.100.64/28", &["192.0.2.2"]),
        ])
        .expect("apply");
    assert_eq!(
        r[0].outcome,
        Outcome::Failed(RouteError::Unresolved {
            next_hop: a("203.0.113.9")
        })
    );
    assert_eq!(
        r[1].outcome,
        Outcome::Failed(RouteError::Kernel {
            errno: libc::ENETUNREACH
        })
    );
    assert_eq!(
        r[2].outcome,
        Outcome::Failed(RouteError::FamilyMismatch {
            next_hop: a("2001:db8:ffff::2")
        })
    );
    assert_eq!(r[3].outcome, Outcome::Installed);
    assert_eq!(
        lab.routes(),
        vec!["198.51.100.64/28 via 192.0.2.2 dev veth0 metric 20"]
    );
    // Someone else takes the route over (another protocol, same prefix and metric):
    // our withdrawal must not delete theirs.
    lab.ip("route replace 198.51.100.64/28 via 192.0.2.3 proto static metric 20");
    let r = fib
        .apply(&[RouteUpdate::withdraw(p("198.51.100.64/28"))])
        .expect("apply");
    assert_eq!(r[0].outcome, Outcome::Removed);
    assert!(lab
        .ip("route show proto static")
        .contains("198.51.100.64/28 via 192.0.2.3 dev veth0 metric 20"));
}

both_modes!(install_off_touches_nothing);
fn install_off_touches_nothing(nh: bool) {
    let lab = Lab::new(&tag("off", nh));
    let mut fib = lab.fib(FibConfig {
        install: false,
        ..config(nh)
    });
    let r = fib
        .apply(&[v4("198.51.100.0/28", &["192.0.2.2"])])
        .expect("apply");
    assert_eq!(r[0].outcome, Outcome::NotInstalled);
    assert_eq!(lab.routes(), Vec::<String>::new());
    assert_eq!(fib.desired_len(), 1);
}

both_modes!(other_table_and_many_routes);
fn other_table_and_many_routes(nh: bool) {
    let lab = Lab::new(&tag("table", nh));
    let config = FibConfig {
        table: 1000,
        metric: 7,
        ..config(nh)
    };
    let mut fib = lab.fib(config);
    // 256 /32s and 300 IPv6 /64s: several datagrams, several in flight.
    let mut updates: Vec<RouteUpdate> = (0..=255u32)
        .map(|i| v4(&format!("198.51.100.{i}/32"), &["192.0.2.2"]))
        .collect();
    updates
        .extend((0..300u32).map(|i| v4(&format!("2001:db8:5:{i:x}::/64"), &["2001:db8:ffff::2"])));
    fib.set_batching(16, 4);
    let r = fib.apply(&updates).expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed));
    let v4n = lab.ip("route show table 1000 proto 186").lines().count();
    let v6n = lab.ip("-6 route show table 1000 proto 186").lines().count();
    assert_eq!((v4n, v6n), (256, 300));
    assert!(lab
        .route_lines("route show table 1000 proto 186")
        .contains(&"198.51.100.77 via 192.0.2.2 dev veth0 metric 7".to_string()));
    assert_eq!(fib.kernel_routes().expect("dump").len(), 556);
    // Withdraw all of them.
    let w: Vec<RouteUpdate> = updates
        .iter()
        .map(|u| RouteUpdate::withdraw(u.prefix))
        .collect();
    let r = fib.apply(&w).expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Removed));
    assert_eq!(fib.kernel_routes().expect("dump").len(), 0);
    assert_eq!(fib.installed_len(), 0);
}
