//! Running a [`Topology`] as network namespaces: one namespace per node, a veth pair per
//! link, a bridge per bridge node, mirrors, `exec` lines, and the neighbour daemons whose
//! configuration is bound.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{parse_mirrors, Endpoint, Mirror, Node, Role, Topology};
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::neighbor::bird::Bird;
use crate::neighbor::exabgp::Exabgp;
use crate::neighbor::frr::Frr;
use crate::neighbor::gobgp::Gobgp;
use crate::neighbor::{Neighbor, NeighborKind};
use crate::netns::Netns;

/// A topology brought up. Dropping it stops the daemons, then removes the lab (fields drop
/// in declaration order: `neighbors` before `lab`).
pub struct RunningTopology {
    /// The parsed topology.
    pub topology: Topology,
    /// Its nodes, roles decided.
    pub nodes: Vec<Node>,
    /// The neighbour daemons started, with their node names, in node order.
    pub neighbors: Vec<(String, Box<dyn Neighbor + Send>)>,
    /// The namespaces and links.
    pub lab: Lab,
}

impl std::fmt::Debug for RunningTopology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTopology")
            .field("name", &self.topology.name)
            .field("lab", &self.lab.id())
            .field(
                "neighbors",
                &self.neighbors.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The configuration file names a daemon's bind may end with.
pub fn config_names(kind: NeighborKind) -> &'static [&'static str] {
    match kind {
        NeighborKind::Frr => &["frr.conf", "bgpd.conf"],
        NeighborKind::Bird => &["bird.conf"],
        NeighborKind::Gobgp => &["*.toml"],
        NeighborKind::Exabgp => &["exabgp.conf"],
        NeighborKind::Understudy => &["bgpd.toml"],
    }
}

/// Brings `topology` up under `project_prefix`: namespaces, bridges, links, mirrors,
/// forwarding, `exec` lines, then (with `start_daemons`) the daemons of nodes whose role is
/// a neighbour. On any error everything created so far is removed.
pub fn up(
    topology: &Topology,
    project_prefix: &str,
    start_daemons: bool,
) -> Result<RunningTopology> {
    up_with(
        topology,
        project_prefix,
        start_daemons,
        &mut |_, _, text| Ok(text),
    )
}

/// A hook that may rewrite a neighbour daemon's configuration text before it starts (e.g. to
/// feed it a routing table): called with the node, its kind and the bound text.
pub type ConfigRewrite<'a> = dyn FnMut(&Node, NeighborKind, String) -> Result<String> + 'a;

/// Whether the node's FRR runs zebra (label `understudy.zebra: "true"`).
fn runs_zebra(node: &Node) -> bool {
    node.def.labels.get("understudy.zebra").map(String::as_str) == Some("true")
}

/// Checks that every program the neighbour daemons of `nodes` run is there and executable
/// ([`NeighborKind::check_installed`]), so that a missing one is said before anything is
/// built.
///
/// # Errors
/// [`LabError::MissingProgram`] naming the first missing program, the node and the package.
pub fn check_programs(nodes: &[Node]) -> Result<()> {
    for n in nodes {
        if let Role::Daemon(kind) = n.role {
            kind.check_installed(runs_zebra(n), &format!("node {}", n.name))?;
        }
    }
    Ok(())
}

