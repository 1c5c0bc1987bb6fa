//! Adopt after a crash: a first process (fib-hold) installs routes and is killed; a
//! second adopts them. A route watcher proves that no route that stays was deleted
//! or re-added, and that stale routes go only at convergence. With nexthop objects
//! (the default), with plain routes, and across the change of default (plain routes
//! adopted by a writer with nexthop objects).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fib::{NextHop, Outcome, RouteUpdate};
use support::{a, config, p, Lab, Watcher};

/// Kills the child by PID on drop (also when an assertion fails).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn install(prefix: &str, gw: &str) -> RouteUpdate {
    RouteUpdate::install(p(prefix), vec![NextHop::via(a(gw))])
}

#[test]
fn adopt_after_crash_never_flaps_a_route_that_stays() {
    adopt_after_crash(false, false);
}

#[test]
fn adopt_after_crash_with_nexthop_objects() {
    adopt_after_crash(true, true);
}

/// An upgrade to the default of nexthop objects: the routes a plain-route writer left
/// are kept as they are where they match, not rewritten into objects.
#[test]
fn adopt_plain_routes_with_nexthop_objects() {
    adopt_after_crash(false, true);
}

fn adopt_after_crash(first_nh: bool, nexthop_objects: bool) {
    let lab = Lab::new(match (first_nh, nexthop_objects) {
        (false, false) => "adopt",
        (true, true) => "adoptnh",
        (false, true) => "adoptup",
        (true, false) => "adoptdown",
    });
    let config = config(nexthop_objects);
    let mut first = Child(
        Command::new("ip")
            .args(["netns", "exec", &lab.name, env!("CARGO_BIN_EXE_fib-hold")])
            .arg(if first_nh {
                "--nexthop-objects"
            } else {
                "--plain"
            })
            .args([
                "198.51.100.0/26=192.0.2.2",
                "198.51.100.64/26=192.0.2.2",
                "198.51.100.128/26=192.0.2.2",
                "198.51.100.192/26=192.0.2.2",
                "2001:db8:7::/48=2001:db8:ffff::2,2001:db8:ffff::3",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn fib-hold"),
    );
    let stdout = first.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read READY");
    assert!(line.starts_with("READY "), "fib-hold said {line:?}");
    assert_eq!(lab.routes().len(), 5);

    // From here on every route change in the namespace is recorded.
    let mut watch = Watcher::new(&lab);
    // The crash: killed by PID.
    first.0.kill().expect("kill fib-hold");
    first.0.wait().expect("reap fib-hold");

    let mut second = lab.fib(config);
    let deadline = Instant::now() + Duration::from_secs(3600);
    assert_eq!(second.adopt(Some(deadline)).expect("adopt"), 5);
    assert_eq!(watch.events(), vec![], "adopting alone changes nothing");
    assert_eq!(lab.routes().len(), 5);

    // The speaker relearns its routes: two the same, one moved, one new; .192/26 is
    // not (yet) relearned.
    let r = second
        .apply(&[
            install("198.51.100.0/26", "192.0.2.2"),
            install("198.51.100.64/26", "192.0.2.3"),
            RouteUpdate::install(
                p("2001:db8:7::/48"),
                vec![
                    NextHop::via(a("2001:db8:ffff::3")),
                    NextHop::via(a("2001:db8:ffff::2")),
                ],
            ),
            install("203.0.113.0/24", "192.0.2.2"),
        ])
        .expect("apply");
    assert!(r.iter().all(|x| x.outcome == Outcome::Installed), "{r:?}");
    // Before convergence: the not-yet-relearned routes are still there.
    assert_eq!(lab.routes().len(), 6);
    assert_eq!(second.tick(Instant::now()).expect("tick"), vec![]);
    let before = watch.events();
    assert_eq!(
        before
            .iter()
            .map(|e| (e.added, e.prefix.to_string()))
            .collect::<Vec<_>>(),
        vec![
            (true, "198.51.100.64/26".to_string()),
            (true, "203.0.113.0/24".to_string()),
        ],
        "only the moved and the new route were written"
    );

    // Converged: the two stale routes go, nothing else moves.
    let gone = second.converged().expect("converged");
    let mut gone: Vec<String> = gone
        .iter()
        .map(|x| {
            assert_eq!(x.outcome, Outcome::Removed);
            x.prefix.to_string()
        })
        .collect();
    gone.sort();
    assert_eq!(gone, vec!["198.51.100.128/26", "198.51.100.192/26"]);
    let mut after: Vec<(bool, String)> = watch
        .events()
        .iter()
        .map(|e| (e.added, e.prefix.to_string()))
        .collect();
    after.sort();
    assert_eq!(
        after,
        vec![
            (false, "198.51.100.128/26".to_string()),
            (false, "198.51.100.192/26".to_string()),
        ]
    );
    assert_eq!(
        lab.routes(),
        vec![
            "198.51.100.0/26 via 192.0.2.2 dev veth0 metric 20",
            "198.51.100.64/26 via 192.0.2.3 dev veth0 metric 20",
            "2001:db8:7::/48 metric 20 pref medium nexthop via 2001:db8:ffff::2 dev veth0 weight 1 nexthop via 2001:db8:ffff::3 dev veth0 weight 1",
            "203.0.113.0/24 via 192.0.2.2 dev veth0 metric 20",
        ]
    );
    match (first_nh, nexthop_objects) {
        (true, true) => {
            assert_eq!(lab.routes_with_nhid(), 4);
            // No object is left without a route: 192.0.2.2, 192.0.2.3, the two IPv6
            // members and their group.
            assert_eq!(lab.objects().len(), 5);
        }
        (false, true) => {
            // Only the moved and the new route were written, through objects
            // (192.0.2.3 and 192.0.2.2); the kept ones still carry their gateways.
            assert_eq!(lab.routes_with_nhid(), 2);
            assert_eq!(lab.objects().len(), 2);
        }
        _ => assert_eq!(lab.routes_with_nhid(), 0),
    }
}

#[test]
fn adopt_deadline_deletes_stale_routes() {
    adopt_deadline(false);
}

#[test]
fn adopt_deadline_deletes_stale_routes_with_nexthop_objects() {
    adopt_deadline(true);
}

fn adopt_deadline(nh: bool) {
    let lab = Lab::new(&support::tag("deadline", nh));
    lab.ip("route add 198.51.100.0/26 via 192.0.2.2 proto 186 metric 20");
    lab.ip("route add 198.51.100.64/26 via 192.0.2.2 proto 186 metric 20");
    let mut fib = lab.fib(config(nh));
    let deadline = Instant::now() + Duration::from_secs(60);
    assert_eq!(fib.adopt(Some(deadline)).expect("adopt"), 2);
    fib.apply(&[install("198.51.100.0/26", "192.0.2.2")])
        .expect("apply");
    assert_eq!(
        fib.tick(deadline - Duration::from_secs(1)).expect("tick"),
        vec![]
    );
    assert_eq!(lab.routes().len(), 2);
    let r = fib.tick(deadline).expect("tick");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prefix, p("198.51.100.64/26"));
    assert!(!fib.is_adopting());
    assert_eq!(
        lab.routes(),
        vec!["198.51.100.0/26 via 192.0.2.2 dev veth0 metric 20"]
    );
}
