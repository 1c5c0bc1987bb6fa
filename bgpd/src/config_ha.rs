//! The non-stop routing section of the configuration (`[ha]`, DESIGN.md sections 3 and 4):
//! the node's role, how a standby follows and takes over, the checkpoint channel's TLS, and
//! the checks of all of it.

use super::{check_key_pair, first, pem_file_problem};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// The role a node starts in (`[ha] role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HaRoleConfig {
    /// Holds the BGP sessions and serves checkpoints to standbys on `checkpoint_address`.
    Primary,
    /// Follows the primary (`primary`) from the mirror (`mirror_interface`) and takes over
    /// when it fails.
    Standby,
}

/// How a standby keeps the kernel FIB (`[ha] fib`; with `[fib] enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HaFibMode {
    /// The standby has its own kernel (another box, or another network namespace) and keeps
    /// its FIB warm in lockstep with the primary's: a takeover changes no route.
    #[default]
    Lockstep,
    /// The standby shares the primary's kernel (same host and network namespace): it does not
    /// write the FIB while it follows; at takeover it adopts the routes the primary installed,
    /// replaces only those its Loc-RIB wants otherwise and removes those it does not want
    /// (the `fib` crate's adopt mode, issue 7), so no route is deleted and added again.
    Adopt,
}

/// Egress write-ahead policy (`[ha] write_ahead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteAheadPolicy {
    /// Write a batch to the socket only once every synchronised standby holds it (safe).
    #[default]
    Wait,
    /// Hand the batch to the standbys and write at once.
    Async,
}

/// Mutual TLS of the checkpoint channel (`[ha] tls = { ca, cert, key }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaTlsConfig {
    /// The CA certificate (PEM) that signs every node's certificate.
    pub ca: String,
    /// This node's certificate chain (PEM).
    pub cert: String,
    /// This node's private key (PEM).
    pub key: String,
    /// The name the primary's certificate carries (standby side); default
    /// `understudy-primary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl HaTlsConfig {
    /// The name a primary's certificate carries when `server_name` is not given.
    pub const DEFAULT_SERVER_NAME: &'static str = "understudy-primary";

    /// The checkpoint channel's TLS material as the transport takes it (paths as written:
    /// relative ones are relative to the daemon's working directory).
    pub fn paths(&self) -> ribsync::transport::TlsPaths {
        ribsync::transport::TlsPaths {
            ca: self.ca.clone().into(),
            cert: self.cert.clone().into(),
            key: self.key.clone().into(),
            server_name: self
                .server_name
                .clone()
                .unwrap_or_else(|| Self::DEFAULT_SERVER_NAME.to_string()),
        }
    }
}

/// Non-stop routing (`[ha]`, DESIGN.md sections 3 and 4; `/work/coord/ha-contract.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaSection {
    /// The role this node starts in.
    pub role: HaRoleConfig,
    /// This node's id: at least 1, unique among the nodes.
    pub node_id: u32,
    /// Election priority (highest wins, then the lowest `node_id`); default 100.
    #[serde(default = "default_ha_priority")]
    pub priority: u8,
    /// Primary: where standbys attach (gRPC ribsync), `host:port`. A standby that takes
    /// over serves here too, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_address: Option<SocketAddr>,
    /// Standby: the primary's checkpoint endpoint, `http://host:port` (`https://` with TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Standby: the interface the BGP traffic is mirrored to (AF_PACKET tap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_interface: Option<String>,
    /// Standby: where the session addresses are added at takeover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_interface: Option<String>,
    /// Milliseconds between heartbeats; default 100.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_interval_ms: u64,
    /// Heartbeat intervals of silence (with mirror silence) before the primary is
    /// declared failed; default 3.
    #[serde(default = "default_detect_multiplier")]
    pub detect_multiplier: u32,
    /// A command run before takeover; takeover only if it exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing_command: Option<String>,
    /// Egress write-ahead policy; default `wait`.
    #[serde(default)]
    pub write_ahead: WriteAheadPolicy,
    /// Mutual TLS of the checkpoint channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<HaTlsConfig>,
    /// Standby: addresses that move to this node with the sessions at takeover besides
    /// the session addresses (e.g. the gateway of a LAN the router serves), each
    /// `"ADDR/LEN INTERFACE"` ([`MovedAddress`]); announced there like the session
    /// addresses. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub move_addresses: Vec<String>,
    /// Standby: the neighbours whose sessions this standby protects (selective backup,
    /// DESIGN.md section 3: it takes over only these at failover); each must be a
    /// `[[neighbor]] address`. Default: every neighbour. A standby follows every
    /// neighbour's routes whatever this says (its Loc-RIB, and so the Adj-RIB-Out of the
    /// sessions it protects, depends on all of them); the others are shown as not
    /// protected by `understudy ha`, and their sessions restart at a takeover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protect: Vec<IpAddr>,
    /// Standby: how the kernel FIB is kept ([`HaFibMode`]); default `lockstep`.
    #[serde(default)]
    pub fib: HaFibMode,
}

