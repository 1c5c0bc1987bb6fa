//! GoBGP adapter: `gobgpd -f CONF -t toml` inside a namespace, its gRPC API on the
//! namespace's own loopback (127.0.0.1:50051, so instances never clash), queried with
//! `gobgp -j` run inside the same namespace. Originated networks are added through the API
//! after start (`gobgp global rib add`), as GoBGP's file has no static routes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnetwork::IpNetwork;
use serde_json::Value;

use super::{secs, BgpConfig, Family, Neighbor, NeighborKind, SessionState};
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::LabProcess;

/// The API port inside the namespace.
const API_PORT: &str = "50051";

/// GoBGP's `session_state` value for Established (its API enum).
const SESSION_ESTABLISHED: u64 = 6;

/// A running GoBGP instance.
#[derive(Debug)]
pub struct Gobgp {
    name: String,
    ns: Netns,
    dir: PathBuf,
    networks: Vec<IpNetwork>,
    process: Option<LabProcess>,
}

/// Renders `cfg` as a gobgpd TOML configuration.
pub fn render_config(cfg: &BgpConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "[global.config]\n  as = {}\n  router-id = \"{}\"\n  port = 179",
        cfg.local_as, cfg.router_id
    );
    for p in &cfg.peers {
        let _ = writeln!(s, "[[neighbors]]\n  [neighbors.config]");
        let _ = writeln!(
            s,
            "    neighbor-address = \"{}\"\n    peer-as = {}",
            p.address, p.remote_as
        );
        if let Some(pw) = &p.md5_password {
            let _ = writeln!(s, "    auth-password = \"{pw}\"");
        }
        let _ = writeln!(
            s,
            "  [neighbors.timers.config]\n    connect-retry = {}\n    hold-time = {}\n    keepalive-interval = {}",
            secs(cfg.connect_retry),
            secs(p.hold_time),
            secs(p.keepalive)
        );
        s.push_str("  [neighbors.transport.config]\n");
        if let Some(l) = p.local_address {
            let _ = writeln!(s, "    local-address = \"{l}\"");
        }
        let _ = writeln!(s, "    passive-mode = {}", p.passive);
        if cfg.graceful_restart {
            s.push_str("  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n");
        }
        for (family, name) in [
            (Family::Ipv4Unicast, "ipv4-unicast"),
            (Family::Ipv6Unicast, "ipv6-unicast"),
        ] {
            if p.carries(family) {
                let _ = writeln!(
                    s,
                    "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{name}\""
                );
                if cfg.graceful_restart {
                    s.push_str("    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n");
                }
            }
        }
    }
    s
}

impl Gobgp {
    /// Starts gobgpd for node `node` of `lab` with `cfg`, and originates `cfg.networks`.
    pub fn start(lab: &Lab, node: &str, cfg: &BgpConfig) -> Result<Gobgp> {
        let (ns, dir) = super::node_place(lab, node)?;
        let mut g = Gobgp::start_with_config(&ns, &dir, node, &render_config(cfg))?;
        for n in &cfg.networks {
            g.add_route(*n)?;
        }
        Ok(g)
    }

    /// Starts gobgpd in `ns` with the TOML configuration `config`, files in `dir`.
    pub fn start_with_config(ns: &Netns, dir: &Path, name: &str, config: &str) -> Result<Gobgp> {
        let conf = dir.join("gobgpd.toml");
        std::fs::write(&conf, config).map_err(|e| LabError::io(&conf, e))?;
        let mut g = Gobgp {
            name: name.to_string(),
            ns: ns.clone(),
            dir: dir.to_path_buf(),
            networks: Vec::new(),
            process: None,
        };
        g.spawn()?;
        Ok(g)
    }

