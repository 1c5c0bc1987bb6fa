//! Lab test (run as root): the README's full-table demo up to lockstep. FRR and BIRD each
//! feed half of the largest MRT dump (56,496 prefixes each) to a bgpd primary, so each of
//! them is sent the other's half back: a full table in and out on both sessions at once,
//! in large merged reads and writes. The standby (started with the primary, attached once
//! it serves checkpoints) is checkpointed while those tables are still being written, and
//! must reach lockstep: synchronised, the primary's Loc-RIB count and digest, both flows
//! protected.
//!
//! With 907fce3's driver (one-thread runtime, outputs after each merged input) the core
//! queued UPDATEs faster than the connection's writer handed them to the write-ahead. The
//! checkpoint counts queued octets, so the standby asked for octets the primary's engine
//! did not have yet and was refused ("Egress octets 57..48483 missed by the mirror: not
//! received yet (stream ends at 28460)"): the flow stayed unprotected, the standby held one
//! neighbour's routes, and no lockstep came (the demo timed out 4 of 4 times).
//!
//! The bgpd and understudy binaries come from the test executable's target directory.
#![allow(clippy::unwrap_used)]

use interop::demo::{self, DemoLab, Scenario, ScenarioOutcome};
use interop::failover::{find, wait_lockstep, SYNCHRONISED};
use serde_json::Value;

mod common;
use common::require_root;

/// The namespace prefix of this test.
const PREFIX: &str = "usft-";

/// Waits for lockstep, then reads both nodes' `understudy ha --json`.
#[derive(Default)]
struct Lockstep {
    /// Loc-RIB routes and digest in lockstep.
    lockstep: Option<(u64, String)>,
    /// The primary's and the standby's HA status then.
    status: Option<(Value, Value)>,
}

impl Scenario for Lockstep {
    fn name(&self) -> &str {
        "lockstep (no failure)"
    }

    fn wants_standby(&self) -> bool {
        true
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> interop::Result<ScenarioOutcome> {
        find(lab.speakers, "standby")?.wait_log(SYNCHRONISED, lab.timeout)?;
        let (routes, digest) = wait_lockstep(lab.speakers, lab.timeout)?;
        let p = find(lab.speakers, "primary")?.ha_status()?;
        let s = find(lab.speakers, "standby")?.ha_status()?;
        self.lockstep = Some((routes, digest));
        self.status = Some((p, s));
        Ok(ScenarioOutcome {
            summary: format!("standby in lockstep with {routes} Loc-RIB routes"),
            ..ScenarioOutcome::default()
        })
    }
}

#[test]
fn a_standby_reaches_lockstep_with_a_primary_that_sends_two_full_tables() {
    require_root();
    let mut opts = common::demo_options("demo.clab.yml", PREFIX, 0);
    // The whole table: half from each neighbour.
    opts.mrt_limit = None;
    if opts.mrt.is_none() {
        eprintln!(
            "skipped: the MRT dump {} is missing",
            interop::feed::DEFAULT_MRT
        );
        return;
    }
    let mut scenario = Lockstep::default();
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    let (routes, digest) = scenario.lockstep.expect("lockstep");
    let (p, s) = scenario.status.expect("HA status");
    println!("lockstep: {routes} routes, digest {digest}\nprimary: {p}\nstandby: {s}");
    // Every prefix of the dump (112,988), and the neighbours' own routes besides.
    assert!(report.fed_prefixes >= 112_988, "{}", report.fed_prefixes);
    assert!(routes > report.fed_prefixes as u64, "{routes} routes");
    assert_eq!(p["loc_rib_routes"].as_u64(), Some(routes), "{p}");
    assert_eq!(s["loc_rib_digest"].as_str(), Some(digest.as_str()), "{s}");
    let flows = s["flows"].as_array().cloned().unwrap_or_default();
    assert_eq!(flows.len(), 2, "{s}");
    for f in &flows {
        assert_eq!(f["protected"], true, "standby: {s}");
    }
    let pf = p["flows"].as_array().cloned().unwrap_or_default();
    assert_eq!(pf.len(), 2, "{p}");
    for f in &pf {
        assert_eq!(f["protected"], true, "primary: {p}");
    }
    assert_eq!(p["standbys"][0]["synchronised"], true, "{p}");
    // Each neighbour got the other's half through the primary.
    for n in &report.neighbors {
        assert!(n.prefixes_before >= Some(56_496), "{n:?}");
    }
}
