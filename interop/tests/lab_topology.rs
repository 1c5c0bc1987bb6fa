//! Lab tests: containerlab topologies brought up as namespaces (run as root).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use interop::topology::instantiate::up;
use interop::topology::Topology;
use interop::Lab;

fn exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

#[test]
fn small_topology_comes_up_pings_and_goes_away() {
    require_root();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/small.clab.yml");
    let t = Topology::from_file(&path).unwrap();
    let rt = up(&t, PREFIX, true).unwrap();
    let names: Vec<String> = rt
        .lab
        .namespaces()
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| exists(n)));
    let h1 = rt.ns("h1").unwrap();
    assert!(
        h1.ping(ip("192.0.2.2"), 2).unwrap(),
        "IPv4 across the bridge"
    );
    assert!(
        h1.ping(ip("2001:db8::2"), 2).unwrap(),
        "IPv6 across the bridge"
    );
    assert!(
        !h1.ping(ip("192.0.2.99"), 1).unwrap(),
        "no reply from an absent host"
    );
    let bridge_ports = rt
        .ns("sw")
        .unwrap()
        .ip(&["-o", "link", "show", "master", "sw"])
        .unwrap();
    assert_eq!(bridge_ports.lines().count(), 2, "{bridge_ports}");
    drop(rt);
    assert!(
        names.iter().all(|n| !exists(n)),
        "namespaces removed on drop"
    );
}

const MIRRORED: &str = r#"
name: mirrored
topology:
  nodes:
    sw:
      kind: bridge
      labels:
        understudy.mirror: "sw-mon<-sw-a"
    a:
      exec: ["ip addr add 192.0.2.1/24 dev eth1"]
    b:
      exec: ["ip addr add 192.0.2.2/24 dev eth1"]
    tap:
      exec: ["ip link set mon0 promisc on"]
  links:
    - endpoints: ["a:eth1", "sw:sw-a"]
    - endpoints: ["b:eth1", "sw:sw-b"]
    - endpoints: ["tap:mon0", "sw:sw-mon"]
"#;

fn rx_packets(ns: &interop::Netns, dev: &str) -> u64 {
    let out = ns.ip(&["-j", "-s", "link", "show", "dev", dev]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["stats64"]["rx"]["packets"].as_u64().unwrap()
}

#[test]
fn mirror_port_sees_the_traffic_of_its_source_port() {
    require_root();
    let t = Topology::from_str_named(MIRRORED, "mirrored").unwrap();
    let rt = up(&t, PREFIX, true).unwrap();
    let ports = rt
        .ns("sw")
        .unwrap()
        .ip(&["-o", "link", "show", "master", "sw"])
        .unwrap();
    assert!(
        !ports.contains("sw-mon"),
        "the mirror destination is not a bridge port: {ports}"
    );
    let tap = rt.ns("tap").unwrap();
    let before = rx_packets(tap, "mon0");
    assert!(rt.ns("a").unwrap().ping(ip("192.0.2.2"), 5).unwrap());
    let after = rx_packets(tap, "mon0");
    assert!(
        after >= before + 5,
        "mirror saw {} frames for 5 echo requests",
        after - before
    );
}

/// A test that fails inside a lab: the lab's namespaces are gone, and its work directory is
/// kept as that test's evidence. The failing test is a thread of its own, named as libtest
/// names its test threads, that ends by its panic. (A panic caught on this test's own thread
/// would mark this thread as failed, and its evidence would stay although it passes.) This
/// test removes the evidence it made, so that it leaves nothing in the evidence root.
#[test]
fn lab_is_removed_when_a_test_panics() {
    require_root();
    let doomed = "lab_topology_doomed::a_failing_test";
    let made = std::thread::Builder::new()
        .name(doomed.into())
        .spawn(|| {
            let mut lab = Lab::new(PREFIX).unwrap();
            let ns = lab.add_namespace("doomed").unwrap();
            let made = (ns.name().to_string(), lab.workdir().to_path_buf());
            assert!(exists(&made.0));
            std::panic::panic_any(made);
        })
        .unwrap()
        .join()
        .expect_err("the failing test panics");
    let (name, workdir) = *made
        .downcast::<(String, std::path::PathBuf)>()
        .expect("the failing test's payload: its namespace and work directory");
    assert!(!exists(&name), "{name} must be gone after the panic");
    assert!(!workdir.exists(), "{workdir:?} is moved to the evidence");
    let pid = std::process::id();
    let root = Path::new(interop::evidence::EVIDENCE_ROOT);
    let evidence = root.join(format!("lab_topology_doomed-a_failing_test-{pid}"));
    let lab_id = workdir.file_name().unwrap();
    assert!(
        evidence.join(lab_id).is_dir(),
        "the failed test's evidence is kept in {evidence:?}"
    );
    std::fs::remove_dir_all(&evidence).unwrap();
    let this_test = root.join(format!("lab_is_removed_when_a_test_panics-{pid}"));
    assert!(
        !this_test.exists(),
        "this test keeps no evidence: {this_test:?}"
    );
}

#[test]
fn lab_processes_are_ended_by_drop() {
    require_root();
    let mut lab = Lab::new(PREFIX).unwrap();
    let ns = lab.add_namespace("proc").unwrap();
    let pid = lab.spawn(&ns, "sleeper", "sleep", &["600"]).unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // `ip netns exec` joins the namespace, then execs: wait for it to be listed there.
    interop::poll::poll_until(
        "the process to run inside the namespace",
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(20),
        || {
            let listed = interop::cmd::run("ip", &["netns", "pids", ns.name()])?;
            Ok(listed
                .lines()
                .any(|l| l.trim() == pid.to_string())
                .then_some(()))
        },
    )
    .unwrap();
    drop(lab);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "sleep {pid} still running"
    );
}

