//! The async face: FibService drives a Fib on its own thread; re-resolution results
//! and the adopt deadline arrive on the event channel.

mod support;

use std::time::Duration;

use fib::{FibService, NextHop, Outcome, RouteUpdate};
use support::{a, config, p, tag, Lab};

#[tokio::test]
async fn service_with_plain_routes() {
    service_applies_adopts_and_reports_re_resolution(false).await
}

#[tokio::test]
async fn service_with_nexthop_objects() {
    service_applies_adopts_and_reports_re_resolution(true).await
}

async fn service_applies_adopts_and_reports_re_resolution(nh: bool) {
    let lab = Lab::new(&tag("service", nh));
    lab.ip("route add 203.0.113.0/24 via 192.0.2.2 proto static");
    lab.ip("route add 198.51.100.128/25 via 192.0.2.2 proto 186 metric 20");
    let (svc, mut events) = FibService::spawn(lab.fib(config(nh))).expect("spawn");
    // Adopt with a short deadline: the stale .128/25 goes by itself.
    assert_eq!(
        svc.adopt(Some(Duration::from_millis(300)))
            .await
            .expect("adopt"),
        1
    );
    let r = svc
        .apply(vec![RouteUpdate::install(
            p("198.51.100.0/25"),
            vec![NextHop::via(a("203.0.113.5"))],
        )])
        .await
        .expect("apply");
    assert_eq!(r[0].outcome, Outcome::Installed);
    let gone = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("deadline fired")
        .expect("event");
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].prefix, p("198.51.100.128/25"));
    assert_eq!(gone[0].outcome, Outcome::Removed);
    assert_eq!(
        lab.routes(),
        vec!["198.51.100.0/25 via 192.0.2.2 dev veth0 metric 20"]
    );
    // The IGP route to the next hop moves: the service re-resolves on its own.
    lab.ip("route replace 203.0.113.0/24 via 192.0.2.3 proto static");
    let moved = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("re-resolution reported")
        .expect("event");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].prefix, p("198.51.100.0/25"));
    assert_eq!(moved[0].outcome, Outcome::Installed);
    assert_eq!(
        lab.routes(),
        vec!["198.51.100.0/25 via 192.0.2.3 dev veth0 metric 20"]
    );
    let r = svc.converged().await.expect("converged");
    assert_eq!(r, vec![]);
    drop(svc);
    // Routes stay when the service stops (never flushed).
    assert_eq!(lab.routes().len(), 1);
}
