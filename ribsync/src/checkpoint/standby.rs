//! The standby's side of the checkpoint protocol (the seed, FIG. 4), sans-IO.
//!
//! The standby applies the static context and every flow checkpoint, acknowledges them
//! (step 406), feeds the flow from its mirror from the checkpoint's offset on, and reports
//! `synchronised` only after the primary's declaration (step 414). It compares maintenance
//! digests at the primary's offset, keeps the egress write-ahead bytes the neighbour has
//! not acknowledged, and asks the primary for bytes its mirror missed.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use super::app::{Digest, FlowId, FlowSnapshot, Replicated, SeqAnchor, StreamOffsets};
use super::buffer::OffsetBuffer;
use super::message::{DigestOutcome, Hello, StreamDirection, SyncMode, ToPrimary, ToStandby};
use crate::ha::RosterEntry;

/// Tuning of the standby's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandbyConfig {
    /// Milliseconds between heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Per flow, how many (consumed offset, digest) pairs to keep so a maintenance digest
    /// for an offset already passed can still be compared (0: hold feeding at the offset
    /// instead, when it comes in time, and skip otherwise).
    pub digest_history: usize,
    /// Octets of mirrored ingress buffered per flow (before the checkpoint arrives, and
    /// ahead of holes).
    pub mirror_buffer_bytes: usize,
    /// Octets of egress (write-ahead and mirrored) kept per flow until the neighbour
    /// acknowledges them.
    pub egress_buffer_bytes: usize,
    /// The transport acknowledges each write-ahead batch as it receives it (this process
    /// holds the octets from then on, queued for the engine): the engine sends no
    /// `WriteAheadAck` of its own. False: the engine acknowledges each batch it takes.
    pub write_ahead_acked_on_receipt: bool,
}

impl Default for StandbyConfig {
    fn default() -> Self {
        StandbyConfig {
            heartbeat_interval_ms: 100,
            digest_history: 32,
            mirror_buffer_bytes: 16 * 1024 * 1024,
            egress_buffer_bytes: 16 * 1024 * 1024,
            write_ahead_acked_on_receipt: false,
        }
    }
}

/// What happened on the standby.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandbyEvent {
    /// The static context was imported.
    StaticApplied,
    /// A flow checkpoint was applied.
    FlowRestored {
        /// The flow.
        flow: FlowId,
        /// Sequence numbers of offset 0, for [`super::MirrorMapper::set_anchor`].
        anchor: Option<SeqAnchor>,
        /// Where the checkpoint was taken.
        offsets: StreamOffsets,
    },
    /// The standby is synchronised (declaration received, or in periodic mode every
    /// digest matched).
    Synchronised,
    /// The standby is no longer synchronised (the primary demoted it, or in periodic mode
    /// a digest differed).
    SyncLost,
    /// A maintenance digest differed.
    DigestMismatch {
        /// The flow.
        flow: FlowId,
    },
    /// The flow cannot be protected.
    FlowUnprotected {
        /// The flow.
        flow: FlowId,
        /// Why.
        reason: String,
    },
    /// The primary said the flow ended.
    FlowEnded {
        /// The flow.
        flow: FlowId,
    },
}

/// Errors of the standby engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandbyError {
    /// The application refused the static context.
    #[error("static context refused: {0}")]
    Static(String),
    /// A flow message came before the static context.
    #[error("flow checkpoint before the static context")]
    NoStatic,
}

/// The egress octets the neighbour has not acknowledged: what a takeover must resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressBacklog {
    /// Egress stream offset of `bytes[0]` (the neighbour's last ACK).
    pub offset: u64,
    /// The octets, contiguous from `offset`.
    pub bytes: Vec<u8>,
    /// False when octets beyond `bytes` are held after a hole (the backlog is incomplete).
    pub complete: bool,
}

#[derive(Debug)]
struct Pending {
    at: u64,
    digest: Digest,
    snapshot: Option<Box<FlowSnapshot>>,
}

