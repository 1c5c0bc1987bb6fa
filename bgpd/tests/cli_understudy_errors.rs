//! `understudy`'s errors say their real cause (note7.md, a fresh user on the final code,
//! findings 2, 5 and 6): a daemon that cannot be reached is not blamed on TLS; a warning
//! about an argument comes whether or not the daemon answers; no command, or an admin
//! address with a scheme, ends with an `understudy: error:` line and exit status 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::{Command, Output};

fn understudy(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_understudy"));
    cmd.args(args)
        .env_remove("UNDERSTUDY_ADMIN")
        .env_remove("UNDERSTUDY_TLS_CA")
        .env_remove("UNDERSTUDY_TLS_CERT")
        .env_remove("UNDERSTUDY_TLS_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs")
}

#[test]
fn a_port_that_refuses_is_said_as_refused_not_as_tls() {
    // Nothing listens there: the kernel refuses the connection.
    let admin = format!("127.0.0.1:{}", harness::daemon::free_port());
    let out = understudy(&[], &["--admin", &admin, "neighbors"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!(
            "understudy: error: cannot reach the bgpd admin API at {admin}: "
        )) && err.contains("Connection refused"),
        "{err}"
    );
    assert!(!err.contains("TLS"), "{err}");
}

#[test]
fn the_default_route_warning_comes_before_the_daemon_is_looked_for() {
    let admin = format!("127.0.0.1:{}", harness::daemon::free_port());
    let out = understudy(&[], &["--admin", &admin, "route", "add", "0.0.0.0/0"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        "understudy: warning: 0.0.0.0/0 is the default route: every neighbour that accepts it \
         sends here all the traffic it has no more specific route for"
    );
    assert!(
        lines[1].starts_with("understudy: error: cannot reach the bgpd admin API"),
        "{err}"
    );
}

#[test]
fn no_command_ends_with_an_error_line_and_exit_status_2() {
    let out = understudy(&[], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("Usage: understudy"), "{err}");
    assert_eq!(
        err.lines().last(),
        Some(
            "understudy: error: no command given: name one of the commands above, e.g. \
             `understudy neighbors` (see --help)"
        ),
        "{err}"
    );
}

#[test]
fn an_admin_address_with_a_scheme_is_refused_as_the_help_asks_for_host_port() {
    let out = understudy(
        &[("UNDERSTUDY_ADMIN", "http://127.0.0.1:50051")],
        &["neighbors"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "understudy: error: UNDERSTUDY_ADMIN http://127.0.0.1:50051: write HOST:PORT without \
         http:// (e.g. 127.0.0.1:50051): TLS is chosen by --tls-ca\n"
    );
}

#[test]
fn disable_message_help_says_it_goes_in_the_cease_notification() {
    let out = understudy(&[], &["disable", "--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap().replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains(
            "sent in the Cease NOTIFICATION as its Shutdown Communication (RFC 8203, RFC 9003"
        ),
        "{help}"
    );
}
