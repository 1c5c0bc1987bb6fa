//! Routes through kernel nexthop objects (`nexthop_objects = true`): shared objects,
//! ECMP groups, mass withdrawal by deleting the object, adoption, and other owners'
//! objects left alone.

mod support;

use fib::{FibConfig, NextHop, Outcome, RouteUpdate};
use support::{a, p, Lab, Watcher};

fn config() -> FibConfig {
    let c = FibConfig::default();
    assert!(c.nexthop_objects, "nexthop objects are the default");
    c
}

fn via(prefix: &str, gws: &[&str]) -> RouteUpdate {
    RouteUpdate::install(p(prefix), gws.iter().map(|g| NextHop::via(a(g))).collect())
}

/// `ip nexthop show` lines of protocol 186.
fn objects(lab: &Lab) -> Vec<String> {
    lab.objects()
}

#[test]
fn routes_share_objects_and_groups_and_unused_objects_go() {
    let lab = Lab::new("nhobj");
    let mut fib = lab.fib(config());
    let r = fib
        .apply(&[
            via("198.51.100.0/26", &["192.0.2.2"]),
            via("198.51.100.64/26", &["192.0.2.2"]),
            via("198.51.100.128/26", &["192.0.2.2", "192.0.2.3"]),
            via("2001:db8:8::/48", &["2001:db8:ffff::2"]),
        ])
        .expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed), "{r:?}");
    let objs = objects(&lab);
    // 192.0.2.2, 192.0.2.3, the group of both, 2001:db8:ffff::2.
    assert_eq!(objs.len(), 4, "{objs:?}");
    assert_eq!(objs.iter().filter(|l| l.contains(" group ")).count(), 1);
    let v4 = lab.ip("route show proto 186");
    assert_eq!(v4.matches("nhid").count(), 3, "{v4}");
    // The two single-path routes use the same object.
    let ids: Vec<&str> = v4
        .lines()
        .filter(|l| l.contains("via 192.0.2.2 dev veth0") && !l.contains("nexthop"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(ids.len(), 2, "{v4}");
    assert_eq!(ids[0], ids[1]);
    // The kernel reads back equal to what we asked: a second writer adopting has
    // nothing to do.
    let mut watch = Watcher::new(&lab);
    let mut second = lab.fib(config());
    assert_eq!(second.adopt(None).expect("adopt"), 4);
    let r = second
        .apply(&[
            via("198.51.100.0/26", &["192.0.2.2"]),
            via("198.51.100.64/26", &["192.0.2.2"]),
            via("198.51.100.128/26", &["192.0.2.3", "192.0.2.2"]),
            via("2001:db8:8::/48", &["2001:db8:ffff::2"]),
        ])
        .expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed));
    assert_eq!(watch.events(), vec![]);
    assert_eq!(objects(&lab).len(), 4);
    // Move the ECMP route to one path: the group is no longer used and goes; its
    // members stay (routes use 192.0.2.2; 192.0.2.3 is now unused and goes too).
    second
        .apply(&[via("198.51.100.128/26", &["192.0.2.2"])])
        .expect("apply");
    let objs = objects(&lab);
    assert_eq!(objs.len(), 2, "{objs:?}");
    assert!(objs.iter().all(|l| !l.contains("group")));
    assert!(objs.iter().all(|l| !l.contains("192.0.2.3")));
    assert_eq!(
        lab.ip("route show proto 186")
            .matches("via 192.0.2.2")
            .count(),
        3
    );
}

#[test]
fn withdrawing_every_route_of_an_object_deletes_the_object() {
    let lab = Lab::new("nhmass");
    let mut fib = lab.fib(config());
    let mut updates: Vec<RouteUpdate> = (0..=255u32)
        .map(|i| via(&format!("198.51.100.{i}/32"), &["192.0.2.2"]))
        .collect();
    updates.push(via("203.0.113.0/24", &["192.0.2.3"]));
    let r = fib.apply(&updates).expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed));
    assert_eq!(objects(&lab).len(), 2);
    let mut watch = Watcher::new(&lab);
    let withdraw: Vec<RouteUpdate> = (0..=255u32)
        .map(|i| RouteUpdate::withdraw(p(&format!("198.51.100.{i}/32"))))
        .collect();
    let r = fib.apply(&withdraw).expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Removed));
    assert_eq!(
        lab.ip("route show proto 186").trim(),
        format!(
            "203.0.113.0/24 nhid {} via 192.0.2.3 dev veth0 metric 20",
            lab.ip("nexthop show proto 186")
                .split_whitespace()
                .nth(1)
                .expect("one object left")
        )
    );
    assert_eq!(objects(&lab).len(), 1);
    assert_eq!(fib.installed_len(), 1);
    // Not one RTM_DELROUTE per route was sent: the kernel dropped them with the
    // object (IPv4 sends no per-route notification for that).
    assert!(watch.events().len() < 256);
    // Withdrawing some, not all, routes of an object deletes them one by one.
    fib.apply(&[
        via("198.51.100.1/32", &["192.0.2.3"]),
        via("198.51.100.2/32", &["192.0.2.3"]),
    ])
    .expect("apply");
    let r = fib
        .apply(&[RouteUpdate::withdraw(p("198.51.100.1/32"))])
        .expect("apply");
    assert_eq!(r[0].outcome, Outcome::Removed);
    assert_eq!(lab.routes().len(), 2);
    assert_eq!(objects(&lab).len(), 1);
}

