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

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bgpd::wire::{
    builder::attributes, encode_message, AfiSafi, AsPath, Asn, AttributeValue, Capability,
    HoldTime, Ipv4Prefix, Message, Nlri, Open, Origin, RouterId, SessionContext, Update,
};
use interop::rawpeer::RawPeer;
use interop::{Lab, Netns};
use serde_json::Value;

mod common;
use common::{binary, net, require_root, start_bgpd};

const PREFIX: &str = "useg-";
const PEER: &str = "192.0.2.11";
const SESSION: &str = "192.0.2.1";
const PRIM_OWN: &str = "192.0.2.3";
const STBY_OWN: &str = "192.0.2.2";
const TIMEOUT: Duration = Duration::from_secs(60);

fn config(ha: &str) -> String {
    format!(
        "router_id = \"{SESSION}\"\nlocal_as = 65000\nlisten_addresses = [\"{SESSION}\"]\n\
         \n[[neighbor]]\naddress = \"{PEER}\"\nremote_as = 65011\nhold_time = 90\n\
         passive = true\nlocal_address = \"{SESSION}\"\nfamilies = [\"ipv4/unicast\"]\n\
         import = [\"all\"]\nexport = [\"all\"]\n\
         \n[policy.policies.all]\ndefault = \"accept\"\n\n[ha]\n{ha}"
    )
}

/// `understudy --json ARGS` in `ns`.
fn cli(ns: &Netns, args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ns
        .exec_output(binary("understudy").to_str().unwrap(), &all)
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn neighbor(ns: &Netns) -> Result<Value, String> {
    let v = cli(ns, &["neighbors"])?;
    let list = v
        .as_array()
        .cloned()
        .or_else(|| v["neighbors"].as_array().cloned());
    list.and_then(|l| l.into_iter().find(|n| n["address"] == PEER))
        .ok_or_else(|| format!("no neighbour {PEER} in {v}"))
}

fn wait<T>(what: &str, mut check: impl FnMut() -> Result<Option<T>, String>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = String::new();
    loop {
        match check() {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) => last = e,
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_tail(lab: &Lab, name: &str) -> String {
    let text =
        std::fs::read_to_string(lab.workdir().join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn mirror(sw: &Netns, port: &str, mon: &str) {
    let qdiscs = sw.tc(&["qdisc", "show", "dev", port]).unwrap();
    if !qdiscs.contains("ingress") {
        sw.tc(&["qdisc", "add", "dev", port, "ingress"]).unwrap();
    }
    sw.tc(&[
        "filter", "add", "dev", port, "parent", "ffff:", "prio", "10", "protocol", "all", "u32",
        "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", mon,
    ])
    .unwrap();
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
    require_root();
    let mut lab = Lab::new(PREFIX).expect("lab");
    let peer = lab.add_namespace("peer").unwrap();
    let prim = lab.add_namespace("prim").unwrap();
    let stby = lab.add_namespace("stby").unwrap();
    let sw = lab.add_namespace("sw").unwrap();
    lab.add_bridge(&sw, "br0").unwrap();
    for (ns, port, addr) in [
        (&peer, "p-peer", PEER),
        (&prim, "p-prim", PRIM_OWN),
        (&stby, "p-stby", STBY_OWN),
    ] {
        lab.add_veth(&sw, port, ns, "eth0").unwrap();
        lab.set_master(&sw, port, "br0").unwrap();
        lab.add_address(ns, "eth0", net(&format!("{addr}/24")))
            .unwrap();
    }
    lab.add_address(&prim, "eth0", net(&format!("{SESSION}/24")))
        .unwrap();
    lab.add_veth(&sw, "p-mon", &stby, "mon0").unwrap();
    stby.ip(&["link", "set", "mon0", "promisc", "on"]).unwrap();
    mirror(&sw, "p-prim", "p-mon");
    mirror(&sw, "p-peer", "p-mon");

    let prim_pid = start_bgpd(
        &mut lab,
        &prim,
        "primary",
        &config(&format!(
            "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"{PRIM_OWN}:50052\"\n"
        )),
    );
    // The raw peer: OPEN (hold time 90 s: no KEEPALIVE needed during the test), KEEPALIVE.
    let mut rp = RawPeer::connect(
        &peer,
        SocketAddr::new(SESSION.parse().unwrap(), 179),
        TIMEOUT,
    )
    .expect("connect to the primary");
    let open = Open::new(
        Asn(65011),
        HoldTime::new(90).unwrap(),
        RouterId(PEER.parse().unwrap()),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::FourOctetAs(Asn(65011)),
        ],
    );
    rp.send(&encode_message(&Message::Open(open), &SessionContext::new()).unwrap())
        .unwrap();
    rp.expect_type(1, TIMEOUT).expect("the primary's OPEN");
    rp.send_keepalive().unwrap();
    rp.expect_type(4, TIMEOUT).expect("the primary's KEEPALIVE");
    let established_at = Instant::now();
    wait("the session Established on the primary", || {
        Ok((neighbor(&prim)?["state"] == "Established").then_some(()))
    });

    start_bgpd(
        &mut lab,
        &stby,
        "standby",
        &config(&format!(
            "role = \"standby\"\nnode_id = 2\nprimary = \"http://{PRIM_OWN}:50052\"\n\
             checkpoint_address = \"{STBY_OWN}:50052\"\nmirror_interface = \"mon0\"\n\
             session_interface = \"eth0\"\n"
        )),
    );
    wait(
        "the standby synchronised with the session protected",
        || {
            let h = cli(&stby, &["ha"])?;
            Ok((h["synchronised"] == true
                && h["flows"]
                    .as_array()
                    .is_some_and(|f| f.len() == 1 && f[0]["protected"] == true))
            .then_some(()))
        },
    );
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
    lab.set_link(&sw, "p-prim", false).unwrap();
    assert!(lab.kill_process(prim_pid), "primary killed");
    wait("the standby's takeover", || {
        let h = cli(&stby, &["ha"])?;
        Ok((h["role"] == "primary").then_some(h))
    });
    // The takeover's KEEPALIVE, then the rest of the UPDATE on the same connection.
    let k = rp.expect_type(4, TIMEOUT).unwrap_or_else(|e| {
        panic!(
            "no KEEPALIVE from the standby: {e}\n{}",
            log_tail(&lab, "standby")
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
    assert!(!rp.closed(), "{}", log_tail(&lab, "standby"));
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
