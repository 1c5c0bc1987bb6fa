//! The speaker as `ribsync`'s replicated application (DESIGN.md section 3).
//!
//! ```text
//! primary driver                      SpeakerReplica                   standby engine
//!   bind_flow(4-tuple, peer, conn) -> flows (one per TCP connection)
//!   receive(now, flow, bytes) ------> BGP framing -> Speaker::handle   <- feed_peer_bytes
//!   note_sent(flow, n)                  (whole messages only, so the
//!                                        consumed offset is always a
//!                                        message boundary)
//!   snapshot_flow(flow) ------------> FlowSnapshot { session, RIB }  -> restore_flow
//! ```
//!
//! A flow is one TCP connection of a neighbour, named by its 4-tuple ([`FlowId`]); it is
//! live for replication once its session is Established on that connection. Bytes from the
//! neighbour are framed here (RFC 4271 section 4.1: the 2-octet Length field of the 19-octet
//! header) and each whole message is handed to the [`Speaker`], so the peer-to-primary
//! offset a snapshot reports is always a message boundary and the session holds no partial
//! message at that point. The primary and a standby run this same code over the same bytes,
//! which is what makes their digests agree.
//!
//! A flow's checkpoint state carries the neighbour's context ([`Speaker::peer_context`]:
//! session, our address on the connection, MRAI timer and RNG) and the neighbour's part of
//! the RIBs at the flow's own checkpoint instant ([`crate::rib::Rib::peer_snapshot`]: its
//! Adj-RIB-In, and its Adj-RIB-Out as sent), plus the parts no flow carries (locally
//! originated routes, neighbours without an Established flow here, e.g. stale after a
//! graceful restart). Restoring a flow installs that neighbour's part and runs the decision
//! process again for the prefixes it touches ([`Speaker::restore_peer_rib`]); the Loc-RIB is
//! never copied. So a standby introduced late to a primary with several busy sessions,
//! restored flow by flow from checkpoints taken at different instants and fed each flow's
//! bytes from its own checkpoint on, ends with the primary's Adj-RIBs-In, Loc-RIB and
//! Adj-RIBs-Out ([`Replicated::state_digest`]).
//!
//! Not replicated, and left out of the digests: what only the primary's egress timing
//! decides (messages sent, KeepaliveTimer and hold timer deadlines, the MRAI timer and its
//! RNG). A restored flow's neighbour is re-evaluated against the standby's Loc-RIB, so the
//! standby's Adj-RIB-Out converges on the primary's even though the number of UPDATEs that
//! carried the changes differs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ribsync::checkpoint::{
    Digest, FlowId, FlowSnapshot, Replicated, SeqAnchor, StaticContext, StreamOffsets,
};
use ribsync::takeover::TcpRepairState;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::Config;
use crate::session::{ConnId, State};
use crate::speaker::{Input, Output, PeerId, Speaker, SpeakerError};
use crate::time::Millis;
use crate::wire::{decode_message, Message, Outcome, SessionContext};

/// Octets of the BGP message header (RFC 4271 section 4.1): Marker, Length, Type.
const HEADER_LEN: usize = 19;

/// Why the replica refused a call.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The speaker refused a snapshot or a configuration.
    #[error(transparent)]
    Speaker(#[from] SpeakerError),
    /// A flow checkpoint's state does not decode.
    #[error("bad flow state: {0}")]
    Decode(String),
    /// The static context's configuration does not parse.
    #[error("bad configuration in the static context: {0}")]
    Config(String),
    /// Bytes for a flow that is not bound.
    #[error("unknown flow {0}")]
    UnknownFlow(FlowId),
    /// Bytes fed at an offset other than the end of what was fed.
    #[error("fed at offset {got}, expected {expected}")]
    Offset {
        /// Where the bytes started, in octets of the peer-to-primary stream.
        got: u64,
        /// Where they should have.
        expected: u64,
    },
}

