//! Lab test: `interop demo`'s scenario runner on demo.clab.yml (run as root).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use interop::demo::{self, DemoOptions, Observe};
use interop::NeighborKind;

#[test]
fn demo_topology_runs_frr_and_bird_with_a_ping_stream_and_cleans_up() {
    require_root();
    let opts = DemoOptions {
        topology: Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/demo.clab.yml"),
        prefix: PREFIX.to_string(),
        timeout: Duration::from_secs(60),
    };
    let mut steps = Vec::new();
    let report = demo::run(&opts, &mut Observe(Duration::from_secs(1)), &mut |s| {
        steps.push(s.to_string())
    })
    .unwrap();
    assert_eq!(report.topology, "demo");
    assert_eq!(report.neighbors.len(), 2);
    for n in &report.neighbors {
        assert!(n.established_before && n.established_after, "{n:?}");
        assert_eq!(n.sessions.len(), 2, "IPv4 and IPv6 sessions: {n:?}");
        assert_eq!(
            (n.prefixes_before, n.prefixes_after),
            (Some(2), Some(2)),
            "{n:?}"
        );
    }
    let frr = report
        .neighbors
        .iter()
        .find(|n| n.kind == NeighborKind::Frr)
        .unwrap();
    assert_eq!(frr.connections_dropped, Some(0));
    assert_eq!(frr.notifications, Some(0));
    assert_eq!(report.takeover_ms, None);
    assert!(report.pings_received.unwrap() > 10, "{report:?}");
    assert_eq!(report.dataplane_loss_ms, Some(0.0), "{report:?}");
    let json = serde_json::to_value(&report).unwrap();
    for key in ["neighbors", "takeover_ms", "dataplane_loss_ms"] {
        assert!(json.get(key).is_some(), "JSON report has {key}");
    }
    let ours: Vec<String> = interop::sweep::list_namespaces(PREFIX)
        .unwrap()
        .into_iter()
        .filter(|n| interop::sweep::creator_pid(PREFIX, n) == Some(std::process::id()))
        .collect();
    assert!(ours.is_empty(), "demo left {ours:?}");
    assert!(steps.iter().any(|s| s.starts_with("tearing down")));
}
