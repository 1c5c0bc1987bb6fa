//! The standby role (DESIGN.md section 3): no BGP listener; the speaker follows the primary
//! from the mirror tap (AF_PACKET on `[ha] mirror_interface`, reassembled) and the
//! checkpoint channel (`ribsync::transport::run_standby`); HA actions (fencing, takeover,
//! re-attach) are carried out here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgpd::config::Config;
use bgpd::replica::SpeakerReplica;
use ribsync::checkpoint::FlowId;
use ribsync::takeover::SeqNum;
use ribsync::transport::StandbyHandle;

/// What the mirror saw of one flow: the latest sequence and acknowledgement numbers both
/// ways, the timestamps and the link-layer addresses (for the takeover).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorFlowView {
    /// One past the last octet the neighbour sent (its next sequence number).
    pub peer_seq_next: Option<SeqNum>,
    /// One past the last octet the primary sent.
    pub primary_seq_next: Option<SeqNum>,
    /// The neighbour's latest ACK: what it acknowledged of our stream.
    pub peer_ack: Option<SeqNum>,
    /// The primary's latest ACK: what it acknowledged of the neighbour's stream.
    pub primary_ack: Option<SeqNum>,
    /// The latest TSval the primary sent (RFC 7323).
    pub primary_tsval: Option<u32>,
    /// The latest TSval the neighbour sent.
    pub peer_tsval: Option<u32>,
    /// The neighbour's MAC address (source of its frames).
    pub peer_mac: Option<[u8; 6]>,
    /// The primary's MAC address.
    pub primary_mac: Option<[u8; 6]>,
    /// Kernel time of the last frame of the flow, since the Unix epoch.
    pub last_frame: Duration,
}

/// The mirror's view of every flow, updated by the tap thread.
pub type MirrorViews = Arc<Mutex<BTreeMap<FlowId, MirrorFlowView>>>;

/// Everything [`crate::takeover::run`] gets.
#[derive(Debug, Clone)]
pub struct TakeoverInput {
    /// The configuration (with its `[ha]` section).
    pub config: Config,
    /// The replicated speaker: flows with their `TcpRepairState` (`tcp()`) and bindings
    /// (`binding()`, `flow_of()`); `Replicated::flows()` lists the established ones.
    pub replica: Arc<Mutex<SpeakerReplica>>,
    /// The checkpoint engine: `egress_backlog(flow)` (the write-ahead and mirrored egress
    /// the neighbour has not acknowledged), `flow_views()` (protected or not).
    pub standby: StandbyHandle,
    /// What the mirror saw of each flow.
    pub mirror: MirrorViews,
    /// When the primary was declared failed (the standby driver's clock, ms).
    pub declared_at_ms: u64,
    /// When the primary was declared failed, as an instant of this process.
    pub declared_at: std::time::Instant,
}
