//! Lab test of the split-brain guard (issue 7, "Detection and selection"), run as root by
//! `cargo test --workspace --release`: FRR and BIRD neighbours, a bgpd primary and one
//! synchronised bgpd standby (the lab of tests/common/nsr.rs). Only the checkpoint link is
//! cut: the heartbeats stop, but the primary is alive and still on the session LAN, which
//! the standby sees. It must not take over (no two writers): for longer than the neighbours'
//! keepalive interval (so the primary's BGP traffic on the mirror pauses too) and their hold
//! time, the standby stays a standby, the primary keeps its sessions, and the neighbours see
//! nothing (capture: no OPEN, NOTIFICATION, SYN, FIN or RST; uptime unbroken; Adj-RIB-In
//! unchanged). When the link comes back, the standby re-attaches and resynchronises to the
//! primary's Loc-RIB digest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use interop::demo::{self, DemoLab, ScenarioOutcome};
use interop::poll::poll_until;

mod common;
use common::nsr::{self, StandbySpec, Steps, HOLD, TIMEOUT};
use common::require_root;

/// Prefixes of the MRT dump fed (half by FRR, half by BIRD).
const SLICE: usize = 300;

#[test]
fn cutting_only_the_checkpoint_link_makes_no_second_writer() {
    require_root();
    let generated = nsr::generate(&[StandbySpec {
        node_id: 2,
        priority: 100,
    }]);
    let opts = nsr::options(&generated, SLICE);
    let stby = nsr::standby_node(0);
    let mut scenario = Steps {
        name: "the checkpoint link is cut, then restored",
        standbys: true,
        run: |lab: &mut DemoLab<'_>| -> interop::Result<ScenarioOutcome> {
            let (digest, routes) = nsr::wait_lockstep(lab.speakers, "primary", &[&stby])?;
            nsr::wait_primary_sees(lab.speakers, "primary", &[2])?;
            let before = nsr::wait_routes_settled(lab, 1)?;
            let attached = |lab: &mut DemoLab<'_>| {
                nsr::logged(lab.speakers, &stby, "ha: standby attached to the primary").len()
            };
            let attaches = attached(lab);
            assert!(attaches >= 1);

            let ckpt = lab.rt.ns("ckpt")?.clone();
            let port = format!("ck-{stby}");
            lab.rt.lab.set_link(&ckpt, &port, false)?;
            let cut_at = Instant::now();
            (lab.progress)(&format!(
                "checkpoint link cut ({port} down); Loc-RIB {routes} routes"
            ));

            // The standby notices: the primary stops reporting it (it drops a silent
            // standby), and the standby must not become a writer meanwhile.
            let watch_end = cut_at + HOLD + Duration::from_secs(2);
            let mut dropped_at = None;
            while Instant::now() < watch_end {
                let s = nsr::status(lab.speakers, &stby)?;
                let role = s["role"].as_str().unwrap_or("").to_string();
                // `fencing` is the split-brain probe at work (the primary answers it, so no
                // takeover follows); a writer is `taking_over` or `primary`.
                assert!(
                    ["standby", "awaiting_primary", "halted", "fencing"].contains(&role.as_str()),
                    "the standby became {role} with the primary alive ({:.0} ms after the cut): {s}",
                    cut_at.elapsed().as_secs_f64() * 1000.0
                );
                let p = nsr::status(lab.speakers, "primary")?;
                assert_eq!(p["role"], "primary", "{p}");
                if dropped_at.is_none() && p["standbys"].as_array().is_some_and(|l| l.is_empty()) {
                    dropped_at = Some(cut_at.elapsed());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            for line in ["ha: primary declared failed", "ha: takeover complete"] {
                let l = nsr::logged(lab.speakers, &stby, line);
                assert!(
                    l.is_empty(),
                    "the standby logged {line:?} with the primary alive: {l:?}"
                );
            }
            (lab.progress)(&format!(
                "no takeover in {:.1} s; the primary dropped the standby after {dropped_at:?}",
                cut_at.elapsed().as_secs_f64()
            ));

            lab.rt.lab.set_link(&ckpt, &port, true)?;
            let back = Instant::now();
            poll_until(
                "the standby to re-attach to the primary",
                TIMEOUT,
                Duration::from_millis(100),
                || Ok((attached(lab) > attaches).then_some(())),
            )?;
            let (d2, r2) = nsr::wait_lockstep(lab.speakers, "primary", &[&stby])?;
            assert_eq!((d2.as_str(), r2), (digest.as_str(), routes));
            nsr::wait_primary_sees(lab.speakers, "primary", &[2])?;
            (lab.progress)(&format!(
                "link back: the standby re-attached and resynchronised in {} ms",
                back.elapsed().as_millis()
            ));
            let after = nsr::route_sets(lab)?;
            assert_eq!(before, after, "a neighbour's Adj-RIB-In changed");
            Ok(ScenarioOutcome {
                takeover: None,
                summary: "checkpoint link cut and restored: no takeover, standby resynchronised"
                    .into(),
                ..ScenarioOutcome::default()
            })
        },
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    println!("{}", demo::render(&report));
    assert_eq!(report.neighbors.len(), 2);
    for n in &report.neighbors {
        common::assert_saw_nothing(n);
    }
    assert_eq!(report.takeover_ms, None);
}