/// One flow: which session connection it carries and where its streams stand.
#[derive(Debug, Clone)]
struct Binding {
    peer: PeerId,
    conn: ConnId,
    /// Octets of the neighbour's stream handed to the speaker (a message boundary).
    consumed: u64,
    /// Octets of our stream handed to the socket.
    sent: u64,
    /// Received octets of an incomplete message, not yet handed to the speaker.
    partial: Vec<u8>,
    anchor: Option<SeqAnchor>,
    tcp: Option<TcpRepairState>,
    /// Hash chain over every message consumed: `chain = SHA-256(chain || message)`.
    chain: [u8; 32],
    /// Egress offset up to which the primary's messages were noted in what the neighbour
    /// holds ([`SpeakerReplica::note_primary_egress`]; a standby).
    as_sent_to: u64,
}

/// The session context of one flow as a checkpoint carries it (postcard). Its parts are
/// borrowed from the checkpoint's bytes when read, not copied.
#[derive(Debug, Serialize, Deserialize)]
struct FlowState<'a> {
    conn: ConnId,
    /// The flow's hash chain at the checkpoint's offset.
    chain: [u8; 32],
    /// [`Speaker::peer_context`]: session, addresses, MRAI timer and RNG.
    #[serde(borrow)]
    peer: &'a [u8],
    /// The neighbour's part of the RIBs ([`crate::rib::Rib::peer_snapshot`]).
    #[serde(borrow)]
    rib: &'a [u8],
    /// The parts of the RIBs no flow carries: (neighbour address, part); `None` for the
    /// locally originated routes.
    #[serde(borrow)]
    others: Vec<(Option<IpAddr>, &'a [u8])>,
}

/// A [`Speaker`] with the per-flow stream accounting `ribsync` needs. See the module
/// documentation.
#[derive(Debug)]
pub struct SpeakerReplica {
    speaker: Speaker,
    seed: u64,
    clock_base_ms: u64,
    /// Milliseconds since the Unix epoch at time 0 of the clock that calls
    /// [`Replicated::feed_peer_bytes`] (a standby's checkpoint engine), when it is not the
    /// replicated clock itself.
    feed_origin_unix_ms: Option<u64>,
    flows: BTreeMap<FlowId, Binding>,
    /// The instant of the last bytes handed to the speaker (a restored flow's RIB changes
    /// are moved on at this instant).
    now: Millis,
    /// Flow checkpoints restored so far.
    restores: u64,
}

impl SpeakerReplica {
    /// Wraps `speaker`, built with RNG `seed`; replicated time 0 is `clock_base_ms`
    /// milliseconds since the Unix epoch.
    pub fn new(speaker: Speaker, seed: u64, clock_base_ms: u64) -> Self {
        SpeakerReplica {
            speaker,
            seed,
            clock_base_ms,
            feed_origin_unix_ms: None,
            flows: BTreeMap::new(),
            now: Millis(0),
            restores: 0,
        }
    }

    /// Replicated time 0, in milliseconds since the Unix epoch (the primary's, once a
    /// standby imported its static context).
    pub fn clock_base_ms(&self) -> u64 {
        self.clock_base_ms
    }

    /// Declares that the `now_ms` given to [`Replicated::feed_peer_bytes`] counts from
    /// `unix_ms` (milliseconds since the Unix epoch) rather than from replicated time 0: a
    /// standby's checkpoint engine runs its own clock. Fed messages are then stamped with
    /// replicated time `unix_ms + now_ms - clock_base_ms`, so timer deadlines (hold timer
    /// restarted by a mirrored KEEPALIVE) are on the primary's clock.
    pub fn set_feed_clock_origin(&mut self, unix_ms: u64) {
        self.feed_origin_unix_ms = Some(unix_ms);
    }

    /// Octets of the neighbour's stream received on `flow` so far (consumed, plus an
    /// incomplete message held back): the stream offset of the next octet.
    pub fn received(&self, flow: &FlowId) -> Option<u64> {
        self.flows
            .get(flow)
            .map(|b| b.consumed + b.partial.len() as u64)
    }

    /// Sets the egress offset of `flow` (octets of our stream written so far), e.g. after
    /// a takeover, where the write-ahead and the mirror tell how far the primary got.
    pub fn set_sent_offset(&mut self, flow: &FlowId, sent: u64) {
        if let Some(b) = self.flows.get_mut(flow) {
            b.sent = sent;
        }
    }

    /// The sequence anchor of `flow`, when known.
    pub fn anchor(&self, flow: &FlowId) -> Option<SeqAnchor> {
        self.flows.get(flow)?.anchor
    }

