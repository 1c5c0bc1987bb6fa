//! The messages of the checkpoint protocol, as the state machines produce and consume them
//! (the gRPC transport maps them to `proto/ribsync.proto`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::Range;

use super::app::{Digest, FlowId, FlowSnapshot, StaticContext};
use crate::ha::{NodeId, Priority, RosterEntry};

/// How the primary keeps a standby in sync (the seed, FIG. 4 and the paragraph after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Checkpoint per flow, acknowledgement per flow, re-origination, synchronisation
    /// declaration, then periodic maintenance digests (FIG. 4).
    #[default]
    Acknowledged,
    /// The simpler arrangement: periodic maintenance checkpoints carrying every flow's
    /// context, never acknowledged; health monitoring (the digests the standby reports)
    /// decides whether the nodes are in sync.
    Periodic,
}

/// Which flows a standby is responsible for (the seed's selective backup).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FlowSelection {
    /// Every flow.
    #[default]
    All,
    /// Only the sessions with these neighbours.
    Neighbours(BTreeSet<IpAddr>),
}

impl FlowSelection {
    /// True when `flow` is among the flows selected.
    pub fn covers(&self, flow: &FlowId) -> bool {
        match self {
            FlowSelection::All => true,
            FlowSelection::Neighbours(set) => set.contains(&flow.remote.ip()),
        }
    }
}

/// A direction of a flow's byte streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamDirection {
    /// Neighbour to primary.
    Ingress,
    /// Primary to neighbour.
    Egress,
}

/// One flow's digest in a maintenance checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDigest {
    /// The flow.
    pub flow: FlowId,
    /// The primary's consumed offset (neighbour to primary) the digest was taken at.
    pub consumed_from_peer: u64,
    /// [`super::Replicated::flow_digest`] there.
    pub digest: Digest,
}

/// How a standby's digest compared with the primary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOutcome {
    /// Equal at the same offset.
    Matched,
    /// Different at the same offset.
    Mismatched {
        /// The standby's digest.
        standby: Digest,
    },
    /// The standby had already moved past the offset and kept no digest for it, or does
    /// not hold the flow: nothing was compared.
    Skipped,
}

/// Primary to standby.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToStandby {
    /// The static context, first of all (FIG. 4 step 402), and the mode.
    Static {
        /// The context.
        context: StaticContext,
        /// How this standby is kept in sync.
        mode: SyncMode,
    },
    /// A flow checkpoint (FIG. 4 step 402; in [`SyncMode::Periodic`] a maintenance
    /// checkpoint).
    Checkpoint {
        /// Sequence number of this checkpoint, echoed by the acknowledgement.
        seq: u64,
        /// Whether an acknowledgement is expected.
        ack_requested: bool,
        /// The flow's context.
        snapshot: Box<FlowSnapshot>,
    },
    /// The flow ended: forget it.
    FlowEnded {
        /// The flow.
        flow: FlowId,
    },
    /// Every flow is checkpointed (FIG. 4 step 414): the standby is synchronised.
    SyncDeclaration {
        /// The flows the standby is responsible for.
        flows: Vec<FlowId>,
    },
    /// A maintenance checkpoint: per-flow digests to compare.
    Maintenance {
        /// The digests.
        digests: Vec<FlowDigest>,
    },
    /// Egress write-ahead: bytes the primary is about to write to the flow's socket.
    WriteAhead {
        /// Identifier echoed by the acknowledgement.
        id: u64,
        /// The flow.
        flow: FlowId,
        /// Egress stream offset of `bytes[0]`.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Bytes the standby asked for.
    GapFill {
        /// The flow.
        flow: FlowId,
        /// Which stream.
        direction: StreamDirection,
        /// Stream offset of `bytes[0]`.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Bytes the standby asked for that the primary no longer holds.
    GapUnavailable {
        /// The flow.
        flow: FlowId,
        /// Which stream.
        direction: StreamDirection,
        /// The missing offsets.
        range: Range<u64>,
        /// Why.
        reason: String,
    },
    /// Liveness, with the roster of standbys.
    Heartbeat {
        /// The primary's clock, milliseconds.
        now_ms: u64,
        /// The standbys the primary knows.
        roster: Vec<RosterEntry>,
    },
}

/// Standby to primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToPrimary {
    /// FIG. 4 step 406: the checkpoint was integrated.
    CheckpointAck {
        /// The checkpoint's sequence number.
        seq: u64,
        /// The flow.
        flow: FlowId,
        /// How far the standby has fed the flow from its mirror since the restore.
        fed_to: u64,
    },
    /// Results of comparing maintenance digests.
    DigestReport {
        /// Per flow.
        results: Vec<(FlowId, DigestOutcome)>,
    },
    /// The write-ahead batch is held.
    WriteAheadAck {
        /// Its identifier.
        id: u64,
    },
    /// Please send these bytes: the mirror missed them.
    GapRequest {
        /// The flow.
        flow: FlowId,
        /// Which stream.
        direction: StreamDirection,
        /// The missing offsets.
        range: Range<u64>,
    },
    /// The standby cannot protect this flow.
    FlowUnprotected {
        /// The flow.
        flow: FlowId,
        /// Why.
        reason: String,
    },
    /// Liveness, with how far the standby has consumed each flow.
    Heartbeat {
        /// The standby's clock, milliseconds.
        now_ms: u64,
        /// Consumed offset (neighbour to primary) per flow.
        consumed: Vec<(FlowId, u64)>,
    },
}

/// A standby introducing itself (FIG. 4 step 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The standby.
    pub node: NodeId,
    /// Its election priority.
    pub priority: Priority,
    /// The flows it is responsible for.
    pub selection: FlowSelection,
    /// Where it will serve the checkpoint protocol once primary (host:port).
    pub endpoint: String,
}
