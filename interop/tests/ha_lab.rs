//! Lab tests of non-stop routing in the bgpd daemon (run as root): an FRR neighbour holds a
//! session with a bgpd primary (`[ha] role = "primary"`); a bgpd standby introduced late
//! follows it from a mirror port (a bridge in a switch namespace, `tc ... mirred` copying
//! the primary's and FRR's frames to the standby's `mon0`) and the checkpoint channel,
//! reaches `synchronised` while FRR keeps announcing routes, and its Loc-RIB digest equals
//! the primary's; the FRR session is not disturbed. Observed through `understudy ha --json`.
//! One test feeds the largest real RIB dump (the MRT table, 112,988 prefixes), the others
//! generated routes. Every test starts from the same [`Fixture`]: the lab, FRR with its
//! table and the primary with its Loc-RIB full.
//!
//! The bgpd and understudy binaries are taken from the test executable's target directory
//! (`target/<profile>/`); `cargo test --workspace` builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use interop::neighbor::frr::Frr;
use interop::{BgpConfig, Lab, Neighbor, Netns, PeerConfig};
use ipnetwork::{IpNetwork, Ipv4Network};
use serde_json::Value;

mod common;
use common::{ip, net, require_root, start_bgpd};

const PREFIX: &str = "usha-";
const TIMEOUT: Duration = Duration::from_secs(60);
const FRR: &str = "192.0.2.1";
const PRIM: &str = "192.0.2.2";
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

/// What FRR originates from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// Routes `route(0..n)`.
    Generated(u32),
    /// The unique IPv4 prefixes of the largest MRT RIB dump of the shared data
    /// ([`interop::feed::DEFAULT_MRT`], 112,988 prefixes).
    Mrt,
    /// `n` IPv6 routes 2001:db8:1000::/48 onwards, over an IPv6 session.
    V6(u32),
}

/// FRR's and the primary's IPv6 session addresses.
const FRR6: &str = "2001:db8::1";
const PRIM6: &str = "2001:db8::2";

/// The lab every test starts from: FRR, the primary and the standbys on one bridge (in
/// namespace `sw`), every frame the primary or FRR sends into the bridge mirrored to each
/// standby's `mon0` (three in four, at random, when `lossy`); FRR originating its table and
/// Established with the bgpd primary, whose Loc-RIB holds the whole table. The standbys'
/// namespaces are ready; each test starts its standby daemons.
struct Fixture {
    lab: Lab,
    frr_ns: Netns,
    prim: Netns,
    /// Standby namespaces: `stby` (192.0.2.3), then `stby2`, `stby3`, ... (.4, .5, ...).
    stbys: Vec<Netns>,
    frr: Frr,
    /// The primary's PID.
    primary: u32,
    /// The routes FRR originated from the start (the primary's Loc-RIB size then).
    table: Vec<IpNetwork>,
    v6: bool,
}

