//! Real BGP neighbours run inside lab namespaces: FRR, BIRD 2, GoBGP, ExaBGP and our own
//! bgpd, one module each, behind the common [`Neighbor`] trait, configured from one
//! [`BgpConfig`].

pub mod bgpd;
pub mod bird;
pub mod exabgp;
pub mod frr;
pub mod gobgp;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnetwork::IpNetwork;
use serde::Serialize;

use crate::error::{LabError, Result};
use crate::poll::poll_until;
use crate::process::LabProcess;

/// How long a daemon gets between SIGTERM and SIGKILL when stopped.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Stops a single-process daemon (SIGTERM, then SIGKILL after [`STOP_GRACE`]); no-op when
/// it is not running.
pub(crate) fn stop_process(p: &mut Option<LabProcess>) {
    if let Some(mut p) = p.take() {
        p.stop(STOP_GRACE);
    }
}

/// Kills a single-process daemon at once (SIGKILL: a crash); no-op when not running.
pub(crate) fn kill_process(p: &mut Option<LabProcess>) {
    if let Some(mut p) = p.take() {
        p.kill();
    }
}

/// Leaves a daemon running after its handle is dropped (`interop lab up`).
pub(crate) fn detach_process(p: &mut Option<LabProcess>) {
    if let Some(p) = p.take() {
        p.detach();
    }
}

/// Which implementation a neighbour is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NeighborKind {
    /// FRRouting bgpd (optionally with zebra).
    Frr,
    /// BIRD 2.
    Bird,
    /// GoBGP (gobgpd).
    Gobgp,
    /// ExaBGP.
    Exabgp,
    /// understudy's bgpd.
    Understudy,
}

impl std::fmt::Display for NeighborKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NeighborKind::Frr => "frr",
            NeighborKind::Bird => "bird",
            NeighborKind::Gobgp => "gobgp",
            NeighborKind::Exabgp => "exabgp",
            NeighborKind::Understudy => "understudy",
        })
    }
}

impl NeighborKind {
    /// The programs a node of this kind runs (the daemon, its control client; FRR's zebra
    /// with `zebra`), as [`crate::cmd::command`] runs them, and the Debian package that has
    /// them. understudy's own `bgpd` is found by [`bgpd::binary`] instead: none here.
    pub fn programs(self, zebra: bool) -> (Vec<&'static str>, &'static str) {
        match self {
            NeighborKind::Frr => {
                let mut p = vec![frr::BGPD, "vtysh"];
                if zebra {
                    p.push(frr::ZEBRA);
                }
                (p, "frr")
            }
            NeighborKind::Bird => (vec!["bird", "birdc"], "bird2"),
            NeighborKind::Gobgp => (vec!["gobgpd", "gobgp"], "gobgpd"),
            NeighborKind::Exabgp => (vec!["exabgp"], "exabgp"),
            NeighborKind::Understudy => (Vec::new(), ""),
        }
    }

