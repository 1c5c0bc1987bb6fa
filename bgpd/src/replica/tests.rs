//! Two speakers: a primary fed by a harness playing the neighbour, and a standby restored
//! from the primary's checkpoint then fed the same bytes from the checkpoint's offset.

use super::*;
use std::net::SocketAddr;

#[path = "../../tests/harness/messages.rs"]
mod messages;

/// The neighbour's OPEN (hold time 90 s).
fn peer_open() -> Vec<u8> {
    messages::peer_open(90, &[])
}

/// An UPDATE of 10.a.b.0/24.
fn update(a: u8, b: u8, withdraw: bool) -> Vec<u8> {
    messages::update(a, b, 24, withdraw)
}

const CONFIG: &str = "router_id = \"192.0.2.1\"\nlocal_as = 65001\n\
    [policy.policies.all]\ndefault = \"accept\"\n\
    [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65002\n\
    local_address = \"192.0.2.1\"\nimport = [\"all\"]\nexport = [\"all\"]\n";

fn flow() -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 1], 179)),
        remote: SocketAddr::from(([192, 0, 2, 2], 40_000)),
    }
}

/// The neighbour's stream: OPEN, KEEPALIVE, then `n` announcements and some withdrawals.
fn stream(n: u8) -> Vec<u8> {
    let mut s = peer_open();
    s.extend_from_slice(&crate::wire::keepalive::KEEPALIVE);
    for i in 0..n {
        s.extend_from_slice(&update(i, i.wrapping_mul(7), false));
        if i % 5 == 4 {
            s.extend_from_slice(&update(i - 2, (i - 2).wrapping_mul(7), true));
        }
    }
    s
}

/// A primary with the flow bound on incoming connection 1, confirmed at t = 10 ms.
fn primary() -> SpeakerReplica {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let speaker = Speaker::new(Millis(0), config, 42).expect("speaker");
    let mut r = SpeakerReplica::new(speaker, 42, 1_700_000_000_000);
    let peer = r
        .speaker()
        .peer_by_address([192, 0, 2, 2].into())
        .expect("peer");
    let conn = ConnId::incoming(1);
    r.bind_flow(flow(), peer, conn);
    r.speaker_mut().handle(
        Millis(10),
        Input::ConnectionConfirmed {
            peer,
            conn,
            local_address: [192, 0, 2, 1].into(),
        },
    );
    r.drain_outputs();
    r
}

/// Feeds `bytes` in chunks of `chunk` octets (cutting messages anywhere), one ms apart.
fn feed_primary(r: &mut SpeakerReplica, t0: u64, bytes: &[u8], chunk: usize) -> u64 {
    let mut t = t0;
    for c in bytes.chunks(chunk) {
        r.receive(Millis(t), &flow(), c).expect("receive");
        r.drain_outputs();
        t += 1;
    }
    t
}

fn standby_from(p: &SpeakerReplica) -> (SpeakerReplica, FlowSnapshot) {
    // A standby that starts with an unrelated configuration: the static context replaces it.
    let other = "router_id = \"198.51.100.9\"\nlocal_as = 64999\n";
    let speaker =
        Speaker::new(Millis(0), Config::from_toml_str(other).expect("cfg"), 1).expect("speaker");
    let mut s = SpeakerReplica::new(speaker, 1, 0);
    s.import_static(&p.export_static()).expect("static");
    let snap = p.snapshot_flow(&flow()).expect("snapshot");
    s.restore_flow(&snap).expect("restore");
    (s, snap)
}

#[test]
fn flows_are_established_sessions_and_offsets_stop_at_message_boundaries() {
    let mut p = primary();
    assert!(p.flows().is_empty(), "not Established yet");
    let s = stream(3);
    let open_len = peer_open().len();
    // Half of the OPEN: nothing consumed.
    feed_primary(&mut p, 20, &s[..open_len / 2], 1000);
    assert_eq!(p.flow_offsets(&flow()).expect("flow").consumed_from_peer, 0);
    feed_primary(&mut p, 30, &s[open_len / 2..open_len + 19], 1000);
    assert_eq!(p.flows(), vec![flow()]);
    let u0 = update(0, 0, false).len();
    // The first UPDATE but its last octet: the offset stays after the KEEPALIVE.
    feed_primary(&mut p, 40, &s[open_len + 19..open_len + 19 + u0 - 1], 1000);
    let o = p.flow_offsets(&flow()).expect("flow");
    assert_eq!(o.consumed_from_peer, (open_len + 19) as u64);
    assert_eq!(p.speaker().rib().loc_rib().len(), 0);
    feed_primary(
        &mut p,
        50,
        &s[open_len + 19 + u0 - 1..open_len + 19 + u0],
        1000,
    );
    assert_eq!(
        p.flow_offsets(&flow()).expect("flow").consumed_from_peer,
        (open_len + 19 + u0) as u64
    );
    assert_eq!(p.speaker().rib().loc_rib().len(), 1);
    assert_eq!(p.note_sent(&flow(), 29), Some(0));
    assert_eq!(p.note_sent(&flow(), 19), Some(29));
    assert_eq!(p.flow_offsets(&flow()).expect("flow").sent_to_peer, 48);
}

