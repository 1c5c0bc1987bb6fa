//! Lab tests of non-stop routing in the bgpd daemon (run as root): an FRR neighbour holds a
//! session with a bgpd primary (`[ha] role = "primary"`); a bgpd standby introduced late
//! follows it from a mirror port (a bridge in a switch namespace, `tc ... mirred` copying
//! the primary's and FRR's frames to the standby's `mon0`) and the checkpoint channel,
//! reaches `synchronised` while FRR keeps announcing routes, and its Loc-RIB digest equals
//! the primary's; the FRR session is not disturbed. Observed through `understudy ha --json`.
//!
//! The bgpd and understudy binaries are taken from the test executable's target directory
//! (`target/<profile>/`); `cargo test --workspace` builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use interop::neighbor::frr::Frr;
use interop::{BgpConfig, Lab, Neighbor, Netns, PeerConfig};
use ipnetwork::{IpNetwork, Ipv4Network};
use serde_json::Value;

mod common;
use common::{binary, ip, net, require_root};

const PREFIX: &str = "usha-";
const TIMEOUT: Duration = Duration::from_secs(60);
const FRR: &str = "192.0.2.1";
const PRIM: &str = "192.0.2.2";
const STBY: &str = "192.0.2.3";
/// Routes FRR announces from the start, then routes it adds while the standby joins.
const INITIAL: u32 = 2048;
const ADDED: u32 = 1024;

/// Route number `i`: /26 subnets of the benchmarking range 198.18.0.0/15 (RFC 2544) for the
/// first 2048, then /27 subnets of it.
fn route(i: u32) -> IpNetwork {
    let (len, step) = if i < 2048 { (26, 64) } else { (27, 32) };
    let j = if i < 2048 { i } else { i - 2048 };
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    IpNetwork::V4(Ipv4Network::new(Ipv4Addr::from(base + j * step), len).unwrap())
}

struct HaLab {
    lab: Lab,
    frr: Netns,
    prim: Netns,
    stby: Netns,
    /// More standbys (`stby2`, `stby3`, ...: addresses 192.0.2.4, .5, ...).
    more: Vec<Netns>,
}

/// FRR, the primary and the standby on one bridge (in namespace `sw`); every frame the
/// primary or FRR sends into the bridge is mirrored to the standby's `mon0` (three in four,
/// at random, when `lossy`).
fn ha_lab(lossy: bool) -> HaLab {
    ha_lab_n(lossy, 1)
}

/// [`ha_lab`] with `standbys` standbys, each with its own mirror port.
fn ha_lab_n(lossy: bool, standbys: u8) -> HaLab {
    require_root();
    let mut lab = Lab::new(PREFIX).expect("lab");
    let frr = lab.add_namespace("frr").expect("namespace frr");
    let prim = lab.add_namespace("prim").expect("namespace prim");
    let sw = lab.add_namespace("sw").expect("namespace sw");
    lab.add_bridge(&sw, "br0").unwrap();
    let mut nodes = vec![(frr.clone(), "p-frr".to_string(), FRR.to_string())];
    nodes.push((prim.clone(), "p-prim".into(), PRIM.into()));
    let mut stbys = Vec::new();
    let mut mons = Vec::new();
    for i in 0..standbys {
        let (node, suffix) = if i == 0 {
            ("stby".to_string(), String::new())
        } else {
            (format!("stby{}", i + 1), (i + 1).to_string())
        };
        let ns = lab.add_namespace(&node).expect("namespace stby");
        nodes.push((
            ns.clone(),
            format!("p-stby{suffix}"),
            format!("192.0.2.{}", 3 + i),
        ));
        let mon = format!("p-mon{suffix}");
        lab.add_veth(&sw, &mon, &ns, "mon0").unwrap();
        mons.push(mon);
        stbys.push(ns);
    }
    for (ns, port, addr) in &nodes {
        lab.add_veth(&sw, port, ns, "eth0").unwrap();
        lab.set_master(&sw, port, "br0").unwrap();
        lab.add_address(ns, "eth0", net(&format!("{addr}/24")))
            .unwrap();
    }
    let mons: Vec<&str> = mons.iter().map(String::as_str).collect();
    mirror(&sw, "p-prim", lossy, &mons);
    mirror(&sw, "p-frr", lossy, &mons);
    let stby = stbys.remove(0);
    HaLab {
        lab,
        frr,
        prim,
        stby,
        more: stbys,
    }
}

