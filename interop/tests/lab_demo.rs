//! Lab test: `interop demo`'s scenario runner on demo.clab.yml (run as root): FRR and BIRD
//! fed a slice of the largest MRT dump (the demo itself feeds the whole table; a slice keeps
//! the test short), the understudy primary between them forwarding the ping stream.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::require_root;
use interop::demo::{self, DemoOptions, Observe};
use interop::NeighborKind;

/// The namespace prefix of these tests.
const PREFIX: &str = "usfo-";
/// Prefixes of the dump fed in the tests (half to FRR, half to BIRD).
const SLICE: usize = 2000;

fn options() -> DemoOptions {
    common::demo_options("demo.clab.yml", PREFIX, SLICE)
}

#[test]
fn demo_topology_runs_frr_and_bird_with_a_ping_stream_and_cleans_up() {
    require_root();
    let opts = options();
    let fed = opts.mrt.is_some();
    let mut steps = Vec::new();
    let report = demo::run(&opts, &mut Observe(Duration::from_secs(1)), &mut |s| {
        steps.push(s.to_string())
    })
    .unwrap();
    assert_eq!(report.topology, "demo");
    assert_eq!(report.neighbors.len(), 2);
    assert_eq!(report.fed_prefixes, if fed { SLICE } else { 0 });
    // Each neighbour gets the other's share and originated /25 plus our client LAN through
    // the understudy speaker.
    let expected = if fed { SLICE as u64 / 2 + 2 } else { 2 };
    for n in &report.neighbors {
        assert!(n.established_before && n.established_after, "{n:?}");
        assert_eq!(n.sessions.len(), 1, "one session with the speaker: {n:?}");
        assert_eq!(
            (n.prefixes_before, n.prefixes_after),
            (Some(expected), Some(expected)),
            "{n:?}"
        );
        assert_eq!(n.uptime_unbroken, Some(true), "{n:?}");
        assert_eq!(n.routes_unchanged, Some(true), "{n:?}");
        let w = n.wire.unwrap();
        assert_eq!(
            (w.opens, w.notifications, w.syns, w.fins_rsts),
            (0, 0, 0, 0),
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
    // No failure: every echo answered (the last may be in flight when the stream stops).
    let (sent, received) = (report.pings_sent.unwrap(), report.pings_received.unwrap());
    assert!(received + 1 >= sent, "{report:?}");
    assert!(report.dataplane_loss_ms.is_some(), "{report:?}");
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

/// The namespace prefix the labs get: [`PREFIX`], or the session's `US_LAB_PREFIX`,
/// which replaces every lab's.
fn prefix() -> String {
    std::env::var("US_LAB_PREFIX").unwrap_or_else(|_| PREFIX.to_string())
}

fn ns_of_process(pid: u32) -> Vec<String> {
    let prefix = prefix();
    interop::sweep::list_namespaces(&prefix)
        .unwrap()
        .into_iter()
        .filter(|n| interop::sweep::creator_pid(&prefix, n) == Some(pid))
        .collect()
}

/// The processes in the namespaces the demo `pid` created (`ip netns pids`).
fn processes_of_lab(pid: u32) -> Vec<u32> {
    ns_of_process(pid)
        .iter()
        .flat_map(|ns| {
            interop::cmd::run("ip", &["netns", "pids", ns])
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether process `pid` runs (exists and is no zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name in parentheses: `PID (COMM) S ...`.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z')
    })
}

#[test]
fn demo_binary_prints_one_json_object_last() {
    require_root();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_interop"))
        .args([
            "demo",
            "--json",
            "--observe",
            "0.5",
            "--mrt-limit",
            "200",
            "--prefix",
            PREFIX,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    let kinds: Vec<&str> = v["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["bird", "frr"]);
    let mut top: Vec<&String> = v.as_object().unwrap().keys().collect();
    top.sort();
    // The README's keys, and the evidence added beside them (README, "--json").
    assert_eq!(
        top,
        [
            "dataplane_loss_ms",
            "neighbors",
            "ping_received",
            "ping_sent",
            "sessions_failed",
            "sessions_taken_over",
            "takeover_ms",
        ]
    );
    for n in v["neighbors"].as_array().unwrap() {
        let mut keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "adj_rib_in_unchanged",
                "announced_after",
                "connections_dropped",
                "established_after",
                "established_before",
                "flapped_after",
                "kind",
                "name",
                "notifications",
                "prefixes_after",
                "prefixes_before",
                "updates_after",
                "uptime_unbroken",
                "withdrawn_after",
            ],
            "{n}"
        );
        assert_eq!(n["established_after"], true, "{n}");
        assert_eq!(n["notifications"], 0, "{n}");
    }
    assert!(v["takeover_ms"].is_null());
    // Observed, not failed over: nothing was taken over.
    assert!(v["sessions_taken_over"].is_null(), "{v}");
    assert!(v["dataplane_loss_ms"].is_number());
}

#[test]
fn demo_binary_cleans_up_on_ctrl_c() {
    demo_binary_cleans_up_on(libc::SIGINT);
}

#[test]
fn demo_binary_cleans_up_on_sigterm() {
    demo_binary_cleans_up_on(libc::SIGTERM);
}

/// Starts the demo, waits until its lab is up, sends `signal`, and checks that it exits
/// with 128 + `signal` and leaves no namespace and none of its lab's processes running.
fn demo_binary_cleans_up_on(signal: i32) {
    require_root();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_interop"))
        .args([
            "demo",
            "--observe",
            "60",
            "--mrt",
            "none",
            "--prefix",
            PREFIX,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until its daemons run (the lab is fully up), then send the signal.
    interop::poll::poll_until(
        "the demo's lab to be up",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let spaces = ns_of_process(pid);
            // The ping stream starts last, once the neighbours and the speaker run.
            let client = spaces.iter().find(|n| n.ends_with("-client"));
            let running = client
                .map(|n| {
                    interop::cmd::run("ip", &["netns", "pids", n])
                        .unwrap_or_default()
                        .lines()
                        .count()
                        >= 1
                })
                .unwrap_or(false);
            Ok(running.then_some(()))
        },
    )
    .unwrap();
    // Its processes (FRR, BIRD, the speaker, ping, captures): reparented to init when the
    // demo exits, one left behind would still run.
    let started = processes_of_lab(pid);
    // SAFETY: kill(2) on our own child process.
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + signal),
        "an interrupted demo exits with 128 + the signal"
    );
    assert!(
        ns_of_process(pid).is_empty(),
        "namespaces left: {:?}",
        ns_of_process(pid)
    );
    // BIRD, FRR's bgpd, the speaker, ping (and the captures).
    assert!(started.len() >= 4, "the lab's processes: {started:?}");
    interop::poll::poll_until(
        "the lab's processes to end",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let left: Vec<u32> = started.iter().copied().filter(|p| running(*p)).collect();
            Ok(left.is_empty().then_some(()))
        },
    )
    .unwrap_or_else(|e| {
        let left: Vec<u32> = started.iter().copied().filter(|p| running(*p)).collect();
        panic!("processes of the lab left running: {left:?} of {started:?}: {e}")
    });
}
