//! The primary's side of the checkpoint protocol (the seed, FIG. 4), sans-IO.
//!
//! Per standby and per flow the engine tracks whether a checkpoint is pending, sent or
//! acknowledged. A flow whose state changes before its checkpoint is acknowledged is
//! re-originated (at once or after [`PrimaryConfig::reorigination_delay_ms`]) unless the
//! change ended the flow (FIG. 4 steps 404-410). Once every flow the standby is responsible
//! for is acknowledged, a synchronisation declaration goes out (step 414); then periodic
//! maintenance digests, where a mismatch re-checkpoints the flow.
//!
//! Drive it with: [`PrimaryEngine::attach`] when a standby says hello,
//! [`PrimaryEngine::handle`] for its messages, [`PrimaryEngine::on_ingress`] /
//! [`PrimaryEngine::on_flow_change`] as the application runs,
//! [`PrimaryEngine::write_ahead`] before writing to a socket, and
//! [`PrimaryEngine::poll`] whenever the time reaches [`PrimaryEngine::poll_timeout`] or
//! after any input; send what [`PrimaryEngine::poll_transmit`] returns.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::admin::{FlowView, LatencyStats, StandbyView, SyncState};
use super::app::{FlowId, Replicated};
use super::buffer::{RetainedError, RetainedStream};
use super::message::{
    DigestOutcome, FlowDigest, Hello, StreamDirection, SyncMode, ToPrimary, ToStandby,
};
use crate::ha::{NodeId, RosterEntry};

/// Which flow state changes void a checkpoint not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoidPolicy {
    /// Every change (new traffic or a time-out), literally as FIG. 4 step 408.
    AnyChange,
    /// Only changes the standby cannot follow from its mirror: time-outs. New traffic is
    /// replayed by the standby from the mirror (or gap fill) from the checkpoint's offset
    /// on, so it does not void the checkpoint; under a steady stream of updates this is
    /// what lets a standby ever become synchronised.
    #[default]
    Unmirrored,
}

/// Whether the primary waits for the write-ahead acknowledgement before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteAheadMode {
    /// Write only once every synchronised standby holds the batch (the safe default).
    #[default]
    WaitForAck,
    /// Hand the batch over and write at once.
    NoWait,
}

/// A state change of a flow on the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowChange {
    /// New traffic from the neighbour was consumed.
    Traffic,
    /// A timer fired and changed the flow's state (e.g. a hold timer).
    Timeout,
    /// The flow ended (FIN, RST, or closed by the application).
    Ended,
}

/// Tuning of the primary's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrimaryConfig {
    /// How standbys are kept in sync.
    pub mode: SyncMode,
    /// Which changes void an unacknowledged checkpoint.
    pub void_policy: VoidPolicy,
    /// Milliseconds between a voiding change and the re-originated checkpoint (0: at once).
    pub reorigination_delay_ms: u64,
    /// Milliseconds between maintenance checkpoints.
    pub maintenance_interval_ms: u64,
    /// Milliseconds between heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Milliseconds of silence after which a standby is dropped.
    pub standby_timeout_ms: u64,
    /// Wait for write-ahead acknowledgements or not.
    pub write_ahead: WriteAheadMode,
    /// Milliseconds a write-ahead batch may wait for a standby; a standby that misses it
    /// is no longer synchronised (its flows are checkpointed again) and the batch goes out.
    pub write_ahead_timeout_ms: u64,
    /// Octets retained per stream for gap fill.
    pub retained_bytes_per_stream: usize,
}

impl Default for PrimaryConfig {
    fn default() -> Self {
        PrimaryConfig {
            mode: SyncMode::Acknowledged,
            void_policy: VoidPolicy::Unmirrored,
            reorigination_delay_ms: 0,
            maintenance_interval_ms: 1000,
            heartbeat_interval_ms: 100,
            standby_timeout_ms: 300,
            write_ahead: WriteAheadMode::WaitForAck,
            write_ahead_timeout_ms: 100,
            retained_bytes_per_stream: 4 * 1024 * 1024,
        }
    }
}