#[test]
fn sweep_removes_stale_labs_only() {
    require_root();
    // No process can have this PID (above the kernel's largest pid_max, 2^22).
    let stale = "uslab-4194305a-stale";
    interop::cmd::run("ip", &["netns", "add", stale]).unwrap();
    let mut live = Lab::new(PREFIX).unwrap();
    let live_ns = live.add_namespace("live").unwrap();
    let removed = interop::sweep::sweep(PREFIX, false).unwrap();
    assert!(removed.contains(&stale.to_string()), "{removed:?}");
    assert!(!exists(stale));
    assert!(exists(live_ns.name()), "a live lab is kept");
    assert!(!removed.iter().any(|n| n == live_ns.name()));
    live.teardown();
    assert!(!exists(live_ns.name()));
}

#[test]
fn persisted_lab_outlives_its_value_until_down() {
    require_root();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/small.clab.yml");
    let t = Topology::from_file(&path).unwrap();
    let _ = interop::topology::instantiate::down(PREFIX, &t.name);
    let rt = up(&t, PREFIX, true).unwrap();
    let state = rt.persist(PREFIX).unwrap();
    assert_eq!(state.namespaces.len(), 3);
    assert!(
        state.namespaces.iter().all(|n| exists(n)),
        "still up after the value is gone"
    );
    let h1 = interop::Netns::from_name(
        state
            .namespaces
            .iter()
            .find(|n| n.ends_with("-h1"))
            .unwrap()
            .clone(),
    );
    assert!(h1.ping(ip("192.0.2.2"), 1).unwrap());
    let removed = interop::topology::instantiate::down(PREFIX, &t.name).unwrap();
    assert_eq!(removed.lab_id, state.lab_id);
    assert!(state.namespaces.iter().all(|n| !exists(n)));
    assert!(
        interop::topology::instantiate::down(PREFIX, &t.name).is_err(),
        "nothing left to remove"
    );
}

#[test]
fn cutting_a_nodes_links_stops_its_traffic_until_restored() {
    require_root();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/small.clab.yml");
    let rt = up(&Topology::from_file(&path).unwrap(), PREFIX, true).unwrap();
    let h1 = rt.ns("h1").unwrap().clone();
    assert!(h1.ping(ip("192.0.2.2"), 1).unwrap());
    let cut = rt.cut_links("h2").unwrap();
    assert_eq!(
        cut,
        vec![("sw".to_string(), "h2".to_string())],
        "the bridge port is cut"
    );
    assert!(
        !h1.ping(ip("192.0.2.2"), 2).unwrap(),
        "h2 is unreachable with its port down"
    );
    rt.restore_links(&cut).unwrap();
    interop::poll::poll_until(
        "h2 to answer again",
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(100),
        || Ok(h1.ping(ip("192.0.2.2"), 1)?.then_some(())),
    )
    .unwrap();
}

/// A box and a peer on a switch, for [`a_rebooted_box_sends_nothing_of_its_dead_sockets`].
const BOX_AND_PEER: &str = r#"
name: reboot
topology:
  nodes:
    switch:
      kind: bridge
    box:
      kind: linux
      exec:
        - ip addr add 192.0.2.1/24 dev eth1
    peer:
      kind: linux
      exec:
        - ip addr add 192.0.2.11/24 dev eth1
  links:
    - endpoints: ["box:eth1", "switch:sw-box"]
    - endpoints: ["peer:eth1", "switch:sw-peer"]
