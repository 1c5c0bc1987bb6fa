//! interop: the understudy lab.
//!
//! - [`Lab`]: network namespaces, veth links, bridges, addresses, mirror ports and
//!   processes, all removed when the guard is dropped; [`sweep::sweep`] removes stale labs.
//! - [`topology`]: containerlab topology files, instantiated as namespaces.
//! - [`neighbor`]: real BGP daemons (FRR, BIRD, GoBGP, ExaBGP) behind the [`Neighbor`] trait.
//! - [`rawpeer`]: a test peer that sends exact bytes.
//! - [`demo`]: the `interop demo` scenarios; [`failover`]: the primary dies, the standby
//!   takes over; [`feed`]: an MRT table for the neighbours; [`speaker`]: the understudy
//!   speakers of a topology.
//! - [`bench`]: the `interop bench` benchmark (bgpd against BIRD, FRR and GoBGP).
//! - [`evidence`]: a failed lab test keeps its labs' logs under
//!   `/tmp/understudy-lab-logs/{test}-{pid}`.

pub mod bench;
pub mod capture;
pub mod cases;
pub mod cmd;
pub mod demo;
pub mod error;
pub mod evidence;
pub mod failover;
pub mod feed;
pub mod lab;
pub mod neighbor;
pub mod netns;
pub mod poll;
pub mod process;
pub mod rawpeer;
pub mod speaker;
pub mod sweep;
pub mod switchover;
pub mod topology;

pub use error::{LabError, Result};
pub use lab::{Lab, DEFAULT_PROJECT_PREFIX};
pub use neighbor::{BgpConfig, Family, Neighbor, NeighborKind, PeerConfig, SessionState};
pub use netns::{KernelRoute, Netns};
pub use process::LabProcess;
