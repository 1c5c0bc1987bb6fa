//! The replicated application as the checkpoint protocol sees it: the [`Replicated`] trait
//! that bgpd implements, and the values it exchanges (DESIGN.md section 3, "Static
//! context" and "Session context per flow").

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::takeover::TcpRepairState;

/// A canonical state digest (e.g. SHA-256 of a canonical encoding), 32 octets.
pub type Digest = [u8; 32];

/// Identity of one flow (one BGP session): its TCP 4-tuple as the primary sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId {
    /// The primary's side: the session address and port (moves to the standby on takeover).
    pub local: SocketAddr,
    /// The neighbour's side.
    pub remote: SocketAddr,
}

impl std::fmt::Display for FlowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}<->{}", self.local, self.remote)
    }
}

/// Positions in the two byte streams of a flow, in octets from the first data octet after
/// the SYN (RFC 9293 section 3.4: data starts at ISN + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamOffsets {
    /// Octets of the neighbour-to-primary stream the application has consumed: always a
    /// message boundary. Feeding resumes here after a restore.
    pub consumed_from_peer: u64,
    /// Octets of the primary-to-neighbour stream the application has handed to its socket.
    pub sent_to_peer: u64,
}

/// The TCP sequence numbers of stream offset 0 in each direction, so that a standby can map
/// the sequence numbers its mirror sees to stream offsets (RFC 9293 section 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqAnchor {
    /// Sequence number of the neighbour's first data octet (its ISN + 1).
    pub peer_seq_at_zero: u32,
    /// Sequence number of the primary's first data octet (its ISN + 1).
    pub our_seq_at_zero: u32,
}

impl SeqAnchor {
    /// The stream offset of sequence number `seq` in the stream whose offset 0 has
    /// sequence number `seq_at_zero`, taking the candidate nearest to `near` (sequence
    /// numbers wrap every 2^32 octets; `near` is any offset known to be within 2^31 of the
    /// answer, e.g. the last one seen). `None` when the nearest candidate is before
    /// offset 0 (the SYN, or a segment older than the stream's start).
    pub fn offset_of(seq: u32, seq_at_zero: u32, near: u64) -> Option<u64> {
        let low = i128::from(seq.wrapping_sub(seq_at_zero));
        let epoch = i128::from(near >> 32);
        let near = i128::from(near);
        let best = (-1..=1)
            .map(|k| ((epoch + k) << 32) + low)
            .min_by_key(|c| (c - near).abs())?;
        u64::try_from(best).ok()
    }
}

/// Everything a standby needs about one flow, taken by the primary at a message boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSnapshot {
    /// The flow.
    pub flow: FlowId,
    /// Where the snapshot was taken in each stream.
    pub offsets: StreamOffsets,
    /// Sequence numbers of offset 0, when known (needed to follow the mirror).
    pub anchor: Option<SeqAnchor>,
    /// The application's session context, opaque here (for bgpd: FSM state, negotiated
    /// capabilities and hold time, Adj-RIB-In, Adj-RIB-Out as sent, received bytes not yet
    /// consumed, sent bytes not yet acknowledged).
    pub state: Vec<u8>,
    /// The TCP context read from the live socket (TCP_REPAIR peek), when available.
    pub tcp: Option<TcpRepairState>,
    /// [`Replicated::flow_digest`] of the flow at `offsets`, so the standby can verify the
    /// restore.
    pub digest: Digest,
}

/// The static part of the primary's context (the seed's "static information": FIG. 4 step
/// 402): sent once to every standby before any flow checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticContext {
    /// The configuration, as the application serialises it (for bgpd: its TOML text).
    pub config: Vec<u8>,
    /// The BGP Identifier (RFC 4271 section 4.2).
    pub router_id: Option<Ipv4Addr>,
    /// The primary's session addresses (they move to the standby on takeover).
    pub addresses: Vec<IpAddr>,
    /// Seeds of every RNG whose output affects the replicated state.
    pub rng_seeds: Vec<u64>,
    /// The replicated clock's origin: milliseconds since the Unix epoch at replicated
    /// time 0.
    pub clock_base_ms: u64,
}

/// The application replicated between a primary and its standbys.
///
/// The primary calls the export side (`export_static`, `flows`, `snapshot_flow`,
/// `flow_digest`); a standby calls the import side (`import_static`, `restore_flow`,
/// `feed_peer_bytes`, `end_flow`) and the digests to prove lockstep. Implementations must
/// be deterministic: the same snapshot followed by the same peer bytes gives the same
/// digests on every node (DESIGN.md section 2).
pub trait Replicated {
    /// What can go wrong importing state or consuming bytes.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The static context (configuration, router id, addresses, seeds, clock base).
    fn export_static(&self) -> StaticContext;

    /// Adopt the primary's static context (standby side, before any flow).
    ///
    /// # Errors
    /// When the context cannot be applied (e.g. configuration that does not parse).
    fn import_static(&mut self, context: &StaticContext) -> Result<(), Self::Error>;

    /// Every live flow, in a stable order.
    fn flows(&self) -> Vec<FlowId>;

    /// A snapshot of `flow` at its last message boundary, or `None` if there is no such
    /// flow.
    fn snapshot_flow(&self, flow: &FlowId) -> Option<FlowSnapshot>;

    /// Replace (or create) the flow's state with `snapshot`; afterwards the flow expects
    /// peer bytes from `snapshot.offsets.consumed_from_peer` on. Partial messages buffered
    /// before are discarded.
    ///
    /// # Errors
    /// When the snapshot cannot be decoded.
    fn restore_flow(&mut self, snapshot: &FlowSnapshot) -> Result<(), Self::Error>;

    /// The flow ended (FIN, RST or the application closed it): forget it.
    fn end_flow(&mut self, flow: &FlowId);

    /// The flow's current stream positions, or `None` if there is no such flow.
    fn flow_offsets(&self, flow: &FlowId) -> Option<StreamOffsets>;

    /// Bytes the neighbour sent to the primary, starting at stream `offset` (always the
    /// end of what was fed before: the engine feeds in order, without holes). The
    /// application consumes every whole message it can and buffers the rest.
    ///
    /// # Errors
    /// When the bytes do not make sense to the application (the standby then reports the
    /// flow as not protected).
    fn feed_peer_bytes(
        &mut self,
        now_ms: u64,
        flow: &FlowId,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), Self::Error>;

    /// Digest of the flow's replicated state, or `None` if there is no such flow.
    fn flow_digest(&self, flow: &FlowId) -> Option<Digest>;

    /// Digest of the whole replicated state (for bgpd: including Loc-RIB).
    fn state_digest(&self) -> Digest;
}