/// [`up`], with each neighbour daemon's configuration passed through `rewrite` first. With
/// `start_daemons`, their programs are checked first ([`check_programs`]).
pub fn up_with(
    topology: &Topology,
    project_prefix: &str,
    start_daemons: bool,
    rewrite: &mut ConfigRewrite<'_>,
) -> Result<RunningTopology> {
    let nodes = topology.nodes()?;
    if start_daemons {
        check_programs(&nodes)?;
    }
    let links = topology.links()?;
    let mut lab = Lab::new(project_prefix)?;
    let mut spaces = Vec::new();
    for n in &nodes {
        spaces.push((n.name.clone(), lab.add_namespace(&n.name)?));
    }
    let ns_of = |name: &str| -> Result<Netns> {
        spaces
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ns)| ns.clone())
            .ok_or_else(|| LabError::Topology {
                file: topology.name.clone(),
                detail: format!("unknown node {name:?}"),
            })
    };
    let mirror_ports = mirror_ports(topology, &nodes)?;
    for n in &nodes {
        if n.role == Role::Bridge {
            lab.add_bridge(&ns_of(&n.name)?, &n.name)?;
        }
    }
    for [a, b] in &links {
        lab.add_veth(&ns_of(&a.node)?, &a.iface, &ns_of(&b.node)?, &b.iface)?;
        for e in [a, b] {
            if is_bridge_port(&nodes, &mirror_ports, e) {
                lab.set_master(&ns_of(&e.node)?, &e.iface, &e.node)?;
            }
        }
    }
    for (bridge, m) in &mirror_ports {
        let ns = ns_of(bridge)?;
        for src in &m.sources {
            lab.add_mirror(&ns, src, &m.destination)?;
        }
    }
    for n in &nodes {
        let ns = ns_of(&n.name)?;
        if n.def
            .labels
            .get("understudy.forwarding")
            .map(String::as_str)
            == Some("true")
        {
            lab.enable_forwarding(&ns)?;
        }
        for line in &n.def.exec {
            ns.sh(line)?;
        }
    }
    let mut running = RunningTopology {
        topology: topology.clone(),
        nodes: nodes.clone(),
        neighbors: Vec::new(),
        lab,
    };
    if start_daemons {
        for n in &nodes {
            if let Role::Daemon(kind) = n.role {
                let d = start_daemon(&running, n, kind, rewrite)?;
                running.neighbors.push((n.name.clone(), d));
            }
        }
    }
    Ok(running)
}

/// The mirrors of every bridge node (label `understudy.mirror`), with the bridge's name.
fn mirror_ports(topology: &Topology, nodes: &[Node]) -> Result<Vec<(String, Mirror)>> {
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| n.role == Role::Bridge) {
        if let Some(m) = n.def.labels.get("understudy.mirror") {
            let mirrors = parse_mirrors(m).map_err(|detail| LabError::Topology {
                file: topology.name.clone(),
                detail,
            })?;
            out.extend(mirrors.into_iter().map(|m| (n.name.clone(), m)));
        }
    }
    Ok(out)
}

/// Whether link end `e` is a port of its node's bridge (a bridge node's end that is not a
/// mirror destination).
fn is_bridge_port(nodes: &[Node], mirrors: &[(String, Mirror)], e: &Endpoint) -> bool {
    let bridge = nodes
        .iter()
        .any(|n| n.name == e.node && n.role == Role::Bridge);
    let mirror_dst = mirrors
        .iter()
        .any(|(br, m)| br == &e.node && m.destination == e.iface);
    bridge && !mirror_dst
}

/// Whether an `exec` line configures interface `iface` (`... dev IFACE ...` or
/// `ip link set IFACE ...`).
fn configures(line: &str, iface: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| (w[0] == "dev" || w[0] == "set") && w[1] == iface)
}

fn start_daemon(
    rt: &RunningTopology,
    node: &Node,
    kind: NeighborKind,
    rewrite: &mut ConfigRewrite<'_>,
) -> Result<Box<dyn Neighbor + Send>> {
    let conf = rt
        .topology
        .bind_source(node, config_names(kind))
        .ok_or_else(|| LabError::Topology {
            file: rt.topology.name.clone(),
            detail: format!(
                "topology.nodes.{}.binds: a {kind} node needs its configuration bound (SRC:.../{})",
                node.name,
                config_names(kind)[0]
            ),
        })?;
    let text = std::fs::read_to_string(&conf).map_err(|e| LabError::io(&conf, e))?;
    let text = rewrite(node, kind, text)?;
    let ns = rt.ns(&node.name)?.clone();
    let dir = rt.lab.subdir(&node.name)?;
    let name = node.name.as_str();
    Ok(match kind {
        NeighborKind::Frr => Box::new(Frr::start_with_config(
            &ns,
            &dir,
            name,
            &text,
            runs_zebra(node),
        )?),
        NeighborKind::Bird => Box::new(Bird::start_with_config(&ns, &dir, name, &text)?),
        NeighborKind::Gobgp => Box::new(Gobgp::start_with_config(&ns, &dir, name, &text)?),
        NeighborKind::Understudy => Box::new(crate::neighbor::bgpd::Bgpd::start_with_config(
            &ns, &dir, name, &text,
        )?),
        NeighborKind::Exabgp => {
            let env: Vec<(&str, &str)> = node
                .def
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            Box::new(Exabgp::start_with_config(&ns, &dir, name, &text, &env)?)
        }
    })
}

