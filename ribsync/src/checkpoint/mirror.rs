//! From the mirror's sequence numbers to the engine's stream offsets.
//!
//! The tap sees TCP sequence numbers (RFC 9293 section 3.4); the checkpoint protocol
//! speaks stream offsets from the first data octet. A flow's [`SeqAnchor`] arrives with its
//! checkpoint; until then the [`MirrorMapper`] holds what the mirror delivered (bounded),
//! then hands everything over as [`MirrorInput`]s for the [`super::StandbyEngine`].

use std::collections::BTreeMap;

use super::app::{FlowId, SeqAnchor};

/// One input for the standby engine, in stream offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorInput {
    /// Neighbour-to-primary octets: [`super::StandbyEngine::on_mirror_ingress`].
    Ingress {
        /// The flow.
        flow: FlowId,
        /// Stream offset of `bytes[0]`.
        offset: u64,
        /// The octets.
        bytes: Vec<u8>,
    },
    /// Primary-to-neighbour octets: [`super::StandbyEngine::on_mirror_egress`].
    Egress {
        /// The flow.
        flow: FlowId,
        /// Stream offset of `bytes[0]`.
        offset: u64,
        /// The octets.
        bytes: Vec<u8>,
    },
    /// The neighbour acknowledged egress up to here: [`super::StandbyEngine::on_peer_ack`].
    PeerAck {
        /// The flow.
        flow: FlowId,
        /// First egress offset not acknowledged.
        acked_to: u64,
    },
    /// The primary acknowledged ingress up to here:
    /// [`super::StandbyEngine::on_primary_ack`].
    PrimaryAck {
        /// The flow.
        flow: FlowId,
        /// First ingress offset not acknowledged.
        acked_to: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Data { from_primary: bool },
    Ack { from_primary: bool },
}

#[derive(Debug, Default)]
struct MappedFlow {
    anchor: Option<SeqAnchor>,
    held: Vec<(Held, u32, Vec<u8>)>,
    held_bytes: usize,
    dropped: bool,
    last_ingress: u64,
    last_egress: u64,
}

/// Sequence-number to offset mapping for every flow on the mirror.
#[derive(Debug)]
pub struct MirrorMapper {
    flows: BTreeMap<FlowId, MappedFlow>,
    capacity_per_flow: usize,
}

impl MirrorMapper {
    /// A mapper holding at most `capacity_per_flow` octets per flow before its anchor is
    /// known (older octets are dropped first; gap fill recovers them).
    pub fn new(capacity_per_flow: usize) -> Self {
        MirrorMapper {
            flows: BTreeMap::new(),
            capacity_per_flow,
        }
    }

    /// True when octets were dropped from the hold of `flow` for want of an anchor.
    pub fn dropped(&self, flow: &FlowId) -> bool {
        self.flows.get(flow).is_some_and(|f| f.dropped)
    }

    /// Octets seen on the mirror: `from_primary` tells the direction; `seq` is the
    /// sequence number of `bytes[0]`.
    pub fn on_data(
        &mut self,
        flow: FlowId,
        from_primary: bool,
        seq: u32,
        bytes: &[u8],
    ) -> Vec<MirrorInput> {
        let cap = self.capacity_per_flow;
        let f = self.flows.entry(flow).or_default();
        match f.anchor {
            Some(anchor) => f
                .map(flow, anchor, Held::Data { from_primary }, seq, bytes)
                .into_iter()
                .collect(),
            None => {
                f.held
                    .push((Held::Data { from_primary }, seq, bytes.to_vec()));
                f.held_bytes += bytes.len();
                while f.held_bytes > cap && !f.held.is_empty() {
                    let (_, _, b) = f.held.remove(0);
                    f.held_bytes -= b.len();
                    f.dropped = true;
                }
                Vec::new()
            }
        }
    }

    /// An acknowledgement seen on the mirror: `from_primary` when the primary sent it (it
    /// acknowledges ingress), otherwise the neighbour did (it acknowledges egress).
    pub fn on_ack(&mut self, flow: FlowId, from_primary: bool, ack: u32) -> Option<MirrorInput> {
        let f = self.flows.entry(flow).or_default();
        match f.anchor {
            Some(anchor) => f.map(flow, anchor, Held::Ack { from_primary }, ack, &[]),
            None => {
                // Only the latest acknowledgement per direction matters.
                f.held.retain(|(h, _, _)| *h != Held::Ack { from_primary });
                f.held.push((Held::Ack { from_primary }, ack, Vec::new()));
                None
            }
        }
    }

