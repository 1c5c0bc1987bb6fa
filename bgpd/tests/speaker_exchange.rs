//! Two speakers in virtual time: route exchange both ways, withdrawal, route refresh,
//! configuration changes, Graceful Restart helper, determinism and snapshots.

mod harness;

use bgpd::rib::FibChange;
use bgpd::session::{SessionEvent, State};
use bgpd::speaker::{AdminCommand, Input, Output, PeerId, Speaker, SpeakerEvent};
use bgpd::time::Millis;
use bgpd::wire::{AfiSafi, Asn, Prefix, RouteRefreshSubtype};
use harness::speakers::{apply, speaker_config, Net};

const P: PeerId = PeerId(0);

fn prefix(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

fn net() -> Net {
    Net::new(
        speaker_config(
            "192.0.2.1",
            65001,
            "192.0.2.2",
            65002,
            &["203.0.113.0/24"],
            "",
        ),
        speaker_config(
            "192.0.2.2",
            65002,
            "192.0.2.1",
            65001,
            &["198.51.100.0/24", "198.51.100.128/25"],
            "",
        ),
    )
}

#[test]
fn routes_flow_both_ways() {
    let n = net();
    assert_eq!(n.now, Millis::ZERO);
    for i in 0..2 {
        assert_eq!(
            n.nodes[i].s.session(P).map(|s| s.state()),
            Some(State::Established)
        );
    }
    // Node 0 learned node 1's two networks, with AS path [65002] and next hop 192.0.2.2.
    let a = &n.nodes[0].s;
    let r = a.rib().best(prefix("198.51.100.0/24")).expect("learned");
    assert_eq!(r.peer, Some(P));
    assert_eq!(
        r.attributes.as_path().map(|p| p.asns().collect::<Vec<_>>()),
        Some(vec![Asn(65002)])
    );
    assert_eq!(r.attributes.next_hop(), Some([192, 0, 2, 2].into()));
    assert!(a.rib().best(prefix("198.51.100.128/25")).is_some());
    // Node 1 learned node 0's network.
    let b = &n.nodes[1].s;
    assert_eq!(
        b.rib().best(prefix("203.0.113.0/24")).and_then(|r| r.peer),
        Some(P)
    );
    // Node 0 reported both as FIB installs via 192.0.2.2 (its own network is not installed).
    let fib: Vec<FibChange> = n.nodes[0].fib.iter().map(|(_, f)| *f).collect();
    assert!(fib.contains(&FibChange::Install {
        prefix: prefix("198.51.100.0/24"),
        next_hop: [192, 0, 2, 2].into()
    }));
    assert!(fib.contains(&FibChange::Install {
        prefix: prefix("198.51.100.128/25"),
        next_hop: [192, 0, 2, 2].into()
    }));
    assert!(!fib.iter().any(
        |f| matches!(f, FibChange::Install { prefix: p, .. } if *p == prefix("203.0.113.0/24"))
    ));
    // Both received the other's End-of-RIB.
    for i in 0..2 {
        assert!(n.nodes[i].events().iter().any(|e| matches!(
            e,
            SpeakerEvent::Session { event: SessionEvent::EndOfRib(f), .. } if *f == AfiSafi::IPV4_UNICAST
        )));
    }
}

#[test]
fn withdrawal_and_reorigination_at_explicit_times() {
    let mut n = net();
    n.advance_to(Millis::from_secs(10));
    n.input(
        1,
        Input::Admin(AdminCommand::WithdrawOriginated {
            prefix: prefix("198.51.100.0/24"),
        }),
    );
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_none());
    assert!(n.nodes[0]
        .s
        .rib()
        .best(prefix("198.51.100.128/25"))
        .is_some());
    assert!(n.nodes[0]
        .fib
        .iter()
        .any(|(t, f)| *t == Millis::from_secs(10)
            && *f
                == FibChange::Remove {
                    prefix: prefix("198.51.100.0/24")
                }));
    n.advance_to(Millis::from_secs(20));
    n.input(
        1,
        Input::Admin(AdminCommand::Originate {
            prefix: prefix("198.51.100.0/24"),
            attributes: Default::default(),
        }),
    );
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_some());
}

