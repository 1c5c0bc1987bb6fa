//! The connection table: both directions of every TCP connection seen.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use super::stream::{CloseReason, HalfStream, StreamEvent, StreamId};
use super::TcpSegment;

/// A connection, named by its two endpoints in a canonical order (lower address first),
/// so that both directions map to the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    /// The lower of the two endpoints.
    pub lo: SocketAddr,
    /// The higher of the two endpoints.
    pub hi: SocketAddr,
}

impl FlowKey {
    /// The key of the connection that carries `stream`.
    pub fn of(stream: StreamId) -> FlowKey {
        if stream.src <= stream.dst {
            FlowKey {
                lo: stream.src,
                hi: stream.dst,
            }
        } else {
            FlowKey {
                lo: stream.dst,
                hi: stream.src,
            }
        }
    }
}

/// Tuning of the [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblerConfig {
    /// Octets buffered out of order per direction before the oldest hole is given up
    /// (declared a [`StreamEvent::Gap`]).
    pub max_buffered_per_stream: usize,
    /// Declare a gap as soon as the receiver acknowledges octets the capture never saw:
    /// the sender will not retransmit them (RFC 9293 section 3.10.7.4: acknowledged data
    /// is removed from the retransmission queue), so waiting is useless. Off by default,
    /// because a mirror may deliver the ACK before the data it acknowledges.
    pub gap_on_peer_ack: bool,
}

impl Default for ReassemblerConfig {
    fn default() -> Self {
        ReassemblerConfig {
            max_buffered_per_stream: 8 * 1024 * 1024,
            gap_on_peer_ack: false,
        }
    }
}

/// Both directions of one connection.
#[derive(Debug, Clone)]
pub struct Flow {
    /// From [`FlowKey::lo`] to [`FlowKey::hi`].
    pub lo_to_hi: HalfStream,
    /// From [`FlowKey::hi`] to [`FlowKey::lo`].
    pub hi_to_lo: HalfStream,
}

impl Flow {
    fn new(key: FlowKey) -> Self {
        Flow {
            lo_to_hi: HalfStream::new(StreamId {
                src: key.lo,
                dst: key.hi,
            }),
            hi_to_lo: HalfStream::new(StreamId {
                src: key.hi,
                dst: key.lo,
            }),
        }
    }

    /// The direction whose sender is `src`.
    pub fn half(&self, src: SocketAddr) -> &HalfStream {
        if self.lo_to_hi.id().src == src {
            &self.lo_to_hi
        } else {
            &self.hi_to_lo
        }
    }

    fn halves_mut(&mut self, src: SocketAddr) -> (&mut HalfStream, &mut HalfStream) {
        if self.lo_to_hi.id().src == src {
            (&mut self.lo_to_hi, &mut self.hi_to_lo)
        } else {
            (&mut self.hi_to_lo, &mut self.lo_to_hi)
        }
    }
}

/// Sans-IO TCP stream reassembly for a passive observer (a mirror port or a capture file).
///
/// Feed every captured segment with [`Reassembler::push`], then take the
/// [`StreamEvent`]s with [`Reassembler::poll_event`]. Per direction of every connection it
/// delivers the byte stream in order, exactly once: out-of-order segments are buffered,
/// retransmissions and overlaps are delivered once (first copy wins, differing overlaps
/// are reported), sequence numbers wrap around modulo 2^32, SYN fixes the stream's start
/// and FIN its end (each occupying one sequence number, RFC 9293 section 3.4), RST aborts
/// the connection. Octets that will never come are reported as gaps. The ACK numbers each
/// side sent are kept per direction ([`HalfStream::acked_offset`]). Nothing here reads a
/// clock or a socket.
#[derive(Debug, Default)]
pub struct Reassembler {
    config: ReassemblerConfig,
    flows: BTreeMap<FlowKey, Flow>,
    events: VecDeque<StreamEvent>,
}

impl Reassembler {
    /// A reassembler with the given tuning.
    pub fn new(config: ReassemblerConfig) -> Self {
        Reassembler {
            config,
            flows: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Processes one captured segment.
    pub fn push(&mut self, seg: &TcpSegment<'_>) {
        let id = StreamId {
            src: seg.src,
            dst: seg.dst,
        };
        let key = FlowKey::of(id);
        let max = self.config.max_buffered_per_stream;
        let flow = self.flows.entry(key).or_insert_with(|| Flow::new(key));
        if seg.flags.rst {
            // RFC 9293 section 3.10.7: a RST aborts the connection in both directions.
            // (An observer cannot check the RST against the receiver's window.)
            flow.lo_to_hi.on_reset(&mut self.events);
            flow.hi_to_lo.on_reset(&mut self.events);
            return;
        }
        let (this, _) = flow.halves_mut(seg.src);
        if this.on_segment(seg, max, &mut self.events).is_err() {
            // A new connection on the same 4-tuple: finish the old one, start afresh.
            for half in [&mut flow.lo_to_hi, &mut flow.hi_to_lo] {
                half.flush(&mut self.events);
                if half.state() == super::HalfState::Open {
                    self.events.push_back(StreamEvent::Closed {
                        stream: half.id(),
                        offset: half.next_offset(),
                        reason: CloseReason::Superseded,
                    });
                }
            }
            *flow = Flow::new(key);
            let (this, _) = flow.halves_mut(seg.src);
            // A fresh stream accepts any SYN.
            let _ = this.on_segment(seg, max, &mut self.events);
        }
        if let Some(ack) = seg.ack {
            let (_, other) = flow.halves_mut(seg.src);
            if other.on_peer_ack(ack) && self.config.gap_on_peer_ack {
                if let Some(acked) = other.acked_offset() {
                    other.skip_to(acked, &mut self.events);
                }
            }
        }
    }

    /// The next event, in the order things happened; `None` when there is none pending.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// End of input (end of a capture file): delivers everything still buffered, declaring
    /// the holes gaps. Streams stay open; more segments may follow.
    pub fn flush(&mut self) {
        for flow in self.flows.values_mut() {
            flow.lo_to_hi.flush(&mut self.events);
            flow.hi_to_lo.flush(&mut self.events);
        }
    }

    /// The state of one direction, if its connection was seen.
    pub fn stream(&self, id: StreamId) -> Option<&HalfStream> {
        self.flows.get(&FlowKey::of(id)).map(|f| f.half(id.src))
    }

    /// Forgets the connections whose both directions are closed.
    pub fn remove_closed(&mut self) {
        self.flows.retain(|_, f| {
            f.lo_to_hi.state() == super::HalfState::Open
                || f.hi_to_lo.state() == super::HalfState::Open
        });
    }

    /// Every connection seen, in key order.
    pub fn flows(&self) -> impl Iterator<Item = (&FlowKey, &Flow)> {
        self.flows.iter()
    }
}
