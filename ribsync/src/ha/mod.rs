//! High availability: failure detection, standby selection and the node's role
//! (DESIGN.md section 4; issue 7, "Detection and selection").
//!
//! Pure state machines, time as plain milliseconds: the driver feeds heartbeats, the time
//! the tap last saw a frame from the primary, the roster and fencing results, and carries
//! out the [`HaAction`]s.

mod controller;
mod detector;
mod election;
mod probe;

pub use controller::{HaAction, HaConfig, HaController, HaRole};
pub use detector::{DetectorConfig, FailureDetector, Verdict};
pub use election::{elect, Candidate, RosterEntry};

/// A node's identity in the cluster (configured; unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node-{}", self.0)
    }
}

/// Election priority: the highest wins (ties: the lowest [`NodeId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Priority(pub u8);