impl Fixture {
    fn start(lossy: bool, standbys: u8, table: Table) -> Fixture {
        require_root();
        let mut lab = Lab::new(PREFIX).expect("lab");
        let frr_ns = lab.add_namespace("frr").expect("namespace frr");
        let prim = lab.add_namespace("prim").expect("namespace prim");
        let sw = lab.add_namespace("sw").expect("namespace sw");
        lab.add_bridge(&sw, "br0").unwrap();
        let mut nodes = vec![
            (frr_ns.clone(), "p-frr".to_string(), FRR.to_string()),
            (prim.clone(), "p-prim".into(), PRIM.into()),
        ];
        let mut stbys = Vec::new();
        let mut mons = Vec::new();
        for i in 0..standbys {
            let suffix = if i == 0 {
                String::new()
            } else {
                (i + 1).to_string()
            };
            let ns = lab
                .add_namespace(&format!("stby{suffix}"))
                .expect("namespace stby");
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
        let v6 = matches!(table, Table::V6(_));
        for (i, (ns, port, addr)) in nodes.iter().enumerate() {
            lab.add_veth(&sw, port, ns, "eth0").unwrap();
            lab.set_master(&sw, port, "br0").unwrap();
            lab.add_address(ns, "eth0", net(&format!("{addr}/24")))
                .unwrap();
            if v6 {
                lab.add_address(ns, "eth0", net(&format!("2001:db8::{}/64", i + 1)))
                    .unwrap();
            }
        }
        let mons: Vec<&str> = mons.iter().map(String::as_str).collect();
        mirror(&sw, "p-prim", lossy, &mons);
        mirror(&sw, "p-frr", lossy, &mons);

        let routes: Vec<IpNetwork> = match table {
            Table::Generated(n) => (0..n).map(route).collect(),
            Table::Mrt => interop::feed::table_prefixes(Path::new(interop::feed::DEFAULT_MRT))
                .expect("the MRT dump")
                .into_iter()
                .map(IpNetwork::V4)
                .collect(),
            Table::V6(n) => (0..n).map(|i| route_v6(0x1000 + i)).collect(),
        };
        let (peer, local) = if v6 { (PRIM6, FRR6) } else { (PRIM, FRR) };
        let mut session = PeerConfig::new(ip(peer), 65002)
            .local(ip(local))
            .timers(Duration::from_secs(9), Duration::from_secs(3));
        if v6 {
            session = session.families(&[interop::neighbor::Family::Ipv6Unicast]);
        }
        let mut cfg = BgpConfig::new(65001, FRR.parse().unwrap()).peer(session);
        for r in &routes {
            cfg = cfg.network(*r);
        }
        let frr = Frr::start_without_zebra(&lab, "frr", &cfg).expect("start FRR");
        let mut f = Fixture {
            primary: 0,
            lab,
            frr_ns,
            prim,
            stbys,
            frr,
            table: routes,
            v6,
        };
        let config = f.bgpd_config(&format!(
            "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"{PRIM}:50052\"\n"
        ));
        let prim = f.prim.clone();
        f.primary = start_bgpd(&mut f.lab, &prim, "bgpd-prim", &config);
        f.frr
            .wait_established(ip(peer), TIMEOUT)
            .expect("FRR Established with the primary");
        let want = f.table.len() as u64;
        wait_long("the primary's Loc-RIB full", TIMEOUT * 3, || {
            let v = ha(&f.prim)?;
            assert_eq!(v["role"], "primary");
            Ok((routes_of(&v) == want).then_some(()))
        });
        f
    }

    /// The primary's address on the session.
    fn peer(&self) -> &'static str {
        if self.v6 {
            PRIM6
        } else {
            PRIM
        }
    }

    /// FRR's address on the session.
    fn neighbour(&self) -> &'static str {
        if self.v6 {
            FRR6
        } else {
            FRR
        }
    }

    /// bgpd's configuration (one neighbour, FRR) with `ha` as its `[ha]` section.
    fn bgpd_config(&self, ha: &str) -> String {
        let (family, local) = if self.v6 {
            ("ipv6/unicast", format!("local_address = \"{PRIM6}\"\n"))
        } else {
            ("ipv4/unicast", String::new())
        };
        format!(
            "router_id = \"{PRIM}\"\nlocal_as = 65002\n\
             \n[[neighbor]]\naddress = \"{}\"\nremote_as = 65001\nhold_time = 9\n\
             connect_retry = 2\n{local}families = [\"{family}\"]\n\
             import = [\"all\"]\nexport = [\"all\"]\n\
             \n[policy.policies.all]\ndefault = \"accept\"\n\n[ha]\n{ha}",
            self.neighbour()
        )
    }

    /// Starts standby `i` (0: `stby`) as node `node` with `priority`; returns its PID.
    fn start_standby(&mut self, i: usize, node: u32, priority: u8) -> u32 {
        let address = format!("192.0.2.{}", 3 + i);
        let config = self.bgpd_config(&format!(
            "role = \"standby\"\nnode_id = {node}\npriority = {priority}\n\
             primary = \"http://{PRIM}:50052\"\nmirror_interface = \"mon0\"\n\
             session_interface = \"eth0\"\ncheckpoint_address = \"{address}:50052\"\n"
        ));
        let ns = self.stbys[i].clone();
        let name = if i == 0 {
            "bgpd-stby".to_string()
        } else {
            format!("bgpd-stby{}", i + 1)
        };
        start_bgpd(&mut self.lab, &ns, &name, &config)
    }

    /// FRR's session with the primary: still its first connection, never dropped.
    fn assert_frr_undisturbed(&mut self) {
        let peer = ip(self.peer());
        let st = self.frr.wait_established(peer, TIMEOUT).unwrap();
        assert_eq!(st.established_count, Some(1), "{st:?}");
        assert_eq!(st.dropped_count, Some(0), "{st:?}");
    }
}

