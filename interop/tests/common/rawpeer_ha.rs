//! The primary + standby + raw-peer lab of failover_cutoff and failover_midstream: raw BGP
//! peers (interop::rawpeer) and a bgpd primary holding the session address 192.0.2.1 on
//! one bridge, and a bgpd standby following the primary on a mirror port that copies every
//! frame the primary and the peers send into the switch.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bgpd::wire::{
    encode_message, AfiSafi, Asn, Capability, HoldTime, Message, Open, RouterId, SessionContext,
};
use interop::rawpeer::{msg_type, RawPeer};
use interop::{Lab, Netns};
use serde_json::Value;

use super::{cli, mirror, neighbor, net, require_root, start_bgpd, wait_for};

/// The session address: the primary's, the standby's after the takeover.
pub const SESSION: &str = "192.0.2.1";
/// The primary's own address (its checkpoint endpoint).
pub const PRIM_OWN: &str = "192.0.2.3";
/// The standby's own address.
pub const STBY_OWN: &str = "192.0.2.2";
/// How long to wait for a state.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Polls `check` every 100 ms for up to [`TIMEOUT`] (then panics with the last error).
pub fn wait<T>(what: &str, check: impl FnMut() -> Result<Option<T>, String>) -> T {
    wait_for(what, TIMEOUT, Duration::from_millis(100), check)
}

/// A raw peer of the lab: its node name (its switch port is `p-{node}`, its interface
/// `eth0`), its address on the switch and its AS.
#[derive(Debug, Clone, Copy)]
pub struct RawPeerSpec {
    pub node: &'static str,
    pub address: &'static str,
    pub asn: u32,
}

/// The lab: every peer, the primary (`prim`) and the standby (`stby`) on bridge `br0` of
/// `sw`; the standby's `mon0` (promiscuous) receives a copy of every frame entering the
/// switch from the primary and from each peer.
pub struct RawPeerHa {
    pub lab: Lab,
    pub sw: Netns,
    pub prim: Netns,
    pub stby: Netns,
    /// The peers' namespaces, in the order of [`RawPeerHa::specs`].
    pub peers: Vec<Netns>,
    pub specs: Vec<RawPeerSpec>,
    /// The primary bgpd's PID (0 until [`RawPeerHa::start_primary`]).
    pub prim_pid: u32,
}

/// Builds the lab (namespaces `{prefix}...`): the peers, the primary with the session
/// address, the standby's mirror port. No bgpd runs yet.
pub fn primary_standby_rawpeer(prefix: &str, peers: &[RawPeerSpec]) -> RawPeerHa {
    require_root();
    let mut lab = Lab::new(prefix).expect("lab");
    let peer_ns: Vec<Netns> = peers
        .iter()
        .map(|p| lab.add_namespace(p.node).unwrap())
        .collect();
    let prim = lab.add_namespace("prim").unwrap();
    let stby = lab.add_namespace("stby").unwrap();
    let sw = lab.add_namespace("sw").unwrap();
    lab.add_bridge(&sw, "br0").unwrap();
    let mut hosts: Vec<(&Netns, String, &str)> = peers
        .iter()
        .zip(&peer_ns)
        .map(|(p, ns)| (ns, format!("p-{}", p.node), p.address))
        .collect();
    hosts.push((&prim, "p-prim".into(), PRIM_OWN));
    hosts.push((&stby, "p-stby".into(), STBY_OWN));
    for (ns, port, addr) in hosts {
        lab.add_veth(&sw, &port, ns, "eth0").unwrap();
        lab.set_master(&sw, &port, "br0").unwrap();
        lab.add_address(ns, "eth0", net(&format!("{addr}/24")))
            .unwrap();
    }
    lab.add_address(&prim, "eth0", net(&format!("{SESSION}/24")))
        .unwrap();
    lab.add_veth(&sw, "p-mon", &stby, "mon0").unwrap();
    stby.ip(&["link", "set", "mon0", "promisc", "on"]).unwrap();
    mirror(&sw, "p-prim", "p-mon");
    for p in peers {
        mirror(&sw, &format!("p-{}", p.node), "p-mon");
    }
    RawPeerHa {
        lab,
        sw,
        prim,
        stby,
        peers: peer_ns,
        specs: peers.to_vec(),
        prim_pid: 0,
    }
}