    /// The speaker.
    pub fn speaker(&self) -> &Speaker {
        &self.speaker
    }

    /// The speaker, for inputs other than a bound flow's bytes (connections, timers,
    /// admin commands). Bytes of a bound flow must go through [`SpeakerReplica::receive`].
    pub fn speaker_mut(&mut self) -> &mut Speaker {
        &mut self.speaker
    }

    /// Every pending output of the speaker. A standby's driver drains them after each call
    /// and acts on none but events until takeover (FIB changes are taken apart:
    /// [`SpeakerReplica::take_fib_changes`]).
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        self.speaker.take_outputs()
    }

    /// Pending Loc-RIB changes for the kernel FIB, `max_installs` installs at most
    /// ([`Speaker::take_fib_changes`]).
    pub fn take_fib_changes(&mut self, max_installs: usize) -> Vec<crate::rib::FibChange> {
        self.speaker.take_fib_changes(max_installs)
    }

    /// Binds a TCP connection (its 4-tuple) to a session connection of `peer`, both streams
    /// at offset 0 (primary side, when the connection is confirmed).
    pub fn bind_flow(&mut self, flow: FlowId, peer: PeerId, conn: ConnId) {
        self.flows.insert(
            flow,
            Binding {
                peer,
                conn,
                consumed: 0,
                sent: 0,
                partial: Vec::new(),
                anchor: None,
                tcp: None,
                chain: [0; 32],
                as_sent_to: 0,
            },
        );
    }

    /// The session connection a flow carries.
    pub fn binding(&self, flow: &FlowId) -> Option<(PeerId, ConnId)> {
        self.flows.get(flow).map(|b| (b.peer, b.conn))
    }

    /// The flow carrying a session connection.
    pub fn flow_of(&self, peer: PeerId, conn: ConnId) -> Option<FlowId> {
        self.flows
            .iter()
            .find(|(_, b)| b.peer == peer && b.conn == conn)
            .map(|(f, _)| *f)
    }

    /// The sequence numbers of the flow's offset 0 (read from the socket), exported in its
    /// snapshots.
    pub fn set_anchor(&mut self, flow: &FlowId, anchor: SeqAnchor) {
        if let Some(b) = self.flows.get_mut(flow) {
            b.anchor = Some(anchor);
        }
    }

    /// The TCP context last read from the flow's live socket (`takeover::peek_live_socket`),
    /// exported in its snapshots.
    pub fn set_tcp(&mut self, flow: &FlowId, tcp: TcpRepairState) {
        if let Some(b) = self.flows.get_mut(flow) {
            b.tcp = Some(tcp);
        }
    }

    /// The TCP context exported with the flow, if any.
    pub fn tcp(&self, flow: &FlowId) -> Option<&TcpRepairState> {
        self.flows.get(flow)?.tcp.as_ref()
    }

    /// Bytes received from the neighbour on `flow`, in stream order: every whole BGP
    /// message is handed to the speaker, the rest is kept for the next call.
    ///
    /// # Errors
    /// [`ReplicaError::UnknownFlow`] when the flow is not bound.
    pub fn receive(
        &mut self,
        now: Millis,
        flow: &FlowId,
        bytes: &[u8],
    ) -> Result<(), ReplicaError> {
        let b = self
            .flows
            .get_mut(flow)
            .ok_or(ReplicaError::UnknownFlow(*flow))?;
        self.now = self.now.max(now);
        // Whole messages are handed over from a cursor; only the incomplete tail is kept
        // (draining each message from the front would move the rest of the buffer every
        // time: quadratic in the messages per read).
        let held;
        let buf: &[u8] = if b.partial.is_empty() {
            bytes
        } else {
            b.partial.extend_from_slice(bytes);
            held = std::mem::take(&mut b.partial);
            &held
        };
        let mut at = 0;
        while buf.len() - at >= HEADER_LEN {
            let rest = &buf[at..];
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            // A Length below the header size is a message header error the session reports
            // (RFC 4271 section 6.1); hand it everything so it does.
            let take = if len < HEADER_LEN {
                rest.len()
            } else if rest.len() < len {
                break;
            } else {
                len
            };
            let data = rest[..take].to_vec();
            at += take;
            b.consumed += take as u64;
            let mut h = Sha256::new();
            h.update(b.chain);
            h.update(&data);
            b.chain = h.finalize().into();
            self.speaker.handle(
                now,
                Input::Bytes {
                    peer: b.peer,
                    conn: b.conn,
                    data,
                },
            );
        }
        b.partial = buf[at..].to_vec();
        Ok(())
    }

    /// Accounts `n` octets written to the flow's socket; returns the egress offset of the
    /// first of them, or `None` for an unbound flow.
    pub fn note_sent(&mut self, flow: &FlowId, n: u64) -> Option<u64> {
        let b = self.flows.get_mut(flow)?;
        let at = b.sent;
        b.sent += n;
        Some(at)
    }

    /// How many flow checkpoints were restored so far (a standby re-reads the primary's
    /// egress of a flow from its checkpoint's offset after each).
    pub fn restores(&self) -> u64 {
        self.restores
    }

    /// The egress offset of the primary's next message on `flow` to hand to
    /// [`SpeakerReplica::note_primary_egress`] (the checkpoint's offset at first), when the
    /// flow is bound.
    pub fn primary_egress_from(&self, flow: &FlowId) -> Option<u64> {
        self.flows.get(flow).map(|b| b.as_sent_to)
    }

    /// One whole message `message` that the primary wrote on `flow` at egress offset
    /// `offset` (a standby: from the mirror or the write-ahead). An UPDATE changes what the
    /// neighbour holds ([`crate::rib::Rib::note_as_sent`]), decoded as the neighbour decodes
    /// it (with the session's negotiated parameters; Path Identifiers where we send them).
    /// Messages before [`SpeakerReplica::primary_egress_from`] are in the checkpoint or
    /// were noted already: ignored, and false is returned (also for an unbound flow). An
    /// UPDATE that does not decode cleanly changes nothing.
    pub fn note_primary_egress(&mut self, flow: &FlowId, offset: u64, message: &[u8]) -> bool {
        let Some(b) = self.flows.get_mut(flow) else {
            return false;
        };
        if offset < b.as_sent_to {
            return false;
        }
        b.as_sent_to = offset + message.len() as u64;
        let peer = b.peer;
        if message.get(18) != Some(&2) {
            return true;
        }
        let Some(ctx) = self
            .speaker
            .session(peer)
            .and_then(|s| s.negotiated())
            .map(|n| SessionContext {
                add_path_receive: n.ctx.add_path_send.clone(),
                ..n.ctx.clone()
            })
        else {
            return true;
        };
        let d = decode_message(message, &ctx);
        if let (Outcome::Accept, Some(Message::Update(u))) = (d.outcome, d.message) {
            if let Err(e) = self.speaker.rib_mut().note_as_sent(peer, &u) {
                tracing::debug!(%flow, "an UPDATE of the primary's not noted: {e}");
            }
        }
        true
    }

    /// The UPDATEs that bring the neighbour of `flow` from what it holds (the checkpoint's
    /// Adj-RIB-Out and every UPDATE the primary wrote since) to this node's Adj-RIB-Out
    /// ([`crate::rib::Rib::as_sent_difference`]): the takeover sends them after its
    /// KEEPALIVE. Empty for an unbound flow.
    pub fn as_sent_difference(&mut self, flow: &FlowId) -> Vec<Vec<u8>> {
        match self.flows.get(flow) {
            Some(b) => {
                let peer = b.peer;
                self.speaker.rib_mut().as_sent_difference(peer)
            }
            None => Vec::new(),
        }
    }

    /// This node writes to the neighbours from now on (after a takeover): nothing more is
    /// recorded of what they hold.
    pub fn stop_tracking_as_sent(&mut self) {
        self.speaker.rib_mut().track_as_sent(false);
    }

    /// Forgets a flow (its connection closed).
    pub fn unbind_flow(&mut self, flow: &FlowId) {
        self.flows.remove(flow);
    }

    fn established(&self, b: &Binding) -> bool {
        self.speaker.session(b.peer).is_some_and(|s| {
            s.state() == State::Established && s.established_conn() == Some(b.conn)
        })
    }

    fn offsets(b: &Binding) -> StreamOffsets {
        StreamOffsets {
            consumed_from_peer: b.consumed,
            sent_to_peer: b.sent,
        }
    }

    /// The flow's digest: what both nodes compute identically from the same byte stream,
    /// whatever the instant each message arrived, in time independent of the table size
    /// (a standby computes it after every fed chunk): the consumed offset, the hash chain
    /// of every message consumed (the speaker is deterministic: the same messages from the
    /// same checkpoint give the same Adj-RIB-In, Loc-RIB and Adj-RIB-Out), and the
    /// session's FSM state, negotiated parameters and receive counters. Timer deadlines,
    /// the jitter RNG and send counters are left out: they move with each node's clock and
    /// with the KEEPALIVEs only the primary sends.
    fn digest_of(&self, b: &Binding) -> Digest {
        let mut h = Sha256::new();
        h.update(b"understudy-flow-v3");
        h.update(b.consumed.to_be_bytes());
        h.update(b.peer.0.to_be_bytes());
        h.update(b.conn.0.to_be_bytes());
        h.update(b.chain);
        if let Some(s) = self.speaker.session(b.peer) {
            h.update(format!("{:?}", s.state()).as_bytes());
            h.update(format!("{:?}", s.established_conn()).as_bytes());
            h.update(format!("{:?}", s.negotiated()).as_bytes());
            h.update(s.stats().messages_in.to_be_bytes());
            h.update(s.stats().updates_in.to_be_bytes());
        }
        h.finalize().into()
    }
}

