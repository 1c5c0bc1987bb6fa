//! The session FSM in virtual time: establishment, collision, timers, every NOTIFICATION
//! path, route refresh, End-of-RIB, Graceful Restart helper, framing and snapshots.

mod harness;

use bgpd::session::{ConnId, DownReason, Event, Session, SessionEvent, State};
use bgpd::time::Millis;
use bgpd::wire::{
    builder::attributes, encode_message, AfiSafi, AsPath, Asn, AttributeValue, Capability,
    HoldTime, Ipv4Prefix, Message, Nlri, Open, Origin, RouteRefresh, RouteRefreshSubtype, RouterId,
    SessionContext, Update,
};
use harness::{config, Pair, Raw};
use std::time::Duration;

fn established_event(events: &[SessionEvent]) -> Option<&bgpd::session::Negotiated> {
    events.iter().find_map(|e| match e {
        SessionEvent::Established { negotiated } => Some(negotiated),
        _ => None,
    })
}

#[test]
fn active_passive_establishment_at_time_zero() {
    let mut p = Pair::ebgp();
    p.establish();
    assert_eq!(p.now, Millis::ZERO);
    assert_eq!(p.state(0), State::Established);
    assert_eq!(p.state(1), State::Established);
    let n = established_event(
        &p.sides[0]
            .events
            .iter()
            .map(|(_, e)| e.clone())
            .collect::<Vec<_>>(),
    )
    .cloned()
    .expect("established");
    assert_eq!(n.remote_as, Asn(65002));
    assert_eq!(n.remote_id, RouterId([192, 0, 2, 2].into()));
    assert_eq!(n.hold_time.seconds(), 90);
    assert_eq!(n.keepalive, Duration::from_secs(30));
    assert!(n.ctx.four_octet_as && n.ctx.extended_message && !n.ctx.ibgp);
    assert!(n.route_refresh && n.enhanced_route_refresh);
    assert!(n.graceful_restart_helper());
    // The states went Idle -> Connect -> OpenSent -> OpenConfirm -> Established on the active side.
    let states: Vec<State> = p
        .events(0)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::StateChange { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            State::Connect,
            State::OpenSent,
            State::OpenConfirm,
            State::Established
        ]
    );
    let passive: Vec<State> = p
        .events(1)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::StateChange { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        passive,
        vec![
            State::Active,
            State::OpenSent,
            State::OpenConfirm,
            State::Established
        ]
    );
    assert_eq!(p.open_links().len(), 1);
}

#[test]
fn keepalives_are_jittered_and_keep_the_session_up() {
    let mut p = Pair::ebgp();
    p.establish();
    let sent_before = p.sides[0].sent.len();
    p.advance_to(Millis::from_secs(600));
    assert_eq!(p.state(0), State::Established);
    assert_eq!(p.state(1), State::Established);
    // KEEPALIVEs at 0.75..1.0 of 30 s: between 20 and 27 of them in 600 s.
    let times: Vec<Millis> = p.sides[0].sent[sent_before..]
        .iter()
        .map(|(t, _, _)| *t)
        .collect();
    assert!(times.len() >= 20 && times.len() <= 27, "{}", times.len());
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(22_500) && gap <= Duration::from_secs(30),
            "{gap:?}"
        );
    }
    assert!(
        times.windows(3).any(|w| (w[1] - w[0]) != (w[2] - w[1])),
        "jitter varies"
    );
}

#[test]
fn hold_time_is_the_smaller_and_keepalive_a_third() {
    let mut a = config(65001, [192, 0, 2, 1], 65002, [192, 0, 2, 2]);
    a.hold_time = HoldTime::new(30).expect("hold");
    let mut b = config(65002, [192, 0, 2, 2], 65001, [192, 0, 2, 1]);
    b.hold_time = HoldTime::new(9).expect("hold");
    b.keepalive = Some(1);
    let mut p = Pair::new(a, b);
    p.establish();
    let na = p.sides[0].s.negotiated().expect("a").clone();
    let nb = p.sides[1].s.negotiated().expect("b").clone();
    assert_eq!(na.hold_time.seconds(), 9);
    assert_eq!(na.keepalive, Duration::from_secs(3));
    assert_eq!(nb.hold_time.seconds(), 9);
    assert_eq!(nb.keepalive, Duration::from_secs(1));
}

