//! The takeover benchmark's lab (the picture in [`super::plan`]): namespaces, links,
//! addresses, the mirror, and the router's bgpd processes, all inside a [`Lab`] guard.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ipnetwork::IpNetwork;

use super::plan::{self, Role, Sessions};
use crate::lab::Lab;
use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::LabProcess;

/// The primary's links, as switch ports (cut together at the failure).
pub const PRIMARY_PORTS: [&str; 3] = ["sw-prim", "cl-prim", "ck-prim"];

/// The index of the switch's shared tc action that every frame to or from the primary
/// passes (see [`RouterLab::cut_primary`]): a mirror to a port that is down, which copies
/// nothing, until the failure turns it into a redirect there, which drops everything.
pub const CUT_ACTION: u32 = 17;

/// The switch's port that is never up: the cut action's target.
const SINK: &str = "sw-sink";

/// The built lab.
#[derive(Debug)]
pub struct RouterLab {
    /// The guard (dropped last).
    pub lab: Lab,
    /// The switch.
    pub sw: Netns,
    /// The primary (or the plain router).
    pub primary: Netns,
    /// The standby (None without HA).
    pub standby: Option<Netns>,
    /// The feeder, the keepalive peers and the server.
    pub peers: Netns,
    /// FRR (None when the run has one session).
    pub frr: Option<Netns>,
    /// The ping stream's client (None without HA).
    pub client: Option<Netns>,
}

fn v4(a: Ipv4Addr, len: u8) -> anyhow::Result<IpNetwork> {
    Ok(IpNetwork::V4(ipnetwork::Ipv4Network::new(a, len)?))
}

fn net(s: &str) -> anyhow::Result<IpNetwork> {
    s.parse().with_context(|| format!("address {s}"))
}

