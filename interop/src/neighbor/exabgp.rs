//! ExaBGP adapter: `exabgp CONF` inside a namespace, mostly to feed routes. ExaBGP has no
//! query interface without its named pipes, so the generated configuration adds an API
//! process that appends ExaBGP's JSON events (state changes, UPDATEs and NOTIFICATIONs
//! received) to `events.jsonl`; the session state and received routes are read from that
//! log. ExaBGP does no AS-path loop detection, so its received routes are every prefix
//! announced and not withdrawn, its own echoed back included.
//!
//! Its settings come from the environment (`exabgp.daemon.user=root`,
//! `exabgp.daemon.drop=false`, `exabgp.log.destination=stdout`, plus any given).

use std::collections::{BTreeMap, BTreeSet};
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

/// A running ExaBGP instance.
#[derive(Debug)]
pub struct Exabgp {
    name: String,
    ns: Netns,
    dir: PathBuf,
    env: Vec<(String, String)>,
    events: PathBuf,
    process: Option<LabProcess>,
}

/// The API block that sends ExaBGP's events to the `events` process.
fn api_block() -> &'static str {
    "  api { processes [ events ]; receive { parsed; update; notification; } neighbor-changes; }\n"
}

/// The `process events` block, running `script`.
fn process_block(script: &Path) -> String {
    format!(
        "process events {{\n  run {};\n  encoder json;\n}}\n",
        script.display()
    )
}

/// Renders `cfg` as an ExaBGP 4 configuration whose events go to `script`.
pub fn render_config(cfg: &BgpConfig, script: &Path) -> String {
    let mut s = process_block(script);
    for p in &cfg.peers {
        let _ = writeln!(s, "neighbor {} {{", p.address);
        let _ = writeln!(s, "  router-id {};", cfg.router_id);
        if let Some(l) = p.local_address {
            let _ = writeln!(s, "  local-address {l};");
        }
        let _ = writeln!(
            s,
            "  local-as {};\n  peer-as {};",
            cfg.local_as, p.remote_as
        );
        let _ = writeln!(s, "  hold-time {};", secs(p.hold_time));
        if p.passive {
            s.push_str("  passive;\n");
        }
        if let Some(pw) = &p.md5_password {
            let _ = writeln!(s, "  md5-password \"{pw}\";");
        }
        if cfg.graceful_restart {
            s.push_str("  capability { graceful-restart 120; }\n");
        }
        s.push_str("  family {\n");
        for (family, text) in [
            (Family::Ipv4Unicast, "ipv4 unicast"),
            (Family::Ipv6Unicast, "ipv6 unicast"),
        ] {
            if p.carries(family) {
                let _ = writeln!(s, "    {text};");
            }
        }
        s.push_str("  }\n");
        let nets: Vec<_> = cfg
            .networks
            .iter()
            .filter(|n| {
                (n.is_ipv4() && p.carries(Family::Ipv4Unicast))
                    || (n.is_ipv6() && p.carries(Family::Ipv6Unicast))
            })
            .collect();
        if !nets.is_empty() {
            s.push_str("  static {\n");
            for n in nets {
                let _ = writeln!(s, "    route {n} next-hop self;");
            }
            s.push_str("  }\n");
        }
        s.push_str(api_block());
        s.push_str("}\n");
    }
    s
}

impl Exabgp {
    /// Starts ExaBGP for node `node` of `lab` with `cfg`.
    pub fn start(lab: &Lab, node: &str, cfg: &BgpConfig) -> Result<Exabgp> {
        let (ns, dir) = super::node_place(lab, node)?;
        let script = write_event_script(&dir)?;
        Exabgp::launch(&ns, &dir, node, &render_config(cfg, &script), &[])
    }

