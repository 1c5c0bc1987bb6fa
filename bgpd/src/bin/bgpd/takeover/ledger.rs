//! The primary's egress as whole BGP messages, per flow (DESIGN.md section 3: "Primary->peer
//! bytes ... tell it what the neighbour has been sent").
//!
//! The standby's mirror port shows every octet the primary writes to each neighbour; at
//! takeover the write-ahead backlog adds what the mirror missed or the primary wrote ahead.
//! Both are handed here ([`EgressLedger::primary_sent`]) by sequence number, framed into
//! whole messages (RFC 4271 section 4.1), and kept for a while by the sequence number they
//! start at. The replica takes them from there ([`super::feed_primary_egress`]): every UPDATE
//! written after a flow's checkpoint moves what the neighbour holds
//! (`SpeakerReplica::note_primary_egress`), which is what the takeover's Adj-RIB-Out
//! difference starts from. The other messages (KEEPALIVEs mostly) are counted for the
//! message counters: this node's speaker does not produce them.
//!
//! Messages are kept after the replica took them (up to [`KEEP_BEHIND`] octets): a flow
//! checkpointed again starts over from the checkpoint's offset, which may lie a little
//! behind what the mirror showed.

use std::collections::{BTreeMap, VecDeque};

use ribsync::checkpoint::FlowId;
use ribsync::takeover::SeqNum;

/// Octets of the BGP message header (RFC 4271 section 4.1).
const HEADER_LEN: usize = 19;
/// The largest BGP message (RFC 8654 section 4, Extended Message).
const MAX_LEN: usize = 65535;
/// BGP message type UPDATE (RFC 4271 section 4.1).
const UPDATE: u8 = 2;
/// Octets of messages kept per flow, taken or not (the oldest go first).
const MAX_KEPT: usize = 8 << 20;
/// Octets of messages kept behind what the replica took (see the module documentation).
pub const KEEP_BEHIND: u32 = 256 << 10;
/// Other messages of the primary remembered (for the message counters).
const MAX_OTHERS: usize = 1 << 16;

/// Per flow, the primary's egress as whole messages. See the module documentation.
#[derive(Debug, Default)]
pub struct EgressLedger {
    flows: BTreeMap<FlowId, LedgerFlow>,
    /// Set at takeover: the mirror stops feeding the standby (see [`EgressLedger::freeze`]).
    frozen: bool,
    /// Bumped with every message framed.
    generation: u64,
    /// (generation, replica restores) at the last feed of every flow.
    fed_at: Option<(u64, u64)>,
}

#[derive(Debug, Default)]
struct LedgerFlow {
    /// Whole messages by the sequence number of their first octet, in stream order.
    messages: VecDeque<(SeqNum, Vec<u8>)>,
    /// Octets in `messages`.
    kept: usize,
    /// One past the last octet of the primary's egress seen.
    next: Option<SeqNum>,
    /// Octets after the last whole message.
    partial: Vec<u8>,
    /// `partial` starts at a message boundary (false after a hole, until a marker).
    framed: bool,
    /// Where each of the primary's other messages (KEEPALIVE, NOTIFICATION, ...) started:
    /// this node's speaker does not produce them, its message counter adds them.
    others: VecDeque<SeqNum>,
}

/// A plausible BGP header at the start of `b`: the all-ones marker (RFC 4271 section 4.1),
/// a Length within 19..=65535 and a known Type (1 to 5).
fn header_at(b: &[u8]) -> Option<usize> {
    let h = b.get(..HEADER_LEN)?;
    if h[..16].iter().any(|x| *x != 0xff) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    ((HEADER_LEN..=MAX_LEN).contains(&len) && (1..=5).contains(&h[18])).then_some(len)
}

impl LedgerFlow {
    fn keep(&mut self, start: SeqNum, m: Vec<u8>) {
        if m.get(18) != Some(&UPDATE) {
            if self.others.len() >= MAX_OTHERS {
                self.others.pop_front();
            }
            self.others.push_back(start);
        }
        self.kept += m.len();
        self.messages.push_back((start, m));
        while self.kept > MAX_KEPT {
            let Some((_, old)) = self.messages.pop_front() else {
                break;
            };
            self.kept -= old.len();
        }
    }

