//! FRR adapter: `bgpd` (with `-Z`, no zebra, by default; or with its own `zebra`) inside a
//! namespace, queried through `vtysh --vty_socket DIR` JSON.
//!
//! Each instance has its own directory holding its configuration, PID files, vty sockets
//! and zebra socket, so any number of instances run side by side; the packaged systemd
//! service is never used. bgpd runs as root (`-S`); zebra drops to the frr user as it
//! always does, so the instance directory is handed to that user when zebra runs.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnetwork::IpNetwork;
use serde_json::Value;

use super::{secs, BgpConfig, Family, Neighbor, NeighborKind, SessionState};
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::LabProcess;

/// FRR's bgpd as Debian installs it.
pub(crate) const BGPD: &str = "/usr/lib/frr/bgpd";
/// FRR's zebra as Debian installs it.
pub(crate) const ZEBRA: &str = "/usr/lib/frr/zebra";

/// A running FRR instance.
#[derive(Debug)]
pub struct Frr {
    name: String,
    ns: Netns,
    dir: PathBuf,
    with_zebra: bool,
    zebra: Option<LabProcess>,
    bgpd: Option<LabProcess>,
}

/// Renders `cfg` as an FRR configuration (`frr defaults traditional`, with
/// `no bgp ebgp-requires-policy`, `no bgp network import-check`, and every peer activated
/// only in the families it carries).
pub fn render_config(name: &str, cfg: &BgpConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "frr defaults traditional\nhostname {name}\n!");
    let _ = writeln!(s, "router bgp {}", cfg.local_as);
    let _ = writeln!(s, " bgp router-id {}", cfg.router_id);
    s.push_str(" no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n");
    if cfg.graceful_restart {
        s.push_str(" bgp graceful-restart\n");
    } else {
        s.push_str(" bgp graceful-restart-disable\n");
    }
    for p in &cfg.peers {
        let a = p.address;
        let _ = writeln!(s, " neighbor {a} remote-as {}", p.remote_as);
        let _ = writeln!(
            s,
            " neighbor {a} timers {} {}",
            secs(p.keepalive),
            secs(p.hold_time)
        );
        let _ = writeln!(
            s,
            " neighbor {a} timers connect {}",
            secs(cfg.connect_retry)
        );
        if p.passive {
            let _ = writeln!(s, " neighbor {a} passive");
        }
        if let Some(pw) = &p.md5_password {
            let _ = writeln!(s, " neighbor {a} password {pw}");
        }
        if let Some(l) = p.local_address {
            let _ = writeln!(s, " neighbor {a} update-source {l}");
        }
    }
    for (family, afi) in [(Family::Ipv4Unicast, "ipv4"), (Family::Ipv6Unicast, "ipv6")] {
        let _ = writeln!(s, " address-family {afi} unicast");
        for n in &cfg.networks {
            let is_family = matches!(
                (n, family),
                (IpNetwork::V4(_), Family::Ipv4Unicast) | (IpNetwork::V6(_), Family::Ipv6Unicast)
            );
            if is_family {
                let _ = writeln!(s, "  network {n}");
            }
        }
        for p in cfg.peers.iter().filter(|p| p.carries(family)) {
            let _ = writeln!(s, "  neighbor {} activate", p.address);
        }
        s.push_str(" exit-address-family\n");
    }
    s.push_str("!\n");
    s
}

impl Frr {
    /// Starts zebra and bgpd for node `node` of `lab` with `cfg`. Zebra gives bgpd the
    /// interfaces, without which bgpd withdraws IPv6 routes whose next hop includes a
    /// link-local address (as BIRD sends once its interface has one); learned routes go to
    /// the namespace's kernel table.
    pub fn start(lab: &Lab, node: &str, cfg: &BgpConfig) -> Result<Frr> {
        let (ns, dir) = super::node_place(lab, node)?;
        Frr::start_with_config(&ns, &dir, node, &render_config(node, cfg), true)
    }

