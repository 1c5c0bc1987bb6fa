//! The non-stop-routing labs of ha_standbys_lab and ha_split_brain_lab: a containerlab
//! topology written at run time (FRR and BIRD neighbours of a bgpd primary, one or more
//! bgpd standbys, each with its own mirror port that copies every frame entering the
//! switch from the primary, the standbys and the neighbours), run by `interop demo`'s
//! machinery with a scenario of the test's own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use interop::demo::{DemoLab, DemoOptions, Scenario, ScenarioOutcome};
use interop::poll::poll_until;
use interop::process::LabProcess;
use interop::speaker::{sibling_binary, LabSpeaker};
use interop::{LabError, Netns, Result};
use ipnetwork::{IpNetwork, Ipv4Network};
use serde_json::Value;

/// The namespace prefix of these labs.
pub const PREFIX: &str = "uslb-";
/// How long to wait for a daemon to reach a state.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// The neighbours' hold time (the watch after a takeover is longer).
pub const HOLD: Duration = Duration::from_secs(9);

/// One bgpd standby of the lab: node `stbyN` (N from 1), 192.0.2.(1+N) on the switch,
/// 198.51.100.(1+N) on the checkpoint LAN (its checkpoint endpoint once it is primary).
#[derive(Debug, Clone, Copy)]
pub struct StandbySpec {
    pub node_id: u32,
    pub priority: u8,
}

/// The node name of standby `i` (0-based).
pub fn standby_node(i: usize) -> String {
    format!("stby{}", i + 1)
}

/// A topology and configuration files written under `/tmp`, removed when dropped.
pub struct Generated {
    pub dir: PathBuf,
    pub topology: PathBuf,
}

