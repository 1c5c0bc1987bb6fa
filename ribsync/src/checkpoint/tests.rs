//! FIG. 4 state machine tests: explicit times, the toy key-value application on both sides.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use super::toy::{record, sample_static, KvLog};
use super::*;
use crate::ha::{NodeId, Priority};

fn flow(n: u8) -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 1], 179)),
        remote: SocketAddr::from(([198, 51, 100, n], 40000 + u16::from(n))),
    }
}

fn hello(node: u32, selection: FlowSelection) -> Hello {
    Hello {
        node: NodeId(node),
        priority: Priority(10),
        selection,
        endpoint: format!("192.0.2.{}:50051", 100 + node),
    }
}

struct Node {
    engine: StandbyEngine,
    app: KvLog,
    inbox: VecDeque<ToStandby>,
    outbox: VecDeque<ToPrimary>,
}

/// A primary and its standbys, with message queues the test delivers explicitly.
struct Net {
    primary: PrimaryEngine,
    app: KvLog,
    standbys: BTreeMap<NodeId, Node>,
    /// Mirror deliveries dropped for these nodes.
    mirror_blind: BTreeSet<NodeId>,
}

impl Net {
    fn new(config: PrimaryConfig, flows: &[FlowId]) -> Net {
        let mut app = KvLog::new(sample_static());
        for f in flows {
            app.open_flow(*f);
        }
        Net {
            primary: PrimaryEngine::new(config),
            app,
            standbys: BTreeMap::new(),
            mirror_blind: BTreeSet::new(),
        }
    }

    fn add_standby(&mut self, now: u64, h: Hello) {
        let node = h.node;
        let engine = StandbyEngine::new(StandbyConfig::default(), h.clone());
        self.standbys.insert(
            node,
            Node {
                engine,
                app: KvLog::default(),
                inbox: VecDeque::new(),
                outbox: VecDeque::new(),
            },
        );
        self.primary.attach(now, h, &self.app);
    }

    /// Primary: poll, then queue everything it sends.
    fn poll(&mut self, now: u64) {
        self.primary.poll(now, &self.app);
        self.collect();
    }

    fn collect(&mut self) {
        while let Some((node, msg)) = self.primary.poll_transmit() {
            if let Some(n) = self.standbys.get_mut(&node) {
                n.inbox.push_back(msg);
            }
        }
    }

    /// Deliver everything queued for `node`, queue its answers.
    fn deliver_standby(&mut self, now: u64, node: u32) {
        let n = self.standbys.get_mut(&NodeId(node)).expect("standby");
        while let Some(msg) = n.inbox.pop_front() {
            n.engine.handle(now, msg, &mut n.app).expect("handle");
        }
        n.engine.poll(now);
        while let Some(msg) = n.engine.poll_transmit() {
            n.outbox.push_back(msg);
        }
    }

    /// Deliver `node`'s answers to the primary.
    fn deliver_primary(&mut self, now: u64, node: u32) {
        let n = self.standbys.get_mut(&NodeId(node)).expect("standby");
        let msgs: Vec<ToPrimary> = n.outbox.drain(..).collect();
        for msg in msgs {
            self.primary.handle(now, NodeId(node), msg);
        }
        self.collect();
    }

    /// Full round trips until quiet.
    fn settle(&mut self, now: u64) {
        for _ in 0..8 {
            self.poll(now);
            let nodes: Vec<u32> = self.standbys.keys().map(|n| n.0).collect();
            for n in nodes {
                self.deliver_standby(now, n);
                self.deliver_primary(now, n);
            }
        }
    }

    /// Settle every 50 ms from `from` to `to` (heartbeats keep flowing).
    fn run(&mut self, from: u64, to: u64) {
        let mut t = from;
        while t <= to {
            self.settle(t);
            t += 50;
        }
    }

    /// The neighbour sends `bytes` on `f`: the primary consumes them, the mirror copies
    /// them to every standby that is not blind.
    fn ingest(&mut self, now: u64, f: FlowId, bytes: &[u8]) {
        let offset = self.app.received(&f);
        self.app
            .feed_peer_bytes(now, &f, offset, bytes)
            .expect("feed");
        self.primary.on_ingress(now, f, offset, bytes);
        self.collect();
        for (node, n) in self.standbys.iter_mut() {
            if !self.mirror_blind.contains(node) {
                n.engine
                    .on_mirror_ingress(now, f, offset, bytes, &mut n.app);
                while let Some(msg) = n.engine.poll_transmit() {
                    n.outbox.push_back(msg);
                }
            }
        }
    }