#[test]
fn hold_time_zero_means_no_keepalives() {
    let mut a = config(65001, [192, 0, 2, 1], 65002, [192, 0, 2, 2]);
    a.hold_time = HoldTime::NONE;
    let b = config(65002, [192, 0, 2, 2], 65001, [192, 0, 2, 1]);
    let mut p = Pair::new(a, b);
    p.establish();
    assert_eq!(p.sides[1].s.negotiated().expect("b").hold_time.seconds(), 0);
    let sent = (p.sides[0].sent.len(), p.sides[1].sent.len());
    p.advance_to(Millis::from_secs(3600));
    assert_eq!((p.sides[0].sent.len(), p.sides[1].sent.len()), sent);
    assert_eq!(p.state(0), State::Established);
    assert_eq!(p.sides[0].s.poll_timeout(), None);
}

#[test]
fn hold_timer_expiry_sends_4_0_at_the_deadline() {
    let mut p = Pair::ebgp();
    p.establish();
    // Side 1 goes silent at t = 0: side 0 last heard it at t = 0.
    p.cut[1] = true;
    p.advance_to(Millis(89_999));
    assert_eq!(p.state(0), State::Established);
    p.advance_to(Millis::from_secs(90));
    assert_ne!(p.state(0), State::Established);
    let (t, down) = p.sides[0]
        .events
        .iter()
        .find(|(_, e)| matches!(e, SessionEvent::Down { .. }))
        .cloned()
        .expect("down");
    assert_eq!(t, Millis::from_secs(90));
    match down {
        SessionEvent::Down {
            reason: DownReason::NotificationSent(n),
            graceful_restart,
        } => {
            assert_eq!((n.code, n.subcode), (4, 0));
            assert_eq!(graceful_restart, None);
        }
        other => panic!("{other:?}"),
    }
    // The session restarts by itself after the IdleHoldTimer (5 s, jittered).
    p.cut[1] = false;
    p.advance_to(Millis::from_secs(96));
    assert_eq!(p.state(0), State::Established);
}

#[test]
fn collision_keeps_the_connection_of_the_higher_identifier() {
    let mut p = Pair::ebgp();
    // Both active, both start before any byte is delivered.
    p.sides[0]
        .s
        .handle_event(Millis::ZERO, Event::ManualStart, None);
    p.sides[1]
        .s
        .handle_event(Millis::ZERO, Event::ManualStart, None);
    p.settle();
    assert_eq!(p.state(0), State::Established);
    assert_eq!(p.state(1), State::Established);
    let links = p.open_links();
    assert_eq!(links.len(), 1, "{links:?}");
    // Side 1 (192.0.2.2) has the higher identifier: its outgoing connection survives.
    assert_eq!(links[0][1], p.sides[1].s.established_conn().expect("est"));
    assert_eq!(
        p.sides[1].s.established_conn().map(ConnId::direction),
        Some(bgpd::session::Direction::Outgoing)
    );
    let cease7 = |side: usize| {
        p.events(side).iter().any(
            |e| matches!(e, SessionEvent::NotificationSent(n) if n.code == 6 && n.subcode == 7),
        )
    };
    assert!(cease7(0) || cease7(1));
    // No Down: the dumped connection never was established.
    assert!(!p
        .events(0)
        .iter()
        .any(|e| matches!(e, SessionEvent::Down { .. })));
}

#[test]
fn failed_connection_retries_at_connect_retry_timer() {
    let mut p = Pair::ebgp();
    p.refuse[0] = true;
    p.event(0, Event::ManualStart, None);
    assert_eq!(p.state(0), State::Active);
    assert_eq!(p.sides[0].s.stats().connect_retry_counter, 1);
    let deadline = p.sides[0].s.poll_timeout().expect("connect retry");
    assert!(
        deadline >= Millis::from_secs(90) && deadline <= Millis::from_secs(120),
        "{deadline}"
    );
    p.refuse[0] = false;
    p.event(1, Event::ManualStart_with_PassiveTcpEstablishment, None);
    p.advance_to(deadline);
    assert_eq!(p.state(0), State::Established);
}

#[test]
fn manual_stop_sends_cease_2_with_shutdown_communication() {
    let mut p = Pair::ebgp();
    p.establish();
    p.sides[0]
        .s
        .set_shutdown_communication(Some("maintenance, back at 20:00".into()));
    p.event(0, Event::ManualStop, None);
    assert_eq!(p.state(0), State::Idle);
    let n = p.events(1).into_iter().find_map(|e| match e {
        SessionEvent::NotificationReceived(n) => Some(n),
        _ => None,
    });
    let n = n.expect("notification");
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(
        n.shutdown_communication().expect("valid"),
        Some("maintenance, back at 20:00")
    );
    // Stopped: no automatic restart.
    p.advance_to(Millis::from_secs(1000));
    assert_eq!(p.state(0), State::Idle);
}

