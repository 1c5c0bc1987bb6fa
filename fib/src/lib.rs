//! fib: kernel FIB programming over rtnetlink (DESIGN.md §4, step 4; issue 5).
//!
//! The speaker core hands over its Loc-RIB best paths ([`RouteUpdate`]: prefix and
//! BGP next hops); [`Fib`] keeps them as the desired state and programs the kernel
//! with the smallest set of netlink operations, many requests per datagram and many
//! datagrams in flight, answering with one typed [`Outcome`] per route.
//!
//! - Reconciliation is a pure function ([`plan::plan`], [`plan::plan_route`]).
//! - Next hops without an interface are resolved through the kernel
//!   (`ip route get fibmatch`) and re-resolved on route change notifications.
//! - Adopt mode ([`Fib::adopt`], [`Fib::converged`]) takes over the routes a
//!   previous process installed without ever deleting and re-adding one that stays.
//! - [`FibService`] runs a [`Fib`] on its own thread behind an async (tokio) handle.

mod codec;
mod config;
mod fib;
mod intern;
mod netns;
mod nexthop;
mod outcome;
mod pipeline;
pub mod plan;
mod prefix;
mod route;
mod service;
mod socket;
mod table;
mod watch;

pub use config::{FibConfig, RTPROT_BGP, RT_TABLE_MAIN};
pub use fib::{Fib, Reconciled};
pub use netns::in_netns;
pub use nexthop::nexthop_objects_unsupported;
pub use outcome::{FibError, Outcome, RouteError, RouteResult};
pub use pipeline::{DEFAULT_BATCH, DEFAULT_WINDOW};
pub use prefix::{Prefix, PrefixError};
pub use route::{normalise_paths, KernelRoute, NextHop, Path, RouteKey, RouteUpdate};
pub use service::FibService;
