//! Test lab: a network namespace of our own (prefix `usfib-`, or the value of
//! `FIB_TEST_NETNS_PREFIX`), a veth pair with documentation addresses, a route event
//! watcher. Everything is removed on drop; stale namespaces of dead test processes
//! are swept first.
//!
//! Most lab tests run twice (`both_modes!`): with kernel nexthop objects (the
//! default) and with plain routes (the fallback on kernels without them).
#![allow(dead_code)]

use std::io::ErrorKind;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fib::{in_netns, Fib, FibConfig, Prefix};
use netlink_packet_core::{NetlinkBuffer, Parseable};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

/// The namespace name prefix: `FIB_TEST_NETNS_PREFIX` (lowercase letters, digits and
/// `-`, ending in `-`), else `usfib-`.
pub fn prefix() -> String {
    match std::env::var("FIB_TEST_NETNS_PREFIX") {
        Ok(p)
            if p.ends_with('-')
                && p.len() > 1
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            p
        }
        _ => "usfib-".to_string(),
    }
}

/// `#[test]`s `plain_routes` and `nexthop_objects` in a module named after `f`, which
/// takes `nexthop_objects: bool`.
#[macro_export]
macro_rules! both_modes {
    ($f:ident) => {
        mod $f {
            #[test]
            fn plain_routes() {
                super::$f(false)
            }
            #[test]
            fn nexthop_objects() {
                super::$f(true)
            }
        }
    };
}

/// The default configuration, in the mode given.
pub fn config(nexthop_objects: bool) -> FibConfig {
    FibConfig {
        nexthop_objects,
        ..FibConfig::default()
    }
}

/// A lab tag that differs between the two modes of one test.
pub fn tag(name: &str, nexthop_objects: bool) -> String {
    if nexthop_objects {
        format!("{name}nh")
    } else {
        name.to_string()
    }
}

/// Removes `PREFIX*-PID` namespaces whose PID is gone.
pub fn sweep() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    let prefix = prefix();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let Some(pid) = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("command runs");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A namespace with `veth0` (192.0.2.1/24, 2001:db8:ffff::1/64) and its peer `veth1`
/// up, and `veth2` (203.0.113.1/24 is NOT configured: reserved for recursive tests).
#[derive(Debug)]
pub struct Lab {
    pub name: String,
    pub path: PathBuf,
    pub veth0: u32,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        sweep();
        let name = format!("{}{tag}-{}", prefix(), std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        run(&["ip", "netns", "add", &name]);
        let mut lab = Lab {
            path: PathBuf::from(format!("/run/netns/{name}")),
            name,
            veth0: 0,
        };
        lab.ip("link set lo up");
        lab.ip("link add veth0 type veth peer name veth1");
        lab.ip("link set veth0 up");
        lab.ip("link set veth1 up");
        lab.ip("addr add 192.0.2.1/24 dev veth0");
        lab.ip("-6 addr add 2001:db8:ffff::1/64 dev veth0 nodad");
        lab.veth0 = in_netns(&lab.path, || nametoindex("veth0")).expect("enter netns");
        lab
    }

    /// `ip -n NS ARGS` (split on spaces); panics on failure.
    pub fn ip(&self, args: &str) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend(args.split_whitespace());
        run(&v)
    }

    /// A writer in the lab; this kernel (6.x) must take nexthop objects when asked
    /// (no fallback).
    pub fn fib(&self, config: FibConfig) -> Fib {
        let fib = Fib::open_in_netns(&self.path, config).expect("fib opens in lab");
        assert_eq!(
            fib.config().nexthop_objects,
            config.nexthop_objects,
            "the probe for nexthop objects"
        );
        fib
    }

    /// How many of our routes (IPv4 and IPv6) refer to a nexthop object (`nhid`).
    pub fn routes_with_nhid(&self) -> usize {
        let v4 = self.ip("route show proto 186");
        let v6 = self.ip("-6 route show proto 186");
        v4.matches(" nhid ").count() + v6.matches(" nhid ").count()
    }

    /// Our nexthop objects, as `ip nexthop show proto 186` lines.
    pub fn objects(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ip("nexthop show proto 186")
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        v.sort();
        v
    }

    /// Our routes (IPv4 then IPv6) as `ip` shows them, ECMP next hops folded onto
    /// the route's line, `nhid N` left out (the kernel shows the object's paths
    /// either way), sorted.
    pub fn routes(&self) -> Vec<String> {
        let mut v = self.route_lines("route show proto 186");
        v.extend(self.route_lines("-6 route show proto 186"));
        v.sort();
        v
    }

    /// Our routes with their next hops folded into one line each (ECMP routes span
    /// several lines in `ip` output), `nhid N` left out.
    pub fn route_lines(&self, args: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in self.ip(args).lines() {
            if l.starts_with(char::is_whitespace) {
                if let Some(last) = out.last_mut() {
                    last.push(' ');
                    last.push_str(l.trim());
                }
            } else {
                out.push(l.trim().to_string());
            }
        }
        for l in &mut out {
            let mut w: Vec<&str> = l.split_whitespace().collect();
            if let Some(i) = w.iter().position(|x| *x == "nhid") {
                w.drain(i..(i + 2).min(w.len()));
            }
            *l = w.join(" ");
        }
        out.sort();
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn nametoindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).expect("no NUL");
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

/// One route notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEvent {
    pub added: bool,
    pub prefix: Prefix,
    pub protocol: u8,
}

/// A subscription to RTNLGRP_IPV4_ROUTE and RTNLGRP_IPV6_ROUTE in the lab: proves
/// what was (and was not) deleted or added.
#[derive(Debug)]
pub struct Watcher {
    sock: Socket,
}

impl Watcher {
    pub fn new(lab: &Lab) -> Watcher {
        let sock = in_netns(&lab.path, || {
            let mut s = Socket::new(NETLINK_ROUTE).expect("socket");
            s.bind_auto().expect("bind");
            s.add_membership(7).expect("ipv4 route group");
            s.add_membership(11).expect("ipv6 route group");
            s.set_non_blocking(true).expect("nonblocking");
            s
        })
        .expect("enter netns");
        Watcher { sock }
    }

    /// Every notification received so far.
    pub fn events(&mut self) -> Vec<RouteEvent> {
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::with_capacity(1 << 16);
            match self.sock.recv(&mut buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
                Err(e) => panic!("watcher lost events: {e}"),
            }
            let mut off = 0;
            while off < buf.len() {
                let nl = NetlinkBuffer::new_checked(&buf[off..]).expect("netlink header");
                let len = nl.length() as usize;
                let kind = nl.message_type();
                if kind == 24 || kind == 25 {
                    let msg = RouteMessage::parse(&buf[off + 16..off + len]).expect("route");
                    let dst = msg.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                        _ => None,
                    });
                    if let Some(dst) = dst {
                        out.push(RouteEvent {
                            added: kind == 24,
                            prefix: Prefix::new(dst, msg.header.destination_prefix_length)
                                .expect("valid prefix"),
                            protocol: u8::from(msg.header.protocol),
                        });
                    }
                }
                off += (len + 3) & !3;
            }
        }
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn p(s: &str) -> Prefix {
    s.parse().expect("valid prefix")
}

pub fn a(s: &str) -> IpAddr {
    s.parse().expect("valid address")
}
