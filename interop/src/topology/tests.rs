use super::*;

const DEMO: &str = include_str!("../../topologies/demo.clab.yml");
const SMALL: &str = include_str!("../../topologies/small.clab.yml");

fn node<'a>(nodes: &'a [Node], name: &str) -> &'a Node {
    nodes.iter().find(|n| n.name == name).unwrap()
}

#[test]
fn demo_topology_parses_with_roles_and_links() {
    let t = Topology::from_str_named(DEMO, "demo.clab.yml").unwrap();
    assert_eq!(t.name, "demo");
    let nodes = t.nodes().unwrap();
    assert_eq!(nodes.len(), 8);
    assert_eq!(node(&nodes, "switch").role, Role::Bridge);
    assert_eq!(node(&nodes, "clientlan").role, Role::Bridge);
    assert_eq!(node(&nodes, "frr").role, Role::Daemon(NeighborKind::Frr));
    assert_eq!(node(&nodes, "bird").role, Role::Daemon(NeighborKind::Bird));
    assert_eq!(node(&nodes, "primary").role, Role::Understudy);
    assert_eq!(node(&nodes, "standby").role, Role::Understudy);
    assert_eq!(node(&nodes, "client").role, Role::Host);
    assert_eq!(node(&nodes, "frr").def.exec.len(), 3);
    assert_eq!(node(&nodes, "frr").def.labels["understudy.feed"], "0/2");
    assert_eq!(
        node(&nodes, "standby").def.labels["understudy.ha"],
        "standby"
    );
    assert_eq!(
        t.bind_source(node(&nodes, "primary"), &["bgpd.toml"]),
        Some(t.base_dir.join("demo/primary.toml"))
    );
    let links = t.links().unwrap();
    assert_eq!(links.len(), 10);
    assert_eq!(
        links[4],
        [
            Endpoint {
                node: "standby".into(),
                iface: "mon0".into()
            },
            Endpoint {
                node: "switch".into(),
                iface: "sw-mon".into()
            }
        ]
    );
    let m = parse_mirrors(&node(&nodes, "switch").def.labels["understudy.mirror"]).unwrap();
    assert_eq!(
        m,
        vec![Mirror {
            destination: "sw-mon".into(),
            sources: vec!["sw-prim".into(), "sw-frr".into(), "sw-bird".into()]
        }]
    );
}

#[test]
fn binds_name_the_daemon_config_relative_to_the_file() {
    let mut t = Topology::from_str_named(DEMO, "demo.clab.yml").unwrap();
    t.base_dir = PathBuf::from("/x/topologies");
    let nodes = t.nodes().unwrap();
    assert_eq!(
        t.bind_source(node(&nodes, "frr"), &["frr.conf", "bgpd.conf"]),
        Some(PathBuf::from("/x/topologies/demo/frr.conf"))
    );
    assert_eq!(t.bind_source(node(&nodes, "bird"), &["frr.conf"]), None);
    assert_eq!(
        t.bind_source(node(&nodes, "bird"), &["bird.conf"]),
        Some(PathBuf::from("/x/topologies/demo/bird.conf"))
    );
}

#[test]
fn role_follows_image_when_no_label() {
    let text = "name: t\ntopology:\n  nodes:\n    a: {kind: linux, image: quay.io/frrouting/frr:8.4.4}\n    b: {kind: linux, image: jauderho/gobgp}\n    c: {image: alpine}\n    d: {kind: linux, image: frr, labels: {understudy.role: host}}\n";
    let t = Topology::from_str_named(text, "t").unwrap();
    let nodes = t.nodes().unwrap();
    assert_eq!(node(&nodes, "a").role, Role::Daemon(NeighborKind::Frr));
    assert_eq!(node(&nodes, "b").role, Role::Daemon(NeighborKind::Gobgp));
    assert_eq!(node(&nodes, "c").role, Role::Host);
    assert_eq!(node(&nodes, "d").role, Role::Host);
}

#[test]
fn defaults_and_kinds_are_merged() {
    let text = "name: t\ntopology:\n  defaults: {kind: linux, env: {A: '1'}}\n  kinds:\n    linux: {image: bird2, exec: [echo k]}\n  nodes:\n    a: {exec: [echo n], env: {B: '2'}}\n";
    let t = Topology::from_str_named(text, "t").unwrap();
    let a = &t.nodes().unwrap()[0];
    assert_eq!(a.role, Role::Daemon(NeighborKind::Bird));
    assert_eq!(a.def.exec, vec!["echo k".to_string(), "echo n".to_string()]);
    assert_eq!(a.def.env.len(), 2);
}

