//! Engine messages <-> `proto/ribsync.proto` messages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proto::ribsync as pb;

use super::TransportError;
use crate::checkpoint::{
    DigestOutcome, FlowDigest, FlowId, FlowSelection, FlowSnapshot, Hello, SeqAnchor,
    StaticContext, StreamDirection, StreamOffsets, SyncMode, ToPrimary, ToStandby,
};
use crate::ha::{NodeId, Priority, RosterEntry};
use crate::takeover::{
    MssState, RepairWindow, SeqNum, TcpRepairState, TimestampState, TsClock, WindowScale,
};

fn missing(what: &'static str) -> TransportError {
    TransportError::Malformed(what)
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn ip_from(b: &[u8]) -> Result<IpAddr, TransportError> {
    match b.len() {
        4 => {
            let o: [u8; 4] = b.try_into().map_err(|_| missing("IPv4 address"))?;
            Ok(IpAddr::V4(Ipv4Addr::from(o)))
        }
        16 => {
            let o: [u8; 16] = b.try_into().map_err(|_| missing("IPv6 address"))?;
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => Err(missing("IP address of 4 or 16 octets")),
    }
}

fn sock(a: SocketAddr) -> pb::SocketAddress {
    pb::SocketAddress {
        ip: ip_bytes(a.ip()),
        port: u32::from(a.port()),
    }
}

fn sock_from(a: Option<pb::SocketAddress>) -> Result<SocketAddr, TransportError> {
    let a = a.ok_or(missing("socket address"))?;
    let port = u16::try_from(a.port).map_err(|_| missing("port below 65536"))?;
    Ok(SocketAddr::new(ip_from(&a.ip)?, port))
}

fn flow(f: FlowId) -> Option<pb::FlowId> {
    Some(pb::FlowId {
        local: Some(sock(f.local)),
        remote: Some(sock(f.remote)),
    })
}

fn flow_from(f: Option<pb::FlowId>) -> Result<FlowId, TransportError> {
    let f = f.ok_or(missing("flow"))?;
    Ok(FlowId {
        local: sock_from(f.local)?,
        remote: sock_from(f.remote)?,
    })
}

fn digest_from(b: &[u8]) -> Result<[u8; 32], TransportError> {
    b.try_into().map_err(|_| missing("digest of 32 octets"))
}

fn dir(d: StreamDirection) -> i32 {
    match d {
        StreamDirection::Ingress => pb::Direction::Ingress as i32,
        StreamDirection::Egress => pb::Direction::Egress as i32,
    }
}

fn dir_from(d: i32) -> Result<StreamDirection, TransportError> {
    match pb::Direction::try_from(d) {
        Ok(pb::Direction::Ingress) => Ok(StreamDirection::Ingress),
        Ok(pb::Direction::Egress) => Ok(StreamDirection::Egress),
        Err(_) => Err(missing("direction")),
    }
}

fn u16_from(v: u32, what: &'static str) -> Result<u16, TransportError> {
    u16::try_from(v).map_err(|_| missing(what))
}

fn u8_from(v: u32, what: &'static str) -> Result<u8, TransportError> {
    u8::try_from(v).map_err(|_| missing(what))
}

fn tcp(t: &TcpRepairState) -> pb::TcpState {
    pb::TcpState {
        local: Some(sock(t.local)),
        remote: Some(sock(t.remote)),
        snd_una: t.snd_una.0,
        snd_nxt: t.snd_nxt.0,
        write_seq: t.write_seq.0,
        rcv_nxt: t.rcv_nxt.0,
        mss_peer: u32::from(t.mss.peer),
        mss_ours: u32::from(t.mss.ours),
        mss_effective: u32::from(t.mss.effective),
        window_scale: t.window_scale.is_some(),
        wscale_ours: t.window_scale.map_or(0, |w| u32::from(w.ours)),
        wscale_peer: t.window_scale.map_or(0, |w| u32::from(w.peer)),
        sack_permitted: t.sack_permitted,
        timestamps: t.timestamps.is_some(),
        ts_micros: t.timestamps.is_some_and(|ts| ts.clock == TsClock::Micros),
        tsval: t.timestamps.map_or(0, |ts| ts.tsval),
        snd_wl1: t.window.snd_wl1.0,
        snd_wnd: t.window.snd_wnd,
        max_window: t.window.max_window,
        rcv_wnd: t.window.rcv_wnd,
        rcv_wup: t.window.rcv_wup.0,
        send_queue: t.send_queue.clone(),
        recv_queue: t.recv_queue.clone(),
        md5_key_ref: t.md5_key_ref.clone().unwrap_or_default(),
        peeked_at_unix_us: t.peeked_at_unix_us,
    }
}

fn tcp_from(t: pb::TcpState) -> Result<TcpRepairState, TransportError> {
    Ok(TcpRepairState {
        local: sock_from(t.local)?,
        remote: sock_from(t.remote)?,
        snd_una: SeqNum(t.snd_una),
        snd_nxt: SeqNum(t.snd_nxt),
        write_seq: SeqNum(t.write_seq),
        rcv_nxt: SeqNum(t.rcv_nxt),
        mss: MssState {
            peer: u16_from(t.mss_peer, "MSS")?,
            ours: u16_from(t.mss_ours, "MSS")?,
            effective: u16_from(t.mss_effective, "MSS")?,
        },
        window_scale: if t.window_scale {
            Some(WindowScale {
                ours: u8_from(t.wscale_ours, "window scale")?,
                peer: u8_from(t.wscale_peer, "window scale")?,
            })
        } else {
            None
        },
        sack_permitted: t.sack_permitted,
        timestamps: t.timestamps.then_some(TimestampState {
            clock: if t.ts_micros {
                TsClock::Micros
            } else {
                TsClock::Millis
            },
            tsval: t.tsval,
        }),
        window: RepairWindow {
            snd_wl1: SeqNum(t.snd_wl1),
            snd_wnd: t.snd_wnd,
            max_window: t.max_window,
            rcv_wnd: t.rcv_wnd,
            rcv_wup: SeqNum(t.rcv_wup),
        },
        send_queue: t.send_queue,
        recv_queue: t.recv_queue,
        md5_key_ref: (!t.md5_key_ref.is_empty()).then_some(t.md5_key_ref),
        peeked_at_unix_us: t.peeked_at_unix_us,
    })
}

fn snapshot(s: &FlowSnapshot) -> pb::FlowSnapshot {
    pb::FlowSnapshot {
        flow: flow(s.flow),
        consumed_from_peer: s.offsets.consumed_from_peer,
        sent_to_peer: s.offsets.sent_to_peer,
        anchor: s.anchor.map(|a| pb::SeqAnchor {
            peer_seq_at_zero: a.peer_seq_at_zero,
            our_seq_at_zero: a.our_seq_at_zero,
        }),
        state: s.state.clone(),
        tcp: s.tcp.as_ref().map(tcp),
        digest: s.digest.to_vec(),
    }
}

fn snapshot_from(s: pb::FlowSnapshot) -> Result<FlowSnapshot, TransportError> {
    Ok(FlowSnapshot {
        flow: flow_from(s.flow)?,
        offsets: StreamOffsets {
            consumed_from_peer: s.consumed_from_peer,
            sent_to_peer: s.sent_to_peer,
        },
        anchor: s.anchor.map(|a| SeqAnchor {
            peer_seq_at_zero: a.peer_seq_at_zero,
            our_seq_at_zero: a.our_seq_at_zero,
        }),
        state: s.state,
        tcp: s.tcp.map(tcp_from).transpose()?,
        digest: digest_from(&s.digest)?,
    })
}

fn roster(r: &RosterEntry) -> pb::RosterEntry {
    pb::RosterEntry {
        node_id: r.node.0,
        priority: u32::from(r.priority.0),
        synchronised: r.synchronised,
        endpoint: r.endpoint.clone(),
    }
}

fn roster_from(r: pb::RosterEntry) -> Result<RosterEntry, TransportError> {
    Ok(RosterEntry {
        node: NodeId(r.node_id),
        priority: Priority(u8_from(r.priority, "priority")?),
        synchronised: r.synchronised,
        endpoint: r.endpoint,
    })
}

/// A standby's introduction on the wire.
pub fn hello_to_pb(h: &Hello) -> pb::StandbyMessage {
    let neighbours = match &h.selection {
        FlowSelection::All => Vec::new(),
        FlowSelection::Neighbours(set) => set.iter().map(|ip| ip_bytes(*ip)).collect(),
    };
    pb::StandbyMessage {
        body: Some(pb::standby_message::Body::Hello(pb::Hello {
            node_id: h.node.0,
            priority: u32::from(h.priority.0),
            neighbours,
            endpoint: h.endpoint.clone(),
        })),
    }
}

/// A standby's introduction from the wire.
///
/// # Errors
/// [`TransportError::Malformed`] on out-of-range fields.
pub fn hello_from_pb(h: pb::Hello) -> Result<Hello, TransportError> {
    let selection = if h.neighbours.is_empty() {
        FlowSelection::All
    } else {
        FlowSelection::Neighbours(
            h.neighbours
                .iter()
                .map(|b| ip_from(b))
                .collect::<Result<_, _>>()?,
        )
    };
    Ok(Hello {
        node: NodeId(h.node_id),
        priority: Priority(u8_from(h.priority, "priority")?),
        selection,
        endpoint: h.endpoint,
    })
}

/// The identifier of a write-ahead batch, when `m` is one (read without converting the
/// message, so the stream's reader can acknowledge it as it arrives).
pub fn write_ahead_id(m: &pb::PrimaryMessage) -> Option<u64> {
    match &m.body {
        Some(pb::primary_message::Body::WriteAhead(w)) => Some(w.id),
        _ => None,
    }
}

/// Primary to standby, to the wire.
pub fn to_standby_pb(m: &ToStandby) -> pb::PrimaryMessage {
    use pb::primary_message::Body;
    let body = match m {
        ToStandby::Static { context, mode } => Body::StaticCheckpoint(pb::StaticCheckpoint {
            config: context.config.clone(),
            router_id: context
                .router_id
                .map_or(Vec::new(), |r| r.octets().to_vec()),
            addresses: context.addresses.iter().map(|a| ip_bytes(*a)).collect(),
            rng_seeds: context.rng_seeds.clone(),
            clock_base_ms: context.clock_base_ms,
            mode: match mode {
                SyncMode::Acknowledged => pb::SyncMode::Acknowledged as i32,
                SyncMode::Periodic => pb::SyncMode::Periodic as i32,
            },
        }),
        ToStandby::Checkpoint {
            seq,
            ack_requested,
            snapshot: s,
        } => Body::Checkpoint(pb::FlowCheckpoint {
            seq: *seq,
            ack_requested: *ack_requested,
            snapshot: Some(snapshot(s)),
        }),
        ToStandby::FlowEnded { flow: f } => Body::FlowEnded(pb::FlowEnded { flow: flow(*f) }),
        ToStandby::SyncDeclaration { flows } => Body::SyncDeclaration(pb::SyncDeclaration {
            flows: flows.iter().filter_map(|f| flow(*f)).collect(),
        }),
        ToStandby::Maintenance { digests } => Body::Maintenance(pb::Maintenance {
            digests: digests
                .iter()
                .map(|d| pb::FlowDigest {
                    flow: flow(d.flow),
                    consumed_from_peer: d.consumed_from_peer,
                    digest: d.digest.to_vec(),
                })
                .collect(),
        }),
        ToStandby::WriteAhead {
            id,
            flow: f,
            offset,
            bytes,
        } => Body::WriteAhead(pb::WriteAhead {
            id: *id,
            flow: flow(*f),
            offset: *offset,
            bytes: bytes.clone(),
        }),
        ToStandby::GapFill {
            flow: f,
            direction,
            offset,
            bytes,
        } => Body::GapFill(pb::GapFill {
            flow: flow(*f),
            direction: dir(*direction),
            offset: *offset,
            bytes: bytes.clone(),
        }),
        ToStandby::GapUnavailable {
            flow: f,
            direction,
            range,
            reason,
        } => Body::GapUnavailable(pb::GapUnavailable {
            flow: flow(*f),
            direction: dir(*direction),
            start: range.start,
            end: range.end,
            reason: reason.clone(),
        }),
        ToStandby::Heartbeat { now_ms, roster: r } => Body::Heartbeat(pb::PrimaryHeartbeat {
            now_ms: *now_ms,
            roster: r.iter().map(roster).collect(),
        }),
    };
    pb::PrimaryMessage { body: Some(body) }
}

/// Primary to standby, from the wire.
///
/// # Errors
/// [`TransportError::Malformed`] on missing or out-of-range fields.
pub fn to_standby_from_pb(m: pb::PrimaryMessage) -> Result<ToStandby, TransportError> {
    use pb::primary_message::Body;
    Ok(match m.body.ok_or(missing("message body"))? {
        Body::StaticCheckpoint(s) => ToStandby::Static {
            context: StaticContext {
                config: s.config,
                router_id: if s.router_id.is_empty() {
                    None
                } else {
                    let o: [u8; 4] = s
                        .router_id
                        .as_slice()
                        .try_into()
                        .map_err(|_| missing("router id of 4 octets"))?;
                    Some(Ipv4Addr::from(o))
                },
                addresses: s
                    .addresses
                    .iter()
                    .map(|a| ip_from(a))
                    .collect::<Result<_, _>>()?,
                rng_seeds: s.rng_seeds,
                clock_base_ms: s.clock_base_ms,
            },
            mode: match pb::SyncMode::try_from(s.mode) {
                Ok(pb::SyncMode::Periodic) => SyncMode::Periodic,
                Ok(pb::SyncMode::Acknowledged) => SyncMode::Acknowledged,
                Err(_) => return Err(missing("sync mode")),
            },
        },
        Body::Checkpoint(c) => ToStandby::Checkpoint {
            seq: c.seq,
            ack_requested: c.ack_requested,
            snapshot: Box::new(snapshot_from(c.snapshot.ok_or(missing("snapshot"))?)?),
        },
        Body::FlowEnded(e) => ToStandby::FlowEnded {
            flow: flow_from(e.flow)?,
        },
        Body::SyncDeclaration(d) => ToStandby::SyncDeclaration {
            flows: d
                .flows
                .into_iter()
                .map(|f| flow_from(Some(f)))
                .collect::<Result<_, _>>()?,
        },
        Body::Maintenance(m) => ToStandby::Maintenance {
            digests: m
                .digests
                .into_iter()
                .map(|d| {
                    Ok(FlowDigest {
                        flow: flow_from(d.flow)?,
                        consumed_from_peer: d.consumed_from_peer,
                        digest: digest_from(&d.digest)?,
                    })
                })
                .collect::<Result<_, TransportError>>()?,
        },
        Body::WriteAhead(w) => ToStandby::WriteAhead {
            id: w.id,
            flow: flow_from(w.flow)?,
            offset: w.offset,
            bytes: w.bytes,
        },
        Body::GapFill(g) => ToStandby::GapFill {
            flow: flow_from(g.flow)?,
            direction: dir_from(g.direction)?,
            offset: g.offset,
            bytes: g.bytes,
        },
        Body::GapUnavailable(g) => ToStandby::GapUnavailable {
            flow: flow_from(g.flow)?,
            direction: dir_from(g.direction)?,
            range: g.start..g.end,
            reason: g.reason,
        },
        Body::Heartbeat(h) => ToStandby::Heartbeat {
            now_ms: h.now_ms,
            roster: h
                .roster
                .into_iter()
                .map(roster_from)
                .collect::<Result<_, _>>()?,
        },
        // Read by the driver itself (`handover_from_pb`), never by the engine.
        Body::Handover(_) => return Err(TransportError::Malformed("handover for the engine")),
    })
}

/// A planned switchover's handover (`proto/ribsync.proto` `Handover`): the primary stepped
/// down; `node` takes over now with the sessions' TCP states as the primary left them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The standby that takes over.
    pub node: NodeId,
    /// Its checkpoint endpoint (host:port), which every other node attaches to.
    pub endpoint: String,
    /// Each session's TCP state, peeked after the primary's last write.
    pub tcp: Vec<TcpRepairState>,
}

/// A handover, for the wire.
pub fn handover_to_pb(h: &Handover) -> pb::PrimaryMessage {
    pb::PrimaryMessage {
        body: Some(pb::primary_message::Body::Handover(pb::Handover {
            node_id: h.node.0,
            endpoint: h.endpoint.clone(),
            tcp: h.tcp.iter().map(tcp).collect(),
        })),
    }
}

/// A handover from the wire; `Ok(None)` when `m` is another message.
///
/// # Errors
/// [`TransportError::Malformed`] on a TCP state out of range.
pub fn handover_from_pb(m: &pb::PrimaryMessage) -> Result<Option<Handover>, TransportError> {
    let Some(pb::primary_message::Body::Handover(h)) = &m.body else {
        return Ok(None);
    };
    Ok(Some(Handover {
        node: NodeId(h.node_id),
        endpoint: h.endpoint.clone(),
        tcp: h
            .tcp
            .iter()
            .cloned()
            .map(tcp_from)
            .collect::<Result<_, _>>()?,
    }))
}

/// Standby to primary, to the wire.
pub fn to_primary_pb(m: &ToPrimary) -> pb::StandbyMessage {
    use pb::standby_message::Body;
    let body = match m {
        ToPrimary::CheckpointAck {
            seq,
            flow: f,
            fed_to,
        } => Body::CheckpointAck(pb::CheckpointAck {
            seq: *seq,
            flow: flow(*f),
            fed_to: *fed_to,
        }),
        ToPrimary::DigestReport { results } => Body::DigestReport(pb::DigestReport {
            results: results
                .iter()
                .map(|(f, o)| pb::DigestResult {
                    flow: flow(*f),
                    outcome: match o {
                        DigestOutcome::Matched => pb::Outcome::Matched as i32,
                        DigestOutcome::Mismatched { .. } => pb::Outcome::Mismatched as i32,
                        DigestOutcome::Skipped => pb::Outcome::Skipped as i32,
                    },
                    standby_digest: match o {
                        DigestOutcome::Mismatched { standby } => standby.to_vec(),
                        _ => Vec::new(),
                    },
                })
                .collect(),
        }),
        ToPrimary::WriteAheadAck { id } => Body::WriteAheadAck(pb::WriteAheadAck { id: *id }),
        ToPrimary::GapRequest {
            flow: f,
            direction,
            range,
        } => Body::GapRequest(pb::GapRequest {
            flow: flow(*f),
            direction: dir(*direction),
            start: range.start,
            end: range.end,
        }),
        ToPrimary::FlowUnprotected { flow: f, reason } => {
            Body::FlowUnprotected(pb::FlowUnprotected {
                flow: flow(*f),
                reason: reason.clone(),
            })
        }
        ToPrimary::Heartbeat { now_ms, consumed } => Body::Heartbeat(pb::StandbyHeartbeat {
            now_ms: *now_ms,
            consumed: consumed
                .iter()
                .map(|(f, o)| pb::FlowOffset {
                    flow: flow(*f),
                    offset: *o,
                })
                .collect(),
        }),
    };
    pb::StandbyMessage { body: Some(body) }
}

/// Standby to primary, from the wire (a Hello is not a [`ToPrimary`]: `Ok(None)`).
///
/// # Errors
/// [`TransportError::Malformed`] on missing or out-of-range fields.
pub fn to_primary_from_pb(m: pb::StandbyMessage) -> Result<Option<ToPrimary>, TransportError> {
    use pb::standby_message::Body;
    Ok(Some(match m.body.ok_or(missing("message body"))? {
        Body::Hello(_) => return Ok(None),
        Body::CheckpointAck(a) => ToPrimary::CheckpointAck {
            seq: a.seq,
            flow: flow_from(a.flow)?,
            fed_to: a.fed_to,
        },
        Body::DigestReport(r) => ToPrimary::DigestReport {
            results: r
                .results
                .into_iter()
                .map(|d| {
                    let outcome = match pb::Outcome::try_from(d.outcome) {
                        Ok(pb::Outcome::Matched) => DigestOutcome::Matched,
                        Ok(pb::Outcome::Mismatched) => DigestOutcome::Mismatched {
                            standby: digest_from(&d.standby_digest)?,
                        },
                        Ok(pb::Outcome::Skipped) => DigestOutcome::Skipped,
                        Err(_) => return Err(missing("digest outcome")),
                    };
                    Ok((flow_from(d.flow)?, outcome))
                })
                .collect::<Result<_, TransportError>>()?,
        },
        Body::WriteAheadAck(a) => ToPrimary::WriteAheadAck { id: a.id },
        Body::GapRequest(g) => ToPrimary::GapRequest {
            flow: flow_from(g.flow)?,
            direction: dir_from(g.direction)?,
            range: g.start..g.end,
        },
        Body::FlowUnprotected(u) => ToPrimary::FlowUnprotected {
            flow: flow_from(u.flow)?,
            reason: u.reason,
        },
        Body::Heartbeat(h) => ToPrimary::Heartbeat {
            now_ms: h.now_ms,
            consumed: h
                .consumed
                .into_iter()
                .map(|c| Ok((flow_from(c.flow)?, c.offset)))
                .collect::<Result<_, TransportError>>()?,
        },
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::checkpoint::toy::sample_static;

    fn f() -> FlowId {
        FlowId {
            local: "192.0.2.1:179".parse().unwrap(),
            remote: "[2001:db8::2]:40001".parse().unwrap(),
        }
    }

    fn tcp_state() -> TcpRepairState {
        TcpRepairState {
            local: "192.0.2.1:179".parse().unwrap(),
            remote: "198.51.100.2:40001".parse().unwrap(),
            snd_una: SeqNum(1),
            snd_nxt: SeqNum(5),
            write_seq: SeqNum(9),
            rcv_nxt: SeqNum(0xffff_fff0),
            mss: MssState {
                peer: 1460,
                ours: 1448,
                effective: 1436,
            },
            window_scale: Some(WindowScale { ours: 7, peer: 9 }),
            sack_permitted: true,
            timestamps: Some(TimestampState {
                clock: TsClock::Micros,
                tsval: 77,
            }),
            window: RepairWindow {
                snd_wl1: SeqNum(3),
                snd_wnd: 65535,
                max_window: 70000,
                rcv_wnd: 64000,
                rcv_wup: SeqNum(4),
            },
            send_queue: b"12345678".to_vec(),
            recv_queue: b"ab".to_vec(),
            md5_key_ref: Some("peer-key".into()),
            peeked_at_unix_us: 123,
        }
    }

    #[test]
    fn every_primary_message_round_trips() {
        let snap = FlowSnapshot {
            flow: f(),
            offsets: StreamOffsets {
                consumed_from_peer: 10,
                sent_to_peer: 20,
            },
            anchor: Some(SeqAnchor {
                peer_seq_at_zero: 1,
                our_seq_at_zero: 2,
            }),
            state: b"state".to_vec(),
            tcp: Some(tcp_state()),
            digest: [7; 32],
        };
        let msgs = vec![
            ToStandby::Static {
                context: sample_static(),
                mode: SyncMode::Periodic,
            },
            ToStandby::Checkpoint {
                seq: 3,
                ack_requested: true,
                snapshot: Box::new(snap),
            },
            ToStandby::FlowEnded { flow: f() },
            ToStandby::SyncDeclaration { flows: vec![f()] },
            ToStandby::Maintenance {
                digests: vec![FlowDigest {
                    flow: f(),
                    consumed_from_peer: 5,
                    digest: [1; 32],
                }],
            },
            ToStandby::WriteAhead {
                id: 9,
                flow: f(),
                offset: 4,
                bytes: b"x".to_vec(),
            },
            ToStandby::GapFill {
                flow: f(),
                direction: StreamDirection::Egress,
                offset: 4,
                bytes: b"y".to_vec(),
            },
            ToStandby::GapUnavailable {
                flow: f(),
                direction: StreamDirection::Ingress,
                range: 1..2,
                reason: "gone".into(),
            },
            ToStandby::Heartbeat {
                now_ms: 5,
                roster: vec![RosterEntry {
                    node: NodeId(2),
                    priority: Priority(3),
                    synchronised: true,
                    endpoint: "192.0.2.2:1".into(),
                }],
            },
        ];
        for m in msgs {
            assert_eq!(to_standby_from_pb(to_standby_pb(&m)).unwrap(), m);
        }
    }

    #[test]
    fn every_standby_message_round_trips() {
        let msgs = vec![
            ToPrimary::CheckpointAck {
                seq: 1,
                flow: f(),
                fed_to: 2,
            },
            ToPrimary::DigestReport {
                results: vec![
                    (f(), DigestOutcome::Matched),
                    (f(), DigestOutcome::Mismatched { standby: [3; 32] }),
                    (f(), DigestOutcome::Skipped),
                ],
            },
            ToPrimary::WriteAheadAck { id: 4 },
            ToPrimary::GapRequest {
                flow: f(),
                direction: StreamDirection::Ingress,
                range: 5..6,
            },
            ToPrimary::FlowUnprotected {
                flow: f(),
                reason: "r".into(),
            },
            ToPrimary::Heartbeat {
                now_ms: 7,
                consumed: vec![(f(), 8)],
            },
        ];
        for m in msgs {
            assert_eq!(to_primary_from_pb(to_primary_pb(&m)).unwrap(), Some(m));
        }
        let h = Hello {
            node: NodeId(4),
            priority: Priority(200),
            selection: FlowSelection::Neighbours(["2001:db8::2".parse().unwrap()].into()),
            endpoint: "192.0.2.4:50051".into(),
        };
        let Some(pb::standby_message::Body::Hello(pbh)) = hello_to_pb(&h).body else {
            panic!("not a hello");
        };
        assert_eq!(hello_from_pb(pbh).unwrap(), h);
    }

    #[test]
    fn handover_round_trips_and_is_not_an_engine_message() {
        let h = Handover {
            node: NodeId(2),
            endpoint: "192.0.2.2:50052".into(),
            tcp: vec![tcp_state()],
        };
        let m = handover_to_pb(&h);
        assert_eq!(handover_from_pb(&m).unwrap(), Some(h));
        assert!(to_standby_from_pb(m).is_err());
        let hb = to_standby_pb(&ToStandby::Heartbeat {
            now_ms: 1,
            roster: vec![],
        });
        assert_eq!(handover_from_pb(&hb).unwrap(), None);
    }

    #[test]
    fn malformed_fields_are_errors_not_panics() {
        let m = pb::PrimaryMessage {
            body: Some(pb::primary_message::Body::FlowEnded(pb::FlowEnded {
                flow: Some(pb::FlowId {
                    local: Some(pb::SocketAddress {
                        ip: vec![1, 2, 3],
                        port: 179,
                    }),
                    remote: None,
                }),
            })),
        };
        assert!(to_standby_from_pb(m).is_err());
        assert!(to_standby_from_pb(pb::PrimaryMessage { body: None }).is_err());
    }
}