#[test]
fn soft_reset_in_asks_for_enhanced_route_refresh() {
    let mut n = net();
    n.advance_to(Millis::from_secs(5));
    let before = n.nodes[0].events().len();
    n.input(0, Input::Admin(AdminCommand::SoftResetIn { peer: P }));
    let ev = &n.nodes[0].events()[before..];
    // Node 1 answered with BoRR, its routes, EoRR (RFC 7313).
    let subtypes: Vec<RouteRefreshSubtype> = ev
        .iter()
        .filter_map(|e| match e {
            SpeakerEvent::Session {
                event: SessionEvent::RouteRefresh { subtype, .. },
                ..
            } => Some(*subtype),
            _ => None,
        })
        .collect();
    assert_eq!(
        subtypes,
        vec![
            RouteRefreshSubtype::BeginningOfRouteRefresh,
            RouteRefreshSubtype::EndOfRouteRefresh
        ]
    );
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_some());
    assert_eq!(
        n.nodes[0].s.session(P).map(|s| s.state()),
        Some(State::Established)
    );
}

#[test]
fn policy_change_applies_without_reset() {
    let mut n = net();
    n.advance_to(Millis::from_secs(5));
    // Import only prefixes longer than /24 from now on.
    let mut c = n.nodes[0].s.config().clone();
    c.policy
        .prefix_lists
        .insert("small".into(), vec!["198.51.100.0/24 ge 25".into()]);
    let extra: bgpd::policy::PolicyDef = toml::from_str(
        "default = \"reject\"\n[[terms]]\nmatch = { prefix_list = \"small\" }\naction = \"accept\"\n",
    )
    .expect("policy");
    c.policy.policies.insert("small-only".into(), extra);
    c.neighbors[0].import = vec!["small-only".into()];
    n.input(0, Input::Config(Box::new(c)));
    assert_eq!(
        n.nodes[0].s.session(P).map(|s| s.state()),
        Some(State::Established)
    );
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_none());
    assert!(n.nodes[0]
        .s
        .rib()
        .best(prefix("198.51.100.128/25"))
        .is_some());
    assert!(!n.nodes[0].events().iter().any(|e| matches!(
        e,
        SpeakerEvent::Session {
            event: SessionEvent::Down { .. },
            ..
        }
    )));
    // The Adj-RIB-In kept the /24 (pre-policy).
    assert!(n.nodes[0]
        .s
        .rib()
        .adj_rib_in(P)
        .iter()
        .any(|r| r.prefix == prefix("198.51.100.0/24")));
}

#[test]
fn removed_neighbour_gets_cease_3_and_its_routes_go() {
    let mut n = net();
    n.advance_to(Millis::from_secs(5));
    let mut c = n.nodes[0].s.config().clone();
    c.neighbors.clear();
    n.input(0, Input::Config(Box::new(c)));
    assert!(n.nodes[0].s.peers().is_empty());
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_none());
    assert!(n.nodes[1].events().iter().any(|e| matches!(
        e,
        SpeakerEvent::Session { event: SessionEvent::NotificationReceived(x), .. } if x.code == 6 && x.subcode == 3
    )));
}

#[test]
fn graceful_restart_helper_keeps_routes_stale() {
    let mut n = net();
    n.advance_to(Millis::from_secs(5));
    // Node 1 vanishes: node 0 sees the TCP connection fail.
    let conn = n.conn(0).expect("conn");
    n.forget_links();
    n.cut[1] = true;
    n.input(0, Input::ConnectionClosed { peer: P, conn });
    let r = n.nodes[0]
        .s
        .rib()
        .best(prefix("198.51.100.0/24"))
        .expect("kept");
    assert!(r.stale);
    // Node 0 keeps retrying meanwhile, but node 1 is gone; the restart time (120 s) runs out.
    n.advance_to(Millis::from_secs(124));
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_some());
    n.advance_to(Millis::from_secs(126));
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_none());
}

