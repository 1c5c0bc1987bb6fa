//! `understudy` admin subcommands end to end: the built CLI against nothing (one-line error,
//! non-zero exit) and against a real bgpd on loopback (no neighbours, no root needed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::io::Write;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use harness::daemon::{free_port, Daemon};
use serde_json::Value;

fn understudy(admin: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_understudy"))
        .arg("--admin")
        .arg(admin)
        .args(args)
        .env_remove("UNDERSTUDY_ADMIN")
        .output()
        .expect("runs")
}

#[test]
fn unreachable_daemon_gives_one_line_error_and_failure() {
    let addr = format!("127.0.0.1:{}", free_port());
    for args in [
        &["neighbors"][..],
        &["info"],
        &["--json", "rib"],
        &["route", "add", "203.0.113.0/24"],
    ] {
        let out = understudy(&addr, args);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(
            err.starts_with(&format!(
                "understudy: error: cannot reach the bgpd admin API at {addr}: "
            )),
            "{err:?}"
        );
    }
}

/// `--admin` with a name that does not resolve is said as such (it read as a TLS refusal),
/// and `--admin` without a port is refused with what to write (it quietly used port 80).
#[test]
fn an_admin_name_that_does_not_resolve_or_has_no_port_is_said_as_such() {
    // .invalid never resolves (RFC 6761 section 6.4).
    let out = understudy("nosuchhost.invalid:50051", &["info"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with(
            "understudy: error: cannot reach the bgpd admin API at nosuchhost.invalid:50051: \
             the host name nosuchhost.invalid does not resolve"
        ),
        "{err:?}"
    );
    assert!(!err.contains("TLS"), "{err:?}");

    for (admin, example) in [("127.0.0.1", "127.0.0.1:50051"), ("::1", "[::1]:50051")] {
        let out = understudy(admin, &["info"]);
        assert_eq!(out.status.code(), Some(2), "bad usage");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            err,
            format!(
                "understudy: error: --admin {admin} has no port: write HOST:PORT, e.g. \
                 {example} (bgpd's admin_address; its default port is 50051)\n"
            )
        );
    }
}

#[test]
fn help_lists_the_admin_subcommands() {
    let out = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "decode",
        "info",
        "neighbors",
        "neighbor",
        "rib",
        "route",
        "reset",
        "enable",
        "disable",
        "watch",
        "reload",
        "--admin",
        "--json",
    ] {
        assert!(text.contains(sub), "--help lacks {sub}: {text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["rib", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for opt in ["--in", "--out", "--afi", "PREFIX"] {
        assert!(text.contains(opt), "rib --help lacks {opt}: {text}");
    }
}

fn rib(admin: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--json", "rib"];
    args.extend_from_slice(extra);
    let out = understudy(admin, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("rib --json prints JSON lines"))
        .collect()
}

fn prefixes(routes: &[Value]) -> Vec<String> {
    routes
        .iter()
        .map(|r| r["prefix"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn info_and_route_add_del_against_a_loopback_daemon() {
    let dir = std::env::temp_dir().join(format!("understudy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let config = dir.join("bgpd.toml");
    let mut f = std::fs::File::create(&config).unwrap();
    write!(
        f,
        "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.1\"]\n\
         port = {}\nadmin_address = \"{admin}\"\n\n[[network]]\nprefix = \"203.0.113.0/24\"\n",
        free_port()
    )
    .unwrap();
    drop(f);
    let _daemon = Daemon::start(&config, std::process::Stdio::null(), &[]);

    let deadline = Instant::now() + Duration::from_secs(30);
    let info: Value = loop {
        let out = understudy(&admin, &["--json", "info"]);
        if out.status.success() {
            break serde_json::from_slice(&out.stdout).expect("info --json is one document");
        }
        assert!(
            Instant::now() < deadline,
            "bgpd admin API never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(info["router_id"], "192.0.2.1");
    assert_eq!(info["local_as"], 65001);
    // No [ha]: `info` and `ha` name the same role.
    assert_eq!(info["role"], "standalone");
    let out = understudy(&admin, &["--json", "ha"]);
    assert!(out.status.success());
    let ha: Value = serde_json::from_slice(&out.stdout).expect("ha --json");
    assert_eq!(ha["role"], info["role"]);

    let out = understudy(&admin, &["--json", "neighbors"]);
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list, Value::Array(vec![]));

    let out = understudy(&admin, &["neighbor", "192.0.2.9"]);
    assert!(!out.status.success(), "unknown neighbour must fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err:?}");

    assert_eq!(prefixes(&rib(&admin, &[])), vec!["203.0.113.0/24"]);
    let out = understudy(&admin, &["route", "add", "198.51.100.0/24"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let routes = rib(&admin, &[]);
    assert_eq!(prefixes(&routes), vec!["198.51.100.0/24", "203.0.113.0/24"]);
    assert!(routes
        .iter()
        .all(|r| r["neighbor"].is_null() && r["next_hop"].is_null() && r["best"] == true));
    assert_eq!(
        prefixes(&rib(&admin, &["198.51.100.0/24"])),
        vec!["198.51.100.0/24"]
    );
    assert!(rib(&admin, &["--afi", "ipv6"]).is_empty());
    let out = understudy(&admin, &["route", "del", "198.51.100.0/24"]);
    assert!(out.status.success());
    assert_eq!(prefixes(&rib(&admin, &[])), vec!["203.0.113.0/24"]);
    // Deleting it again, or a route never originated: not found, nothing changes.
    for p in ["198.51.100.0/24", "192.0.2.0/24"] {
        let out = understudy(&admin, &["route", "del", p]);
        assert!(!out.status.success(), "route del {p} succeeded");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(
            err.contains(&format!("{p} is not originated here")),
            "{err}"
        );
    }
    assert_eq!(prefixes(&rib(&admin, &[])), vec!["203.0.113.0/24"]);

    // The human table has a header and one row per route.
    let out = understudy(&admin, &["rib"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("203.0.113.0/24"));
    let _ = std::fs::remove_dir_all(&dir);
}