// ---- raw peer: every NOTIFICATION path ----

fn open_msg(asn: u32, hold: u16, id: [u8; 4], caps: Vec<Capability>) -> Vec<u8> {
    let o = Open::new(
        Asn(asn),
        HoldTime::new(hold).expect("hold"),
        RouterId(id.into()),
        caps,
    );
    encode_message(&Message::Open(o), &SessionContext::new()).expect("encode")
}

fn peer_open() -> Vec<u8> {
    open_msg(
        65002,
        90,
        [192, 0, 2, 2],
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
        ],
    )
}

const KEEPALIVE: [u8; 19] = bgpd::wire::keepalive::KEEPALIVE;

fn raw() -> Raw {
    Raw::new(config(65001, [192, 0, 2, 1], 65002, [192, 0, 2, 2]))
}

fn raw_established() -> Raw {
    let mut r = raw();
    r.feed(&peer_open());
    r.feed(&KEEPALIVE);
    assert_eq!(r.s.state(), State::Established);
    r
}

fn assert_notification(r: &Raw, code: u8, subcode: u8, data: &[u8]) {
    assert_eq!(
        r.notification(),
        Some((code, subcode, data.to_vec())),
        "events: {:?}",
        r.events
    );
    assert!(r.closed, "the connection is closed after the NOTIFICATION");
}

#[test]
fn header_errors_1_x() {
    let mut r = raw();
    let mut bad = KEEPALIVE;
    bad[3] = 0;
    r.feed(&bad);
    assert_notification(&r, 1, 1, &[]);

    let mut r = raw_established();
    let mut bad = KEEPALIVE;
    bad[17] = 18;
    r.feed(&bad);
    assert_notification(&r, 1, 2, &[0, 18]);

    let mut r = raw_established();
    let mut bad = KEEPALIVE;
    bad[18] = 9;
    r.feed(&bad);
    assert_notification(&r, 1, 3, &[9]);
}

#[test]
fn open_errors_2_x() {
    // 2/1: version 3; data = the largest version we support, 4.
    let mut r = raw();
    let mut o = peer_open();
    o[19] = 3;
    r.feed(&o);
    assert_notification(&r, 2, 1, &[0, 4]);

    // 2/2: wrong AS.
    let mut r = raw();
    r.feed(&open_msg(65003, 90, [192, 0, 2, 2], vec![]));
    assert_notification(&r, 2, 2, &[]);

    // 2/3: an internal peer with our own identifier.
    let mut r = Raw::new(config(65001, [192, 0, 2, 1], 65001, [192, 0, 2, 2]));
    r.feed(&open_msg(65001, 90, [192, 0, 2, 1], vec![]));
    assert_notification(&r, 2, 3, &[]);

    // 2/6: hold time 1.
    let mut r = raw();
    let mut o = peer_open();
    o[22] = 0;
    o[23] = 1;
    r.feed(&o);
    assert_notification(&r, 2, 6, &[]);

    // 2/7: we require Graceful Restart and the peer does not advertise it; the data is the
    // capability as we advertise it (code 64, length 6, flags+time, one family).
    let mut c = config(65001, [192, 0, 2, 1], 65002, [192, 0, 2, 2]);
    c.required_capabilities = vec![64];
    let mut r = Raw::new(c);
    r.feed(&peer_open());
    assert_notification(&r, 2, 7, &[64, 6, 0x00, 120, 0, 1, 1, 0]);
}

#[test]
fn update_errors_3_x_reset_but_7606_outcomes_do_not() {
    // 3/1: Withdrawn Routes Length runs past the message.
    let mut r = raw_established();
    let mut u = vec![0xff; 16];
    u.extend_from_slice(&[0, 23, 2, 0xff, 0xff, 0, 0]);
    r.feed(&u);
    assert_notification(&r, 3, 1, &[]);
    assert!(r.events.iter().any(|e| matches!(
        e,
        SessionEvent::Down { reason: DownReason::NotificationSent(n), graceful_restart: None } if n.code == 3
    )));

    // Missing ORIGIN: RFC 7606 treat-as-withdraw, the session stays up.
    let mut r = raw_established();
    let ctx = SessionContext::modern();
    let up = Update {
        withdrawn: vec![],
        attributes: attributes([
            AttributeValue::AsPath(AsPath::sequence([Asn(65002)])),
            AttributeValue::NextHop([192, 0, 2, 2].into()),
        ]),
        nlri: vec![Nlri::new(
            Ipv4Prefix::new([198, 51, 100, 0].into(), 24).expect("prefix"),
        )],
    };
    let mut ctx4 = ctx.clone();
    ctx4.extended_message = false;
    r.feed(&encode_message(&Message::Update(up), &ctx4).expect("encode"));
    assert_eq!(r.s.state(), State::Established);
    assert!(!r.closed);
    assert!(r.events.iter().any(|e| matches!(
        e,
        SessionEvent::UpdateReceived { outcome: bgpd::wire::Outcome::TreatAsWithdraw { .. }, update } if update.nlri.len() == 1
    )));
}

