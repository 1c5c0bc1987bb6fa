//! One direction of a TCP connection, reassembled into its byte stream.
//!
//! A [`HalfStream`] maps the sender's 32-bit sequence numbers (RFC 9293 section 3.4) to
//! 64-bit *stream offsets*: offset 0 is the first data octet after the SYN, or, when the
//! capture started after the handshake, the first octet the capture saw. Sequence numbers
//! are compared modulo 2^32 (RFC 9293 section 3.4, "comparisons ... must use modulo 2**32
//! arithmetic"; RFC 1982 serial number arithmetic), so a stream crossing the wrap-around
//! point keeps growing offsets.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;

use super::TcpSegment;

/// The direction of one byte stream: from `src` to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// The sender of the stream's octets.
    pub src: SocketAddr,
    /// The receiver.
    pub dst: SocketAddr,
}

impl StreamId {
    /// The opposite direction of the same connection.
    pub fn reverse(self) -> StreamId {
        StreamId {
            src: self.dst,
            dst: self.src,
        }
    }
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The sender's FIN was reached in sequence (RFC 9293 section 3.6): no more data.
    Fin,
    /// A RST was seen in either direction (RFC 9293 section 3.5.2): the connection was
    /// aborted and data not yet in sequence was discarded.
    Reset,
    /// A SYN with a new initial sequence number started a new connection on the same
    /// 4-tuple; what the old one had buffered was flushed first (with gaps).
    Superseded,
}

/// What the reassembler reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A SYN fixed the stream's initial sequence number (RFC 9293 section 3.4.1).
    Opened {
        /// The stream.
        stream: StreamId,
        /// Initial sequence number; data starts at `isn + 1`, stream offset 0.
        isn: u32,
    },
    /// In-order stream bytes starting at `offset`.
    Data {
        /// The stream.
        stream: StreamId,
        /// Stream offset of `bytes[0]`.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Stream bytes that were never captured and never will be; the stream goes on after
    /// them. A consumer framing messages must resynchronise.
    Gap {
        /// The stream.
        stream: StreamId,
        /// The missing stream offsets.
        range: Range<u64>,
    },
    /// A segment overlapped buffered data with different bytes. The copy captured first
    /// was kept (RFC 9293 leaves the choice to the receiver; the observer cannot know
    /// which one the real receiver kept).
    Conflict {
        /// The stream.
        stream: StreamId,
        /// Stream offset where the differing overlap starts.
        offset: u64,
        /// Length of the overlap, in octets.
        len: usize,
    },
    /// The stream ended.
    Closed {
        /// The stream.
        stream: StreamId,
        /// Stream offset at which it ended (of the FIN, or of the next octet expected).
        offset: u64,
        /// Why.
        reason: CloseReason,
    },
}

/// Lifecycle of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfState {
    /// Data may still come.
    Open,
    /// The FIN was reached in sequence.
    Finished,
    /// The connection was reset.
    Reset,
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HalfStreamStats {
    /// Segments seen (with or without data).
    pub segments: u64,
    /// Octets delivered in [`StreamEvent::Data`].
    pub delivered_bytes: u64,
    /// Octets received again (retransmissions and overlaps), not delivered twice.
    pub duplicate_bytes: u64,
    /// Octets of overlaps whose content differed ([`StreamEvent::Conflict`]).
    pub conflicting_bytes: u64,
    /// Octets declared missing ([`StreamEvent::Gap`]).
    pub gap_bytes: u64,
    /// Octets dropped: before the stream's start, after its FIN, or buffered when a RST
    /// came.
    pub dropped_bytes: u64,
}

/// The reassembly state of one direction of a connection.
#[derive(Debug, Clone)]
pub struct HalfStream {
    id: StreamId,
    /// Initial sequence number, when the SYN was seen.
    isn: Option<u32>,
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    /// Next stream offset to deliver.
    next: u64,
    /// Out-of-order data, non-overlapping, every key greater than `next`.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin: Option<u64>,
    state: HalfState,
    /// Highest acknowledgment number the receiver sent for this stream.
    peer_ack: Option<u32>,
    stats: HalfStreamStats,
}

