//! The checkpoint protocol between a primary and its standbys (DESIGN.md section 3; the
//! seed's FIG. 4), generic over the replicated application ([`Replicated`]).
//!
//! Both sides are sans-IO state machines with time as plain milliseconds:
//! [`PrimaryEngine`] and [`StandbyEngine`] exchange [`ToStandby`] and [`ToPrimary`]
//! messages; the gRPC transport in [`crate::transport`] carries them.
//!
//! # Plugging an application in (bgpd)
//!
//! 1. Implement [`Replicated`]: static context export/import, the flow list, a
//!    [`FlowSnapshot`] per flow at a message boundary (with its [`StreamOffsets`], the
//!    [`SeqAnchor`] and the TCP state peeked with `takeover::peek_live_socket`), restore,
//!    in-order peer bytes, per-flow and whole-state digests. [`toy::KvLog`] is a worked
//!    example.
//! 2. Primary: [`crate::transport::serve_primary`]; for every message read from a
//!    neighbour call `PrimaryHandle::on_ingress` (offset = octets read before it), for a
//!    timer that changed a session `on_flow_change(Timeout)`, for a closed session
//!    `on_flow_change(Ended)`; before every socket write `write_ahead(...).await`.
//! 3. Standby: [`crate::transport::run_standby`]; from the tap, per TCP segment (better:
//!    per reassembled chunk) `StandbyHandle::mirror_data` and `mirror_ack` with raw
//!    sequence numbers (or `mirror_ingress`/`mirror_egress`/`peer_ack`/`primary_ack` with
//!    offsets) and `primary_frame_seen` for every frame from the primary; carry out the
//!    [`crate::ha::HaAction`]s (fencing, takeover with `egress_backlog` as the send queue,
//!    re-attach).

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
