//! bgpd's kernel FIB across a restart (issue 5's adopt mode in the daemon, issue 7): the
//! routes an earlier run installed keep forwarding while bgpd is down and while it comes
//! back, none is deleted and added again, and a route withdrawn meanwhile is removed once the
//! new run has converged (End-of-RIB from every neighbour). And a primary and a standby that
//! share one kernel (`[ha] fib = "adopt"`): the standby writes nothing while it follows, and a
//! switchover hands it the FIB without touching a route. Run as root.
//!
//! The bgpd binary is taken from the test executable's target directory (`target/<profile>/`);
//! `cargo test --workspace` builds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use interop::neighbor::frr::Frr;
use interop::{BgpConfig, Lab, Neighbor, Netns, PeerConfig};
use serde_json::Value;

mod common;
use common::{binary, ip, net, require_root, start_bgpd};

const PREFIX: &str = "us6d-";
const TIMEOUT: Duration = Duration::from_secs(45);
const FRR_AS: u32 = 65001;
const FRR4: &str = "192.0.2.1";
const DUT4: &str = "192.0.2.2";
/// Announced by FRR throughout.
const KEPT: &str = "198.51.100.0/25";
/// Withdrawn by FRR while bgpd is down.
const GONE: &str = "198.51.100.128/25";
/// A route the test adds itself to see that the route monitor is live.
const MARK: &str = "203.0.113.99/32";

/// FRR and the daemon under test joined by a veth.
fn lab() -> (Lab, Netns) {
    lab_with(&[])
}

/// [`lab`], the box holding `own` on its link before the session address (its own address:
/// the link's route stays when the session address leaves at a switchover).
fn lab_with(own: &[&str]) -> (Lab, Netns) {
    require_root();
    let mut lab = Lab::new(PREFIX).expect("lab");
    let frr = lab.add_namespace("frr").expect("namespace frr");
    let dut = lab.add_namespace("dut").expect("namespace dut");
    lab.add_veth(&frr, "eth0", &dut, "eth0").expect("veth");
    for a in own {
        lab.add_address(&dut, "eth0", net(&format!("{a}/24")))
            .unwrap();
    }
    for (ns, v4) in [(&frr, FRR4), (&dut, DUT4)] {
        lab.add_address(ns, "eth0", net(&format!("{v4}/24")))
            .unwrap();
    }
    (lab, dut)
}

/// bgpd with the kernel FIB; the convergence timeout is far beyond the test's waits, so only
/// End-of-RIB can end the adoption in time.
fn dut_config(nexthop_objects: bool) -> String {
    format!(
        "router_id = \"{DUT4}\"\nlocal_as = 65002\nlisten_addresses = [\"{DUT4}\"]\n\
         \n[[neighbor]]\naddress = \"{FRR4}\"\nremote_as = {FRR_AS}\nhold_time = 9\n\
         connect_retry = 1\nlocal_address = \"{DUT4}\"\nfamilies = [\"ipv4/unicast\"]\n\
         import = [\"all\"]\nexport = [\"all\"]\n\
         \n[policy.policies.all]\ndefault = \"accept\"\n\
         \n[fib]\nenabled = true\nnexthop_objects = {nexthop_objects}\n\
         convergence_timeout_secs = 600\n"
    )
}

fn frr_config() -> BgpConfig {
    BgpConfig::new(FRR_AS, FRR4.parse().unwrap())
        .peer(
            PeerConfig::new(ip(DUT4), 65002)
                .local(ip(FRR4))
                .timers(Duration::from_secs(9), Duration::from_secs(3)),
        )
        .network(net(KEPT))
        .network(net(GONE))
        .graceful_restart(true)
}

