//! Lab tests of the failover (issue 7), run as root by `cargo test --workspace --release`:
//! FRR, BIRD and GoBGP neighbours of a bgpd primary with a bgpd standby following it on a
//! mirror port (interop/topologies/failover.clab.yml). The primary's box dies (links cut,
//! process killed by PID); the standby takes the sessions over. Each neighbour must see
//! nothing: no OPEN, NOTIFICATION, SYN, FIN or RST on its link (capture), its session
//! uptime unbroken, its Adj-RIB-In identical before and after, no UPDATE after the failure
//! (the primary wrote all it computed: the Adj-RIB-Out difference is empty), and the ping
//! stream through the router must carry on. FRR and BIRD feed a slice of the largest MRT dump (the demo
//! feeds it whole). The bgpd binary comes from the test executable's target directory.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use interop::demo;
use interop::failover::Failover;

mod common;
use common::require_root;

/// The namespace prefix of these tests.
const PREFIX: &str = "usfo-";
/// Prefixes of the dump fed (half to FRR, half to BIRD).
const SLICE: usize = 1000;

#[test]
fn unplanned_failover_frr_bird_gobgp_see_nothing() {
    require_root();
    let opts = common::demo_options("failover.clab.yml", PREFIX, SLICE);
    let mut steps = Vec::new();
    let mut scenario = Failover {
        watch: Duration::from_secs(10),
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| {
        eprintln!("{s}");
        steps.push(s.to_string())
    })
    .unwrap();
    println!("{}", demo::render(&report));
    assert_eq!(report.neighbors.len(), 3);
    for n in &report.neighbors {
        common::assert_saw_nothing(n);
        assert_eq!(n.prefixes_before, n.prefixes_after, "{n:?}");
        // The primary wrote everything it computed before it died: the Adj-RIB-Out
        // difference is empty, and nothing a neighbour holds is sent again.
        let w = n.wire.unwrap();
        assert_eq!(
            w.updates_after, 0,
            "{}: {} UPDATEs after the failure ({} prefixes announced, {} withdrawn)",
            n.name, w.updates_after, w.announced_after, w.withdrawn_after
        );
    }
    let takeover = report
        .takeover_ms
        .expect("the standby reported its takeover");
    assert!(takeover > 0.0);
    // The data plane moved: replies came back after the takeover (the stream ran through
    // the whole watch, so a dead path would lose at least the watch's worth).
    let loss = report.dataplane_loss_ms.unwrap();
    assert!(
        loss < 5_000.0,
        "ping stream loss {loss} ms: the data plane did not move"
    );
    println!("takeover_ms {takeover:.1}, dataplane_loss_ms {loss:.0}");
}
