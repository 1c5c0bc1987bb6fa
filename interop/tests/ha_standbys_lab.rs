//! Lab tests of two bgpd standbys (issues 6 and 7), run as root by
//! `cargo test --workspace --release`. FRR and BIRD neighbours feed a bgpd primary a slice
//! of the MRT dump; two standbys follow it, each on its own mirror port and on the
//! checkpoint LAN (the lab is written at run time: tests/common/nsr.rs).
//!
//! Each test:
//! - introduces the two standbys (one after the other, or both at once) while FRR keeps
//!   announcing routes; both reach `synchronised` with the primary's Loc-RIB digest, and the
//!   primary reports both synchronised with no digest mismatch;
//! - kills the primary the way a box dies (links cut, process killed by PID): the standby
//!   with the highest priority, then the lowest node_id, takes the sessions over; the other
//!   re-attaches to it, and resynchronises to the same Loc-RIB digest as before the failure;
//! - checks that the neighbours saw nothing: no OPEN, NOTIFICATION, SYN, FIN or RST on their
//!   links (capture), uptime unbroken, no connection dropped, and every session's prefixes
//!   the same after the failover (watched for longer than the hold time) as before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use interop::demo::{self, DemoLab, ScenarioOutcome};
use interop::speaker::field_f64;

mod common;
use common::nsr::{self, StandbySpec, Steps, HOLD, TIMEOUT};
use common::require_root;

/// Prefixes of the MRT dump fed (half by FRR, half by BIRD).
const SLICE: usize = 300;
/// Routes FRR adds while the standbys are introduced.
const ADDED: u32 = 256;

/// How the standbys are introduced.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Intro {
    /// `stby1` alone until in lockstep, then `stby2` while FRR announces.
    OneAfterTheOther,
    /// Both while FRR announces.
    AtOnce,
}

