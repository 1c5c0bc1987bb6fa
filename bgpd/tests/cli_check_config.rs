//! What a fresh user met after session 6 (note6.md, "A fresh user after the stop"), checked
//! through the built binaries: `bgpd --check-config` lists every error and every warning of a
//! file, in line order, each `FIELD = VALUE (line N): message` with the value alone (never
//! the line's comment, never a password); `understudy` refuses bad arguments before it looks
//! for the daemon, and names where a bad admin address came from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::{Command, Output};

use harness::daemon::TempDir;

fn bgpd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .args(args)
        .output()
        .expect("runs")
}

/// The file a fresh user wrote: router_id forgotten, a hold time of 2 (with a comment), a /33
/// network, a loopback network, a default route with a broadcast next hop, a policy term
/// naming a prefix list that does not exist.
const FRESH: &str = "# router_id forgotten\n\
local_as = 65001\n\
\n\
[[neighbor]]\n\
address = \"192.0.2.2\"\n\
remote_as = 65002\n\
hold_time = 2                     # 0 or >= 3 seconds; default 90\n\
keepalive = 30\n\
md5_password = \"sec-ret\"          # the key\n\
import = [\"in\"]\n\
export = [\"in\"]\n\
\n\
[[network]]\n\
prefix = \"10.0.0.0/33\"\n\
\n\
[[network]]\n\
prefix = \"127.0.0.0/8\"\n\
\n\
[[network]]\n\
prefix = \"0.0.0.0/0\"\n\
next_hop = \"255.255.255.255\"\n\
\n\
[policy.policies.in]\n\
default = \"accept\"\n\
[[policy.policies.in.terms]]\n\
match = { prefix_list = \"nope\" }\n\
action = \"reject\"\n";

