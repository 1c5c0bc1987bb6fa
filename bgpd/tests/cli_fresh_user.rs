//! What a fresh user met (session 1's closing note), each fixed and checked through the built
//! binaries: `--check-config` warns about RFC 8212, operator prefixes with host bits are
//! refused, config errors name the field and echo the value, a soft reset of a session that
//! is not Established fails, logs carry no ANSI colours when stderr is not a terminal, the
//! metrics address comes from the TOML, and `route add` takes an IPv6 next hop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::daemon::{free_port, Daemon, TempDir};
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

fn check_config(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .arg("--check-config")
        .arg(path)
        .output()
        .unwrap()
}

const HEAD: &str = "router_id = \"192.0.2.1\"\nlocal_as = 65001\n";

#[test]
fn check_config_warns_about_ebgp_without_policy() {
    let dir = TempDir::new("check8212");
    let path = dir.write(
        "bgpd.toml",
        &format!("{HEAD}\n[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65002\n"),
    );
    let out = check_config(&path);
    assert!(out.status.success(), "valid, only warned about");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one warning for import, one for export: {err}"
    );
    assert!(
        lines[0].starts_with(&format!(
            "bgpd: warning: {}: neighbor[0].import (line 4): ",
            path.display()
        )) && lines[0].contains("RFC 8212"),
        "{err}"
    );
    assert!(lines[1].contains("neighbor[0].export"), "{err}");

    // With both policies: silent.
    let path = dir.write(
        "ok.toml",
        &format!(
            "{HEAD}\n[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65002\nimport = [\"all\"]\n\
             export = [\"all\"]\n\n[policy.policies.all]\ndefault = \"accept\"\n"
        ),
    );
    let out = check_config(&path);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_refuses_host_bits_and_names_field_and_value() {
    let dir = TempDir::new("checkbad");
    for (text, expect) in [
        (
            format!("{HEAD}\n[[network]]\nprefix = \"203.0.113.1/24\"\n"),
            "network[0].prefix = \"203.0.113.1/24\" (line 5): \"203.0.113.1/24\" has host bits set beyond /24: did you mean 203.0.113.0/24?",
        ),
        (
            format!("{HEAD}\n[[network]]\nprefix = \"203.0.113.0/33\"\n"),
            "network[0].prefix = \"203.0.113.0/33\" (line 5): invalid prefix \"203.0.113.0/33\"",
        ),
        (
            format!("{HEAD}\n[[neighbor]]\naddress = \"192.0.2.256\"\nremote_as = 65002\n"),
            "neighbor[0].address = \"192.0.2.256\" (line 5): ",
        ),
    ] {
        let path = dir.write("bad.toml", &text);
        let out = check_config(&path);
        assert_eq!(out.status.code(), Some(1), "{text}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with(&format!("bgpd: error: {}: {expect}", path.display())),
            "{err}"
        );
    }
}

