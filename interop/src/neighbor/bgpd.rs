//! understudy's own daemon as a lab neighbour: `bgpd --config FILE` inside a namespace, its
//! admin gRPC API on the namespace's own loopback (127.0.0.1:50051, so instances never
//! clash), queried with `understudy --json` run inside the same namespace. Stopped by PID
//! (SIGTERM: every session gets a Cease NOTIFICATION; SIGKILL after a grace period).
//!
//! The binaries are found by [`binary`]: `$US_BIN_DIR`, else the cargo target directory the
//! running executable sits in (`target/<profile>/`, where `cargo test --workspace` puts
//! them), else `PATH`.

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

/// The admin API address inside the namespace.
const ADMIN: &str = "127.0.0.1:50051";

/// The policy every rendered neighbour imports and exports with (RFC 8212 needs one on
/// eBGP sessions).
const ACCEPT_ALL: &str = "lab-accept-all";

/// A running bgpd.
#[derive(Debug)]
pub struct Bgpd {
    name: String,
    ns: Netns,
    dir: PathBuf,
    bgpd: PathBuf,
    understudy: PathBuf,
    process: Option<LabProcess>,
}

/// The path of the understudy binary `name` (`bgpd` or `understudy`): `$US_BIN_DIR/NAME`
/// when that variable is set; else `NAME` in the cargo target directory of the running
/// executable (a test binary in `target/<profile>/deps/` finds `target/<profile>/NAME`);
/// else `NAME` as found on `PATH`.
///
/// # Errors
/// [`LabError::Io`] when none of these exists.
pub fn binary(name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("US_BIN_DIR") {
        let p = Path::new(&dir).join(name);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(LabError::io(
                &p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not in $US_BIN_DIR"),
            ))
        };
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(p) = exe
            .ancestors()
            .skip(1)
            .take(3)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(p) = std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            return Ok(p);
        }
    }
    Err(LabError::io(
        name,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "build it first (`cargo build -p bgpd --bins`) or set US_BIN_DIR",
        ),
    ))
}

