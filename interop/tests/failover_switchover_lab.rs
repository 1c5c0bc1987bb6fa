//! Lab tests of the planned switchover and failback (issue 7), run as root by
//! `cargo test --workspace --release`: FRR and BIRD neighbours of a bgpd primary and a bgpd
//! standby, each with a mirror port (interop/topologies/switchover.clab.yml).
//! `understudy switchover` on the primary hands the sessions to the standby; once the old
//! primary follows in lockstep, `understudy switchover` on the new primary hands them back.
//! Each neighbour must see nothing: no OPEN, NOTIFICATION, SYN, FIN or RST on its link
//! (capture), its session uptime unbroken, its Adj-RIB-In identical before and after;
//! `understudy ha --json` shows the roles swapped after each step, and the ping stream
//! through the router goes on. The error path: with no synchronised standby the command
//! fails with one line and nothing changes. After an unplanned failover, the killed primary's
//! box reboots (a fresh namespace: none of the dead bgpd's sockets), refuses to start with its
//! old primary configuration, rejoins as a standby and takes the role back by switchover, the
//! neighbours again seeing nothing.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use interop::demo::{self, DemoOptions, DemoReport};
use interop::switchover::{Refused, RejoinAfterFailover, Switchover};

mod common;
use common::require_root;

/// Prefixes of the dump fed (half to FRR, half to BIRD).
const SLICE: usize = 1000;

fn options(prefix: &str) -> DemoOptions {
    common::demo_options("switchover.clab.yml", prefix, SLICE)
}

fn assert_neighbours_saw_nothing(report: &DemoReport) {
    assert_eq!(report.neighbors.len(), 2, "{report:?}");
    for n in &report.neighbors {
        common::assert_saw_nothing(n);
        assert_eq!(n.prefixes_before, n.prefixes_after, "{n:?}");
        assert!(n.prefixes_before.unwrap_or(0) > 0, "{n:?}");
    }
}

