//! Lab test of the failover (issue 7) with TCP-MD5 and IPv6 sessions, run as root by
//! `cargo test --workspace --release`: FRR and BIRD each hold an IPv4 and an IPv6 session
//! with a bgpd primary (interop/topologies/failover-md5-ipv6.clab.yml); FRR's IPv4 session
//! and BIRD's IPv6 session are signed with TCP-MD5 (RFC 2385). A bgpd standby follows on a
//! mirror port. The primary's box dies (links cut, process killed by PID) and the standby
//! takes all four sessions over.
//!
//! What must hold, for every neighbour:
//! - its link shows no OPEN, NOTIFICATION, SYN, FIN or RST during the scenario (capture);
//! - every session's uptime ran on, it dropped no connection and counted no NOTIFICATION;
//! - its Adj-RIB-In (IPv4 and IPv6 prefixes, per session) is identical before and after;
//! - its neighbour table maps the session addresses (192.0.2.1 by gratuitous ARP,
//!   2001:db8::1 by unsolicited neighbour advertisement) to the standby's MAC afterwards,
//!   the primary's before.
//!
//! The sessions are watched for 12 s after the takeover, longer than their 9 s hold time:
//! a neighbour's kernel drops every segment without a valid MD5 signature (and a neighbour
//! that still sent to the dead primary's MAC would get nothing), so a session that stays
//! Established with its uptime unbroken shows that the standby's rebuilt socket signs with
//! the key and that the neighbour reaches it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Duration;

use interop::demo::{self, DemoLab, Scenario, ScenarioOutcome};
use interop::failover::Failover;
use interop::Netns;

mod common;
use common::{ip, require_root};

/// The namespace prefix of this test.
const PREFIX: &str = "uslb-";
/// Prefixes of the MRT dump fed over IPv4 (half by FRR, half by BIRD); each also
/// originates 150 IPv6 /48s.
const SLICE: usize = 400;
/// The session addresses that move to the standby.
const SESSION_V4: &str = "192.0.2.1";
const SESSION_V6: &str = "2001:db8::1";

/// The MAC of `iface` in `ns`.
fn mac_of(ns: &Netns, iface: &str) -> String {
    let out = ns.ip(&["-j", "link", "show", "dev", iface]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["address"].as_str().unwrap().to_string()
}

/// The link-layer address `ns` holds for `addr` (its neighbour table), if any.
fn neighbour_mac(ns: &Netns, addr: IpAddr) -> Option<String> {
    let family = if addr.is_ipv6() { "-6" } else { "-4" };
    let out = ns
        .ip(&[family, "-j", "neigh", "show", &addr.to_string()])
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v.as_array()?
        .iter()
        .find_map(|e| e["lladdr"].as_str().map(str::to_string))
}

/// The failover of [`Failover`], with the neighbours' ARP and neighbour-discovery entries
/// for the session addresses read before and after.
struct CheckedFailover {
    inner: Failover,
    /// (neighbour, session address, MAC before, MAC after).
    entries: Vec<(String, IpAddr, Option<String>, Option<String>)>,
    primary_mac: String,
    standby_mac: String,
}

impl Scenario for CheckedFailover {
    fn name(&self) -> &str {
        "failover of MD5 and IPv6 sessions"
    }

    fn wants_standby(&self) -> bool {
        true
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> interop::Result<ScenarioOutcome> {
        self.primary_mac = mac_of(lab.rt.ns("primary")?, "eth1");
        self.standby_mac = mac_of(lab.rt.ns("standby")?, "eth1");
        let before: Vec<_> = ["frr", "bird"]
            .iter()
            .flat_map(|n| [(*n, ip(SESSION_V4)), (*n, ip(SESSION_V6))])
            .map(|(n, a)| (n.to_string(), a, neighbour_mac(lab.rt.ns(n).unwrap(), a)))
            .collect();
        let outcome = self.inner.run(lab)?;
        for (n, a, b) in before {
            let after = neighbour_mac(lab.rt.ns(&n)?, a);
            self.entries.push((n, a, b, after));
        }
        Ok(outcome)
    }
}

#[test]
fn md5_and_ipv6_sessions_survive_an_unplanned_failover() {
    require_root();
    let opts = common::demo_options("failover-md5-ipv6.clab.yml", PREFIX, SLICE);
    let mut scenario = CheckedFailover {
        inner: Failover {
            watch: Duration::from_secs(12),
        },
        entries: Vec::new(),
        primary_mac: String::new(),
        standby_mac: String::new(),
    };
    let report = demo::run(&opts, &mut scenario, &mut |s| eprintln!("{s}")).unwrap();
    println!("{}", demo::render(&report));

    assert_eq!(report.neighbors.len(), 2);
    for n in &report.neighbors {
        assert_eq!(n.sessions.len(), 2, "an IPv4 and an IPv6 session: {n:?}");
        common::assert_saw_nothing(n);
        assert_eq!(n.prefixes_before, n.prefixes_after, "{n:?}");
        // The IPv6 session carries the other neighbour's 150 IPv6 prefixes.
        let v6 = n
            .sessions
            .iter()
            .find(|s| s.peer == Some(ip(SESSION_V6)))
            .unwrap_or_else(|| panic!("{}: no IPv6 session: {n:?}", n.name));
        assert!(
            v6.established && v6.prefixes_received >= Some(150),
            "{}: the IPv6 session after the failover: {v6:?}",
            n.name
        );
        let v4 = n
            .sessions
            .iter()
            .find(|s| s.peer == Some(ip(SESSION_V4)))
            .unwrap_or_else(|| panic!("{}: no IPv4 session: {n:?}", n.name));
        assert!(
            v4.established && v4.prefixes_received >= Some(1),
            "{}: {v4:?}",
            n.name
        );
    }
    assert!(
        report
            .takeover_ms
            .expect("the standby reported its takeover")
            > 0.0
    );

    // The session addresses moved: each neighbour reached the primary's MAC before and
    // the standby's after (gratuitous ARP for IPv4, unsolicited NA for IPv6).
    assert_ne!(scenario.primary_mac, scenario.standby_mac);
    assert_eq!(scenario.entries.len(), 4);
    for (n, a, before, after) in &scenario.entries {
        assert_eq!(
            before.as_deref(),
            Some(scenario.primary_mac.as_str()),
            "{n}: {a} before the failover"
        );
        assert_eq!(
            after.as_deref(),
            Some(scenario.standby_mac.as_str()),
            "{n}: {a} after the failover"
        );
    }
    println!(
        "takeover_ms {:.1}; neighbour entries moved from {} to {}",
        report.takeover_ms.unwrap(),
        scenario.primary_mac,
        scenario.standby_mac
    );
}