    /// Starts gobgpd with the instance's configuration, waits for its API and originates
    /// the networks added so far.
    fn spawn(&mut self) -> Result<()> {
        let c = self.dir.join("gobgpd.toml").to_string_lossy().into_owned();
        let api = format!("127.0.0.1:{API_PORT}");
        let log = self.dir.join("gobgpd.log");
        self.process = Some(LabProcess::spawn_appending(
            &self.ns,
            &self.name,
            "gobgpd",
            &[
                "-f",
                &c,
                "-t",
                "toml",
                "--api-hosts",
                &api,
                "-p",
                "--pprof-disable",
            ],
            &[],
            &log,
        )?);
        let name = self.name.clone();
        poll_until(
            &format!("GoBGP {name} API"),
            crate::poll::STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.check_running()?;
                Ok(self.gobgp(&["global"]).ok().map(|_| ()))
            },
        )?;
        for n in self.networks.clone() {
            self.announce(n)?;
        }
        Ok(())
    }

    fn check_running(&mut self) -> Result<()> {
        match self.process.as_mut() {
            Some(p) => p.check_running(),
            None => Err(LabError::Exited {
                name: self.name.clone(),
                status: "stopped".into(),
                log: String::new(),
            }),
        }
    }

    /// Runs `gobgp -u 127.0.0.1 -p 50051 ARGS...` inside the namespace; returns stdout.
    pub fn gobgp(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-u", "127.0.0.1", "-p", API_PORT];
        full.extend_from_slice(args);
        self.ns.exec("gobgp", &full)
    }

    /// Originates `prefix` (next hop self); a restart originates it again.
    pub fn add_route(&mut self, prefix: IpNetwork) -> Result<()> {
        self.announce(prefix)?;
        if !self.networks.contains(&prefix) {
            self.networks.push(prefix);
        }
        Ok(())
    }

    fn announce(&self, prefix: IpNetwork) -> Result<()> {
        let afi = if prefix.is_ipv4() { "ipv4" } else { "ipv6" };
        self.gobgp(&["global", "rib", "-a", afi, "add", &prefix.to_string()])?;
        Ok(())
    }

    /// Withdraws the originated `prefix`.
    pub fn delete_route(&mut self, prefix: IpNetwork) -> Result<()> {
        self.networks.retain(|n| *n != prefix);
        let afi = if prefix.is_ipv4() { "ipv4" } else { "ipv6" };
        self.gobgp(&["global", "rib", "-a", afi, "del", &prefix.to_string()])?;
        Ok(())
    }

    /// gobgpd's PID (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map(LabProcess::pid).unwrap_or(0)
    }
}

/// Parses `gobgp neighbor ADDR -j`.
pub fn parse_neighbor(peer: IpAddr, v: &Value) -> Result<SessionState> {
    let state = v
        .get("state")
        .ok_or_else(|| LabError::parse("gobgp neighbor JSON", "no \"state\""))?;
    let code = state
        .get("session_state")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let established = code == SESSION_ESTABLISHED;
    let name = match code {
        1 => "Idle",
        2 => "Connect",
        3 => "Active",
        4 => "OpenSent",
        5 => "OpenConfirm",
        6 => "Established",
        _ => "Unknown",
    };
    // Counters are omitted from the JSON when zero; present "messages" means zero then.
    let msg = |dir: &str, k: &str| {
        state
            .get("messages")
            .and_then(|m| m.get(dir))
            .map(|d| d.get(k).and_then(Value::as_u64).unwrap_or(0))
    };
    let uptime = if established {
        v.pointer("/timers/state/uptime/seconds")
            .and_then(Value::as_u64)
            .and_then(|since| {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
                Some(Duration::from_secs(now.saturating_sub(since)))
            })
    } else {
        None
    };
    let (mut rx, mut tx) = (None, None);
    if let Some(afs) = v.get("afi_safis").and_then(Value::as_array) {
        for af in afs {
            let st = af.get("state");
            if let Some(st) = st {
                rx =
                    Some(rx.unwrap_or(0) + st.get("accepted").and_then(Value::as_u64).unwrap_or(0));
                tx = Some(
                    tx.unwrap_or(0) + st.get("advertised").and_then(Value::as_u64).unwrap_or(0),
                );
            }
        }
    }
    Ok(SessionState {
        peer: Some(peer),
        state: name.to_string(),
        established,
        uptime,
        established_count: None,
        dropped_count: None,
        messages_received: msg("received", "total"),
        messages_sent: msg("sent", "total"),
        updates_received: msg("received", "update"),
        notifications_received: msg("received", "notification"),
        notifications_sent: msg("sent", "notification"),
        prefixes_received: rx,
        prefixes_sent: tx,
    })
}

