//! The [`Lab`] guard: namespaces, links, bridges, addresses and mirror ports, all removed
//! when it is dropped (also on panic, as drop runs during unwinding).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipnetwork::IpNetwork;

use crate::error::{LabError, Result};
use crate::netns::Netns;
use crate::process::LabProcess;
use crate::sweep;

/// The project prefix of namespaces made by real use (`interop lab up`, `interop demo`).
pub const DEFAULT_PROJECT_PREFIX: &str = "us-";

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lab: a set of network namespaces with links between them, and processes in them.
///
/// Every namespace is called `{project}{pid}{n}-{node}` (e.g. `uslab-4242b-frr`): the
/// project prefix is shared by all labs of one kind of use, `{pid}{n}` is unique per lab (the
/// creating process ID and a per-process counter in base 26), so parallel tests never
/// collide, and [`sweep::sweep`] can tell a stale lab (its creator is gone) from a live one.
/// Nothing is created in the root namespace: veth pairs are created inside one namespace
/// with their far end placed directly into the other.
///
/// Dropping the lab ends the processes it owns (by PID), then every process still inside
/// its namespaces, deletes the namespaces (which removes their links and bridges) and its
/// work directory (kept when the environment has `US_LAB_KEEP=1`, for reading logs). On a
/// test thread the work directory is handed to [`crate::evidence`] instead: kept, with its
/// path printed, when the test fails, deleted when it passes.
#[derive(Debug)]
pub struct Lab {
    id: String,
    namespaces: Vec<Netns>,
    processes: Vec<LabProcess>,
    workdir: PathBuf,
    persistent: bool,
}

impl Lab {
    /// Creates an empty lab under `project_prefix` (e.g. `"us-"` or `"uslab-"`: lowercase
    /// letters and digits ending in `-`) with a work directory `/tmp/{id}`. The
    /// environment variable `US_LAB_PREFIX`, when set, replaces `project_prefix` (so
    /// that one session's labs all carry its own prefix).
    pub fn new(project_prefix: &str) -> Result<Lab> {
        let from_env = std::env::var("US_LAB_PREFIX").ok();
        let project_prefix = from_env.as_deref().unwrap_or(project_prefix);
        sweep::validate_prefix(project_prefix)?;
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{project_prefix}{}{}", std::process::id(), base26(n));
        let workdir = PathBuf::from("/tmp").join(&id);
        if workdir.exists() {
            // A stale directory of an earlier process with the same PID.
            let _ = std::fs::remove_dir_all(&workdir);
        }
        std::fs::create_dir_all(&workdir).map_err(|e| LabError::io(&workdir, e))?;
        crate::evidence::arm();
        Ok(Lab {
            id,
            namespaces: Vec::new(),
            processes: Vec::new(),
            workdir,
            persistent: false,
        })
    }