#[test]
fn standby_restored_mid_stream_reaches_the_primary_digests() {
    let mut p = primary();
    let s = stream(40);
    // The checkpoint is taken with part of a message received but not consumed.
    let cut = s.len() / 2 + 3;
    let t = feed_primary(&mut p, 20, &s[..cut], 37);
    let static_ctx = p.export_static();
    assert_eq!(static_ctx.rng_seeds, vec![42]);
    assert_eq!(static_ctx.addresses, vec![IpAddr::from([192, 0, 2, 1])]);
    let (mut sb, snap) = standby_from(&p);
    let at = snap.offsets.consumed_from_peer;
    assert!(
        at < cut as u64,
        "a partial message is not in the checkpoint"
    );
    assert_eq!(sb.flow_digest(&flow()), Some(snap.digest));
    assert_eq!(sb.flow_offsets(&flow()), Some(snap.offsets));
    assert_eq!(sb.state_digest(), p.state_digest());
    assert!(sb.speaker().rib().loc_rib().len() > 5);

    // The rest of the stream: the standby gets it from the checkpoint's offset on (the
    // mirror), in a different segmentation, at the same instants per message boundary.
    let more = {
        let mut m = s[cut..].to_vec();
        for i in 0..20u8 {
            m.extend_from_slice(&update(100 + i, i, false));
        }
        m.extend_from_slice(&update(101, 1, true));
        m
    };
    // Same bytes and same clock on both nodes: one call each, at the same instant.
    p.receive(Millis(t), &flow(), &more).expect("primary");
    p.drain_outputs();
    let mut rest = s[at as usize..cut].to_vec();
    rest.extend_from_slice(&more);
    sb.feed_peer_bytes(t, &flow(), at, &rest).expect("standby");
    sb.drain_outputs();

    assert_eq!(sb.flow_offsets(&flow()), p.flow_offsets(&flow()));
    assert_eq!(sb.flow_digest(&flow()), p.flow_digest(&flow()));
    assert_eq!(sb.state_digest(), p.state_digest());
    assert_eq!(sb.speaker().rib().loc_rib(), p.speaker().rib().loc_rib());
    assert_eq!(p.speaker().rib().loc_rib().len(), 40 - 8 + 20 - 1);
}

#[test]
fn different_bytes_give_different_digests_and_holes_are_refused() {
    let mut p = primary();
    let s = stream(10);
    let t = feed_primary(&mut p, 20, &s, 64);
    let (mut sb, snap) = standby_from(&p);
    let at = snap.offsets.consumed_from_peer;
    assert_eq!(at, s.len() as u64);
    // A hole: refused, nothing consumed.
    let err = sb
        .feed_peer_bytes(t, &flow(), at + 1, &update(1, 1, false))
        .expect_err("hole");
    assert!(
        matches!(err, ReplicaError::Offset { got, expected } if got == at + 1 && expected == at)
    );
    // The primary and the standby see different UPDATEs: the digests part.
    p.receive(Millis(t), &flow(), &update(50, 1, false))
        .expect("p");
    sb.feed_peer_bytes(t, &flow(), at, &update(50, 2, false))
        .expect("s");
    assert_eq!(sb.flow_offsets(&flow()), p.flow_offsets(&flow()));
    assert_ne!(sb.flow_digest(&flow()), p.flow_digest(&flow()));
    assert_ne!(sb.state_digest(), p.state_digest());
}

#[test]
fn bad_checkpoints_are_refused() {
    let mut p = primary();
    feed_primary(&mut p, 20, &stream(2), 500);
    let (mut sb, mut snap) = standby_from(&p);
    snap.state.truncate(snap.state.len() / 2);
    assert!(matches!(
        sb.restore_flow(&snap),
        Err(ReplicaError::Decode(_))
    ));
    let mut ctx = p.export_static();
    ctx.config = b"not toml [".to_vec();
    assert!(matches!(
        sb.import_static(&ctx),
        Err(ReplicaError::Config(_))
    ));
    // A failed import leaves the node as it was: the restored flow is still there.
    assert_eq!(sb.flow_digest(&flow()), p.flow_digest(&flow()));
    let other = FlowId {
        local: flow().local,
        remote: SocketAddr::from(([192, 0, 2, 2], 40_001)),
    };
    assert!(matches!(
        sb.feed_peer_bytes(0, &other, 0, b"x"),
        Err(ReplicaError::UnknownFlow(f)) if f == other
    ));
}

#[test]
fn a_standby_fed_later_on_its_own_clock_keeps_the_flow_digest() {
    let mut p = primary();
    let s = stream(12);
    let cut = s.len() / 2;
    let t = feed_primary(&mut p, 20, &s[..cut], 41);
    let (mut sb, snap) = standby_from(&p);
    let at = snap.offsets.consumed_from_peer;
    // The primary gets the rest at t; the standby's engine clock started at Unix time
    // base - 5000 and it sees the same octets 3 ms later (its now_ms = t + 3 + 5000).
    p.receive(Millis(t), &flow(), &s[cut..]).expect("primary");
    p.drain_outputs();
    let base = p.clock_base_ms();
    assert_eq!(sb.clock_base_ms(), base, "imported with the static context");
    sb.set_feed_clock_origin(base - 5000);
    sb.feed_peer_bytes(t + 3 + 5000, &flow(), at, &s[at as usize..])
        .expect("standby");
    sb.drain_outputs();
    assert_eq!(sb.received(&flow()), p.received(&flow()));
    assert_eq!(sb.received(&flow()), Some(s.len() as u64));
    assert_eq!(sb.flow_digest(&flow()), p.flow_digest(&flow()));
    // The hold timer the last message restarted is 3 ms later on the standby, on the
    // primary's clock (not 5 s off).
    let (pt, st) = (
        p.speaker().poll_timeout().expect("timer"),
        sb.speaker().poll_timeout().expect("timer"),
    );
    assert!(st.0 >= pt.0 && st.0 <= pt.0 + 3, "{pt:?} vs {st:?}");
    // Different bytes still differ.
    p.receive(Millis(t + 10), &flow(), &update(200, 1, false))
        .expect("primary");
    assert_ne!(sb.flow_digest(&flow()), p.flow_digest(&flow()));
}