    fn inbox_kinds(&self, node: u32) -> Vec<&'static str> {
        self.standbys[&NodeId(node)]
            .inbox
            .iter()
            .map(|m| match m {
                ToStandby::Static { .. } => "static",
                ToStandby::Checkpoint { .. } => "checkpoint",
                ToStandby::FlowEnded { .. } => "ended",
                ToStandby::SyncDeclaration { .. } => "declaration",
                ToStandby::Maintenance { .. } => "maintenance",
                ToStandby::WriteAhead { .. } => "write-ahead",
                ToStandby::GapFill { .. } => "gap-fill",
                ToStandby::GapUnavailable { .. } => "gap-unavailable",
                ToStandby::Heartbeat { .. } => "heartbeat",
            })
            .collect()
    }

    fn checkpointed_flows(&self, node: u32) -> Vec<FlowId> {
        self.standbys[&NodeId(node)]
            .inbox
            .iter()
            .filter_map(|m| match m {
                ToStandby::Checkpoint { snapshot, .. } => Some(snapshot.flow),
                _ => None,
            })
            .collect()
    }

    fn synced(&self, node: u32) -> bool {
        self.standbys[&NodeId(node)].engine.is_synchronised()
    }

    fn view(&self, now: u64, node: u32) -> StandbyView {
        self.primary
            .standby_views(now)
            .into_iter()
            .find(|v| v.node == NodeId(node))
            .expect("view")
    }

    fn events(&mut self) -> Vec<PrimaryEvent> {
        std::iter::from_fn(|| self.primary.poll_event()).collect()
    }

    fn digests_equal(&self, node: u32, f: &FlowId) -> bool {
        let s = &self.standbys[&NodeId(node)].app;
        s.flow_digest(f).is_some() && s.flow_digest(f) == self.app.flow_digest(f)
    }
}

#[test]
fn acknowledgement_then_synchronisation_declaration() {
    let (a, b) = (flow(1), flow(2));
    let mut net = Net::new(PrimaryConfig::default(), &[a, b]);
    net.ingest(0, a, &record("10.0.0.0/8", "via 1"));
    net.add_standby(5, hello(1, FlowSelection::All));
    net.poll(5);
    assert_eq!(
        net.inbox_kinds(1),
        vec!["static", "heartbeat", "checkpoint", "checkpoint"]
    );
    net.deliver_standby(6, 1);
    assert!(!net.synced(1), "no synchronised before the declaration");
    // Only one acknowledgement arrives: no declaration yet.
    let n = net.standbys.get_mut(&NodeId(1)).expect("standby");
    let acks: Vec<ToPrimary> = n.outbox.drain(..).collect();
    let (first, rest): (Vec<_>, Vec<_>) = acks
        .into_iter()
        .filter(|m| matches!(m, ToPrimary::CheckpointAck { .. }))
        .enumerate()
        .partition(|(i, _)| *i == 0);
    for (_, m) in first {
        net.primary.handle(7, NodeId(1), m);
    }
    net.collect();
    assert!(!net.inbox_kinds(1).contains(&"declaration"));
    assert!(!net.primary.is_synchronised(NodeId(1)));
    for (_, m) in rest {
        net.primary.handle(8, NodeId(1), m);
    }
    net.collect();
    assert_eq!(net.inbox_kinds(1), vec!["declaration"]);
    assert!(net.primary.is_synchronised(NodeId(1)));
    net.deliver_standby(9, 1);
    assert!(net.synced(1));
    assert!(net.digests_equal(1, &a) && net.digests_equal(1, &b));
    assert!(net
        .events()
        .contains(&PrimaryEvent::StandbySynchronised { node: NodeId(1) }));
}