#[test]
fn routes_added_through_the_admin_api_survive_a_reload_that_changes_the_identity() {
    let mut n = net();
    n.advance_to(Millis::from_secs(10));
    n.input(
        0,
        Input::Admin(AdminCommand::Originate {
            prefix: prefix("203.0.113.128/25"),
            attributes: Default::default(),
        }),
    );
    n.advance_to(Millis::from_secs(20));
    assert!(n.nodes[1]
        .s
        .rib()
        .best(prefix("203.0.113.128/25"))
        .is_some());
    let before = n.nodes[0]
        .s
        .rib()
        .best(prefix("203.0.113.128/25"))
        .map(|r| r.attributes);
    // A new router id (and, the same way, a new local AS) rebuilds the RIB and every session.
    let mut cfg = n.nodes[0].s.config().clone();
    cfg.router_id = bgpd::config::RouterIdField(bgpd::wire::RouterId([192, 0, 2, 11].into()));
    n.input(0, Input::Config(Box::new(cfg)));
    let rib = n.nodes[0].s.rib();
    assert!(
        rib.is_originated(prefix("203.0.113.128/25")),
        "the API route"
    );
    assert!(
        rib.is_originated(prefix("203.0.113.0/24")),
        "the [[network]]"
    );
    // With the attributes it had (the harness does not reconnect a neighbour whose id
    // changed, as every neighbour's does here, so the announcement itself is not checked).
    assert_eq!(
        rib.best(prefix("203.0.113.128/25")).map(|r| r.attributes),
        before
    );
}

