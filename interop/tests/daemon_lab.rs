//! Lab tests of the bgpd daemon against FRR, BIRD and GoBGP (run as root): eBGP over IPv4
//! and IPv6 with routes both ways, our Loc-RIB read through `understudy rib --json`, and the kernel table
//! filled by `[fib] enabled = true`.
//!
//! The bgpd and understudy binaries are taken from the test executable's target directory
//! (`target/<profile>/`); `cargo test --workspace` builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use interop::neighbor::bird::Bird;
use interop::neighbor::frr::Frr;
use interop::neighbor::gobgp::Gobgp;
use interop::{BgpConfig, Lab, Neighbor, Netns, PeerConfig};
use serde_json::Value;

mod common;
use common::{ip, net, require_root, start_bgpd};

const PREFIX: &str = "usdm-";
const TIMEOUT: Duration = Duration::from_secs(45);
const FRR4: &str = "192.0.2.1";
const DUT4: &str = "192.0.2.2";
const FRR6: &str = "2001:db8::1";
const DUT6: &str = "2001:db8::2";

/// FRR and the daemon under test joined by a veth, addressed FRR4/FRR6 and DUT4/DUT6.
fn lab() -> (Lab, Netns, Netns) {
    require_root();
    let mut lab = Lab::new(PREFIX).expect("lab");
    let frr = lab.add_namespace("frr").expect("namespace frr");
    let dut = lab.add_namespace("dut").expect("namespace dut");
    lab.add_veth(&frr, "eth0", &dut, "eth0").expect("veth");
    for (ns, v4, v6) in [(&frr, FRR4, FRR6), (&dut, DUT4, DUT6)] {
        lab.add_address(ns, "eth0", net(&format!("{v4}/24")))
            .unwrap();
        lab.add_address(ns, "eth0", net(&format!("{v6}/64")))
            .unwrap();
    }
    (lab, frr, dut)
}

/// Runs `understudy --json ARGS` in `dut` against the default admin address.
fn cli(dut: &Netns, args: &[&str]) -> Result<String, String> {
    common::cli_text(dut, args)
}

/// `understudy --json rib ARGS` as a list of routes (JSON lines).
fn rib(dut: &Netns, args: &[&str]) -> Result<Vec<Value>, String> {
    let mut full = vec!["rib"];
    full.extend_from_slice(args);
    cli(dut, &full).map(|text| {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("rib --json prints JSON lines"))
            .collect()
    })
}

/// Polls `check` until it gives Some or `TIMEOUT` passes (then panics with the last state).
fn wait<T>(what: &str, check: impl FnMut() -> Result<Option<T>, String>) -> T {
    common::wait_for(what, TIMEOUT, Duration::from_millis(250), check)
}

const POLICY: &str = "\n[policy.policies.all]\ndefault = \"accept\"\n";

fn dut_config(frr_as: u32, extra_neighbor: &str, fib: bool) -> String {
    format!(
        "router_id = \"{DUT4}\"\nlocal_as = 65002\nlisten_addresses = [\"{DUT4}\", \"{DUT6}\"]\n\
         \n[[neighbor]]\naddress = \"{FRR4}\"\nremote_as = {frr_as}\nhold_time = 9\n\
         connect_retry = 2\nlocal_address = \"{DUT4}\"\nfamilies = [\"ipv4/unicast\"]\n\
         import = [\"all\"]\nexport = [\"all\"]\n{extra_neighbor}\
         \n[[neighbor]]\naddress = \"{FRR6}\"\nremote_as = {frr_as}\nhold_time = 9\n\
         connect_retry = 2\nlocal_address = \"{DUT6}\"\nfamilies = [\"ipv6/unicast\"]\n\
         import = [\"all\"]\nexport = [\"all\"]\n\
         \n[[network]]\nprefix = \"203.0.113.0/24\"\n\n[[network]]\nprefix = \"2001:db8:100::/48\"\n\
         {POLICY}\n[fib]\nenabled = {fib}\n"
    )
}

fn frr_config(local_as: u32) -> BgpConfig {
    let t = (Duration::from_secs(9), Duration::from_secs(3));
    BgpConfig::new(local_as, FRR4.parse().unwrap())
        .peer(
            PeerConfig::new(ip(DUT4), 65002)
                .local(ip(FRR4))
                .timers(t.0, t.1),
        )
        .peer(
            PeerConfig::new(ip(DUT6), 65002)
                .local(ip(FRR6))
                .timers(t.0, t.1),
        )
        .network(net("198.51.100.0/24"))
        .network(net("2001:db8:1::/48"))
}