#[derive(Debug)]
struct StandbyFlow {
    restored: bool,
    fed_to: u64,
    ingress: OffsetBuffer,
    egress: OffsetBuffer,
    peer_acked_egress: u64,
    requested_ingress_to: u64,
    history: VecDeque<(u64, Digest)>,
    pending: Option<Pending>,
    last_outcome_ok: bool,
    unprotected: Option<String>,
}

impl StandbyFlow {
    fn new(config: &StandbyConfig) -> Self {
        StandbyFlow {
            restored: false,
            fed_to: 0,
            ingress: OffsetBuffer::new(config.mirror_buffer_bytes),
            egress: OffsetBuffer::new(config.egress_buffer_bytes),
            peer_acked_egress: 0,
            requested_ingress_to: 0,
            history: VecDeque::new(),
            pending: None,
            last_outcome_ok: false,
            unprotected: None,
        }
    }
}

/// A flow as the standby sees it, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyFlowView {
    /// The flow.
    pub flow: FlowId,
    /// A checkpoint was applied.
    pub restored: bool,
    /// Neighbour-to-primary octets fed to the application.
    pub fed_to: u64,
    /// Egress octets held that the neighbour has not acknowledged.
    pub egress_backlog: usize,
    /// Why the flow is not protected, if it is not.
    pub unprotected: Option<String>,
}

/// The standby's checkpoint engine.
#[derive(Debug)]
pub struct StandbyEngine {
    config: StandbyConfig,
    hello: Hello,
    mode: SyncMode,
    static_applied: bool,
    synchronised: bool,
    flows: BTreeMap<FlowId, StandbyFlow>,
    roster: Vec<RosterEntry>,
    next_heartbeat_ms: u64,
    matched: u64,
    mismatched: u64,
    skipped: u64,
    out: VecDeque<ToPrimary>,
    events: VecDeque<StandbyEvent>,
}

