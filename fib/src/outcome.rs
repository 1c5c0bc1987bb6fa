//! Typed results that go back to the speaker core, one per route.

use std::net::IpAddr;

use crate::prefix::Prefix;

/// What happened to one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel holds the route as desired (added, replaced, or already there).
    Installed,
    /// The kernel holds no route of ours for this prefix (deleted, or already absent:
    /// ESRCH on delete counts as done).
    Removed,
    /// Installation is switched off in the configuration; nothing was sent.
    NotInstalled,
    /// The route could not be programmed.
    Failed(RouteError),
}

/// Why a route could not be programmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The kernel refused the request with this errno (positive, e.g. `libc::ENETUNREACH`).
    #[error("kernel refused the request: errno {errno}")]
    Kernel {
        /// Positive errno.
        errno: i32,
    },
    /// None of the next hops resolves through the kernel's routing table; the route
    /// is kept out of the kernel until one does.
    #[error("no next hop resolves (first: {next_hop})")]
    Unresolved {
        /// The first next hop that failed to resolve.
        next_hop: IpAddr,
    },
    /// A next hop's family differs from the prefix's.
    #[error("next hop {next_hop} is not of the prefix's address family")]
    FamilyMismatch {
        /// The offending next hop.
        next_hop: IpAddr,
    },
}

/// The result for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteResult {
    /// Destination.
    pub prefix: Prefix,
    /// What happened.
    pub outcome: Outcome,
}

/// Failures of the writer itself (as opposed to one route).
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    /// A netlink socket call failed.
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel answered a dump or lookup with a message we could not decode.
    #[error("undecodable netlink message: {0}")]
    Decode(String),
    /// A dump or lookup was refused by the kernel with this errno.
    #[error("kernel refused a query: errno {errno}")]
    Query {
        /// Positive errno.
        errno: i32,
    },
    /// The namespace file could not be entered.
    #[error("entering network namespace {path}: {source}")]
    Netns {
        /// The namespace path.
        path: String,
        /// The error from open(2) or setns(2).
        source: std::io::Error,
    },
}