fn bgpd_config(ha: &str) -> String {
    format!(
        "router_id = \"{PRIM}\"\nlocal_as = 65002\n\
         \n[[neighbor]]\naddress = \"{FRR}\"\nremote_as = 65001\nhold_time = 9\n\
         connect_retry = 2\nfamilies = [\"ipv4/unicast\"]\n\
         import = [\"all\"]\nexport = [\"all\"]\n\
         \n[policy.policies.all]\ndefault = \"accept\"\n\n[ha]\n{ha}"
    )
}

/// Writes `config` into the lab's work directory, checks it and starts bgpd in `ns`.
fn start_bgpd(lab: &mut Lab, ns: &Netns, name: &str, config: &str) -> u32 {
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

/// `understudy --json ha` in `ns`.
fn ha(ns: &Netns) -> Result<Value, String> {
    let out = ns
        .exec_output(binary("understudy").to_str().unwrap(), &["--json", "ha"])
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Polls `check` until it gives Some or `TIMEOUT` passes (then panics with the last state).
fn wait<T>(what: &str, mut check: impl FnMut() -> Result<Option<T>, String>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = String::new();
    loop {
        match check() {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) => last = e,
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn routes_of(v: &Value) -> u64 {
    v["loc_rib_routes"].as_u64().unwrap_or(0)
}

/// `tc` on `port`'s ingress in `sw`: mirror its frames to each of `mons`. When `lossy`, only IPv4
/// frames whose header checksum has one of its two low bits set are mirrored: about one
/// frame in four is left out, pseudo-randomly (the checksum changes with every IP ID),
/// and forwarded as usual. (This kernel has no `gact` action for random drops, and an
/// nftables egress hook does not see mirred frames.)
fn mirror(sw: &Netns, port: &str, lossy: bool, mons: &[&str]) {
    let qdiscs = sw.tc(&["qdisc", "show", "dev", port]).unwrap();
    if !qdiscs.contains("ingress") {
        sw.tc(&["qdisc", "add", "dev", port, "ingress"]).unwrap();
    }
    let matches: &[[&str; 5]] = if lossy {
        &[
            ["match", "u16", "0x0001", "0x0001", "at"],
            ["match", "u16", "0x0002", "0x0003", "at"],
        ]
    } else {
        &[["match", "u32", "0", "0", ""]]
    };
    for m in matches {
        let mut args = vec![
            "filter", "add", "dev", port, "parent", "ffff:", "prio", "10", "protocol", "all", "u32",
        ];
        args.extend(m.iter().filter(|a| !a.is_empty()));
        if !m[4].is_empty() {
            args.push("10");
        }
        for mon in mons {
            args.extend(["action", "mirred", "egress", "mirror", "dev", mon]);
        }
        sw.tc(&args).unwrap();
    }
}

#[test]
fn late_standby_synchronises_with_a_primary_fed_by_frr() {
    run(false);
}

#[test]
fn standby_behind_a_lossy_mirror_recovers_by_gap_fill() {
    run(true);
}

fn run(lossy: bool) {
    let HaLab {
        mut lab,
        frr: frr_ns,
        prim,
        stby,
        ..
    } = ha_lab(lossy);

    let mut cfg = BgpConfig::new(65001, FRR.parse().unwrap()).peer(
        PeerConfig::new(ip(PRIM), 65002)
            .local(ip(FRR))
            .timers(Duration::from_secs(9), Duration::from_secs(3)),
    );
    for i in 0..INITIAL {
        cfg = cfg.network(route(i));
    }
    let mut frr = Frr::start_without_zebra(&lab, "frr", &cfg).expect("start FRR");
    start_bgpd(
        &mut lab,
        &prim,
        "bgpd-prim",
        &bgpd_config(&format!(
            "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"{PRIM}:50052\"\n"
        )),
    );
    frr.wait_established(ip(PRIM), TIMEOUT)
        .expect("FRR Established with the primary");
    wait("the primary's Loc-RIB full", || {
        let v = ha(&prim)?;
        assert_eq!(v["role"], "primary");
        Ok((routes_of(&v) == u64::from(INITIAL)).then_some(()))
    });
    let alone = ha(&prim).unwrap();
    assert_eq!(alone["standbys"], Value::Array(vec![]));
    assert_eq!(alone["flows"][0]["peer"], FRR);
    assert_eq!(alone["flows"][0]["protected"], false, "{alone}");

    // FRR keeps announcing while the standby is introduced.
    let feeder = {
        let frr_dir = frr.dir().to_path_buf();
        let ns = frr_ns.clone();
        std::thread::spawn(move || {
            announce(
                &frr_dir,
                &ns,
                INITIAL..INITIAL + ADDED,
                64,
                Duration::from_millis(150),
            );
        })
    };
    let started = Instant::now();
    start_bgpd(&mut lab, &stby, "bgpd-stby", &standby_config(2, 50, STBY));
    let synced: Value = wait("the standby synchronised", || {
        let v = ha(&stby)?;
        if v["synchronised"] != true || v["role"] != "standby" {
            let p = ha(&prim)?;
            return Err(format!("standby {v}; primary {p}"));
        }
        Ok(Some(v))
    });
    println!(
        "standby synchronised {} ms after it was started, with {} routes",
        started.elapsed().as_millis(),
        routes_of(&synced)
    );
    assert_eq!(
        synced["role"],
        "standby",
        "{synced}\n{}",
        log_tail(&lab, "bgpd-stby")
    );
    assert_eq!(synced["connected"], true);
    assert_eq!(synced["primary"], format!("http://{PRIM}:50052"));
    feeder.join().expect("feeder");
    let total = u64::from(INITIAL + ADDED);
    let (_, s) = wait("equal Loc-RIB digests", || {
        let p = ha(&prim)?;
        let s = ha(&stby)?;
        Ok(
            (routes_of(&p) == total && p["loc_rib_digest"] == s["loc_rib_digest"])
                .then_some((p, s)),
        )
    });
    assert_eq!(routes_of(&s), total);
    assert_eq!(s["flows"][0]["peer"], FRR);
    assert_eq!(s["flows"][0]["protected"], true, "{s}");
    // The primary sees its standby synchronised and the session protected.
    let p = wait("maintenance digests matched", || {
        let p2 = ha(&prim)?;
        Ok((p2["standbys"][0]["digests_matched"].as_u64().unwrap_or(0) >= 2).then_some(p2))
    });
    let sb = &p["standbys"][0];
    assert_eq!(sb["node_id"], 2);
    assert_eq!(sb["synchronised"], true, "{p}");
    assert_eq!(sb["digests_mismatched"], 0, "{p}");
    assert_eq!(p["flows"][0]["protected"], true, "{p}");
    println!("primary: {p}\nstandby: {s}");
    let filled = sb["gap_fill_bytes"].as_u64().unwrap();
    // Routes FRR announced after the standby declared itself synchronised reached it in
    // UPDATEs of at least 5 NLRI octets per route; gap fill alone cannot have brought them
    // on a clean mirror.
    let after_sync = total.saturating_sub(routes_of(&synced));
    println!(
        "{after_sync} routes announced after the standby synchronised; {filled} octets gap-filled"
    );
    if lossy {
        assert!(
            filled > 0,
            "a quarter of the frames unmirrored but nothing gap-filled: {p}"
        );
    } else if after_sync >= 256 {
        assert!(filled < 5 * after_sync, "{p}");
    }

    // FRR never noticed: one connection, still Established, every route accepted.
    let st = frr.wait_established(ip(PRIM), TIMEOUT).unwrap();
    assert_eq!(st.established_count, Some(1), "{st:?}");
    assert_eq!(st.dropped_count, Some(0), "{st:?}");
    let log = std::fs::read_to_string(lab.workdir().join("bgpd-stby.log")).unwrap();
    assert!(log.contains("ha: synchronised"), "{log}");
}

/// FRR (its vty socket in `dir`) announces routes `range`, `batch` at a time through
/// `vtysh -f`, `pause` apart.
fn announce(
    dir: &std::path::Path,
    ns: &Netns,
    range: std::ops::Range<u32>,
    batch: u32,
    pause: Duration,
) {
    let mut i = range.start;
    while i < range.end {
        let end = (i + batch).min(range.end);
        let mut conf = String::from("router bgp 65001\n address-family ipv4 unicast\n");
        for n in i..end {
            conf.push_str(&format!("  network {}\n", route(n)));
        }
        conf.push_str(" exit-address-family\n");
        let file = dir.join(format!("add-{i}.conf"));
        std::fs::write(&file, conf).unwrap();
        ns.exec(
            "vtysh",
            &[
                "--vty_socket",
                dir.to_str().unwrap(),
                "-f",
                file.to_str().unwrap(),
            ],
        )
        .expect("vtysh -f");
        i = end;
        std::thread::sleep(pause);
    }
}

/// The primary's box dies (its switch port goes down, then its process is killed): the
/// synchronised standby declares it failed within a second (3 x 100 ms of heartbeats and
/// of mirror silence, plus the time the stream takes to notice) and carries on with the
/// takeover.
#[test]
fn standby_declares_a_dead_primary_failed() {
    let HaLab {
        mut lab,
        frr: _frr_ns,
        prim,
        stby,
        ..
    } = ha_lab(false);
    let mut cfg = BgpConfig::new(65001, FRR.parse().unwrap()).peer(
        PeerConfig::new(ip(PRIM), 65002)
            .local(ip(FRR))
            .timers(Duration::from_secs(9), Duration::from_secs(3)),
    );
    for i in 0..64 {
        cfg = cfg.network(route(i));
    }
    let mut frr = Frr::start_without_zebra(&lab, "frr", &cfg).expect("start FRR");
    let primary = start_bgpd(
        &mut lab,
        &prim,
        "bgpd-prim",
        &bgpd_config(&format!(
            "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"{PRIM}:50052\"\n"
        )),
    );
    frr.wait_established(ip(PRIM), TIMEOUT)
        .expect("FRR Established with the primary");
    start_bgpd(
        &mut lab,
        &stby,
        "bgpd-stby",
        &bgpd_config(&format!(
            "role = \"standby\"\nnode_id = 2\nprimary = \"http://{PRIM}:50052\"\n\
             mirror_interface = \"mon0\"\nsession_interface = \"eth0\"\n"
        )),
    );
    wait("the standby synchronised", || {
        let v = ha(&stby)?;
        Ok(
            (v["synchronised"] == true && v["role"] == "standby" && routes_of(&v) == 64)
                .then_some(()),
        )
    });
    let log_path = lab.workdir().join("bgpd-stby.log");
    let declared = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("ha: primary declared failed")
    };
    // Alive and quiet for longer than the detection time: no false alarm.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!declared(), "declared failed while alive");

    let sw = lab.namespace("sw").expect("sw").clone();
    lab.set_link(&sw, "p-prim", false).unwrap();
    let cut = Instant::now();
    assert!(lab.kill_process(primary));
    let deadline = cut + Duration::from_secs(10);
    while !declared() {
        assert!(
            Instant::now() < deadline,
            "the standby never declared the primary failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ms = cut.elapsed().as_millis();
    println!("primary declared failed {ms} ms after its link was cut (log polling every 20 ms)");
    assert!(ms < 3000, "{ms} ms");
    // Its status still answers, in a post-failure role.
    let v = ha(&stby).unwrap();
    assert_ne!(v["role"], "standby", "{v}");
}

fn standby_config(node: u32, priority: u8, address: &str) -> String {
    bgpd_config(&format!(
        "role = \"standby\"\nnode_id = {node}\npriority = {priority}\n\
         primary = \"http://{PRIM}:50052\"\nmirror_interface = \"mon0\"\n\
         session_interface = \"eth0\"\ncheckpoint_address = \"{address}:50052\"\n"
    ))
}

/// Several standbys: one introduced alone, then two at once, while FRR keeps announcing;
/// all three reach `synchronised` with the primary's Loc-RIB digest, and the primary
/// reports each of them synchronised with no digest mismatch.
#[test]
fn three_standbys_one_after_the_other_and_two_at_once() {
    let HaLab {
        mut lab,
        frr: frr_ns,
        prim,
        stby,
        more,
    } = ha_lab_n(false, 3);
    let initial = 512u32;
    let mut cfg = BgpConfig::new(65001, FRR.parse().unwrap()).peer(
        PeerConfig::new(ip(PRIM), 65002)
            .local(ip(FRR))
            .timers(Duration::from_secs(9), Duration::from_secs(3)),
    );
    for i in 0..initial {
        cfg = cfg.network(route(i));
    }
    let mut frr = Frr::start_without_zebra(&lab, "frr", &cfg).expect("start FRR");
    start_bgpd(
        &mut lab,
        &prim,
        "bgpd-prim",
        &bgpd_config(&format!(
            "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"{PRIM}:50052\"\n"
        )),
    );
    frr.wait_established(ip(PRIM), TIMEOUT)
        .expect("FRR Established with the primary");
    start_bgpd(&mut lab, &stby, "bgpd-stby", &standby_config(2, 50, STBY));
    wait("the first standby synchronised", || {
        let v = ha(&stby)?;
        Ok((v["synchronised"] == true && v["role"] == "standby").then_some(()))
    });

    let feeder = {
        let frr_dir = frr.dir().to_path_buf();
        let ns = frr_ns.clone();
        std::thread::spawn(move || {
            announce(
                &frr_dir,
                &ns,
                2048..2048 + 512,
                64,
                Duration::from_millis(150),
            );
        })
    };
    start_bgpd(
        &mut lab,
        &more[0],
        "bgpd-stby2",
        &standby_config(3, 60, "192.0.2.4"),
    );
    start_bgpd(
        &mut lab,
        &more[1],
        "bgpd-stby3",
        &standby_config(4, 40, "192.0.2.5"),
    );
    let all: Vec<&Netns> = [&stby].into_iter().chain(more.iter()).collect();
    wait("every standby synchronised", || {
        for ns in &all {
            let v = ha(ns)?;
            if v["synchronised"] != true || v["role"] != "standby" {
                return Err(format!("{v}"));
            }
        }
        Ok(Some(()))
    });
    feeder.join().expect("feeder");
    let total = u64::from(initial + 512);
    wait("equal Loc-RIB digests everywhere", || {
        let p = ha(&prim)?;
        if routes_of(&p) != total {
            return Ok(None);
        }
        for ns in &all {
            let s = ha(ns)?;
            if s["loc_rib_digest"] != p["loc_rib_digest"] {
                return Err(format!("primary {p}; standby {s}"));
            }
        }
        Ok(Some(()))
    });
    let p = wait("the primary sees three synchronised standbys", || {
        let p = ha(&prim)?;
        let sb = p["standbys"].as_array().cloned().unwrap_or_default();
        let ok = sb.len() == 3
            && sb.iter().all(|s| {
                s["synchronised"] == true && s["digests_matched"].as_u64().unwrap_or(0) >= 1
            });
        Ok(ok.then_some(p))
    });
    println!("primary: {p}");
    let mut nodes: Vec<u64> = p["standbys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["digests_mismatched"], 0, "{p}");
            s["node_id"].as_u64().unwrap()
        })
        .collect();
    nodes.sort_unstable();
    assert_eq!(nodes, vec![2, 3, 4]);
    assert_eq!(p["flows"][0]["protected"], true, "{p}");
    let st = frr.wait_established(ip(PRIM), TIMEOUT).unwrap();
    assert_eq!(st.established_count, Some(1), "{st:?}");
    assert_eq!(st.dropped_count, Some(0), "{st:?}");
}

/// The last lines of a daemon's log in the lab, for failure messages.
fn log_tail(lab: &Lab, name: &str) -> String {
    let text =
        std::fs::read_to_string(lab.workdir().join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The same over an IPv6 session (IPv6 unicast routes): the mirror, the sequence anchors
/// and the checkpoints work on IPv6 4-tuples too.
#[test]
fn late_standby_synchronises_over_ipv6() {
    const FRR6: &str = "2001:db8::1";
    const PRIM6: &str = "2001:db8::2";
    let HaLab {
        mut lab,
        frr: frr_ns,
        prim,
        stby,
        ..
    } = ha_lab(false);
    for (ns, a) in [(&frr_ns, FRR6), (&prim, PRIM6), (&stby, "2001:db8::3")] {
        lab.add_address(ns, "eth0", net(&format!("{a}/64")))
            .unwrap();
    }
    let mut cfg = BgpConfig::new(65001, FRR.parse().unwrap()).peer(
        PeerConfig::new(ip(PRIM6), 65002)
            .local(ip(FRR6))
            .families(&[interop::neighbor::Family::Ipv6Unicast])
            .timers(Duration::from_secs(9), Duration::from_secs(3)),
    );
    for i in 0..256u32 {
        cfg = cfg.network(net(&format!("2001:db8:{:x}::/48", 0x1000 + i)));
    }
    let mut frr = Frr::start_without_zebra(&lab, "frr", &cfg).expect("start FRR");
    let config = |ha: &str| {
        format!(
            "router_id = \"{PRIM}\"\nlocal_as = 65002\n\
             \n[[neighbor]]\naddress = \"{FRR6}\"\nremote_as = 65001\nhold_time = 9\n\
             connect_retry = 2\nlocal_address = \"{PRIM6}\"\nfamilies = [\"ipv6/unicast\"]\n\
             import = [\"all\"]\nexport = [\"all\"]\n\
             \n[policy.policies.all]\ndefault = \"accept\"\n\n[ha]\n{ha}"
        )
    };
    start_bgpd(
        &mut lab,
        &prim,
        "bgpd-prim",
        &config(&format!(
            "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"{PRIM}:50052\"\n"
        )),
    );
    frr.wait_established(ip(PRIM6), TIMEOUT)
        .expect("FRR Established with the primary over IPv6");
    wait("the primary's Loc-RIB full", || {
        Ok((routes_of(&ha(&prim)?) == 256).then_some(()))
    });
    start_bgpd(
        &mut lab,
        &stby,
        "bgpd-stby",
        &config(&format!(
            "role = \"standby\"\nnode_id = 2\nprimary = \"http://{PRIM}:50052\"\n\
             mirror_interface = \"mon0\"\nsession_interface = \"eth0\"\n"
        )),
    );
    wait("the standby synchronised", || {
        let v = ha(&stby)?;
        Ok((v["synchronised"] == true && v["role"] == "standby").then_some(()))
    });
    // Routes announced after synchronisation reach the standby from the mirror.
    announce_v6(&frr, &frr_ns, 0x2000..0x2000 + 64);
    let (p, s) = wait("equal Loc-RIB digests", || {
        let p = ha(&prim)?;
        let s = ha(&stby)?;
        Ok((routes_of(&p) == 320 && p["loc_rib_digest"] == s["loc_rib_digest"]).then_some((p, s)))
    });
    assert_eq!(s["flows"][0]["peer"], FRR6, "{s}");
    assert_eq!(s["flows"][0]["protected"], true, "{s}");
    assert_eq!(p["flows"][0]["protected"], true, "{p}");
    let st = frr.wait_established(ip(PRIM6), TIMEOUT).unwrap();
    assert_eq!(st.established_count, Some(1), "{st:?}");
}

/// FRR announces 2001:db8:N::/48 for each N of `range`.
fn announce_v6(frr: &Frr, ns: &Netns, range: std::ops::Range<u32>) {
    let dir = frr.dir().to_path_buf();
    let mut conf = String::from("router bgp 65001\n address-family ipv6 unicast\n");
    for n in range {
        conf.push_str(&format!("  network 2001:db8:{n:x}::/48\n"));
    }
    conf.push_str(" exit-address-family\n");
    let file = dir.join("add-v6.conf");
    std::fs::write(&file, conf).unwrap();
    ns.exec(
        "vtysh",
        &[
            "--vty_socket",
            dir.to_str().unwrap(),
            "-f",
            file.to_str().unwrap(),
        ],
    )
    .expect("vtysh -f");
}
