//! A four-namespace lab for takeover tests (notes/tcp-takeover.md, "Lab topology"):
//! `sw` (a bridge), `peer`, `prim`, `stby`, and a mirror port `mon0` into the standby fed
//! by `tc mirred` from the peer's and the primary's switch ports. Namespaces are named
//! `<prefix>-<pid>-<n>-<role>` (prefix `ustk`, or `$UNDERSTUDY_LAB_PREFIX` so that each
//! person running lab tests on a shared machine keeps to their own names); everything is
//! removed on drop, and namespaces left behind by dead test processes are swept at start.

#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const PEER_V4: &str = "192.0.2.1";
pub const PRIM_V4: &str = "192.0.2.2";
pub const STBY_V4: &str = "192.0.2.3";
pub const PEER_V6: &str = "2001:db8::1";
pub const PRIM_V6: &str = "2001:db8::2";
pub const STBY_V6: &str = "2001:db8::3";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// True when running as root; otherwise prints why the test is skipped.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!(
            "SKIPPED {test}: needs root (CAP_NET_ADMIN, CAP_NET_RAW) to create network namespaces"
        );
    }
    root
}

pub struct Lab {
    pub sw: String,
    pub peer: String,
    pub prim: String,
    pub stby: String,
    children: Vec<Child>,
}

/// Runs `ip` with `args`; panics with its stderr on failure (test setup).
pub fn ip(args: &[&str]) {
    run("ip", args);
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespace name prefix: `$UNDERSTUDY_LAB_PREFIX` (letters, digits, `-`), else `ustk`.
pub fn prefix() -> String {
    std::env::var("UNDERSTUDY_LAB_PREFIX")
        .ok()
        .map(|p| p.trim_end_matches('-').to_string())
        .filter(|p| {
            !p.is_empty()
                && p.len() <= 8
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .unwrap_or_else(|| "ustk".to_string())
}

/// Removes `<prefix>-<pid>-*` namespaces whose process is gone.
fn sweep_stale() {
    let prefix = format!("{}-", prefix());
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

impl Lab {
    pub fn new() -> Lab {
        sweep_stale();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("{}-{}-{}", prefix(), std::process::id(), n);
        let lab = Lab {
            sw: format!("{base}-sw"),
            peer: format!("{base}-peer"),
            prim: format!("{base}-prim"),
            stby: format!("{base}-stby"),
            children: Vec::new(),
        };
        for ns in [&lab.sw, &lab.peer, &lab.prim, &lab.stby] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let sw = lab.sw.as_str();
        ip(&[
            "-n",
            sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]);
        ip(&["-n", sw, "link", "set", "br0", "up"]);
        for (port, ns) in [
            ("sw-peer", &lab.peer),
            ("sw-prim", &lab.prim),
            ("sw-stby", &lab.stby),
        ] {
            ip(&[
                "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            ip(&["-n", sw, "link", "set", port, "master", "br0", "up"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        ip(&[
            "-n", sw, "link", "add", "sw-mon", "type", "veth", "peer", "name", "mon0", "netns",
            &lab.stby,
        ]);
        ip(&["-n", sw, "link", "set", "sw-mon", "up"]);
        ip(&[
            "-n", &lab.stby, "link", "set", "mon0", "up", "promisc", "on",
        ]);
        for port in ["sw-prim", "sw-peer"] {
            run("tc", &["-n", sw, "qdisc", "add", "dev", port, "ingress"]);
            run(
                "tc",
                &[
                    "-n", sw, "filter", "add", "dev", port, "parent", "ffff:", "prio", "10",
                    "protocol", "all", "u32", "match", "u32", "0", "0", "action", "mirred",
                    "egress", "mirror", "dev", "sw-mon",
                ],
            );
        }
        for (ns, v4, v6) in [
            (&lab.peer, PEER_V4, PEER_V6),
            (&lab.prim, PRIM_V4, PRIM_V6),
            (&lab.stby, STBY_V4, STBY_V6),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", "eth0"]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        lab
    }

    /// Sets the primary's switch port down: its box is cut off, nothing it sends escapes.
    pub fn cut_primary(&self) {
        ip(&["-n", &self.sw, "link", "set", "sw-prim", "down"]);
    }

    /// Starts `cmd args` in namespace `ns`; killed (by PID) on drop.
    pub fn spawn(&mut self, ns: &str, cmd: &str, args: &[&str], stdin: bool) -> &mut Child {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, cmd]).args(args);
        c.stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        c.stdout(Stdio::piped());
        c.stderr(Stdio::inherit());
        let child = c.spawn().unwrap_or_else(|e| panic!("spawn {cmd}: {e}"));
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// Kills a child started by [`Lab::spawn`], by PID, and reaps it.
    pub fn kill(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let mut c = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.prim, &self.stby, &self.peer, &self.sw] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Moves the calling thread into network namespace `ns`.
pub fn enter(ns: &str) {
    let f =
        File::open(format!("/run/netns/{ns}")).unwrap_or_else(|e| panic!("open netns {ns}: {e}"));
    // SAFETY: setns on a valid namespace fd; affects only the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a thread inside namespace `ns` and returns its result.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns);
            f()
        })
        .join()
        .expect("namespace thread panicked")
    })
}

/// Spawns a thread inside namespace `ns`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        f()
    })
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A background capture with [`ribsync::tap::MirrorTap`] in one namespace.
pub struct Capture {
    frames: std::sync::Arc<std::sync::Mutex<Vec<ribsync::tap::TapFrame>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    drops: std::sync::Arc<std::sync::atomic::AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    /// Starts capturing BGP-port frames of `addrs` on `interface` in `ns`; returns once the
    /// tap is open.
    pub fn start(
        ns: &str,
        interface: &str,
        addrs: Vec<std::net::IpAddr>,
        promiscuous: bool,
    ) -> Capture {
        Capture::start_with(ns, interface, addrs, promiscuous, true)
    }