/// An address that moves to a standby at takeover besides the session addresses
/// (`[ha] move_addresses`): `"ADDR/LEN INTERFACE"`, e.g. `"198.51.100.1/25 eth2"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedAddress {
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length (at most 32 for IPv4, 128 for IPv6).
    pub prefix_len: u8,
    /// The interface it goes on.
    pub interface: String,
}

impl std::str::FromStr for MovedAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut words = s.split_whitespace();
        let (Some(net), Some(interface), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{s:?} is not \"ADDR/LEN INTERFACE\""));
        };
        let (addr, len) = net
            .split_once('/')
            .ok_or_else(|| format!("{net:?} has no /LEN"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an address"))?;
        let prefix_len: u8 = len
            .parse()
            .map_err(|_| format!("{len:?} is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(format!("/{prefix_len} is longer than {max}"));
        }
        if interface.len() >= 16 || interface.contains('/') {
            return Err(format!("{interface:?} is not an interface name"));
        }
        Ok(MovedAddress {
            addr,
            prefix_len,
            interface: interface.to_string(),
        })
    }
}

impl HaSection {
    /// The parsed `move_addresses` (invalid entries, which [`HaSection::validate`]
    /// refuses, are skipped).
    pub fn moved_addresses(&self) -> Vec<MovedAddress> {
        self.move_addresses
            .iter()
            .filter_map(|m| m.parse().ok())
            .collect()
    }

    /// True when this standby protects the sessions of neighbour `address` (`protect`
    /// empty, or naming it).
    pub fn protects(&self, address: IpAddr) -> bool {
        self.protect.is_empty() || self.protect.contains(&address)
    }

    /// Checks that the TLS files exist and hold what they must (PEM): `ca` and `cert` at
    /// least one CERTIFICATE, `key` a private key. Returns the field (`ha.tls.NAME`) and the
    /// reason of the first problem ([`HaSection::check_files_all`] gives them all). Not part
    /// of [`HaSection::validate`]: a standby imports its primary's configuration, whose paths
    /// are the primary's.
    pub fn check_files(&self) -> Result<(), (String, String)> {
        first(self.check_files_all())
    }

    /// Every problem of [`HaSection::check_files`]: each file, then (when the certificate
    /// and the key are good) a key that is not the certificate's.
    pub fn check_files_all(&self) -> Vec<(String, String)> {
        let Some(tls) = &self.tls else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, path) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
            let what = if name == "key" {
                "a PEM private key"
            } else {
                "a PEM certificate"
            };
            if let Err(why) = pem_file_problem(path, name == "key", what) {
                out.push((format!("ha.tls.{name}"), why));
            }
        }
        if out.iter().any(|(f, _)| f != "ha.tls.ca") {
            return out;
        }
        if let Err(e) = check_key_pair(&tls.cert, &tls.key) {
            out.push(("ha.tls.key".to_string(), e.to_string()));
        }
        out
    }

    /// Milliseconds of heartbeat silence after which the primary counts as failed
    /// (`heartbeat_interval_ms * detect_multiplier`).
    pub fn detection_ms(&self) -> u64 {
        self.heartbeat_interval_ms
            .saturating_mul(u64::from(self.detect_multiplier))
    }

    /// Checks the section; returns the field (`ha.NAME`) and the reason of the first
    /// problem ([`HaSection::validate_all`] gives them all).
    pub fn validate(&self) -> Result<(), (String, String)> {
        first(self.validate_all())
    }

    /// Every problem of the section (field `ha.NAME` and the reason), in the order of the
    /// checks: each independent check runs, so a standby missing both `mirror_interface`
    /// and `session_interface` is told of both.
    pub fn validate_all(&self) -> Vec<(String, String)> {
        self.validate_except(&|_| true)
    }

    /// [`HaSection::validate_all`] of a section in which some fields could not be read:
    /// `read("ha.NAME")` is false for those. Nothing is said about such a field, nor about
    /// what depends on it (the role's checks when `role` is unread, `primary`'s scheme when
    /// `tls` is unread); every other check runs.
    pub(crate) fn validate_except(&self, read: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
        let f = |name: &str| format!("ha.{name}");
        let mut errs = Vec::new();
        if self.node_id == 0 {
            errs.push((f("node_id"), "must be at least 1".into()));
        }
        if !(10..=60_000).contains(&self.heartbeat_interval_ms) {
            errs.push((
                f("heartbeat_interval_ms"),
                "must be between 10 and 60000 milliseconds".into(),
            ));
        }
        if !(1..=100).contains(&self.detect_multiplier) {
            errs.push((f("detect_multiplier"), "must be between 1 and 100".into()));
        }
        let ifname_ok = |n: &str| !n.is_empty() && n.len() < 16 && !n.contains(['/', ' ']);
        for (key, name) in [
            ("mirror_interface", &self.mirror_interface),
            ("session_interface", &self.session_interface),
        ] {
            if let Some(n) = name.as_deref().filter(|n| !ifname_ok(n)) {
                errs.push((f(key), format!("{n:?} is not an interface name")));
            }
        }
        for m in &self.move_addresses {
            if let Err(e) = m.parse::<MovedAddress>() {
                errs.push((f("move_addresses"), e));
            }
        }
        match self.fencing_command.as_deref() {
            Some(c) if c.trim().is_empty() => {
                errs.push((f("fencing_command"), "must not be empty".into()));
            }
            Some(c) => {
                if let Some(program) = fencing_program(c).filter(|p| !is_executable(p)) {
                    errs.push((
                        f("fencing_command"),
                        format!("{program} is not an executable file"),
                    ));
                }
            }
            None => {}
        }
        if let Some(tls) = &self.tls {
            for (key, v) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
                if v.is_empty() {
                    errs.push((f("tls"), format!("{key} must name a file")));
                }
            }
        }
        match self.role {
            _ if !read("ha.role") => {}
            HaRoleConfig::Primary => {
                if let Some(p) = &self.primary {
                    errs.push((
                        f("primary"),
                        format!(
                            "a primary does not follow another primary ({p:?}): remove it, or \
                             set role = \"standby\" if this node is meant to follow it"
                        ),
                    ));
                }
                if self.checkpoint_address.is_none() {
                    errs.push((
                        f("checkpoint_address"),
                        "a primary needs the address standbys attach to".into(),
                    ));
                }
            }
            HaRoleConfig::Standby => {
                if read("ha.tls") {
                    if let Err(why) = self.primary_endpoint_problem() {
                        errs.push((f("primary"), why));
                    }
                }
                if self.mirror_interface.is_none() {
                    errs.push((
                        f("mirror_interface"),
                        "a standby needs the interface its BGP traffic is mirrored to".into(),
                    ));
                }
                // Without it the takeover of every session fails when the primary dies
                // (the standby has nowhere to add the session addresses), after the
                // standby reported the sessions protected all along.
                if self.session_interface.is_none() {
                    errs.push((
                        f("session_interface"),
                        "a standby needs the interface where it adds the session addresses \
                         when it takes over (e.g. session_interface = \"eth1\"): without it \
                         no session can be taken over"
                            .into(),
                    ));
                }
            }
        }
        errs.retain(|(field, _)| read(field));
        errs
    }

    /// A standby's `primary`: present, `http://host:port` (`https://` with `tls`), and a
    /// URI the standby can dial. Errors: why not.
    fn primary_endpoint_problem(&self) -> Result<(), String> {
        let Some(p) = &self.primary else {
            return Err(
                "a standby needs the primary's checkpoint endpoint (http://host:port)".into(),
            );
        };
        let scheme = if self.tls.is_some() {
            "https://"
        } else {
            "http://"
        };
        let rest = p
            .strip_prefix(scheme)
            .ok_or_else(|| format!("{p:?} must start with {scheme}"))?;
        if rest.rsplit_once(':').is_none_or(|(h, port)| {
            h.is_empty() || port.trim_end_matches('/').parse::<u16>().is_err()
        }) {
            return Err(format!("{p:?} is not {scheme}host:port"));
        }
        // The endpoint the standby will dial: it must parse as a URI (no space or other
        // character a host cannot hold).
        if let Err(e) = tonic::transport::Endpoint::from_shared(p.clone()) {
            return Err(format!("{p:?} is not a valid URI: {e}"));
        }
        Ok(())
    }
}

/// The program a fencing command (run with `sh -c`) starts, when it names one by path
/// (`/usr/local/bin/fence-primary --node 1`): its first word, when that contains a `/`.
/// Commands starting with a plain name (a shell builtin or a `PATH` lookup) are not
/// checked.
fn fencing_program(command: &str) -> Option<&str> {
    command
        .split_whitespace()
        .next()
        .filter(|w| w.contains('/') && !w.contains(['=', '$', '`', '"', '\'', '(']))
}

/// True when `path` is a regular file with an execute permission bit.
fn is_executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn default_ha_priority() -> u8 {
    100
}
fn default_heartbeat_ms() -> u64 {
    100
}
fn default_detect_multiplier() -> u32 {
    3
}