#[test]
fn timeout_before_acknowledgement_reoriginates_later() {
    let (a, b) = (flow(1), flow(2));
    let config = PrimaryConfig {
        reorigination_delay_ms: 50,
        ..Default::default()
    };
    let mut net = Net::new(config, &[a, b]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.poll(0);
    net.deliver_standby(1, 1);
    // A timer changes flow a on the primary before the acknowledgement arrives.
    net.primary.on_flow_change(2, a, FlowChange::Timeout);
    net.deliver_primary(3, 1);
    assert!(
        !net.inbox_kinds(1).contains(&"declaration"),
        "a's ack was stale"
    );
    assert_eq!(net.view(3, 1).checkpoints_voided, 1);
    assert!(net.events().contains(&PrimaryEvent::CheckpointVoided {
        node: NodeId(1),
        flow: a
    }));
    net.poll(51);
    assert!(net.checkpointed_flows(1).is_empty(), "not before the delay");
    net.poll(52);
    assert_eq!(
        net.checkpointed_flows(1),
        vec![a],
        "re-originated after 50 ms"
    );
    net.deliver_standby(53, 1);
    net.deliver_primary(54, 1);
    assert_eq!(net.inbox_kinds(1), vec!["declaration"]);
}

#[test]
fn traffic_voids_under_any_change_policy_but_not_when_mirrored() {
    let a = flow(1);
    for (policy, voided) in [(VoidPolicy::AnyChange, 1), (VoidPolicy::Unmirrored, 0)] {
        let config = PrimaryConfig {
            void_policy: policy,
            ..Default::default()
        };
        let mut net = Net::new(config, &[a]);
        net.ingest(0, a, &record("k", "1"));
        net.add_standby(0, hello(1, FlowSelection::All));
        net.poll(0);
        net.deliver_standby(1, 1);
        net.ingest(2, a, &record("k", "2")); // new traffic before the ack
        net.deliver_primary(3, 1);
        assert_eq!(net.view(3, 1).checkpoints_voided, voided, "{policy:?}");
        assert_eq!(net.primary.is_synchronised(NodeId(1)), voided == 0);
        net.settle(4);
        assert!(net.synced(1), "{policy:?}");
        assert!(net.digests_equal(1, &a), "{policy:?}");
        assert_eq!(
            net.standbys[&NodeId(1)].app.get(&a, "k").as_deref(),
            Some("2")
        );
    }
}

#[test]
fn flow_ended_before_acknowledgement_is_not_reoriginated() {
    let (a, b) = (flow(1), flow(2));
    let config = PrimaryConfig {
        void_policy: VoidPolicy::AnyChange,
        ..Default::default()
    };
    let mut net = Net::new(config, &[a, b]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.poll(0);
    net.deliver_standby(1, 1);
    net.app.close_flow(&a);
    net.primary.on_flow_change(2, a, FlowChange::Ended);
    net.collect();
    assert_eq!(net.inbox_kinds(1), vec!["ended"]);
    net.deliver_primary(3, 1); // acks for a (ignored) and b
    assert_eq!(net.inbox_kinds(1), vec!["ended", "declaration"]);
    assert_eq!(net.view(3, 1).checkpoints_voided, 0);
    net.poll(10);
    assert!(
        net.checkpointed_flows(1).is_empty(),
        "no re-origination of a"
    );
    net.deliver_standby(11, 1);
    assert!(net.synced(1));
    assert_eq!(net.standbys[&NodeId(1)].app.flows(), vec![b]);
}

#[test]
fn digest_mismatch_is_counted_and_recheckpoints_the_flow() {
    let (a, b) = (flow(1), flow(2));
    let mut net = Net::new(PrimaryConfig::default(), &[a, b]);
    net.ingest(0, a, &record("x", "1"));
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    assert!(net.synced(1));
    // Corrupt the standby's copy of a, same offsets, different content.
    let n = net.standbys.get_mut(&NodeId(1)).expect("standby");
    let mut bad = n.app.snapshot_flow(&a).expect("flow");
    let mut other = KvLog::default();
    other.open_flow(a);
    other
        .feed_peer_bytes(0, &a, 0, &record("x", "9"))
        .expect("feed");
    bad.state = other.snapshot_flow(&a).expect("flow").state;
    n.app.restore_flow(&bad).expect("restore");
    assert!(!net.digests_equal(1, &a));
    // The next maintenance checkpoint (interval 1000 ms after the declaration at 1).
    net.run(2, 1000);
    assert_eq!(
        net.view(1000, 1).digests_mismatched,
        0,
        "no maintenance before 1001"
    );
    net.poll(1001);
    assert!(net.inbox_kinds(1).contains(&"maintenance"));
    net.deliver_standby(1002, 1);
    net.deliver_primary(1003, 1);
    let v = net.view(1003, 1);
    assert_eq!((v.digests_matched, v.digests_mismatched), (1, 1));
    assert!(net.events().contains(&PrimaryEvent::DigestMismatch {
        node: NodeId(1),
        flow: a
    }));
    assert_eq!(net.standbys[&NodeId(1)].engine.digest_counts(), (1, 1, 0));
    net.poll(1003);
    assert_eq!(net.checkpointed_flows(1), vec![a], "a checkpointed again");
    net.settle(1004);
    assert!(net.digests_equal(1, &a));
    net.run(1010, 2010);
    let v = net.view(2010, 1);
    assert_eq!((v.digests_matched, v.digests_mismatched), (3, 1));
}

#[test]
fn late_standby_follows_the_mirror_from_the_checkpoint_offset() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    net.add_standby(0, hello(1, FlowSelection::All));
    // The mirror delivers a and half of the next record before the checkpoint arrives.
    net.ingest(1, a, &record("p", "1"));
    let r = record("q", "2");
    net.ingest(2, a, &r[..3]);
    net.poll(3); // checkpoint at consumed offset 5 (one whole record)
    net.ingest(4, a, &r[3..]);
    net.deliver_standby(5, 1);
    net.deliver_primary(6, 1);
    net.deliver_standby(7, 1);
    assert!(net.synced(1));
    assert!(net.digests_equal(1, &a));
    for i in 0..50 {
        net.ingest(10 + i, a, &record(&format!("k{i}"), "v"));
    }
    net.run(60, 1100);
    assert!(net.digests_equal(1, &a));
    assert!(net.view(1100, 1).digests_matched >= 1);
    assert_eq!(net.view(1100, 1).digests_mismatched, 0);
    assert_eq!(net.view(1100, 1).lag_bytes, 0);
}

#[test]
fn standbys_one_after_another_and_at_once_with_selective_backup() {
    let (a, b, c) = (flow(1), flow(2), flow(3));
    let mut net = Net::new(PrimaryConfig::default(), &[a, b, c]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    assert!(net.synced(1));
    // Two more at once; node 3 only backs up the neighbour of flow b.
    let only_b = FlowSelection::Neighbours([b.remote.ip()].into_iter().collect());
    net.add_standby(10, hello(2, FlowSelection::All));
    net.add_standby(10, hello(3, only_b));
    net.poll(10);
    assert_eq!(net.checkpointed_flows(2), vec![a, b, c]);
    assert_eq!(net.checkpointed_flows(3), vec![b]);
    assert!(net.checkpointed_flows(1).is_empty(), "node 1 undisturbed");
    net.settle(11);
    assert!(net.synced(2) && net.synced(3));
    assert_eq!(net.standbys[&NodeId(3)].app.flows(), vec![b]);
    for f in [a, b, c] {
        net.ingest(20, f, &record("r", "1"));
    }
    net.run(20, 1100);
    for node in 1..=3 {
        let v = net.view(1100, node);
        assert_eq!(v.digests_mismatched, 0);
        assert!(v.digests_matched >= 1);
    }
    let views = net.primary.flow_views();
    let vb = views.iter().find(|v| v.flow == b).expect("b");
    assert_eq!(vb.protected_by, vec![NodeId(1), NodeId(2), NodeId(3)]);
    let va = views.iter().find(|v| v.flow == a).expect("a");
    assert_eq!(va.protected_by, vec![NodeId(1), NodeId(2)]);
    let roster = net.primary.roster();
    assert_eq!(roster.len(), 3);
    assert!(roster.iter().all(|r| r.synchronised));
}

#[test]
fn write_ahead_waits_for_synchronised_standbys() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    let t = net.primary.write_ahead(0, a, 0, b"early");
    assert!(!t.must_wait, "no standby yet");
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    let t = net.primary.write_ahead(10, a, 5, b"batch-1");
    net.collect();
    assert!(t.must_wait);
    assert!(!net.primary.is_released(t.id));
    assert_eq!(net.inbox_kinds(1), vec!["write-ahead"]);
    net.deliver_standby(11, 1);
    net.deliver_primary(12, 1);
    assert!(net.primary.is_released(t.id));
    assert!(net
        .events()
        .contains(&PrimaryEvent::WriteAheadReleased { id: t.id }));
    assert_eq!(net.view(12, 1).write_ahead.last_ms, 2);
    // The standby holds it until the neighbour acknowledges it.
    let n = &net.standbys[&NodeId(1)];
    assert_eq!(
        n.engine.egress_backlog(&a),
        Some(EgressBacklog {
            offset: 0,
            bytes: Vec::new(),
            complete: false
        })
    );
    let n = net.standbys.get_mut(&NodeId(1)).expect("standby");
    n.engine.on_mirror_egress(a, 0, b"early");
    n.engine.on_peer_ack(a, 3);
    assert_eq!(
        n.engine.egress_backlog(&a),
        Some(EgressBacklog {
            offset: 3,
            bytes: b"lybatch-1".to_vec(),
            complete: true
        })
    );
    n.engine.on_peer_ack(a, 12);
    assert_eq!(
        n.engine.egress_backlog(&a).map(|b| b.bytes),
        Some(Vec::new())
    );
}

/// The primary's TCP context of flow `a` as a peek reads it: `queue` octets written and not
/// yet acknowledged, ending at sequence number `write_seq`.
fn peeked(write_seq: u32, queue: &[u8]) -> crate::takeover::TcpRepairState {
    use crate::takeover::{MssState, RepairWindow, SeqNum};
    let snd_una = SeqNum(write_seq.wrapping_sub(queue.len() as u32));
    crate::takeover::TcpRepairState {
        local: flow(1).local,
        remote: flow(1).remote,
        snd_una,
        snd_nxt: SeqNum(write_seq),
        write_seq: SeqNum(write_seq),
        rcv_nxt: SeqNum(5000),
        mss: MssState {
            peer: 1460,
            ours: 1460,
            effective: 1448,
        },
        window_scale: None,
        sack_permitted: true,
        timestamps: None,
        window: RepairWindow {
            snd_wl1: SeqNum(5000),
            snd_wnd: 65535,
            max_window: 65535,
            rcv_wnd: 65535,
            rcv_wup: SeqNum(5000),
        },
        send_queue: queue.to_vec(),
        recv_queue: Vec::new(),
        md5_key_ref: None,
        peeked_at_unix_us: 0,
    }
}

/// The checkpoint's TCP context comes from the primary's last socket peek, which may be
/// older than its last write (it peeks once a second). A standby that joins then must still
/// place the send queue at the neighbour's last ACK (by sequence number), and fetch what was
/// written after the peek from the primary. Before, the queue was placed to end at the
/// snapshot's egress offset: the backlog started `written since the peek` octets after the
/// neighbour's last ACK (the takeover refused the session: "the write-ahead starts 23 octets
/// after the neighbour's last ACK") and held the queue's octets at the wrong offsets.
#[test]
fn a_checkpoint_peeked_before_the_last_write_places_the_send_queue_by_sequence_number() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    let isn_plus_one = 0xffff_fff0_u32; // the sequence space wraps inside the stream
    net.app.set_anchor(
        a,
        SeqAnchor {
            peer_seq_at_zero: 5000,
            our_seq_at_zero: isn_plus_one,
        },
    );
    // 100 octets written; the neighbour acknowledged 90 of them when the primary peeked.
    let first: Vec<u8> = (0..100u8).collect();
    net.app.note_sent(&a, 100);
    net.primary.write_ahead(0, a, 0, &first);
    net.app
        .set_tcp(a, peeked(isn_plus_one.wrapping_add(100), &first[90..]));
    // Then a 23-octet message (an End-of-RIB) written after the peek.
    let eor = [0xeeu8; 23];
    net.app.note_sent(&a, 23);
    net.primary.write_ahead(1, a, 100, &eor);
    // The standby joins now; the neighbour sends nothing (no ACK on the mirror).
    net.add_standby(2, hello(1, FlowSelection::All));
    net.settle(3);
    let n = &net.standbys[&NodeId(1)];
    assert!(n.engine.is_synchronised());
    let mut expected = first[90..].to_vec();
    expected.extend_from_slice(&eor);
    assert_eq!(
        n.engine.egress_backlog(&a),
        Some(EgressBacklog {
            offset: 90,
            bytes: expected,
            complete: true
        })
    );
}