    /// Checks that every program a daemon of this kind runs is there and executable (the
    /// [`NeighborKind::programs`]; understudy's `bgpd` and `understudy` as [`bgpd::binary`]
    /// finds them), so that a missing one is said before a lab is built. `who` names who
    /// runs it in the error (`node frr1`, `the bench`).
    ///
    /// # Errors
    /// [`LabError::MissingProgram`] naming the first missing program and how to get it.
    pub fn check_installed(self, zebra: bool, who: &str) -> Result<()> {
        if self == NeighborKind::Understudy {
            for name in ["bgpd", "understudy"] {
                bgpd::binary(name).map_err(|e| LabError::MissingProgram {
                    program: name.into(),
                    needed_by: format!(
                        "{who} runs understudy's {name} ({e}; build it: cargo build -p bgpd, or \
                         set US_BIN_DIR)"
                    ),
                })?;
            }
            return Ok(());
        }
        let (programs, package) = self.programs(zebra);
        for program in programs {
            if crate::cmd::find_program(program).is_none() {
                return Err(LabError::MissingProgram {
                    program: program.into(),
                    needed_by: format!(
                        "{who} runs {self} (Debian package {package}: apt-get install {package})"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// An address family a session carries (AFI/SAFI, RFC 4760 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Family {
    /// AFI 1, SAFI 1.
    Ipv4Unicast,
    /// AFI 2, SAFI 1.
    Ipv6Unicast,
}

/// Autonomous system number (four-octet, RFC 6793).
pub type Asn = u32;

/// One configured BGP neighbour of a daemon (the daemon's view of its peer).
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The peer's address (the session's remote address).
    pub address: IpAddr,
    /// The peer's AS.
    pub remote_as: Asn,
    /// Our address on the session (update-source / local address); None = the daemon picks.
    pub local_address: Option<IpAddr>,
    /// Only accept connections, never initiate (RFC 4271 section 8.1.1, PassiveTcpEstablishment).
    pub passive: bool,
    /// Hold time we propose (RFC 4271 section 4.2; zero or at least 3 s).
    pub hold_time: Duration,
    /// Keepalive interval (RFC 4271 section 10 suggests a third of the hold time).
    pub keepalive: Duration,
    /// TCP MD5 signature password (RFC 2385), None for none.
    pub md5_password: Option<String>,
    /// Address families to negotiate and carry.
    pub families: Vec<Family>,
}

impl PeerConfig {
    /// A peer at `address` in AS `remote_as`, active, hold 9 s, keepalive 3 s, no MD5,
    /// carrying the family of its address.
    pub fn new(address: IpAddr, remote_as: Asn) -> Self {
        let family = match address {
            IpAddr::V4(_) => Family::Ipv4Unicast,
            IpAddr::V6(_) => Family::Ipv6Unicast,
        };
        PeerConfig {
            address,
            remote_as,
            local_address: None,
            passive: false,
            hold_time: Duration::from_secs(9),
            keepalive: Duration::from_secs(3),
            md5_password: None,
            families: vec![family],
        }
    }

    /// Sets our local address on the session.
    pub fn local(mut self, addr: IpAddr) -> Self {
        self.local_address = Some(addr);
        self
    }

    /// Makes the session passive (we never connect).
    pub fn passive(mut self) -> Self {
        self.passive = true;
        self
    }

    /// Protects the session with TCP MD5 (RFC 2385).
    pub fn md5(mut self, password: &str) -> Self {
        self.md5_password = Some(password.to_string());
        self
    }

    /// Sets hold time and keepalive interval.
    pub fn timers(mut self, hold_time: Duration, keepalive: Duration) -> Self {
        self.hold_time = hold_time;
        self.keepalive = keepalive;
        self
    }

    /// Sets the families carried.
    pub fn families(mut self, families: &[Family]) -> Self {
        self.families = families.to_vec();
        self
    }

    /// True if the session carries `family`.
    pub fn carries(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}

/// A neighbour daemon's whole BGP configuration, rendered by each adapter into its own
/// configuration language.
#[derive(Debug, Clone)]
pub struct BgpConfig {
    /// Our AS.
    pub local_as: Asn,
    /// BGP identifier (RFC 4271 section 4.2).
    pub router_id: Ipv4Addr,
    /// The peers.
    pub peers: Vec<PeerConfig>,
    /// Prefixes to originate (static, next hop self).
    pub networks: Vec<IpNetwork>,
    /// Advertise and honour Graceful Restart (RFC 4724).
    pub graceful_restart: bool,
    /// How long to wait between connection attempts (ConnectRetryTimer, RFC 4271 section
    /// 10); short in the lab so sessions come up fast.
    pub connect_retry: Duration,
}

impl BgpConfig {
    /// AS `local_as`, identifier `router_id`, no peers, no networks, no GR, connect retry 1 s.
    pub fn new(local_as: Asn, router_id: Ipv4Addr) -> Self {
        BgpConfig {
            local_as,
            router_id,
            peers: Vec::new(),
            networks: Vec::new(),
            graceful_restart: false,
            connect_retry: Duration::from_secs(1),
        }
    }

    /// Adds a peer.
    pub fn peer(mut self, peer: PeerConfig) -> Self {
        self.peers.push(peer);
        self
    }

    /// Adds a prefix to originate.
    pub fn network(mut self, prefix: IpNetwork) -> Self {
        self.networks.push(prefix);
        self
    }

    /// Turns Graceful Restart on or off.
    pub fn graceful_restart(mut self, on: bool) -> Self {
        self.graceful_restart = on;
        self
    }
}

/// A neighbour's view of one session, as it reports it. Fields a daemon does not report are
/// None (BIRD has no message counters; ExaBGP reports only what its event stream shows).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionState {
    /// The peer address this state is about.
    pub peer: Option<IpAddr>,
    /// The daemon's state name, as it prints it (e.g. "Established", "Active").
    pub state: String,
    /// True when the session is Established (RFC 4271 section 8.2.2).
    pub established: bool,
    /// Time since the session became Established.
    #[serde(serialize_with = "ser_opt_secs")]
    pub uptime: Option<Duration>,
    /// How many times the session became Established.
    pub established_count: Option<u64>,
    /// How many times an Established session was dropped.
    pub dropped_count: Option<u64>,
    /// BGP messages received.
    pub messages_received: Option<u64>,
    /// BGP messages sent.
    pub messages_sent: Option<u64>,
    /// UPDATE messages received.
    pub updates_received: Option<u64>,
    /// NOTIFICATION messages received.
    pub notifications_received: Option<u64>,
    /// NOTIFICATION messages sent.
    pub notifications_sent: Option<u64>,
    /// Prefixes received from the peer and accepted, all families.
    pub prefixes_received: Option<u64>,
    /// Prefixes sent (advertised) to the peer, all families.
    pub prefixes_sent: Option<u64>,
}

fn ser_opt_secs<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// A real BGP daemon running inside a lab namespace. Each adapter has a `start` that writes
/// its configuration, starts it and waits until its control interface answers; dropping an
/// adapter stops the daemon.
pub trait Neighbor {
    /// Which implementation this is.
    fn kind(&self) -> NeighborKind;

    /// The neighbour's name in the lab (its node name).
    fn name(&self) -> &str;

    /// The daemon's view of its session with `peer`.
    ///
    /// # Errors
    /// [`crate::LabError::Exited`] when the daemon is gone; a command or parse error when its
    /// control interface does not answer as expected (e.g. `peer` is not configured).
    fn session(&mut self, peer: IpAddr) -> Result<SessionState>;

    /// The daemon's view of every BGP session it has configured.
    fn sessions(&mut self) -> Result<Vec<SessionState>>;

    /// The prefixes the daemon received from `peer` and holds (all families).
    fn routes_received(&mut self, peer: IpAddr) -> Result<BTreeSet<IpNetwork>>;

    /// The daemon's BGP process (FRR: its bgpd, beside zebra): None before it starts and
    /// once it is stopped, killed or detached.
    fn process_mut(&mut self) -> &mut Option<LabProcess>;

    /// Starts the BGP process with the configuration written at start (what
    /// [`Neighbor::restart`] runs after stopping it).
    fn spawn_process(&mut self) -> Result<()>;

    /// Stops the daemon (also done on drop): SIGTERM, then SIGKILL after 3 s.
    fn stop(&mut self) {
        stop_process(self.process_mut());
    }

    /// Kills the daemon's BGP process at once (SIGKILL: a crash; its kernel closes the TCP
    /// connections). FRR's zebra is left running, as it would be.
    fn kill(&mut self) {
        kill_process(self.process_mut());
    }

    /// Starts the BGP process again with the same configuration (after [`Neighbor::kill`],
    /// or stopping it first), e.g. for a Graceful Restart (RFC 4724) test. FRR's zebra runs
    /// on.
    fn restart(&mut self) -> Result<()> {
        stop_process(self.process_mut());
        self.spawn_process()
    }

    /// Lets the daemon run on after this value is dropped (for `interop lab up`); the lab's
    /// namespace removal ends it later.
    fn detach(&mut self) {
        detach_process(self.process_mut());
    }

    /// Polls [`Neighbor::session`] until the session is Established, for up to `timeout`.
    fn wait_established(&mut self, peer: IpAddr, timeout: Duration) -> Result<SessionState> {
        let what = format!(
            "{} {} session with {peer} to be Established",
            self.kind(),
            self.name()
        );
        poll_until(&what, timeout, Duration::from_millis(100), || {
            let s = self.session(peer)?;
            Ok(s.established.then_some(s))
        })
    }

    /// Polls [`Neighbor::routes_received`] until it contains every prefix of `expected`, for
    /// up to `timeout`; returns the whole set then.
    fn wait_routes(
        &mut self,
        peer: IpAddr,
        expected: &[IpNetwork],
        timeout: Duration,
    ) -> Result<BTreeSet<IpNetwork>> {
        let what = format!(
            "{} {} to receive {expected:?} from {peer}",
            self.kind(),
            self.name()
        );
        poll_until(&what, timeout, Duration::from_millis(100), || {
            let routes = self.routes_received(peer)?;
            Ok(expected
                .iter()
                .all(|p| routes.contains(p))
                .then_some(routes))
        })
    }
}

/// The namespace of node `node` of `lab` and a work directory for it.
pub(crate) fn node_place(
    lab: &crate::Lab,
    node: &str,
) -> Result<(crate::Netns, std::path::PathBuf)> {
    let ns = lab
        .namespace(node)
        .cloned()
        .ok_or_else(|| crate::LabError::Topology {
            file: "<lab>".into(),
            detail: format!("no node {node:?} in lab {}", lab.id()),
        })?;
    Ok((ns, lab.subdir(node)?))
}

/// Seconds as an integer for a daemon config (at least 1).
pub(crate) fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// A name for a peer usable as an identifier in configs: `p_192_0_2_1`, `p_2001_db8__1`.
pub(crate) fn peer_ident(addr: IpAddr) -> String {
    let mut s = String::from("p_");
    for c in addr.to_string().chars() {
        s.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn peer_idents_are_identifiers() {
        assert_eq!(peer_ident("192.0.2.1".parse().unwrap()), "p_192_0_2_1");
        assert_eq!(peer_ident("2001:db8::1".parse().unwrap()), "p_2001_db8__1");
    }

    #[test]
    fn peer_family_follows_address() {
        let p = PeerConfig::new("2001:db8::2".parse().unwrap(), 65002);
        assert!(p.carries(Family::Ipv6Unicast));
        assert!(!p.carries(Family::Ipv4Unicast));
    }
}
