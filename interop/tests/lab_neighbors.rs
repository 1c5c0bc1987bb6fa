//! Lab tests: real daemons peering with each other inside namespaces (run as root). They
//! prove the adapters; later the daemon under test replaces one side.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use interop::neighbor::bird::Bird;
use interop::neighbor::exabgp::Exabgp;
use interop::neighbor::frr::Frr;
use interop::neighbor::gobgp::Gobgp;
use interop::{BgpConfig, Neighbor, PeerConfig};
use ipnetwork::IpNetwork;

const TIMEOUT: Duration = Duration::from_secs(60);

fn net(s: &str) -> IpNetwork {
    s.parse().expect("test prefix")
}

#[test]
fn frr_and_bird_exchange_ipv4_and_ipv6_routes() {
    let (lab, _a, _b) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65002).local(ip(A4)))
        .peer(PeerConfig::new(ip(B6), 65002).local(ip(A6)))
        .network(net("198.51.100.0/24"))
        .network(net("2001:db8:1::/48"));
    // BIRD passive: FRR opens every connection, so no collision (RFC 4271 section 6.8) can
    // count an extra connection below.
    let bird_cfg = BgpConfig::new(65002, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)).passive())
        .peer(PeerConfig::new(ip(A6), 65001).local(ip(B6)).passive())
        .network(net("203.0.113.0/24"))
        .network(net("2001:db8:2::/48"));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let mut bird = Bird::start(&lab, "bird", &bird_cfg).expect("start BIRD");

    for (peer_of_frr, peer_of_bird) in [(B4, A4), (B6, A6)] {
        let s = frr
            .wait_established(ip(peer_of_frr), TIMEOUT)
            .expect("FRR Established");
        assert_eq!(s.state, "Established");
        assert_eq!(s.established_count, Some(1));
        assert_eq!(s.notifications_received, Some(0));
        let s = bird
            .wait_established(ip(peer_of_bird), TIMEOUT)
            .expect("BIRD Established");
        assert!(s.uptime.is_some());
    }
    let at_frr = frr
        .wait_routes(ip(B4), &[net("203.0.113.0/24")], TIMEOUT)
        .expect("FRR v4 routes");
    assert_eq!(
        at_frr.into_iter().collect::<Vec<_>>(),
        vec![net("203.0.113.0/24")]
    );
    let at_frr6 = frr
        .wait_routes(ip(B6), &[net("2001:db8:2::/48")], TIMEOUT)
        .expect("FRR v6 routes");
    assert_eq!(
        at_frr6.into_iter().collect::<Vec<_>>(),
        vec![net("2001:db8:2::/48")]
    );
    let at_bird = bird
        .wait_routes(ip(A4), &[net("198.51.100.0/24")], TIMEOUT)
        .expect("BIRD v4 routes");
    assert!(
        !at_bird.contains(&net("203.0.113.0/24")),
        "BIRD must not count its own prefix as received"
    );
    bird.wait_routes(ip(A6), &[net("2001:db8:1::/48")], TIMEOUT)
        .expect("BIRD v6 routes");
    let s = frr.session(ip(B4)).unwrap();
    assert_eq!(s.prefixes_received, Some(1));
    let s = bird.session(ip(A4)).unwrap();
    assert_eq!(s.prefixes_received, Some(1));
}

#[test]
fn frr_and_bird_with_md5_reach_established() {
    let (lab, _a, _b) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(
            PeerConfig::new(ip(B4), 65002)
                .local(ip(A4))
                .md5("lab-secret"),
        )
        .network(net("198.51.100.0/24"));
    let bird_cfg = BgpConfig::new(65002, B4.parse().unwrap())
        .peer(
            PeerConfig::new(ip(A4), 65001)
                .local(ip(B4))
                .md5("lab-secret"),
        )
        .network(net("203.0.113.0/24"));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let mut bird = Bird::start(&lab, "bird", &bird_cfg).expect("start BIRD");
    frr.wait_established(ip(B4), TIMEOUT)
        .expect("FRR Established over MD5");
    bird.wait_established(ip(A4), TIMEOUT)
        .expect("BIRD Established over MD5");
    frr.wait_routes(ip(B4), &[net("203.0.113.0/24")], TIMEOUT)
        .expect("route over MD5");
}