#[test]
fn other_owners_objects_are_left_alone() {
    let lab = Lab::new("nhforeign");
    // Someone else's object, with the id we would otherwise take first.
    lab.ip("nexthop add id 190840832 via 192.0.2.2 dev veth0 proto static");
    let mut fib = lab.fib(config());
    fib.apply(&[via("198.51.100.0/26", &["192.0.2.2"])])
        .expect("apply");
    let r = fib
        .apply(&[RouteUpdate::withdraw(p("198.51.100.0/26"))])
        .expect("apply");
    assert_eq!(r[0].outcome, Outcome::Removed);
    assert_eq!(objects(&lab), Vec::<String>::new());
    assert!(lab
        .ip("nexthop show")
        .contains("id 190840832 via 192.0.2.2 dev veth0 scope link proto static"));
    assert_eq!(fib.converged().expect("converged"), vec![]);
    assert!(lab.ip("nexthop show").contains("id 190840832"));
}

#[test]
fn re_resolution_moves_routes_to_a_new_object_and_drops_the_old() {
    use std::time::Duration;
    let lab = Lab::new("nhresolve");
    lab.ip("route add 203.0.113.0/24 via 192.0.2.2 proto static");
    let mut fib = lab.fib(config());
    let r = fib
        .apply(&[
            via("198.51.100.0/26", &["203.0.113.5"]),
            via("198.51.100.64/26", &["203.0.113.5"]),
        ])
        .expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed), "{r:?}");
    let before = objects(&lab);
    assert_eq!(before.len(), 1);
    assert!(before[0].contains("via 192.0.2.2 dev veth0"), "{before:?}");
    lab.ip("route replace 203.0.113.0/24 via 192.0.2.3 proto static");
    assert!(support::wait_for(Duration::from_secs(20), || {
        if fib
            .wait_route_change(Duration::from_millis(100))
            .expect("poll")
        {
            fib.refresh_next_hops().expect("refresh");
        }
        lab.ip("route show proto 186")
            .matches("via 192.0.2.3")
            .count()
            == 2
    }));
    let after = objects(&lab);
    assert_eq!(after.len(), 1, "the old object went: {after:?}");
    assert!(after[0].contains("via 192.0.2.3 dev veth0"), "{after:?}");
}

/// The kernel deletes the nexthop objects of a device that goes down, and the routes
/// that use them. When the link comes back, re-resolution installs the routes again
/// through new objects, and nothing of ours is left dangling.
#[test]
fn link_down_and_up_restores_routes_through_new_objects() {
    use std::time::Duration;
    let lab = Lab::new("nhflap");
    // Keep the IPv6 address across the flap, as IPv4 does.
    let ok = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.name, "sysctl", "-qw"])
        .arg("net.ipv6.conf.veth0.keep_addr_on_down=1")
        .status()
        .expect("sysctl runs");
    assert!(ok.success());
    let mut fib = lab.fib(config());
    let r = fib
        .apply(&[
            via("198.51.100.0/26", &["192.0.2.2"]),
            via("198.51.100.64/26", &["192.0.2.2", "192.0.2.3"]),
            via("2001:db8:9::/48", &["2001:db8:ffff::2"]),
        ])
        .expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed), "{r:?}");
    let want = lab.routes();
    assert_eq!(want.len(), 3);
    let refresh = |fib: &mut fib::Fib| {
        if fib
            .wait_route_change(Duration::from_millis(100))
            .expect("poll")
        {
            fib.refresh_next_hops().expect("refresh");
        }
    };
    lab.ip("link set veth0 down");
    assert!(support::wait_for(Duration::from_secs(20), || {
        refresh(&mut fib);
        lab.routes().is_empty() && objects(&lab).is_empty()
    }));
    lab.ip("link set veth0 up");
    assert!(support::wait_for(Duration::from_secs(20), || {
        refresh(&mut fib);
        lab.routes() == want
    }));
    assert_eq!(lab.routes_with_nhid(), 3);
    // 192.0.2.2, 192.0.2.3, their group, 2001:db8:ffff::2.
    assert_eq!(objects(&lab).len(), 4, "{:?}", objects(&lab));
    assert_eq!(fib.installed_len(), 3);
}