/// Our routes in `dut`'s kernel (`ip -4 route show proto bgp`), one line each.
fn bgp_routes(dut: &Netns) -> Vec<String> {
    dut.ip(&["-4", "route", "show", "proto", "bgp"])
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn holds(routes: &[String], prefix: &str) -> bool {
    routes
        .iter()
        .any(|l| l.split_whitespace().next() == Some(prefix))
}

/// Polls `check` every 100 ms until it is true or `TIMEOUT` passes (then panics).
fn wait(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_of(lab: &Lab, name: &str) -> String {
    std::fs::read_to_string(lab.workdir().join(format!("{name}.log"))).unwrap_or_default()
}

/// FRR stops announcing `prefix` (bgpd is down: it learns it only from the new session).
/// Waits until FRR's two prefixes are in the kernel, starts `ip monitor route` ("monitor")
/// and waits until it is live (MARK added again until seen: the monitor subscribes some time
/// after it is spawned); returns the BGP routes as they were before the monitor started.
fn both_prefixes_then_monitor(lab: &mut Lab, dut: &Netns) -> Vec<String> {
    wait("FRR's two prefixes in the kernel", || {
        let r = bgp_routes(dut);
        holds(&r, KEPT) && holds(&r, GONE)
    });
    let before = bgp_routes(dut);
    lab.spawn(dut, "monitor", "ip", &["-o", "monitor", "route"])
        .expect("ip monitor");
    wait("the route monitor to see the mark", || {
        let _ = dut.ip(&["route", "del", MARK]);
        dut.ip(&["route", "add", "blackhole", MARK]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        log_of(lab, "monitor").contains(MARK.trim_end_matches("/32"))
    });
    before
}

fn frr_withdraw(frr: &Frr, prefix: &str) {
    common::frr_network(frr.dir(), FRR_AS, prefix, false).expect("FRR withdraws the prefix");
}

fn restart_keeps_routes_and_converges(nexthop_objects: bool) {
    let (mut lab, dut) = lab();
    let frr = Frr::start(&lab, "frr", &frr_config()).expect("start FRR");
    let config = dut_config(nexthop_objects);
    let first = start_bgpd(&mut lab, &dut, "bgpd", &config);
    let before = both_prefixes_then_monitor(&mut lab, &dut);

    // bgpd dies the way a process dies: its routes stay and forward.
    assert!(lab.kill_process(first), "bgpd is the lab's");
    assert_eq!(bgp_routes(&dut), before, "nothing removed when bgpd died");
    frr_withdraw(&frr, GONE);

    // The new run adopts them, learns KEPT again, and removes GONE at convergence.
    start_bgpd(&mut lab, &dut, "bgpd2", &config);
    wait("the withdrawn prefix removed after convergence", || {
        !holds(&bgp_routes(&dut), GONE)
    });
    let after = bgp_routes(&dut);
    let kept: Vec<&String> = before.iter().filter(|l| l.starts_with(KEPT)).collect();
    assert_eq!(
        after.iter().collect::<Vec<_>>(),
        kept,
        "only the kept route, unchanged"
    );
    let log = log_of(&lab, "bgpd2");
    assert!(
        log.contains("kernel FIB converged (End-of-RIB from every neighbour)"),
        "converged on End-of-RIB: {log}"
    );
    // The kept route was never touched: no deletion, no replacement, from the kill on.
    let monitor = log_of(&lab, "monitor");
    let touched: Vec<&str> = monitor
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == KEPT))
        .collect();
    assert!(touched.is_empty(), "the kept route changed: {touched:?}");
    assert!(
        monitor
            .lines()
            .any(|l| l.starts_with("Deleted") && l.contains(GONE)),
        "{monitor}"
    );
    drop(frr);
}

#[test]
fn a_restart_keeps_the_routes_and_removes_a_withdrawn_one_at_convergence() {
    restart_keeps_routes_and_converges(true);
}

#[test]
fn a_restart_with_plain_routes_keeps_them_and_removes_a_withdrawn_one() {
    restart_keeps_routes_and_converges(false);
}

/// The shared box's own address (the session address DUT4 moves between the daemons).
const BOX4: &str = "192.0.2.3";
/// The admin addresses of the primary and the standby sharing the box.
const ADMIN_PRIMARY: &str = "127.0.0.1:50051";
const ADMIN_STANDBY: &str = "127.0.0.1:50052";

/// bgpd in the shared box: `ha` is its `[ha]` role part; the FIB is shared (`fib = "adopt"`).
fn shared_config(admin: &str, ha: &str) -> String {
    format!(
        "router_id = \"{DUT4}\"\nlocal_as = 65002\nlisten_addresses = [\"{DUT4}\"]\n\
         admin_address = \"{admin}\"\n\
         \n[[neighbor]]\naddress = \"{FRR4}\"\nremote_as = {FRR_AS}\nhold_time = 9\n\
         connect_retry = 1\nlocal_address = \"{DUT4}\"\nfamilies = [\"ipv4/unicast\"]\n\
         import = [\"all\"]\nexport = [\"all\"]\n\
         \n[policy.policies.all]\ndefault = \"accept\"\n\
         \n[fib]\nenabled = true\n\
         \n[ha]\n{ha}mirror_interface = \"eth0\"\nsession_interface = \"eth0\"\nfib = \"adopt\"\n"
    )
}

/// `understudy --admin ADMIN --json ARGS` in `ns`.
fn cli(ns: &Netns, admin: &str, args: &[&str]) -> Result<String, String> {
    let mut full = vec!["--admin", admin, "--json"];
    full.extend_from_slice(args);
    let out = ns
        .exec_output(binary("understudy").to_str().unwrap(), &full)
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ha(ns: &Netns, admin: &str) -> Value {
    cli(ns, admin, &["ha"])
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// A primary and a standby in one network namespace share its kernel FIB: the primary
/// installs FRR's routes, the standby (`[ha] fib = "adopt"`) writes none while it follows,
/// and `understudy switchover` hands it the routes without one being touched (adopted,
/// compared, kept: `ip monitor route` sees nothing of them). The new primary then listens
/// on the session address (after the old primary let it go) and writes the FIB: a prefix FRR
/// withdraws leaves the kernel.
#[test]
fn a_standby_sharing_the_kernel_takes_the_fib_over_by_adopt_at_a_switchover() {
    let (mut lab, dut) = lab_with(&[BOX4]);
    let mut frr = Frr::start(&lab, "frr", &frr_config()).expect("start FRR");
    let primary = shared_config(
        ADMIN_PRIMARY,
        "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"127.0.0.1:50061\"\n",
    );
    start_bgpd(&mut lab, &dut, "bgpd-primary", &primary);
    let before = both_prefixes_then_monitor(&mut lab, &dut);

    let standby = shared_config(
        ADMIN_STANDBY,
        "role = \"standby\"\nnode_id = 2\nprimary = \"http://127.0.0.1:50061\"\n\
         checkpoint_address = \"127.0.0.1:50062\"\n",
    );
    let new_primary = start_bgpd(&mut lab, &dut, "bgpd-standby", &standby);
    wait("the standby synchronised", || {
        let v = ha(&dut, ADMIN_STANDBY);
        v["role"] == "standby" && v["synchronised"] == true
    });
    cli(&dut, ADMIN_PRIMARY, &["switchover"]).expect("switchover");
    wait("the standby to be the primary", || {
        ha(&dut, ADMIN_STANDBY)["role"] == "primary"
    });
    wait("the standby to take the kernel FIB over", || {
        log_of(&lab, "bgpd-standby").contains("kernel FIB taken over from the primary")
    });
    assert_eq!(
        bgp_routes(&dut),
        before,
        "the same routes after the switchover"
    );
    let monitor = log_of(&lab, "monitor");
    let touched: Vec<&str> = monitor
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == KEPT || w == GONE))
        .collect();
    assert!(
        touched.is_empty(),
        "routes changed from the standby's start to after the switchover: {touched:?}"
    );
    let log = log_of(&lab, "bgpd-standby");
    let line = log
        .lines()
        .find(|l| l.contains("kernel FIB taken over from the primary"))
        .unwrap();
    assert!(
        line.contains("adopted=2") && line.contains("wanted=2") && line.contains("removed=0"),
        "{line}"
    );

    // The new primary listens for BGP connections: the one listener on the box is its own
    // (the old primary's, still bound for a moment after the handover, is gone).
    let pid = format!("pid={new_primary},");
    wait("the new primary listening on the session address", || {
        let out = dut
            .exec("ss", &["-Hltnp", "sport = :179"])
            .unwrap_or_default();
        out.lines().count() == 1 && out.contains(&pid)
    });

    // The new primary writes the FIB now; the old one, a standby again, does not.
    frr_withdraw(&frr, GONE);
    wait("the withdrawn prefix removed by the new primary", || {
        !holds(&bgp_routes(&dut), GONE)
    });
    assert!(
        holds(&bgp_routes(&dut), KEPT),
        "the kept route left: {:?}\nnew primary:\n{}\nold primary:\n{}",
        bgp_routes(&dut),
        log_of(&lab, "bgpd-standby"),
        log_of(&lab, "bgpd-primary")
    );
    // FRR saw a takeover, not a new session.
    let st = frr
        .wait_established(ip(DUT4), TIMEOUT)
        .expect("FRR Established");
    assert_eq!(st.established_count, Some(1), "{st:?}");
    assert_eq!(st.dropped_count, Some(0), "{st:?}");
}
