//! Lab tests: Graceful Restart (RFC 4724) between FRR and BIRD, via the adapters' kill and
//! restart (run as root). Proves the GR switch of the configs and the restart support that
//! later tests (a neighbour restarting against understudy) use.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use interop::neighbor::bird::Bird;
use interop::neighbor::frr::Frr;
use interop::poll::poll_until;
use interop::{BgpConfig, Neighbor, PeerConfig};
use ipnetwork::IpNetwork;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(60);
const BIRD_NET: &str = "203.0.113.0/24";

fn setup(gr: bool) -> (interop::Lab, Frr, Bird) {
    let (lab, _a, _b) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65002).local(ip(A4)))
        .graceful_restart(gr);
    let bird_cfg = BgpConfig::new(65002, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)).passive())
        .network(BIRD_NET.parse().unwrap())
        .graceful_restart(gr);
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).unwrap();
    let mut bird = Bird::start(&lab, "bird", &bird_cfg).unwrap();
    frr.wait_established(ip(B4), TIMEOUT).unwrap();
    bird.wait_established(ip(A4), TIMEOUT).unwrap();
    frr.wait_routes(ip(B4), &[BIRD_NET.parse().unwrap()], TIMEOUT)
        .unwrap();
    (lab, frr, bird)
}

/// FRR's path for BIRD_NET from BIRD: Some(stale flag) if present.
fn path_stale(frr: &Frr) -> Option<bool> {
    let v = frr.vtysh_json("show bgp ipv4 unicast json").unwrap();
    let paths = v["routes"][BIRD_NET].as_array()?.clone();
    let p = paths.iter().find(|p| p["peerId"] == B4)?;
    Some(p.get("stale").and_then(Value::as_bool).unwrap_or(false))
}

#[test]
fn with_graceful_restart_frr_keeps_birds_routes_stale_across_a_restart() {
    let (_lab, mut frr, mut bird) = setup(true);
    let n = frr
        .vtysh_json(&format!("show bgp neighbors {B4} json"))
        .unwrap();
    assert_eq!(
        n[B4]["neighborCapabilities"]["gracefulRestart"],
        "advertisedAndReceived"
    );

    bird.kill();
    poll_until(
        "FRR to see the session down with the route kept stale",
        TIMEOUT,
        Duration::from_millis(50),
        || {
            let s = frr.session(ip(B4))?;
            Ok((!s.established && path_stale(&frr) == Some(true)).then_some(()))
        },
    )
    .unwrap();

    bird.restart().unwrap();
    // FRR backs off between connection attempts while BIRD is away (longer under load).
    let s = frr.wait_established(ip(B4), 2 * TIMEOUT).unwrap();
    assert_eq!(s.established_count, Some(2));
    poll_until(
        "the route to be fresh again (End-of-RIB)",
        TIMEOUT,
        Duration::from_millis(50),
        || Ok((path_stale(&frr) == Some(false)).then_some(())),
    )
    .unwrap();
    let routes = frr.routes_received(ip(B4)).unwrap();
    assert!(routes.contains(&BIRD_NET.parse::<IpNetwork>().unwrap()));
}

#[test]
fn without_graceful_restart_frr_drops_birds_routes_when_it_dies() {
    let (_lab, mut frr, mut bird) = setup(false);
    let n = frr
        .vtysh_json(&format!("show bgp neighbors {B4} json"))
        .unwrap();
    assert_ne!(
        n[B4]["neighborCapabilities"]["gracefulRestart"],
        "advertisedAndReceived"
    );
    bird.kill();
    poll_until(
        "FRR to withdraw BIRD's route",
        TIMEOUT,
        Duration::from_millis(50),
        || Ok(frr.routes_received(ip(B4))?.is_empty().then_some(())),
    )
    .unwrap();
    assert_eq!(path_stale(&frr), None);
}