    /// The flow's checkpoint arrived with `anchor`: everything held, in stream offsets.
    pub fn set_anchor(
        &mut self,
        flow: FlowId,
        anchor: SeqAnchor,
        near_ingress: u64,
        near_egress: u64,
    ) -> Vec<MirrorInput> {
        let f = self.flows.entry(flow).or_default();
        f.anchor = Some(anchor);
        f.last_ingress = near_ingress;
        f.last_egress = near_egress;
        let held = std::mem::take(&mut f.held);
        f.held_bytes = 0;
        held.into_iter()
            .filter_map(|(kind, seq, bytes)| f.map(flow, anchor, kind, seq, &bytes))
            .collect()
    }

    /// Forget a flow that ended.
    pub fn remove(&mut self, flow: &FlowId) {
        self.flows.remove(flow);
    }
}

impl MappedFlow {
    fn map(
        &mut self,
        flow: FlowId,
        anchor: SeqAnchor,
        kind: Held,
        seq: u32,
        bytes: &[u8],
    ) -> Option<MirrorInput> {
        // Data from the primary and ACKs from the neighbour live in egress sequence space.
        let egress = matches!(
            kind,
            Held::Data { from_primary: true }
                | Held::Ack {
                    from_primary: false
                }
        );
        let (zero, near) = if egress {
            (anchor.our_seq_at_zero, self.last_egress)
        } else {
            (anchor.peer_seq_at_zero, self.last_ingress)
        };
        // Before offset 0 (e.g. the SYN or a stale segment): nothing to map.
        let offset = SeqAnchor::offset_of(seq, zero, near)?;
        if egress {
            self.last_egress = self.last_egress.max(offset);
        } else {
            self.last_ingress = self.last_ingress.max(offset);
        }
        Some(match kind {
            Held::Data { from_primary: true } => MirrorInput::Egress {
                flow,
                offset,
                bytes: bytes.to_vec(),
            },
            Held::Data {
                from_primary: false,
            } => MirrorInput::Ingress {
                flow,
                offset,
                bytes: bytes.to_vec(),
            },
            Held::Ack { from_primary: true } => MirrorInput::PrimaryAck {
                flow,
                acked_to: offset,
            },
            Held::Ack {
                from_primary: false,
            } => MirrorInput::PeerAck {
                flow,
                acked_to: offset,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowId {
        FlowId {
            local: "192.0.2.1:179".parse().expect("addr"),
            remote: "198.51.100.2:40001".parse().expect("addr"),
        }
    }

    #[test]
    fn holds_until_anchor_then_maps_across_wrap() {
        let mut m = MirrorMapper::new(1024);
        let f = flow();
        // The neighbour's data starts at 0xffff_fff0 (offset 0); ours at 1000.
        assert!(m.on_data(f, false, 0xffff_fff8, b"abcdefgh").is_empty());
        assert!(m.on_ack(f, true, 0xffff_fffc).is_none());
        assert!(m.on_ack(f, true, 0x0000_0000).is_none()); // supersedes the previous ACK
        let anchor = SeqAnchor {
            peer_seq_at_zero: 0xffff_fff0,
            our_seq_at_zero: 1000,
        };
        let out = m.set_anchor(f, anchor, 0, 0);
        assert_eq!(
            out,
            vec![
                MirrorInput::Ingress {
                    flow: f,
                    offset: 8,
                    bytes: b"abcdefgh".to_vec()
                },
                MirrorInput::PrimaryAck {
                    flow: f,
                    acked_to: 16
                },
            ]
        );
        // After the wrap: sequence 0x10 is offset 0x20.
        assert_eq!(
            m.on_data(f, false, 0x10, b"z"),
            vec![MirrorInput::Ingress {
                flow: f,
                offset: 0x20,
                bytes: b"z".to_vec()
            }]
        );
        assert_eq!(
            m.on_data(f, true, 1005, b"out"),
            vec![MirrorInput::Egress {
                flow: f,
                offset: 5,
                bytes: b"out".to_vec()
            }]
        );
        assert_eq!(
            m.on_ack(f, false, 1008),
            Some(MirrorInput::PeerAck {
                flow: f,
                acked_to: 8
            })
        );
        // A segment before offset 0 (the SYN's sequence number) maps to nothing.
        assert_eq!(m.on_data(f, true, 999, b"x"), vec![]);
    }

    #[test]
    fn hold_is_bounded() {
        let mut m = MirrorMapper::new(4);
        let f = flow();
        m.on_data(f, false, 0, b"ab");
        m.on_data(f, false, 2, b"cd");
        assert!(!m.dropped(&f));
        m.on_data(f, false, 4, b"ef");
        assert!(m.dropped(&f));
        let out = m.set_anchor(
            f,
            SeqAnchor {
                peer_seq_at_zero: 0,
                our_seq_at_zero: 0,
            },
            0,
            0,
        );
        assert_eq!(out.len(), 2);
    }
}
