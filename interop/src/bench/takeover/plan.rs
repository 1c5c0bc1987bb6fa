//! Addresses, AS numbers and configurations of the takeover benchmark's lab (RFC 5737
//! documentation space only).
//!
//! ```text
//!                       switch ns: bridge br0 (session LAN 192.0.2.0/24)
//!   primary 192.0.2.1 (eth1) ---+--- standby 192.0.2.2 (eth1), mirror port mon0 <- sw-prim,
//!                               |                                sw-peers, sw-frr
//!   peers ns: feeder 192.0.2.10, keepalive peers 192.0.2.11.. (eth0), server 203.0.113.10 (lo)
//!   frr ns:   FRR 192.0.2.5 (eth0)
//!                       bridge brc (client LAN 198.51.100.0/25)
//!   primary 198.51.100.1 (eth2, the gateway, moves with the sessions), standby .2, client .10
//!                       bridge brk (checkpoint link 198.51.100.252/30)
//!   primary 198.51.100.253 (eth3), standby .254
//! ```
//!
//! Every link of the primary is a port of the switch namespace, so one tc request there
//! cuts them all at once. The feeder announces the table and 203.0.113.0/25 (the server);
//! the ping stream runs client -> server through the router's kernel FIB.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The router's session address (the primary's, moved to the standby at takeover).
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The standby's own address on the session LAN.
pub const STANDBY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The FRR neighbour.
pub const FRR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
/// The feeder (the first address of the peers' namespace, so its connection's source).
pub const FEEDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The router's AS.
pub const ROUTER_AS: u32 = 65_000;
/// The feeder's AS.
pub const FEEDER_AS: u32 = 64_700;
/// FRR's AS.
pub const FRR_AS: u32 = 65_011;
/// The client LAN gateway (moves with the sessions).
pub const GATEWAY: &str = "198.51.100.1/25";
/// The standby's own client LAN address.
pub const STANDBY_CLIENT: &str = "198.51.100.2/25";
/// The client of the ping stream.
pub const CLIENT: &str = "198.51.100.10/25";
/// The client LAN (the route back from the server's side).
pub const CLIENT_LAN: &str = "198.51.100.0/25";
/// The primary on the checkpoint link.
pub const CKPT_PRIMARY: &str = "198.51.100.253/30";
/// The standby on the checkpoint link.
pub const CKPT_STANDBY: &str = "198.51.100.254/30";
/// The ribsync checkpoint service of the primary.
pub const CKPT_ADDRESS: &str = "198.51.100.253:50052";
/// The ping stream's target, on the peers' loopback.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The server's prefix, announced by the feeder with the table.
pub const SERVER_NET: (Ipv4Addr, u8) = (Ipv4Addr::new(203, 0, 113, 0), 25);
/// The most sessions the address plan holds (feeder, FRR and keepalive peers).
pub const MAX_SESSIONS: usize = 200;
/// Hold Time the router proposes to the feeder and the keepalive peers (they propose 600,
/// so this is the one negotiated; the peers send a KEEPALIVE every 20 s).
pub const PEER_HOLD: u16 = 90;

/// The `i`th keepalive peer (address, AS).
pub fn keepalive_peer(i: usize) -> (Ipv4Addr, u32) {
    let host = u8::try_from(11 + i).unwrap_or(u8::MAX);
    (Ipv4Addr::new(192, 0, 2, host), 65_100 + i as u32)
}

/// The sessions of a run with `sessions` neighbour sessions: the feeder always; FRR from
/// two sessions on; keepalive peers for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    /// With an FRR neighbour.
    pub frr: bool,
    /// Keepalive peers.
    pub keepalive: usize,
}

impl Sessions {
    /// The split of `n` sessions (at least 1, at most [`MAX_SESSIONS`]).
    pub fn of(n: usize) -> Sessions {
        let n = n.clamp(1, MAX_SESSIONS);
        Sessions {
            frr: n >= 2,
            keepalive: n.saturating_sub(2),
        }
    }

    /// Every session.
    pub fn total(self) -> usize {
        1 + usize::from(self.frr) + self.keepalive
    }
}

/// Which bgpd of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The primary (the checkpoint service).
    Primary,
    /// The standby (mirror port mon0, takes over on eth1, the gateway on eth2).
    Standby,
    /// No HA at all, with Graceful Restart (RFC 4724) towards FRR: the baseline.
    Plain,
}

