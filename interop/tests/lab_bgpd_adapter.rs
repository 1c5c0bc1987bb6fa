//! Lab test of the `Bgpd` adapter (run as root; bgpd and understudy from the same target
//! directory): understudy's bgpd driven through `interop::Neighbor` like the other daemons,
//! against a real FRR: configured from a `BgpConfig`, sessions and routes read back through
//! `understudy --json`, a route added through the admin API, and a kill and restart by PID.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Duration;

use interop::neighbor::bgpd::Bgpd;
use interop::neighbor::frr::Frr;
use interop::{BgpConfig, Lab, Neighbor, NeighborKind, PeerConfig};
use ipnetwork::IpNetwork;

const PREFIX: &str = "uscs-";
const TIMEOUT: Duration = Duration::from_secs(45);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

#[test]
fn bgpd_behind_the_neighbor_trait_with_frr() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the lab tests must run as root"
    );
    let mut lab = Lab::new(PREFIX).unwrap();
    let frr_ns = lab.add_namespace("frr").unwrap();
    let dut_ns = lab.add_namespace("dut").unwrap();
    lab.add_veth(&frr_ns, "eth0", &dut_ns, "eth0").unwrap();
    lab.add_address(&frr_ns, "eth0", net("192.0.2.1/24"))
        .unwrap();
    lab.add_address(&dut_ns, "eth0", net("192.0.2.2/24"))
        .unwrap();
    let (frr_addr, dut_addr) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let timers = (Duration::from_secs(9), Duration::from_secs(3));

    let mut bgpd = Bgpd::start(
        &lab,
        "dut",
        &BgpConfig::new(65002, "192.0.2.2".parse().unwrap())
            .peer(
                PeerConfig::new(frr_addr, 65001)
                    .local(dut_addr)
                    .timers(timers.0, timers.1),
            )
            .network(net("203.0.113.0/24")),
    )
    .expect("start bgpd");
    assert_eq!(bgpd.kind(), NeighborKind::Understudy);
    let mut frr = Frr::start(
        &lab,
        "frr",
        &BgpConfig::new(65001, "192.0.2.1".parse().unwrap())
            .peer(
                PeerConfig::new(dut_addr, 65002)
                    .local(frr_addr)
                    .timers(timers.0, timers.1),
            )
            .network(net("198.51.100.0/24")),
    )
    .expect("start FRR");

    let s = bgpd.wait_established(frr_addr, TIMEOUT).unwrap();
    assert_eq!(s.state, "Established");
    assert_eq!(s.peer, Some(frr_addr));
    frr.wait_established(dut_addr, TIMEOUT).unwrap();

    // Routes both ways, read through each daemon's own interface.
    let got = bgpd
        .wait_routes(frr_addr, &[net("198.51.100.0/24")], TIMEOUT)
        .unwrap();
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        vec![net("198.51.100.0/24")]
    );
    frr.wait_routes(dut_addr, &[net("203.0.113.0/24")], TIMEOUT)
        .unwrap();
    let all = bgpd.sessions().unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].established);
    assert_eq!(all[0].prefixes_received, Some(1));
    assert!(all[0].messages_received.unwrap() >= 2, "{all:?}");

    // A route originated through the admin API reaches FRR.
    bgpd.add_route(net("203.0.113.128/25")).unwrap();
    frr.wait_routes(dut_addr, &[net("203.0.113.128/25")], TIMEOUT)
        .unwrap();

    // Killed by PID: FRR loses the session; restarted: it comes back with the configured
    // network (the API-added route was not in the configuration).
    let pid = bgpd.pid();
    assert_ne!(pid, 0);
    bgpd.kill();
    assert_eq!(bgpd.pid(), 0);
    assert!(
        bgpd.session(frr_addr).is_err(),
        "a killed bgpd answers nothing"
    );
    interop::poll::poll_until(
        "FRR to notice bgpd is gone",
        TIMEOUT,
        Duration::from_millis(100),
        || Ok((!frr.session(dut_addr)?.established).then_some(())),
    )
    .unwrap();
    bgpd.restart().unwrap();
    assert_ne!(bgpd.pid(), pid);
    bgpd.wait_established(frr_addr, TIMEOUT).unwrap();
    let routes = frr
        .wait_routes(dut_addr, &[net("203.0.113.0/24")], TIMEOUT)
        .unwrap();
    assert!(
        !routes.contains(&net("203.0.113.128/25")),
        "not configured, so gone after the restart: {routes:?}"
    );
    bgpd.stop();
    assert_eq!(bgpd.pid(), 0);
}
