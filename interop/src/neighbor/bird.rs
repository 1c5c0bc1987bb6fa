//! BIRD 2 adapter: `bird -f -c CONF -s CTL -P PID` inside a namespace, queried with
//! `birdc -s CTL` (`show protocols all`, `show route protocol NAME`).
//!
//! Each instance has its own directory and control socket. Generated configurations name
//! one BGP protocol per peer (`p_192_0_2_1`), originate the networks from static protocols
//! (blackhole routes; no kernel protocol, so the namespace's kernel table is untouched) and
//! print protocol times as Unix seconds (`timeformat protocol "%s"`) so uptime can be read.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnetwork::IpNetwork;

use super::{peer_ident, secs, BgpConfig, Family, Neighbor, NeighborKind, SessionState};
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::netns::Netns;
use crate::poll::poll_until;
use crate::process::LabProcess;

/// A running BIRD instance.
#[derive(Debug)]
pub struct Bird {
    name: String,
    ns: Netns,
    dir: PathBuf,
    ctl: PathBuf,
    process: Option<LabProcess>,
}

/// Renders `cfg` as a BIRD 2 configuration.
pub fn render_config(cfg: &BgpConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "router id {};", cfg.router_id);
    s.push_str("timeformat protocol \"%s\";\nprotocol device { scan time 1; }\n");
    let v4: Vec<_> = cfg.networks.iter().filter(|n| n.is_ipv4()).collect();
    let v6: Vec<_> = cfg.networks.iter().filter(|n| n.is_ipv6()).collect();
    for (name, chan, nets) in [("static4", "ipv4", v4), ("static6", "ipv6", v6)] {
        if nets.is_empty() {
            continue;
        }
        let _ = writeln!(s, "protocol static {name} {{\n  {chan};");
        for n in nets {
            let _ = writeln!(s, "  route {n} blackhole;");
        }
        s.push_str("}\n");
    }
    for p in &cfg.peers {
        let _ = writeln!(s, "protocol bgp {} {{", peer_ident(p.address));
        match p.local_address {
            Some(l) => {
                let _ = writeln!(s, "  local {l} as {};", cfg.local_as);
            }
            None => {
                let _ = writeln!(s, "  local as {};", cfg.local_as);
            }
        }
        let _ = writeln!(s, "  neighbor {} as {};", p.address, p.remote_as);
        // Lab neighbours share a link: directly connected, for iBGP too (BIRD treats iBGP as
        // multihop otherwise).
        s.push_str("  direct;\n");
        let _ = writeln!(
            s,
            "  hold time {}; keepalive time {}; connect retry time {}; connect delay time 1; error wait time 1, 5;",
            secs(p.hold_time),
            secs(p.keepalive),
            secs(cfg.connect_retry)
        );
        if p.passive {
            s.push_str("  passive on;\n");
        }
        if let Some(pw) = &p.md5_password {
            let _ = writeln!(s, "  password \"{pw}\";");
        }
        let _ = writeln!(
            s,
            "  graceful restart {};",
            if cfg.graceful_restart { "on" } else { "off" }
        );
        for (family, chan) in [(Family::Ipv4Unicast, "ipv4"), (Family::Ipv6Unicast, "ipv6")] {
            if p.carries(family) {
                // Next hops are direct (BIRD's iBGP default, recursive, needs an IGP table).
                let _ = writeln!(s, "  {chan} {{ import all; export all; gateway direct; }};");
            }
        }
        s.push_str("}\n");
    }
    s
}

impl Bird {
    /// Starts BIRD for node `node` of `lab` with `cfg`.
    pub fn start(lab: &Lab, node: &str, cfg: &BgpConfig) -> Result<Bird> {
        let (ns, dir) = super::node_place(lab, node)?;
        Bird::start_with_config(&ns, &dir, node, &render_config(cfg))
    }

    /// Starts BIRD in `ns` with the configuration text `config`, files in `dir`. Without a
    /// `log` statement of its own, `config` gets `log stderr all;` (BIRD logs to syslog
    /// otherwise), so that BIRD's log is in `bird.log`, the evidence a failed lab test keeps.
    pub fn start_with_config(ns: &Netns, dir: &Path, name: &str, config: &str) -> Result<Bird> {
        let conf = dir.join("bird.conf");
        let config = with_stderr_log(config);
        std::fs::write(&conf, config).map_err(|e| LabError::io(&conf, e))?;
        let mut bird = Bird {
            name: name.to_string(),
            ns: ns.clone(),
            dir: dir.to_path_buf(),
            ctl: dir.join("bird.ctl"),
            process: None,
        };
        bird.spawn(false)?;
        Ok(bird)
    }

