//! Per-stream BGP message framing with OPEN-driven session contexts.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use ribsync::capture::{FlowKey, StreamEvent, StreamId};

use super::ContextOverrides;
use crate::wire::{self, Message, Open, SessionContext, HEADER_LEN};

/// The BGP marker (RFC 4271 section 4.1): 16 octets, all ones.
const MARKER: [u8; 16] = [0xff; 16];

/// What the [`SessionTracker`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapturedItem {
    /// One framed message, 19-octet header included, and the context to decode it with.
    /// When the header is invalid (RFC 4271 section 6.1) `bytes` holds the header alone:
    /// decoding it yields the session reset that the header error calls for, and the
    /// framer then resynchronises.
    Message {
        /// The direction it was sent in.
        stream: StreamId,
        /// Stream offset of its first octet.
        offset: u64,
        /// The message.
        bytes: Vec<u8>,
        /// The session context in force for this direction.
        context: SessionContext,
    },
    /// Stream octets that belong to no message: the tail of a message cut by a gap or by
    /// the end of the stream, or octets skipped while looking for the next marker.
    Skipped {
        /// The direction.
        stream: StreamId,
        /// The stream offsets skipped.
        range: Range<u64>,
    },
    /// Octets the capture never saw ([`StreamEvent::Gap`]).
    Gap {
        /// The direction.
        stream: StreamId,
        /// The missing stream offsets.
        range: Range<u64>,
    },
}

#[derive(Debug, Default)]
struct Framing {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Looking for the next marker before framing again.
    resync: bool,
}

/// Frames the byte streams of BGP connections into messages. Sans-IO: feed it the
/// reassembler's [`StreamEvent`]s, take the [`CapturedItem`]s.
#[derive(Debug, Default)]
pub struct SessionTracker {
    overrides: ContextOverrides,
    streams: BTreeMap<StreamId, Framing>,
    /// The last OPEN each side of a connection sent.
    opens: BTreeMap<FlowKey, BTreeMap<StreamId, Open>>,
    out: VecDeque<CapturedItem>,
}

impl SessionTracker {
    /// A tracker applying the operator's `overrides` to every context.
    pub fn new(overrides: ContextOverrides) -> Self {
        SessionTracker {
            overrides,
            ..Default::default()
        }
    }

    /// The next item, in stream order per direction.
    pub fn poll_item(&mut self) -> Option<CapturedItem> {
        self.out.pop_front()
    }

    /// The context in force for messages sent in `stream`: what the two OPENs of the
    /// connection negotiated, seen from the receiver (RFC 5492, RFC 7911 section 4), or the
    /// base context while either OPEN is missing; the overrides on top.
    pub fn context(&self, stream: StreamId) -> SessionContext {
        let opens = self.opens.get(&FlowKey::of(stream));
        let sender = opens.and_then(|o| o.get(&stream));
        let receiver = opens.and_then(|o| o.get(&stream.reverse()));
        match (sender, receiver) {
            (Some(remote), Some(local)) => {
                let ibgp = remote.asn() == local.asn();
                let mut ctx = SessionContext::negotiate(local, remote, ibgp);
                self.overrides.apply(&mut ctx);
                ctx
            }
            _ => self.overrides.base_context(),
        }
    }

    /// Processes one reassembler event.
    pub fn on_event(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Opened { stream, .. } => {
                // A new connection: no message or OPEN of an older one applies.
                self.streams.remove(&stream);
                if let Some(o) = self.opens.get_mut(&FlowKey::of(stream)) {
                    o.clear();
                }
            }
            StreamEvent::Data {
                stream,
                offset,
                bytes,
            } => {
                let f = self.streams.entry(stream).or_default();
                if f.buf.is_empty() {
                    f.offset = offset;
                }
                f.buf.extend_from_slice(&bytes);
                self.frame(stream);
            }
            StreamEvent::Gap { stream, range } => {
                self.cut(stream, range.end);
                self.out.push_back(CapturedItem::Gap { stream, range });
            }
            StreamEvent::Closed { stream, offset, .. } => {
                self.cut(stream, offset);
                self.streams.remove(&stream);
            }
            StreamEvent::Conflict { .. } => {}
        }
    }

    /// The stream stops being contiguous at the buffer's end: what is buffered can never
    /// complete a message. The stream goes on at `next` (after a gap), marker first.
    fn cut(&mut self, stream: StreamId, next: u64) {
        let f = self.streams.entry(stream).or_default();
        if !f.buf.is_empty() {
            let range = f.offset..f.offset + f.buf.len() as u64;
            self.out.push_back(CapturedItem::Skipped { stream, range });
            f.buf.clear();
        }
        f.offset = next;
        f.resync = true;
    }

    fn frame(&mut self, stream: StreamId) {
        loop {
            let ctx = self.context(stream);
            let Some(f) = self.streams.get_mut(&stream) else {
                return;
            };
            if f.resync {
                match find_marker(&f.buf) {
                    Some(p) => {
                        if p > 0 {
                            let range = f.offset..f.offset + p as u64;
                            self.out.push_back(CapturedItem::Skipped { stream, range });
                            f.buf.drain(..p);
                            f.offset += p as u64;
                        }
                        f.resync = false;
                    }
                    None => {
                        // Keep what could be the start of a marker.
                        let keep = f.buf.len().min(MARKER.len() - 1);
                        let drop = f.buf.len() - keep;
                        if drop > 0 {
                            let range = f.offset..f.offset + drop as u64;
                            self.out.push_back(CapturedItem::Skipped { stream, range });
                            f.buf.drain(..drop);
                            f.offset += drop as u64;
                        }
                        return;
                    }
                }
            }
            let len = match wire::frame(&f.buf, &ctx) {
                Ok(None) => return,
                Ok(Some(n)) if f.buf.len() < n => return,
                Ok(Some(n)) => n,
                Err(_) => {
                    // An invalid header: hand it over alone, then look for the next marker.
                    f.resync = true;
                    HEADER_LEN
                }
            };
            let bytes: Vec<u8> = f.buf.drain(..len).collect();
            let offset = f.offset;
            f.offset += len as u64;
            if bytes.get(18) == Some(&1) {
                if let Some(Message::Open(open)) = wire::decode_message(&bytes, &ctx).message {
                    self.opens
                        .entry(FlowKey::of(stream))
                        .or_default()
                        .insert(stream, open);
                }
            }
            self.out.push_back(CapturedItem::Message {
                stream,
                offset,
                bytes,
                context: ctx,
            });
        }
    }

    /// End of input: whatever is still buffered is reported skipped.
    pub fn finish(&mut self) {
        let streams: Vec<StreamId> = self.streams.keys().copied().collect();
        for s in streams {
            let next = self
                .streams
                .get(&s)
                .map_or(0, |f| f.offset + f.buf.len() as u64);
            self.cut(s, next);
        }
    }
}

fn find_marker(buf: &[u8]) -> Option<usize> {
    buf.windows(MARKER.len()).position(|w| w == MARKER)
}