/// Runs `ip -n NS -batch -` with `lines` on its standard input.
pub fn ip_batch(ns: &Netns, lines: &[String]) -> anyhow::Result<()> {
    let mut child = Command::new("ip")
        .args(["-n", ns.name(), "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ip -batch")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(lines.join("\n").as_bytes())?;
        stdin.write_all(b"\n")?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "ip -n {} -batch: {}",
        ns.name(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// The moment the primary's links went down: wall clock and monotonic, taken just before
/// the `ip` already waiting on its input was given the commands, and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    /// Wall clock (since the Unix epoch) before the primary was cut off.
    pub at: Duration,
    /// The same instant, monotonic.
    pub instant: Instant,
    /// Wall clock once `ip` had set every link down and exited.
    pub done: Duration,
}

fn wall() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl RouterLab {
    /// Builds the lab for `sessions`; with `ha` the standby, the mirror, the checkpoint
    /// link and the client LAN too.
    pub fn build(prefix: &str, sessions: Sessions, ha: bool) -> anyhow::Result<RouterLab> {
        let mut lab = Lab::new(prefix)?;
        let sw = lab.add_namespace("sw")?;
        lab.add_bridge(&sw, "br0")?;
        let primary = lab.add_namespace("prim")?;
        lab.add_veth(&sw, "sw-prim", &primary, "eth1")?;
        lab.set_master(&sw, "sw-prim", "br0")?;
        lab.add_address(&primary, "eth1", v4(plan::ROUTER, 24)?)?;
        let peers = lab.add_namespace("peers")?;
        lab.add_veth(&sw, "sw-peers", &peers, "eth0")?;
        lab.set_master(&sw, "sw-peers", "br0")?;
        // The feeder's address first: the primary address, the source of its connection.
        let mut batch = vec![format!("addr add {} dev eth0", v4(plan::FEEDER, 24)?)];
        for i in 0..sessions.keepalive {
            batch.push(format!(
                "addr add {} dev eth0",
                v4(plan::keepalive_peer(i).0, 24)?
            ));
        }
        batch.push(format!("addr add {}/32 dev lo", plan::SERVER));
        ip_batch(&peers, &batch)?;
        let frr = if sessions.frr {
            let f = lab.add_namespace("frr")?;
            lab.add_veth(&sw, "sw-frr", &f, "eth0")?;
            lab.set_master(&sw, "sw-frr", "br0")?;
            lab.add_address(&f, "eth0", v4(plan::FRR, 24)?)?;
            Some(f)
        } else {
            None
        };
        let (mut standby, mut client) = (None, None);
        if ha {
            lab.add_bridge(&sw, "brc")?;
            lab.add_bridge(&sw, "brk")?;
            lab.add_veth(&sw, "cl-prim", &primary, "eth2")?;
            lab.set_master(&sw, "cl-prim", "brc")?;
            lab.add_veth(&sw, "ck-prim", &primary, "eth3")?;
            lab.set_master(&sw, "ck-prim", "brk")?;
            lab.add_address(&primary, "eth2", net(plan::GATEWAY)?)?;
            lab.add_address(&primary, "eth3", net(plan::CKPT_PRIMARY)?)?;
            lab.enable_forwarding(&primary)?;
            let s = lab.add_namespace("stby")?;
            lab.add_veth(&sw, "sw-stby", &s, "eth1")?;
            lab.set_master(&sw, "sw-stby", "br0")?;
            lab.add_veth(&sw, "cl-stby", &s, "eth2")?;
            lab.set_master(&sw, "cl-stby", "brc")?;
            lab.add_veth(&sw, "ck-stby", &s, "eth3")?;
            lab.set_master(&sw, "ck-stby", "brk")?;
            lab.add_veth(&sw, "sw-mon", &s, "mon0")?;
            s.ip(&["link", "set", "mon0", "promisc", "on"])?;
            lab.add_address(&s, "eth1", v4(plan::STANDBY, 24)?)?;
            lab.add_address(&s, "eth2", net(plan::STANDBY_CLIENT)?)?;
            lab.add_address(&s, "eth3", net(plan::CKPT_STANDBY)?)?;
            lab.enable_forwarding(&s)?;
            let mut mirrored = vec!["sw-prim", "sw-peers"];
            if frr.is_some() {
                mirrored.push("sw-frr");
            }
            for port in mirrored {
                lab.add_mirror(&sw, port, "sw-mon")?;
            }
            let c = lab.add_namespace("client")?;
            lab.add_veth(&sw, "cl-client", &c, "eth0")?;
            lab.set_master(&sw, "cl-client", "brc")?;
            lab.add_address(&c, "eth0", net(plan::CLIENT)?)?;
            c.ip(&["route", "add", "default", "via", &gateway_addr()])?;
            // The server's way back to the client LAN is the router.
            lab.add_route(&peers, net(plan::CLIENT_LAN)?, IpAddr::V4(plan::ROUTER))?;
            standby = Some(s);
            client = Some(c);
        }
        // The cut (see `cut_primary`): every frame to and from the primary's ports passes
        // the shared action, before the mirror's filter (prio 10) on the way in, on the root
        // qdisc on the way out.
        let ports = sw.interfaces()?;
        sw.ip(&[
            "link",
            "add",
            SINK,
            "type",
            "veth",
            "peer",
            "name",
            "sw-sink-peer",
        ])?;
        let action = CUT_ACTION.to_string();
        sw.tc(&[
            "actions", "add", "action", "mirred", "egress", "mirror", "dev", SINK, "continue",
            "index", &action,
        ])?;
        for port in PRIMARY_PORTS {
            if !ports.iter().any(|i| i == port) {
                continue;
            }
            if !sw.tc(&["qdisc", "show", "dev", port])?.contains("ingress") {
                sw.tc(&["qdisc", "add", "dev", port, "ingress"])?;
            }
            sw.tc(&["qdisc", "add", "dev", port, "root", "handle", "1:", "htb"])?;
            for parent in ["ffff:", "1:"] {
                sw.tc(&[
                    "filter", "add", "dev", port, "parent", parent, "prio", "1", "protocol", "all",
                    "u32", "match", "u32", "0", "0", "action", "mirred", "index", &action,
                ])?;
            }
        }
        Ok(RouterLab {
            lab,
            sw,
            primary,
            standby,
            peers,
            frr,
            client,
        })
    }

    /// Starts the feeder (in the peers' namespace) towards the router's session address: it
    /// writes `bytes` once Established and sends a KEEPALIVE every
    /// [`super::peers::KEEPALIVE_EVERY`].
    pub fn start_feeder(
        &self,
        bytes: &std::sync::Arc<Vec<u8>>,
        timeout: Duration,
    ) -> anyhow::Result<crate::bench::feeder::Feeder> {
        crate::bench::feeder::Feeder::start_with_keepalive(
            &self.peers,
            std::net::SocketAddr::from((plan::ROUTER, 179)),
            crate::bench::speaker::Identity {
                asn: plan::FEEDER_AS,
                router_id: plan::FEEDER,
            },
            bytes.clone(),
            timeout,
            super::peers::KEEPALIVE_EVERY,
        )
    }

    /// A directory of the lab.
    pub fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        Ok(self.lab.subdir(name)?)
    }

    /// Cuts the primary off at once (its box dies; nothing it sends gets out, nothing
    /// reaches it): one tc request turns the switch's shared action ([`CUT_ACTION`]) on all
    /// of [`PRIMARY_PORTS`] into a redirect to a port that is down, which drops every
    /// frame both ways. `tc` is started first and given the request when everything is
    /// ready.
    ///
    /// Why not set the ports down (as this bench did): both boxes share this host's kernel.
    /// A port set down drops the primary's carrier, and its kernel then deletes every route
    /// of the lost next hop, holding the RTNL lock that every namespace shares: at 1M
    /// routes that held the standby's address add for 600-1,300 ms (issue 7), where a
    /// dead box on its own would hold nothing. And one `ip link set` per port, under load,
    /// set the checkpoint link down up to 79 ms after the session link, heartbeats still
    /// flowing meanwhile.
    pub fn cut_primary(&self) -> anyhow::Result<Cut> {
        let mut child = Command::new("tc")
            .args(["-n", self.sw.name(), "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting tc -batch")?;
        // Let it start and block on its input.
        std::thread::sleep(Duration::from_millis(100));
        let text = format!(
            "actions replace action mirred egress redirect dev {SINK} index {CUT_ACTION}\n"
        );
        let at = wall();
        let instant = Instant::now();
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let done = wall();
        anyhow::ensure!(
            out.status.success(),
            "cutting the primary off: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(Cut { at, instant, done })
    }
}

fn gateway_addr() -> String {
    plan::GATEWAY
        .split('/')
        .next()
        .unwrap_or(plan::GATEWAY)
        .to_string()
}

/// The environment variable whose `RUST_LOG` directives are added to the routers' filter.
pub const EXTRA_LOG: &str = "US_TAKEOVER_BENCH_LOG";

/// The routers' `RUST_LOG`: info, the takeover's phases at debug, then `extra` (empty or
/// unset: nothing added).
pub fn log_filter(extra: Option<&str>) -> String {
    let base = "info,bgpd::takeover=debug";
    match extra.map(str::trim) {
        Some(e) if !e.is_empty() => format!("{base},{e}"),
        _ => base.to_string(),
    }
}

/// One bgpd of the lab, started with `--log-json` (the `ha:` lines are read from its log).
#[derive(Debug)]
pub struct RouterBgpd {
    /// Its namespace.
    pub ns: Netns,
    /// The process.
    pub process: LabProcess,
    config: PathBuf,
    cli: PathBuf,
    bgpd: PathBuf,
    name: String,
}

impl RouterBgpd {
    /// Writes the configuration for `sessions` in `role` into `dir` and starts bgpd in `ns`;
    /// waits until its admin API answers.
    pub fn start(
        ns: &Netns,
        dir: PathBuf,
        name: &str,
        sessions: Sessions,
        role: Role,
        fib: bool,
    ) -> anyhow::Result<RouterBgpd> {
        let bgpd = crate::neighbor::bgpd::binary("bgpd")?;
        let cli = crate::neighbor::bgpd::binary("understudy")?;
        let config = dir.join("bgpd.toml");
        std::fs::write(&config, plan::bgpd_config(sessions, role, fib))
            .with_context(|| format!("writing {}", config.display()))?;
        let check = Command::new(&bgpd)
            .arg("--check-config")
            .arg(&config)
            .output()
            .context("bgpd --check-config")?;
        anyhow::ensure!(
            check.status.success(),
            "bgpd --check-config {}: {}",
            config.display(),
            String::from_utf8_lossy(&check.stderr).trim()
        );
        let process = Self::spawn(ns, &bgpd, &config, name, false)?;
        let mut b = RouterBgpd {
            ns: ns.clone(),
            process,
            config,
            cli,
            bgpd,
            name: name.to_string(),
        };
        b.wait_admin()?;
        Ok(b)
    }

    fn spawn(
        ns: &Netns,
        bgpd: &std::path::Path,
        config: &std::path::Path,
        name: &str,
        append: bool,
    ) -> anyhow::Result<LabProcess> {
        let log = config.with_file_name("bgpd.log");
        let (b, c) = (bgpd.to_string_lossy(), config.to_string_lossy());
        let args = ["--config", &*c, "--log-json"];
        // The takeover's phase timings are logged at debug level; `US_TAKEOVER_BENCH_LOG`
        // adds directives (e.g. `ribsync=debug` for the standby driver's slow inputs).
        let filter = log_filter(std::env::var(EXTRA_LOG).ok().as_deref());
        let env = [("RUST_LOG", filter.as_str())];
        Ok(if append {
            LabProcess::spawn_appending(ns, name, &b, &args, &env, &log)?
        } else {
            LabProcess::spawn(ns, name, &b, &args, &env, &log)?
        })
    }

    fn wait_admin(&mut self) -> anyhow::Result<()> {
        let what = format!("bgpd {} admin API", self.name);
        poll_until(
            &what,
            crate::poll::STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.process.check_running()?;
                Ok(self.cli(&["info"]).ok().map(|_| ()))
            },
        )?;
        Ok(())
    }

    /// Kills bgpd (SIGKILL) and starts it again with the same configuration, its log
    /// appended to.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.process.kill();
        self.process = Self::spawn(&self.ns, &self.bgpd, &self.config, &self.name, true)?;
        self.wait_admin()
    }

    /// `understudy --json ARGS` against it; the parsed JSON.
    pub fn cli(&self, args: &[&str]) -> crate::Result<serde_json::Value> {
        let mut full = vec!["--admin", "127.0.0.1:50051", "--json"];
        full.extend_from_slice(args);
        let out = self.ns.exec(&self.cli.to_string_lossy(), &full)?;
        serde_json::from_str(out.trim()).map_err(|e| crate::LabError::parse("understudy --json", e))
    }

    /// Its Loc-RIB route count.
    pub fn loc_rib_routes(&self) -> crate::Result<u64> {
        let v = self.cli(&["info"])?;
        Ok(v["loc_rib_routes"].as_u64().unwrap_or(0))
    }

    /// Its JSON log lines so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        crate::speaker::log_events(
            &std::fs::read_to_string(self.process.log_path()).unwrap_or_default(),
        )
    }

    /// The first log line whose message starts with `prefix`.
    pub fn find_log(&self, prefix: &str) -> Option<serde_json::Value> {
        self.events()
            .into_iter()
            .find(|e| crate::speaker::message(e).is_some_and(|m| m.starts_with(prefix)))
    }

    /// Its log file.
    pub fn log_path(&self) -> PathBuf {
        self.process.log_path().to_path_buf()
    }
}