impl RunningTopology {
    /// The namespace of node `node`.
    pub fn ns(&self, node: &str) -> Result<&Netns> {
        self.lab.namespace(node).ok_or_else(|| LabError::Topology {
            file: self.topology.name.clone(),
            detail: format!("no node {node:?}"),
        })
    }

    /// The neighbour daemon of node `node`, if one was started.
    pub fn neighbor(&mut self, node: &str) -> Option<&mut (dyn Neighbor + Send + 'static)> {
        self.neighbors
            .iter_mut()
            .find(|(n, _)| n == node)
            .map(|(_, d)| d.as_mut())
    }

    /// Cuts every link of `node` (the way a box dies on the wire): a link to a bridge has its
    /// bridge port set down (nothing more leaves the node onto the switch, and no FIN or RST
    /// can escape), any other link its end in `node`. Returns the (node, interface) pairs set
    /// down, for [`RunningTopology::restore_links`].
    pub fn cut_links(&self, node: &str) -> Result<Vec<(String, String)>> {
        let mut cut = Vec::new();
        for [a, b] in self.topology.links()? {
            let (mine, other) = if a.node == node {
                (a, b)
            } else if b.node == node {
                (b, a)
            } else {
                continue;
            };
            let other_is_bridge = self
                .nodes
                .iter()
                .any(|n| n.name == other.node && n.role == Role::Bridge);
            let (n, i) = if other_is_bridge {
                (other.node, other.iface)
            } else {
                (mine.node, mine.iface)
            };
            self.lab.set_link(self.ns(&n)?, &i, false)?;
            cut.push((n, i));
        }
        Ok(cut)
    }

    /// Sets the interfaces `cut` (from [`RunningTopology::cut_links`]) up again.
    pub fn restore_links(&self, cut: &[(String, String)]) -> Result<()> {
        for (n, i) in cut {
            self.lab.set_link(self.ns(n)?, i, true)?;
        }
        Ok(())
    }