    /// Starts bgpd alone (`-Z`, nothing to the kernel; cheaper, for IPv4 and benchmarks)
    /// for node `node` of `lab` with `cfg`.
    pub fn start_without_zebra(lab: &Lab, node: &str, cfg: &BgpConfig) -> Result<Frr> {
        let (ns, dir) = super::node_place(lab, node)?;
        Frr::start_with_config(&ns, &dir, node, &render_config(node, cfg), false)
    }

    /// Starts FRR in `ns` with the configuration text `config` (bgpd's), keeping its files in
    /// `dir`; with `zebra`, zebra is started first and bgpd talks to it.
    pub fn start_with_config(
        ns: &Netns,
        dir: &Path,
        name: &str,
        config: &str,
        zebra: bool,
    ) -> Result<Frr> {
        let conf = dir.join("bgpd.conf");
        std::fs::write(&conf, config).map_err(|e| LabError::io(&conf, e))?;
        let d = dir.to_string_lossy().into_owned();
        let zserv = format!("{d}/zserv.api");
        let mut frr = Frr {
            name: name.to_string(),
            ns: ns.clone(),
            dir: dir.to_path_buf(),
            with_zebra: zebra,
            zebra: None,
            bgpd: None,
        };
        if zebra {
            let zconf = dir.join("zebra.conf");
            std::fs::write(&zconf, format!("hostname {name}\n"))
                .map_err(|e| LabError::io(&zconf, e))?;
            let zc = zconf.to_string_lossy().into_owned();
            // zebra always drops to the frr user (it has no -S, and refuses `-u root` unless
            // root is in frrvty): give that user the instance directory for its sockets.
            crate::cmd::run("chown", &["-R", "frr:frr", &d])?;
            let args = [
                "-f",
                &zc,
                "-i",
                &format!("{d}/zebra.pid"),
                "--vty_socket",
                &d,
                "-P",
                "0",
                "-z",
                &zserv,
                "--log",
                "stdout",
            ];
            let p = LabProcess::spawn(
                ns,
                &format!("{name}-zebra"),
                ZEBRA,
                &args,
                &[],
                &dir.join("zebra.log"),
            )?;
            frr.zebra = Some(p);
            let sock = PathBuf::from(&zserv);
            poll_until(
                "zebra socket",
                crate::poll::STARTUP_TIMEOUT,
                Duration::from_millis(50),
                || {
                    frr.check_running()?;
                    Ok(sock.exists().then_some(()))
                },
            )?;
        }
        frr.spawn_bgpd()?;
        Ok(frr)
    }

    /// Starts bgpd with the instance's configuration file and waits for its vty.
    fn spawn_bgpd(&mut self) -> Result<()> {
        let d = self.dir.to_string_lossy().into_owned();
        let c = format!("{d}/bgpd.conf");
        let pid = format!("{d}/bgpd.pid");
        let zserv = format!("{d}/zserv.api");
        let mut args: Vec<&str> = vec![
            "-S",
            "-f",
            &c,
            "-i",
            &pid,
            "--vty_socket",
            &d,
            "-P",
            "0",
            "--log",
            "stdout",
        ];
        if self.with_zebra {
            args.extend_from_slice(&["-z", &zserv]);
        } else {
            args.extend_from_slice(&["-Z", "-n"]);
        }
        // Appended to, so a restart keeps the earlier run's log.
        let log = self.dir.join("bgpd.log");
        let p = LabProcess::spawn_appending(
            &self.ns,
            &format!("{}-bgpd", self.name),
            BGPD,
            &args,
            &[],
            &log,
        )?;
        self.bgpd = Some(p);
        let name = self.name.clone();
        poll_until(
            &format!("FRR {name} vty"),
            crate::poll::STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.check_running()?;
                Ok(self.vtysh("show bgp summary json").ok().map(|_| ()))
            },
        )
    }

    fn check_running(&mut self) -> Result<()> {
        if let Some(z) = self.zebra.as_mut() {
            z.check_running()?;
        }
        match self.bgpd.as_mut() {
            Some(b) => b.check_running(),
            None if self.zebra.is_some() => Ok(()),
            None => Err(LabError::Exited {
                name: self.name.clone(),
                status: "stopped".into(),
                log: String::new(),
            }),
        }
    }

    /// Runs one vtysh command against this instance's bgpd; returns its output.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        let d = self.dir.to_string_lossy();
        crate::cmd::run("vtysh", &["--vty_socket", &d, "-d", "bgpd", "-c", command])
    }

    /// Runs a vtysh command that answers JSON and parses it.
    pub fn vtysh_json(&self, command: &str) -> Result<Value> {
        let out = self.vtysh(command)?;
        serde_json::from_str(&out)
            .map_err(|e| LabError::parse(format!("vtysh `{command}` JSON"), e))
    }

    /// bgpd's PID (0 once stopped).
    pub fn bgpd_pid(&self) -> u32 {
        self.bgpd.as_ref().map(LabProcess::pid).unwrap_or(0)
    }

    /// The instance's directory (config, sockets, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Parses one neighbour object of `show bgp neighbors ADDR json`.