/// A flow's first octets are written before the application lists it as live (a BGP
/// session's OPEN and KEEPALIVE, before Established), and its checkpoint's TCP peek may
/// predate them (the primary peeks when it registers the connection, then once a second):
/// the standby asks for them, and the primary retained them from offset 0. Before, the
/// primary's poll ended the not-yet-live flow and dropped its retained octets, then
/// registered it again at its next write ("Egress octets 0..68 missed by the mirror: no
/// longer retained (oldest retained offset 68)"; 17 idle flows unprotected in the takeover
/// bench at 100 sessions).
#[test]
fn octets_written_before_a_flow_is_live_are_retained_for_the_standby() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[]);
    let isn_plus_one = 7000u32;
    let hello_octets: Vec<u8> = (0..68u8).collect();
    net.primary.write_ahead(0, a, 0, &hello_octets);
    // The application does not list the flow yet (not Established).
    net.poll(1);
    net.app.set_anchor(
        a,
        SeqAnchor {
            peer_seq_at_zero: 5000,
            our_seq_at_zero: isn_plus_one,
        },
    );
    net.app.set_tcp(a, peeked(isn_plus_one, &[]));
    net.app.note_sent(&a, 68);
    net.add_standby(2, hello(1, FlowSelection::All));
    net.settle(3);
    let n = &net.standbys[&NodeId(1)];
    let v = n.engine.flow_views();
    assert!(v[0].restored, "{v:?}");
    assert_eq!(v[0].unprotected, None);
    assert!(n.engine.is_synchronised());
    assert_eq!(
        n.engine.egress_backlog(&a),
        Some(EgressBacklog {
            offset: 0,
            bytes: hello_octets,
            complete: true
        })
    );
}

