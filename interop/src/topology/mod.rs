//! containerlab topology files (`*.clab.yml`), read with serde and run as network
//! namespaces ([`instantiate`]).
//!
//! The subset read: `name`; `topology.defaults`, `topology.kinds` and `topology.nodes`
//! (each with `kind`, `image`, `binds`, `exec`, `env`, `labels`); `topology.links` with
//! `endpoints: ["node:iface", "node:iface"]`. Other containerlab fields are ignored, so
//! the same file still runs under containerlab with Docker.
//!
//! How nodes map to the lab:
//!
//! | containerlab | here |
//! |---|---|
//! | `kind: bridge` / `ovs-bridge` | a namespace holding a Linux bridge named after the node; every link endpoint on it is a bridge port (except mirror destinations) |
//! | `kind: linux` | a namespace (a host); its role comes from the label `understudy.role`, else from the image name (`frr`, `bird`, `gobgp`, `exabgp`, `understudy`), else a plain host |
//! | `binds: [SRC:DST]` | SRC (relative to the topology file) is the daemon's configuration when DST is its usual path (`frr.conf`/`bgpd.conf`, `bird.conf`, `*.toml`, `exabgp.conf`) |
//! | `exec: [...]` | each line run with `sh -c` in the node's namespace, after all links are up |
//!
//! Labels this lab reads (containerlab keeps labels but ignores unknown ones):
//! - `understudy.role`: `frr`, `bird`, `gobgp`, `exabgp`, `understudy` or `host`.
//! - `understudy.mirror` on a bridge node: `DST<-SRC1,SRC2[;DST2<-...]`: DST is not a bridge
//!   port; every frame arriving on each SRC port is mirrored to it (tc mirred).
//! - `understudy.forwarding: "true"`: the node routes (IPv4 and IPv6 forwarding on).
//! - `understudy.zebra: "true"` on an FRR node: zebra runs next to bgpd.
//! - `understudy.ping: ADDR`: `interop demo` runs a ping stream from this node to ADDR.

pub mod instantiate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{LabError, Result};
use crate::neighbor::NeighborKind;

/// A containerlab topology file.
#[derive(Debug, Clone, Deserialize)]
pub struct Topology {
    /// The lab's name.
    pub name: String,
    /// Nodes and links.
    pub topology: Body,
    /// The directory relative binds are resolved against (the file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The `topology:` section.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Body {
    /// Settings every node inherits.
    #[serde(default)]
    pub defaults: NodeDef,
    /// Settings per kind.
    #[serde(default)]
    pub kinds: BTreeMap<String, NodeDef>,
    /// The nodes by name.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeDef>,
    /// The links.
    #[serde(default)]
    pub links: Vec<LinkDef>,
}

/// A node as written (or a `defaults`/`kinds` entry).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NodeDef {
    /// containerlab kind (`linux`, `bridge`, ...).
    pub kind: Option<String>,
    /// Container image (tells the daemon when no role label is given).
    pub image: Option<String>,
    /// `SRC:DST[:ro]` bind mounts.
    #[serde(default)]
    pub binds: Vec<String>,
    /// Commands run in the node after the links are up.
    #[serde(default)]
    pub exec: Vec<String>,
    /// Environment variables (passed to daemons started in the node).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Labels (see the module doc for those read here).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A link as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LinkDef {
    /// Two `node:iface` endpoints.
    pub endpoints: Vec<String>,
}

/// What a node is in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A namespace holding a bridge.
    Bridge,
    /// A plain host.
    Host,
    /// A BGP neighbour daemon of this kind.
    Daemon(NeighborKind),
    /// The understudy speaker (primary or standby); started by later scenarios.
    Understudy,
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Node name.
    pub node: String,
    /// Interface name in that node.
    pub iface: String,
}

/// A mirror on a bridge node: frames arriving on each `sources` port go to `destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The mirror port (not a bridge port).
    pub destination: String,
    /// The mirrored bridge ports.
    pub sources: Vec<String>,
}

/// A node after merging `defaults` and `kinds`, with its role decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Its role in the lab.
    pub role: Role,
    /// Merged definition.
    pub def: NodeDef,
}