#[test]
fn hold_timer_expired_4_0_from_raw_peer() {
    let mut r = raw_established();
    r.at(Millis(89_999));
    assert_eq!(r.s.state(), State::Established);
    r.at(Millis::from_secs(90));
    assert_notification(&r, 4, 0, &[]);
}

#[test]
fn open_hold_timer_is_four_minutes() {
    let mut r = raw();
    r.at(Millis(239_999));
    assert_eq!(r.s.state(), State::OpenSent);
    r.at(Millis::from_secs(240));
    assert_notification(&r, 4, 0, &[]);
}

#[test]
fn fsm_errors_5_x_rfc6608() {
    // UPDATE in OpenSent: 5/1, data = the message type.
    let mut r = raw();
    let eor =
        encode_message(&Message::Update(Update::default()), &SessionContext::new()).expect("eor");
    r.feed(&eor);
    assert_notification(&r, 5, 1, &[2]);

    // UPDATE in OpenConfirm: 5/2.
    let mut r = raw();
    r.feed(&peer_open());
    assert_eq!(r.s.state(), State::OpenConfirm);
    r.feed(&eor);
    assert_notification(&r, 5, 2, &[2]);

    // OPEN in Established: 5/3, data 1.
    let mut r = raw_established();
    r.feed(&peer_open());
    assert_notification(&r, 5, 3, &[1]);
}

#[test]
fn route_refresh_errors_7_1_and_requests() {
    let mut r = raw_established();
    let ctx = SessionContext::new();
    let rr = encode_message(
        &Message::RouteRefresh(RouteRefresh::new(AfiSafi::IPV4_UNICAST)),
        &ctx,
    )
    .expect("rr");
    r.feed(&rr);
    assert!(r.events.contains(&SessionEvent::RouteRefresh {
        afi_safi: AfiSafi::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::Normal
    }));
    // A family that was not negotiated is ignored (RFC 2918 section 4).
    let n = r.events.len();
    let rr6 = encode_message(
        &Message::RouteRefresh(RouteRefresh::new(AfiSafi::IPV6_UNICAST)),
        &ctx,
    )
    .expect("rr");
    r.feed(&rr6);
    assert_eq!(r.events.len(), n);
    // BoRR with trailing octets: 7/1 with the whole message as data (RFC 7313 section 5).
    let mut bad = rr.clone();
    bad[21] = 1;
    bad.extend_from_slice(&[0, 0]);
    bad[17] = 25;
    r.feed(&bad);
    assert_notification(&r, 7, 1, &bad);
}

#[test]
fn enhanced_route_refresh_and_end_of_rib_between_two_sessions() {
    let mut p = Pair::ebgp();
    p.establish();
    let now = p.now;
    assert!(p.sides[0].s.send_route_refresh(
        now,
        AfiSafi::IPV4_UNICAST,
        RouteRefreshSubtype::Normal
    ));
    assert!(p.sides[1].s.send_route_refresh(
        now,
        AfiSafi::IPV4_UNICAST,
        RouteRefreshSubtype::BeginningOfRouteRefresh
    ));
    assert!(p.sides[1].s.send_end_of_rib(now, AfiSafi::IPV4_UNICAST));
    assert!(!p.sides[1].s.send_end_of_rib(now, AfiSafi::IPV6_UNICAST));
    p.settle();
    assert!(p.events(1).contains(&SessionEvent::RouteRefresh {
        afi_safi: AfiSafi::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::Normal
    }));
    assert!(p.events(0).contains(&SessionEvent::RouteRefresh {
        afi_safi: AfiSafi::IPV4_UNICAST,
        subtype: RouteRefreshSubtype::BeginningOfRouteRefresh
    }));
    assert!(p
        .events(0)
        .contains(&SessionEvent::EndOfRib(AfiSafi::IPV4_UNICAST)));
}