"#;

/// The TCP states of the box's connections to the peer's port 179 (`ss -Htan`), by local port.
fn box_states(rt: &interop::topology::instantiate::RunningTopology) -> Vec<(u16, String)> {
    let out = rt
        .ns("box")
        .unwrap()
        .exec("ss", &["-Htan", "( dport = :179 )"])
        .unwrap();
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f.get(3)?.rsplit(':').next()?.parse().ok()?;
            Some((port, f.first()?.to_string()))
        })
        .collect()
}

/// What `RunningTopology::reboot_node` is for: a box whose process died while its links were
/// cut keeps that process's sockets, orphaned and closing (FIN_WAIT1, FIN queued), and they
/// send their FIN when the links return (the control connection, first). After a reboot (its
/// namespace destroyed and made anew, links re-created) the second connection's orphan sends
/// nothing: the peer's capture shows no FIN or RST of it, and the new box holds no socket.
#[test]
fn a_rebooted_box_sends_nothing_of_its_dead_sockets() {
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use interop::capture::{analyze, own_bgp_frames, Capture};
    use interop::poll::{poll_until, watch};

    require_root();
    let t = Topology::from_str_named(BOX_AND_PEER, "reboot.clab.yml").unwrap();
    let rt = up(&t, "ust2-", false).unwrap();
    let (boxns, peer) = (
        rt.ns("box").unwrap().clone(),
        rt.ns("peer").unwrap().clone(),
    );
    let listener = peer
        .enter(|| TcpListener::bind("192.0.2.11:179"))
        .unwrap()
        .unwrap();
    let connect = || {
        let c = boxns
            .enter(|| TcpStream::connect("192.0.2.11:179"))
            .unwrap()
            .unwrap();
        let accepted = listener.accept().unwrap().0;
        (c, accepted)
    };
    // Only the peer's own frames: a frame the switch floods to every port, for a MAC it has
    // not learnt, is nothing the peer received (as in the failover tests).
    let own = own_bgp_frames(&peer, "eth1").unwrap();
    let capture = Capture::start(&peer, "eth1", &own, rt.lab.workdir(), "wire-peer").unwrap();

    // Control: the process dies while the links are cut; they come back; its FIN arrives.
    let (c1, _a1) = connect();
    let control = c1.local_addr().unwrap();
    let cut = rt.cut_links("box").unwrap();
    drop(c1);
    assert!(box_states(&rt).contains(&(control.port(), "FIN-WAIT-1".into())));
    rt.restore_links(&cut).unwrap();
    poll_until(
        "the orphaned socket's FIN to reach the peer",
        Duration::from_secs(15),
        Duration::from_millis(50),
        || Ok((!box_states(&rt).contains(&(control.port(), "FIN-WAIT-1".into()))).then_some(())),
    )
    .unwrap();

    // The same, but the box reboots before its links come back.
    let (c2, _a2) = connect();
    let rebooted = c2.local_addr().unwrap();
    let cut = rt.cut_links("box").unwrap();
    drop(c2);
    assert!(box_states(&rt).contains(&(rebooted.port(), "FIN-WAIT-1".into())));
    let cut_after_reboot = rt.reboot_node("box").unwrap();
    assert_eq!(
        cut_after_reboot, cut,
        "the links come back cut where cut_links cut them"
    );
    assert_eq!(
        box_states(&rt),
        Vec::new(),
        "a rebooted box holds no socket"
    );
    rt.restore_links(&cut_after_reboot).unwrap();
    // The new box is on the wire again.
    assert!(boxns.ping("192.0.2.11".parse().unwrap(), 5).unwrap());
    // The orphan's retransmission timer (0.2 s doubling, links cut for well under 1 s)
    // would have fired several times within this.
    let since = Instant::now();
    watch(Duration::from_secs(5)).unwrap();
    let w = analyze(&capture.stop().unwrap()).unwrap();
    let peer_addr: std::net::SocketAddr = "192.0.2.11:179".parse().unwrap();
    assert!(w.fin.contains(&(control, peer_addr)), "{:?}", w.fin);
    assert!(
        !w.fin.contains(&(rebooted, peer_addr)) && !w.rst.contains(&(rebooted, peer_addr)),
        "the rebooted box's dead socket sent {:?} {:?} within {:?}",
        w.fin,
        w.rst,
        since.elapsed()
    );
}