    /// As [`Capture::start`]; `ring` = read through the TPACKET_V3 ring, else `recvmsg`.
    pub fn start_with(
        ns: &str,
        interface: &str,
        addrs: Vec<std::net::IpAddr>,
        promiscuous: bool,
        ring: bool,
    ) -> Capture {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let frames = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let config = ribsync::tap::TapConfig {
            interface: interface.to_string(),
            addresses: addrs,
            promiscuous,
            ring: ring.then(ribsync::tap::RingSize::default),
        };
        let drops = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (f, s, d) = (frames.clone(), stop.clone(), drops.clone());
        let thread = spawn_in(ns, move || {
            let mut tap = ribsync::tap::MirrorTap::open(&config).expect("open tap");
            ready_tx.send(()).expect("ready");
            while !s.load(Ordering::SeqCst) {
                if let Some(frame) = tap
                    .recv_timeout(Duration::from_millis(20))
                    .expect("tap recv")
                {
                    f.lock().expect("lock").push(frame);
                }
                let st = tap.stats().expect("tap stats");
                d.fetch_add(u64::from(st.drops), Ordering::SeqCst);
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("tap did not open");
        Capture {
            frames,
            stop,
            drops,
            thread: Some(thread),
        }
    }

    /// A copy of the frames captured so far.
    pub fn frames(&self) -> Vec<ribsync::tap::TapFrame> {
        self.frames.lock().expect("lock").clone()
    }

    /// Frames the kernel dropped because the tap's buffer was full.
    pub fn drops(&self) -> u64 {
        self.drops.load(Ordering::SeqCst)
    }

    pub fn len(&self) -> usize {
        self.frames.lock().expect("lock").len()
    }

    /// Waits until no frame arrived for `quiet`.
    pub fn wait_quiet(&self, quiet: Duration, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = self.len();
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(10));
            let n = self.len();
            if n != last {
                last = n;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
            assert!(Instant::now() < deadline, "link never went quiet");
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The kernel's drop counters of `dev` in namespace `ns` (`/proc/thread-self/net/dev`, read
/// from a thread inside the namespace): receive drops + receive FIFO overruns + transmit
/// drops.
pub fn link_drops(ns: &str, dev: &str) -> u64 {
    let dev = format!("{dev}:");
    in_ns(ns, || {
        let t = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
        t.lines()
            .filter_map(|l| l.trim_start().strip_prefix(dev.as_str()))
            .map(|rest| {
                let v: Vec<u64> = rest
                    .split_whitespace()
                    .map(|x| x.parse().unwrap_or(0))
                    .collect();
                // rx: bytes packets errs drop fifo ...; tx (from index 8): bytes packets errs drop
                v.get(3).copied().unwrap_or(0)
                    + v.get(4).copied().unwrap_or(0)
                    + v.get(11).copied().unwrap_or(0)
            })
            .sum()
    })
}

/// Unix time now.
pub fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
}