fn prefixes(routes: &[Value]) -> Vec<String> {
    routes
        .iter()
        .map(|r| r["prefix"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ebgp_with_frr_routes_both_ways_and_into_the_kernel() {
    let (mut lab, _frr_ns, dut) = lab();
    let mut frr = Frr::start(&lab, "frr", &frr_config(65001)).expect("start FRR");
    start_bgpd(&mut lab, &dut, "bgpd", &dut_config(65001, "", true));

    for peer in [DUT4, DUT6] {
        let s = frr
            .wait_established(ip(peer), TIMEOUT)
            .expect("FRR Established");
        assert_eq!(s.state, "Established");
    }
    // Our originated prefixes reach FRR's RIB.
    let got = frr
        .wait_routes(ip(DUT4), &[net("203.0.113.0/24")], TIMEOUT)
        .expect("FRR gets our IPv4 prefix");
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        vec![net("203.0.113.0/24")]
    );
    let got = frr
        .wait_routes(ip(DUT6), &[net("2001:db8:100::/48")], TIMEOUT)
        .expect("FRR gets our IPv6 prefix");
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        vec![net("2001:db8:100::/48")]
    );

    // FRR's prefixes are in our Loc-RIB, learned from FRR.
    let routes = wait("FRR's prefixes in our Loc-RIB", || {
        let r = rib(&dut, &[])?;
        let p = prefixes(&r);
        Ok(
            (p.contains(&"198.51.100.0/24".into()) && p.contains(&"2001:db8:1::/48".into()))
                .then_some(r),
        )
    });
    let v4 = routes
        .iter()
        .find(|r| r["prefix"] == "198.51.100.0/24")
        .unwrap();
    assert_eq!(v4["neighbor"], FRR4);
    assert_eq!(v4["next_hop"], FRR4);
    assert_eq!(v4["as_path"], "65001");
    assert_eq!(v4["best"], true);
    let v6 = routes
        .iter()
        .find(|r| r["prefix"] == "2001:db8:1::/48")
        .unwrap();
    assert_eq!(v6["neighbor"], FRR6);
    assert_eq!(v6["as_path"], "65001");
    assert_eq!(
        prefixes(&rib(&dut, &["--afi", "ipv4"]).unwrap()),
        vec!["198.51.100.0/24", "203.0.113.0/24"]
    );

    // Both sessions are Established in `understudy neighbors`.
    let list: Value = serde_json::from_str(&cli(&dut, &["neighbors"]).unwrap()).unwrap();
    let states: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["address"].as_str().unwrap(), n["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states.len(), 2);
    assert!(
        states.iter().all(|(_, s)| *s == "Established"),
        "{states:?}"
    );

    // The kernel of the daemon's namespace has FRR's prefixes with protocol bgp.
    for (family, prefix, via) in [
        ("-4", "198.51.100.0/24", FRR4),
        ("-6", "2001:db8:1::/48", FRR6),
    ] {
        let line = wait(&format!("{prefix} in the kernel"), || {
            let text = dut
                .ip(&[family, "route", "show", "proto", "bgp"])
                .map_err(|e| e.to_string())?;
            Ok(text
                .lines()
                .find(|l| l.starts_with(prefix))
                .map(str::to_string))
        });
        assert!(line.contains(&format!("via {via}")), "{line}");
    }
}

#[test]
fn ibgp_with_frr_and_soft_reset_in_keeps_routes() {
    let (mut lab, _frr_ns, dut) = lab();
    let mut frr = Frr::start(&lab, "frr", &frr_config(65002)).expect("start FRR");
    start_bgpd(&mut lab, &dut, "bgpd", &dut_config(65002, "", false));
    frr.wait_established(ip(DUT4), TIMEOUT)
        .expect("FRR Established (iBGP)");
    frr.wait_routes(ip(DUT4), &[net("203.0.113.0/24")], TIMEOUT)
        .expect("FRR gets our prefix over iBGP");
    let routes = wait("FRR's prefix in our Loc-RIB over iBGP", || {
        let r = rib(&dut, &["198.51.100.0/24"])?;
        Ok((!r.is_empty()).then_some(r))
    });
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0]["as_path"], "");
    assert_eq!(routes[0]["local_pref"], 100);
    let n: Value = serde_json::from_str(&cli(&dut, &["neighbor", FRR4]).unwrap()).unwrap();
    assert_eq!(n["ibgp"], true);
    assert_eq!(n["state"], "Established");
    let transitions = n["established_transitions"].as_u64().unwrap();

    // Soft reset in: ROUTE-REFRESH to FRR; the session stays up and the route stays.
    cli(&dut, &["reset", FRR4, "--soft", "in"]).expect("soft reset in");
    std::thread::sleep(Duration::from_secs(2));
    let n: Value = serde_json::from_str(&cli(&dut, &["neighbor", FRR4]).unwrap()).unwrap();
    assert_eq!(n["state"], "Established");
    assert_eq!(n["established_transitions"].as_u64().unwrap(), transitions);
    assert_eq!(
        prefixes(&rib(&dut, &["198.51.100.0/24"]).unwrap()),
        vec!["198.51.100.0/24"]
    );
    let v: Value = frr
        .vtysh_json(&format!("show bgp neighbors {DUT4} json"))
        .unwrap();
    let refresh_in = &v[DUT4]["messageStats"]["routeRefreshRecv"];
    assert!(
        refresh_in.as_u64().unwrap_or(0) >= 1,
        "FRR saw no ROUTE-REFRESH: {refresh_in}"
    );
}

