//! Lab test: `interop takeover-bench` at a tiny size (1,000 generated prefixes, one row of
//! 3 sessions: the feeder, FRR and one keepalive peer; and the Graceful Restart baseline),
//! so the benchmark keeps working. Every session must be taken over (a segment from the
//! standby captured on each, none a SYN, FIN or RST, every session still up), the
//! declaration must come after the failure and before the segments, the ping stream must
//! have measured an outage, and FRR must have re-learnt the table in the baseline. Run as
//! root; bgpd and understudy are taken from the test executable's target directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::require_root;
use interop::bench::takeover::{self, report, TakeoverBenchOptions};

#[test]
fn takeover_bench_at_a_thousand_prefixes_measures_every_session() {
    require_root();
    let opts = TakeoverBenchOptions {
        sessions: vec![3],
        routes: 1_000,
        ns_prefix: "ustb-".into(),
        timeout: Duration::from_secs(60),
        late_standby: true,
        watch: Duration::from_secs(3),
        graceful_restart: true,
    };
    let result = takeover::run(&opts, &mut |l| eprintln!("{l}")).unwrap();
    let text = report::render(&result);
    eprintln!("{text}");
    assert_eq!(result.routes, 1_001, "the table and the server's prefix");
    assert_eq!(result.rows.len(), 1);
    let r = &result.rows[0];
    assert!(r.error.is_none(), "{text}");
    assert_eq!(r.sessions, 3);
    assert_eq!(r.per_session.len(), 3);
    let kinds: Vec<_> = r.per_session.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, ["feeder", "frr", "keepalive"]);
    assert_eq!(r.sessions_with_segment, 3, "{text}");
    assert_eq!(r.sessions_survived, 3, "{text}");
    for s in &r.per_session {
        assert_eq!(s.syn_fin_rst, 0, "{s:?}");
        assert!(s.segments >= 1, "{s:?}");
        let (d, f) = (s.from_declaration_ms.unwrap(), s.from_failure_ms.unwrap());
        // The standby cannot send before it declared the primary failed.
        assert!(d >= 0.0 && f > d, "{s:?}");
    }
    // The keepalive peer read the standby's first message, after the declaration; the
    // captures kept every frame (a dropped first segment reads as a late one).
    let read = r.per_session[2].read_from_declaration_ms.unwrap();
    assert!(read >= 0.0, "{:?}", r.per_session[2]);
    assert_eq!(r.capture_dropped, Some(0), "{text}");
    let declared = r.declared_after_failure_ms.unwrap();
    assert!(declared > 0.0, "declared {declared} ms after the failure");
    // Both are reported (every session had a segment); one is the other plus `declared`
    // by construction, so only their presence is checked.
    assert!(
        r.last_session_ms.is_some() && r.failure_to_last_ms.is_some(),
        "{r:?}"
    );
    assert!(r.standby_takeover_ms.is_some_and(|t| t > 0.0), "{r:?}");
    assert!(r.dataplane_loss_ms.is_some_and(|l| l > 0.0), "{r:?}");
    let g = result.graceful_restart.as_ref().unwrap();
    assert!(g.error.is_none(), "{g:?}");
    let (est, relearn) = (g.reestablished_s.unwrap(), g.relearn_s.unwrap());
    assert!(est > 0.0 && relearn >= est, "{g:?}");
    // Graceful Restart: FRR never dropped the router's routes while it restarted.
    assert_ne!(g.route_kept_while_down, Some(false), "{g:?}");
    // No namespace of ours is left behind.
    let left = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let me = format!("ustb-{}", std::process::id());
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&me),
        "namespaces left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