/// IPv6 route number `n`: 2001:db8:N::/48.
fn route_v6(n: u32) -> IpNetwork {
    net(&format!("2001:db8:{n:x}::/48"))
}

/// `understudy --json ha` in `ns`.
fn ha(ns: &Netns) -> Result<Value, String> {
    common::cli(ns, &["ha"])
}

/// Polls `check` until it gives Some or `TIMEOUT` passes (then panics with the last state).
fn wait<T>(what: &str, check: impl FnMut() -> Result<Option<T>, String>) -> T {
    wait_long(what, TIMEOUT, check)
}

/// [`wait`] with a deadline of `timeout`.
fn wait_long<T>(
    what: &str,
    timeout: Duration,
    check: impl FnMut() -> Result<Option<T>, String>,
) -> T {
    common::wait_for(what, timeout, Duration::from_millis(250), check)
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

/// The largest real RIB dump (issue 6): FRR originates the whole MRT table to the primary,
/// then a standby is introduced late while FRR keeps announcing; the standby reaches
/// `synchronised` with the primary's Loc-RIB digest, and FRR's session is undisturbed.
#[test]
fn late_standby_synchronises_with_a_primary_fed_a_full_table_by_frr() {
    run(Fixture::start(false, 1, Table::Mrt), false);
}

#[test]
fn standby_behind_a_lossy_mirror_recovers_by_gap_fill() {
    run(Fixture::start(true, 1, Table::Generated(INITIAL)), true);
}

fn run(mut f: Fixture, lossy: bool) {
    let alone = ha(&f.prim).unwrap();
    assert_eq!(alone["standbys"], Value::Array(vec![]));
    assert_eq!(alone["flows"][0]["peer"], FRR);
    assert_eq!(alone["flows"][0]["protected"], false, "{alone}");

    // FRR keeps announcing while the standby is introduced.
    let feeder = {
        let frr_dir = f.frr.dir().to_path_buf();
        let ns = f.frr_ns.clone();
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
    f.start_standby(0, 2, 50);
    let stby = f.stbys[0].clone();
    let synced: Value = wait_long("the standby synchronised", TIMEOUT * 3, || {
        let v = ha(&stby)?;
        if v["synchronised"] != true || v["role"] != "standby" {
            let p = ha(&f.prim)?;
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
        log_tail(&f.lab, "bgpd-stby")
    );
    assert_eq!(synced["connected"], true);
    assert_eq!(synced["primary"], format!("http://{PRIM}:50052"));
    feeder.join().expect("feeder");
    let added: BTreeSet<IpNetwork> = (INITIAL..INITIAL + ADDED).map(route).collect();
    let total = f
        .table
        .iter()
        .copied()
        .chain(added)
        .collect::<BTreeSet<_>>()
        .len() as u64;
    let (_, s) = wait_long("equal Loc-RIB digests", TIMEOUT * 3, || {
        let p = ha(&f.prim)?;
        let s = ha(&stby)?;
        if routes_of(&p) == total && p["loc_rib_digest"] == s["loc_rib_digest"] {
            return Ok(Some((p, s)));
        }
        // What the time-out reports if it never comes.
        Err(format!(
            "{total} routes expected; primary {} routes, digest {}; standby {} routes, digest {}, synchronised {}, role {}",
            routes_of(&p),
            p["loc_rib_digest"],
            routes_of(&s),
            s["loc_rib_digest"],
            s["synchronised"],
            s["role"]
        ))
    });
    assert_eq!(routes_of(&s), total);
    assert_eq!(s["flows"][0]["peer"], FRR);
    assert_eq!(s["flows"][0]["protected"], true, "{s}");
    // The primary sees its standby synchronised and the session protected.
    let p = wait("maintenance digests matched", || {
        let p2 = ha(&f.prim)?;
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
    // No false alarm while the primary ingested the table.
    let log = std::fs::read_to_string(f.lab.workdir().join("bgpd-stby.log")).unwrap();
    assert!(log.contains("ha: synchronised"), "{log}");
    assert!(!log.contains("ha: primary declared failed"), "{log}");
    // FRR never noticed: one connection, still Established, every route accepted.
    f.assert_frr_undisturbed();
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
    let mut f = Fixture::start(false, 1, Table::Generated(64));
    f.start_standby(0, 2, 50);
    let stby = f.stbys[0].clone();
    wait("the standby synchronised", || {
        let v = ha(&stby)?;
        Ok(
            (v["synchronised"] == true && v["role"] == "standby" && routes_of(&v) == 64)
                .then_some(()),
        )
    });
    let log_path = f.lab.workdir().join("bgpd-stby.log");
    let declared = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("ha: primary declared failed")
    };
    // Alive and quiet for longer than the detection time: no false alarm.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!declared(), "declared failed while alive");

    let sw = f.lab.namespace("sw").expect("sw").clone();
    f.lab.set_link(&sw, "p-prim", false).unwrap();
    let cut = Instant::now();
    assert!(f.lab.kill_process(f.primary));
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

/// Several standbys: one introduced alone, then two at once, while FRR keeps announcing;
/// all three reach `synchronised` with the primary's Loc-RIB digest, and the primary
/// reports each of them synchronised with no digest mismatch.
#[test]
fn three_standbys_one_after_the_other_and_two_at_once() {
    let initial = 512u32;
    let mut f = Fixture::start(false, 3, Table::Generated(initial));
    f.start_standby(0, 2, 50);
    let stby = f.stbys[0].clone();
    wait("the first standby synchronised", || {
        let v = ha(&stby)?;
        Ok((v["synchronised"] == true && v["role"] == "standby").then_some(()))
    });

    let feeder = {
        let frr_dir = f.frr.dir().to_path_buf();
        let ns = f.frr_ns.clone();
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
    f.start_standby(1, 3, 60);
    f.start_standby(2, 4, 40);
    let all = f.stbys.clone();
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
        let p = ha(&f.prim)?;
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
        let p = ha(&f.prim)?;
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
    f.assert_frr_undisturbed();
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
    let mut f = Fixture::start(false, 1, Table::V6(256));
    f.start_standby(0, 2, 50);
    let stby = f.stbys[0].clone();
    wait("the standby synchronised", || {
        let v = ha(&stby)?;
        Ok((v["synchronised"] == true && v["role"] == "standby").then_some(()))
    });
    // Routes announced after synchronisation reach the standby from the mirror.
    announce_v6(&f.frr, &f.frr_ns, 0x2000..0x2000 + 64);
    let (p, s) = wait("equal Loc-RIB digests", || {
        let p = ha(&f.prim)?;
        let s = ha(&stby)?;
        Ok((routes_of(&p) == 320 && p["loc_rib_digest"] == s["loc_rib_digest"]).then_some((p, s)))
    });
    assert_eq!(s["flows"][0]["peer"], FRR6, "{s}");
    assert_eq!(s["flows"][0]["protected"], true, "{s}");
    assert_eq!(p["flows"][0]["protected"], true, "{p}");
    f.assert_frr_undisturbed();
}

/// FRR announces 2001:db8:N::/48 for each N of `range`.
fn announce_v6(frr: &Frr, ns: &Netns, range: std::ops::Range<u32>) {
    let dir = frr.dir().to_path_buf();
    let mut conf = String::from("router bgp 65001\n address-family ipv6 unicast\n");
    for n in range {
        conf.push_str(&format!("  network {}\n", route_v6(n)));
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