// ---- Graceful Restart helper ----

#[test]
fn gr_helper_keeps_routes_until_restart_time_runs_out() {
    let mut p = Pair::ebgp();
    p.establish();
    p.advance_to(Millis::from_secs(10));
    // Side 1's TCP connection dies without a NOTIFICATION.
    let conn = p.sides[0].s.established_conn().expect("est");
    p.sides[1]
        .s
        .handle_event(Millis::from_secs(10), Event::ManualStop, None);
    // ...but side 0 only sees the TCP failure (the Cease was lost).
    p.cut[1] = true;
    p.sides[0]
        .s
        .handle_event(Millis::from_secs(10), Event::TcpConnectionFails, Some(conn));
    p.settle();
    let down = p.events(0).into_iter().find_map(|e| match e {
        SessionEvent::Down {
            reason,
            graceful_restart,
        } => Some((reason, graceful_restart)),
        _ => None,
    });
    assert_eq!(
        down,
        Some((DownReason::ConnectionClosed, Some(Duration::from_secs(120))))
    );
    assert_eq!(p.sides[0].s.stale_families(), &[AfiSafi::IPV4_UNICAST]);
    p.advance_to(Millis(129_999));
    assert!(!p.events(0).contains(&SessionEvent::GracefulRestartExpired));
    p.advance_to(Millis::from_secs(130));
    assert!(p.events(0).contains(&SessionEvent::GracefulRestartExpired));
    assert!(p.sides[0].s.stale_families().is_empty());
}

#[test]
fn gr_helper_peer_restarts_and_sends_end_of_rib() {
    let mut a = config(65001, [192, 0, 2, 1], 65002, [192, 0, 2, 2]);
    a.passive = true;
    let b = config(65002, [192, 0, 2, 2], 65001, [192, 0, 2, 1]);
    let mut p = Pair::new(a, b);
    p.event(0, Event::ManualStart, None);
    p.event(1, Event::ManualStart, None);
    assert_eq!(p.state(0), State::Established);
    // Side 1 restarts (a fresh session, same config) and reconnects while side 0 still
    // thinks the old connection is up: RFC 4724 section 4.2.
    p.advance_to(Millis::from_secs(5));
    let b2 = config(65002, [192, 0, 2, 2], 65001, [192, 0, 2, 1]);
    p.sides[1].s = Session::new(b2, 77);
    p.forget_links();
    p.event(1, Event::ManualStart, None);
    assert_eq!(p.state(0), State::Established);
    assert_eq!(p.state(1), State::Established);
    let ev = p.events(0);
    assert!(ev.contains(&SessionEvent::Down {
        reason: DownReason::PeerRestarted,
        graceful_restart: Some(Duration::from_secs(120))
    }));
    // F bit clear in the new OPEN: the stale routes go at once.
    assert!(ev.contains(&SessionEvent::StaleFlush(AfiSafi::IPV4_UNICAST)));
    assert!(p.sides[0].s.stale_families().is_empty());
}

#[test]
fn gr_end_of_rib_clears_stale_when_forwarding_preserved() {
    let mut r = raw_established_gr();
    // The TCP connection fails: routes kept stale.
    r.s.handle_event(
        Millis::from_secs(1),
        Event::TcpConnectionFails,
        Some(r.conn),
    );
    r.drain();
    assert_eq!(r.s.stale_families(), &[AfiSafi::IPV4_UNICAST]);
    // The peer comes back on a new connection, F bit set: stale kept until its End-of-RIB.
    r.conn = ConnId::incoming(2);
    r.closed = false;
    r.s.handle_event(
        Millis::from_secs(2),
        Event::TcpConnectionConfirmed,
        Some(r.conn),
    );
    r.now = Millis::from_secs(2);
    r.feed(&gr_open(true));
    r.feed(&KEEPALIVE);
    assert_eq!(r.s.state(), State::Established);
    assert_eq!(r.s.stale_families(), &[AfiSafi::IPV4_UNICAST]);
    assert!(!r
        .events
        .contains(&SessionEvent::StaleFlush(AfiSafi::IPV4_UNICAST)));
    let eor =
        encode_message(&Message::Update(Update::default()), &SessionContext::new()).expect("eor");
    r.feed(&eor);
    assert!(r
        .events
        .contains(&SessionEvent::EndOfRib(AfiSafi::IPV4_UNICAST)));
    assert!(r.s.stale_families().is_empty());
}

