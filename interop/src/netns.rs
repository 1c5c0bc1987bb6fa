//! A handle on one named network namespace (`/run/netns/NAME`): run commands in it, and
//! open sockets in it from a thread that joined it with `setns(2)`.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use crate::cmd;
use crate::error::{LabError, Result};

/// One route of a namespace's kernel table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination prefix.
    pub dst: ipnetwork::IpNetwork,
    /// Next hop, if any.
    pub gateway: Option<IpAddr>,
    /// Output interface, if any.
    pub dev: Option<String>,
    /// Who installed it, as `ip` names it (`kernel`, `boot`, `static`, `bgp`, a number).
    pub protocol: String,
}

/// A named network namespace. Cheap to clone; it does not own the namespace (the
/// [`crate::Lab`] that created it does, and removes it when dropped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A handle on an existing namespace called `name` (as listed by `ip netns list`).
    pub fn from_name(name: impl Into<String>) -> Self {
        Netns { name: name.into() }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mount that keeps the namespace alive, `/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n NAME ARGS...`; returns stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        cmd::run("ip", &full)
    }

    /// `tc -n NAME ARGS...`; returns stdout.
    pub fn tc(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        cmd::run("tc", &full)
    }

    /// The names of the namespace's interfaces (`ip -j link show`), loopback included.
    pub fn interfaces(&self) -> Result<Vec<String>> {
        let text = self.ip(&["-j", "link", "show"])?;
        let v: serde_json::Value =
            serde_json::from_str(text.trim()).map_err(|e| LabError::parse("ip -j link show", e))?;
        Ok(v.as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|l| l.get("ifname").and_then(|n| n.as_str()))
            .map(str::to_string)
            .collect())
    }

    /// Runs `program args` inside the namespace (`ip netns exec`); returns stdout, or
    /// [`LabError::Command`] on a non-zero exit.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let full = self.exec_args(program, args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        cmd::run("ip", &refs)
    }

    /// Like [`Netns::exec`] but returns the raw output whatever the exit status.
    pub fn exec_output(&self, program: &str, args: &[&str]) -> Result<std::process::Output> {
        let full = self.exec_args(program, args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        cmd::run_output("ip", &refs)
    }

    /// Runs a shell command line inside the namespace (`sh -c SCRIPT`), as containerlab's
    /// `exec:` entries are run.
    pub fn sh(&self, script: &str) -> Result<String> {
        self.exec("sh", &["-c", script])
    }

    /// The argument vector of `ip netns exec NAME program args...`.
    pub(crate) fn exec_args(&self, program: &str, args: &[&str]) -> Vec<String> {
        let mut v = vec![
            "netns".to_string(),
            "exec".to_string(),
            self.name.clone(),
            program.to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// Sends `count` pings to `dst` (200 ms apart, 1 s deadline each) from inside the
    /// namespace; true when at least one reply came back.
    pub fn ping(&self, dst: IpAddr, count: u32) -> Result<bool> {
        let count = count.to_string();
        let dst = dst.to_string();
        let out = self.exec_output(
            "ping",
            &["-n", "-q", "-c", &count, "-i", "0.2", "-W", "1", &dst],
        )?;
        Ok(out.status.success())
    }

    /// The namespace's main kernel routing table, IPv4 and IPv6 (`ip -j route show`, `ip -6 -j
    /// route show`), link-local and multicast IPv6 routes left out.
    pub fn kernel_routes(&self) -> Result<Vec<KernelRoute>> {
        let mut out = Vec::new();
        for family in ["-4", "-6"] {
            let text = self.ip(&[family, "-j", "route", "show"])?;
            let v: serde_json::Value = serde_json::from_str(text.trim().trim_end_matches('\n'))
                .map_err(|e| crate::LabError::parse("ip -j route show", e))?;
            for r in v.as_array().map(Vec::as_slice).unwrap_or_default() {
                let dst = match r.get("dst").and_then(|d| d.as_str()) {
                    Some("default") if family == "-4" => "0.0.0.0/0".to_string(),
                    Some("default") => "::/0".to_string(),
                    Some(d) if d.contains('/') => d.to_string(),
                    Some(d) if family == "-4" => format!("{d}/32"),
                    Some(d) => format!("{d}/128"),
                    None => continue,
                };
                let Ok(dst) = dst.parse::<ipnetwork::IpNetwork>() else {
                    continue;
                };
                if let ipnetwork::IpNetwork::V6(n) = dst {
                    let first = n.network().segments()[0];
                    if first & 0xffc0 == 0xfe80 || first & 0xff00 == 0xff00 {
                        continue;
                    }
                }
                let text = |k: &str| r.get(k).and_then(|x| x.as_str()).map(str::to_string);
                out.push(KernelRoute {
                    dst,
                    gateway: text("gateway").and_then(|g| g.parse().ok()),
                    dev: text("dev"),
                    protocol: text("protocol").unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// Runs `f` on a fresh thread that has joined this namespace (`setns(2)` with
    /// `CLONE_NEWNET` affects only the calling thread), and returns its result. Sockets
    /// created inside `f` stay in this namespace for their whole life, so they can be
    /// returned and used from any thread afterwards.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let path = self.path();
        let file = File::open(&path).map_err(|e| LabError::io(&path, e))?;
        let name = self.name.clone();
        std::thread::scope(|s| {
            let handle = s.spawn(move || -> Result<T> {
                // SAFETY: setns only reads the file descriptor, which `file` keeps open for
                // the duration of the call; it changes the network namespace of this thread
                // alone, which exits when `f` returns.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    return Err(LabError::Namespace {
                        namespace: name,
                        error: std::io::Error::last_os_error(),
                    });
                }
                Ok(f())
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}