    /// Starts bird with the instance's configuration (with `recovery`, `-R`: graceful
    /// restart recovery, RFC 4724 restarting speaker) and waits for its control socket.
    fn spawn(&mut self, recovery: bool) -> Result<()> {
        let d = &self.dir;
        let (c, k, p) = (
            d.join("bird.conf").to_string_lossy().into_owned(),
            self.ctl.to_string_lossy().into_owned(),
            d.join("bird.pid").to_string_lossy().into_owned(),
        );
        let mut args = vec!["-f", "-c", &c, "-s", &k, "-P", &p];
        if recovery {
            args.push("-R");
        }
        let log = d.join("bird.log");
        self.process = Some(LabProcess::spawn_appending(
            &self.ns,
            &self.name,
            "bird",
            &args,
            &[],
            &log,
        )?);
        let name = self.name.clone();
        poll_until(
            &format!("BIRD {name} control socket"),
            crate::poll::STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.check_running()?;
                Ok(self.birdc(&["show", "status"]).ok().map(|_| ()))
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

    /// Runs one `birdc` command; returns its output.
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let ctl = self.ctl.to_string_lossy();
        let mut full = vec!["-s", ctl.as_ref()];
        full.extend_from_slice(args);
        crate::cmd::run("birdc", &full)
    }

    /// BIRD's PID (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map(LabProcess::pid).unwrap_or(0)
    }

    /// The protocol block of `show protocols all` whose neighbour address is `peer`.
    fn protocol_of(&self, peer: IpAddr) -> Result<ProtocolBlock> {
        let out = self.birdc(&["show", "protocols", "all"])?;
        parse_protocols(&out)
            .into_iter()
            .find(|b| b.neighbor == Some(peer))
            .ok_or_else(|| {
                LabError::parse(
                    "birdc show protocols all",
                    format!("no BGP protocol with neighbor {peer}"),
                )
            })
    }
}

/// One protocol of `birdc show protocols all`, the parts we read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProtocolBlock {
    /// Protocol name.
    pub name: String,
    /// Protocol type (`BGP`, `Static`, ...).
    pub proto: String,
    /// The "Since" column (Unix seconds with our `timeformat`).
    pub since: String,
    /// The "Info" column (the BGP state for BGP protocols).
    pub info: String,
    /// `BGP state:` line.
    pub bgp_state: Option<String>,
    /// `Neighbor address:` line.
    pub neighbor: Option<IpAddr>,
    /// Sum of `N imported` over the channels.
    pub imported: Option<u64>,
    /// Sum of `N exported` over the channels.
    pub exported: Option<u64>,
}

/// Parses the output of `birdc show protocols all`.
pub fn parse_protocols(text: &str) -> Vec<ProtocolBlock> {
    let mut blocks: Vec<ProtocolBlock> = Vec::new();
    for line in text.lines() {
        if line.starts_with("BIRD ") || line.starts_with("Name ") || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') && !line.starts_with('\t') {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 5 {
                blocks.push(ProtocolBlock {
                    name: cols[0].to_string(),
                    proto: cols[1].to_string(),
                    since: cols[4].to_string(),
                    info: cols[5..].join(" "),
                    ..ProtocolBlock::default()
                });
            }
            continue;
        }
        let Some(b) = blocks.last_mut() else { continue };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("BGP state:") {
            b.bgp_state = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("Neighbor address:") {
            b.neighbor = v.trim().split('%').next().and_then(|a| a.parse().ok());
        } else if let Some(v) = t.strip_prefix("Routes:") {
            for part in v.split(',') {
                let mut w = part.split_whitespace();
                let (Some(n), Some(what)) =
                    (w.next().and_then(|n| n.parse::<u64>().ok()), w.next())
                else {
                    continue;
                };
                match what {
                    "imported" => b.imported = Some(b.imported.unwrap_or(0) + n),
                    "exported" => b.exported = Some(b.exported.unwrap_or(0) + n),
                    _ => {}
                }
            }
        }
    }
    blocks
}

/// The prefixes listed by `birdc show route ...` (one per route line; continuation lines
/// start with whitespace).
pub fn parse_routes(text: &str) -> BTreeSet<IpNetwork> {
    text.lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|w| w.parse::<IpNetwork>().ok())
        .collect()
}