impl StandbyEngine {
    /// A standby introducing itself with `hello` (send it first, out of band of
    /// [`StandbyEngine::poll_transmit`]).
    pub fn new(config: StandbyConfig, hello: Hello) -> Self {
        StandbyEngine {
            config,
            hello,
            mode: SyncMode::Acknowledged,
            static_applied: false,
            synchronised: false,
            flows: BTreeMap::new(),
            roster: Vec::new(),
            next_heartbeat_ms: 0,
            matched: 0,
            mismatched: 0,
            skipped: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The introduction this standby sends.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// True after the synchronisation declaration (periodic mode: while every digest
    /// matches).
    pub fn is_synchronised(&self) -> bool {
        self.synchronised
    }

    /// The last roster the primary sent.
    pub fn roster(&self) -> &[RosterEntry] {
        &self.roster
    }

    /// Digests matched, mismatched and skipped so far.
    pub fn digest_counts(&self) -> (u64, u64, u64) {
        (self.matched, self.mismatched, self.skipped)
    }

    /// A message from the primary.
    ///
    /// # Errors
    /// [`StandbyError`] when the static context is refused or a flow message precedes it;
    /// the channel should be closed and the standby re-introduced.
    pub fn handle<A: Replicated>(
        &mut self,
        now_ms: u64,
        msg: ToStandby,
        app: &mut A,
    ) -> Result<(), StandbyError> {
        let Some(msg) = self.handle_without_app(now_ms, msg) else {
            return Ok(());
        };
        match msg {
            ToStandby::Static { context, mode } => {
                app.import_static(&context)
                    .map_err(|e| StandbyError::Static(e.to_string()))?;
                self.mode = mode;
                self.static_applied = true;
                self.events.push_back(StandbyEvent::StaticApplied);
            }
            ToStandby::Checkpoint {
                seq,
                ack_requested,
                snapshot,
            } => {
                if !self.static_applied {
                    return Err(StandbyError::NoStatic);
                }
                if ack_requested {
                    let flow = snapshot.flow;
                    if self.restore(now_ms, *snapshot, app) {
                        let fed_to = self.flows.get(&flow).map_or(0, |f| f.fed_to);
                        self.out
                            .push_back(ToPrimary::CheckpointAck { seq, flow, fed_to });
                    }
                } else {
                    self.periodic_checkpoint(now_ms, snapshot, app);
                }
            }
            ToStandby::FlowEnded { flow } => {
                self.flows.remove(&flow);
                app.end_flow(&flow);
                self.events.push_back(StandbyEvent::FlowEnded { flow });
            }
            ToStandby::Maintenance { digests } => {
                for d in digests {
                    self.compare_at(now_ms, d.flow, d.consumed_from_peer, d.digest, None, app);
                }
            }
            ToStandby::GapFill {
                flow,
                direction,
                offset,
                bytes,
            } => {
                if let Some(f) = self.flows.get_mut(&flow) {
                    match direction {
                        StreamDirection::Ingress => f.ingress.insert(offset, &bytes),
                        StreamDirection::Egress => f.egress.insert(offset, &bytes),
                    }
                }
                if direction == StreamDirection::Ingress {
                    self.feed(now_ms, flow, app);
                }
            }
            // Taken by `handle_without_app`.
            ToStandby::SyncDeclaration { .. }
            | ToStandby::WriteAhead { .. }
            | ToStandby::GapUnavailable { .. }
            | ToStandby::Heartbeat { .. } => {}
        }
        Ok(())
    }

    /// Takes a message from the primary that does not touch the application (write-ahead,
    /// egress gap fill, heartbeat, synchronisation declaration, unavailable gap) and returns
    /// `None`; gives any other back, for [`StandbyEngine::handle`]. A driver can so take
    /// the frequent ones without waiting for the application's lock (bgpd's is held for
    /// seconds while a full table is restored or digested).
    pub fn handle_without_app(&mut self, _now_ms: u64, msg: ToStandby) -> Option<ToStandby> {
        match msg {
            ToStandby::SyncDeclaration { .. } => {
                if !self.synchronised {
                    self.synchronised = true;
                    self.events.push_back(StandbyEvent::Synchronised);
                }
            }
            ToStandby::WriteAhead {
                id,
                flow,
                offset,
                bytes,
            } => {
                let config = self.config;
                let f = self
                    .flows
                    .entry(flow)
                    .or_insert_with(|| StandbyFlow::new(&config));
                f.egress.insert(offset, &bytes);
                if !config.write_ahead_acked_on_receipt {
                    self.out.push_back(ToPrimary::WriteAheadAck { id });
                }
            }
            ToStandby::GapFill {
                flow,
                direction: StreamDirection::Egress,
                offset,
                bytes,
            } => {
                if let Some(f) = self.flows.get_mut(&flow) {
                    f.egress.insert(offset, &bytes);
                }
            }
            ToStandby::GapUnavailable {
                flow,
                direction,
                range,
                reason,
            } => {
                // Egress octets the neighbour has acknowledged (its ACK seen on the mirror)
                // are never sent again, so the primary not retaining them loses nothing:
                // octets beyond the primary's retention (a table written between two TCP
                // peeks), asked for because the checkpoint's TCP peek predates them.
                let acknowledged = direction == StreamDirection::Egress
                    && self
                        .flows
                        .get(&flow)
                        .is_some_and(|f| range.end <= f.peer_acked_egress);
                if acknowledged {
                    return None;
                }
                let reason = format!(
                    "{direction:?} octets {}..{} missed by the mirror: {reason}",
                    range.start, range.end
                );
                self.unprotect(flow, reason);
            }
            ToStandby::Heartbeat { roster, .. } => {
                // The stream is ordered: a roster sent after the declaration that calls
                // this standby unsynchronised is a demotion (e.g. a write-ahead went
                // unacknowledged); it lasts until the next declaration.
                let demoted = roster
                    .iter()
                    .any(|e| e.node == self.hello.node && !e.synchronised);
                if demoted && self.synchronised && self.mode == SyncMode::Acknowledged {
                    self.synchronised = false;
                    self.events.push_back(StandbyEvent::SyncLost);
                }
                self.roster = roster;
            }
            other => return Some(other),
        }
        None
    }

    fn unprotect(&mut self, flow: FlowId, reason: String) {
        if let Some(f) = self.flows.get_mut(&flow) {
            if f.unprotected.is_some() {
                return;
            }
            f.unprotected = Some(reason.clone());
        }
        tracing::warn!(%flow, %reason, "flow not protected");
        self.events.push_back(StandbyEvent::FlowUnprotected {
            flow,
            reason: reason.clone(),
        });
        self.out
            .push_back(ToPrimary::FlowUnprotected { flow, reason });
    }

    /// Apply a snapshot; true when it was applied and verified.
    fn restore<A: Replicated>(&mut self, now_ms: u64, snapshot: FlowSnapshot, app: &mut A) -> bool {
        let flow = snapshot.flow;
        let config = self.config;
        self.flows
            .entry(flow)
            .or_insert_with(|| StandbyFlow::new(&config));
        if let Err(e) = app.restore_flow(&snapshot) {
            self.unprotect(flow, format!("checkpoint refused: {e}"));
            return false;
        }
        if app.flow_digest(&flow) != Some(snapshot.digest) {
            self.unprotect(
                flow,
                "restored state does not match the checkpoint digest".into(),
            );
            return false;
        }
        let at = snapshot.offsets.consumed_from_peer;
        let Some(f) = self.flows.get_mut(&flow) else {
            return false;
        };
        let previously_fed = f.fed_to;
        f.restored = true;
        f.unprotected = None;
        f.fed_to = at;
        f.ingress.lower_floor(at);
        f.ingress.trim_below(at);
        f.requested_ingress_to = at;
        f.history.clear();
        f.pending = None;
        let mut egress_holes = Vec::new();
        if let Some(tcp) = &snapshot.tcp {
            // The send queue starts at the neighbour's last ACK (snd_una) and ends at
            // write_seq. The peek is the primary's latest, which may be older than the
            // snapshot (the primary peeks once a second): octets written since then are in
            // `sent_to_peer` but not in the queue, so the queue's end is placed by its
            // sequence number, not at `sent_to_peer`.
            let sent = snapshot.offsets.sent_to_peer;
            let peek_end = snapshot
                .anchor
                .and_then(|a| SeqAnchor::offset_of(tcp.write_seq.0, a.our_seq_at_zero, sent))
                .filter(|end| *end <= sent)
                .unwrap_or(sent);
            let start = peek_end.saturating_sub(tcp.send_queue.len() as u64);
            f.egress.lower_floor(start);
            f.egress.insert(start, &tcp.send_queue);
            f.peer_acked_egress = f.peer_acked_egress.max(start);
            // What was written after the peek and not (yet) seen in a write-ahead: the
            // primary retains it.
            egress_holes = f.egress.missing(peek_end..sent);
        }
        for range in egress_holes {
            self.out.push_back(ToPrimary::GapRequest {
                flow,
                direction: StreamDirection::Egress,
                range,
            });
        }
        self.events.push_back(StandbyEvent::FlowRestored {
            flow,
            anchor: snapshot.anchor,
            offsets: snapshot.offsets,
        });
        self.feed(now_ms, flow, app);
        // Octets between the checkpoint and what the mirror buffered (or what was fed
        // before a re-restore) that the mirror never delivered: ask the primary.
        if let Some(f) = self.flows.get_mut(&flow) {
            let known_end = f.ingress.end().unwrap_or(0).max(previously_fed);
            if known_end > f.fed_to {
                let holes = f.ingress.missing(f.fed_to..known_end);
                f.requested_ingress_to = f.requested_ingress_to.max(known_end);
                for range in holes {
                    self.out.push_back(ToPrimary::GapRequest {
                        flow,
                        direction: StreamDirection::Ingress,
                        range,
                    });
                }
            }
        }
        true
    }

    fn periodic_checkpoint<A: Replicated>(
        &mut self,
        now_ms: u64,
        snapshot: Box<FlowSnapshot>,
        app: &mut A,
    ) {
        let flow = snapshot.flow;
        let first = !self.flows.get(&flow).is_some_and(|f| f.restored);
        if first {
            // Nothing to compare with yet: adopt it; the next period compares.
            self.restore(now_ms, *snapshot, app);
            self.report(flow, DigestOutcome::Skipped);
            return;
        }
        let at = snapshot.offsets.consumed_from_peer;
        let digest = snapshot.digest;
        self.compare_at(now_ms, flow, at, digest, Some(snapshot), app);
    }

    /// Compare the flow's digest at offset `at` with `digest` now, from history, or once
    /// feeding reaches `at`.
    fn compare_at<A: Replicated>(
        &mut self,
        now_ms: u64,
        flow: FlowId,
        at: u64,
        digest: Digest,
        snapshot: Option<Box<FlowSnapshot>>,
        app: &mut A,
    ) {
        let Some(f) = self.flows.get_mut(&flow) else {
            self.report(flow, DigestOutcome::Skipped);
            return;
        };
        if !f.restored {
            self.report(flow, DigestOutcome::Skipped);
            return;
        }
        let consumed = app.flow_offsets(&flow).map_or(0, |o| o.consumed_from_peer);
        if consumed < at && f.fed_to < at {
            if snapshot.is_some() && !f.ingress.missing(f.fed_to..at).is_empty() {
                // Periodic mode, behind, and the mirror cannot bring us to `at`: not in
                // sync; adopt the primary's context.
                self.conclude(now_ms, flow, DigestOutcome::Skipped, None, app);
                if let Some(s) = snapshot {
                    self.restore(now_ms, *s, app);
                }
                return;
            }
            // Hold feeding at `at` and compare there.
            if f.pending.take().is_some() {
                self.skipped += 1;
                self.report(flow, DigestOutcome::Skipped);
            }
            if let Some(f) = self.flows.get_mut(&flow) {
                f.pending = Some(Pending {
                    at,
                    digest,
                    snapshot,
                });
            }
            self.feed(now_ms, flow, app);
            return;
        }
        let ours = if consumed == at {
            app.flow_digest(&flow)
        } else {
            f.history.iter().find(|(o, _)| *o == at).map(|(_, d)| *d)
        };
        let outcome = match ours {
            None if consumed > at => DigestOutcome::Skipped,
            None => DigestOutcome::Mismatched { standby: [0; 32] },
            Some(d) if d == digest => DigestOutcome::Matched,
            Some(d) => DigestOutcome::Mismatched { standby: d },
        };
        self.conclude(now_ms, flow, outcome, snapshot, app);
    }

    fn conclude<A: Replicated>(
        &mut self,
        now_ms: u64,
        flow: FlowId,
        outcome: DigestOutcome,
        snapshot: Option<Box<FlowSnapshot>>,
        app: &mut A,
    ) {
        let ok = outcome == DigestOutcome::Matched;
        if let Some(f) = self.flows.get_mut(&flow) {
            f.last_outcome_ok = ok;
        }
        match outcome {
            DigestOutcome::Matched => self.matched += 1,
            DigestOutcome::Mismatched { .. } => {
                self.mismatched += 1;
                tracing::warn!(%flow, "maintenance digest differs from the primary's");
                self.events.push_back(StandbyEvent::DigestMismatch { flow });
            }
            DigestOutcome::Skipped => self.skipped += 1,
        }
        self.report(flow, outcome);
        if self.mode == SyncMode::Periodic {
            if let (DigestOutcome::Mismatched { .. }, Some(s)) = (outcome, snapshot) {
                self.restore(now_ms, *s, app);
            }
            let healthy = self
                .flows
                .values()
                .all(|f| !f.restored || f.last_outcome_ok);
            if healthy && !self.synchronised {
                self.synchronised = true;
                self.events.push_back(StandbyEvent::Synchronised);
            } else if !healthy && self.synchronised {
                self.synchronised = false;
                self.events.push_back(StandbyEvent::SyncLost);
            }
        }
    }

    fn report(&mut self, flow: FlowId, outcome: DigestOutcome) {
        self.out.push_back(ToPrimary::DigestReport {
            results: vec![(flow, outcome)],
        });
    }

    /// Feed the application every contiguous octet from `fed_to` on (stopping at a
    /// pending digest's offset to compare there).
    fn feed<A: Replicated>(&mut self, now_ms: u64, flow: FlowId, app: &mut A) {
        let history = self.config.digest_history;
        loop {
            let Some(f) = self.flows.get_mut(&flow) else {
                return;
            };
            if !f.restored || f.unprotected.is_some() {
                return;
            }
            let limit = f
                .pending
                .as_ref()
                .map(|p| p.at)
                .filter(|at| *at > f.fed_to)
                .unwrap_or(u64::MAX);
            let chunk = f.ingress.read_contiguous(f.fed_to, limit);
            if !chunk.is_empty() {
                if let Err(e) = app.feed_peer_bytes(now_ms, &flow, f.fed_to, &chunk) {
                    let reason =
                        format!("application refused mirrored octets at {}: {e}", f.fed_to);
                    self.unprotect(flow, reason);
                    return;
                }
                f.fed_to += chunk.len() as u64;
                let fed_to = f.fed_to;
                f.ingress.trim_below(fed_to);
                if history > 0 {
                    if let (Some(o), Some(d)) = (app.flow_offsets(&flow), app.flow_digest(&flow)) {
                        if f.history.back().map(|h| h.0) != Some(o.consumed_from_peer) {
                            f.history.push_back((o.consumed_from_peer, d));
                            while f.history.len() > history {
                                f.history.pop_front();
                            }
                        }
                    }
                }
            }
            let reached = f.pending.as_ref().is_some_and(|p| f.fed_to >= p.at);
            if reached {
                if let Some(p) = f.pending.take() {
                    self.compare_at(now_ms, flow, p.at, p.digest, p.snapshot, app);
                }
                continue;
            }
            if chunk.is_empty() {
                return;
            }
        }
    }

    /// Neighbour-to-primary octets seen on the mirror, at primary stream offsets. Flows the
    /// standby is not responsible for are ignored.
    pub fn on_mirror_ingress<A: Replicated>(
        &mut self,
        now_ms: u64,
        flow: FlowId,
        offset: u64,
        bytes: &[u8],
        app: &mut A,
    ) {
        if !self.hello.selection.covers(&flow) {
            return;
        }
        let config = self.config;
        let f = self
            .flows
            .entry(flow)
            .or_insert_with(|| StandbyFlow::new(&config));
        f.ingress.insert(offset, bytes);
        if !f.restored {
            return;
        }
        // The mirror delivers each stream in order: octets before `offset` that it never
        // delivered are a gap; ask the primary for them.
        let from = f.fed_to.max(f.requested_ingress_to);
        if offset > from {
            let holes = f.ingress.missing(from..offset);
            f.requested_ingress_to = offset;
            for range in holes {
                self.out.push_back(ToPrimary::GapRequest {
                    flow,
                    direction: StreamDirection::Ingress,
                    range,
                });
            }
        }
        self.feed(now_ms, flow, app);
    }

    /// Primary-to-neighbour octets seen on the mirror, at egress stream offsets.
    pub fn on_mirror_egress(&mut self, flow: FlowId, offset: u64, bytes: &[u8]) {
        if !self.hello.selection.covers(&flow) {
            return;
        }
        let config = self.config;
        let f = self
            .flows
            .entry(flow)
            .or_insert_with(|| StandbyFlow::new(&config));
        f.egress.insert(offset, bytes);
    }

    /// The neighbour acknowledged egress octets up to `acked_to` (seen on the mirror): they
    /// will never be needed again.
    pub fn on_peer_ack(&mut self, flow: FlowId, acked_to: u64) {
        if let Some(f) = self.flows.get_mut(&flow) {
            f.peer_acked_egress = f.peer_acked_egress.max(acked_to);
            f.egress.trim_below(f.peer_acked_egress);
        }
    }

    /// The primary acknowledged ingress octets up to `acked_to` (seen on the mirror): the
    /// neighbour will not send them again, so octets the mirror missed below it are asked
    /// from the primary (gap fill).
    pub fn on_primary_ack(&mut self, flow: FlowId, acked_to: u64) {
        let Some(f) = self.flows.get_mut(&flow) else {
            return;
        };
        if !f.restored {
            return;
        }
        let from = f.fed_to.max(f.requested_ingress_to);
        if acked_to <= from {
            return;
        }
        let holes = f.ingress.missing(from..acked_to);
        f.requested_ingress_to = acked_to;
        for range in holes {
            self.out.push_back(ToPrimary::GapRequest {
                flow,
                direction: StreamDirection::Ingress,
                range,
            });
        }
    }

    /// The mirror reports octets it will never deliver.
    pub fn on_mirror_gap(&mut self, flow: FlowId, direction: StreamDirection, range: Range<u64>) {
        let Some(f) = self.flows.get(&flow) else {
            return;
        };
        let floor = match direction {
            StreamDirection::Ingress => f.fed_to,
            StreamDirection::Egress => f.peer_acked_egress,
        };
        if !f.restored || range.end <= floor {
            return;
        }
        self.out.push_back(ToPrimary::GapRequest {
            flow,
            direction,
            range: range.start.max(floor)..range.end,
        });
    }

    /// The egress octets the neighbour has not acknowledged, for takeover.
    pub fn egress_backlog(&self, flow: &FlowId) -> Option<EgressBacklog> {
        let f = self.flows.get(flow)?;
        let bytes = f.egress.read_contiguous(f.peer_acked_egress, u64::MAX);
        let end = f.egress.end().unwrap_or(f.peer_acked_egress);
        Some(EgressBacklog {
            offset: f.peer_acked_egress,
            complete: f.peer_acked_egress + bytes.len() as u64 >= end,
            bytes,
        })
    }

    /// Every flow, for the admin API.
    pub fn flow_views(&self) -> Vec<StandbyFlowView> {
        self.flows
            .iter()
            .map(|(flow, f)| StandbyFlowView {
                flow: *flow,
                restored: f.restored,
                fed_to: f.fed_to,
                egress_backlog: f.egress.held(),
                unprotected: f.unprotected.clone(),
            })
            .collect()
    }

    /// Every flow as [`StandbyEngine::flow_views`] shows it, with the egress octets its
    /// neighbour has not acknowledged ([`StandbyEngine::egress_backlog`]): what a takeover
    /// needs of the engine, in one answer.
    pub fn takeover_views(&self) -> Vec<(StandbyFlowView, EgressBacklog)> {
        self.flow_views()
            .into_iter()
            .filter_map(|v| {
                let backlog = self.egress_backlog(&v.flow)?;
                Some((v, backlog))
            })
            .collect()
    }

    /// Advance to `now_ms`: heartbeats.
    pub fn poll(&mut self, now_ms: u64) {
        if now_ms >= self.next_heartbeat_ms {
            self.next_heartbeat_ms = now_ms + self.config.heartbeat_interval_ms;
            let consumed = self
                .flows
                .iter()
                .filter(|(_, f)| f.restored)
                .map(|(flow, f)| (*flow, f.fed_to))
                .collect();
            self.out
                .push_back(ToPrimary::Heartbeat { now_ms, consumed });
        }
    }

    /// When [`StandbyEngine::poll`] must next run.
    pub fn poll_timeout(&self) -> u64 {
        self.next_heartbeat_ms
    }

    /// The next message for the primary.
    pub fn poll_transmit(&mut self) -> Option<ToPrimary> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<StandbyEvent> {
        self.events.pop_front()
    }
}
