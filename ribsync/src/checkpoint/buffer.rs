//! Byte buffers addressed by stream offset: the primary's bounded retained streams (for gap
//! fill and lag) and the standby's sparse buffers (mirror ingress, egress write-ahead).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

/// The last `capacity` octets of one stream, in arrival order, with the time each chunk
/// arrived (primary side). Answers gap requests and tells how old an offset is.
#[derive(Debug, Clone)]
pub struct RetainedStream {
    chunks: VecDeque<(u64, Vec<u8>, u64)>,
    held: usize,
    capacity: usize,
    end: u64,
}

/// Why retained bytes cannot be returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetainedError {
    /// The oldest part of the range was already dropped to keep the bound.
    Dropped {
        /// The oldest offset still held.
        oldest: u64,
    },
    /// Part of the range was never received.
    NotYet {
        /// One past the newest offset held.
        end: u64,
    },
}

impl std::fmt::Display for RetainedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetainedError::Dropped { oldest } => {
                write!(f, "no longer retained (oldest retained offset {oldest})")
            }
            RetainedError::NotYet { end } => write!(f, "not received yet (stream ends at {end})"),
        }
    }
}

impl RetainedStream {
    /// An empty stream that keeps at most `capacity` octets.
    pub fn new(capacity: usize) -> Self {
        RetainedStream {
            chunks: VecDeque::new(),
            held: 0,
            capacity,
            end: 0,
        }
    }

    /// One past the newest octet seen.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The oldest offset still held (`end` when empty).
    pub fn start(&self) -> u64 {
        self.chunks.front().map_or(self.end, |c| c.0)
    }

    /// Octets at `offset`, arrived at `now_ms`. Octets before `end` are ignored (already
    /// held); a jump forward leaves a hole that is never filled.
    pub fn push(&mut self, now_ms: u64, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        if end <= self.end {
            return;
        }
        let skip = self.end.saturating_sub(offset) as usize;
        let start = offset.max(self.end);
        if start > self.end {
            // A hole: drop what came before, the stream is no longer contiguous.
            self.chunks.clear();
            self.held = 0;
        }
        self.chunks
            .push_back((start, bytes[skip..].to_vec(), now_ms));
        self.held += bytes.len() - skip;
        self.end = end;
        while self.held > self.capacity {
            let Some((_, front, _)) = self.chunks.pop_front() else {
                break;
            };
            self.held -= front.len();
        }
    }

    /// The octets of `range`.
    ///
    /// # Errors
    /// [`RetainedError`] when part of the range is not held.
    pub fn read(&self, range: Range<u64>) -> Result<Vec<u8>, RetainedError> {
        if range.end > self.end {
            return Err(RetainedError::NotYet { end: self.end });
        }
        if range.start < self.start() {
            return Err(RetainedError::Dropped {
                oldest: self.start(),
            });
        }
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        for (off, bytes, _) in &self.chunks {
            let c_end = off + bytes.len() as u64;
            if c_end <= range.start || *off >= range.end {
                continue;
            }
            let from = range.start.max(*off) - off;
            let to = range.end.min(c_end) - off;
            out.extend_from_slice(&bytes[from as usize..to as usize]);
        }
        Ok(out)
    }

    /// When the octet at `offset` arrived, if it is held.
    pub fn arrival_of(&self, offset: u64) -> Option<u64> {
        self.chunks
            .iter()
            .find(|(off, bytes, _)| *off <= offset && offset < off + bytes.len() as u64)
            .map(|c| c.2)
    }
}

/// Sparse octets by stream offset above a floor (standby side): holes allowed, overlaps
/// keep the copy that arrived first, bounded by dropping the lowest offsets.
#[derive(Debug, Clone, Default)]
pub struct OffsetBuffer {
    map: BTreeMap<u64, Vec<u8>>,
    held: usize,
    floor: u64,
    capacity: usize,
    dropped_to: u64,
}

impl OffsetBuffer {
    /// An empty buffer keeping at most `capacity` octets.
    pub fn new(capacity: usize) -> Self {
        OffsetBuffer {
            capacity,
            ..Default::default()
        }
    }

    /// Octets held.
    pub fn held(&self) -> usize {
        self.held
    }

    /// One past the highest offset ever dropped to keep the bound (0 if none).
    pub fn dropped_to(&self) -> u64 {
        self.dropped_to
    }

    /// The lowest offset held.
    pub fn first_offset(&self) -> Option<u64> {
        self.map.keys().next().copied()
    }

    /// One past the highest offset held.
    pub fn end(&self) -> Option<u64> {
        self.map.iter().next_back().map(|(k, v)| k + v.len() as u64)
    }