#[test]
fn gobgp_and_frr_exchange_ipv4_and_ipv6_routes() {
    let (lab, _a, _b) = two_hosts("frr", "gobgp");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65003).local(ip(A4)))
        .peer(PeerConfig::new(ip(B6), 65003).local(ip(A6)))
        .network(net("198.51.100.0/24"))
        .network(net("2001:db8:1::/48"));
    // GoBGP passive: no connection collision, so no Cease NOTIFICATION to count.
    let gobgp_cfg = BgpConfig::new(65003, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)).passive())
        .peer(PeerConfig::new(ip(A6), 65001).local(ip(B6)).passive())
        .network(net("203.0.113.0/24"))
        .network(net("2001:db8:3::/48"));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let mut gobgp = Gobgp::start(&lab, "gobgp", &gobgp_cfg).expect("start GoBGP");
    for (peer_of_frr, peer_of_gobgp) in [(B4, A4), (B6, A6)] {
        frr.wait_established(ip(peer_of_frr), TIMEOUT)
            .expect("FRR Established");
        let s = gobgp
            .wait_established(ip(peer_of_gobgp), TIMEOUT)
            .expect("GoBGP Established");
        assert_eq!(s.notifications_received, Some(0));
    }
    let at_frr = frr
        .wait_routes(ip(B4), &[net("203.0.113.0/24")], TIMEOUT)
        .expect("FRR v4 routes");
    assert_eq!(at_frr.len(), 1);
    frr.wait_routes(ip(B6), &[net("2001:db8:3::/48")], TIMEOUT)
        .expect("FRR v6 routes");
    let at_gobgp = gobgp
        .wait_routes(ip(A4), &[net("198.51.100.0/24")], TIMEOUT)
        .expect("GoBGP v4 routes");
    assert!(
        !at_gobgp.contains(&net("203.0.113.0/24")),
        "its own prefix echoed back is not accepted"
    );
    gobgp
        .wait_routes(ip(A6), &[net("2001:db8:1::/48")], TIMEOUT)
        .expect("GoBGP v6 routes");
    let s = gobgp.session(ip(A4)).unwrap();
    assert_eq!(s.prefixes_received, Some(1));
}

#[test]
fn exabgp_feeds_routes_to_frr() {
    let (lab, _a, _b) = two_hosts("frr", "exabgp");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65004).local(ip(A4)))
        .network(net("198.51.100.0/24"));
    let exa_cfg = BgpConfig::new(65004, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)))
        .network(net("203.0.113.0/24"))
        .network(net("203.0.113.128/25"));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let mut exa = Exabgp::start(&lab, "exabgp", &exa_cfg).expect("start ExaBGP");
    frr.wait_established(ip(B4), TIMEOUT)
        .expect("FRR Established");
    let s = exa
        .wait_established(ip(A4), TIMEOUT)
        .expect("ExaBGP Established");
    assert_eq!(s.established_count, Some(1));
    let fed = [net("203.0.113.0/24"), net("203.0.113.128/25")];
    let at_frr = frr
        .wait_routes(ip(B4), &fed, TIMEOUT)
        .expect("FRR has ExaBGP's routes");
    assert_eq!(at_frr.len(), 2);
    exa.wait_routes(ip(A4), &[net("198.51.100.0/24")], TIMEOUT)
        .expect("ExaBGP saw FRR's route");
    let sessions = exa.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].notifications_received, Some(0));
}