    /// The lab's unique name prefix (`{project}{pid}{n}`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lab's work directory (configs, sockets, logs).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// A subdirectory of the work directory, created if missing.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.workdir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
        Ok(dir)
    }

    /// The namespaces created so far, in creation order.
    pub fn namespaces(&self) -> &[Netns] {
        &self.namespaces
    }

    /// The namespace of node `node`, if created.
    pub fn namespace(&self, node: &str) -> Option<&Netns> {
        let name = self.ns_name(node);
        self.namespaces.iter().find(|n| n.name() == name)
    }

    fn ns_name(&self, node: &str) -> String {
        format!("{}-{}", self.id, node)
    }

    /// Creates the namespace of node `node` (`{id}-{node}`) with its loopback up and IPv6
    /// duplicate address detection off.
    pub fn add_namespace(&mut self, node: &str) -> Result<Netns> {
        if node.is_empty()
            || !node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(LabError::Topology {
                file: "<lab>".into(),
                detail: format!("node name {node:?} must be letters, digits, '-' or '_'"),
            });
        }
        let ns = Netns::from_name(self.ns_name(node));
        crate::cmd::run("ip", &["netns", "add", ns.name()])?;
        self.namespaces.push(ns.clone());
        init_namespace(&ns)?;
        Ok(ns)
    }

    /// The box of node `node` is switched off and boots again: every interface of its
    /// namespace is deleted (a veth takes its far end with it, so its links are gone on the
    /// other side too), every process inside it ended (by PID), the namespace deleted, and a
    /// fresh one of the same name created (loopback up, as [`Lab::add_namespace`]).
    ///
    /// What the old kernel held dies with it: its TCP sockets, orphaned ones included (a
    /// killed process's sockets in FIN_WAIT1 with a FIN queued, which `ss -K` cannot
    /// destroy), can no longer send anything, as no interface is left to them (the old
    /// namespace may live on, unnamed, until they time out). The new namespace holds no
    /// socket, address, route or link: the caller re-creates its links.
    ///
    /// # Errors
    /// The node is not part of this lab, or `ip` fails.
    pub fn renew_namespace(&self, node: &str) -> Result<Netns> {
        let ns = self
            .namespace(node)
            .cloned()
            .ok_or_else(|| LabError::Topology {
                file: "<lab>".into(),
                detail: format!("no namespace for node {node:?}"),
            })?;
        for iface in ns.interfaces()? {
            if iface != "lo" {
                // The far end of a veth may already be gone with an earlier one.
                let _ = ns.ip(&["link", "del", &iface]);
            }
        }
        let left: Vec<String> = ns.interfaces()?.into_iter().filter(|i| i != "lo").collect();
        if !left.is_empty() {
            return Err(LabError::Topology {
                file: "<lab>".into(),
                detail: format!("{}: interfaces {left:?} could not be deleted", ns.name()),
            });
        }
        sweep::remove_namespace(ns.name());
        crate::cmd::run("ip", &["netns", "add", ns.name()])?;
        init_namespace(&ns)?;
        Ok(ns)
    }

    /// Creates bridge `name` in `ns` (STP off, no forward delay, no multicast snooping) and
    /// sets it up.
    pub fn add_bridge(&self, ns: &Netns, name: &str) -> Result<()> {
        ns.ip(&[
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        ns.ip(&["link", "set", name, "up"])?;
        Ok(())
    }

    /// Creates a veth pair: `a_if` in `a` and `b_if` in `b` (created in `a`, the peer placed
    /// straight into `b`), both set up.
    pub fn add_veth(&self, a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
        check_ifname(a_if)?;
        check_ifname(b_if)?;
        ns_ip_veth(a, a_if, b, b_if)?;
        a.ip(&["link", "set", a_if, "up"])?;
        b.ip(&["link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Enslaves `iface` to `bridge`, both in `ns`.
    pub fn set_master(&self, ns: &Netns, iface: &str, bridge: &str) -> Result<()> {
        ns.ip(&["link", "set", iface, "master", bridge])?;
        Ok(())
    }

    /// Adds `addr` (with its prefix length) to `iface` in `ns`; IPv6 without duplicate
    /// address detection so it is usable at once.
    pub fn add_address(&self, ns: &Netns, iface: &str, addr: IpNetwork) -> Result<()> {
        let a = addr.to_string();
        match addr {
            IpNetwork::V4(_) => ns.ip(&["addr", "add", &a, "dev", iface])?,
            IpNetwork::V6(_) => ns.ip(&["-6", "addr", "add", &a, "dev", iface, "nodad"])?,
        };
        Ok(())
    }

    /// Adds a route to `dst` via `gateway` in `ns`.
    pub fn add_route(&self, ns: &Netns, dst: IpNetwork, gateway: IpAddr) -> Result<()> {
        ns.ip(&[
            "route",
            "add",
            &dst.to_string(),
            "via",
            &gateway.to_string(),
        ])?;
        Ok(())
    }

    /// Sets `iface` in `ns` up or down (a cable pulled: the far end sees carrier loss).
    pub fn set_link(&self, ns: &Netns, iface: &str, up: bool) -> Result<()> {
        ns.ip(&["link", "set", iface, if up { "up" } else { "down" }])?;
        Ok(())
    }

    /// Turns on IPv4 and IPv6 forwarding in `ns` (a router).
    pub fn enable_forwarding(&self, ns: &Netns) -> Result<()> {
        ns.exec(
            "sysctl",
            &[
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        )?;
        Ok(())
    }

    /// Mirrors every frame arriving on `from` (both in `ns`) to `to` with
    /// `tc ... u32 match u32 0 0 action mirred egress mirror` (this kernel has the u32
    /// classifier but no matchall). `to` should not be a bridge port.
    pub fn add_mirror(&self, ns: &Netns, from: &str, to: &str) -> Result<()> {
        let qdiscs = ns.tc(&["qdisc", "show", "dev", from])?;
        if !qdiscs.contains("ingress") {
            ns.tc(&["qdisc", "add", "dev", from, "ingress"])?;
        }
        ns.tc(&[
            "filter", "add", "dev", from, "parent", "ffff:", "prio", "10", "protocol", "all",
            "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", to,
            // Classification goes on: a port mirrored to several destinations (one filter
            // each) reaches every one of them.
            "continue",
        ])?;
        Ok(())
    }

    /// Starts `program args` in `ns` as a process the lab owns (ended when the lab is
    /// dropped), logging to `{workdir}/{name}.log`; returns its PID.
    pub fn spawn(&mut self, ns: &Netns, name: &str, program: &str, args: &[&str]) -> Result<u32> {
        let log = self.workdir.join(format!("{name}.log"));
        let p = LabProcess::spawn(ns, name, program, args, &[], &log)?;
        let pid = p.pid();
        self.processes.push(p);
        Ok(pid)
    }

    /// Ends the lab-owned process `pid` (SIGTERM, then SIGKILL); false if not ours.
    pub fn stop_process(&mut self, pid: u32) -> bool {
        match self.processes.iter().position(|p| p.pid() == pid) {
            Some(i) => {
                let mut p = self.processes.remove(i);
                p.stop(Duration::from_secs(2));
                true
            }
            None => false,
        }
    }

    /// Leaves the lab in place when dropped (its processes keep running); removing it is
    /// then up to [`crate::topology::instantiate::down`] or [`sweep::sweep`].
    pub fn forget(&mut self) {
        self.persistent = true;
        for p in self.processes.drain(..) {
            p.detach();
        }
    }

    /// Kills the lab-owned process `pid` at once (SIGKILL: the way a box dies); false if
    /// not ours.
    pub fn kill_process(&mut self, pid: u32) -> bool {
        match self.processes.iter().position(|p| p.pid() == pid) {
            Some(i) => {
                self.processes.remove(i).kill();
                true
            }
            None => false,
        }
    }

    /// Removes everything now (what drop does).
    pub fn teardown(&mut self) {
        if self.persistent {
            return;
        }
        for p in self.processes.iter_mut().rev() {
            p.stop(Duration::from_secs(2));
        }
        self.processes.clear();
        for ns in self.namespaces.drain(..).rev() {
            sweep::remove_namespace(ns.name());
        }
        if std::env::var("US_LAB_KEEP").as_deref() != Ok("1")
            && !crate::evidence::keep(&self.workdir, &self.id)
        {
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// A namespace just created: loopback up, no IPv6 duplicate address detection.
fn init_namespace(ns: &Netns) -> Result<()> {
    ns.ip(&["link", "set", "lo", "up"])?;
    // No IPv6 duplicate address detection on the interfaces created later: their
    // link-local addresses are usable at once (FRR resets an IPv6 session while its
    // interface's link-local address is still tentative).
    ns.exec(
        "sysctl",
        &[
            "-q",
            "-w",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.accept_dad=0",
        ],
    )?;
    Ok(())
}

fn ns_ip_veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
    a.ip(&[
        "link",
        "add",
        a_if,
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])?;
    Ok(())
}

/// Interface names: 1 to 15 bytes, no '/', ':' or whitespace (Linux IFNAMSIZ).
fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(LabError::Topology {
            file: "<lab>".into(),
            detail: format!(
                "interface name {name:?} must be 1 to 15 characters without '/', ':' or spaces"
            ),
        })
    }
}

/// 0 -> "a", 25 -> "z", 26 -> "ba": letters, so the PID before it stays delimited.
fn base26(mut n: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8_lossy(&s).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base26_is_letters_only() {
        assert_eq!(base26(0), "a");
        assert_eq!(base26(25), "z");
        assert_eq!(base26(26), "ba");
        assert_eq!(base26(27), "bb");
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("sw-frr-to-bird1").is_ok());
        assert!(check_ifname("sw-frr-to-bird12").is_err());
        assert!(check_ifname("a:b").is_err());
        assert!(check_ifname("").is_err());
    }
}
