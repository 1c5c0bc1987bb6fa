//! Lab test: `interop bench` at a tiny size (2,000 generated prefixes; bgpd and BIRD, free
//! and into the kernel), so the benchmark keeps working: the table must be complete and
//! every count must match the feed. Run as root; the bgpd and understudy binaries are taken
//! from the test executable's target directory (`cargo test --workspace` builds them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::require_root;
use interop::bench::dut::DaemonKind;
use interop::bench::{self, report, BenchOptions, Mode};

#[test]
fn bench_at_two_thousand_prefixes_gives_a_complete_table_with_matching_counts() {
    require_root();
    let opts = BenchOptions {
        prefixes: 2_000,
        mrt: None,
        daemons: vec![DaemonKind::Bgpd, DaemonKind::Bird],
        modes: vec![Mode::FREE, Mode::KERNEL],
        runs: 1,
        ns_prefix: "usbn-".into(),
        timeout: Some(Duration::from_secs(20)),
    };
    let result = bench::run(&opts, &mut |l| eprintln!("{l}")).unwrap();
    let text = report::render(&result);
    eprintln!("{text}");
    assert!(report::complete(&result), "incomplete table:\n{text}");
    assert_eq!(result.feeds.len(), 1);
    let f = &result.feeds[0];
    assert_eq!(f.prefixes, 2_000);
    assert_eq!(f.calibration.monitor_count, 2_000);
    assert!(f.calibration.monitor_s.is_some(), "{text}");
    assert_eq!(f.rows.len(), 4, "{text}");
    for row in &f.rows {
        let m = &row.median;
        assert_eq!(m.rib_count, 2_000, "{row:?}");
        assert_eq!(m.monitor_count, 2_000, "{row:?}");
        assert_eq!(m.kernel_count, row.mode.kernel.then_some(2_000), "{row:?}");
        assert!(
            m.cpu_s.is_some() && m.peak_rss.is_some_and(|b| b > 0),
            "{row:?}"
        );
        let line = format!("| {} | {} |", row.daemon, row.mode.label());
        assert!(text.contains(&line), "no row {line} in\n{text}");
    }
    // No namespace of ours is left behind.
    let left = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let me = format!("usbn-{}", std::process::id());
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&me),
        "namespaces left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