#[test]
fn switchover_then_failback_frr_bird_see_nothing() {
    require_root();
    let opts = options("usswa-");
    let mut scenario = Switchover {
        failback: true,
        watch: Duration::from_secs(10),
        steps: Vec::new(),
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    println!("{}", demo::render(&report));
    assert_neighbours_saw_nothing(&report);

    assert_eq!(scenario.steps.len(), 2);
    let (there, back) = (&scenario.steps[0], &scenario.steps[1]);
    assert_eq!(
        (there.from.as_str(), there.to.as_str()),
        ("primary", "standby")
    );
    assert_eq!(
        (back.from.as_str(), back.to.as_str()),
        ("standby", "primary")
    );
    for s in [there, back] {
        // The command named the node that took over, and it took over every session.
        let (old, new) = &s.ha_after;
        assert_eq!(s.reply["node_id"], new["node_id"], "{s:?}");
        assert_eq!(s.reply["sessions"], 2, "{s:?}");
        assert_eq!(old["role"], "standby", "{s:?}");
        assert_eq!(new["role"], "primary", "{s:?}");
        let t = &new["last_takeover"];
        assert_eq!(
            (t["sessions"].as_u64(), t["failed"].as_u64()),
            (Some(2), Some(0)),
            "{s:?}"
        );
        assert!(s.takeover_ms.unwrap() > 0.0, "{s:?}");
    }
    assert_eq!(there.ha_after.1["node_id"], 2);
    assert_eq!(back.ha_after.1["node_id"], 1);

    // The data plane moved twice and came back each time.
    let loss = report.dataplane_loss_ms.unwrap();
    assert!(
        loss < 2_000.0,
        "ping stream loss {loss} ms over both switchovers"
    );
    println!(
        "switchover takeover_ms {:.1} (command to takeover complete {:.0} ms), failback takeover_ms {:.1} ({:.0} ms), dataplane_loss_ms {loss:.0} over both, pings {:?}/{:?}",
        there.takeover_ms.unwrap(),
        there.wall.as_secs_f64() * 1000.0,
        back.takeover_ms.unwrap(),
        back.wall.as_secs_f64() * 1000.0,
        report.pings_received,
        report.pings_sent,
    );
}

#[test]
fn switchover_without_synchronised_standby_is_refused() {
    require_root();
    let opts = options("usswb-");
    // `Refused` runs no standby: the primary has none to hand over to.
    let mut scenario = Refused::default();
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    let error = scenario.error.clone().expect("switchover must fail");
    assert_eq!(error.lines().count(), 1, "one line: {error:?}");
    assert!(
        error.contains("switchover refused, nothing changed: no synchronised standby"),
        "{error}"
    );
    let (before, after) = scenario.ha.clone().unwrap();
    assert_eq!(before["role"], "primary");
    assert_eq!(after["role"], "primary");
    assert_eq!(after["loc_rib_digest"], before["loc_rib_digest"]);
    assert_neighbours_saw_nothing(&report);
}

#[test]
fn killed_primary_rejoins_as_standby_and_fails_back() {
    require_root();
    let opts = options("ust2-");
    let mut scenario = RejoinAfterFailover {
        rejoin_config: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("topologies/switchover/primary-rejoin.toml"),
        fenced_addresses: vec![
            ("192.0.2.1/24".into(), "eth1".into()),
            ("198.51.100.1/25".into(), "eth2".into()),
        ],
        watch: Duration::from_secs(10),
        ..RejoinAfterFailover::default()
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    println!("{}", demo::render(&report));
    // Through the failure, the reboot, the rejoin and the failback: no OPEN, NOTIFICATION,
    // SYN, FIN or RST on either neighbour's link, uptime unbroken, Adj-RIB-In unchanged.
    assert_neighbours_saw_nothing(&report);
    assert!(scenario.failover_ms.unwrap() > 0.0);
    // The box came back with a fresh kernel: not one socket of the dead bgpd.
    assert_eq!(scenario.sockets_after_reboot, Vec::<String>::new());
    // Started first with its old configuration (role primary), it refused and said what
    // to do instead, and (the captures above) sent nothing to the neighbours.
    let refusal = scenario
        .old_config_refusal
        .clone()
        .expect("bgpd with the old primary configuration must refuse to start");
    assert!(
        refusal.contains("refusing to start as primary: another node answers on session address 192.0.2.1 port 179")
            && refusal.contains("role = \"standby\"")
            && refusal.contains("understudy switchover"),
        "{refusal}"
    );
    // It rejoined as a standby of the new primary and caught up: same Loc-RIB.
    let (rejoined, new_primary) = scenario.ha_rejoined.clone().unwrap();
    assert_eq!(
        (rejoined["role"].as_str(), rejoined["node_id"].as_u64()),
        (Some("standby"), Some(1)),
        "{rejoined}"
    );
    assert_eq!(rejoined["synchronised"], true, "{rejoined}");
    assert_eq!(
        (
            new_primary["role"].as_str(),
            new_primary["node_id"].as_u64()
        ),
        (Some("primary"), Some(2)),
        "{new_primary}"
    );
    assert_eq!(
        rejoined["loc_rib_digest"], new_primary["loc_rib_digest"],
        "{rejoined} {new_primary}"
    );
    assert!(
        rejoined["loc_rib_routes"].as_u64().unwrap() > 0,
        "{rejoined}"
    );
    // The failback gave the role back.
    let back = scenario.failback.clone().unwrap();
    assert_eq!(
        (back.from.as_str(), back.to.as_str()),
        ("standby", "primary")
    );
    let (old, new) = &back.ha_after;
    assert_eq!(
        (old["role"].as_str(), old["node_id"].as_u64()),
        (Some("standby"), Some(2))
    );
    assert_eq!(
        (new["role"].as_str(), new["node_id"].as_u64()),
        (Some("primary"), Some(1))
    );
    let t = &new["last_takeover"];
    assert_eq!(
        (t["sessions"].as_u64(), t["failed"].as_u64()),
        (Some(2), Some(0))
    );
    println!(
        "failover takeover_ms {:.1}, failback takeover_ms {:.1}, dataplane_loss_ms {:.0}",
        scenario.failover_ms.unwrap(),
        back.takeover_ms.unwrap(),
        report.dataplane_loss_ms.unwrap()
    );
}