#[test]
fn md5_session_with_frr_and_export_policy_denies_a_prefix() {
    let (mut lab, _frr_ns, dut) = lab();
    let t = (Duration::from_secs(9), Duration::from_secs(3));
    let frr_cfg = BgpConfig::new(65001, FRR4.parse().unwrap())
        .peer(
            PeerConfig::new(ip(DUT4), 65002)
                .local(ip(FRR4))
                .timers(t.0, t.1)
                .md5("lab-secret"),
        )
        .network(net("198.51.100.0/24"));
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    let config = format!(
        "router_id = \"{DUT4}\"\nlocal_as = 65002\nlisten_addresses = [\"{DUT4}\"]\n\
         \n[[neighbor]]\naddress = \"{FRR4}\"\nremote_as = 65001\nhold_time = 9\n\
         connect_retry = 2\nlocal_address = \"{DUT4}\"\nmd5_password = \"lab-secret\"\n\
         families = [\"ipv4/unicast\"]\nimport = [\"all\"]\nexport = [\"out\"]\n\
         \n[[network]]\nprefix = \"203.0.113.0/25\"\n\n[[network]]\nprefix = \"203.0.113.128/25\"\n\
         {POLICY}\n[policy.prefix_lists]\ndenied = [\"203.0.113.128/25\"]\n\
         \n[policy.policies.out]\ndefault = \"accept\"\n[[policy.policies.out.terms]]\n\
         match = {{ prefix_list = \"denied\" }}\naction = \"reject\"\n"
    );
    start_bgpd(&mut lab, &dut, "bgpd", &config);
    frr.wait_established(ip(DUT4), TIMEOUT)
        .expect("FRR Established over MD5");
    frr.wait_routes(ip(DUT4), &[net("203.0.113.0/25")], TIMEOUT)
        .expect("the permitted prefix reaches FRR over MD5");
    wait("FRR's prefix in our Loc-RIB over MD5", || {
        let r = rib(&dut, &["198.51.100.0/24"])?;
        Ok((!r.is_empty()).then_some(()))
    });
    // Both prefixes are ours in the Loc-RIB; only the permitted one is in the Adj-RIB-Out
    // and in FRR's RIB.
    let loc = prefixes(&rib(&dut, &["203.0.113.0/24"]).unwrap());
    assert_eq!(loc, vec!["203.0.113.0/25", "203.0.113.128/25"]);
    let out = prefixes(&rib(&dut, &["--out", FRR4]).unwrap());
    assert_eq!(out, vec!["203.0.113.0/25"]);
    let at_frr = frr.routes_received(ip(DUT4)).unwrap();
    assert_eq!(
        at_frr.into_iter().collect::<Vec<_>>(),
        vec![net("203.0.113.0/25")]
    );
}