/// Egress octets the primary no longer retains (beyond `retained_bytes_per_stream`, e.g. a
/// full table written between two once-a-second TCP peeks) make a standby that joins then
/// ask for octets the primary cannot give. Once the mirror has shown the neighbour
/// acknowledging them they are never needed, and the flow stays protected. Without that
/// acknowledgement the flow is not protected.
#[test]
fn octets_the_neighbour_acknowledged_are_no_loss_when_the_primary_no_longer_has_them() {
    fn run(acked_on_mirror: bool) -> Option<String> {
        let a = flow(1);
        let config = PrimaryConfig {
            retained_bytes_per_stream: 16,
            ..Default::default()
        };
        let mut net = Net::new(config, &[a]);
        let isn_plus_one = 7000u32;
        net.app.set_anchor(
            a,
            SeqAnchor {
                peer_seq_at_zero: 5000,
                our_seq_at_zero: isn_plus_one,
            },
        );
        // The peek: nothing written yet. Then 68 octets written that the primary no longer
        // retains (beyond its 16 octets).
        net.app.set_tcp(a, peeked(isn_plus_one, &[]));
        net.app.note_sent(&a, 68);
        net.primary.write_ahead(0, a, 0, &[0x5a; 68]);
        net.add_standby(0, hello(1, FlowSelection::All));
        for t in 0..8 {
            net.poll(t);
            if acked_on_mirror {
                // The mirror's latest neighbour ACK is applied as soon as the flow is
                // restored (bgpd's driver does it on FlowRestored), before any reply.
                let n = net.standbys.get_mut(&NodeId(1)).expect("standby");
                n.engine.on_peer_ack(a, 68);
            }
            net.deliver_standby(t, 1);
            net.deliver_primary(t, 1);
        }
        let n = &net.standbys[&NodeId(1)];
        let v = n.engine.flow_views();
        assert!(v[0].restored, "{v:?}");
        v[0].unprotected.clone()
    }
    assert_eq!(run(true), None);
    let reason = run(false).expect("not protected without the neighbour's ACK");
    assert!(reason.contains("Egress octets 0..68"), "{reason}");
    assert!(reason.contains("no longer retained"), "{reason}");
}