fn gr_open(f_bit: bool) -> Vec<u8> {
    open_msg(
        65002,
        90,
        [192, 0, 2, 2],
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::GracefulRestart(bgpd::wire::GracefulRestart {
                restart_state: true,
                notification: false,
                restart_time: 60,
                families: vec![bgpd::wire::capability::GracefulRestartFamily {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    forwarding_preserved: f_bit,
                }],
            }),
        ],
    )
}

fn raw_established_gr() -> Raw {
    let mut r = raw();
    r.feed(&gr_open(false));
    r.feed(&KEEPALIVE);
    assert_eq!(r.s.state(), State::Established);
    r
}

#[test]
fn gr_stale_time_runs_out_without_end_of_rib() {
    let mut r = raw_established_gr();
    r.s.handle_event(
        Millis::from_secs(1),
        Event::TcpConnectionFails,
        Some(r.conn),
    );
    r.drain();
    r.conn = ConnId::incoming(2);
    r.s.handle_event(
        Millis::from_secs(2),
        Event::TcpConnectionConfirmed,
        Some(r.conn),
    );
    r.now = Millis::from_secs(2);
    r.feed(&gr_open(true));
    r.feed(&KEEPALIVE);
    // Keepalives every 60 s keep the session up meanwhile.
    for t in (62..=361).step_by(60) {
        r.at(Millis::from_secs(t));
        r.feed(&KEEPALIVE);
    }
    r.at(Millis::from_secs(361));
    assert_eq!(r.s.state(), State::Established);
    assert!(!r
        .events
        .contains(&SessionEvent::StaleFlush(AfiSafi::IPV4_UNICAST)));
    r.at(Millis::from_secs(362));
    assert!(r
        .events
        .contains(&SessionEvent::StaleFlush(AfiSafi::IPV4_UNICAST)));
}

// ---- framing and snapshots ----

#[test]
fn framing_is_independent_of_segmentation() {
    let mut stream = peer_open();
    stream.extend_from_slice(&KEEPALIVE);
    let ctx = SessionContext::modern();
    for i in 0..20u8 {
        let up = Update {
            withdrawn: vec![],
            attributes: attributes([
                AttributeValue::Origin(Origin::Igp),
                AttributeValue::AsPath(AsPath::sequence([Asn(65002)])),
                AttributeValue::NextHop([192, 0, 2, 2].into()),
            ]),
            nlri: vec![Nlri::new(
                Ipv4Prefix::new([10, i, 0, 0].into(), 16).expect("prefix"),
            )],
        };
        let mut c = ctx.clone();
        c.extended_message = false;
        stream.extend_from_slice(&encode_message(&Message::Update(up), &c).expect("encode"));
    }
    let whole = {
        let mut r = raw();
        r.feed(&stream);
        r.events
    };
    assert_eq!(
        whole
            .iter()
            .filter(|e| matches!(
                e,
                SessionEvent::UpdateReceived { .. } | SessionEvent::UpdateAccepted { .. }
            ))
            .count(),
        20
    );
    for chunk in [1usize, 7, 19, 64, 333] {
        let mut r = raw();
        for c in stream.chunks(chunk) {
            r.feed(c);
        }
        assert_eq!(r.events, whole, "chunk size {chunk}");
    }
}

#[test]
fn snapshot_restore_continues_identically() {
    let mut p = Pair::ebgp();
    p.establish();
    p.advance_to(Millis::from_secs(45));
    // Leave half a KEEPALIVE in side 0's receive buffer.
    let conn = p.sides[0].s.established_conn().expect("est");
    p.sides[0].s.handle_bytes(p.now, conn, &KEEPALIVE[..10]);
    let snap = p.sides[0].s.snapshot();
    let mut restored = Session::restore(&snap).expect("restore");
    assert_eq!(restored, p.sides[0].s);
    assert_eq!(restored.snapshot(), snap);
    // Both continue the same way: the rest of the KEEPALIVE, then timers.
    let mut original = p.sides[0].s.clone();
    for s in [&mut original, &mut restored] {
        s.handle_bytes(Millis::from_secs(46), conn, &KEEPALIVE[10..]);
        s.handle_timeout(Millis::from_secs(200));
    }
    let drain = |s: &mut Session| std::iter::from_fn(|| s.poll_output()).collect::<Vec<_>>();
    assert_eq!(drain(&mut original), drain(&mut restored));
    assert_eq!(original.snapshot(), restored.snapshot());
}
