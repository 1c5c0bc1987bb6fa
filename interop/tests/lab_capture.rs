//! Lab test: a capture on a neighbour's link shows the BGP messages and TCP control
//! segments of its session (run as root): what failover tests check on the wire.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use interop::capture::{analyze, Capture};
use interop::neighbor::bird::Bird;
use interop::neighbor::frr::Frr;
use interop::poll::poll_until;
use interop::rawpeer::msg_type;
use interop::{BgpConfig, Neighbor, PeerConfig};

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn capture_shows_birds_cease_notification_and_fin_but_no_open() {
    let (lab, frr_ns, _b) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65002).local(ip(A4)));
    let bird_cfg = BgpConfig::new(65002, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)).passive())
        .network("203.0.113.0/24".parse().unwrap());
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).unwrap();
    let mut bird = Bird::start(&lab, "bird", &bird_cfg).unwrap();
    frr.wait_established(ip(B4), TIMEOUT).unwrap();
    frr.wait_routes(ip(B4), &["203.0.113.0/24".parse().unwrap()], TIMEOUT)
        .unwrap();

    let cap = Capture::start(&frr_ns, "eth0", "tcp port 179", lab.workdir(), "frr-eth0").unwrap();
    bird.stop();
    poll_until(
        "FRR to see the session down",
        TIMEOUT,
        Duration::from_millis(50),
        || Ok((!frr.session(ip(B4))?.established).then_some(())),
    )
    .unwrap();
    let summary = analyze(&cap.stop().unwrap()).unwrap();

    assert!(
        summary.opens().is_empty(),
        "no OPEN after the capture started: {:?}",
        summary.opens()
    );
    let notes = summary.notifications();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].src.ip(), ip(B4));
    assert_eq!(notes[0].dst.ip(), ip(A4));
    assert_eq!(
        notes[0].bytes[19],
        6,
        "Cease (RFC 4486): {}",
        hex::encode(&notes[0].bytes)
    );
    assert!(
        summary.fin.iter().any(|(src, _)| src.ip() == ip(B4)),
        "BIRD closed with a FIN: {:?}",
        summary.fin
    );
    assert_eq!(summary.gaps, 0);
    assert!(summary
        .messages
        .iter()
        .all(|m| m.kind() != msg_type::UPDATE || m.src.ip() == ip(B4) || m.src.ip() == ip(A4)));
}