impl Replicated for SpeakerReplica {
    type Error = ReplicaError;

    fn export_static(&self) -> StaticContext {
        let config = self
            .speaker
            .config()
            .to_toml_string()
            .map(String::into_bytes)
            .unwrap_or_default();
        let mut addresses: Vec<IpAddr> = self.flows.keys().map(|f| f.local.ip()).collect();
        addresses.sort();
        addresses.dedup();
        StaticContext {
            config,
            router_id: Some(self.speaker.config().router_id().0),
            addresses,
            rng_seeds: vec![self.seed],
            clock_base_ms: self.clock_base_ms,
        }
    }

    fn import_static(&mut self, context: &StaticContext) -> Result<(), ReplicaError> {
        let text = std::str::from_utf8(&context.config)
            .map_err(|e| ReplicaError::Config(e.to_string()))?;
        let config =
            Config::from_toml_str(text).map_err(|e| ReplicaError::Config(e.to_string()))?;
        let seed = context.rng_seeds.first().copied().unwrap_or_default();
        self.speaker = Speaker::new(Millis(0), config, seed)?;
        // A standby's speaker does not act on the network until takeover; what each
        // neighbour holds is what the primary writes.
        self.drain_outputs();
        self.speaker.rib_mut().track_as_sent(true);
        self.seed = seed;
        self.clock_base_ms = context.clock_base_ms;
        self.flows.clear();
        Ok(())
    }