impl Drop for Generated {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bgpd_config(ha: &str) -> String {
    let mut s = String::from(
        "router_id = \"192.0.2.1\"\nlocal_as = 65000\nlisten_addresses = [\"192.0.2.1\"]\n",
    );
    for (addr, asn, desc) in [("192.0.2.11", 65011, "frr"), ("192.0.2.12", 65012, "bird")] {
        s.push_str(&format!(
            "\n[[neighbor]]\naddress = \"{addr}\"\nremote_as = {asn}\ndescription = \"{desc}\"\n\
             hold_time = 9\nconnect_retry = 2\nlocal_address = \"192.0.2.1\"\n\
             families = [\"ipv4/unicast\"]\nimport = [\"all\"]\nexport = [\"all\"]\n"
        ));
    }
    s.push_str(
        "\n[[network]]\nprefix = \"198.51.100.128/25\"\n\n[policy.policies.all]\ndefault = \"accept\"\n\n[ha]\n",
    );
    s.push_str(ha);
    s
}

const FRR_CONF: &str = "frr defaults traditional\nhostname frr\n!\nrouter bgp 65011\n\
 bgp router-id 192.0.2.11\n no bgp ebgp-requires-policy\n no bgp network import-check\n\
 no bgp default ipv4-unicast\n neighbor 192.0.2.1 remote-as 65000\n\
 neighbor 192.0.2.1 timers 3 9\n neighbor 192.0.2.1 timers connect 1\n !\n\
 address-family ipv4 unicast\n  network 203.0.113.0/25\n  neighbor 192.0.2.1 activate\n\
 exit-address-family\n!\n";

const BIRD_CONF: &str = "router id 192.0.2.12;\ntimeformat protocol \"%s\";\n\
protocol device { scan time 1; }\n\
protocol static static4 { ipv4; route 203.0.113.128/25 blackhole; }\n\
protocol bgp understudy {\n  local 192.0.2.12 as 65012;\n  neighbor 192.0.2.1 as 65000;\n\
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;\n\
  error wait time 1, 5;\n  ipv4 { import all; export all; };\n}\n";

/// Writes the lab for `standbys` (primary node_id 1, priority 100).
///
/// ```text
/// switch LAN      192.0.2.0/24: primary .1 (session address), stbyN .(1+N), frr .11, bird .12
/// checkpoint LAN  198.51.100.0/25 (bridge ckpt): primary .1, stbyN .(1+N)
/// ```
pub fn generate(standbys: &[StandbySpec]) -> Generated {
    let dir = std::env::temp_dir().join(format!(
        "uslb-topology-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("frr.conf", FRR_CONF);
    write("bird.conf", BIRD_CONF);
    write(
        "primary.toml",
        &bgpd_config(
            "role = \"primary\"\nnode_id = 1\npriority = 100\ncheckpoint_address = \"198.51.100.1:50052\"\n",
        ),
    );
    let mut sources = vec!["sw-prim".to_string(), "sw-frr".into(), "sw-bird".into()];
    for i in 0..standbys.len() {
        sources.push(format!("sw-{}", standby_node(i)));
    }
    let mirrors: Vec<String> = (0..standbys.len())
        .map(|i| format!("sw-mon{}<-{}", i + 1, sources.join(",")))
        .collect();
    let mut nodes = format!(
        "    switch:\n      kind: bridge\n      labels:\n        understudy.mirror: \"{}\"\n\
         \x20   ckpt:\n      kind: bridge\n\
         \x20   frr:\n      kind: linux\n      image: quay.io/frrouting/frr:8.4.4\n      binds:\n        - frr.conf:/etc/frr/frr.conf\n      labels:\n        understudy.role: frr\n        understudy.feed: \"0/2\"\n      exec:\n        - ip addr add 192.0.2.11/24 dev eth1\n\
         \x20   bird:\n      kind: linux\n      image: ghcr.io/bird-routing/bird:2.0.12\n      binds:\n        - bird.conf:/etc/bird/bird.conf\n      labels:\n        understudy.role: bird\n        understudy.feed: \"1/2\"\n      exec:\n        - ip addr add 192.0.2.12/24 dev eth1\n\
         \x20   primary:\n      kind: linux\n      image: understudy:latest\n      binds:\n        - primary.toml:/etc/understudy/bgpd.toml\n      labels:\n        understudy.role: understudy\n        understudy.ha: primary\n      exec:\n        - ip addr add 192.0.2.1/24 dev eth1\n        - ip addr add 198.51.100.1/25 dev eth2\n",
        mirrors.join(";")
    );
    let mut links = String::from(
        "    - endpoints: [\"frr:eth1\", \"switch:sw-frr\"]\n    - endpoints: [\"bird:eth1\", \"switch:sw-bird\"]\n\
         \x20   - endpoints: [\"primary:eth1\", \"switch:sw-prim\"]\n    - endpoints: [\"primary:eth2\", \"ckpt:ck-prim\"]\n",
    );
    for (i, s) in standbys.iter().enumerate() {
        let node = standby_node(i);
        let n = i + 2;
        write(
            &format!("{node}.toml"),
            &bgpd_config(&format!(
                "role = \"standby\"\nnode_id = {}\npriority = {}\nprimary = \"http://198.51.100.1:50052\"\n\
                 checkpoint_address = \"198.51.100.{n}:50052\"\nmirror_interface = \"mon0\"\nsession_interface = \"eth1\"\n",
                s.node_id, s.priority
            )),
        );
        nodes.push_str(&format!(
            "    {node}:\n      kind: linux\n      image: understudy:latest\n      binds:\n        - {node}.toml:/etc/understudy/bgpd.toml\n      labels:\n        understudy.role: understudy\n        understudy.ha: standby\n      exec:\n        - ip addr add 192.0.2.{n}/24 dev eth1\n        - ip addr add 198.51.100.{n}/25 dev eth2\n        - ip link set mon0 promisc on\n"
        ));
        links.push_str(&format!(
            "    - endpoints: [\"{node}:eth1\", \"switch:sw-{node}\"]\n    - endpoints: [\"{node}:mon0\", \"switch:sw-mon{}\"]\n    - endpoints: [\"{node}:eth2\", \"ckpt:ck-{node}\"]\n",
            i + 1
        ));
    }
    let topology = dir.join("nsr.clab.yml");
    std::fs::write(
        &topology,
        format!("name: nsr\n\ntopology:\n  nodes:\n{nodes}\n  links:\n{links}"),
    )
    .unwrap();
    Generated { dir, topology }
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The demo options for `generated`, feeding `slice` prefixes of the MRT dump (half by
/// FRR, half by BIRD).
pub fn options(generated: &Generated, slice: usize) -> DemoOptions {
    super::demo_options(&generated.topology, PREFIX, slice)
}

/// A scenario made of a closure; `standbys` tells whether the demo starts the topology's
/// standbys with the primary.
pub struct Steps<F> {
    pub name: &'static str,
    pub standbys: bool,
    pub run: F,
}

impl<F: FnMut(&mut DemoLab<'_>) -> Result<ScenarioOutcome>> Scenario for Steps<F> {
    fn name(&self) -> &str {
        self.name
    }

    fn wants_standby(&self) -> bool {
        self.standbys
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> Result<ScenarioOutcome> {
        (self.run)(lab)
    }
}

/// Starts bgpd on understudy node `node` of the running lab (its bound configuration, JSON
/// logs in `{workdir}/{node}/bgpd.log`), as `interop demo` starts its speakers.
pub fn start_speaker(lab: &DemoLab<'_>, node: &str) -> Result<LabSpeaker> {
    let rt = &*lab.rt;
    let n = rt
        .nodes
        .iter()
        .find(|n| n.name == node)
        .expect("node in the topology");
    let conf = rt
        .topology
        .bind_source(n, interop::speaker::CONFIG_NAMES)
        .expect("bound configuration");
    let bgpd = sibling_binary("bgpd").expect("bgpd next to the test executable");
    let dir = rt.lab.subdir(node)?;
    let conf = conf.to_string_lossy().into_owned();
    let ns = rt.ns(node)?.clone();
    let process = LabProcess::spawn(
        &ns,
        &format!("bgpd on {node}"),
        &bgpd.to_string_lossy(),
        &["--config", &conf, "--log-json"],
        &[("RUST_LOG", "info")],
        &dir.join("bgpd.log"),
    )?;
    Ok(LabSpeaker {
        node: node.to_string(),
        ha: n.def.labels.get("understudy.ha").cloned(),
        process,
        ns,
    })
}

/// The speaker of `node`.
pub fn speaker<'a>(speakers: &'a mut [LabSpeaker], node: &str) -> &'a mut LabSpeaker {
    speakers
        .iter_mut()
        .find(|s| s.node == node)
        .unwrap_or_else(|| panic!("no speaker on {node}"))
}

/// `understudy ha --json` of `node`.
pub fn status(speakers: &mut [LabSpeaker], node: &str) -> Result<Value> {
    speaker(speakers, node).ha_status()
}

fn failed(detail: String) -> LabError {
    LabError::Topology {
        file: "<lab>".into(),
        detail,
    }
}

/// Waits until each of `standbys` is a connected, synchronised standby whose Loc-RIB
/// (route count and digest) equals `primary`'s, for a whole second; returns the digest
/// and route count. Fails at once when a standby reports itself primary (split brain).
pub fn wait_lockstep(
    speakers: &mut [LabSpeaker],
    primary: &str,
    standbys: &[&str],
) -> Result<(String, u64)> {
    let mut since: Option<(Instant, String)> = None;
    poll_until(
        &format!("{standbys:?} in lockstep with {primary} (synchronised, same Loc-RIB digest)"),
        TIMEOUT,
        Duration::from_millis(200),
        || {
            let p = status(speakers, primary)?;
            let digest = p["loc_rib_digest"].as_str().unwrap_or("").to_string();
            let mut ok = p["role"] == "primary" && !digest.is_empty();
            for s in standbys {
                let v = status(speakers, s)?;
                if v["role"] == "primary" {
                    return Err(failed(format!(
                        "{s} reports itself primary while {primary} is alive (split brain): {v}"
                    )));
                }
                ok &= v["role"] == "standby"
                    && v["synchronised"] == true
                    && v["connected"] == true
                    && v["loc_rib_digest"] == p["loc_rib_digest"]
                    && v["loc_rib_routes"] == p["loc_rib_routes"];
            }
            if !ok {
                since = None;
                return Ok(None);
            }
            match &since {
                Some((t, d)) if *d == digest => {
                    if t.elapsed() >= Duration::from_secs(1) {
                        return Ok(Some((digest, p["loc_rib_routes"].as_u64().unwrap_or(0))));
                    }
                }
                _ => since = Some((Instant::now(), digest)),
            }
            Ok(None)
        },
    )
}

/// Waits until `primary` reports each node of `nodes` as a synchronised standby with no
/// digest mismatch and at least one matched maintenance digest; returns its status.
pub fn wait_primary_sees(
    speakers: &mut [LabSpeaker],
    primary: &str,
    nodes: &[u32],
) -> Result<Value> {
    poll_until(
        &format!("{primary} to report standbys {nodes:?} synchronised"),
        TIMEOUT,
        Duration::from_millis(200),
        || {
            let p = status(speakers, primary)?;
            let list = p["standbys"].as_array().cloned().unwrap_or_default();
            let ok = nodes.iter().all(|n| {
                list.iter().any(|s| {
                    s["node_id"] == *n
                        && s["synchronised"] == true
                        && s["digests_mismatched"] == 0
                        && s["digests_matched"].as_u64().unwrap_or(0) >= 1
                })
            });
            Ok(ok.then_some(p))
        },
    )
}

/// Route `i` FRR adds during a scenario: /27 subnets of 198.18.0.0/15 (RFC 2544).
pub fn added_route(i: u32) -> IpNetwork {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    IpNetwork::V4(Ipv4Network::new(Ipv4Addr::from(base + i * 32), 27).unwrap())
}

/// FRR (node `frr`, vty socket in `{workdir}/frr`) announces routes `range` in batches of
/// `batch`, `pause` apart, in a thread; join it to wait for the end.
pub fn announce_in_background(
    lab: &DemoLab<'_>,
    range: std::ops::Range<u32>,
    batch: u32,
    pause: Duration,
) -> std::thread::JoinHandle<()> {
    let dir = lab.rt.lab.workdir().join("frr");
    let ns = lab.rt.ns("frr").unwrap().clone();
    std::thread::spawn(move || announce(&dir, &ns, range, batch, pause))
}

fn announce(dir: &Path, ns: &Netns, range: std::ops::Range<u32>, batch: u32, pause: Duration) {
    let mut i = range.start;
    while i < range.end {
        let end = (i + batch).min(range.end);
        let mut conf = String::from("router bgp 65011\n address-family ipv4 unicast\n");
        for n in i..end {
            conf.push_str(&format!("  network {}\n", added_route(n)));
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

/// Per neighbour (node name), per session, the prefixes it holds from that session.
pub type RouteSets = BTreeMap<String, BTreeMap<IpAddr, BTreeSet<IpNetwork>>>;

/// What every neighbour holds now from each of its sessions.
pub fn route_sets(lab: &mut DemoLab<'_>) -> Result<RouteSets> {
    let mut out = BTreeMap::new();
    for (name, n) in lab.rt.neighbors.iter_mut() {
        let mut m = BTreeMap::new();
        for s in n.sessions()? {
            if let Some(peer) = s.peer {
                m.insert(peer, n.routes_received(peer)?);
            }
        }
        out.insert(name.clone(), m);
    }
    Ok(out)
}

/// Waits until every neighbour holds at least `min` prefixes from every session and the
/// counts held still for a second.
pub fn wait_routes_settled(lab: &mut DemoLab<'_>, min: usize) -> Result<RouteSets> {
    let mut last: Option<(BTreeMap<String, usize>, Instant)> = None;
    poll_until(
        &format!("every neighbour to hold at least {min} prefixes, settled"),
        TIMEOUT,
        Duration::from_millis(300),
        || {
            let sets = route_sets(lab)?;
            let counts: BTreeMap<String, usize> = sets
                .iter()
                .map(|(n, m)| (n.clone(), m.values().map(BTreeSet::len).sum()))
                .collect();
            if counts.values().any(|c| *c < min) {
                last = None;
                return Ok(None);
            }
            match &last {
                Some((c, t)) if *c == counts => {
                    if t.elapsed() >= Duration::from_secs(1) {
                        return Ok(Some(sets));
                    }
                }
                _ => last = Some((counts, Instant::now())),
            }
            Ok(None)
        },
    )
}

/// The messages of `node`'s JSON log lines that start with `prefix`.
pub fn logged(speakers: &mut [LabSpeaker], node: &str, prefix: &str) -> Vec<Value> {
    speaker(speakers, node)
        .events()
        .into_iter()
        .filter(|e| interop::speaker::message(e).is_some_and(|m| m.starts_with(prefix)))
        .collect()
}