    /// Starts ExaBGP in `ns` with the configuration text `config` (files in `dir`) and extra
    /// environment `env`. A configuration without a `process events` block gets one, and
    /// every neighbour block the API line, so that state can be read.
    pub fn start_with_config(
        ns: &Netns,
        dir: &Path,
        name: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<Exabgp> {
        let script = write_event_script(dir)?;
        let mut text = String::new();
        if !config.contains("process events") {
            text.push_str(&process_block(&script));
        }
        for line in config.lines() {
            text.push_str(line);
            text.push('\n');
            let t = line.trim_start();
            if t.starts_with("neighbor ")
                && t.trim_end().ends_with('{')
                && !config.contains("processes [ events ]")
            {
                text.push_str(api_block());
            }
        }
        Exabgp::launch(ns, dir, name, &text, env)
    }

    fn launch(
        ns: &Netns,
        dir: &Path,
        name: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<Exabgp> {
        let conf = dir.join("exabgp.conf");
        std::fs::write(&conf, config).map_err(|e| LabError::io(&conf, e))?;
        let events = dir.join("events.jsonl");
        std::fs::write(&events, "").map_err(|e| LabError::io(&events, e))?;
        let mut e = Exabgp {
            name: name.to_string(),
            ns: ns.clone(),
            dir: dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            events,
            process: None,
        };
        e.spawn()?;
        Ok(e)
    }

    /// Starts exabgp with the instance's configuration and waits until it has loaded it
    /// (it has no control socket to probe). The event log is kept across restarts.
    fn spawn(&mut self) -> Result<()> {
        let mut envs: Vec<(&str, &str)> = vec![
            ("exabgp.daemon.user", "root"),
            ("exabgp.daemon.drop", "false"),
            ("exabgp.daemon.daemonize", "false"),
            ("exabgp.log.destination", "stdout"),
        ];
        envs.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let c = self.dir.join("exabgp.conf").to_string_lossy().into_owned();
        let log = self.dir.join("exabgp.log");
        self.process = Some(LabProcess::spawn(
            &self.ns,
            &self.name,
            "exabgp",
            &[&c],
            &envs,
            &log,
        )?);
        let name = self.name.clone();
        poll_until(
            &format!("ExaBGP {name} to load its configuration"),
            crate::poll::STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.check_running()?;
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                Ok(text
                    .contains("loaded new configuration successfully")
                    .then_some(()))
            },
        )
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

    /// The events ExaBGP reported so far, parsed (lines that are not JSON are skipped).
    pub fn events(&self) -> Result<Vec<Value>> {
        let text =
            std::fs::read_to_string(&self.events).map_err(|e| LabError::io(&self.events, e))?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// ExaBGP's PID (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map(LabProcess::pid).unwrap_or(0)
    }
}

/// Writes the API helper: a shell that appends its stdin to `events.jsonl`. The shell
/// itself keeps its stdout (ExaBGP's pipe) open; ExaBGP treats a closed pipe as a death.
fn write_event_script(dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("events.sh");
    let text = format!(
        "#!/bin/sh\ncat >> '{}'\n",
        dir.join("events.jsonl").display()
    );
    std::fs::write(&script, text).map_err(|e| LabError::io(&script, e))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| LabError::io(&script, e))?;
    Ok(script)
}

fn event_peer(ev: &Value) -> Option<IpAddr> {
    ev.pointer("/neighbor/address/peer")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// Folds ExaBGP's JSON events about `peer` into a session state.
pub fn session_from_events(peer: IpAddr, events: &[Value]) -> SessionState {
    let mut s = SessionState {
        peer: Some(peer),
        state: "Idle".into(),
        established_count: Some(0),
        dropped_count: Some(0),
        updates_received: Some(0),
        notifications_received: Some(0),
        ..SessionState::default()
    };
    let mut up_since: Option<f64> = None;
    for ev in events.iter().filter(|e| event_peer(e) == Some(peer)) {
        match ev.get("type").and_then(Value::as_str) {
            Some("state") => match ev.pointer("/neighbor/state").and_then(Value::as_str) {
                Some("up") => {
                    s.established_count = s.established_count.map(|n| n + 1);
                    up_since = ev.get("time").and_then(Value::as_f64);
                    s.state = "Established".into();
                }
                Some("down") => {
                    if up_since.take().is_some() {
                        s.dropped_count = s.dropped_count.map(|n| n + 1);
                    }
                    s.state = "Idle".into();
                }
                Some("connected") => s.state = "Connect".into(),
                _ => {}
            },
            Some("update")
                if ev.pointer("/neighbor/direction").and_then(Value::as_str) == Some("receive") =>
            {
                s.updates_received = s.updates_received.map(|n| n + 1);
            }
            Some("notification")
                if ev.pointer("/neighbor/direction").and_then(Value::as_str) == Some("receive") =>
            {
                s.notifications_received = s.notifications_received.map(|n| n + 1);
            }
            _ => {}
        }
    }
    s.established = up_since.is_some();
    s.uptime = up_since.and_then(|t| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        Some(Duration::from_secs_f64((now - t).max(0.0)))
    });
    s.prefixes_received = Some(routes_from_events(peer, events).len() as u64);
    s
}

/// The prefixes announced by `peer` and not withdrawn since, per ExaBGP's events (a
/// session going down clears them).
pub fn routes_from_events(peer: IpAddr, events: &[Value]) -> BTreeSet<IpNetwork> {
    let mut set = BTreeSet::new();
    for ev in events.iter().filter(|e| event_peer(e) == Some(peer)) {
        match ev.get("type").and_then(Value::as_str) {
            Some("state")
                if ev.pointer("/neighbor/state").and_then(Value::as_str) == Some("down") =>
            {
                set.clear()
            }
            Some("update") => {
                let Some(update) = ev.pointer("/neighbor/message/update") else {
                    continue;
                };
                if let Some(ann) = update.get("announce").and_then(Value::as_object) {
                    for by_nh in ann.values().filter_map(Value::as_object) {
                        for nlris in by_nh.values().filter_map(Value::as_array) {
                            set.extend(nlri_prefixes(nlris));
                        }
                    }
                }
                if let Some(wd) = update.get("withdraw").and_then(Value::as_object) {
                    for nlris in wd.values().filter_map(Value::as_array) {
                        for p in nlri_prefixes(nlris) {
                            set.remove(&p);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    set
}

fn nlri_prefixes(list: &[Value]) -> Vec<IpNetwork> {
    list.iter()
        .filter_map(|v| v.get("nlri").and_then(Value::as_str).or_else(|| v.as_str()))
        .filter_map(|s| s.parse().ok())
        .collect()
}

impl Neighbor for Exabgp {
    fn kind(&self) -> NeighborKind {
        NeighborKind::Exabgp
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn session(&mut self, peer: IpAddr) -> Result<SessionState> {
        self.check_running()?;
        Ok(session_from_events(peer, &self.events()?))
    }

    fn sessions(&mut self) -> Result<Vec<SessionState>> {
        self.check_running()?;
        let events = self.events()?;
        let peers: BTreeMap<IpAddr, ()> = events
            .iter()
            .filter_map(event_peer)
            .map(|p| (p, ()))
            .collect();
        Ok(peers
            .keys()
            .map(|p| session_from_events(*p, &events))
            .collect())
    }

    fn routes_received(&mut self, peer: IpAddr) -> Result<BTreeSet<IpNetwork>> {
        self.check_running()?;
        Ok(routes_from_events(peer, &self.events()?))
    }

    fn process_mut(&mut self) -> &mut Option<LabProcess> {
        &mut self.process
    }

    fn spawn_process(&mut self) -> Result<()> {
        self.spawn()
    }
}

impl Drop for Exabgp {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::neighbor::PeerConfig;

    const EVENTS: &str = r#"{ "time": 1.0, "type": "state", "neighbor": { "address": { "local": "192.0.2.2", "peer": "192.0.2.1" }, "state": "connected" } }
{ "time": 2.0, "type": "state", "neighbor": { "address": { "local": "192.0.2.2", "peer": "192.0.2.1" }, "state": "up" } }
{ "time": 3.0, "type": "update", "neighbor": { "address": { "local": "192.0.2.2", "peer": "192.0.2.1" }, "direction": "receive", "message": { "update": { "announce": { "ipv4 unicast": { "192.0.2.1": [ { "nlri": "198.51.100.0/24" }, { "nlri": "198.51.100.128/25" } ] } } } } } }
{ "time": 4.0, "type": "update", "neighbor": { "address": { "local": "192.0.2.2", "peer": "192.0.2.1" }, "direction": "receive", "message": { "update": { "withdraw": { "ipv4 unicast": [ { "nlri": "198.51.100.128/25" } ] } } } } }
"#;

    fn events() -> Vec<Value> {
        EVENTS
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn events_fold_into_session_and_routes() {
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let s = session_from_events(peer, &events());
        assert!(s.established);
        assert_eq!(s.established_count, Some(1));
        assert_eq!(s.updates_received, Some(2));
        assert_eq!(s.prefixes_received, Some(1));
        let r = routes_from_events(peer, &events());
        assert_eq!(
            r.into_iter().collect::<Vec<_>>(),
            vec!["198.51.100.0/24".parse::<IpNetwork>().unwrap()]
        );
        let other = session_from_events("192.0.2.9".parse().unwrap(), &events());
        assert!(!other.established);
    }

    #[test]
    fn a_down_event_counts_a_drop_and_clears_routes() {
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let mut ev = events();
        ev.push(serde_json::from_str(r#"{ "time": 5.0, "type": "state", "neighbor": { "address": { "peer": "192.0.2.1" }, "state": "down", "reason": "x" } }"#).unwrap());
        let s = session_from_events(peer, &ev);
        assert!(!s.established);
        assert_eq!(s.dropped_count, Some(1));
        assert!(routes_from_events(peer, &ev).is_empty());
    }

    #[test]
    fn config_has_api_and_static_routes() {
        let cfg = BgpConfig::new(65004, "192.0.2.2".parse().unwrap())
            .peer(
                PeerConfig::new("192.0.2.1".parse().unwrap(), 65001)
                    .local("192.0.2.2".parse().unwrap()),
            )
            .network("203.0.113.0/24".parse().unwrap())
            .network("2001:db8:4::/48".parse().unwrap());
        let text = render_config(&cfg, Path::new("/x/events.sh"));
        assert!(text.starts_with("process events {\n  run /x/events.sh;"));
        assert!(text.contains("    route 203.0.113.0/24 next-hop self;"));
        assert!(
            !text.contains("2001:db8:4::/48"),
            "an IPv4 session does not carry the IPv6 network"
        );
        assert!(text.contains("processes [ events ]"));
    }
}
