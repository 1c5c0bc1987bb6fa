//! Enhanced route refresh (RFC 7313 section 4) on the receiving side, two speakers in virtual
//! time: a neighbour's BoRR marks its routes of the family stale, routes it announces again
//! before its EoRR are fresh, the EoRR (or our wait for it running out) purges the rest.

mod harness;

use bgpd::rib::{FibChange, RibEvent};
use bgpd::speaker::{AdminCommand, Input, Output, PeerId, Speaker, SpeakerEvent};
use bgpd::time::Millis;
use bgpd::wire::{
    encode_message, AfiSafi, AttributeValue, Message, PathAttributes, Prefix, RouteRefresh,
    RouteRefreshSubtype,
};
use harness::speakers::{apply, speaker_config, Net, Step};

const P: PeerId = PeerId(0);

fn prefix(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

/// Node 0 (AS 65001) learns 198.51.100.0/24 and 198.51.100.128/25 from node 1 (AS 65002).
/// `extra` goes into node 0's neighbour section.
fn net(extra: &str) -> Net {
    Net::new(
        speaker_config("192.0.2.1", 65001, "192.0.2.2", 65002, &[], extra),
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

/// Node 0's view of a route from node 1: (present in the Adj-RIB-In, stale, best).
fn seen(n: &Net, p: &str) -> Option<(bool, bool)> {
    n.nodes[0]
        .s
        .rib()
        .adj_rib_in(P)
        .into_iter()
        .find(|r| r.prefix == prefix(p))
        .map(|r| (r.stale, r.best))
}

/// A ROUTE-REFRESH of `subtype` for IPv4 unicast as node 1 would send it, fed to node 0 as
/// received bytes on its established connection.
fn feed_refresh(n: &mut Net, subtype: RouteRefreshSubtype) {
    let ctx = n.nodes[0]
        .s
        .session(P)
        .and_then(|s| s.negotiated())
        .map(|x| x.ctx.clone())
        .expect("established");
    let msg = Message::RouteRefresh(RouteRefresh {
        subtype,
        ..RouteRefresh::new(AfiSafi::IPV4_UNICAST)
    });
    let data = encode_message(&msg, &ctx).expect("encode");
    let conn = n.conn(0).expect("connection");
    n.input(
        0,
        Input::Bytes {
            peer: P,
            conn,
            data,
        },
    );
}

fn fib_removals(n: &Net, p: &str) -> Vec<Millis> {
    n.nodes[0]
        .fib
        .iter()
        .filter(|(_, c)| *c == FibChange::Remove { prefix: prefix(p) })
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn borr_marks_stale_reannounced_routes_are_fresh_eorr_purges_the_rest() {
    let mut n = net("");
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((false, true)));
    assert_eq!(seen(&n, "198.51.100.128/25"), Some((false, true)));

    n.advance_to(Millis::from_secs(10));
    feed_refresh(&mut n, RouteRefreshSubtype::BeginningOfRouteRefresh);
    // Both stale, still used (RFC 7313: stale routes stay until the EoRR).
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((true, true)));
    assert_eq!(seen(&n, "198.51.100.128/25"), Some((true, true)));
    assert_eq!(
        n.nodes[0]
            .s
            .rib()
            .best(prefix("198.51.100.0/24"))
            .map(|r| r.stale),
        Some(true)
    );

    // t = 12: node 1 announces the /25 again (with a MED, so it does send an UPDATE).
    n.advance_to(Millis::from_secs(12));
    let mut attrs = PathAttributes::new();
    attrs.set(AttributeValue::MultiExitDisc(7));
    n.input(
        1,
        Input::Admin(AdminCommand::Originate {
            prefix: prefix("198.51.100.128/25"),
            attributes: attrs,
        }),
    );
    assert_eq!(seen(&n, "198.51.100.128/25"), Some((false, true)));
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((true, true)));

    // t = 15: EoRR. The /24 was not announced again: purged, and the FIB told at t = 15.
    n.advance_to(Millis::from_secs(15));
    feed_refresh(&mut n, RouteRefreshSubtype::EndOfRouteRefresh);
    assert_eq!(seen(&n, "198.51.100.0/24"), None);
    assert!(n.nodes[0].s.rib().best(prefix("198.51.100.0/24")).is_none());
    assert_eq!(
        fib_removals(&n, "198.51.100.0/24"),
        vec![Millis::from_secs(15)]
    );
    let kept = n.nodes[0]
        .s
        .rib()
        .best(prefix("198.51.100.128/25"))
        .expect("the re-announced route stays");
    assert!(!kept.stale);
    assert_eq!(kept.attributes.med(), Some(7));
    // No wait is pending any more: only the sessions' keepalive/hold timers remain, and
    // nothing is purged later.
    n.advance_to(Millis::from_secs(1000));
    assert!(n.nodes[0]
        .s
        .rib()
        .best(prefix("198.51.100.128/25"))
        .is_some());
    assert!(!n.nodes[0]
        .events()
        .iter()
        .any(|e| matches!(e, SpeakerEvent::Rib(RibEvent::RefreshTimedOut { .. }))));
}

#[test]
fn eorr_without_borr_changes_nothing() {
    let mut n = net("");
    n.advance_to(Millis::from_secs(10));
    let before = n.nodes[0].s.rib().digest();
    feed_refresh(&mut n, RouteRefreshSubtype::EndOfRouteRefresh);
    assert_eq!(n.nodes[0].s.rib().digest(), before);
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((false, true)));
}