pub fn parse_neighbor(peer: IpAddr, v: &Value) -> Result<SessionState> {
    let n = v.get(peer.to_string()).ok_or_else(|| {
        LabError::parse(
            "vtysh neighbor JSON",
            format!("no neighbour {peer} in answer"),
        )
    })?;
    let u = |k: &str| n.get(k).and_then(Value::as_u64);
    let m = |k: &str| {
        n.get("messageStats")
            .and_then(|s| s.get(k))
            .and_then(Value::as_u64)
    };
    let state = n
        .get("bgpState")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let established = state == "Established";
    let (mut rx, mut tx) = (None, None);
    if let Some(afs) = n.get("addressFamilyInfo").and_then(Value::as_object) {
        for af in afs.values() {
            if let Some(c) = af.get("acceptedPrefixCounter").and_then(Value::as_u64) {
                rx = Some(rx.unwrap_or(0) + c);
            }
            if let Some(c) = af.get("sentPrefixCounter").and_then(Value::as_u64) {
                tx = Some(tx.unwrap_or(0) + c);
            }
        }
    }
    Ok(SessionState {
        peer: Some(peer),
        state,
        established,
        uptime: if established {
            u("bgpTimerUpMsec").map(Duration::from_millis)
        } else {
            None
        },
        established_count: u("connectionsEstablished"),
        dropped_count: u("connectionsDropped"),
        messages_received: m("totalRecv"),
        messages_sent: m("totalSent"),
        updates_received: m("updatesRecv"),
        notifications_received: m("notificationsRecv"),
        notifications_sent: m("notificationsSent"),
        prefixes_received: rx,
        prefixes_sent: tx,
    })
}

/// The prefixes of `show bgp {ipv4|ipv6} unicast json` with a path whose `peerId` is `peer`.
pub fn parse_routes_from(peer: IpAddr, v: &Value) -> Result<BTreeSet<IpNetwork>> {
    let routes = v
        .get("routes")
        .and_then(Value::as_object)
        .ok_or_else(|| LabError::parse("vtysh routes JSON", "no \"routes\" object"))?;
    let peer = peer.to_string();
    let mut set = BTreeSet::new();
    for (prefix, paths) in routes {
        let from_peer = paths
            .as_array()
            .map(|ps| {
                ps.iter()
                    .any(|p| p.get("peerId").and_then(Value::as_str) == Some(&peer))
            })
            .unwrap_or(false);
        if from_peer {
            set.insert(
                prefix
                    .parse()
                    .map_err(|e| LabError::parse("vtysh route prefix", e))?,
            );
        }
    }
    Ok(set)
}