/// Renders `cfg` as a bgpd TOML configuration: every peer with an accept-all import and
/// export policy, the networks as `[[network]]`, the admin API on the namespace's loopback.
pub fn render_config(cfg: &BgpConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "router_id = \"{}\"\nlocal_as = {}\nadmin_address = \"{ADMIN}\"",
        cfg.router_id, cfg.local_as
    );
    for p in &cfg.peers {
        let _ = writeln!(
            s,
            "\n[[neighbor]]\naddress = \"{}\"\nremote_as = {}\npassive = {}\nhold_time = {}",
            p.address,
            p.remote_as,
            p.passive,
            p.hold_time.as_secs()
        );
        if !p.hold_time.is_zero() {
            // bgpd accepts a keepalive of at most a third of the hold time.
            let k = secs(p.keepalive).min((p.hold_time.as_secs() / 3).max(1));
            let _ = writeln!(s, "keepalive = {k}");
        }
        let _ = writeln!(s, "connect_retry = {}", secs(cfg.connect_retry));
        if let Some(l) = p.local_address {
            let _ = writeln!(s, "local_address = \"{l}\"");
        }
        if let Some(pw) = &p.md5_password {
            let _ = writeln!(s, "md5_password = {}", toml_string(pw));
        }
        let families: Vec<&str> = [
            (Family::Ipv4Unicast, "\"ipv4/unicast\""),
            (Family::Ipv6Unicast, "\"ipv6/unicast\""),
        ]
        .into_iter()
        .filter(|(f, _)| p.carries(*f))
        .map(|(_, n)| n)
        .collect();
        let _ = writeln!(s, "families = [{}]", families.join(", "));
        let _ = writeln!(
            s,
            "graceful_restart = {}\nimport = [\"{ACCEPT_ALL}\"]\nexport = [\"{ACCEPT_ALL}\"]",
            cfg.graceful_restart
        );
    }
    for n in &cfg.networks {
        let _ = writeln!(s, "\n[[network]]\nprefix = \"{n}\"");
    }
    let _ = writeln!(s, "\n[policy.policies.{ACCEPT_ALL}]\ndefault = \"accept\"");
    s
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Bgpd {
    /// Starts bgpd for node `node` of `lab` with `cfg` rendered by [`render_config`].
    pub fn start(lab: &Lab, node: &str, cfg: &BgpConfig) -> Result<Bgpd> {
        let (ns, dir) = super::node_place(lab, node)?;
        Bgpd::start_with_config(&ns, &dir, node, &render_config(cfg))
    }

    /// Starts bgpd in `ns` with the TOML configuration `config` (which should leave
    /// `admin_address` at 127.0.0.1:50051), files in `dir`; waits until its admin API
    /// answers. The configuration is checked with `bgpd --check-config` first, so a bad one
    /// fails here with bgpd's own error line.
    pub fn start_with_config(ns: &Netns, dir: &Path, name: &str, config: &str) -> Result<Bgpd> {
        let conf = dir.join("bgpd.toml");
        std::fs::write(&conf, config).map_err(|e| LabError::io(&conf, e))?;
        let bgpd = binary("bgpd")?;
        let check = std::process::Command::new(&bgpd)
            .arg("--check-config")
            .arg(&conf)
            .output()
            .map_err(|e| LabError::io(&bgpd, e))?;
        if !check.status.success() {
            return Err(LabError::parse(
                conf.display().to_string(),
                String::from_utf8_lossy(&check.stderr).trim(),
            ));
        }
        let mut b = Bgpd {
            name: name.to_string(),
            ns: ns.clone(),
            dir: dir.to_path_buf(),
            bgpd,
            understudy: binary("understudy")?,
            process: None,
        };
        b.spawn()?;
        Ok(b)
    }

    fn spawn(&mut self) -> Result<()> {
        let conf = self.dir.join("bgpd.toml").to_string_lossy().into_owned();
        let log = self.dir.join("bgpd.log");
        let program = self.bgpd.to_string_lossy().into_owned();
        self.process = Some(LabProcess::spawn_appending(
            &self.ns,
            &self.name,
            &program,
            &["--config", &conf],
            &[("RUST_LOG", "info")],
            &log,
        )?);
        let name = self.name.clone();
        poll_until(
            &format!("bgpd {name} admin API"),
            crate::poll::STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.check_running()?;
                Ok(self.understudy(&["info"]).ok().map(|_| ()))
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

    /// Runs `understudy --admin 127.0.0.1:50051 --json ARGS...` inside the namespace;
    /// returns stdout, or [`LabError::Command`] with its one error line.
    pub fn understudy(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["--admin", ADMIN, "--json"];
        full.extend_from_slice(args);
        self.ns.exec(&self.understudy.to_string_lossy(), &full)
    }

    /// Originates `prefix` (next hop self) through the admin API.
    pub fn add_route(&mut self, prefix: IpNetwork) -> Result<()> {
        self.understudy(&["route", "add", &prefix.to_string()])
            .map(|_| ())
    }

    /// Withdraws the originated `prefix`.
    pub fn delete_route(&mut self, prefix: IpNetwork) -> Result<()> {
        self.understudy(&["route", "del", &prefix.to_string()])
            .map(|_| ())
    }

    /// bgpd's PID (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map(LabProcess::pid).unwrap_or(0)
    }

    /// bgpd's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("bgpd.log")
    }
}

/// Parses one neighbour of `understudy --json neighbor ADDR` (or an element of
/// `neighbors`).
pub fn parse_neighbor(v: &Value) -> Result<SessionState> {
    let peer = v
        .get("address")
        .and_then(Value::as_str)
        .and_then(|a| a.parse().ok());
    let state = v
        .get("state")
        .and_then(Value::as_str)
        .ok_or_else(|| LabError::parse("understudy neighbor JSON", "no \"state\""))?;
    let established = state == "Established";
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    Ok(SessionState {
        peer,
        state: state.to_string(),
        established,
        uptime: established
            .then(|| n("uptime_ms").map(Duration::from_millis))
            .flatten(),
        established_count: n("established_transitions"),
        dropped_count: None,
        messages_received: n("messages_in"),
        messages_sent: n("messages_out"),
        updates_received: n("updates_in"),
        notifications_received: None,
        notifications_sent: None,
        prefixes_received: n("prefixes_accepted"),
        prefixes_sent: n("prefixes_sent"),
    })
}

/// The accepted prefixes of `understudy --json rib --in PEER` (JSON lines, one route each):
/// what bgpd holds from the neighbour after import policy.
pub fn parse_adj_rib_in(text: &str) -> Result<BTreeSet<IpNetwork>> {
    let mut set = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).map_err(|e| LabError::parse("understudy rib JSON", e))?;
        if v.get("accepted").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let prefix = v
            .get("prefix")
            .and_then(Value::as_str)
            .ok_or_else(|| LabError::parse("understudy rib JSON", "no \"prefix\""))?;
        set.insert(
            prefix
                .parse()
                .map_err(|e| LabError::parse("understudy rib prefix", e))?,
        );
    }
    Ok(set)
}

