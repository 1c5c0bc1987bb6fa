//! Adopt after a crash: a first process (fib-hold) installs routes and is killed; a
//! second adopts them. A route watcher proves that no route that stays was deleted
//! or re-added, and that stale routes go only at convergence.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fib::{FibConfig, NextHop, Outcome, RouteUpdate};
use support::{a, p, Lab, Watcher};

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
    adopt_after_crash(false);
}

#[test]
fn adopt_after_crash_with_nexthop_objects() {
    adopt_after_crash(true);
}

fn adopt_after_crash(nexthop_objects: bool) {
    let lab = Lab::new(if nexthop_objects { "adoptnh" } else { "adopt" });
    let config = FibConfig {
        nexthop_objects,
        ..FibConfig::default()
    };
    let mut first = Child(
        Command::new("ip")
            .args(["netns", "exec", &lab.name, env!("CARGO_BIN_EXE_fib-hold")])
            .args(nexthop_objects.then_some("--nexthop-objects"))
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
    let without_nhid: Vec<String> = lab
        .routes()
        .iter()
        .map(|l| {
            let mut w: Vec<&str> = l.split_whitespace().collect();
            if let Some(i) = w.iter().position(|x| *x == "nhid") {
                w.drain(i..i + 2);
            }
            w.join(" ")
        })
        .collect();
    assert_eq!(
        without_nhid,
        vec![
            "198.51.100.0/26 via 192.0.2.2 dev veth0 metric 20",
            "198.51.100.64/26 via 192.0.2.3 dev veth0 metric 20",
            "2001:db8:7::/48 metric 20 pref medium nexthop via 2001:db8:ffff::2 dev veth0 weight 1 nexthop via 2001:db8:ffff::3 dev veth0 weight 1",
            "203.0.113.0/24 via 192.0.2.2 dev veth0 metric 20",
        ]
    );
    if nexthop_objects {
        assert_eq!(
            lab.routes().iter().filter(|l| l.contains("nhid")).count(),
            4
        );
        // No object is left without a route: 192.0.2.2, 192.0.2.3, the two IPv6
        // members and their group.
        assert_eq!(lab.ip("nexthop show proto 186").lines().count(), 5);
    }
}

#[test]
fn adopt_deadline_deletes_stale_routes() {
    let lab = Lab::new("deadline");
    lab.ip("route add 198.51.100.0/26 via 192.0.2.2 proto 186 metric 20");
    lab.ip("route add 198.51.100.64/26 via 192.0.2.2 proto 186 metric 20");
    let mut fib = lab.fib(FibConfig::default());
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