#[test]
fn small_topology_parses() {
    let t = Topology::from_str_named(SMALL, "small").unwrap();
    assert_eq!(t.nodes().unwrap().len(), 3);
    assert_eq!(t.links().unwrap().len(), 2);
}

fn error_of(text: &str) -> String {
    Topology::from_str_named(text, "bad.yml")
        .unwrap_err()
        .to_string()
}

#[test]
fn invalid_topologies_name_the_field() {
    let e = error_of(
        "name: t\ntopology:\n  nodes:\n    a: {}\n  links:\n    - endpoints: [\"a:eth1\"]\n",
    );
    assert!(e.contains("topology.links[0].endpoints"), "{e}");
    let e = error_of("name: t\ntopology:\n  nodes:\n    a: {}\n  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n");
    assert!(e.contains("unknown node \"b\""), "{e}");
    let e = error_of("name: t\ntopology:\n  nodes:\n    a: {}\n    b: {}\n  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n    - endpoints: [\"a:eth1\", \"b:eth2\"]\n");
    assert!(e.contains("a:eth1 already used by links[0]"), "{e}");
    let e = error_of("name: t\ntopology:\n  nodes:\n    a: {kind: srl}\n");
    assert!(e.contains("topology.nodes.a: kind \"srl\""), "{e}");
    let e = error_of("name: t\ntopology:\n  nodes:\n    a: {kind: linux, labels: {understudy.mirror: \"x<-y\"}}\n");
    assert!(e.contains("only on a bridge node"), "{e}");
    let e = error_of("name: t\ntopology:\n  nodes:\n    s: {kind: bridge, labels: {understudy.mirror: \"x<-y\"}}\n");
    assert!(e.contains("x is not an endpoint"), "{e}");
    let e = error_of("topology: {nodes: {a: {}}}\n");
    assert!(e.contains("name"), "{e}");
    let e = error_of("name: t\ntopology:\n  nodes:\n    a: {}\n  links:\n    - endpoints: [\"a:an-interface-name-too-long\", \"a:eth1\"]\n");
    assert!(e.contains("at most 15"), "{e}");
}

#[test]
fn mirror_label_syntax() {
    assert_eq!(parse_mirrors("m<-a, b; n<-c").unwrap().len(), 2);
    assert!(parse_mirrors("m<-").is_err());
    assert!(parse_mirrors("m,a").is_err());
}

#[test]
fn failover_topology_has_three_neighbours_and_both_speakers() {
    let text = include_str!("../../topologies/failover.clab.yml");
    let t = Topology::from_str_named(text, "failover.clab.yml").unwrap();
    let nodes = t.nodes().unwrap();
    assert_eq!(
        node(&nodes, "gobgp").role,
        Role::Daemon(NeighborKind::Gobgp)
    );
    assert_eq!(node(&nodes, "frr").role, Role::Daemon(NeighborKind::Frr));
    assert_eq!(node(&nodes, "bird").role, Role::Daemon(NeighborKind::Bird));
    let ha: Vec<&str> = nodes
        .iter()
        .filter(|n| n.role == Role::Understudy)
        .map(|n| n.def.labels["understudy.ha"].as_str())
        .collect();
    assert_eq!(ha, ["primary", "standby"]);
    let m = parse_mirrors(&node(&nodes, "switch").def.labels["understudy.mirror"]).unwrap();
    assert_eq!(m[0].sources.len(), 4);
}

#[test]
fn a_topology_read_by_a_relative_path_names_its_files_absolutely() {
    // Unit tests run in the crate's directory; the daemons a lab starts run elsewhere, so
    // a config path relative to the user's working directory would not be found by them
    // (`interop demo` from a clone's root found topologies/demo.clab.yml and bgpd then
    // could not read interop/topologies/demo/primary.toml).
    let t = Topology::from_file(Path::new("topologies/demo.clab.yml")).expect("demo topology");
    let expected = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .canonicalize()
        .expect("topologies directory");
    assert_eq!(t.base_dir, expected);
}
