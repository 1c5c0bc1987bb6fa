//! The checkpoint protocol between a primary and its standbys (DESIGN.md section 3; the
//! seed's FIG. 4), generic over the replicated application ([`Replicated`]).
//!
//! Both sides are sans-IO state machines with time as plain milliseconds:
//! [`PrimaryEngine`] and [`StandbyEngine`] exchange [`ToStandby`] and [`ToPrimary`]
//! messages; the gRPC transport in [`crate::transport`] carries them.

mod admin;
mod app;
mod buffer;
mod message;
mod mirror;
mod primary;
mod standby;
#[cfg(test)]
mod tests;
pub mod toy;

pub use admin::{FlowView, HaView, LatencyStats, StandbyView, SyncState};
pub use app::{Digest, FlowId, FlowSnapshot, Replicated, SeqAnchor, StaticContext, StreamOffsets};
pub use buffer::{OffsetBuffer, RetainedError, RetainedStream};
pub use message::{
    DigestOutcome, FlowDigest, FlowSelection, Hello, StreamDirection, SyncMode, ToPrimary,
    ToStandby,
};
pub use mirror::{MirrorInput, MirrorMapper};
pub use primary::{
    FlowChange, PrimaryConfig, PrimaryEngine, PrimaryEvent, VoidPolicy, WriteAheadMode,
    WriteAheadTicket,
};
pub use standby::{
    EgressBacklog, StandbyConfig, StandbyEngine, StandbyError, StandbyEvent, StandbyFlowView,
};