#[test]
fn a_real_refresh_repairs_a_lost_withdrawal() {
    let mut n = net("");
    // t = 10: node 1 withdraws the /24 but the UPDATE is lost: node 0 is out of step.
    n.advance_to(Millis::from_secs(10));
    n.cut[1] = true;
    n.input(
        1,
        Input::Admin(AdminCommand::WithdrawOriginated {
            prefix: prefix("198.51.100.0/24"),
        }),
    );
    n.cut[1] = false;
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((false, true)));
    // t = 20: soft reset in: ROUTE-REFRESH out, node 1 answers BoRR, the /25, EoRR.
    n.advance_to(Millis::from_secs(20));
    n.input(0, Input::Admin(AdminCommand::SoftResetIn { peer: P }));
    assert_eq!(seen(&n, "198.51.100.0/24"), None);
    assert_eq!(seen(&n, "198.51.100.128/25"), Some((false, true)));
    assert_eq!(
        fib_removals(&n, "198.51.100.0/24"),
        vec![Millis::from_secs(20)]
    );
}

#[test]
fn no_eorr_in_time_purges_at_the_deadline() {
    let mut n = net("enhanced_route_refresh_time = 30");
    n.advance_to(Millis::from_secs(10));
    feed_refresh(&mut n, RouteRefreshSubtype::BeginningOfRouteRefresh);
    // The wait ends at 10 s + 30 s; node 0's earliest deadline is at most that.
    let t = n.nodes[0].s.poll_timeout().expect("deadline");
    assert!(t <= Millis::from_secs(40), "{t}");
    n.advance_to(Millis(39_999));
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((true, true)));
    assert_eq!(seen(&n, "198.51.100.128/25"), Some((true, true)));
    // Mid-refresh snapshot: a restored speaker purges at the same instant.
    let snap = n.nodes[0].s.snapshot().expect("snapshot");
    let mut restored = Speaker::restore(&snap).expect("restore");
    assert_eq!(restored.state_digest(), n.nodes[0].s.state_digest());

    n.advance_to(Millis::from_secs(40));
    assert_eq!(seen(&n, "198.51.100.0/24"), None);
    assert_eq!(seen(&n, "198.51.100.128/25"), None);
    assert_eq!(
        fib_removals(&n, "198.51.100.0/24"),
        vec![Millis::from_secs(40)]
    );
    let timed_out: Vec<(Millis, RibEvent)> = n.nodes[0]
        .outputs
        .iter()
        .filter_map(|(t, o)| match o {
            Output::Event(SpeakerEvent::Rib(e @ RibEvent::RefreshTimedOut { .. })) => {
                Some((*t, e.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        timed_out,
        vec![(
            Millis::from_secs(40),
            RibEvent::RefreshTimedOut {
                peer: P,
                afi_safi: AfiSafi::IPV4_UNICAST,
                purged: 2
            }
        )]
    );
    // The restored one, fed the same timer step, does the same.
    apply(&mut restored, &Step::Timeout(Millis::from_secs(40)));
    assert!(restored
        .take_fib_changes(usize::MAX)
        .contains(&FibChange::Remove {
            prefix: prefix("198.51.100.0/24")
        }));
    assert!(restored.rib().best(prefix("198.51.100.128/25")).is_none());
    // And node 0's whole log replayed gives the same outputs and digest.
    let node = &n.nodes[0];
    let (cfg, seed) = node.initial.clone();
    let mut s = Speaker::new(Millis::ZERO, cfg, seed).expect("speaker");
    let mut outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
    for st in &node.log {
        outs.extend(apply(&mut s, st));
    }
    let recorded: Vec<Output> = node.outputs.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(outs, recorded);
    assert_eq!(s.state_digest(), node.s.state_digest());
}

#[test]
fn a_session_going_down_ends_the_wait() {
    let mut n = net("enhanced_route_refresh_time = 30\ngraceful_restart = false");
    n.advance_to(Millis::from_secs(10));
    feed_refresh(&mut n, RouteRefreshSubtype::BeginningOfRouteRefresh);
    n.input(
        1,
        Input::Admin(AdminCommand::Stop {
            peer: P,
            communication: None,
        }),
    );
    assert_eq!(seen(&n, "198.51.100.0/24"), None);
    n.input(1, Input::Admin(AdminCommand::Start { peer: P }));
    n.advance_to(Millis::from_secs(35));
    // Back up with fresh routes; the old wait (until 40 s) purges nothing.
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((false, true)));
    n.advance_to(Millis::from_secs(60));
    assert_eq!(seen(&n, "198.51.100.0/24"), Some((false, true)));
    assert!(!n.nodes[0]
        .events()
        .iter()
        .any(|e| matches!(e, SpeakerEvent::Rib(RibEvent::RefreshTimedOut { .. }))));
}