    /// Frames `partial` into whole messages; resynchronises on the next marker when the
    /// octets do not start with a header (after a hole). Returns how many were framed.
    fn frame(&mut self) -> u64 {
        let mut framed = 0;
        loop {
            if !self.framed {
                let Some(i) =
                    (0..self.partial.len()).find(|i| header_at(&self.partial[*i..]).is_some())
                else {
                    // Keep what may be the start of a header.
                    let keep = self.partial.len().min(HEADER_LEN - 1);
                    self.partial.drain(..self.partial.len() - keep);
                    return framed;
                };
                self.partial.drain(..i);
                self.framed = true;
            }
            if self.partial.len() < HEADER_LEN {
                return framed;
            }
            let Some(len) = header_at(&self.partial) else {
                self.framed = false;
                self.partial.drain(..1);
                continue;
            };
            if self.partial.len() < len {
                return framed;
            }
            let Some(next) = self.next else {
                return framed;
            };
            let start = SeqNum(next.0.wrapping_sub(self.partial.len() as u32));
            let rest = self.partial.split_off(len);
            let m = std::mem::replace(&mut self.partial, rest);
            self.keep(start, m);
            framed += 1;
        }
    }
}

impl EgressLedger {
    /// Octets the primary wrote on `flow` starting at sequence number `seq` (mirror or
    /// write-ahead): repeats and overlaps are ignored; after a hole, framing starts again at
    /// the next BGP marker.
    pub fn primary_sent(&mut self, flow: FlowId, seq: SeqNum, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let f = self.flows.entry(flow).or_default();
        let end = seq.wrapping_add(bytes.len() as u32);
        let new = match f.next {
            None => {
                f.framed = false;
                bytes
            }
            // After a hole, octets that cover all held since (the write-ahead at takeover)
            // frame again from their own start.
            Some(n)
                if !f.framed
                    && !n.is_after(end)
                    && !seq.is_after(SeqNum(n.0.wrapping_sub(f.partial.len() as u32))) =>
            {
                f.partial.clear();
                bytes
            }
            Some(n) if !end.is_after(n) => return,
            Some(n) if seq.is_after(n) => {
                f.partial.clear();
                f.framed = false;
                bytes
            }
            Some(n) => &bytes[n.distance_from(seq) as usize..],
        };
        f.next = Some(end);
        f.partial.extend_from_slice(new);
        self.generation += f.frame();
    }

    /// Bumped with every message framed: nothing new for [`EgressLedger::messages_from`]
    /// while it stays the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What [`EgressLedger::set_fed_at`] recorded.
    pub fn fed_at(&self) -> Option<(u64, u64)> {
        self.fed_at
    }

    /// Records that every flow was fed at `at` ((generation, replica restores)).
    pub fn set_fed_at(&mut self, at: (u64, u64)) {
        self.fed_at = Some(at);
    }

    /// The flows with messages.
    pub fn flows(&self) -> Vec<FlowId> {
        self.flows.keys().copied().collect()
    }

    /// The whole messages the primary wrote on `flow` that start at sequence number `from`
    /// or later, in stream order, each with its first octet's sequence number; messages
    /// older than [`KEEP_BEHIND`] octets before `from` are dropped.
    pub fn messages_from(&mut self, flow: &FlowId, from: SeqNum) -> Vec<(SeqNum, Vec<u8>)> {
        let Some(f) = self.flows.get_mut(flow) else {
            return Vec::new();
        };
        let keep_from = SeqNum(from.0.wrapping_sub(KEEP_BEHIND));
        while let Some((s, m)) = f.messages.front() {
            if !keep_from.is_after(*s) {
                break;
            }
            f.kept -= m.len();
            f.messages.pop_front();
        }
        f.messages
            .iter()
            .rev()
            .take_while(|(s, _)| *s == from || s.is_after(from))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|(s, m)| (*s, m.clone()))
            .collect()
    }

    /// Whether the oldest message kept for `flow` starts after `seq`: messages between
    /// were dropped (or never seen).
    pub fn starts_after(&self, flow: &FlowId, seq: SeqNum) -> bool {
        self.flows
            .get(flow)
            .and_then(|f| f.messages.front())
            .is_some_and(|(s, _)| s.is_after(seq))
    }

    /// How many messages other than UPDATEs (KEEPALIVEs mostly) the primary wrote on `flow`
    /// from sequence number `from` on: what its message counter has and this node's lacks.
    pub fn other_messages_since(&self, flow: &FlowId, from: SeqNum) -> u64 {
        self.flows.get(flow).map_or(0, |f| {
            f.others
                .iter()
                .filter(|s| **s == from || s.is_after(from))
                .count() as u64
        })
    }

    /// Takeover begins: from now on the mirror feeds nothing more to the standby (the
    /// taken-over sockets carry the neighbours' octets); the mirror thread checks
    /// [`EgressLedger::is_frozen`] under the same lock before each octet it hands on.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Whether [`EgressLedger::freeze`] was called.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }
}