impl RawPeerHa {
    /// A bgpd configuration on the session address, every peer a passive IPv4 neighbour
    /// (hold time 90 s, everything accepted and exported), with `[ha]` `ha`.
    pub fn config(&self, ha: &str) -> String {
        let mut s = format!(
            "router_id = \"{SESSION}\"\nlocal_as = 65000\nlisten_addresses = [\"{SESSION}\"]\n"
        );
        for p in &self.specs {
            s.push_str(&format!(
                "\n[[neighbor]]\naddress = \"{}\"\nremote_as = {}\nhold_time = 90\n\
                 passive = true\nlocal_address = \"{SESSION}\"\nfamilies = [\"ipv4/unicast\"]\n\
                 import = [\"all\"]\nexport = [\"all\"]\n",
                p.address, p.asn
            ));
        }
        s.push_str(&format!(
            "\n[policy.policies.all]\ndefault = \"accept\"\n\n[ha]\n{ha}"
        ));
        s
    }

    /// Starts the primary bgpd (node 1, checkpoints on its own address).
    pub fn start_primary(&mut self) {
        self.start_primary_with("");
    }

    /// [`RawPeerHa::start_primary`] with more `[ha]` lines (`extra`, each ending in a
    /// newline).
    pub fn start_primary_with(&mut self, extra: &str) {
        let config = self.config(&format!(
            "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"{PRIM_OWN}:50052\"\n{extra}"
        ));
        self.prim_pid = start_bgpd(&mut self.lab, &self.prim.clone(), "primary", &config);
    }

    /// Starts the standby bgpd (node 2) and waits until it is synchronised with a session
    /// of every peer protected.
    pub fn start_standby(&mut self) {
        let config = self.config(&format!(
            "role = \"standby\"\nnode_id = 2\nprimary = \"http://{PRIM_OWN}:50052\"\n\
             checkpoint_address = \"{STBY_OWN}:50052\"\nmirror_interface = \"mon0\"\n\
             session_interface = \"eth0\"\n"
        ));
        start_bgpd(&mut self.lab, &self.stby.clone(), "standby", &config);
        let (stby, n) = (self.stby.clone(), self.specs.len());
        let what = if n == 1 {
            "the standby synchronised with the session protected".to_string()
        } else {
            format!("the standby synchronised with all {n} sessions protected")
        };
        wait(&what, || {
            let h = cli(&stby, &["ha"])?;
            Ok((h["synchronised"] == true
                && h["flows"]
                    .as_array()
                    .is_some_and(|f| f.len() == n && f.iter().all(|f| f["protected"] == true)))
            .then_some(()))
        });
    }

    /// Waits until `ns`'s bgpd shows neighbour `addr` Established.
    pub fn wait_established(&self, ns: &Netns, addr: &str) {
        wait(&format!("{addr} Established on {}", ns.name()), || {
            Ok((neighbor(ns, addr)?["state"] == "Established").then_some(()))
        });
    }

    /// The box dies: its switch port down, its bgpd killed; then waits for the standby's
    /// takeover (`understudy ha` says primary) and returns that status.
    pub fn fail_primary(&mut self) -> Value {
        self.lab.set_link(&self.sw, "p-prim", false).unwrap();
        assert!(self.lab.kill_process(self.prim_pid), "primary killed");
        let stby = self.stby.clone();
        wait("the standby's takeover", || {
            let h = cli(&stby, &["ha"])?;
            Ok((h["role"] == "primary").then_some(h))
        })
    }
}

/// A raw peer in `ns` (router id `me`, AS `asn`) connected to the session address, through
/// OPEN (hold time 90 s: no KEEPALIVE needed during a test) and KEEPALIVE.
pub fn establish(ns: &Netns, me: &str, asn: u32) -> RawPeer {
    let mut rp = RawPeer::connect(ns, SocketAddr::new(SESSION.parse().unwrap(), 179), TIMEOUT)
        .expect("connect to the primary");
    let open = Open::new(
        Asn(asn),
        HoldTime::new(90).unwrap(),
        RouterId(me.parse().unwrap()),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::FourOctetAs(Asn(asn)),
        ],
    );
    rp.send(&encode_message(&Message::Open(open), &SessionContext::new()).unwrap())
        .unwrap();
    rp.expect_type(msg_type::OPEN, TIMEOUT)
        .expect("the primary's OPEN");
    rp.send_keepalive().unwrap();
    rp.expect_type(msg_type::KEEPALIVE, TIMEOUT)
        .expect("the primary's KEEPALIVE");
    rp
}