impl Neighbor for Bgpd {
    fn kind(&self) -> NeighborKind {
        NeighborKind::Understudy
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn session(&mut self, peer: IpAddr) -> Result<SessionState> {
        self.check_running()?;
        let out = self.understudy(&["neighbor", &peer.to_string()])?;
        let v: Value = serde_json::from_str(&out)
            .map_err(|e| LabError::parse("understudy neighbor JSON", e))?;
        parse_neighbor(&v)
    }

    fn sessions(&mut self) -> Result<Vec<SessionState>> {
        self.check_running()?;
        let out = self.understudy(&["neighbors"])?;
        let v: Value = serde_json::from_str(&out)
            .map_err(|e| LabError::parse("understudy neighbors JSON", e))?;
        v.as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(parse_neighbor)
            .collect()
    }

    fn routes_received(&mut self, peer: IpAddr) -> Result<BTreeSet<IpNetwork>> {
        self.check_running()?;
        parse_adj_rib_in(&self.understudy(&["rib", "--in", &peer.to_string()])?)
    }

    fn process_mut(&mut self) -> &mut Option<LabProcess> {
        &mut self.process
    }

    fn spawn_process(&mut self) -> Result<()> {
        self.spawn()
    }
}

impl Drop for Bgpd {
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
    fn config_renders_and_bgpd_reads_it() {
        let cfg = BgpConfig::new(65000, "192.0.2.1".parse().unwrap())
            .peer(
                PeerConfig::new("192.0.2.2".parse().unwrap(), 65001)
                    .local("192.0.2.1".parse().unwrap())
                    .passive()
                    .md5("p\"w")
                    .timers(Duration::from_secs(90), Duration::from_secs(30)),
            )
            .peer(
                PeerConfig::new("2001:db8::2".parse().unwrap(), 65000)
                    .timers(Duration::from_secs(9), Duration::from_secs(5)),
            )
            .network("203.0.113.0/24".parse().unwrap())
            .graceful_restart(true);
        let text = render_config(&cfg);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["local_as"].as_integer(), Some(65000));
        assert_eq!(v["admin_address"].as_str(), Some(ADMIN));
        let n = &v["neighbor"][0];
        assert_eq!(n["address"].as_str(), Some("192.0.2.2"));
        assert_eq!(n["passive"].as_bool(), Some(true));
        assert_eq!(n["hold_time"].as_integer(), Some(90));
        assert_eq!(n["keepalive"].as_integer(), Some(30));
        assert_eq!(n["md5_password"].as_str(), Some("p\"w"));
        assert_eq!(n["import"][0].as_str(), Some(ACCEPT_ALL));
        let n = &v["neighbor"][1];
        assert_eq!(n["families"][0].as_str(), Some("ipv6/unicast"));
        assert_eq!(
            n["keepalive"].as_integer(),
            Some(3),
            "keepalive capped at a third of the hold time"
        );
        assert_eq!(v["network"][0]["prefix"].as_str(), Some("203.0.113.0/24"));
        assert_eq!(
            v["policy"]["policies"][ACCEPT_ALL]["default"].as_str(),
            Some("accept")
        );
    }

    #[test]
    fn neighbor_and_rib_json_are_parsed() {
        let v: Value = serde_json::from_str(
            r#"{"address":"192.0.2.2","state":"Established","uptime_ms":1500,
                "established_transitions":1,"messages_in":5,"messages_out":4,"updates_in":2,
                "prefixes_received":3,"prefixes_accepted":2,"prefixes_sent":1}"#,
        )
        .unwrap();
        let s = parse_neighbor(&v).unwrap();
        assert!(s.established);
        assert_eq!(s.peer, Some("192.0.2.2".parse().unwrap()));
        assert_eq!(s.uptime, Some(Duration::from_millis(1500)));
        assert_eq!(s.prefixes_received, Some(2));
        assert_eq!(s.updates_received, Some(2));
        let idle: Value =
            serde_json::from_str(r#"{"address":"192.0.2.2","state":"Active","uptime_ms":0}"#)
                .unwrap();
        let s = parse_neighbor(&idle).unwrap();
        assert!(!s.established);
        assert_eq!(s.uptime, None);

        let rib = "{\"prefix\":\"203.0.113.0/24\",\"accepted\":true}\n\
                   {\"prefix\":\"198.51.100.0/24\",\"accepted\":false}\n";
        let set = parse_adj_rib_in(rib).unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec!["203.0.113.0/24".parse::<IpNetwork>().unwrap()]
        );
        assert!(parse_adj_rib_in("").unwrap().is_empty());
    }
}
