//! Lab test: the raw test peer (exact bytes) against FRR (run as root).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use interop::neighbor::frr::Frr;
use interop::rawpeer::{msg_type, RawPeer};
use interop::{BgpConfig, Neighbor, PeerConfig};
use ipnetwork::IpNetwork;

const TIMEOUT: Duration = Duration::from_secs(60);

/// OPEN (RFC 4271 section 4.2): version 4, My AS 65010, hold time 9 s, BGP identifier
/// 192.0.2.2, no optional parameters (so IPv4 unicast and two-octet AS_PATHs).
const OPEN: &str = "ffffffffffffffffffffffffffffffff 001d 01  04 fdf2 0009 c0000202 00";

/// UPDATE (RFC 4271 section 4.3): no withdrawals; ORIGIN IGP, AS_PATH SEQUENCE [65010],
/// NEXT_HOP 192.0.2.2; NLRI 203.0.113.0/24.
const UPDATE: &str = "ffffffffffffffffffffffffffffffff 002d 02 0000 0012
    40 01 01 00
    40 02 04 02 01 fdf2
    40 03 04 c0000202
    18 cb0071";

#[test]
fn raw_peer_reaches_established_with_frr_and_its_update_is_installed() {
    let (lab, _frr_ns, raw_ns) = two_hosts("frr", "raw");
    let cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65010).local(ip(A4)).passive())
        .network("198.51.100.0/24".parse().unwrap());
    let mut frr = Frr::start(&lab, "frr", &cfg).expect("start FRR");

    let mut peer =
        RawPeer::connect(&raw_ns, SocketAddr::new(ip(A4), 179), TIMEOUT).expect("connect");
    peer.send_hex(OPEN).unwrap();
    let open = peer
        .expect_type(msg_type::OPEN, TIMEOUT)
        .expect("FRR's OPEN");
    assert_eq!(open[19], 4, "BGP version 4");
    assert_eq!(
        u16::from_be_bytes([open[20], open[21]]),
        65001,
        "FRR's My AS"
    );
    peer.send_keepalive().unwrap();
    peer.expect_type(msg_type::KEEPALIVE, TIMEOUT)
        .expect("FRR's KEEPALIVE");
    let s = frr
        .wait_established(ip(B4), TIMEOUT)
        .expect("FRR Established with the raw peer");
    assert_eq!(s.established_count, Some(1));

    peer.send_hex(UPDATE).unwrap();
    let want: IpNetwork = "203.0.113.0/24".parse().unwrap();
    let routes = frr
        .wait_routes(ip(B4), &[want], TIMEOUT)
        .expect("FRR has the raw peer's prefix");
    assert_eq!(routes.len(), 1);
    // FRR advertises its own network to us.
    let update = peer
        .expect_type(msg_type::UPDATE, TIMEOUT)
        .expect("FRR's UPDATE");
    assert!(
        update.ends_with(&[24, 198, 51, 100]),
        "FRR's NLRI 198.51.100.0/24: {}",
        hex::encode(&update)
    );
    peer.send_keepalive().unwrap();
    assert!(peer.notifications().is_empty(), "no NOTIFICATION from FRR");
    let s = frr.session(ip(B4)).unwrap();
    assert_eq!(s.notifications_sent, Some(0));
    assert_eq!(s.prefixes_received, Some(1));
}

/// KEEPALIVE with a Length of 20 (RFC 4271 section 4.4: a KEEPALIVE is the 19-octet header
/// only), plus the extra octet.
const BAD_KEEPALIVE: &str = "ffffffffffffffffffffffffffffffff 0014 04 00";

#[test]
fn raw_listener_accepts_frr_and_records_its_notification() {
    use interop::rawpeer::RawListener;
    let (lab, _frr_ns, raw_ns) = two_hosts("frr", "raw");
    let listener = RawListener::bind(&raw_ns, SocketAddr::new(ip(B4), 179)).expect("listen");
    let cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65010).local(ip(A4)));
    let mut frr = Frr::start(&lab, "frr", &cfg).expect("start FRR");
    let mut peer = listener
        .accept(TIMEOUT)
        .expect("FRR connects to the raw peer");
    assert_eq!(peer.local_addr().unwrap(), SocketAddr::new(ip(B4), 179));
    peer.expect_type(msg_type::OPEN, TIMEOUT)
        .expect("FRR's OPEN");
    peer.send_hex(OPEN).unwrap();
    peer.send_keepalive().unwrap();
    peer.expect_type(msg_type::KEEPALIVE, TIMEOUT)
        .expect("FRR's KEEPALIVE");
    frr.wait_established(ip(B4), TIMEOUT).expect("Established");

    peer.send_hex(BAD_KEEPALIVE).unwrap();
    let n = peer
        .expect_type(msg_type::NOTIFICATION, TIMEOUT)
        .expect("FRR's NOTIFICATION");
    // Error code 1 (Message Header Error), subcode 2 (Bad Message Length), data: the length.
    assert_eq!(&n[19..21], &[1, 2], "{}", hex::encode(&n));
    assert_eq!(&n[21..], &[0x00, 0x14]);
    assert_eq!(peer.notifications().len(), 1);
    assert_eq!(
        peer.read_message(TIMEOUT).unwrap(),
        None,
        "FRR closes the connection"
    );
    assert!(peer.closed());
}