impl Neighbor for Frr {
    fn kind(&self) -> NeighborKind {
        NeighborKind::Frr
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn session(&mut self, peer: IpAddr) -> Result<SessionState> {
        self.check_running()?;
        let v = self.vtysh_json(&format!("show bgp neighbors {peer} json"))?;
        parse_neighbor(peer, &v)
    }

    fn sessions(&mut self) -> Result<Vec<SessionState>> {
        self.check_running()?;
        let v = self.vtysh_json("show bgp neighbors json")?;
        let peers: Vec<IpAddr> = v
            .as_object()
            .map(|m| m.keys().filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default();
        peers.into_iter().map(|p| parse_neighbor(p, &v)).collect()
    }

    fn routes_received(&mut self, peer: IpAddr) -> Result<BTreeSet<IpNetwork>> {
        self.check_running()?;
        let mut set = parse_routes_from(peer, &self.vtysh_json("show bgp ipv4 unicast json")?)?;
        set.extend(parse_routes_from(
            peer,
            &self.vtysh_json("show bgp ipv6 unicast json")?,
        )?);
        Ok(set)
    }

    fn process_mut(&mut self) -> &mut Option<LabProcess> {
        &mut self.bgpd
    }

    fn spawn_process(&mut self) -> Result<()> {
        self.spawn_bgpd()
    }

    /// Stops bgpd, then zebra.
    fn stop(&mut self) {
        super::stop_process(&mut self.bgpd);
        super::stop_process(&mut self.zebra);
    }

    /// Leaves bgpd and zebra running.
    fn detach(&mut self) {
        super::detach_process(&mut self.bgpd);
        super::detach_process(&mut self.zebra);
    }
}

impl Drop for Frr {
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
    fn config_activates_peers_per_family() {
        let cfg = BgpConfig::new(65001, "192.0.2.1".parse().unwrap())
            .peer(
                PeerConfig::new("192.0.2.2".parse().unwrap(), 65002)
                    .md5("s3cret")
                    .passive(),
            )
            .peer(PeerConfig::new("2001:db8::2".parse().unwrap(), 65002))
            .network("198.51.100.0/24".parse().unwrap())
            .network("2001:db8:1::/48".parse().unwrap());
        let text = render_config("frr", &cfg);
        assert!(text.contains(" neighbor 192.0.2.2 password s3cret\n"));
        assert!(text.contains(" neighbor 192.0.2.2 passive\n"));
        assert!(text.contains(" neighbor 192.0.2.2 timers 3 9\n"));
        let v4 = text.split(" address-family ipv4 unicast\n").nth(1).unwrap();
        let v4 = v4.split(" exit-address-family").next().unwrap();
        assert_eq!(
            v4,
            "  network 198.51.100.0/24\n  neighbor 192.0.2.2 activate\n"
        );
        let v6 = text.split(" address-family ipv6 unicast\n").nth(1).unwrap();
        let v6 = v6.split(" exit-address-family").next().unwrap();
        assert_eq!(
            v6,
            "  network 2001:db8:1::/48\n  neighbor 2001:db8::2 activate\n"
        );
    }

    #[test]
    fn neighbor_json_is_parsed() {
        let v: Value = serde_json::from_str(
            r#"{"192.0.2.2":{"bgpState":"Established","bgpTimerUpMsec":6000,
            "connectionsEstablished":1,"connectionsDropped":0,
            "messageStats":{"notificationsSent":0,"notificationsRecv":2,"updatesRecv":2,"totalSent":7,"totalRecv":6},
            "addressFamilyInfo":{"ipv4Unicast":{"acceptedPrefixCounter":1,"sentPrefixCounter":2}}}}"#,
        )
        .unwrap();
        let s = parse_neighbor("192.0.2.2".parse().unwrap(), &v).unwrap();
        assert!(s.established);
        assert_eq!(s.uptime, Some(Duration::from_secs(6)));
        assert_eq!(s.notifications_received, Some(2));
        assert_eq!(s.messages_sent, Some(7));
        assert_eq!(s.prefixes_received, Some(1));
        assert_eq!(s.prefixes_sent, Some(2));
        assert!(parse_neighbor("192.0.2.3".parse().unwrap(), &v).is_err());
    }

    #[test]
    fn routes_are_filtered_by_peer() {
        let v: Value = serde_json::from_str(
            r#"{"routes":{"198.51.100.0/24":[{"peerId":"(unspec)"}],
            "203.0.113.0/24":[{"peerId":"192.0.2.2"}]}}"#,
        )
        .unwrap();
        let set = parse_routes_from("192.0.2.2".parse().unwrap(), &v).unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec!["203.0.113.0/24".parse::<IpNetwork>().unwrap()]
        );
    }
}