    /// The box of `node` dies and boots again, as after a power cycle: its namespace is
    /// destroyed with every interface, process and socket in it and made anew
    /// ([`Lab::renew_namespace`]); its links are re-created as the topology has them
    /// (bridge ports enslaved, the mirrors that read or feed a re-created bridge port set up
    /// again, forwarding and the node's `exec` lines applied, and on a direct link to another
    /// node the far end's `exec` lines for that interface re-run, since its veth end went
    /// with the pair). The links come back cut, as [`RunningTopology::cut_links`] leaves
    /// them: nothing of the new box reaches anyone until [`RunningTopology::restore_links`]
    /// with the pairs returned, so the caller can change its configuration first (remove
    /// the service addresses a fenced box must not hold).
    ///
    /// # Errors
    /// Unknown node, or `ip`/`tc`/`sh` fails.
    pub fn reboot_node(&self, node: &str) -> Result<Vec<(String, String)>> {
        let ns = self.lab.renew_namespace(node)?;
        let mirrors = mirror_ports(&self.topology, &self.nodes)?;
        let def = self
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| n.def.clone())
            .unwrap_or_default();
        let mut cut = Vec::new();
        let mut ports = Vec::new();
        for [a, b] in self.topology.links()? {
            let (mine, other) = if a.node == node {
                (&a, &b)
            } else if b.node == node {
                (&b, &a)
            } else {
                continue;
            };
            self.lab
                .add_veth(self.ns(&a.node)?, &a.iface, self.ns(&b.node)?, &b.iface)?;
            if is_bridge_port(&self.nodes, &mirrors, other) {
                self.lab
                    .set_master(self.ns(&other.node)?, &other.iface, &other.node)?;
            }
            // Cut at once where cut_links cuts: the bridge's end, else this node's end.
            let other_is_bridge = self
                .nodes
                .iter()
                .any(|n| n.name == other.node && n.role == Role::Bridge);
            let (n, i) = if other_is_bridge {
                (other.node.clone(), other.iface.clone())
            } else {
                (mine.node.clone(), mine.iface.clone())
            };
            self.lab.set_link(self.ns(&n)?, &i, false)?;
            cut.push((n, i));
            let far = self.nodes.iter().find(|n| n.name == other.node);
            if let Some(far) = far.filter(|f| f.role != Role::Bridge) {
                let far_ns = self.ns(&far.name)?;
                for line in far.def.exec.iter().filter(|l| configures(l, &other.iface)) {
                    far_ns.sh(line)?;
                }
            }
            ports.push(other.clone());
        }
        // Mirrors from or to a re-created port (its filters went with the old device).
        for (bridge, m) in &mirrors {
            let touched = |iface: &str| ports.iter().any(|p| &p.node == bridge && p.iface == iface);
            let br_ns = self.ns(bridge)?;
            for src in &m.sources {
                if touched(src) || touched(&m.destination) {
                    self.lab.add_mirror(br_ns, src, &m.destination)?;
                }
            }
        }
        if def.labels.get("understudy.forwarding").map(String::as_str) == Some("true") {
            self.lab.enable_forwarding(&ns)?;
        }
        for line in &def.exec {
            ns.sh(line)?;
        }
        Ok(cut)
    }

    /// Leaves everything running after this value is gone (for `interop lab up`): the
    /// daemons are detached and the lab is not removed; its state is written to
    /// [`state_file`] so that [`down`] can remove it. Returns the state.
    pub fn persist(mut self, project_prefix: &str) -> Result<LabState> {
        for (_, d) in &mut self.neighbors {
            d.detach();
        }
        let state = LabState {
            topology: self.topology.name.clone(),
            lab_id: self.lab.id().to_string(),
            workdir: self.lab.workdir().to_path_buf(),
            namespaces: self
                .lab
                .namespaces()
                .iter()
                .map(|n| n.name().to_string())
                .collect(),
        };
        let path = state_file(project_prefix, &self.topology.name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
        }
        let text =
            serde_json::to_string_pretty(&state).map_err(|e| LabError::parse("lab state", e))?;
        std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))?;
        self.lab.forget();
        Ok(state)
    }
}

/// What `interop lab up` leaves behind for `interop lab down`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// Topology name.
    pub topology: String,
    /// The lab's unique prefix.
    pub lab_id: String,
    /// Its work directory.
    pub workdir: PathBuf,
    /// Its namespaces.
    pub namespaces: Vec<String>,
}

/// Where the state of a persisted lab is kept: `/run/interop/{prefix}{topology}.json`.
pub fn state_file(project_prefix: &str, topology: &str) -> PathBuf {
    Path::new("/run/interop").join(format!("{project_prefix}{topology}.json"))
}

/// Removes a lab left by [`RunningTopology::persist`]: ends the processes in its
/// namespaces (by PID), deletes them and its work directory. Returns the state removed.
pub fn down(project_prefix: &str, topology: &str) -> Result<LabState> {
    let path = state_file(project_prefix, topology);
    let text = std::fs::read_to_string(&path).map_err(|e| LabError::io(&path, e))?;
    let state: LabState =
        serde_json::from_str(&text).map_err(|e| LabError::parse("lab state", e))?;
    for ns in state.namespaces.iter().rev() {
        if ns.starts_with(&state.lab_id) {
            crate::sweep::remove_namespace(ns);
        }
    }
    if state.workdir.starts_with("/tmp") {
        let _ = std::fs::remove_dir_all(&state.workdir);
    }
    std::fs::remove_file(&path).map_err(|e| LabError::io(&path, e))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::configures;

    #[test]
    fn exec_lines_that_configure_an_interface() {
        assert!(configures("ip addr add 198.51.100.254/30 dev eth3", "eth3"));
        assert!(configures("ip link set mon0 promisc on", "mon0"));
        assert!(!configures("ip addr add 198.51.100.2/25 dev eth2", "eth3"));
        assert!(!configures("ip route add default via 198.51.100.1", "eth3"));
        assert!(!configures("ip addr add 192.0.2.2/24 dev eth30", "eth3"));
    }
}