/// Returned by [`HalfStream::on_segment`] when a SYN starts a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewIncarnation;

/// Signed distance from sequence number `b` to `a`, modulo 2^32 (RFC 1982 section 3.2).
pub(crate) fn seq_delta(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl HalfStream {
    pub(crate) fn new(id: StreamId) -> Self {
        HalfStream {
            id,
            isn: None,
            base: None,
            next: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            fin: None,
            state: HalfState::Open,
            peer_ack: None,
            stats: HalfStreamStats::default(),
        }
    }

    /// The direction this state belongs to.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Initial sequence number, if the SYN was seen.
    pub fn isn(&self) -> Option<u32> {
        self.isn
    }

    /// Sequence number of stream offset 0, once known.
    pub fn base_seq(&self) -> Option<u32> {
        self.base
    }

    /// Stream offset of the next octet to be delivered (everything before it was
    /// delivered or declared a gap).
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Stream offset of the FIN, once seen.
    pub fn fin_offset(&self) -> Option<u64> {
        self.fin
    }

    /// Lifecycle state.
    pub fn state(&self) -> HalfState {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> HalfStreamStats {
        self.stats
    }

    /// Octets buffered out of order, waiting for a hole to be filled.
    pub fn buffered_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// The highest acknowledgment number the receiver sent for this stream (RFC 9293
    /// section 3.4: the next sequence number it expects).
    pub fn last_peer_ack(&self) -> Option<u32> {
        self.peer_ack
    }

    /// The stream offset up to which the receiver acknowledged this stream: every octet
    /// before it was received by the peer. `None` until both the stream's start and an ACK
    /// are known, or when the peer acknowledged less than the capture's first octet. The
    /// FIN occupies one sequence number, so after it is acknowledged this is
    /// `fin_offset() + 1`.
    pub fn acked_offset(&self) -> Option<u64> {
        let ack = self.peer_ack?;
        let offset = self.offset_of(ack)?;
        u64::try_from(offset).ok()
    }

    /// The missing ranges between [`Self::next_offset`] and the furthest octet seen (or
    /// the FIN): the holes out-of-order data is waiting on.
    pub fn holes(&self) -> Vec<Range<u64>> {
        let mut holes = Vec::new();
        let mut pos = self.next;
        for (&k, v) in &self.pending {
            if k > pos {
                holes.push(pos..k);
            }
            pos = pos.max(k + v.len() as u64);
        }
        if let Some(fin) = self.fin {
            if fin > pos && self.state == HalfState::Open {
                holes.push(pos..fin);
            }
        }
        holes
    }

    /// Stream offset of sequence number `seq`, relative to the delivery point.
    fn offset_of(&self, seq: u32) -> Option<i64> {
        let base = self.base?;
        let reference = base.wrapping_add(self.next as u32);
        Some(self.next as i64 + seq_delta(seq, reference))
    }

    /// Processes one segment sent in this direction (its ACK field is the caller's
    /// business: it concerns the other direction).
    pub(crate) fn on_segment(
        &mut self,
        seg: &TcpSegment<'_>,
        max_buffered: usize,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), NewIncarnation> {
        self.stats.segments += 1;
        if seg.flags.syn {
            match (self.isn, self.base) {
                (Some(isn), _) if isn == seg.seq => {} // retransmitted SYN
                (Some(_), _) => return Err(NewIncarnation),
                (None, _) if self.state != HalfState::Open => return Err(NewIncarnation),
                (None, Some(base)) if base != seg.seq.wrapping_add(1) => {
                    return Err(NewIncarnation)
                }
                (None, _) => {
                    // RFC 9293 section 3.4.1: the SYN carries the ISN; data starts at ISN+1.
                    self.isn = Some(seg.seq);
                    self.base = Some(seg.seq.wrapping_add(1));
                    out.push_back(StreamEvent::Opened {
                        stream: self.id,
                        isn: seg.seq,
                    });
                }
            }
        }
        if self.state != HalfState::Open {
            self.stats.dropped_bytes += seg.payload.len() as u64;
            return Ok(());
        }
        let data_seq = seg.seq.wrapping_add(u32::from(seg.flags.syn));
        if self.base.is_none() {
            if seg.payload.is_empty() && !seg.flags.fin {
                return Ok(());
            }
            // Capture started mid-stream: the first octet seen is offset 0.
            self.base = Some(data_seq);
        }
        let Some(offset) = self.offset_of(data_seq) else {
            return Ok(());
        };
        if seg.flags.fin {
            // RFC 9293 section 3.10.7.4: the FIN follows the segment's data.
            let fin = offset + i64::from(seg.wire_len);
            if fin >= self.next as i64 && self.fin.is_none() {
                self.fin = Some(fin as u64);
            }
        }
        self.insert(offset, seg.payload, out);
        self.drain(out);
        while self.pending_bytes > max_buffered {
            let Some(&first) = self.pending.keys().next() else {
                break;
            };
            self.skip_to(first, out);
        }
        self.check_fin(out);
        Ok(())
    }

    /// Records an acknowledgment number the receiver sent for this stream; returns whether
    /// it advanced (a later ACK in modulo 2^32 order).
    pub(crate) fn on_peer_ack(&mut self, ack: u32) -> bool {
        match self.peer_ack {
            Some(prev) if seq_delta(ack, prev) <= 0 => false,
            _ => {
                self.peer_ack = Some(ack);
                true
            }
        }
    }

    /// The connection was reset: buffered out-of-order data is discarded (RFC 9293
    /// section 3.10.7.4, "all segment queues should be flushed").
    pub(crate) fn on_reset(&mut self, out: &mut VecDeque<StreamEvent>) {
        if self.state != HalfState::Open {
            return;
        }
        self.stats.dropped_bytes += self.pending_bytes as u64;
        self.pending.clear();
        self.pending_bytes = 0;
        self.state = HalfState::Reset;
        out.push_back(StreamEvent::Closed {
            stream: self.id,
            offset: self.next,
            reason: CloseReason::Reset,
        });
    }

    /// Declares every hole below `target` a gap and delivers the buffered data up to it.
    pub fn skip_to(&mut self, target: u64, out: &mut VecDeque<StreamEvent>) {
        while self.next < target && self.state == HalfState::Open {
            match self.pending.keys().next().copied() {
                Some(k) if k <= self.next => self.drain(out),
                // (drain removes every chunk at or before `next`, so this loop advances)
                Some(k) => {
                    let end = k.min(target);
                    self.gap(end, out);
                    self.drain(out);
                }
                None => {
                    let end = match self.fin {
                        Some(fin) => target.min(fin),
                        None => target,
                    };
                    if end > self.next {
                        self.gap(end, out);
                    }
                    break;
                }
            }
        }
        self.check_fin(out);
    }

    /// Delivers everything buffered, declaring the holes gaps, up to the FIN if one was
    /// seen (used at the end of a capture).
    pub(crate) fn flush(&mut self, out: &mut VecDeque<StreamEvent>) {
        let last = self
            .pending
            .iter()
            .next_back()
            .map(|(k, v)| k + v.len() as u64)
            .unwrap_or(self.next);
        let target = self.fin.map_or(last, |f| f.max(last));
        self.skip_to(target, out);
    }

    fn gap(&mut self, end: u64, out: &mut VecDeque<StreamEvent>) {
        if end <= self.next {
            return;
        }
        self.stats.gap_bytes += end - self.next;
        out.push_back(StreamEvent::Gap {
            stream: self.id,
            range: self.next..end,
        });
        self.next = end;
    }

    fn check_fin(&mut self, out: &mut VecDeque<StreamEvent>) {
        if let Some(fin) = self.fin {
            if self.next >= fin && self.state == HalfState::Open {
                self.state = HalfState::Finished;
                self.stats.dropped_bytes += self.pending_bytes as u64;
                self.pending.clear();
                self.pending_bytes = 0;
                out.push_back(StreamEvent::Closed {
                    stream: self.id,
                    offset: fin,
                    reason: CloseReason::Fin,
                });
            }
        }
    }

    /// Buffers `data` at stream offset `offset`, keeping already buffered octets where
    /// they overlap.
    fn insert(&mut self, offset: i64, data: &[u8], out: &mut VecDeque<StreamEvent>) {
        let mut start = offset;
        let mut data = data;
        // Octets before the stream start, or already delivered.
        let next = self.next as i64;
        if start < next {
            let skip = usize::try_from(next - start)
                .unwrap_or(usize::MAX)
                .min(data.len());
            if start < 0 {
                let before = usize::try_from(-start).unwrap_or(usize::MAX).min(skip);
                self.stats.dropped_bytes += before as u64;
                self.stats.duplicate_bytes += (skip - before) as u64;
            } else {
                self.stats.duplicate_bytes += skip as u64;
            }
            data = &data[skip..];
            start = next;
        }
        // Octets after the FIN cannot belong to the stream.
        if let Some(fin) = self.fin {
            let room = usize::try_from((fin as i64 - start).max(0)).unwrap_or(usize::MAX);
            if data.len() > room {
                self.stats.dropped_bytes += (data.len() - room) as u64;
                data = &data[..room];
            }
        }
        if data.is_empty() {
            return;
        }
        let start = start as u64;
        let end = start + data.len() as u64;
        let mut pieces: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut pos = start;
        let first = self
            .pending
            .range(..start)
            .next_back()
            .filter(|(k, v)| *k + v.len() as u64 > start)
            .map(|(k, _)| *k)
            .unwrap_or(start);
        for (&k, chunk) in self.pending.range(first..end) {
            let chunk_end = k + chunk.len() as u64;
            if k > pos {
                pieces.push((
                    pos,
                    data[(pos - start) as usize..(k - start) as usize].to_vec(),
                ));
            }
            let ov_start = k.max(pos);
            let ov_end = chunk_end.min(end);
            if ov_end > ov_start {
                let new = &data[(ov_start - start) as usize..(ov_end - start) as usize];
                let old = &chunk[(ov_start - k) as usize..(ov_end - k) as usize];
                let len = new.len();
                self.stats.duplicate_bytes += len as u64;
                if new != old {
                    self.stats.conflicting_bytes += len as u64;
                    out.push_back(StreamEvent::Conflict {
                        stream: self.id,
                        offset: ov_start,
                        len,
                    });
                }
            }
            pos = pos.max(chunk_end);
        }
        if pos < end {
            pieces.push((pos, data[(pos - start) as usize..].to_vec()));
        }
        for (k, piece) in pieces {
            self.pending_bytes += piece.len();
            self.pending.insert(k, piece);
        }
    }

    /// Delivers the buffered data that is now in sequence, as one event.
    fn drain(&mut self, out: &mut VecDeque<StreamEvent>) {
        let offset = self.next;
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            let k = *entry.key();
            if k > self.next {
                break;
            }
            let chunk = entry.remove();
            self.pending_bytes -= chunk.len();
            // Chunks never start before `next` (they are trimmed on insertion); keep the
            // arithmetic safe anyway.
            let skip = usize::try_from(self.next - k)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            self.stats.duplicate_bytes += skip as u64;
            let tail = &chunk[skip..];
            self.next += tail.len() as u64;
            bytes.extend_from_slice(tail);
        }
        if !bytes.is_empty() {
            self.stats.delivered_bytes += bytes.len() as u64;
            out.push_back(StreamEvent::Data {
                stream: self.id,
                offset,
                bytes,
            });
        }
    }
}