#[test]
fn check_config_lists_every_error_and_warning_in_line_order_each_with_its_value() {
    let dir = TempDir::new("checkorder");
    let path = dir.write("fresh.toml", FRESH);
    let file = path.display().to_string();
    let out = bgpd(&["--check-config", &file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    let expect = [
        format!(
            "bgpd: error: {file}: router_id: required, and missing from the top of the file \
             (before the first [table])"
        ),
        format!(
            "bgpd: error: {file}: neighbor[0].hold_time = 2 (line 7): must be 0 or at least 3 \
             seconds (RFC 4271 section 4.2)"
        ),
        format!("bgpd: error: {file}: network[0].prefix = \"10.0.0.0/33\" (line 14): "),
        format!(
            "bgpd: error: {file}: network[1].prefix = \"127.0.0.0/8\" (line 17): 127.0.0.0/8 \
             is loopback address space (a packet to it never leaves a host): not a route to \
             announce"
        ),
        format!(
            "bgpd: warning: {file}: network[2].prefix = \"0.0.0.0/0\" (line 20): 0.0.0.0/0 is \
             the default route: every neighbour that accepts it sends here all the traffic it \
             has no more specific route for"
        ),
        format!(
            "bgpd: error: {file}: network[2].next_hop = \"255.255.255.255\" (line 21): \
             255.255.255.255 is not a usable host address (RFC 4271 section 6.3)"
        ),
        format!(
            "bgpd: error: {file}: policy.policies.in.terms[0].match.prefix_list = \"nope\" \
             (line 26): unknown prefix list \"nope\" (policy \"in\" term #1); \
             [policy.prefix_lists] defines none"
        ),
    ];
    assert_eq!(lines.len(), expect.len(), "{err}");
    for (line, want) in lines.iter().zip(&expect) {
        assert!(
            line.starts_with(want.as_str()),
            "{line}\nwanted: {want}\nall:\n{err}"
        );
    }
    assert!(lines[2].contains("an IPv4 prefix is at most /32"), "{err}");
    // No comment echoed, no password, nothing about the keepalive of the refused hold time.
    assert!(
        !err.contains("default 90") && !err.contains("the key") && !err.contains("sec-ret"),
        "{err}"
    );
    assert!(!err.contains("keepalive"), "{err}");

    // Starting on it gives the same lines, and starts nothing.
    let out = bgpd(&["--config", &file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(String::from_utf8(out.stderr).unwrap(), err);
}

/// A policy with two bad prefix-list entries, a reference to an unknown list, a bad regex
/// and a value toml cannot read, admin_tls files that do not exist, and a standby missing
/// both its interfaces (note7.md, a fresh user on the final code, finding 1).
const EVERYWHERE: &str = "router_id = \"192.0.2.1\"\n\
local_as = 65001\n\
admin_tls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\" }\n\
\n\
[policy.prefix_lists]\n\
customers = [\"203.0.113.0/33\", \"198.51.100.0/24\", \"10.0.0.0/8 le 40\"]\n\
\n\
[policy.policies.in]\n\
default = \"accept\"\n\
[[policy.policies.in.terms]]\n\
match = { prefix_list = \"nope\", as_path = \"(\" }\n\
set = { local_pref = \"high\" }\n\
action = \"reject\"\n\
\n\
[ha]\n\
role = \"standby\"\n\
node_id = 2\n\
primary = \"http://192.0.2.254:50052\"\n";

#[test]
fn check_config_gives_every_policy_tls_and_ha_error_in_line_order() {
    let dir = TempDir::new("checkall");
    let path = dir.write("all.toml", EVERYWHERE);
    let file = path.display().to_string();
    let out = bgpd(&["--check-config", &file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    let expect = [
        "error: admin_tls.cert = \"/nonexistent/c.pem\" (line 3): cannot be read: ",
        "error: admin_tls.key = \"/nonexistent/k.pem\" (line 3): cannot be read: ",
        "error: policy.prefix_lists.customers[0] = \"203.0.113.0/33\" (line 6): ",
        "error: policy.prefix_lists.customers[2] = \"10.0.0.0/8 le 40\" (line 6): ",
        "error: policy.policies.in.terms[0].match.prefix_list = \"nope\" (line 11): unknown \
         prefix list \"nope\"",
        "error: policy.policies.in.terms[0].match.as_path = \"(\" (line 11): policy \"in\" term \
         #1: bad as_path regex: unclosed group",
        "error: policy.policies.in.terms[0].set.local_pref = \"high\" (line 12): expected a \
         whole number",
        "error: ha.mirror_interface (line 15): a standby needs the interface its BGP traffic is \
         mirrored to",
        "error: ha.session_interface (line 15): a standby needs the interface where it adds the \
         session addresses",
    ];
    assert_eq!(lines.len(), expect.len(), "{err}");
    for (line, want) in lines.iter().zip(expect) {
        let want = want.replacen("error: ", &format!("bgpd: error: {file}: "), 1);
        assert!(
            line.starts_with(&want),
            "{line}\nwanted: {want}\nall:\n{err}"
        );
    }
}

/// `understudy ARGS` with the admin address from `--admin` (Some) or from nothing given.
fn understudy(admin: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_understudy"));
    if let Some(a) = admin {
        cmd.arg("--admin").arg(a);
    }
    cmd.args(args).env_remove("UNDERSTUDY_ADMIN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs")
}

#[test]
fn understudy_checks_its_arguments_before_it_looks_for_the_daemon() {
    // Nothing listens there: an argument error must not read "cannot reach".
    let admin = format!("127.0.0.1:{}", harness::daemon::free_port());
    for (args, says) in [
        (
            &["route", "add", "10.0.0.0/33"][..],
            "an IPv4 prefix is at most /32",
        ),
        (&["route", "add", "10.0.0.1/8"], "10.0.0.1/8"),
        (
            &["route", "add", "127.0.0.0/8"],
            "127.0.0.0/8 is loopback address space",
        ),
        (
            &[
                "route",
                "add",
                "203.0.113.0/24",
                "--next-hop",
                "255.255.255.255",
            ],
            "next hop 255.255.255.255 is not a usable host address (RFC 4271 section 6.3)",
        ),
        (
            &[
                "route",
                "add",
                "203.0.113.0/24",
                "--next-hop",
                "2001:db8::1",
            ],
            "next hop 2001:db8::1 is not of the family of 203.0.113.0/24",
        ),
        (
            &["route", "del", "2001:db8::/129"],
            "an IPv6 prefix is at most /128",
        ),
        (&["rib", "198.51.100.0/33"], "an IPv4 prefix is at most /32"),
    ] {
        let out = understudy(Some(&admin), &[], args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("understudy: error: ") && err.contains(says),
            "{args:?}: {err}"
        );
        assert!(!err.contains("cannot reach"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Good arguments: the daemon is looked for, and is not there.
    let out = understudy(Some(&admin), &[], &["route", "add", "203.0.113.0/24"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!(
            "understudy: error: cannot reach the bgpd admin API at {admin}"
        )),
        "{err}"
    );
}

#[test]
fn a_bad_admin_address_names_where_it_came_from() {
    let out = understudy(None, &[("UNDERSTUDY_ADMIN", "127.0.0.1")], &["neighbors"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "understudy: error: UNDERSTUDY_ADMIN 127.0.0.1 has no port: write HOST:PORT, e.g. \
         127.0.0.1:50051 (bgpd's admin_address; its default port is 50051)\n"
    );
    let out = understudy(None, &[("UNDERSTUDY_ADMIN", "127.0.0.1:0")], &["neighbors"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("understudy: error: UNDERSTUDY_ADMIN 127.0.0.1:0: \"0\" is not a port"),
        "{out:?}"
    );
    // --admin wins over the variable, and is named as --admin.
    let out = understudy(
        Some("localhost"),
        &[("UNDERSTUDY_ADMIN", "127.0.0.1:1")],
        &["neighbors"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("understudy: error: --admin localhost has no port"),
        "{out:?}"
    );
}