/// What happened, for logs and the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryEvent {
    /// A standby was introduced.
    StandbyAttached {
        /// The standby.
        node: NodeId,
    },
    /// The synchronisation declaration went out (or, in periodic mode, every digest
    /// matched).
    StandbySynchronised {
        /// The standby.
        node: NodeId,
    },
    /// A standby is no longer synchronised.
    StandbyDemoted {
        /// The standby.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// A standby was dropped.
    StandbyLost {
        /// The standby.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// A flow's state changed before its checkpoint was acknowledged: re-originated.
    CheckpointVoided {
        /// The standby.
        node: NodeId,
        /// The flow.
        flow: FlowId,
    },
    /// A maintenance digest differed; the flow is checkpointed again.
    DigestMismatch {
        /// The standby.
        node: NodeId,
        /// The flow.
        flow: FlowId,
    },
    /// A write-ahead batch may now be written to its socket.
    WriteAheadReleased {
        /// The batch.
        id: u64,
    },
    /// A standby reported that it cannot protect a flow.
    FlowUnprotected {
        /// The standby.
        node: NodeId,
        /// The flow.
        flow: FlowId,
        /// Why.
        reason: String,
    },
}

/// The answer to [`PrimaryEngine::write_ahead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteAheadTicket {
    /// The batch's identifier.
    pub id: u64,
    /// True when the batch must not be written before
    /// [`PrimaryEvent::WriteAheadReleased`] for `id`.
    pub must_wait: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ckpt {
    Pending { not_before_ms: u64 },
    Sent { seq: u64 },
    Acked,
}

#[derive(Debug)]
struct Link {
    hello: Hello,
    declared: bool,
    synchronised: bool,
    flows: BTreeMap<FlowId, Ckpt>,
    last_heard_ms: u64,
    consumed: BTreeMap<FlowId, u64>,
    digest_ok: BTreeMap<FlowId, bool>,
    unprotected: BTreeMap<FlowId, String>,
    next_maintenance_ms: u64,
    matched: u64,
    mismatched: u64,
    skipped: u64,
    voided: u64,
    gap_fill_bytes: u64,
    write_ahead: LatencyStats,
}

#[derive(Debug)]
struct PrimaryFlow {
    ingress: RetainedStream,
    egress: RetainedStream,
    /// The application has listed the flow as live ([`Replicated::flows`]). A flow is
    /// registered at its first octet, before that (a BGP session's OPEN and KEEPALIVE are
    /// written before it is Established), and its streams are retained from offset 0; only
    /// a flow that was live ends when the application no longer lists it.
    live: bool,
    /// When the flow was registered.
    registered_ms: u64,
    /// Gap requests for octets this node has not read (ingress) or not handed to
    /// [`PrimaryEngine::write_ahead`] (egress) yet: answered once it has (see
    /// [`PrimaryEngine::on_ingress`] and [`PrimaryEngine::write_ahead`]), at most
    /// [`MAX_DEFERRED_GAPS`].
    deferred: Vec<(NodeId, StreamDirection, std::ops::Range<u64>)>,
}

/// How long a flow the application never listed as live is kept without an explicit
/// [`FlowChange::Ended`] (a connection that never reached the state the application
/// replicates; RFC 4271 section 8's largest OpenSent hold time is 4 minutes).
const NEVER_LIVE_MS: u64 = 10 * 60 * 1000;

/// Gap requests kept per flow until the octets are there.
///
/// Ingress: a standby asks for octets the primary's kernel acknowledged (it saw the ACK on
/// the mirror) and the mirror did not show it; the primary's application may not have read
/// them yet (it is busy, e.g. checkpointing a full table): they come soon, so the request
/// waits for them instead of being refused, which left the flow unprotected for good (seen
/// with 100 sessions under load: 45 keepalive flows "Ingress octets 62..138 missed by the
/// mirror: not received yet").
///
/// Egress: a checkpoint's egress offset counts what the application has queued for the
/// socket, and a standby asks for the octets between its TCP peek and that offset; the
/// connection's writer may not have handed them to the write-ahead yet (bgpd's core queues
/// a full table's UPDATEs faster than the writer writes them). Refused, the flow stayed
/// unprotected for good (the full-table demo: "Egress octets 57..73970 missed by the
/// mirror: not received yet (stream ends at 14921)").
const MAX_DEFERRED_GAPS: usize = 16;

#[derive(Debug)]
struct Ticket {
    sent_ms: u64,
    waiting: BTreeSet<NodeId>,
}

/// The primary's checkpoint engine.
#[derive(Debug)]
pub struct PrimaryEngine {
    config: PrimaryConfig,
    links: BTreeMap<NodeId, Link>,
    flows: BTreeMap<FlowId, PrimaryFlow>,
    next_seq: u64,
    next_write_ahead: u64,
    tickets: BTreeMap<u64, Ticket>,
    next_heartbeat_ms: u64,
    out: VecDeque<(NodeId, ToStandby)>,
    events: VecDeque<PrimaryEvent>,
}

impl PrimaryEngine {
    /// A primary with no standby yet.
    pub fn new(config: PrimaryConfig) -> Self {
        PrimaryEngine {
            config,
            links: BTreeMap::new(),
            flows: BTreeMap::new(),
            next_seq: 1,
            next_write_ahead: 1,
            tickets: BTreeMap::new(),
            next_heartbeat_ms: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PrimaryConfig {
        &self.config
    }

    /// A standby introduced itself (FIG. 4 step 400): the static context goes out, and a
    /// checkpoint of every flow it is responsible for becomes due. A standby that was
    /// already attached under the same id starts over.
    pub fn attach<A: Replicated>(&mut self, now_ms: u64, hello: Hello, app: &A) {
        let node = hello.node;
        self.detach_inner(node, None);
        for flow in app.flows() {
            self.register_flow(now_ms, flow);
            if let Some(f) = self.flows.get_mut(&flow) {
                f.live = true;
            }
        }
        let flows = self
            .flows
            .keys()
            .filter(|f| hello.selection.covers(f))
            .map(|f| {
                (
                    *f,
                    Ckpt::Pending {
                        not_before_ms: now_ms,
                    },
                )
            })
            .collect();
        self.out.push_back((
            node,
            ToStandby::Static {
                context: app.export_static(),
                mode: self.config.mode,
            },
        ));
        self.links.insert(
            node,
            Link {
                hello,
                declared: false,
                synchronised: false,
                flows,
                last_heard_ms: now_ms,
                consumed: BTreeMap::new(),
                digest_ok: BTreeMap::new(),
                unprotected: BTreeMap::new(),
                next_maintenance_ms: now_ms,
                matched: 0,
                mismatched: 0,
                skipped: 0,
                voided: 0,
                gap_fill_bytes: 0,
                write_ahead: LatencyStats::default(),
            },
        );
        self.events
            .push_back(PrimaryEvent::StandbyAttached { node });
    }

    /// The standby's channel closed.
    pub fn detach(&mut self, node: NodeId, reason: &str) {
        self.detach_inner(node, Some(reason));
    }

    fn detach_inner(&mut self, node: NodeId, reason: Option<&str>) {
        if self.links.remove(&node).is_none() {
            return;
        }
        if let Some(reason) = reason {
            self.events.push_back(PrimaryEvent::StandbyLost {
                node,
                reason: reason.to_string(),
            });
        }
        self.stop_waiting_for(node);
    }

    fn stop_waiting_for(&mut self, node: NodeId) {
        let mut released = Vec::new();
        for (id, t) in self.tickets.iter_mut() {
            if t.waiting.remove(&node) && t.waiting.is_empty() {
                released.push(*id);
            }
        }
        for id in released {
            self.tickets.remove(&id);
            self.events
                .push_back(PrimaryEvent::WriteAheadReleased { id });
        }
    }

    fn register_flow(&mut self, now_ms: u64, flow: FlowId) {
        if self.flows.contains_key(&flow) {
            return;
        }
        let cap = self.config.retained_bytes_per_stream;
        self.flows.insert(
            flow,
            PrimaryFlow {
                ingress: RetainedStream::new(cap),
                egress: RetainedStream::new(cap),
                live: false,
                registered_ms: now_ms,
                deferred: Vec::new(),
            },
        );
    }

    /// Bytes read from the neighbour on `flow` at stream `offset` (retained for gap fill),
    /// then consumed by the application: a [`FlowChange::Traffic`].
    pub fn on_ingress(&mut self, now_ms: u64, flow: FlowId, offset: u64, bytes: &[u8]) {
        self.register_flow(now_ms, flow);
        let mut answers = Vec::new();
        if let Some(f) = self.flows.get_mut(&flow) {
            f.ingress.push(now_ms, offset, bytes);
            let end = f.ingress.end();
            let ingress = &f.ingress;
            f.deferred.retain(|(node, direction, range)| {
                if *direction != StreamDirection::Ingress || range.end > end {
                    return true;
                }
                answers.push((*node, range.clone(), ingress.read(range.clone())));
                false
            });
        }
        for (node, range, read) in answers {
            self.answer_gap(node, flow, StreamDirection::Ingress, range, read);
        }
        self.on_flow_change(now_ms, flow, FlowChange::Traffic);
    }

    /// Answers the egress gap requests of `flow` that waited for octets up to where its
    /// retained egress now ends.
    fn answer_deferred_egress(&mut self, flow: FlowId) {
        let mut answers = Vec::new();
        if let Some(f) = self.flows.get_mut(&flow) {
            let end = f.egress.end();
            let egress = &f.egress;
            f.deferred.retain(|(node, direction, range)| {
                if *direction != StreamDirection::Egress || range.end > end {
                    return true;
                }
                answers.push((*node, range.clone(), egress.read(range.clone())));
                false
            });
        }
        for (node, range, read) in answers {
            self.answer_gap(node, flow, StreamDirection::Egress, range, read);
        }
    }

    /// Replies to a gap request of `node`: the octets, or why they cannot be had.
    fn answer_gap(
        &mut self,
        node: NodeId,
        flow: FlowId,
        direction: StreamDirection,
        range: std::ops::Range<u64>,
        read: Result<Vec<u8>, RetainedError>,
    ) {
        let reply = match read {
            Ok(bytes) => {
                if let Some(link) = self.links.get_mut(&node) {
                    link.gap_fill_bytes += bytes.len() as u64;
                }
                ToStandby::GapFill {
                    flow,
                    direction,
                    offset: range.start,
                    bytes,
                }
            }
            Err(e) => ToStandby::GapUnavailable {
                flow,
                direction,
                range,
                reason: e.to_string(),
            },
        };
        self.out.push_back((node, reply));
    }

    /// A state change of `flow` (FIG. 4 step 408).
    pub fn on_flow_change(&mut self, now_ms: u64, flow: FlowId, change: FlowChange) {
        if change == FlowChange::Ended {
            self.flows.remove(&flow);
            for (node, link) in self.links.iter_mut() {
                if link.flows.remove(&flow).is_some() {
                    // No re-origination: the flow is gone (the seed: "no re-origination
                    // attempt is required, since the subject flow has terminated").
                    link.consumed.remove(&flow);
                    link.digest_ok.remove(&flow);
                    link.unprotected.remove(&flow);
                    self.out.push_back((*node, ToStandby::FlowEnded { flow }));
                }
            }
            self.declare_where_complete(now_ms);
            return;
        }
        if !self.flows.contains_key(&flow) {
            self.register_flow(now_ms, flow);
        }
        let voids = match (self.config.void_policy, change) {
            (VoidPolicy::AnyChange, _) => true,
            (VoidPolicy::Unmirrored, FlowChange::Timeout) => true,
            (VoidPolicy::Unmirrored, _) => false,
        };
        let delay = self.config.reorigination_delay_ms;
        // Only a live flow is checkpointed (one registered by its first octets waits).
        let live = self.flows.get(&flow).is_some_and(|f| f.live);
        for (node, link) in self.links.iter_mut() {
            if !link.hello.selection.covers(&flow) {
                continue;
            }
            match link.flows.get(&flow) {
                None if !live => {}
                None => {
                    // A flow born after the standby was introduced.
                    link.flows.insert(
                        flow,
                        Ckpt::Pending {
                            not_before_ms: now_ms,
                        },
                    );
                }
                Some(Ckpt::Sent { .. }) if voids => {
                    link.flows.insert(
                        flow,
                        Ckpt::Pending {
                            not_before_ms: now_ms + delay,
                        },
                    );
                    link.voided += 1;
                    self.events
                        .push_back(PrimaryEvent::CheckpointVoided { node: *node, flow });
                }
                _ => {}
            }
        }
    }

    /// Egress write-ahead: `bytes` are about to be written to `flow`'s socket at egress
    /// stream `offset`. They go to every synchronised standby that holds the flow.
    pub fn write_ahead(
        &mut self,
        now_ms: u64,
        flow: FlowId,
        offset: u64,
        bytes: &[u8],
    ) -> WriteAheadTicket {
        self.register_flow(now_ms, flow);
        if let Some(f) = self.flows.get_mut(&flow) {
            f.egress.push(now_ms, offset, bytes);
        }
        self.answer_deferred_egress(flow);
        let id = self.next_write_ahead;
        self.next_write_ahead += 1;
        let mut waiting = BTreeSet::new();
        for (node, link) in &self.links {
            if link.synchronised && link.flows.get(&flow) == Some(&Ckpt::Acked) {
                waiting.insert(*node);
                self.out.push_back((
                    *node,
                    ToStandby::WriteAhead {
                        id,
                        flow,
                        offset,
                        bytes: bytes.to_vec(),
                    },
                ));
            }
        }
        let must_wait =
            self.config.write_ahead == WriteAheadMode::WaitForAck && !waiting.is_empty();
        self.tickets.insert(
            id,
            Ticket {
                sent_ms: now_ms,
                waiting: if must_wait { waiting } else { BTreeSet::new() },
            },
        );
        if !must_wait {
            // Still measured when acknowledged, but nobody waits for it.
            if let Some(t) = self.tickets.get_mut(&id) {
                t.waiting.clear();
            }
            self.tickets.remove(&id);
        }
        WriteAheadTicket { id, must_wait }
    }

    /// True when write-ahead batch `id` may be written (acknowledged, released by a
    /// time-out, or never waited for).
    pub fn is_released(&self, id: u64) -> bool {
        !self.tickets.contains_key(&id)
    }

    /// A message from standby `node`.
    pub fn handle(&mut self, now_ms: u64, node: NodeId, msg: ToPrimary) {
        let Some(link) = self.links.get_mut(&node) else {
            return;
        };
        link.last_heard_ms = now_ms;
        match msg {
            ToPrimary::CheckpointAck { seq, flow, fed_to } => {
                if link.flows.get(&flow) == Some(&Ckpt::Sent { seq }) {
                    link.flows.insert(flow, Ckpt::Acked);
                    link.unprotected.remove(&flow);
                    link.consumed.insert(flow, fed_to);
                }
                // An acknowledgement of a voided checkpoint is stale: ignored.
                self.declare_where_complete(now_ms);
            }
            ToPrimary::DigestReport { results } => {
                for (flow, outcome) in results {
                    self.digest_outcome(now_ms, node, flow, outcome);
                }
            }
            ToPrimary::WriteAheadAck { id } => {
                if let Some(t) = self.tickets.get_mut(&id) {
                    if t.waiting.remove(&node) {
                        link.write_ahead.record(now_ms.saturating_sub(t.sent_ms));
                    }
                    if t.waiting.is_empty() {
                        self.tickets.remove(&id);
                        self.events
                            .push_back(PrimaryEvent::WriteAheadReleased { id });
                    }
                }
            }
            ToPrimary::GapRequest {
                flow,
                direction,
                range,
            } => {
                let read = match self.flows.get_mut(&flow) {
                    None => {
                        self.out.push_back((
                            node,
                            ToStandby::GapUnavailable {
                                flow,
                                direction,
                                range,
                                reason: "flow unknown to the primary".to_string(),
                            },
                        ));
                        return;
                    }
                    Some(f) => {
                        let stream = match direction {
                            StreamDirection::Ingress => &f.ingress,
                            StreamDirection::Egress => &f.egress,
                        };
                        match stream.read(range.clone()) {
                            // Not read from the socket (ingress) or not handed to the
                            // write-ahead (egress) yet: answered when it is.
                            Err(RetainedError::NotYet { .. })
                                if f.deferred.len() < MAX_DEFERRED_GAPS =>
                            {
                                f.deferred.push((node, direction, range));
                                return;
                            }
                            read => read,
                        }
                    }
                };
                self.answer_gap(node, flow, direction, range, read);
            }
            ToPrimary::FlowUnprotected { flow, reason } => {
                link.unprotected.insert(flow, reason.clone());
                self.events
                    .push_back(PrimaryEvent::FlowUnprotected { node, flow, reason });
            }
            ToPrimary::Heartbeat { consumed, .. } => {
                for (flow, offset) in consumed {
                    if link.flows.contains_key(&flow) {
                        link.consumed.insert(flow, offset);
                    }
                }
            }
        }
    }

    fn digest_outcome(&mut self, now_ms: u64, node: NodeId, flow: FlowId, outcome: DigestOutcome) {
        let mode = self.config.mode;
        let Some(link) = self.links.get_mut(&node) else {
            return;
        };
        if !link.flows.contains_key(&flow) {
            return;
        }
        match outcome {
            DigestOutcome::Matched => {
                link.matched += 1;
                link.digest_ok.insert(flow, true);
            }
            DigestOutcome::Mismatched { .. } => {
                link.mismatched += 1;
                link.digest_ok.insert(flow, false);
                tracing::warn!(%node, %flow, "maintenance digest mismatch: checkpointing the flow again");
                self.events
                    .push_back(PrimaryEvent::DigestMismatch { node, flow });
                if mode == SyncMode::Acknowledged {
                    link.flows.insert(
                        flow,
                        Ckpt::Pending {
                            not_before_ms: now_ms,
                        },
                    );
                }
            }
            DigestOutcome::Skipped => {
                link.skipped += 1;
            }
        }
        if mode == SyncMode::Periodic {
            // Health monitoring decides: synchronised when every flow's last digest matched.
            let healthy = link
                .flows
                .keys()
                .all(|f| link.digest_ok.get(f) == Some(&true));
            if healthy && !link.synchronised {
                link.synchronised = true;
                self.events
                    .push_back(PrimaryEvent::StandbySynchronised { node });
            } else if !healthy && link.synchronised {
                link.synchronised = false;
                self.events.push_back(PrimaryEvent::StandbyDemoted {
                    node,
                    reason: format!("digest mismatch on {flow}"),
                });
            }
        }
    }

    fn declare_where_complete(&mut self, now_ms: u64) {
        if self.config.mode != SyncMode::Acknowledged {
            return;
        }
        for (node, link) in self.links.iter_mut() {
            if link.declared || !link.flows.values().all(|c| *c == Ckpt::Acked) {
                continue;
            }
            link.declared = true;
            link.synchronised = true;
            link.next_maintenance_ms = now_ms + self.config.maintenance_interval_ms;
            self.out.push_back((
                *node,
                ToStandby::SyncDeclaration {
                    flows: link.flows.keys().copied().collect(),
                },
            ));
            self.events
                .push_back(PrimaryEvent::StandbySynchronised { node: *node });
        }
    }

    fn demote(&mut self, now_ms: u64, node: NodeId, reason: String) {
        if let Some(link) = self.links.get_mut(&node) {
            link.declared = false;
            link.synchronised = false;
            for c in link.flows.values_mut() {
                *c = Ckpt::Pending {
                    not_before_ms: now_ms,
                };
            }
            self.events
                .push_back(PrimaryEvent::StandbyDemoted { node, reason });
        }
    }

    /// Advance to `now_ms`: expire standbys and write-ahead waits, send heartbeats, due
    /// checkpoints and maintenance digests. Reads the application's flows and snapshots.
    pub fn poll<A: Replicated>(&mut self, now_ms: u64, app: &A) {
        // Standbys gone silent.
        let silent: Vec<NodeId> = self
            .links
            .iter()
            .filter(|(_, l)| now_ms >= l.last_heard_ms + self.config.standby_timeout_ms)
            .map(|(n, _)| *n)
            .collect();
        for node in silent {
            self.detach_inner(node, Some("heartbeats stopped"));
        }
        // Write-ahead waits that ran out.
        let late: Vec<(u64, Vec<NodeId>)> = self
            .tickets
            .iter()
            .filter(|(_, t)| now_ms >= t.sent_ms + self.config.write_ahead_timeout_ms)
            .map(|(id, t)| (*id, t.waiting.iter().copied().collect()))
            .collect();
        for (id, nodes) in late {
            for node in nodes {
                self.demote(
                    now_ms,
                    node,
                    format!("write-ahead {id} not acknowledged in time"),
                );
                self.stop_waiting_for(node);
            }
        }
        // Flows the application has that the engine does not know yet, and flows gone: once
        // live and no longer listed (a flow registered by its first octets before it was
        // live keeps them), or never live for too long.
        let live: BTreeSet<FlowId> = app.flows().into_iter().collect();
        let gone: Vec<FlowId> = self
            .flows
            .iter()
            .filter(|(id, f)| {
                !live.contains(id)
                    && (f.live || now_ms >= f.registered_ms.saturating_add(NEVER_LIVE_MS))
            })
            .map(|(id, _)| *id)
            .collect();
        for flow in gone {
            self.on_flow_change(now_ms, flow, FlowChange::Ended);
        }
        for flow in &live {
            if !self.flows.contains_key(flow) {
                self.register_flow(now_ms, *flow);
            }
            if let Some(f) = self.flows.get_mut(flow) {
                f.live = true;
            }
            for link in self.links.values_mut() {
                if link.hello.selection.covers(flow) && !link.flows.contains_key(flow) {
                    link.flows.insert(
                        *flow,
                        Ckpt::Pending {
                            not_before_ms: now_ms,
                        },
                    );
                }
            }
        }
        // Heartbeats.
        if now_ms >= self.next_heartbeat_ms {
            self.next_heartbeat_ms = now_ms + self.config.heartbeat_interval_ms;
            let roster = self.roster();
            for node in self.links.keys() {
                self.out.push_back((
                    *node,
                    ToStandby::Heartbeat {
                        now_ms,
                        roster: roster.clone(),
                    },
                ));
            }
        }
        match self.config.mode {
            SyncMode::Acknowledged => self.send_due_checkpoints(now_ms, app),
            SyncMode::Periodic => self.send_periodic(now_ms, app),
        }
        self.declare_where_complete(now_ms);
        self.send_maintenance(now_ms, app);
    }

    fn send_due_checkpoints<A: Replicated>(&mut self, now_ms: u64, app: &A) {
        let mut ended = Vec::new();
        for (node, link) in self.links.iter_mut() {
            for (flow, ckpt) in link.flows.iter_mut() {
                let Ckpt::Pending { not_before_ms } = *ckpt else {
                    continue;
                };
                if not_before_ms > now_ms {
                    continue;
                }
                let Some(snapshot) = app.snapshot_flow(flow) else {
                    ended.push(*flow);
                    continue;
                };
                let seq = self.next_seq;
                self.next_seq += 1;
                *ckpt = Ckpt::Sent { seq };
                self.out.push_back((
                    *node,
                    ToStandby::Checkpoint {
                        seq,
                        ack_requested: true,
                        snapshot: Box::new(snapshot),
                    },
                ));
            }
        }
        for flow in ended {
            self.on_flow_change(now_ms, flow, FlowChange::Ended);
        }
    }

    fn send_periodic<A: Replicated>(&mut self, now_ms: u64, app: &A) {
        for (node, link) in self.links.iter_mut() {
            if now_ms < link.next_maintenance_ms {
                continue;
            }
            link.next_maintenance_ms = now_ms + self.config.maintenance_interval_ms;
            for (flow, ckpt) in link.flows.iter_mut() {
                let Some(snapshot) = app.snapshot_flow(flow) else {
                    continue;
                };
                let seq = self.next_seq;
                self.next_seq += 1;
                // Never acknowledged; "acknowledged" here means: it went out.
                *ckpt = Ckpt::Acked;
                self.out.push_back((
                    *node,
                    ToStandby::Checkpoint {
                        seq,
                        ack_requested: false,
                        snapshot: Box::new(snapshot),
                    },
                ));
            }
        }
    }

    fn send_maintenance<A: Replicated>(&mut self, now_ms: u64, app: &A) {
        if self.config.mode != SyncMode::Acknowledged {
            return;
        }
        for (node, link) in self.links.iter_mut() {
            if !link.declared || now_ms < link.next_maintenance_ms {
                continue;
            }
            link.next_maintenance_ms = now_ms + self.config.maintenance_interval_ms;
            let digests: Vec<FlowDigest> = link
                .flows
                .iter()
                .filter(|(_, c)| **c == Ckpt::Acked)
                .filter_map(|(flow, _)| {
                    Some(FlowDigest {
                        flow: *flow,
                        consumed_from_peer: app.flow_offsets(flow)?.consumed_from_peer,
                        digest: app.flow_digest(flow)?,
                    })
                })
                .collect();
            if !digests.is_empty() {
                self.out
                    .push_back((*node, ToStandby::Maintenance { digests }));
            }
        }
    }

    /// The standbys as heartbeats announce them.
    pub fn roster(&self) -> Vec<RosterEntry> {
        self.links
            .values()
            .map(|l| RosterEntry {
                node: l.hello.node,
                priority: l.hello.priority,
                synchronised: l.synchronised,
                endpoint: l.hello.endpoint.clone(),
            })
            .collect()
    }

    /// The next message to send, and to which standby.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, ToStandby)> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PrimaryEvent> {
        self.events.pop_front()
    }

    /// When [`PrimaryEngine::poll`] must next run without new input (`None`: no standby,
    /// nothing to do).
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut t = if self.links.is_empty() {
            None
        } else {
            Some(self.next_heartbeat_ms)
        };
        let mut min = |v: u64| t = Some(t.map_or(v, |x: u64| x.min(v)));
        for link in self.links.values() {
            min(link.last_heard_ms + self.config.standby_timeout_ms);
            if link.declared || self.config.mode == SyncMode::Periodic {
                min(link.next_maintenance_ms);
            }
            for c in link.flows.values() {
                if let Ckpt::Pending { not_before_ms } = c {
                    min(*not_before_ms);
                }
            }
        }
        for ticket in self.tickets.values() {
            min(ticket.sent_ms + self.config.write_ahead_timeout_ms);
        }
        t
    }

    /// True when standby `node` is synchronised.
    pub fn is_synchronised(&self, node: NodeId) -> bool {
        self.links.get(&node).is_some_and(|l| l.synchronised)
    }

    /// The standbys for the admin API.
    pub fn standby_views(&self, now_ms: u64) -> Vec<StandbyView> {
        self.links
            .values()
            .map(|l| {
                let mut lag_bytes = 0;
                let mut lag_ms = 0;
                for flow in l.flows.keys() {
                    let Some(f) = self.flows.get(flow) else {
                        continue;
                    };
                    let theirs = l.consumed.get(flow).copied().unwrap_or(0);
                    let ours = f.ingress.end();
                    if theirs < ours {
                        lag_bytes += ours - theirs;
                        let since = f.ingress.arrival_of(theirs).unwrap_or(now_ms);
                        lag_ms = lag_ms.max(now_ms.saturating_sub(since));
                    }
                }
                let acked = l.flows.values().filter(|c| **c == Ckpt::Acked).count();
                StandbyView {
                    node: l.hello.node,
                    priority: l.hello.priority,
                    sync: if l.synchronised {
                        SyncState::Synchronised
                    } else if l.declared {
                        SyncState::Resynchronising
                    } else {
                        SyncState::Checkpointing {
                            acknowledged: acked,
                            total: l.flows.len(),
                        }
                    },
                    lag_bytes,
                    lag_ms,
                    digests_matched: l.matched,
                    digests_mismatched: l.mismatched,
                    digests_skipped: l.skipped,
                    checkpoints_voided: l.voided,
                    gap_fill_bytes: l.gap_fill_bytes,
                    write_ahead: l.write_ahead,
                }
            })
            .collect()
    }

    /// Every flow for the admin API: protected when at least one synchronised standby
    /// holds an acknowledged checkpoint of it and has not reported a problem.
    pub fn flow_views(&self) -> Vec<FlowView> {
        self.flows
            .keys()
            .map(|flow| {
                let mut reasons = Vec::new();
                let mut protected_by = Vec::new();
                for l in self.links.values() {
                    match (l.flows.get(flow), l.unprotected.get(flow)) {
                        (None, _) => {}
                        (Some(_), Some(reason)) => {
                            reasons.push(format!("{}: {reason}", l.hello.node))
                        }
                        (Some(Ckpt::Acked), None) if l.synchronised => {
                            protected_by.push(l.hello.node)
                        }
                        (Some(Ckpt::Acked), None) => {
                            reasons.push(format!("{}: not synchronised yet", l.hello.node))
                        }
                        (Some(_), None) => {
                            reasons.push(format!("{}: checkpoint not acknowledged", l.hello.node))
                        }
                    }
                }
                if self.links.is_empty() {
                    reasons.push("no standby".into());
                } else if protected_by.is_empty() && reasons.is_empty() {
                    reasons.push("no standby is responsible for it".into());
                }
                FlowView {
                    flow: *flow,
                    protected_by,
                    unprotected_reasons: reasons,
                }
            })
            .collect()
    }
}