impl Neighbor for Bird {
    fn kind(&self) -> NeighborKind {
        NeighborKind::Bird
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn session(&mut self, peer: IpAddr) -> Result<SessionState> {
        self.check_running()?;
        let b = self.protocol_of(peer)?;
        Ok(session_of_block(peer, &b))
    }

    fn sessions(&mut self) -> Result<Vec<SessionState>> {
        self.check_running()?;
        let out = self.birdc(&["show", "protocols", "all"])?;
        Ok(parse_protocols(&out)
            .iter()
            .filter(|b| b.proto == "BGP")
            .filter_map(|b| b.neighbor.map(|n| session_of_block(n, b)))
            .collect())
    }

    fn routes_received(&mut self, peer: IpAddr) -> Result<BTreeSet<IpNetwork>> {
        self.check_running()?;
        let b = self.protocol_of(peer)?;
        Ok(parse_routes(
            &self.birdc(&["show", "route", "protocol", &b.name])?,
        ))
    }

    fn process_mut(&mut self) -> &mut Option<LabProcess> {
        &mut self.process
    }

    fn spawn_process(&mut self) -> Result<()> {
        self.spawn(true)
    }
}

/// The session state a BGP protocol block tells.
fn session_of_block(peer: IpAddr, b: &ProtocolBlock) -> SessionState {
    let state = b.bgp_state.clone().unwrap_or_else(|| b.info.clone());
    let established = state == "Established";
    let uptime = if established {
        b.since.parse::<u64>().ok().and_then(|since| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
            Some(Duration::from_secs(now.saturating_sub(since)))
        })
    } else {
        None
    };
    SessionState {
        peer: Some(peer),
        state,
        established,
        uptime,
        prefixes_received: b.imported,
        prefixes_sent: b.exported,
        ..SessionState::default()
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `config` with `log stderr all;` in front, unless it has a `log` statement.
fn with_stderr_log(config: &str) -> String {
    if config
        .lines()
        .any(|l| l.split_whitespace().next() == Some("log"))
    {
        config.to_string()
    } else {
        format!("log stderr all;\n{config}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::neighbor::PeerConfig;

    const PROTOCOLS: &str = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     1795973989    
p4         BGP        ---        up     1795973989    Established   
  BGP state:          Established
    Neighbor address: 192.0.2.1
    Neighbor AS:      65001
  Channel ipv4
    State:          UP
    Routes:         1 imported, 2 exported, 1 preferred
p6         BGP        ---        start  1795973990    Active        Socket: Connection refused
  BGP state:          Active
    Neighbor address: 2001:db8::1
";

    #[test]
    fn protocols_are_parsed() {
        let blocks = parse_protocols(PROTOCOLS);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[1].name, "p4");
        assert_eq!(blocks[1].bgp_state.as_deref(), Some("Established"));
        assert_eq!(blocks[1].neighbor, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(blocks[1].since, "1795973989");
        assert_eq!((blocks[1].imported, blocks[1].exported), (Some(1), Some(2)));
        assert_eq!(blocks[2].bgp_state.as_deref(), Some("Active"));
        assert_eq!(blocks[2].imported, None);
    }

    #[test]
    fn routes_are_parsed() {
        let text = "BIRD 2.0.12 ready.\nTable master4:\n198.51.100.0/24      unicast [p4 17:39:50.507] * (100) [AS65001i]\n\tvia 192.0.2.1 on eth0\n                     unicast [p5 17:39:50.507] (100) [AS65003i]\nTable master6:\n2001:db8:1::/48      unicast [p6 17:39:50.507] * (100) [AS65001i]\n";
        let set = parse_routes(text);
        let want: BTreeSet<IpNetwork> = ["198.51.100.0/24", "2001:db8:1::/48"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(set, want);
    }

    #[test]
    fn bird_logs_to_stderr_unless_the_config_says_where() {
        assert_eq!(
            with_stderr_log("router id 1.2.3.4;\n"),
            "log stderr all;\nrouter id 1.2.3.4;\n"
        );
        let own = "log \"/tmp/x\" all;\nrouter id 1.2.3.4;\n";
        assert_eq!(with_stderr_log(own), own);
    }

    #[test]
    fn config_has_one_protocol_per_peer() {
        let cfg = BgpConfig::new(65002, "192.0.2.2".parse().unwrap())
            .peer(PeerConfig::new("192.0.2.1".parse().unwrap(), 65001).md5("k"))
            .network("203.0.113.0/24".parse().unwrap());
        let text = render_config(&cfg);
        assert!(text.contains("protocol bgp p_192_0_2_1 {"));
        assert!(text.contains("  password \"k\";"));
        assert!(text.contains("  route 203.0.113.0/24 blackhole;"));
        assert!(text.contains("  ipv4 { import all; export all; gateway direct; };"));
        assert!(!text.contains("ipv6 {"));
        assert!(!text.contains("static6"));
    }
}
