//! Shared set-up of the lab tests: two hosts joined by a veth pair, with addresses.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::PathBuf;

use interop::{Lab, Netns};

/// The project prefix of every namespace these tests create.
pub const PREFIX: &str = "uslab-";

/// Addresses of side A and B on the shared link.
pub const A4: &str = "192.0.2.1";
pub const B4: &str = "192.0.2.2";
pub const A6: &str = "2001:db8::1";
pub const B6: &str = "2001:db8::2";

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub fn net(s: &str) -> ipnetwork::IpNetwork {
    s.parse().expect("test prefix")
}

/// `target/<profile>/NAME`, next to the directory holding this test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p bgpd`, or run `cargo test --workspace`)",
        path.display()
    );
    path
}

/// The lab tests need root (namespaces, veth, daemons): fail loudly otherwise.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the lab tests must run as root (network namespaces)"
    );
}

/// Writes `config` to `NAME.toml` in the lab's work directory, checks it with
/// `bgpd --check-config` (a refusal fails the test with bgpd's error) and starts bgpd in `ns`
/// as process `name`; returns its PID.
pub fn start_bgpd(lab: &mut Lab, ns: &Netns, name: &str, config: &str) -> u32 {
    let path = lab.workdir().join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let bgpd = binary("bgpd");
    let out = std::process::Command::new(&bgpd)
        .arg("--check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bgpd --check-config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.spawn(
        ns,
        name,
        bgpd.to_str().unwrap(),
        &["--config", path.to_str().unwrap()],
    )
    .expect("start bgpd")
}

/// A new lab with nodes `a` and `b` joined by a veth (`eth0` on both sides), addressed
/// A4/A6 and B4/B6.
pub fn two_hosts(a: &str, b: &str) -> (Lab, Netns, Netns) {
    require_root();
    let mut lab = Lab::new(PREFIX).expect("lab");
    let na = lab.add_namespace(a).expect("namespace a");
    let nb = lab.add_namespace(b).expect("namespace b");
    lab.add_veth(&na, "eth0", &nb, "eth0").expect("veth");
    for (ns, v4, v6) in [(&na, A4, A6), (&nb, B4, B6)] {
        lab.add_address(ns, "eth0", format!("{v4}/24").parse().unwrap())
            .expect("v4 address");
        lab.add_address(ns, "eth0", format!("{v6}/64").parse().unwrap())
            .expect("v6 address");
    }
    (lab, na, nb)
}

pub mod nsr;

/// `interop demo`'s options for the lab tests: `topology` (a path, or a file name under
/// `interop/topologies/`), namespaces named `prefix`..., 60 s to reach each state, the first
/// `slice` prefixes of the shared MRT dump fed (no feed when the dump is missing), bgpd next
/// to the test executable, every neighbour's Adj-RIB-In compared before and after.
pub fn demo_options(
    topology: impl AsRef<std::path::Path>,
    prefix: &str,
    slice: usize,
) -> interop::demo::DemoOptions {
    interop::demo::DemoOptions {
        topology: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("topologies")
            .join(topology),
        prefix: prefix.to_string(),
        timeout: std::time::Duration::from_secs(60),
        mrt: Some(interop::feed::DEFAULT_MRT.into()).filter(|p: &PathBuf| p.exists()),
        mrt_limit: Some(slice),
        bgpd: None,
        compare_routes: true,
    }
}

/// What a neighbour must have seen of a failover, a switchover or a cut checkpoint link:
/// its session unbroken ([`assert_session_unbroken`]) and its Adj-RIB-In unchanged.
pub fn assert_saw_nothing(n: &interop::demo::NeighborReport) {
    assert_session_unbroken(n);
    assert_eq!(n.routes_unchanged, Some(true), "{n:?}");
}

/// No prefix flapped on the neighbour's link: the router withdrew no prefix it then
/// announced again after the failure (an Adj-RIB-In compared only before and after does
/// not show it).
pub fn assert_no_flap(n: &interop::demo::NeighborReport) {
    let w = n.wire.unwrap();
    assert_eq!(
        w.flapped_after, 0,
        "{}: the router withdrew {} prefixes and announced {} in {} UPDATEs after the failure; \
         {} of them withdrawn, then announced again: {n:?}",
        n.name, w.withdrawn_after, w.announced_after, w.updates_after, w.flapped_after
    );
}