fn two_standbys(specs: [StandbySpec; 2], intro: Intro, winner: usize) {
    require_root();
    let loser = 1 - winner;
    let (win_node, lose_node) = (nsr::standby_node(winner), nsr::standby_node(loser));
    let ids = [specs[0].node_id, specs[1].node_id];
    let generated = nsr::generate(&specs);
    let opts = nsr::options(&generated, SLICE);
    let mut scenario = Steps {
        name: "two standbys, then the primary dies",
        standbys: false,
        run: |lab: &mut DemoLab<'_>| -> interop::Result<ScenarioOutcome> {
            let s1 = nsr::standby_node(0);
            let s2 = nsr::standby_node(1);
            let feeder;
            if intro == Intro::OneAfterTheOther {
                let a = nsr::start_speaker(lab, &s1)?;
                lab.speakers.push(a);
                let (d, n) = nsr::wait_lockstep(lab.speakers, "primary", &[&s1])?;
                (lab.progress)(&format!(
                    "{s1} in lockstep alone: {n} routes, digest {d:.16}"
                ));
                feeder = nsr::announce_in_background(lab, 0..ADDED, 32, Duration::from_millis(100));
                let b = nsr::start_speaker(lab, &s2)?;
                lab.speakers.push(b);
            } else {
                feeder = nsr::announce_in_background(lab, 0..ADDED, 32, Duration::from_millis(100));
                let a = nsr::start_speaker(lab, &s1)?;
                let b = nsr::start_speaker(lab, &s2)?;
                lab.speakers.extend([a, b]);
            }
            let started = Instant::now();
            nsr::speaker(lab.speakers, &s2).wait_log("ha: synchronised", TIMEOUT)?;
            (lab.progress)(&format!(
                "{s2} synchronised {} ms after it was started, FRR announcing",
                started.elapsed().as_millis()
            ));
            feeder.join().expect("FRR announcer");
            let (digest, routes) = nsr::wait_lockstep(lab.speakers, "primary", &[&s1, &s2])?;
            // The fed slice, FRR's and BIRD's own /25s, the speaker's network, FRR's additions.
            assert_eq!(
                routes,
                SLICE as u64 + 3 + u64::from(ADDED),
                "Loc-RIB routes"
            );
            let p = nsr::wait_primary_sees(lab.speakers, "primary", &ids)?;
            assert_eq!(p["standbys"].as_array().unwrap().len(), 2, "{p}");
            (lab.progress)(&format!(
                "both standbys in lockstep: {routes} routes, digest {digest:.16}"
            ));
            let before = nsr::wait_routes_settled(lab, 1)?;
            for (n, m) in &before {
                assert!(
                    m.values().any(|s| !s.is_empty()),
                    "{n} holds nothing: {m:?}"
                );
            }
            assert!(
                before["bird"].values().map(|s| s.len()).sum::<usize>() >= ADDED as usize,
                "BIRD did not receive FRR's additions"
            );

            let cut = lab.rt.cut_links("primary")?;
            let cut_at = Instant::now();
            nsr::speaker(lab.speakers, "primary").process.kill();
            (lab.progress)(&format!(
                "primary died: {} links cut, bgpd killed",
                cut.len()
            ));

            let done =
                nsr::speaker(lab.speakers, &win_node).wait_log("ha: takeover complete", TIMEOUT)?;
            let takeover_ms = field_f64(&done, "takeover_ms");
            assert_eq!(field_f64(&done, "sessions"), Some(2.0), "{done}");
            assert_eq!(field_f64(&done, "failed"), Some(0.0), "{done}");
            (lab.progress)(&format!(
                "{win_node} took over {:.0} ms after the cut (takeover_ms {takeover_ms:?})",
                cut_at.elapsed().as_secs_f64() * 1000.0
            ));
            let elected = nsr::speaker(lab.speakers, &lose_node)
                .wait_log("ha: another standby was elected", TIMEOUT)?;
            assert_eq!(
                elected["fields"]["endpoint"].as_str(),
                Some(format!("198.51.100.{}:50052", winner + 2).as_str()),
                "{lose_node} attaches to the wrong node: {elected}"
            );
            // The other standby follows the new primary and reaches its Loc-RIB: the same
            // as the old primary's, the routes did not change.
            let (d2, r2) = nsr::wait_lockstep(lab.speakers, &win_node, &[&lose_node])?;
            assert_eq!(
                (d2.as_str(), r2),
                (digest.as_str(), routes),
                "Loc-RIB after the failover"
            );
            let np = nsr::wait_primary_sees(lab.speakers, &win_node, &[specs[loser].node_id])?;
            (lab.progress)(&format!(
                "{lose_node} resynchronised with the new primary {} ms after the cut",
                cut_at.elapsed().as_millis()
            ));
            assert_eq!(np["role"], "primary", "{np}");
            assert_eq!(np["standbys"].as_array().unwrap().len(), 1, "{np}");

            interop::poll::watch_until(cut_at + HOLD + Duration::from_secs(3))?;
            let after = nsr::route_sets(lab)?;
            assert_eq!(
                before, after,
                "a neighbour's Adj-RIB-In changed across the failover"
            );
            assert!(
                nsr::logged(lab.speakers, &lose_node, "ha: takeover complete").is_empty(),
                "{lose_node} took over too (two writers)"
            );
            let l = nsr::status(lab.speakers, &lose_node)?;
            assert_eq!(l["role"], "standby", "{l}");
            assert_eq!(l["synchronised"], true, "{l}");
            Ok(ScenarioOutcome {
                takeover: takeover_ms.map(|m| Duration::from_secs_f64(m / 1000.0)),
                summary: format!(
                    "{win_node} took over; {lose_node} re-attached and resynchronised"
                ),
                ..ScenarioOutcome::default()
            })
        },
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    println!("{}", demo::render(&report));
    assert_eq!(report.neighbors.len(), 2);
    for n in &report.neighbors {
        common::assert_session_unbroken(n);
        // Across the whole scenario: FRR got nothing new; BIRD got exactly FRR's additions.
        match n.name.as_str() {
            "frr" => assert_eq!(n.routes_unchanged, Some(true), "{n:?}"),
            _ => assert_eq!(
                n.prefixes_after,
                n.prefixes_before.map(|b| b + u64::from(ADDED)),
                "{n:?}"
            ),
        }
    }
    assert!(
        report
            .takeover_ms
            .expect("the winner reported its takeover")
            > 0.0
    );
}

/// `stby1` (node 2, priority 100) joins alone, then `stby2` (node 3, priority 200) while FRR
/// announces; `stby2` wins on priority although its node_id is higher.
#[test]
fn two_standbys_one_after_the_other_the_higher_priority_takes_over() {
    two_standbys(
        [
            StandbySpec {
                node_id: 2,
                priority: 100,
            },
            StandbySpec {
                node_id: 3,
                priority: 200,
            },
        ],
        Intro::OneAfterTheOther,
        1,
    );
}

/// Both join at once while FRR announces, with equal priorities: `stby2` (node 3) wins on
/// the lower node_id over `stby1` (node 5).
#[test]
fn two_standbys_at_once_the_lower_node_id_takes_over() {
    two_standbys(
        [
            StandbySpec {
                node_id: 5,
                priority: 100,
            },
            StandbySpec {
                node_id: 3,
                priority: 100,
            },
        ],
        Intro::AtOnce,
        1,
    );
}
