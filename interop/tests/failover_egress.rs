//! Lab tests of what happens at and after the takeover (issue 7), run as root on the
//! failover lab (interop/topologies/failover.clab.yml: FRR, BIRD and GoBGP neighbours of a
//! bgpd primary followed by a bgpd standby on a mirror port), with the standby's failure
//! detection slowed to 4 s so that a stopped primary is not declared failed before the
//! test has set up the window it needs:
//!
//! - the Adj-RIB-Out difference: the primary is stopped (SIGSTOP: its kernel still
//!   acknowledges, its bgpd computes nothing), FRR announces a new prefix, the standby (in
//!   lockstep from the mirror) computes the UPDATEs for BIRD and GoBGP that the primary never
//!   sent; then the box dies. After the takeover BIRD and GoBGP must hold the prefix, each
//!   having received exactly one more UPDATE (nothing the primary had sent is sent again),
//!   FRR none, and no session may notice anything (no OPEN, NOTIFICATION, SYN, FIN, RST);
//! - a clean stop: the primary gets SIGTERM (Cease on every session), then its box goes
//!   away; the standby must not rebuild the closed sessions, but take the primary's role and
//!   addresses, and every neighbour must be Established with it again, with its routes.
//!
//! The bgpd binary comes from the test executable's target directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use interop::demo::{self, DemoLab, DemoOptions, Scenario, ScenarioOutcome};
use interop::failover::{find, wait_lockstep, SYNCHRONISED, TAKEOVER_COMPLETE};
use interop::LabError;
use ipnetwork::IpNetwork;

mod common;
use common::require_root;

/// The namespace prefix of these tests.
const PREFIX: &str = "useg-";
/// Prefixes of the dump fed (half to FRR, half to BIRD).
const SLICE: usize = 400;
/// The session address of the primary (then of the standby).
const SESSION: &str = "192.0.2.1";
/// The prefix FRR announces while the primary is stopped.
const NEW_PREFIX: &str = "203.0.113.128/25";
/// FRR's AS (interop/topologies/demo/frr.conf).
const FRR_AS: u32 = 65011;

/// A copy of the failover topology in a fresh directory, with the standby's detection
/// at 40 x 100 ms.
fn topology() -> (PathBuf, tempdir::Dir) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let dir = tempdir::Dir::new(&format!("/tmp/{PREFIX}topo-{}", std::process::id()));
    for sub in ["demo", "failover"] {
        std::fs::create_dir_all(dir.0.join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.0.join(sub).join(e.file_name())).unwrap();
        }
    }
    let standby = dir.0.join("failover/standby.toml");
    let text = std::fs::read_to_string(&standby).unwrap();
    assert!(text.contains("[ha]"));
    std::fs::write(&standby, format!("{text}detect_multiplier = 40\n")).unwrap();
    // FRR sends a new route at once (its eBGP advertisement interval is 30 s by default).
    let frr = dir.0.join("demo/frr.conf");
    let text = std::fs::read_to_string(&frr).unwrap();
    let line = " neighbor 192.0.2.1 timers connect 1\n";
    assert!(text.contains(line));
    std::fs::write(
        &frr,
        text.replace(
            line,
            &format!("{line} neighbor 192.0.2.1 advertisement-interval 0\n"),
        ),
    )
    .unwrap();
    let yml = dir.0.join("failover.clab.yml");
    std::fs::copy(src.join("failover.clab.yml"), &yml).unwrap();
    (yml, dir)
}

mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(path: &str) -> Dir {
            let _ = std::fs::remove_dir_all(path);
            std::fs::create_dir_all(path).unwrap();
            Dir(path.into())
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn options(topology: PathBuf) -> DemoOptions {
    DemoOptions {
        // The scenarios change the neighbours' routes on purpose; they check them.
        compare_routes: false,
        ..common::demo_options(topology, PREFIX, SLICE)
    }
}

fn session() -> IpAddr {
    SESSION.parse().unwrap()
}

/// Sends `signal` to the process `pid` (one we started).
fn signal(pid: u32, signal: &str) {
    let st = std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -s {signal} {pid}");
}

/// Polls `check` every 50 ms until it gives a value, for at most `timeout`.
fn poll<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, LabError> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= end {
            return Err(LabError::Timeout {
                what: what.to_string(),
                waited: timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// UPDATEs each neighbour received on its session with the speaker.
fn updates_received(lab: &mut DemoLab<'_>) -> Vec<(String, Option<u64>)> {
    lab.rt
        .neighbors
        .iter_mut()
        .map(|(name, n)| {
            let s = n.session(session()).ok();
            (name.clone(), s.and_then(|s| s.updates_received))
        })
        .collect()
}

/// The Adj-RIB-Out difference window (module documentation).
struct EgressWindow {
    /// (neighbour, UPDATEs received before, after).
    updates: Vec<(String, Option<u64>, Option<u64>)>,
    /// Neighbours holding the new prefix after the takeover.
    holding: Vec<String>,
}

impl Scenario for EgressWindow {
    fn name(&self) -> &str {
        "primary stopped while a route arrives; the box dies; the standby sends the difference"
    }

    fn wants_standby(&self) -> bool {
        true
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> interop::Result<ScenarioOutcome> {
        let timeout = lab.timeout;
        find(lab.speakers, "standby")?.wait_log(SYNCHRONISED, timeout)?;
        let (routes, _) = wait_lockstep(lab.speakers, timeout)?;
        let before = updates_received(lab);
        let pid = find(lab.speakers, "primary")?.process.pid();
        signal(pid, "STOP");
        (lab.progress)(&format!("primary bgpd (pid {pid}) stopped"));
        let frr_dir = lab.rt.lab.subdir("frr")?;
        common::frr_network(&frr_dir, FRR_AS, NEW_PREFIX, true)?;
        // The standby took FRR's UPDATE in from the mirror.
        let standby = find(lab.speakers, "standby")?;
        let mut last = serde_json::Value::Null;
        eprintln!("network command done at {:?}", std::time::SystemTime::now());
        let got = poll(
            "the standby's Loc-RIB to hold the new prefix",
            Duration::from_secs(10),
            || {
                last = standby.ha_status().ok()?;
                (last["loc_rib_routes"].as_u64()? == routes + 1).then_some(())
            },
        );
        if got.is_err() {
            for e in standby.events().iter().rev().take(30).rev() {
                eprintln!("standby: {e}");
            }
            let shown = common::vtysh(
                &frr_dir,
                &[
                    "show bgp neighbors 192.0.2.1",
                    &format!("show bgp ipv4 unicast {NEW_PREFIX}"),
                ],
            );
            eprintln!("frr: {shown:?}");
            // What the stopped primary's kernel holds unread from each neighbour.
            if let Ok(ns) = lab.rt.ns("primary") {
                eprintln!("primary sockets: {:?}", ns.exec("ss", &["-tn"]));
            }
        }
        assert!(got.is_ok(), "{got:?}: standby {last}");
        assert_eq!(last["role"], "standby", "declared failed too early: {last}");
        (lab.progress)("the standby has the new route; the primary never sent it");
        let primary_node = find(lab.speakers, "primary")?.node.clone();
        lab.rt.cut_links(&primary_node)?;
        find(lab.speakers, "primary")?.process.kill();
        let done = find(lab.speakers, "standby")?.wait_log(TAKEOVER_COMPLETE, timeout)?;
        (lab.progress)(&format!("standby: {done}"));
        let prefix: IpNetwork = NEW_PREFIX.parse().unwrap();
        // BIRD and GoBGP get the prefix (FRR announced it: it is not sent back).
        for name in ["bird", "gobgp"] {
            let n = lab.rt.neighbor(name).expect("neighbour");
            poll(
                &format!("{name} to hold {NEW_PREFIX}"),
                Duration::from_secs(15),
                || {
                    n.routes_received(session())
                        .ok()
                        .filter(|r| r.contains(&prefix))
                },
            )?;
            self.holding.push(name.to_string());
        }
        // Anything sent twice would arrive with the difference: give it time to show.
        std::thread::sleep(Duration::from_secs(3));
        let after = updates_received(lab);
        self.updates = before
            .into_iter()
            .zip(after)
            .map(|((name, b), (_, a))| (name, b, a))
            .collect();
        Ok(ScenarioOutcome {
            takeover: demo_takeover(&done),
            summary: "primary stopped, new route, box died, standby took over".into(),
            ..ScenarioOutcome::default()
        })
    }
}

fn demo_takeover(done: &serde_json::Value) -> Option<Duration> {
    interop::speaker::field_f64(done, "takeover_ms").map(|m| Duration::from_secs_f64(m / 1000.0))
}

/// Cannot pass as designed (2026-11-30: three runs, the socket queues read in the last): FRR never sends the new
/// route to the stopped primary. The standby takes in every neighbour message from the
/// mirror while the primary is stopped (it processed each neighbour's NOTIFICATION), and the
/// stopped primary's kernel holds unread from FRR exactly KEEPALIVEs and the NOTIFICATION
/// (Recv-Q 116 = 5 x 19 + 21, no UPDATE), although FRR's advertisement interval to it is 0.
/// About 8 s after the stop the neighbours' 9 s hold timers expire (the stopped primary sends
/// no KEEPALIVE) and all three sessions end; the standby rightly does not take over a
/// primary whose kernel still answers its probe. The difference itself ("UPDATEs the primary
/// computed but never wrote") is covered with two speakers in bgpd's
/// `takeover::difference_tests`; a lab version needs a primary that computes without writing
/// (a test hook), not a stopped one.
#[test]
#[ignore = "FRR never sends the route to a SIGSTOPped primary before the 9 s hold timers end every session (see the doc comment)"]
fn updates_the_dead_primary_never_sent_reach_the_neighbours_once() {
    require_root();
    let (yml, _dir) = topology();
    let opts = options(yml);
    let mut scenario = EgressWindow {
        updates: Vec::new(),
        holding: Vec::new(),
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    println!("{}", demo::render(&report));
    for n in &report.neighbors {
        common::assert_session_unbroken(n);
    }
    assert_eq!(scenario.holding, ["bird", "gobgp"]);
    println!("UPDATEs received (before, after): {:?}", scenario.updates);
    for (name, before, after) in &scenario.updates {
        let (Some(b), Some(a)) = (before, after) else {
            panic!("{name} reports no UPDATE counter");
        };
        let expected = if name == "frr" { 0 } else { 1 };
        assert_eq!(
            a - b,
            expected,
            "{name}: UPDATEs received across the takeover (only the difference: the new prefix)"
        );
    }
    for n in &report.neighbors {
        let grew = if n.name == "frr" { 0 } else { 1 };
        assert_eq!(
            n.prefixes_after,
            n.prefixes_before.map(|p| p + grew),
            "{n:?}"
        );
    }
}

/// A clean stop of the primary (module documentation).
struct CleanStop {
    /// The standby's log line about the closed sessions.
    closed_line: Option<serde_json::Value>,
    /// Its `understudy ha --json` at the end.
    ha: Option<serde_json::Value>,
    /// Per neighbour: Established again with the session address, and its prefix count.
    again: Vec<(String, bool, usize)>,
}

impl Scenario for CleanStop {
    fn name(&self) -> &str {
        "primary stopped cleanly (SIGTERM), its box goes away"
    }

    fn wants_standby(&self) -> bool {
        true
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> interop::Result<ScenarioOutcome> {
        let timeout = lab.timeout;
        find(lab.speakers, "standby")?.wait_log(SYNCHRONISED, timeout)?;
        let (routes, _) = wait_lockstep(lab.speakers, timeout)?;
        let primary = find(lab.speakers, "primary")?;
        let pid = primary.process.pid();
        signal(pid, "TERM");
        poll("the primary bgpd to exit", Duration::from_secs(10), || {
            (!Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z ")))
            .then_some(())
        })?;
        // The operator takes the box away (or a fencing command its addresses).
        let primary_node = primary.node.clone();
        lab.rt.cut_links(&primary_node)?;
        (lab.progress)("primary bgpd stopped with SIGTERM, its links then cut");
        let standby = find(lab.speakers, "standby")?;
        let done = standby.wait_log(TAKEOVER_COMPLETE, timeout)?;
        self.closed_line = standby.events().into_iter().find(|e| {
            interop::speaker::message(e)
                .is_some_and(|m| m.starts_with("ha: the primary closed these sessions"))
        });
        for (name, n) in lab.rt.neighbors.iter_mut() {
            let ok = poll(
                &format!("{name} Established with the standby"),
                Duration::from_secs(30),
                || {
                    let s = n.session(session()).ok()?;
                    let r = n.routes_received(session()).ok()?;
                    (s.established && r.len() as u64 >= routes / 2).then_some(r.len())
                },
            );
            self.again
                .push((name.clone(), ok.is_ok(), ok.unwrap_or_default()));
        }
        self.ha = find(lab.speakers, "standby")?.ha_status().ok();
        Ok(ScenarioOutcome {
            takeover: demo_takeover(&done),
            summary: "clean stop; the standby took the role and addresses".into(),
            ..ScenarioOutcome::default()
        })
    }
}

#[test]
fn a_clean_stop_hands_the_role_and_addresses_to_the_standby() {
    require_root();
    let (yml, _dir) = topology();
    let opts = options(yml);
    let mut scenario = CleanStop {
        closed_line: None,
        ha: None,
        again: Vec::new(),
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    println!("{}", demo::render(&report));
    let line = scenario
        .closed_line
        .expect("the standby logs that the primary closed its sessions");
    assert_eq!(
        interop::speaker::field_f64(&line, "sessions"),
        Some(3.0),
        "{line}"
    );
    let ha = scenario.ha.expect("understudy ha on the new primary");
    // The new primary (standalone when it has no checkpoint_address of its own to serve
    // standbys from, as in this lab).
    assert!(
        ha["role"] == "primary" || ha["role"] == "standalone",
        "{ha}"
    );
    assert_eq!(ha["last_takeover"]["sessions"], 0, "nothing rebuilt: {ha}");
    assert_eq!(scenario.again.len(), 3);
    for (name, established, prefixes) in &scenario.again {
        assert!(established, "{name} not Established again with {SESSION}");
        assert!(*prefixes > 0, "{name}");
    }
    for n in &report.neighbors {
        assert!(n.established_after, "{n:?}");
        assert_eq!(n.prefixes_after, n.prefixes_before, "{n:?}");
    }
}