/// The (code, subcode, data) of every NOTIFICATION node `i` transmitted from output `from` on.
fn notifications_sent(n: &Net, i: usize, from: usize) -> Vec<(u8, u8, Vec<u8>)> {
    n.nodes[i].outputs[from..]
        .iter()
        .filter_map(|(_, o)| match o {
            // Header: marker (16), length (2), type 3 = NOTIFICATION (RFC 4271 section 4.5).
            Output::Transmit { bytes, .. } if bytes.len() >= 21 && bytes[18] == 3 => {
                Some((bytes[19], bytes[20], bytes[21..].to_vec()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_hard_reset_sends_cease_administrative_reset_and_a_stop_administrative_shutdown() {
    let mut n = net();
    n.advance_to(Millis::from_secs(10));
    let from = n.nodes[0].outputs.len();
    n.input(
        0,
        Input::Admin(AdminCommand::Reset {
            peer: P,
            communication: Some("hard reset by the operator".into()),
        }),
    );
    // RFC 4486 section 4: Cease (6) / Administrative Reset (4), with the RFC 9003 shutdown
    // communication: its length, then the UTF-8 text.
    let mut data = vec![26];
    data.extend_from_slice(b"hard reset by the operator");
    assert_eq!(notifications_sent(&n, 0, from), vec![(6, 4, data)]);
    // The session comes back by itself.
    n.advance_to(Millis::from_secs(100));
    assert_eq!(
        n.nodes[0].s.session(P).map(|s| s.state()),
        Some(State::Established)
    );
    // A stop is Administrative Shutdown (2), and the session stays down.
    let from = n.nodes[0].outputs.len();
    n.input(
        0,
        Input::Admin(AdminCommand::Stop {
            peer: P,
            communication: None,
        }),
    );
    assert_eq!(notifications_sent(&n, 0, from), vec![(6, 2, Vec::new())]);
    n.advance_to(Millis::from_secs(200));
    assert_eq!(
        n.nodes[0].s.session(P).map(|s| s.state()),
        Some(State::Idle)
    );
}

/// Replays a node's log into a fresh speaker and checks the outputs and the digest.
fn replay(n: &Net, i: usize) {
    let node = &n.nodes[i];
    let (cfg, seed) = node.initial.clone();
    let mut s = Speaker::new(Millis::ZERO, cfg, seed).expect("speaker");
    let mut outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
    for step in &node.log {
        outs.extend(apply(&mut s, step));
    }
    let recorded: Vec<Output> = node.outputs.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(outs, recorded);
    assert_eq!(s.state_digest(), node.s.state_digest());
}

#[test]
fn a_log_replayed_gives_the_same_outputs_and_digest() {
    let mut n = net();
    n.advance_to(Millis::from_secs(100));
    n.input(0, Input::Admin(AdminCommand::SoftResetOut { peer: P }));
    n.input(
        1,
        Input::Admin(AdminCommand::Stop {
            peer: P,
            communication: Some("bye".into()),
        }),
    );
    n.advance_to(Millis::from_secs(200));
    n.input(1, Input::Admin(AdminCommand::Start { peer: P }));
    n.advance_to(Millis::from_secs(300));
    for i in 0..2 {
        replay(&n, i);
    }
    assert_ne!(n.nodes[0].s.state_digest(), n.nodes[1].s.state_digest());
}

#[test]
fn snapshot_at_every_step_then_restore_continues_identically() {
    let mut n = net();
    n.advance_to(Millis::from_secs(100));
    n.input(0, Input::Admin(AdminCommand::SoftResetIn { peer: P }));
    n.advance_to(Millis::from_secs(150));
    let node = &n.nodes[0];
    let (cfg, seed) = node.initial.clone();
    let mut full = Speaker::new(Millis::ZERO, cfg, seed).expect("speaker");
    while full.poll_output().is_some() {}
    for k in 0..node.log.len() {
        let snap = full.snapshot().expect("snapshot");
        let mut restored = Speaker::restore(&snap).expect("restore");
        assert_eq!(restored.state_digest(), full.state_digest(), "step {k}");
        let mut twin = Speaker::restore(&snap).expect("restore");
        let a: Vec<Output> = node.log[k..]
            .iter()
            .flat_map(|st| apply(&mut restored, st))
            .collect();
        let b: Vec<Output> = node.log[k..]
            .iter()
            .flat_map(|st| apply(&mut twin, st))
            .collect();
        assert_eq!(a, b);
        assert_eq!(restored.state_digest(), node.s.state_digest(), "step {k}");
        apply(&mut full, &node.log[k]);
    }
}

#[test]
fn min_route_advertisement_interval_holds_updates_back() {
    let mut n = Net::new(
        speaker_config("192.0.2.1", 65001, "192.0.2.2", 65002, &[], ""),
        speaker_config(
            "192.0.2.2",
            65002,
            "192.0.2.1",
            65001,
            &["198.51.100.0/24"],
            "min_route_advertisement_interval = 30",
        ),
    );
    // The initial table went out at t = 0; the next UPDATEs wait 22.5 to 30 s (jittered).
    let deadline = n.nodes[1].s.poll_timeout().expect("mrai deadline");
    assert!(
        deadline >= Millis(22_500) && deadline <= Millis::from_secs(30),
        "{deadline}"
    );
    n.advance_to(Millis::from_secs(10));
    n.input(
        1,
        Input::Admin(AdminCommand::WithdrawOriginated {
            prefix: prefix("198.51.100.0/24"),
        }),
    );
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_some());
    n.advance_to(Millis(deadline.0 - 1));
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_some());
    n.advance_to(deadline);
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_none());
    let removed_at = n.nodes[0]
        .fib
        .iter()
        .find(|(_, f)| {
            *f == FibChange::Remove {
                prefix: prefix("198.51.100.0/24"),
            }
        })
        .map(|(t, _)| *t);
    assert_eq!(removed_at, Some(deadline));
}

/// A reload makes the originated routes those of the configuration's `[[network]]`s: one
/// removed from the file is withdrawn, one added back is announced again, and one the
/// operator withdrew with `route del` (`WithdrawOriginated`) is announced again by a reload
/// of a file that still lists it. Node 1 (the neighbour) sees each change.
#[test]
fn a_reload_withdraws_removed_networks_and_restores_configured_ones() {
    let mut n = net();
    n.advance_to(Millis::from_secs(10));
    let p = prefix("198.51.100.0/24");
    let learned = |n: &Net| n.nodes[0].s.rib().best(p).is_some();
    assert!(learned(&n), "node 0 learned node 1's network");
    let configured = n.nodes[1].s.config().clone();

    // Removed from the configuration: withdrawn.
    let mut without = configured.clone();
    without.networks.retain(|x| x.prefix != p);
    n.input(1, Input::Config(Box::new(without)));
    n.advance_to(Millis::from_secs(20));
    assert!(!n.nodes[1].s.rib().is_originated(p));
    assert!(!learned(&n), "the neighbour saw the withdrawal");

    // Written back: announced again.
    n.input(1, Input::Config(Box::new(configured.clone())));
    n.advance_to(Millis::from_secs(30));
    assert!(n.nodes[1].s.rib().is_originated(p));
    assert!(learned(&n), "the neighbour saw the announcement");

    // Withdrawn by the operator, then a reload of the same file: the file wins.
    n.input(
        1,
        Input::Admin(AdminCommand::WithdrawOriginated { prefix: p }),
    );
    n.advance_to(Millis::from_secs(40));
    assert!(!learned(&n));
    n.input(1, Input::Config(Box::new(configured)));
    n.advance_to(Millis::from_secs(50));
    assert!(
        n.nodes[1].s.rib().is_originated(p),
        "the reload originates the configured network again"
    );
    assert!(learned(&n), "and the neighbour has it again");
    // The other network was never touched.
    assert!(n.nodes[0]
        .s
        .rib()
        .best(prefix("198.51.100.128/25"))
        .is_some());
}

/// Node 1 of `n` once the sessions are up (10 s), right after the operator withdrew the
/// network it originates, 198.51.100.0/24: its outputs of that step are not taken yet.
fn withdraw_node_1s_network(n: &mut Net) -> &mut Speaker {
    n.advance_to(Millis::from_secs(10));
    let s = &mut n.nodes[1].s;
    s.handle(
        Millis::from_secs(10),
        Input::Admin(AdminCommand::WithdrawOriginated {
            prefix: prefix("198.51.100.0/24"),
        }),
    );
    s
}

#[test]
fn fib_changes_are_not_outputs_and_are_taken_once() {
    let mut n = net();
    let s = withdraw_node_1s_network(&mut n);
    let outputs = s.take_outputs();
    assert!(
        outputs.iter().any(|o| matches!(o, Output::Transmit { .. })),
        "the withdrawal to the neighbour: {outputs:?}"
    );
    assert_eq!(s.fib_pending(), (1, 0));
    assert_eq!(
        s.take_fib_changes(usize::MAX),
        vec![FibChange::Remove {
            prefix: prefix("198.51.100.0/24")
        }]
    );
    assert_eq!(s.poll_output(), None);
    assert!(s.take_fib_changes(usize::MAX).is_empty());
}

/// The kernel's changes wait in the speaker until the FIB writer takes them, in pieces of
/// at most the installs asked for, and each is the prefix's Loc-RIB route when taken.
#[test]
fn fib_changes_wait_for_the_writer_and_carry_the_route_when_taken() {
    let mut n = net();
    n.advance_to(Millis::from_secs(10));
    n.hold_fib[0] = true;
    let taken_by_the_harness = n.nodes[0].fib.len();
    let new = ["203.0.113.64/26", "203.0.113.128/26", "203.0.113.192/26"];
    for p in new {
        n.input(
            1,
            Input::Admin(AdminCommand::Originate {
                prefix: prefix(p),
                attributes: Default::default(),
            }),
        );
    }
    n.advance_to(Millis::from_secs(20));
    let s = &mut n.nodes[0].s;
    assert_eq!(s.fib_pending(), (3, 0), "learned, not yet taken");
    let via = |p: &str| FibChange::Install {
        prefix: prefix(p),
        next_hop: [192, 0, 2, 2].into(),
    };
    assert_eq!(s.take_fib_changes(2), [via(new[0]), via(new[1])]);
    assert_eq!(s.fib_pending(), (1, 0));
    // The neighbour withdraws the third before the writer takes it: what is taken is the
    // Loc-RIB's state then (no route), never the install that was pending.
    n.input(
        1,
        Input::Admin(AdminCommand::WithdrawOriginated {
            prefix: prefix(new[2]),
        }),
    );
    n.advance_to(Millis::from_secs(30));
    let s = &mut n.nodes[0].s;
    let rest = s.take_fib_changes(usize::MAX);
    assert!(!rest.is_empty());
    assert!(
        rest.iter().all(|c| *c
            == FibChange::Remove {
                prefix: prefix(new[2])
            }),
        "{rest:?}"
    );
    assert_eq!(s.fib_pending(), (0, 0));
    assert_eq!(n.nodes[0].fib.len(), taken_by_the_harness);
}