/// A checkpoint's egress offset counts what the application has queued for the socket; the
/// connection's writer may not have handed all of it to the write-ahead yet (bgpd's core
/// queues a full table's UPDATEs faster than its writer writes them). A standby that joins
/// then asks for the octets between the checkpoint's TCP peek and that offset: the answer
/// waits until the writer has handed them over. Before, it was "not received yet" and the
/// flow stayed unprotected for good (the full-table demo: "Egress octets 57..73970 missed
/// by the mirror: not received yet (stream ends at 14921)", no lockstep).
#[test]
fn egress_octets_queued_but_not_yet_written_are_sent_once_written() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    let isn_plus_one = 7000u32;
    net.app.set_anchor(
        a,
        SeqAnchor {
            peer_seq_at_zero: 5000,
            our_seq_at_zero: isn_plus_one,
        },
    );
    // OPEN and KEEPALIVE written and acknowledged; the peek comes after them.
    let hello_octets = [0x11u8; 57];
    net.app.note_sent(&a, 57);
    net.primary.write_ahead(0, a, 0, &hello_octets);
    net.app
        .set_tcp(a, peeked(isn_plus_one.wrapping_add(57), &[]));
    // The application queues 300 octets of UPDATEs; the writer has handed over 100.
    let table: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    net.app.note_sent(&a, 300);
    net.primary.write_ahead(1, a, 57, &table[..100]);
    // The standby joins now: its checkpoint says 357 octets sent, the peek 57.
    net.add_standby(2, hello(1, FlowSelection::All));
    for t in 3..6 {
        net.settle(t);
    }
    assert_eq!(
        net.standbys[&NodeId(1)].engine.flow_views()[0].unprotected,
        None,
        "no answer yet, and no refusal"
    );
    // The writer hands over the rest: the answer goes out now.
    net.primary.write_ahead(6, a, 157, &table[100..]);
    net.collect();
    assert!(
        net.inbox_kinds(1).contains(&"gap-fill"),
        "{:?}",
        net.inbox_kinds(1)
    );
    net.settle(7);
    let n = &net.standbys[&NodeId(1)];
    assert_eq!(n.engine.flow_views()[0].unprotected, None);
    assert!(n.engine.is_synchronised());
    assert_eq!(
        n.engine.egress_backlog(&a),
        Some(EgressBacklog {
            offset: 57,
            bytes: table,
            complete: true
        })
    );
}

