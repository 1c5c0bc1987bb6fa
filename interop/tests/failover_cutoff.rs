//! Lab test (run as root): a neighbour's message cut off by the failover. A raw BGP peer
//! (interop::rawpeer) holds a session with a bgpd primary on the session address
//! 192.0.2.1; a bgpd standby follows it on a mirror port. The peer writes the first part of
//! an UPDATE; the primary's box dies (link cut, process killed); the standby takes the
//! session over; the peer writes the rest of the UPDATE on the same connection. The standby
//! must hand the two parts to its speaker as one message: the route is in its Adj-RIB-In,
//! no NOTIFICATION comes back, the session stays up, and `understudy neighbors` on the new
//! primary shows the session's unbroken uptime and its message counters carried on.
//!
//! The bgpd and understudy binaries come from the test executable's target directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bgpd::wire::{
    builder::attributes, encode_message, AsPath, Asn, AttributeValue, Ipv4Prefix, Message, Nlri,
    Origin, SessionContext, Update,
};
use serde_json::Value;

mod common;
use common::log_tail;
use common::rawpeer_ha::{establish, primary_standby_rawpeer, wait, RawPeerSpec, TIMEOUT};

const PREFIX: &str = "useg-";
const PEER: &str = "192.0.2.11";

fn neighbor(ns: &interop::Netns) -> Result<Value, String> {
    common::neighbor(ns, PEER)
}

fn update() -> Vec<u8> {
    let u = Update {
        withdrawn: vec![],
        attributes: attributes([
            AttributeValue::Origin(Origin::Igp),
            AttributeValue::AsPath(AsPath::sequence([Asn(65011)])),
            AttributeValue::NextHop(PEER.parse().unwrap()),
        ]),
        nlri: vec![Nlri::new(
            Ipv4Prefix::new([203, 0, 113, 0].into(), 24).unwrap(),
        )],
    };
    encode_message(&Message::Update(u), &SessionContext::modern()).unwrap()
}

#[test]
fn a_neighbours_update_cut_off_by_the_failover_is_taken_whole_by_the_standby() {
    let mut s = primary_standby_rawpeer(
        PREFIX,
        &[RawPeerSpec {
            node: "peer",
            address: PEER,
            asn: 65011,
        }],
    );
    s.start_primary();
    // The raw peer: OPEN (hold time 90 s: no KEEPALIVE needed during the test), KEEPALIVE.
    let mut rp = establish(&s.peers[0], PEER, 65011);
    let established_at = Instant::now();
    let (prim, stby) = (s.prim.clone(), s.stby.clone());
    wait("the session Established on the primary", || {
        Ok((neighbor(&prim)?["state"] == "Established").then_some(()))
    });
    s.start_standby();
    let before = neighbor(&prim).unwrap();
    let on_standby = neighbor(&stby).unwrap();
    assert_eq!(on_standby["state"], "Established", "{on_standby}");
    assert!(
        on_standby["uptime_ms"].as_u64().unwrap() > 0,
        "the standby shows the primary's uptime: {on_standby}"
    );

    // Whatever the primary sent so far (its End-of-RIB, a KEEPALIVE) is read first.
    while let Ok(Some(_)) = rp.read_message(Duration::from_millis(300)) {}
    // The first 30 octets of the UPDATE, then the failure.
    let m = update();
    rp.send(&m[..30]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.fail_primary();
    // The takeover's KEEPALIVE, then the rest of the UPDATE on the same connection.
    let k = rp.expect_type(4, TIMEOUT).unwrap_or_else(|e| {
        panic!(
            "no KEEPALIVE from the standby: {e}\n{}",
            log_tail(&s.lab, "standby")
        )
    });
    assert_eq!(k.len(), 19);
    rp.send(&m[30..]).unwrap();
    let after = wait("the route in the standby's Adj-RIB-In", || {
        let n = neighbor(&stby)?;
        Ok((n["prefixes_received"] == 1).then_some(n))
    });
    // Nothing else: no NOTIFICATION, the connection open, still Established.
    std::thread::sleep(Duration::from_secs(1));
    rp.send_keepalive().unwrap();
    let _ = rp.read_message(Duration::from_millis(500));
    assert!(rp.notifications().is_empty(), "{:?}", rp.notifications());
    assert!(!rp.closed(), "{}", log_tail(&s.lab, "standby"));
    let after = neighbor(&stby).unwrap_or(after);
    assert_eq!(after["state"], "Established", "{after}");
    assert_eq!(
        after["established_transitions"],
        before["established_transitions"]
    );
    // The uptime runs from the primary's Established, not from the takeover.
    let uptime = after["uptime_ms"].as_u64().unwrap();
    assert!(
        uptime + 1000 >= established_at.elapsed().as_millis() as u64,
        "uptime {uptime} ms, Established {:?} ago: {after}",
        established_at.elapsed()
    );
    assert!(
        after["messages_out"].as_u64().unwrap() > before["messages_out"].as_u64().unwrap(),
        "messages out carried on (+ the takeover's KEEPALIVE): before {before}, after {after}"
    );
    assert!(
        after["messages_in"].as_u64().unwrap() > before["messages_in"].as_u64().unwrap(),
        "before {before}, after {after}"
    );
}