/// The prefixes of `gobgp global rib -j` with a path whose `neighbor-ip` is `peer` (what
/// GoBGP accepted from it, after import policy).
pub fn parse_rib_from(peer: IpAddr, v: &Value) -> Result<BTreeSet<IpNetwork>> {
    let Some(map) = v.as_object() else {
        // An empty table prints as `null` or nothing.
        return Ok(BTreeSet::new());
    };
    let peer = peer.to_string();
    let mut set = BTreeSet::new();
    for (prefix, paths) in map {
        let from_peer = paths
            .as_array()
            .map(|ps| {
                ps.iter()
                    .any(|p| p.get("neighbor-ip").and_then(Value::as_str) == Some(&peer))
            })
            .unwrap_or(false);
        if from_peer {
            set.insert(
                prefix
                    .parse()
                    .map_err(|e| LabError::parse("gobgp route prefix", e))?,
            );
        }
    }
    Ok(set)
}

fn parse_json(what: &str, text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| LabError::parse(what, e))
}

impl Neighbor for Gobgp {
    fn kind(&self) -> NeighborKind {
        NeighborKind::Gobgp
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn session(&mut self, peer: IpAddr) -> Result<SessionState> {
        self.check_running()?;
        let out = self.gobgp(&["neighbor", &peer.to_string(), "-j"])?;
        parse_neighbor(peer, &parse_json("gobgp neighbor JSON", &out)?)
    }

    fn sessions(&mut self) -> Result<Vec<SessionState>> {
        self.check_running()?;
        let out = self.gobgp(&["neighbor", "-j"])?;
        let v = parse_json("gobgp neighbors JSON", &out)?;
        let mut list = Vec::new();
        for n in v.as_array().map(Vec::as_slice).unwrap_or_default() {
            let addr = n
                .pointer("/state/neighbor_address")
                .or_else(|| n.pointer("/conf/neighbor_address"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            if let Some(addr) = addr {
                list.push(parse_neighbor(addr, n)?);
            }
        }
        Ok(list)
    }

    fn routes_received(&mut self, peer: IpAddr) -> Result<BTreeSet<IpNetwork>> {
        self.check_running()?;
        let mut set = BTreeSet::new();
        for afi in ["ipv4", "ipv6"] {
            let out = self.gobgp(&["global", "rib", "-a", afi, "-j"])?;
            set.extend(parse_rib_from(peer, &parse_json("gobgp rib JSON", &out)?)?);
        }
        Ok(set)
    }

    fn process_mut(&mut self) -> &mut Option<LabProcess> {
        &mut self.process
    }

    fn spawn_process(&mut self) -> Result<()> {
        self.spawn()
    }
}

impl Drop for Gobgp {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::neighbor::PeerConfig;

    #[test]
    fn neighbor_json_is_parsed() {
        let v: Value = serde_json::from_str(
            r#"{"conf":{"neighbor_address":"192.0.2.1"},"state":{"messages":{"received":{"update":2,"open":1,"keepalive":2,"total":5},"sent":{"update":1,"open":1,"keepalive":2,"total":4}},"session_state":6},
            "timers":{"state":{"uptime":{"seconds":1}}},
            "afi_safis":[{"state":{"received":2,"accepted":1,"advertised":1}}]}"#,
        )
        .unwrap();
        let s = parse_neighbor("192.0.2.1".parse().unwrap(), &v).unwrap();
        assert!(s.established);
        assert_eq!(s.state, "Established");
        assert_eq!(s.notifications_received, Some(0));
        assert_eq!(s.messages_received, Some(5));
        assert_eq!(s.prefixes_received, Some(1));
        assert!(s.uptime.unwrap() > Duration::from_secs(1_000_000));
    }

    #[test]
    fn rib_is_filtered_by_neighbor() {
        let v: Value = serde_json::from_str(
            r#"{"198.51.100.0/24":[{"neighbor-ip":"192.0.2.1"}],"203.0.113.0/24":[{"stale":false}]}"#,
        )
        .unwrap();
        let set = parse_rib_from("192.0.2.1".parse().unwrap(), &v).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains(&"198.51.100.0/24".parse().unwrap()));
        assert!(parse_rib_from("192.0.2.1".parse().unwrap(), &Value::Null)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn config_renders_md5_and_families() {
        let cfg = BgpConfig::new(65003, "192.0.2.2".parse().unwrap()).peer(
            PeerConfig::new("192.0.2.1".parse().unwrap(), 65001)
                .md5("pw")
                .passive(),
        );
        let text = render_config(&cfg);
        assert!(text.contains("auth-password = \"pw\""));
        assert!(text.contains("passive-mode = true"));
        assert!(text.contains("afi-safi-name = \"ipv4-unicast\""));
        assert!(!text.contains("ipv6-unicast"));
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["neighbors"][0]["config"]["peer-as"].as_integer(),
            Some(65001)
        );
    }
}
