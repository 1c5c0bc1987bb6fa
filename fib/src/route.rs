//! Routes as the speaker core hands them over (BGP next hops) and as the kernel holds
//! them (resolved paths).

use std::net::IpAddr;

use crate::prefix::Prefix;

/// A next hop as the speaker core gives it: the BGP NEXT_HOP (RFC 4271 §5.1.3, or the
/// MP_REACH_NLRI next hop of RFC 4760 §3), and optionally the interface it is reached on.
///
/// With `interface` set, the route is installed via `gateway` on that interface as is.
/// Without it, the writer resolves `gateway` through the kernel's own routing table
/// (the longest match, as `ip route get fibmatch` does): a connected gateway is used
/// directly, a gateway that is itself reached via a router (iBGP) is replaced by that
/// router's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    /// The next-hop address (same family as the prefix).
    pub gateway: IpAddr,
    /// Interface index (ifindex) to reach `gateway` on, if known.
    pub interface: Option<u32>,
}

impl NextHop {
    /// A next hop to be resolved through the kernel.
    pub fn via(gateway: IpAddr) -> Self {
        Self {
            gateway,
            interface: None,
        }
    }

    /// A next hop on a known interface (no resolution).
    pub fn via_dev(gateway: IpAddr, ifindex: u32) -> Self {
        Self {
            gateway,
            interface: Some(ifindex),
        }
    }
}

/// One forwarding path as the kernel holds it: gateway (absent for a route straight on
/// a link) and outgoing interface index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    /// RTA_GATEWAY (or the gateway in an rtnexthop of RTA_MULTIPATH).
    pub gateway: Option<IpAddr>,
    /// RTA_OIF (or rtnh_ifindex).
    pub ifindex: u32,
}

/// The paths of one route, sorted and without duplicates, so that two sets compare
/// equal when the kernel would forward the same way (ECMP order does not matter).
pub fn normalise_paths(mut paths: Vec<Path>) -> Vec<Path> {
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// How the kernel tells two of our routes apart in one table: destination prefix and
/// metric (RTA_PRIORITY). TOS is always 0 for our routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    /// Destination.
    pub prefix: Prefix,
    /// RTA_PRIORITY.
    pub metric: u32,
}

/// A route of our protocol in our table, as read from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination and metric.
    pub key: RouteKey,
    /// Forwarding paths, normalised.
    pub paths: Vec<Path>,
}

/// One change from the speaker core: the new best next hops of a prefix (from the
/// Loc-RIB, RFC 4271 §9.1.2), or a withdrawal when `next_hops` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUpdate {
    /// Destination.
    pub prefix: Prefix,
    /// ECMP next hops; empty withdraws the route.
    pub next_hops: Vec<NextHop>,
}

impl RouteUpdate {
    /// Installs (or changes) `prefix` via `next_hops`.
    pub fn install(prefix: Prefix, next_hops: Vec<NextHop>) -> Self {
        Self { prefix, next_hops }
    }

    /// Withdraws `prefix`.
    pub fn withdraw(prefix: Prefix) -> Self {
        Self {
            prefix,
            next_hops: Vec::new(),
        }
    }
}