#[test]
fn sessions_lists_every_configured_peer() {
    let (lab, _a, _b) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65002).local(ip(A4)))
        .peer(PeerConfig::new(ip(B6), 65002).local(ip(A6)));
    let bird_cfg = BgpConfig::new(65002, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)))
        .peer(PeerConfig::new(ip(A6), 65001).local(ip(B6)));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let mut bird = Bird::start(&lab, "bird", &bird_cfg).expect("start BIRD");
    frr.wait_established(ip(B6), TIMEOUT)
        .expect("FRR Established");
    bird.wait_established(ip(A6), TIMEOUT)
        .expect("BIRD Established");
    let mut peers: Vec<_> = frr
        .sessions()
        .unwrap()
        .iter()
        .map(|s| s.peer.unwrap())
        .collect();
    peers.sort();
    assert_eq!(peers, vec![ip(B4), ip(B6)]);
    let mut peers: Vec<_> = bird
        .sessions()
        .unwrap()
        .iter()
        .map(|s| s.peer.unwrap())
        .collect();
    peers.sort();
    assert_eq!(peers, vec![ip(A4), ip(A6)]);
}

#[test]
fn frr_and_bird_ibgp_exchange_routes() {
    let (lab, _a, _b) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65100, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65100).local(ip(A4)))
        .network(net("198.51.100.0/24"));
    let bird_cfg = BgpConfig::new(65100, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65100).local(ip(B4)))
        .network(net("203.0.113.0/24"));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let mut bird = Bird::start(&lab, "bird", &bird_cfg).expect("start BIRD");
    frr.wait_established(ip(B4), TIMEOUT)
        .expect("FRR iBGP Established");
    bird.wait_established(ip(A4), TIMEOUT)
        .expect("BIRD iBGP Established");
    frr.wait_routes(ip(B4), &[net("203.0.113.0/24")], TIMEOUT)
        .expect("FRR has BIRD's route over iBGP");
    bird.wait_routes(ip(A4), &[net("198.51.100.0/24")], TIMEOUT)
        .expect("BIRD has FRR's route over iBGP");
}

#[test]
fn frr_with_zebra_installs_learned_routes_in_its_kernel_table() {
    let (lab, frr_ns, bird_ns) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65002).local(ip(A4)))
        .peer(PeerConfig::new(ip(B6), 65002).local(ip(A6)));
    let bird_cfg = BgpConfig::new(65002, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)).passive())
        .peer(PeerConfig::new(ip(A6), 65001).local(ip(B6)).passive())
        .network(net("203.0.113.0/24"))
        .network(net("2001:db8:2::/48"));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let _bird = Bird::start(&lab, "bird", &bird_cfg).expect("start BIRD");
    frr.wait_routes(ip(B4), &[net("203.0.113.0/24")], TIMEOUT)
        .unwrap();
    frr.wait_routes(ip(B6), &[net("2001:db8:2::/48")], TIMEOUT)
        .unwrap();
    let routes = interop::poll::poll_until(
        "zebra to install both routes",
        TIMEOUT,
        Duration::from_millis(100),
        || {
            let r = frr_ns.kernel_routes()?;
            let has = |p: &str| r.iter().any(|k| k.dst == net(p) && k.protocol == "bgp");
            Ok((has("203.0.113.0/24") && has("2001:db8:2::/48")).then_some(r))
        },
    )
    .unwrap();
    let v4 = routes
        .iter()
        .find(|k| k.dst == net("203.0.113.0/24"))
        .unwrap();
    assert_eq!(v4.gateway, Some(ip(B4)));
    assert_eq!(v4.dev.as_deref(), Some("eth0"));
    assert!(routes
        .iter()
        .any(|k| k.dst == net("192.0.2.0/24") && k.protocol == "kernel"));
    // BIRD exports nothing to its kernel (no kernel protocol): its table has only connected routes.
    assert!(bird_ns
        .kernel_routes()
        .unwrap()
        .iter()
        .all(|k| k.protocol == "kernel"));
}