    /// Insert `bytes` at `offset`; parts below the floor or already held are ignored.
    pub fn insert(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        let mut start = offset.max(self.floor);
        while start < end {
            if let Some((&k, v)) = self.map.range(..=start).next_back() {
                let k_end = k + v.len() as u64;
                if k_end > start {
                    start = k_end;
                    continue;
                }
            }
            let next = self
                .map
                .range(start + 1..)
                .next()
                .map_or(end, |(&k, _)| k)
                .min(end);
            let piece = bytes[(start - offset) as usize..(next - offset) as usize].to_vec();
            self.held += piece.len();
            self.map.insert(start, piece);
            start = next;
        }
        while self.held > self.capacity {
            let Some((k, v)) = self.map.pop_first() else {
                break;
            };
            self.held -= v.len();
            self.dropped_to = self.dropped_to.max(k + v.len() as u64);
            self.floor = self.floor.max(k + v.len() as u64);
        }
    }

    /// The contiguous octets from `from` up to `limit` (exclusive), possibly empty.
    pub fn read_contiguous(&self, from: u64, limit: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at;
        if let Some((&k, v)) = self.map.range(..=from).next_back() {
            let k_end = k + v.len() as u64;
            if k_end > from {
                let to = k_end.min(limit);
                if to > from {
                    out.extend_from_slice(&v[(from - k) as usize..(to - k) as usize]);
                }
                at = k_end;
            } else {
                return out;
            }
        } else {
            return out;
        }
        for (&k, v) in self.map.range(at..) {
            if k != at || at >= limit {
                break;
            }
            let to = (k + v.len() as u64).min(limit);
            out.extend_from_slice(&v[..(to - k) as usize]);
            at = k + v.len() as u64;
        }
        out
    }

    /// Forget everything below `offset` and refuse it from now on.
    pub fn trim_below(&mut self, offset: u64) {
        self.floor = self.floor.max(offset);
        while let Some((&k, v)) = self.map.first_key_value() {
            let k_end = k + v.len() as u64;
            if k >= offset {
                break;
            }
            let Some((_, v)) = self.map.pop_first() else {
                break;
            };
            self.held -= v.len();
            if k_end > offset {
                let rest = v[(offset - k) as usize..].to_vec();
                self.held += rest.len();
                self.map.insert(offset, rest);
                break;
            }
        }
    }

    /// Accept offsets from `offset` on again (after a restore to an earlier position).
    pub fn lower_floor(&mut self, offset: u64) {
        self.floor = self.floor.min(offset);
    }

    /// The parts of `range` not held.
    pub fn missing(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let mut holes = Vec::new();
        let mut at = range.start;
        if let Some((&k, v)) = self.map.range(..=at).next_back() {
            at = at.max(k + v.len() as u64);
        }
        for (&k, v) in self.map.range(range.start..range.end) {
            if k > at {
                holes.push(at..k.min(range.end));
            }
            at = at.max(k + v.len() as u64);
        }
        if at < range.end {
            holes.push(at..range.end);
        }
        holes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_reads_and_drops() {
        let mut r = RetainedStream::new(8);
        r.push(1, 0, b"abcd");
        r.push(2, 4, b"efgh");
        assert_eq!(r.read(2..6).as_deref(), Ok(&b"cdef"[..]));
        r.push(3, 6, b"ghij"); // overlap of 2, 2 new
        assert_eq!(r.end(), 10);
        assert_eq!(r.start(), 4);
        assert_eq!(r.read(0..2), Err(RetainedError::Dropped { oldest: 4 }));
        assert_eq!(r.read(8..11), Err(RetainedError::NotYet { end: 10 }));
        assert_eq!(r.read(4..10).as_deref(), Ok(&b"efghij"[..]));
        assert_eq!(r.arrival_of(9), Some(3));
        assert_eq!(r.arrival_of(5), Some(2));
    }

    #[test]
    fn offset_buffer_holes_overlaps_and_trim() {
        let mut b = OffsetBuffer::new(100);
        b.insert(10, b"klmn");
        b.insert(0, b"abc");
        assert_eq!(b.missing(0..14), vec![3..10]);
        b.insert(2, b"XdefghijkX"); // 2 and 10..12 already held: first copy kept
        assert_eq!(b.read_contiguous(0, 100), b"abcdefghijklmn".to_vec());
        assert_eq!(b.read_contiguous(1, 5), b"bcde".to_vec());
        assert!(b.missing(0..14).is_empty());
        assert_eq!(b.missing(0..20), vec![14..20]);
        b.trim_below(5);
        assert_eq!(b.first_offset(), Some(5));
        assert_eq!(b.read_contiguous(5, 100), b"fghijklmn".to_vec());
        b.insert(0, b"zzzzzzz"); // below the floor: ignored
        assert_eq!(b.held(), 9);
    }

    #[test]
    fn offset_buffer_bound_drops_lowest() {
        let mut b = OffsetBuffer::new(4);
        b.insert(0, b"ab");
        b.insert(2, b"cd");
        b.insert(4, b"ef");
        assert_eq!(b.dropped_to(), 2);
        assert_eq!(b.first_offset(), Some(2));
        assert_eq!(b.held(), 4);
    }
}