#[test]
fn write_ahead_timeout_releases_and_demotes() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    let t = net.primary.write_ahead(10, a, 0, b"x");
    assert!(t.must_wait);
    net.primary.handle(
        50,
        NodeId(1),
        ToPrimary::Heartbeat {
            now_ms: 50,
            consumed: vec![],
        },
    );
    net.poll(109);
    assert!(!net.primary.is_released(t.id));
    net.poll(110);
    assert!(net.primary.is_released(t.id));
    assert!(!net.primary.is_synchronised(NodeId(1)));
    assert!(net
        .events()
        .iter()
        .any(|e| matches!(e, PrimaryEvent::StandbyDemoted { node, .. } if *node == NodeId(1))));
    // The next heartbeat's roster tells the standby: it no longer reports synchronised
    // (so it is not eligible for takeover) until the primary declares it again.
    assert!(net.synced(1));
    net.primary.handle(
        150,
        NodeId(1),
        ToPrimary::Heartbeat {
            now_ms: 150,
            consumed: vec![],
        },
    );
    net.poll(210); // the first heartbeat after the demotion
    net.deliver_standby(210, 1);
    assert!(!net.synced(1));
    net.deliver_primary(211, 1);
    net.settle(212);
    assert!(net.synced(1), "re-checkpointed and declared again");
    let nw = PrimaryConfig {
        write_ahead: WriteAheadMode::NoWait,
        ..Default::default()
    };
    let mut net = Net::new(nw, &[a]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    let t = net.primary.write_ahead(10, a, 0, b"x");
    net.collect();
    assert!(!t.must_wait && net.primary.is_released(t.id));
    assert_eq!(net.inbox_kinds(1), vec!["write-ahead"], "still handed over");
}

#[test]
fn gap_fill_makes_the_flow_whole() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    let r1 = record("a", "1");
    let r2 = record("b", "2");
    net.ingest(2, a, &r1);
    net.mirror_blind.insert(NodeId(1));
    net.ingest(3, a, &r2); // the mirror misses r2
    net.mirror_blind.clear();
    assert!(
        net.standbys[&NodeId(1)].outbox.is_empty(),
        "nothing noticed yet"
    );
    net.ingest(4, a, &record("c", "3"));
    // The mirror delivers in order: the jump over r2 is a gap, asked at once.
    let start = r1.len() as u64;
    let gap = ToPrimary::GapRequest {
        flow: a,
        direction: StreamDirection::Ingress,
        range: start..start + r2.len() as u64,
    };
    assert_eq!(
        net.standbys[&NodeId(1)].outbox.iter().collect::<Vec<_>>(),
        vec![&gap]
    );
    assert!(!net.digests_equal(1, &a));
    assert_eq!(net.view(5, 1).gap_fill_bytes, 0);
    net.deliver_primary(5, 1);
    assert_eq!(net.inbox_kinds(1), vec!["gap-fill"]);
    assert_eq!(net.view(5, 1).gap_fill_bytes, r2.len() as u64);
    net.deliver_standby(6, 1);
    assert!(net.digests_equal(1, &a));
    assert_eq!(
        net.standbys[&NodeId(1)].app.get(&a, "c").as_deref(),
        Some("3")
    );

    // A missed tail is only noticed when the primary's ACK is seen past it.
    let before = net.app.received(&a);
    net.mirror_blind.insert(NodeId(1));
    net.ingest(7, a, &record("d", "4"));
    net.mirror_blind.clear();
    let end = net.app.received(&a);
    let n = net.standbys.get_mut(&NodeId(1)).expect("standby");
    n.outbox.clear();
    n.engine.on_primary_ack(a, end);
    let tail = ToPrimary::GapRequest {
        flow: a,
        direction: StreamDirection::Ingress,
        range: before..end,
    };
    assert_eq!(n.engine.poll_transmit(), Some(tail.clone()));
    n.engine.on_primary_ack(a, end);
    assert_eq!(n.engine.poll_transmit(), None, "asked once");
    n.outbox.push_back(tail);
    net.deliver_primary(8, 1);
    net.deliver_standby(9, 1);
    assert!(net.digests_equal(1, &a));
    assert_eq!(
        net.standbys[&NodeId(1)].app.get(&a, "d").as_deref(),
        Some("4")
    );
}

