//! Takeover of the primary's sessions by this standby (DESIGN.md section 4, issue 7).
//!
//! Called by the standby's HA driver (`ha_standby.rs`) on `HaAction::TakeOver`. Owned by
//! the `failover` work; this is the agreed signature (see /work/coord/ha-contract.md,
//! "takeover hook"), a stub that refuses until it is implemented.

use std::net::TcpStream;

use bgpd::session::ConnId;
use bgpd::speaker::PeerId;
use ribsync::checkpoint::FlowId;

use crate::ha_standby::TakeoverInput;

/// One session now held by this node: the live socket, rebuilt with TCP_REPAIR and out of
/// repair mode, for the core to serve (`net::spawn_io`).
#[derive(Debug)]
pub struct TakenSession {
    /// The flow (4-tuple as the primary had it).
    pub flow: FlowId,
    /// The neighbour in this node's speaker.
    pub peer: PeerId,
    /// The session connection the flow carries in this node's speaker.
    pub conn: ConnId,
    /// The socket.
    pub stream: TcpStream,
    /// Octets of our stream written to the neighbour so far (the egress offset the next
    /// write starts at), for the replica's accounting.
    pub sent_offset: u64,
}

/// What [`run`] did.
#[derive(Debug, Default)]
pub struct TakeoverReport {
    /// Sessions taken over.
    pub sessions: Vec<TakenSession>,
    /// Flows that could not be taken over, with the reason.
    pub failed: Vec<(FlowId, String)>,
    /// Milliseconds from the failure declaration to the last session's first segment.
    pub takeover_ms: f64,
}

/// Takes over every protected session of the failed primary: addresses, TCP_REPAIR
/// sockets, cut-off messages completed from the write-ahead, KEEPALIVE, Adj-RIB-Out
/// difference. Returns the live sockets; the caller hands them to the core, which becomes
/// the primary.
///
/// # Errors
/// When nothing could be taken over.
pub async fn run(input: TakeoverInput) -> anyhow::Result<TakeoverReport> {
    tracing::error!(
        declared_at_ms = input.declared_at_ms,
        "takeover requested, but takeover is not implemented yet"
    );
    anyhow::bail!("takeover is not implemented")
}