impl Topology {
    /// Reads and validates a topology file. Its [`Topology::base_dir`] is absolute (the
    /// file's directory, canonical), so the files it names resolve the same from any
    /// working directory: the daemons started in the lab run elsewhere.
    ///
    /// # Errors
    /// [`LabError::Io`] when the file cannot be read; [`LabError::Topology`] when it is
    /// not a valid topology.
    pub fn from_file(path: &Path) -> Result<Topology> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
        let mut t = Topology::from_str_named(&text, &path.display().to_string())?;
        let absolute = std::fs::canonicalize(path).map_err(|e| LabError::io(path, e))?;
        t.base_dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(t)
    }

    /// Parses and validates topology text (`file` names it in errors).
    pub fn from_str_named(text: &str, file: &str) -> Result<Topology> {
        let t: Topology = serde_yaml_ng::from_str(text).map_err(|e| LabError::Topology {
            file: file.to_string(),
            detail: e.to_string(),
        })?;
        t.validate(file)?;
        Ok(t)
    }

    fn err(file: &str, detail: String) -> LabError {
        LabError::Topology {
            file: file.to_string(),
            detail,
        }
    }

    fn validate(&self, file: &str) -> Result<()> {
        if self.topology.nodes.is_empty() {
            return Err(Self::err(file, "topology.nodes: no nodes".into()));
        }
        for name in self.topology.nodes.keys() {
            let ok = !name.is_empty()
                && name.len() <= 15
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(Self::err(
                    file,
                    format!(
                        "topology.nodes.{name}: a node name is 1-15 letters, digits, '-' or '_'"
                    ),
                ));
            }
        }
        let nodes = self.nodes_in(file)?;
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, l) in self.topology.links.iter().enumerate() {
            let ends = self.link_endpoints_in(i, l, file)?;
            for e in ends {
                if !self.topology.nodes.contains_key(&e.node) {
                    return Err(Self::err(
                        file,
                        format!("topology.links[{i}]: unknown node {:?}", e.node),
                    ));
                }
                if let Some(j) = seen.insert((e.node.clone(), e.iface.clone()), i) {
                    return Err(Self::err(
                        file,
                        format!(
                            "topology.links[{i}]: {}:{} already used by links[{j}]",
                            e.node, e.iface
                        ),
                    ));
                }
            }
        }
        for n in &nodes {
            if let Some(m) = n.def.labels.get("understudy.mirror") {
                if n.role != Role::Bridge {
                    return Err(Self::err(
                        file,
                        format!(
                            "topology.nodes.{}.labels.understudy.mirror: only on a bridge node",
                            n.name
                        ),
                    ));
                }
                for mirror in parse_mirrors(m).map_err(|d| {
                    Self::err(
                        file,
                        format!("topology.nodes.{}.labels.understudy.mirror: {d}", n.name),
                    )
                })? {
                    for port in std::iter::once(&mirror.destination).chain(&mirror.sources) {
                        if !seen.contains_key(&(n.name.clone(), port.clone())) {
                            return Err(Self::err(
                                file,
                                format!(
                                    "topology.nodes.{}.labels.understudy.mirror: {port} is not an endpoint of any link",
                                    n.name
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The nodes, with defaults and kind settings merged and roles decided.
    pub fn nodes(&self) -> Result<Vec<Node>> {
        self.nodes_in("<topology>")
    }

    fn nodes_in(&self, file: &str) -> Result<Vec<Node>> {
        let mut out = Vec::new();
        for (name, def) in &self.topology.nodes {
            let mut merged = self.topology.defaults.clone();
            let kind = def
                .kind
                .clone()
                .or_else(|| merged.kind.clone())
                .unwrap_or_else(|| "linux".into());
            if let Some(k) = self.topology.kinds.get(&kind) {
                merge(&mut merged, k);
            }
            merge(&mut merged, def);
            merged.kind = Some(kind.clone());
            let role = decide_role(&kind, &merged)
                .map_err(|d| Self::err(file, format!("topology.nodes.{name}: {d}")))?;
            out.push(Node {
                name: name.clone(),
                role,
                def: merged,
            });
        }
        Ok(out)
    }

    /// The links' endpoints, as pairs.
    pub fn links(&self) -> Result<Vec<[Endpoint; 2]>> {
        self.topology
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| self.link_endpoints_in(i, l, "<topology>"))
            .collect()
    }

    fn link_endpoints_in(&self, i: usize, l: &LinkDef, file: &str) -> Result<[Endpoint; 2]> {
        if l.endpoints.len() != 2 {
            return Err(Self::err(
                file,
                format!("topology.links[{i}].endpoints: exactly two \"node:iface\" needed"),
            ));
        }
        let parse = |s: &str| -> Result<Endpoint> {
            match s.split_once(':') {
                Some((n, f)) if !n.is_empty() && !f.is_empty() && f.len() <= 15 && !f.contains(':') => Ok(Endpoint {
                    node: n.to_string(),
                    iface: f.to_string(),
                }),
                _ => Err(Self::err(
                    file,
                    format!("topology.links[{i}].endpoints: {s:?} is not \"node:iface\" (iface at most 15 characters)"),
                )),
            }
        };
        Ok([parse(&l.endpoints[0])?, parse(&l.endpoints[1])?])
    }

    /// The host path of the node's bind whose container path ends with one of `names`.
    pub fn bind_source(&self, node: &Node, names: &[&str]) -> Option<PathBuf> {
        node.def.binds.iter().find_map(|b| {
            let mut parts = b.split(':');
            let src = parts.next()?;
            let dst = parts.next()?;
            let file = dst.rsplit('/').next().unwrap_or(dst);
            let matches = names.iter().any(|n| match n.strip_prefix('*') {
                Some(suffix) => file.ends_with(suffix),
                None => file == *n,
            });
            matches.then(|| {
                let p = PathBuf::from(src);
                if p.is_absolute() {
                    p
                } else {
                    self.base_dir.join(p)
                }
            })
        })
    }
}

/// `over` wins over `base`: scalars replaced when set, lists appended, maps merged.
fn merge(base: &mut NodeDef, over: &NodeDef) {
    if over.kind.is_some() {
        base.kind = over.kind.clone();
    }
    if over.image.is_some() {
        base.image = over.image.clone();
    }
    base.binds.extend(over.binds.iter().cloned());
    base.exec.extend(over.exec.iter().cloned());
    base.env
        .extend(over.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    base.labels
        .extend(over.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
}

fn decide_role(kind: &str, def: &NodeDef) -> std::result::Result<Role, String> {
    match kind {
        "bridge" | "ovs-bridge" => return Ok(Role::Bridge),
        "linux" => {}
        "host" => return Err("kind host (the root namespace) is not used by this lab".into()),
        other => {
            return Err(format!(
                "kind {other:?} is not supported (use linux or bridge)"
            ))
        }
    }
    let by_name = |s: &str| -> Option<Role> {
        let s = s.to_ascii_lowercase();
        if s == "host" {
            Some(Role::Host)
        } else if s.contains("understudy") {
            Some(Role::Understudy)
        } else if s.contains("frr") {
            Some(Role::Daemon(NeighborKind::Frr))
        } else if s.contains("bird") {
            Some(Role::Daemon(NeighborKind::Bird))
        } else if s.contains("gobgp") {
            Some(Role::Daemon(NeighborKind::Gobgp))
        } else if s.contains("exabgp") {
            Some(Role::Daemon(NeighborKind::Exabgp))
        } else {
            None
        }
    };
    if let Some(r) = def.labels.get("understudy.role") {
        return by_name(r).ok_or_else(|| format!("labels.understudy.role: unknown role {r:?}"));
    }
    Ok(def.image.as_deref().and_then(by_name).unwrap_or(Role::Host))
}

/// Parses `DST<-SRC1,SRC2[;DST2<-SRC3]`.
pub fn parse_mirrors(text: &str) -> std::result::Result<Vec<Mirror>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (dst, srcs) = part
            .split_once("<-")
            .ok_or_else(|| format!("{part:?} is not DST<-SRC1,SRC2"))?;
        let sources: Vec<String> = srcs
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let destination = dst.trim().to_string();
        if destination.is_empty() || sources.is_empty() {
            return Err(format!(
                "{part:?} needs a destination and at least one source"
            ));
        }
        out.push(Mirror {
            destination,
            sources,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