    fn flows(&self) -> Vec<FlowId> {
        self.flows
            .iter()
            .filter(|(_, b)| self.established(b))
            .map(|(f, _)| *f)
            .collect()
    }

    fn snapshot_flow(&self, flow: &FlowId) -> Option<FlowSnapshot> {
        let b = self.flows.get(flow)?;
        let rib = self.speaker.rib();
        let carried: Vec<PeerId> = self
            .flows
            .values()
            .filter(|o| self.established(o))
            .map(|o| o.peer)
            .collect();
        let mut others = vec![(None, rib.peer_snapshot(PeerId::LOCAL).ok()?)];
        for (id, _) in rib.peers() {
            if id != b.peer && !carried.contains(&id) {
                let address = self.speaker.neighbor(id)?.address;
                others.push((Some(address), rib.peer_snapshot(id).ok()?));
            }
        }
        let peer = self.speaker.peer_context(b.peer)?;
        let part = rib.peer_snapshot(b.peer).ok()?;
        let state = FlowState {
            conn: b.conn,
            chain: b.chain,
            peer: &peer,
            rib: &part,
            others: others.iter().map(|(a, p)| (*a, &p[..])).collect(),
        };
        Some(FlowSnapshot {
            flow: *flow,
            offsets: Self::offsets(b),
            anchor: b.anchor,
            state: postcard::to_allocvec(&state).ok()?,
            tcp: b.tcp.clone(),
            digest: self.digest_of(b),
        })
    }