/// The router's bgpd configuration for `sessions` in `role`; `fib`: install into the
/// kernel (the ping stream needs it).
pub fn bgpd_config(sessions: Sessions, role: Role, fib: bool) -> String {
    let mut s = String::new();
    let gr = role == Role::Plain;
    let _ = write!(
        s,
        "router_id = \"{ROUTER}\"\nlocal_as = {ROUTER_AS}\nlisten_addresses = [\"{ROUTER}\"]\n\n\
         [[neighbor]]\naddress = \"{FEEDER}\"\nremote_as = {FEEDER_AS}\ndescription = \"feeder\"\n\
         passive = true\nhold_time = {PEER_HOLD}\nlocal_address = \"{ROUTER}\"\n\
         families = [\"ipv4/unicast\"]\ngraceful_restart = false\nimport = [\"all\"]\nexport = [\"none\"]\n\n"
    );
    if sessions.frr {
        let _ = write!(
            s,
            "[[neighbor]]\naddress = \"{FRR}\"\nremote_as = {FRR_AS}\ndescription = \"frr\"\n\
             hold_time = 9\nconnect_retry = 1\nlocal_address = \"{ROUTER}\"\n\
             families = [\"ipv4/unicast\"]\ngraceful_restart = {gr}\nimport = [\"all\"]\nexport = [\"all\"]\n\n"
        );
    }
    for i in 0..sessions.keepalive {
        let (a, asn) = keepalive_peer(i);
        let _ = write!(
            s,
            "[[neighbor]]\naddress = \"{a}\"\nremote_as = {asn}\nhold_time = {PEER_HOLD}\n\
             connect_retry = 1\nlocal_address = \"{ROUTER}\"\nfamilies = [\"ipv4/unicast\"]\n\
             graceful_restart = false\nimport = [\"none\"]\nexport = [\"none\"]\n\n"
        );
    }
    let _ = write!(
        s,
        "[policy.policies.all]\ndefault = \"accept\"\n\n[policy.policies.none]\ndefault = \"reject\"\n\n\
         [fib]\nenabled = {fib}\n"
    );
    match role {
        Role::Primary => {
            let _ = write!(
                s,
                "\n[ha]\nrole = \"primary\"\nnode_id = 1\npriority = 100\ncheckpoint_address = \"{CKPT_ADDRESS}\"\n"
            );
        }
        Role::Standby => {
            let _ = write!(
                s,
                "\n[ha]\nrole = \"standby\"\nnode_id = 2\npriority = 100\nprimary = \"http://{CKPT_ADDRESS}\"\n\
                 mirror_interface = \"mon0\"\nsession_interface = \"eth1\"\nmove_addresses = [\"{GATEWAY} eth2\"]\n"
            );
        }
        Role::Plain => {}
    }
    s
}

/// FRR's configuration: the router as its only neighbour (hold 9 s, so a broken takeover
/// shows within seconds), Graceful Restart on (`gr`) or off, nothing sent back to the
/// router (FRR would echo every route; a deny-all out keeps its CPU on the table).
pub fn frr_config(gr: bool) -> String {
    let gr_line = if gr {
        " bgp graceful-restart\n"
    } else {
        " bgp graceful-restart-disable\n"
    };
    format!(
        "frr defaults traditional\nhostname frr\n!\nrouter bgp {FRR_AS}\n bgp router-id {FRR}\n\
         no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n\
         {gr_line} neighbor {ROUTER} remote-as {ROUTER_AS}\n neighbor {ROUTER} timers 3 9\n\
         neighbor {ROUTER} timers connect 1\n !\n address-family ipv4 unicast\n\
         neighbor {ROUTER} activate\n  neighbor {ROUTER} route-map deny-all out\n\
         exit-address-family\n!\nroute-map deny-all deny 10\n!\n"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn session_split() {
        assert_eq!(
            Sessions::of(1),
            Sessions {
                frr: false,
                keepalive: 0
            }
        );
        assert_eq!(
            Sessions::of(2),
            Sessions {
                frr: true,
                keepalive: 0
            }
        );
        assert_eq!(Sessions::of(100).keepalive, 98);
        assert_eq!(Sessions::of(100).total(), 100);
        assert_eq!(Sessions::of(10_000).total(), MAX_SESSIONS);
        assert_eq!(
            keepalive_peer(MAX_SESSIONS - 3).0,
            Ipv4Addr::new(192, 0, 2, 208)
        );
    }

    #[test]
    fn configs_are_valid_bgpd_toml() {
        for role in [Role::Primary, Role::Standby, Role::Plain] {
            for n in [1, 2, 100] {
                let text = bgpd_config(Sessions::of(n), role, role != Role::Plain);
                let cfg = bgpd::config::Config::from_toml_str(&text)
                    .unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert_eq!(cfg.neighbors.len(), n);
                assert_eq!(cfg.ha.is_some(), role != Role::Plain);
                cfg.validate().unwrap();
            }
        }
        let plain =
            bgpd::config::Config::from_toml_str(&bgpd_config(Sessions::of(2), Role::Plain, false))
                .unwrap();
        assert!(plain.neighbors[1].graceful_restart);
        assert!(!plain.neighbors[0].graceful_restart);
    }
}