/// The mirror saw the primary's kernel acknowledge octets (the standby asks for them, the
/// mirror did not show them) that the primary's application has not read yet: the answer
/// waits until it has, instead of "not received yet", which left the flow unprotected for
/// good (100 sessions under load: 45 keepalive flows never protected, no lockstep).
#[test]
fn octets_the_primary_has_not_read_yet_are_sent_once_it_has() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    let r1 = record("a", "1");
    net.ingest(2, a, &r1);
    let start = net.app.received(&a);
    // The neighbour sent r2; the primary's kernel acknowledged it (seen on the mirror), the
    // mirror lost the segment, the application has not read it.
    let r2 = record("b", "2");
    let end = start + r2.len() as u64;
    let n = net.standbys.get_mut(&NodeId(1)).expect("standby");
    n.engine.on_primary_ack(a, end);
    let gap = ToPrimary::GapRequest {
        flow: a,
        direction: StreamDirection::Ingress,
        range: start..end,
    };
    assert_eq!(n.engine.poll_transmit(), Some(gap.clone()));
    n.outbox.push_back(gap);
    net.deliver_primary(3, 1);
    assert_eq!(net.inbox_kinds(1), Vec::<&str>::new(), "no answer yet");
    // The application reads r2 (the mirror stays blind): the answer goes out now.
    net.mirror_blind.insert(NodeId(1));
    net.ingest(4, a, &r2);
    net.mirror_blind.clear();
    assert_eq!(net.inbox_kinds(1), vec!["gap-fill"]);
    net.deliver_standby(5, 1);
    assert!(net.digests_equal(1, &a));
    assert!(net.standbys[&NodeId(1)].engine.flow_views()[0]
        .unprotected
        .is_none());
    assert_eq!(net.view(6, 1).gap_fill_bytes, r2.len() as u64);
}

#[test]
fn gap_beyond_the_retained_buffer_leaves_the_flow_unprotected() {
    let a = flow(1);
    let config = PrimaryConfig {
        retained_bytes_per_stream: 16,
        ..Default::default()
    };
    let mut net = Net::new(config, &[a]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    net.mirror_blind.insert(NodeId(1));
    for i in 0..10 {
        net.ingest(2, a, &record(&format!("k{i}"), "v"));
    }
    net.mirror_blind.clear();
    let end = net.app.received(&a);
    let n = net.standbys.get_mut(&NodeId(1)).expect("standby");
    n.engine.on_primary_ack(a, end);
    net.deliver_standby(3, 1);
    net.deliver_primary(4, 1);
    assert_eq!(net.inbox_kinds(1), vec!["gap-unavailable"]);
    net.deliver_standby(5, 1);
    net.deliver_primary(6, 1);
    let sv = net.standbys[&NodeId(1)].engine.flow_views();
    let reason = sv[0].unprotected.clone().expect("unprotected");
    assert!(reason.contains("no longer retained"), "{reason}");
    let fv = net.primary.flow_views();
    assert!(!fv[0].protected());
    assert!(fv[0].unprotected_reasons[0].contains("no longer retained"));
}

#[test]
fn periodic_mode_health_monitoring_decides_sync() {
    let a = flow(1);
    let config = PrimaryConfig {
        mode: SyncMode::Periodic,
        ..Default::default()
    };
    let mut net = Net::new(config, &[a]);
    net.ingest(0, a, &record("k", "1"));
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    assert!(!net.synced(1), "first periodic checkpoint only adopts");
    assert!(!net.inbox_kinds(1).contains(&"declaration"));
    net.run(1, 450);
    net.ingest(500, a, &record("k", "2"));
    net.run(501, 1001);
    assert!(net.synced(1), "the second one matched");
    assert!(net.primary.is_synchronised(NodeId(1)));
    let v = net.view(1001, 1);
    assert_eq!((v.digests_matched, v.digests_mismatched), (1, 0));
    // The standby's mirror misses a record: mismatch at the next period, then repaired.
    net.run(1051, 1451);
    net.mirror_blind.insert(NodeId(1));
    net.ingest(1500, a, &record("k", "3"));
    net.mirror_blind.clear();
    net.run(1501, 2001);
    assert_eq!(
        net.view(2001, 1).digests_skipped,
        2,
        "first adoption, then behind"
    );
    assert!(!net.synced(1), "health monitoring: not in sync");
    net.run(2051, 4001);
    assert!(net.digests_equal(1, &a));
    assert!(net.synced(1));
}

#[test]
fn silent_standby_is_dropped_and_releases_write_ahead() {
    let a = flow(1);
    let mut net = Net::new(PrimaryConfig::default(), &[a]);
    net.add_standby(0, hello(1, FlowSelection::All));
    net.settle(1);
    let t = net.primary.write_ahead(250, a, 0, b"x");
    assert!(t.must_wait);
    net.poll(301);
    assert!(net.primary.is_released(t.id));
    assert!(net
        .events()
        .iter()
        .any(|e| matches!(e, PrimaryEvent::StandbyLost { node, .. } if *node == NodeId(1))));
    assert!(net.primary.roster().is_empty());
}