fn wait_admin(admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = understudy(admin, &["--json", "info"]);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bgpd admin API never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "must fail");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    err
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn loopback_daemon_refuses_what_it_cannot_do_and_logs_plain_text() {
    let dir = TempDir::new("fresh");
    let admin = format!("127.0.0.1:{}", free_port());
    let metrics = format!("127.0.0.1:{}", free_port());
    // A passive neighbour nobody connects to: never Established.
    let config = dir.write(
        "bgpd.toml",
        &format!(
            "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.1\"]\n\
             port = {}\nadmin_address = \"{admin}\"\nmetrics_address = \"{metrics}\"\n\n\
             [[neighbor]]\naddress = \"192.0.2.9\"\nremote_as = 65009\npassive = true\n\
             [[neighbor]]\naddress = \"192.0.2.10\"\nremote_as = 65010\nshutdown = true\n",
            free_port()
        ),
    );
    let log = std::fs::File::create(dir.0.join("bgpd.log")).unwrap();
    let _daemon = Daemon::start(&config, log, &[("RUST_LOG", "info")]);
    wait_admin(&admin);

    // Soft reset of a session that is not Established: an error naming the state.
    for kind in ["in", "out"] {
        let out = understudy(&admin, &["reset", "192.0.2.9", "--soft", kind]);
        let err = one_line_error(&out);
        assert!(
            err.contains("192.0.2.9 is Active, not Established"),
            "{kind}: {err}"
        );
    }

    // A hard reset would enable a disabled neighbour: refused.
    // A hard reset of an enabled neighbour, said in words.
    let out = understudy(&admin, &["reset", "192.0.2.9"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "192.0.2.9: hard reset (any connection closed with Cease / Administrative Reset; the session starts again)\n"
    );
    let err = one_line_error(&understudy(&admin, &["reset", "192.0.2.10"]));
    assert_eq!(
        err,
        "understudy: error: 192.0.2.10 is disabled: `understudy enable 192.0.2.10` starts it\n"
    );
    let out = understudy(&admin, &["--json", "neighbor", "192.0.2.10"]);
    let n: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(n["admin_up"], false, "{n}");

    // Host bits: refused, naming the network meant, in bgpd's words alone.
    let err = one_line_error(&understudy(&admin, &["route", "add", "10.0.0.1/8"]));
    assert_eq!(
        err,
        "understudy: error: \"10.0.0.1/8\" has host bits set beyond /8: did you mean 10.0.0.0/8?\n"
    );
    let out = understudy(&admin, &["--json", "rib"]);
    assert!(out.stdout.is_empty(), "nothing originated: {out:?}");

    // An IPv6 next hop for an IPv6 prefix; the families must match.
    let out = understudy(
        &admin,
        &[
            "route",
            "add",
            "2001:db8:5::/48",
            "--next-hop",
            "2001:db8::5",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = understudy(&admin, &["--json", "rib"]);
    let routes: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0]["prefix"], "2001:db8:5::/48");
    assert_eq!(routes[0]["next_hop"], "2001:db8::5");
    // Originated here: no neighbour, said as null rather than "".
    assert!(routes[0]["neighbor"].is_null(), "{routes:?}");

    // Exit status: 2 for bad input, whether clap or bgpd finds it; 1 for a failure at run
    // time (the request is well formed, the daemon's state refuses it); 3 for a neighbour
    // or route the daemon does not have.
    for args in [
        &["route", "add", "10.0.0.1/8"][..],
        &["route", "add", "224.0.0.0/4"],
        &["rib", "198.51.100.0/33"],
        &["rib", "not-a-prefix"],
        &["neighbor", "192.0.2.300"],
    ] {
        let out = understudy(&admin, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        one_line_error(&out);
    }
    let out = understudy(&admin, &["reset", "192.0.2.10"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    one_line_error(&out);
    for args in [
        &["neighbor", "192.0.2.99"][..],
        &["route", "del", "192.0.2.0/24"],
    ] {
        let out = understudy(&admin, args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        one_line_error(&out);
    }
    let err = one_line_error(&understudy(
        &admin,
        &["route", "add", "2001:db8:6::/48", "--next-hop", "192.0.2.5"],
    ));
    assert!(err.contains("not of the family"), "{err}");
    // Multicast space and a broadcast next hop are refused; adding a route again says so.
    let err = one_line_error(&understudy(&admin, &["route", "add", "224.0.0.0/4"]));
    assert_eq!(
        err,
        "understudy: error: 224.0.0.0/4 is multicast address space, not a unicast route\n"
    );
    let err = one_line_error(&understudy(&admin, &["route", "add", "ff05::/16"]));
    assert!(err.contains("multicast address space"), "{err}");
    let err = one_line_error(&understudy(
        &admin,
        &[
            "route",
            "add",
            "198.51.100.0/24",
            "--next-hop",
            "255.255.255.255",
        ],
    ));
    assert!(
        err.contains("255.255.255.255 is not a usable host address"),
        "{err}"
    );
    let again = understudy(
        &admin,
        &[
            "route",
            "add",
            "2001:db8:5::/48",
            "--next-hop",
            "2001:db8::5",
        ],
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("was originated already"),
        "{again:?}"
    );

    // metrics_address from the TOML serves Prometheus text.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http_get(&metrics, "/metrics");
        if text.contains("200 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "no metrics at {metrics}: {text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Only /metrics is served.
    for path in ["/metrics/nope", "/"] {
        let text = http_get(&metrics, path);
        let status_line = text.lines().next().unwrap_or("");
        assert!(
            status_line.starts_with("HTTP/1.") && status_line.ends_with(" 404 Not Found"),
            "{path}: {text}"
        );
    }

    // metrics_address applies at start only: a reload that changes it says so, and the
    // endpoint stays where it was.
    let src = std::fs::read_to_string(&config).unwrap();
    let moved = format!("127.0.0.1:{}", free_port());
    std::fs::write(&config, src.replace(&metrics, &moved)).unwrap();
    let out = understudy(&admin, &["reload"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("metrics_address changed: takes effect only when bgpd restarts"),
        "{text}"
    );
    assert!(http_get(&metrics, "/metrics").contains("200 OK"));

    // The log went to a file: plain text, no colour escapes, and it has lines.
    let text = std::fs::read_to_string(dir.0.join("bgpd.log")).unwrap();
    assert!(text.contains("admin API listening"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escapes in a file log: {text:?}"
    );
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("UNDERSTUDY_ADMIN")
        .output()
        .unwrap()
}

#[test]
fn help_is_written_for_a_new_user() {
    let bgpd = env!("CARGO_BIN_EXE_bgpd");
    let understudy = env!("CARGO_BIN_EXE_understudy");
    // -h and --help describe the daemon (not the library crate) and show examples.
    for flag in ["-h", "--help"] {
        let out = run(bgpd, &[flag]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with("understudy BGP speaker daemon"),
            "{flag}: {text}"
        );
        for want in [
            "--check-config",
            "Examples:",
            "examples/bgpd.toml",
            "RFC 8212",
        ] {
            assert!(text.contains(want), "bgpd {flag} lacks {want}: {text}");
        }
    }
    let out = run(understudy, &["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Examples:",
        "admin_address",
        "understudy route add 198.51.100.0/24",
    ] {
        assert!(
            text.contains(want),
            "understudy --help lacks {want}: {text}"
        );
    }
    let out = run(understudy, &["route", "add", "--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("host bits must") && text.contains("--next-hop <ADDRESS>"),
        "{text}"
    );
    let out = run(understudy, &["reset", "--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("needs the session Established"), "{text}");
    // The exit statuses are written down.
    let out = run(understudy, &["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Exit status: 0 success; 1 a failure at run time")
            && text.contains("2 bad usage or bad input"),
        "{text}"
    );
    // `decode` needs no daemon: its help leaves out the admin API's flags, which the
    // other subcommands keep.
    let out = run(understudy, &["decode", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--hex <HEX>"), "{text}");
    for flag in [
        "--admin",
        "--json",
        "--tls-ca",
        "--tls-cert",
        "--tls-key",
        "--tls-server-name",
    ] {
        assert!(!text.contains(flag), "decode --help shows {flag}: {text}");
    }
    let out = run(understudy, &["rib", "--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--admin", "--json", "--tls-ca"] {
        assert!(text.contains(flag), "rib --help lacks {flag}: {text}");
    }
    assert!(text.contains("`neighbor` is null"), "{text}");

    // No subcommand: the help on stderr and a usage failure, not success.
    for args in [&[][..], &["route"]] {
        let out = run(understudy, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: understudy"));
    }
}

#[test]
fn a_fatal_start_error_is_one_line() {
    let out = run(
        env!("CARGO_BIN_EXE_bgpd"),
        &["--config", "/nonexistent/understudy-bgpd.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "bgpd: error: cannot read configuration /nonexistent/understudy-bgpd.toml: No such file or directory (os error 2)\n"
    );
}

/// Both programs say an error in one form, `PROGRAM: error: ...` on one line, whoever
/// finds it (clap or the program); bgpd's usage line shows --check-config.
#[test]
fn errors_have_one_form_and_the_usage_shows_check_config() {
    let bgpd = env!("CARGO_BIN_EXE_bgpd");
    let understudy = env!("CARGO_BIN_EXE_understudy");
    for (bin, args, start) in [
        (
            bgpd,
            &[][..],
            "bgpd: error: the following required arguments were not provided",
        ),
        (
            bgpd,
            &["--nope"],
            "bgpd: error: unexpected argument '--nope' found",
        ),
        (
            bgpd,
            &["--check-config", "/nonexistent/understudy-bgpd.toml"],
            "bgpd: error: cannot read configuration /nonexistent/understudy-bgpd.toml",
        ),
        (
            understudy,
            &["neighbor", "x"],
            "understudy: error: invalid value 'x'",
        ),
        (
            understudy,
            &["decode", "--hex", ""],
            "understudy: error: --hex is empty",
        ),
    ] {
        let out = run(bin, args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with(start), "{args:?}: {err}");
    }
    let out = run(bgpd, &[]);
    assert_eq!(out.status.code(), Some(2), "bad usage");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bgpd --check-config FILE"), "{err}");
    let out = run(bgpd, &["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Usage: bgpd --config FILE [OPTIONS]\n       bgpd --check-config FILE\n"),
        "{text}"
    );
}

#[test]
fn a_session_that_fails_before_established_says_why_in_last_error() {
    let dir = TempDir::new("lasterror");
    let admin = format!("127.0.0.1:{}", free_port());
    // The neighbour 127.0.0.1 is this test: it takes the connection, reads, and closes
    // without a NOTIFICATION. Nothing listens at 127.0.0.3: connect is refused.
    let neighbour = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = neighbour.local_addr().unwrap().port();
    let config = dir.write(
        "bgpd.toml",
        &format!(
            "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.2\"]\n\
             port = {port}\nadmin_address = \"{admin}\"\n\n\
             [[neighbor]]\naddress = \"127.0.0.1\"\nremote_as = 65002\nlocal_address = \"127.0.0.2\"\n\
             [[neighbor]]\naddress = \"127.0.0.3\"\nremote_as = 65003\nlocal_address = \"127.0.0.2\"\n"
        ),
    );
    let _daemon = Daemon::start(&config, Stdio::null(), &[]);
    wait_admin(&admin);
    let (mut conn, _) = neighbour.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut open = [0u8; 19];
    conn.read_exact(&mut open).unwrap();
    assert_eq!(open[18], 1, "bgpd sends its OPEN first");
    drop(conn);
    let last_error = |addr: &str| {
        let out = understudy(&admin, &["--json", "neighbor", addr]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v["last_error"].as_str().unwrap_or_default().to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (closed, refused) = loop {
        let (a, b) = (last_error("127.0.0.1"), last_error("127.0.0.3"));
        if !a.is_empty() && !b.is_empty() {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "last_error stays empty: {a:?} {b:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        closed,
        "connection closed by the neighbour in OpenSent (no NOTIFICATION)"
    );
    assert!(
        refused.starts_with("connect failed: Connection refused"),
        "{refused}"
    );
}

#[test]
fn watch_help_says_what_it_streams_and_what_not() {
    let out = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["watch", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("session state changes"), "{help}");
    assert!(
        help.contains("Route changes one by one are not streamed: `rib` shows the tables"),
        "{help}"
    );
}

#[test]
fn a_watch_whose_daemon_stops_says_so_without_a_tls_hint() {
    let dir = TempDir::new("watchstop");
    let admin = format!("127.0.0.1:{}", free_port());
    let config = dir.write(
        "bgpd.toml",
        &format!(
            "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.1\"]\n\
             port = {}\nadmin_address = \"{admin}\"\n\n\
             [[neighbor]]\naddress = \"192.0.2.9\"\nremote_as = 65009\npassive = true\n",
            free_port()
        ),
    );
    let daemon = Daemon::start(&config, Stdio::null(), &[]);
    wait_admin(&admin);
    let mut watch = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["--admin", &admin, "watch"])
        .env_remove("UNDERSTUDY_ADMIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // The watch is streaming once it prints an event: disabling and enabling the
    // neighbour changes its session state.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut disable = true;
    loop {
        let verb = if disable { "disable" } else { "enable" };
        assert!(understudy(&admin, &[verb, "192.0.2.9"]).status.success());
        disable = !disable;
        if rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "watch printed no event");
    }
    drop(daemon);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = watch.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = watch.kill();
            panic!("watch did not end within 30 s of bgpd stopping");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "understudy: error: the bgpd admin API at {admin} ended the watch: "
        )) && err.ends_with("bgpd stopped or restarted\n"),
        "{err}"
    );
    assert!(!err.contains("TLS") && !err.contains("--tls"), "{err}");
}

/// What bgpd refuses says why, with a documented exit status: an unknown neighbour is "no
/// such neighbour" (3); a prefix length beyond the family's maximum says the maximum (2);
/// loopback space is refused and the default route warned about; a reload of a broken file
/// says the old configuration is kept, in the CLI (2) and in bgpd's log.
#[test]
fn refusals_say_why_with_a_documented_exit_status() {
    let dir = TempDir::new("refusals");
    let admin = format!("127.0.0.1:{}", free_port());
    let config = dir.write(
        "bgpd.toml",
        &format!(
            "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.1\"]\n\
             port = {}\nadmin_address = \"{admin}\"\n\n\
             [[neighbor]]\naddress = \"192.0.2.9\"\nremote_as = 65001\npassive = true\n",
            free_port()
        ),
    );
    let log_path = dir.0.join("bgpd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let daemon = Daemon::start(&config, log, &[("RUST_LOG", "info")]);
    wait_admin(&admin);

    for args in [
        &["neighbor", "192.0.2.77"][..],
        &["reset", "192.0.2.77"],
        &["disable", "192.0.2.77"],
        &["rib", "--in", "192.0.2.77"],
    ] {
        let out = understudy(&admin, args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        assert_eq!(
            one_line_error(&out),
            "understudy: error: no such neighbour: 192.0.2.77 is not configured (`understudy \
             neighbors` lists them)\n",
            "{args:?}"
        );
    }
    let out = understudy(&admin, &["route", "del", "198.51.100.0/24"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    for (args, max) in [
        (
            &["rib", "198.51.100.0/33"][..],
            "an IPv4 prefix is at most /32",
        ),
        (
            &["route", "add", "198.51.100.0/33"],
            "an IPv4 prefix is at most /32",
        ),
        (&["rib", "2001:db8::/129"], "an IPv6 prefix is at most /128"),
    ] {
        let out = understudy(&admin, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = one_line_error(&out);
        assert!(
            err.contains("is out of range: ") && err.contains(max),
            "{err}"
        );
    }

    let out = understudy(&admin, &["route", "add", "127.0.0.0/8"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        one_line_error(&out).contains("127.0.0.0/8 is loopback address space"),
        "{out:?}"
    );
    let out = understudy(&admin, &["route", "add", "0.0.0.0/0"]);
    assert!(out.status.success(), "{out:?}");
    // The warning is said once, on stderr, before the daemon is asked.
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "understudy: warning: 0.0.0.0/0 is the default route: every neighbour that accepts it \
         sends here all the traffic it has no more specific route for\n"
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "0.0.0.0/0 originated\n"
    );

    // A broken file: refused, the old configuration kept and said so.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}hold_time = 1\n")).unwrap();
    let out = understudy(&admin, &["reload"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = one_line_error(&out);
    assert!(
        err.starts_with("understudy: error: reload refused: ")
            && err.contains("neighbor[0].hold_time = 1 (line 11)")
            && err.trim_end().ends_with("(the old configuration is kept)"),
        "{err}"
    );
    let out = understudy(&admin, &["neighbor", "192.0.2.9"]);
    assert!(out.status.success(), "still configured: {out:?}");
    // In the log, once for the admin reload and once for a SIGHUP.
    let refusals = || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .lines()
            .filter(|l| {
                l.contains("reload refused: ")
                    && l.contains("neighbor[0].hold_time = 1 (line 11)")
                    && l.ends_with("(the old configuration is kept)")
            })
            .count()
    };
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while refusals() < n {
            assert!(
                Instant::now() < deadline,
                "{n} refusals not in the log: {}",
                std::fs::read_to_string(&log_path).unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(1);
    // SAFETY: kill(2) on the daemon this test started and has not reaped.
    let pid = i32::try_from(daemon.0.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    wait_for(2);
    let out = understudy(&admin, &["neighbor", "192.0.2.9"]);
    assert!(
        out.status.success(),
        "still running, still configured: {out:?}"
    );
}

/// `--check-config` reports every error it finds, one line each, and a reload of such a file
/// says the first and how many more there are.
#[test]
fn check_config_reports_every_error_and_a_reload_counts_them() {
    let dir = TempDir::new("allerrors");
    let admin = format!("127.0.0.1:{}", free_port());
    let good = format!(
        "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.1\"]\n\
         port = {}\nadmin_address = \"{admin}\"\n\n\
         [[neighbor]]\naddress = \"192.0.2.9\"\nremote_as = 65001\npassive = true\n",
        free_port()
    );
    let config = dir.write("bgpd.toml", &good);
    let bad =
        format!("{good}hold_time = 1\nconnect_retry = 0\n[[network]]\nprefix = \"127.0.0.0/8\"\n");
    let bad_path = dir.write("bad.toml", &bad);
    let out = check_config(&bad_path);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let file = bad_path.display();
    let lines: Vec<&str> = err.lines().collect();
    // In line order.
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "bgpd: error: {file}: neighbor[0].hold_time = 1 (line 11): "
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "bgpd: error: {file}: neighbor[0].connect_retry = 0 (line 12): "
        )),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "bgpd: error: {file}: network[0].prefix = \"127.0.0.0/8\" (line 14): "
        )),
        "{err}"
    );
    // Starting on it: the same lines.
    let out = run(
        env!("CARGO_BIN_EXE_bgpd"),
        &["--config", &bad_path.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), err);

    let log = std::fs::File::create(dir.0.join("bgpd.log")).unwrap();
    let _daemon = Daemon::start(&config, log, &[("RUST_LOG", "info")]);
    wait_admin(&admin);
    std::fs::write(&config, &bad).unwrap();
    let out = understudy(&admin, &["reload"]);
    let err = one_line_error(&out);
    assert!(
        err.contains("neighbor[0].hold_time = 1 (line 11)")
            && err.contains(&format!(
                "(and 2 more errors: `bgpd --check-config {}` lists them all) (the old \
             configuration is kept)",
                config.display()
            )),
        "{err}"
    );
}