/// A neighbour's session survived the scenario: Established before and after, no OPEN,
/// NOTIFICATION, SYN, FIN or RST on its link (from the capture), its session uptime
/// unbroken, no connection dropped and no NOTIFICATION counted, and no prefix flapped
/// ([`assert_no_flap`]). Its routes may have changed
/// (the scenario announced some).
pub fn assert_session_unbroken(n: &interop::demo::NeighborReport) {
    assert!(n.established_before && n.established_after, "{n:?}");
    let w = n.wire.unwrap();
    assert_eq!(
        (w.opens, w.notifications, w.syns, w.fins_rsts),
        (0, 0, 0, 0),
        "{}: OPEN, NOTIFICATION, SYN, FIN/RST on its link: {n:?}",
        n.name
    );
    assert_eq!(n.uptime_unbroken, Some(true), "{n:?}");
    assert_eq!(n.connections_dropped, Some(0), "{n:?}");
    assert_eq!(n.notifications, Some(0), "{n:?}");
    assert_no_flap(n);
}

pub mod rawpeer_ha;

/// Polls `check` every `every` until it gives `Some` or `timeout` passes; then panics with
/// `what` and the last error `check` gave.
pub fn wait_for<T>(
    what: &str,
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut check: impl FnMut() -> Result<Option<T>, String>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match check() {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) => last = e,
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; last: {last}"
        );
        std::thread::sleep(every);
    }
}

/// `understudy --json ARGS` in `ns` (against the default admin address): its standard
/// output, or its standard error as the error.
pub fn cli_text(ns: &Netns, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ns
        .exec_output(binary("understudy").to_str().unwrap(), &all)
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `understudy --json ARGS` in `ns`, one JSON document.
pub fn cli(ns: &Netns, args: &[&str]) -> Result<serde_json::Value, String> {
    serde_json::from_str(&cli_text(ns, args)?).map_err(|e| e.to_string())
}

/// Neighbour `addr` as `understudy --json neighbors` in `ns` shows it.
pub fn neighbor(ns: &Netns, addr: &str) -> Result<serde_json::Value, String> {
    let v = cli(ns, &["neighbors"])?;
    let list = v
        .as_array()
        .cloned()
        .or_else(|| v["neighbors"].as_array().cloned());
    list.and_then(|l| l.into_iter().find(|n| n["address"] == addr))
        .ok_or_else(|| format!("no neighbour {addr} in {v}"))
}

/// The last 40 lines of the lab process `name`'s log (`{workdir}/{name}.log`).
pub fn log_tail(lab: &Lab, name: &str) -> String {
    let text =
        std::fs::read_to_string(lab.workdir().join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `tc` on `port`'s ingress in `sw`: every frame arriving on it is mirrored to `mon`.
pub fn mirror(sw: &Netns, port: &str, mon: &str) {
    let qdiscs = sw.tc(&["qdisc", "show", "dev", port]).unwrap();
    if !qdiscs.contains("ingress") {
        sw.tc(&["qdisc", "add", "dev", port, "ingress"]).unwrap();
    }
    sw.tc(&[
        "filter", "add", "dev", port, "parent", "ffff:", "prio", "10", "protocol", "all", "u32",
        "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", mon,
    ])
    .unwrap();
}

/// `vtysh` against FRR's bgpd whose vty sockets are in `vty_dir`, running `commands` in
/// order (each a `-c`); vtysh's output.
pub fn vtysh(vty_dir: &std::path::Path, commands: &[&str]) -> interop::Result<String> {
    let d = vty_dir.to_string_lossy().into_owned();
    let mut args = vec!["--vty_socket", d.as_str(), "-d", "bgpd"];
    for c in commands {
        args.extend(["-c", c]);
    }
    interop::cmd::run("vtysh", &args)
}

/// FRR (its vty sockets in `vty_dir`, `router bgp asn`) starts (`announce`) or stops
/// announcing `prefix` with a `network` statement; vtysh's output.
pub fn frr_network(
    vty_dir: &std::path::Path,
    asn: u32,
    prefix: &str,
    announce: bool,
) -> interop::Result<String> {
    let statement = if announce {
        format!("network {prefix}")
    } else {
        format!("no network {prefix}")
    };
    vtysh(
        vty_dir,
        &[
            "configure terminal",
            &format!("router bgp {asn}"),
            "address-family ipv4 unicast",
            &statement,
        ],
    )
}
