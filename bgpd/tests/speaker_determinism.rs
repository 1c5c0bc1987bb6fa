//! Determinism of the speaker core (proptest): one `(now, input)` log fed to two instances
//! gives identical outputs and digests, and a snapshot taken at any input k, restored and fed
//! the rest of the log, ends exactly like the full run. Logs mix valid messages, malformed
//! bytes, arbitrary segmentation, connection churn, admin commands and timer jumps.

mod harness;

use bgpd::session::ConnId;
use bgpd::speaker::{AdminCommand, Input, Output, PeerId, Speaker};
use bgpd::time::Millis;
use bgpd::wire::{encode_message, Capability, Ipv4Prefix, Message, Notification, SessionContext};
use harness::messages::update;
use harness::speakers::{apply, speaker_config, Step};
use proptest::prelude::*;

const P: PeerId = PeerId(0);

/// The neighbour's OPEN (hold time 30 s, Enhanced Route Refresh).
fn peer_open() -> Vec<u8> {
    harness::messages::peer_open(30, &[Capability::EnhancedRouteRefresh])
}

fn conn_strategy() -> impl Strategy<Value = ConnId> {
    prop_oneof![
        (1u64..3).prop_map(ConnId::incoming),
        (1u64..3).prop_map(ConnId::outgoing),
    ]
}

fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>(), 8u8..=24, any::<bool>())
            .prop_map(|(a, b, l, w)| update(a, b, l, w)),
        2 => Just(bgpd::wire::keepalive::KEEPALIVE.to_vec()),
        1 => Just(peer_open()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (any::<u8>(), any::<u8>(), 1usize..40).prop_map(|(a, b, cut)| {
            let u = update(a, b, 24, false);
            u[..cut.min(u.len())].to_vec()
        }),
        1 => (any::<u8>(), 0usize..60).prop_map(|(x, i)| {
            let mut u = update(1, 2, 24, false);
            let i = i % u.len();
            u[i] ^= x | 1;
            u
        }),
        1 => Just(
            encode_message(
                &Message::Notification(Notification::new(6, 2, vec![])),
                &SessionContext::new()
            )
            .expect("notification")
        ),
    ]
}

fn step_strategy() -> impl Strategy<Value = (u64, Input)> {
    let input = prop_oneof![
        6 => (conn_strategy(), bytes_strategy())
            .prop_map(|(conn, data)| Input::Bytes { peer: P, conn, data }),
        1 => conn_strategy().prop_map(|conn| Input::ConnectionConfirmed {
            peer: P,
            conn,
            local_address: [192, 0, 2, 1].into()
        }),
        1 => conn_strategy().prop_map(|conn| Input::ConnectionClosed { peer: P, conn }),
        1 => prop_oneof![
            Just(AdminCommand::Start { peer: P }),
            Just(AdminCommand::Stop { peer: P, communication: Some("x".into()) }),
            Just(AdminCommand::Reset { peer: P, communication: None }),
            Just(AdminCommand::SoftResetIn { peer: P }),
            Just(AdminCommand::SoftResetOut { peer: P }),
            (any::<u8>()).prop_map(|a| AdminCommand::Originate {
                prefix: Ipv4Prefix::new([172, 16, a, 0].into(), 24).expect("p").into(),
                attributes: Default::default(),
            }),
        ]
        .prop_map(Input::Admin),
    ];
    // Time jumps: mostly small, sometimes past the hold time or the restart time.
    let dt = prop_oneof![
        4 => 0u64..2_000,
        2 => 0u64..40_000,
        1 => 0u64..400_000,
    ];
    (dt, input)
}

/// The log: a session brought up on incoming connection 1, then random steps, each
/// followed by a timer check.
fn build_log(random: Vec<(u64, Input)>) -> Vec<Step> {
    let c = ConnId::incoming(1);
    let mut log = vec![
        Step::Input(
            Millis(10),
            Input::ConnectionConfirmed {
                peer: P,
                conn: c,
                local_address: [192, 0, 2, 1].into(),
            },
        ),
        Step::Input(
            Millis(20),
            Input::Bytes {
                peer: P,
                conn: c,
                data: [peer_open(), bgpd::wire::keepalive::KEEPALIVE.to_vec()].concat(),
            },
        ),
    ];
    let mut now = 20;
    for (dt, i) in random {
        now += dt;
        log.push(Step::Timeout(Millis(now)));
        log.push(Step::Input(Millis(now), i));
    }
    log
}

fn fresh() -> Speaker {
    let cfg = speaker_config(
        "192.0.2.1",
        65001,
        "192.0.2.2",
        65002,
        &["203.0.113.0/24"],
        "hold_time = 30",
    );
    let mut s = Speaker::new(Millis::ZERO, cfg, 5).expect("speaker");
    while s.poll_output().is_some() {}
    s
}

fn run(s: &mut Speaker, steps: &[Step]) -> Vec<Output> {
    steps.iter().flat_map(|st| apply(s, st)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn same_log_same_outputs_and_digest(random in prop::collection::vec(step_strategy(), 0..60)) {
        let log = build_log(random);
        let mut a = fresh();
        let mut b = fresh();
        let oa = run(&mut a, &log);
        let ob = run(&mut b, &log);
        prop_assert_eq!(oa, ob);
        prop_assert_eq!(a.state_digest(), b.state_digest());
    }

    #[test]
    fn snapshot_restore_replay_equals_full_run(
        random in prop::collection::vec(step_strategy(), 0..60),
        k in any::<prop::sample::Index>(),
    ) {
        let log = build_log(random);
        let k = k.index(log.len() + 1);
        let mut full = fresh();
        let full_out = run(&mut full, &log);
        let mut first = fresh();
        let head = run(&mut first, &log[..k]);
        let snap = first.snapshot().expect("snapshot");
        let mut restored = Speaker::restore(&snap).expect("restore");
        prop_assert_eq!(restored.state_digest(), first.state_digest());
        let tail = run(&mut restored, &log[k..]);
        prop_assert_eq!([head, tail].concat(), full_out);
        prop_assert_eq!(restored.state_digest(), full.state_digest());
        prop_assert_eq!(restored.snapshot().expect("snapshot"), full.snapshot().expect("snapshot"));
    }
}

#[test]
fn the_scripted_prefix_reaches_established_and_learns_routes() {
    // The fixed start of every log does bring the session up, so random steps act on an
    // established session, not only on refused connections.
    let log = build_log(vec![(
        5,
        Input::Bytes {
            peer: P,
            conn: ConnId::incoming(1),
            data: update(1, 2, 24, false),
        },
    )]);
    let mut s = fresh();
    run(&mut s, &log);
    assert_eq!(
        s.session(P).map(|x| x.state()),
        Some(bgpd::session::State::Established)
    );
    assert_eq!(
        s.rib()
            .loc_rib()
            .iter()
            .filter(|r| r.peer == Some(P))
            .count(),
        1
    );
}