/// eBGP over IPv4 and IPv6 with `neighbor` (started with [`frr_config`] shapes): sessions
/// Established, our prefixes in its RIB, its prefixes in our Loc-RIB.
fn ebgp_both_ways(neighbor: &mut dyn Neighbor, dut: &Netns) {
    for peer in [DUT4, DUT6] {
        neighbor
            .wait_established(ip(peer), TIMEOUT)
            .expect("neighbour Established");
    }
    let got = neighbor
        .wait_routes(ip(DUT4), &[net("203.0.113.0/24")], TIMEOUT)
        .expect("neighbour gets our IPv4 prefix");
    assert!(got.contains(&net("203.0.113.0/24")), "{got:?}");
    let got = neighbor
        .wait_routes(ip(DUT6), &[net("2001:db8:100::/48")], TIMEOUT)
        .expect("neighbour gets our IPv6 prefix");
    assert!(got.contains(&net("2001:db8:100::/48")), "{got:?}");
    let routes = wait("the neighbour's prefixes in our Loc-RIB", || {
        let r = rib(dut, &[])?;
        let p = prefixes(&r);
        Ok(
            (p.contains(&"198.51.100.0/24".into()) && p.contains(&"2001:db8:1::/48".into()))
                .then_some(r),
        )
    });
    for (prefix, from) in [("198.51.100.0/24", FRR4), ("2001:db8:1::/48", FRR6)] {
        let r = routes.iter().find(|r| r["prefix"] == prefix).unwrap();
        assert_eq!(r["neighbor"], from, "{r}");
        assert_eq!(r["as_path"], "65001", "{r}");
        assert_eq!(r["best"], true, "{r}");
    }
}

#[test]
fn ebgp_with_bird_routes_both_ways() {
    let (mut lab, _ns, dut) = lab();
    let mut bird = Bird::start(&lab, "frr", &frr_config(65001)).expect("start BIRD");
    start_bgpd(&mut lab, &dut, "bgpd", &dut_config(65001, "", false));
    ebgp_both_ways(&mut bird, &dut);
}

#[test]
fn ebgp_with_gobgp_routes_both_ways() {
    let (mut lab, _ns, dut) = lab();
    let mut gobgp = Gobgp::start(&lab, "frr", &frr_config(65001)).expect("start GoBGP");
    start_bgpd(&mut lab, &dut, "bgpd", &dut_config(65001, "", false));
    ebgp_both_ways(&mut gobgp, &dut);
}

#[test]
fn frr_restarting_with_graceful_restart_keeps_stale_routes_until_end_of_rib() {
    let (mut lab, _ns, dut) = lab();
    let t = (Duration::from_secs(9), Duration::from_secs(3));
    let frr_cfg = BgpConfig::new(65001, FRR4.parse().unwrap())
        .peer(
            PeerConfig::new(ip(DUT4), 65002)
                .local(ip(FRR4))
                .timers(t.0, t.1),
        )
        .network(net("198.51.100.0/24"))
        .graceful_restart(true);
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).expect("start FRR");
    start_bgpd(&mut lab, &dut, "bgpd", &dut_config(65001, "", false));
    frr.wait_established(ip(DUT4), TIMEOUT)
        .expect("FRR Established");
    let fresh = wait("FRR's prefix in our Loc-RIB", || {
        let r = rib(&dut, &["198.51.100.0/24"])?;
        Ok((!r.is_empty()).then_some(r))
    });
    assert_eq!(fresh[0]["stale"], false);
    let n: Value = serde_json::from_str(&cli(&dut, &["neighbor", FRR4]).unwrap()).unwrap();
    assert_eq!(n["negotiated"]["graceful_restart"], true, "{n}");

    // FRR's bgpd dies: the route stays, marked stale.
    frr.kill();
    let stale = wait("the route kept as stale", || {
        let r = rib(&dut, &["198.51.100.0/24"])?;
        Ok(r.first().filter(|r| r["stale"] == true).cloned())
    });
    assert_eq!(stale["neighbor"], FRR4);

    // FRR comes back; after its End-of-RIB the route is fresh again.
    frr.restart().expect("restart FRR");
    frr.wait_established(ip(DUT4), TIMEOUT)
        .expect("FRR Established again");
    wait("the route fresh after End-of-RIB", || {
        let r = rib(&dut, &["198.51.100.0/24"])?;
        Ok(r.first().filter(|r| r["stale"] == false).cloned())
    });
}
