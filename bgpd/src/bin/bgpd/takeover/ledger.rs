//! The Adj-RIB-Out difference at takeover (issue 7: "then only the Adj-RIB-Out difference
//! (what Loc-RIB now says minus what the neighbour was already sent)").
//!
//! The standby's speaker runs in lockstep with the primary's: fed the same neighbour
//! messages in the same order, it produces the same UPDATEs (RFC 4271 section 9.2) for each
//! neighbour. Before takeover it sends none of them: each is noted here as *ours*. What the
//! primary really wrote on each flow (the primary-to-neighbour octets on the mirror, and at
//! takeover the write-ahead backlog) is framed into messages and noted as *theirs*. An UPDATE
//! of ours matched by one of theirs was sent; what is left of ours at takeover is exactly
//! what the neighbour never got (the primary computed it but died before writing it, or the
//! primary never got that far), and is sent after the KEEPALIVE. Nothing is sent twice:
//! every UPDATE the primary wrote (or wrote ahead, and the takeover resends from the
//! backlog) removes ours.
//!
//! Order is the same on both nodes, so when one of theirs matches ours at position `i`,
//! ours before `i` were written too (in another packing: e.g. two neighbours' messages
//! interleaved differently), and the other way round. KEEPALIVEs, OPENs, NOTIFICATIONs and
//! ROUTE-REFRESHes are not part of the Adj-RIB-Out and are ignored.

use std::collections::{BTreeMap, VecDeque};

use ribsync::checkpoint::FlowId;
use ribsync::takeover::SeqNum;

/// Octets of the BGP message header (RFC 4271 section 4.1).
const HEADER_LEN: usize = 19;
/// The largest BGP message (RFC 8654 section 4, Extended Message).
const MAX_LEN: usize = 65535;
/// BGP message type UPDATE (RFC 4271 section 4.1).
const UPDATE: u8 = 2;
/// Messages of theirs kept unmatched: the standby follows within a few messages, older
/// ones will not be matched any more.
const MAX_THEIRS: usize = 4096;
/// UPDATEs of ours kept unmatched (a mirror that shows nothing of the primary's egress).
const MAX_OURS: usize = 1 << 16;
/// Other messages of theirs remembered (for the message counters).
const MAX_OTHERS: usize = 1 << 16;

/// Per flow, the UPDATEs the standby produced and not yet seen written by the primary. See
/// the module documentation.
#[derive(Debug, Default)]
pub struct EgressLedger {
    flows: BTreeMap<FlowId, LedgerFlow>,
    /// Set at takeover: the mirror stops feeding the standby (see [`EgressLedger::freeze`]).
    frozen: bool,
}

#[derive(Debug, Default)]
struct LedgerFlow {
    /// Ours, not (yet) seen from the primary.
    ours: VecDeque<Vec<u8>>,
    /// The primary's, not (yet) produced by us.
    theirs: VecDeque<Vec<u8>>,
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

fn is_update(m: &[u8]) -> bool {
    m.len() >= HEADER_LEN && m[18] == UPDATE
}

impl LedgerFlow {
    fn ours(&mut self, m: Vec<u8>) {
        if let Some(i) = self.theirs.iter().position(|t| *t == m) {
            self.theirs.drain(..=i);
        } else {
            if self.ours.len() >= MAX_OURS {
                self.ours.pop_front();
            }
            self.ours.push_back(m);
        }
    }

    fn theirs(&mut self, m: Vec<u8>) {
        if let Some(i) = self.ours.iter().position(|o| *o == m) {
            self.ours.drain(..=i);
        } else {
            if self.theirs.len() >= MAX_THEIRS {
                self.theirs.pop_front();
            }
            self.theirs.push_back(m);
        }
    }

    /// Frames `partial` into whole messages; resynchronises on the next marker when the
    /// octets do not start with a header (after a hole).
    fn frame(&mut self) {
        loop {
            if !self.framed {
                let Some(i) =
                    (0..self.partial.len()).find(|i| header_at(&self.partial[*i..]).is_some())
                else {
                    // Keep what may be the start of a header.
                    let keep = self.partial.len().min(HEADER_LEN - 1);
                    self.partial.drain(..self.partial.len() - keep);
                    return;
                };
                self.partial.drain(..i);
                self.framed = true;
            }
            if self.partial.len() < HEADER_LEN {
                return;
            }
            let Some(len) = header_at(&self.partial) else {
                self.framed = false;
                self.partial.drain(..1);
                continue;
            };
            if self.partial.len() < len {
                return;
            }
            let start = self
                .next
                .map(|n| SeqNum(n.0.wrapping_sub(self.partial.len() as u32)));
            let rest = self.partial.split_off(len);
            let m = std::mem::replace(&mut self.partial, rest);
            if is_update(&m) {
                self.theirs(m);
            } else if let Some(start) = start {
                if self.others.len() >= MAX_OTHERS {
                    self.others.pop_front();
                }
                self.others.push_back(start);
            }
        }
    }
}

impl EgressLedger {
    /// Octets our speaker produced for `flow` and did not send (whole messages, as one
    /// `Output::Transmit`).
    pub fn generated(&mut self, flow: FlowId, bytes: &[u8]) {
        let f = self.flows.entry(flow).or_default();
        let mut at = 0;
        while let Some(len) = bytes.get(at..).and_then(header_at) {
            let Some(m) = bytes.get(at..at + len) else {
                break;
            };
            if is_update(m) {
                f.ours(m.to_vec());
            }
            at += len;
        }
    }

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
        f.frame();
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

    /// The UPDATEs our speaker produced for `flow` that the primary never wrote, in order.
    pub fn difference(&self, flow: &FlowId) -> Vec<Vec<u8>> {
        self.flows
            .get(flow)
            .map(|f| f.ours.iter().cloned().collect())
            .unwrap_or_default()
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