    fn restore_flow(&mut self, snapshot: &FlowSnapshot) -> Result<(), ReplicaError> {
        let state: FlowState = postcard::from_bytes(&snapshot.state)
            .map_err(|e| ReplicaError::Decode(e.to_string()))?;
        let peer = self.speaker.restore_peer_context(state.peer)?;
        let now = self.now;
        self.speaker.restore_peer_rib(now, peer, state.rib)?;
        for (address, part) in &state.others {
            let target = match address {
                None => PeerId::LOCAL,
                Some(a) => match self.speaker.peer_by_address(*a) {
                    // A neighbour whose flow this node follows keeps its own, newer state.
                    Some(id)
                        if !self
                            .flows
                            .iter()
                            .any(|(f, b)| b.peer == id && *f != snapshot.flow) =>
                    {
                        id
                    }
                    _ => continue,
                },
            };
            self.speaker.restore_peer_rib(now, target, part)?;
        }
        self.flows.insert(
            snapshot.flow,
            Binding {
                peer,
                conn: state.conn,
                consumed: snapshot.offsets.consumed_from_peer,
                sent: snapshot.offsets.sent_to_peer,
                partial: Vec::new(),
                anchor: snapshot.anchor,
                tcp: snapshot.tcp.clone(),
                chain: state.chain,
                // The checkpoint's Adj-RIB-Out is as sent up to its egress offset; the
                // primary's messages from there on move what the neighbour holds.
                as_sent_to: snapshot.offsets.sent_to_peer,
            },
        );
        self.restores += 1;
        Ok(())
    }

    /// The primary's connection of `flow` closed (FIG. 4 flow end): so does this copy of
    /// it, and the session goes down here as it did there (a standby that takes over later
    /// restarts it instead of serving a connection that no longer exists).
    fn end_flow(&mut self, flow: &FlowId) {
        if let Some(b) = self.flows.remove(flow) {
            let now = self.now;
            self.speaker.handle(
                now,
                Input::ConnectionClosed {
                    peer: b.peer,
                    conn: b.conn,
                },
            );
        }
    }

    fn flow_offsets(&self, flow: &FlowId) -> Option<StreamOffsets> {
        self.flows.get(flow).map(Self::offsets)
    }

    fn feed_peer_bytes(
        &mut self,
        now_ms: u64,
        flow: &FlowId,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), ReplicaError> {
        let b = self
            .flows
            .get(flow)
            .ok_or(ReplicaError::UnknownFlow(*flow))?;
        let expected = b.consumed + b.partial.len() as u64;
        if offset != expected {
            return Err(ReplicaError::Offset {
                got: offset,
                expected,
            });
        }
        let now = match self.feed_origin_unix_ms {
            Some(origin) => (origin + now_ms).saturating_sub(self.clock_base_ms),
            None => now_ms,
        };
        self.receive(Millis(now), flow, bytes)
    }

    fn flow_digest(&self, flow: &FlowId) -> Option<Digest> {
        self.flows.get(flow).map(|b| self.digest_of(b))
    }

    /// The replicated state: the RIB digest (every Adj-RIB-In, the Loc-RIB, every
    /// Adj-RIB-Out as sent, pending changes) and each session's FSM state, established
    /// connection, negotiated parameters and receive counters. Egress timing is left out
    /// (see the module documentation); [`Speaker::state_digest`] has all of it.
    fn state_digest(&self) -> Digest {
        let mut h = Sha256::new();
        h.update(b"understudy-replica-v1");
        h.update(self.speaker.rib().digest());
        for (id, address, state) in self.speaker.peers() {
            h.update(id.0.to_be_bytes());
            h.update(address.to_string().as_bytes());
            h.update(format!("{state:?}").as_bytes());
            if let Some(s) = self.speaker.session(id) {
                h.update(format!("{:?}", s.established_conn()).as_bytes());
                h.update(format!("{:?}", s.negotiated()).as_bytes());
                h.update(s.stats().messages_in.to_be_bytes());
                h.update(s.stats().updates_in.to_be_bytes());
            }
        }
        h.finalize().into()
    }
}

#[cfg(test)]
mod flows_tests;
#[cfg(test)]
mod tests;
