//! What the admin API shows about replication (issue 6, "Admin API and CLI").

use super::app::FlowId;
use crate::ha::{HaRole, NodeId, Priority};

/// Where a standby stands in the FIG. 4 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Checkpoints under way.
    Checkpointing {
        /// Flows acknowledged so far.
        acknowledged: usize,
        /// Flows the standby is responsible for.
        total: usize,
    },
    /// Declared synchronised, then demoted (e.g. a write-ahead went unacknowledged).
    Resynchronising,
    /// Synchronised: write-ahead goes to it and it may take over.
    Synchronised,
}

/// Write-ahead latency (batch handed over to acknowledgement), milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyStats {
    /// Batches measured.
    pub count: u64,
    /// Sum of latencies, milliseconds.
    pub total_ms: u64,
    /// The largest, milliseconds.
    pub max_ms: u64,
    /// The last one, milliseconds.
    pub last_ms: u64,
}

impl LatencyStats {
    /// Add one measurement.
    pub fn record(&mut self, ms: u64) {
        self.count += 1;
        self.total_ms += ms;
        self.max_ms = self.max_ms.max(ms);
        self.last_ms = ms;
    }

    /// Mean latency, milliseconds (0 when nothing was measured).
    pub fn mean_ms(&self) -> u64 {
        self.total_ms.checked_div(self.count).unwrap_or(0)
    }
}

/// One standby as the primary sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyView {
    /// The standby.
    pub node: NodeId,
    /// Its election priority.
    pub priority: Priority,
    /// Its sync state.
    pub sync: SyncState,
    /// Neighbour-to-primary octets the primary has received and the standby has not yet
    /// consumed, summed over its flows.
    pub lag_bytes: u64,
    /// Age of the oldest such octet, milliseconds.
    pub lag_ms: u64,
    /// Maintenance digests that matched.
    pub digests_matched: u64,
    /// Maintenance digests that differed.
    pub digests_mismatched: u64,
    /// Maintenance digests the standby could not compare.
    pub digests_skipped: u64,
    /// Checkpoints voided by a state change before their acknowledgement.
    pub checkpoints_voided: u64,
    /// Octets sent to it by gap fill (what its mirror missed).
    pub gap_fill_bytes: u64,
    /// Write-ahead latency.
    pub write_ahead: LatencyStats,
}

/// One flow: protected or not, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowView {
    /// The flow.
    pub flow: FlowId,
    /// Synchronised standbys holding an acknowledged checkpoint of it.
    pub protected_by: Vec<NodeId>,
    /// Why the other standbys do not protect it (or "no standby").
    pub unprotected_reasons: Vec<String>,
}

impl FlowView {
    /// True when at least one standby can take the flow over.
    pub fn protected(&self) -> bool {
        !self.protected_by.is_empty()
    }
}

/// The whole replication view of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaView {
    /// The node's role.
    pub role: HaRole,
    /// Its standbys (on a primary).
    pub standbys: Vec<StandbyView>,
    /// Its flows.
    pub flows: Vec<FlowView>,
}
