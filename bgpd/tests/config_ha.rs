//! `[ha]` keys of the other role and `protect` (selective backup), as `--check-config`
//! reports them: an error or a warning, each one line naming the field and its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bgpd::config::{Config, ConfigError};

const BASE: &str = "router_id = \"192.0.2.254\"\nlocal_as = 65001\n\
    [[neighbor]]\naddress = \"192.0.2.1\"\nremote_as = 65001\n\
    [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\n";

/// Lines of `BASE` plus the `[ha]` header: the first key after it is on this line + 1.
fn ha_line(n: usize) -> usize {
    BASE.lines().count() + 1 + n
}

const PRIMARY: &str =
    "[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"192.0.2.254:50052\"\n";
const STANDBY: &str = "[ha]\nrole = \"standby\"\nnode_id = 2\nprimary = \"http://192.0.2.254:50052\"\nmirror_interface = \"mon0\"\nsession_interface = \"eth1\"\n";

fn warnings(ha: &str) -> Vec<String> {
    let (_, w) = Config::from_toml_str_with_warnings(&format!("{BASE}{ha}")).expect("valid");
    w.iter().map(ToString::to_string).collect()
}

fn error(ha: &str) -> String {
    match Config::from_toml_str_with_warnings(&format!("{BASE}{ha}")) {
        Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// A primary keeps the standby's keys: after `understudy switchover` it follows the new
/// primary as a standby and uses them (mirror, session interface, addresses to move,
/// fencing, protected flows), so none of them is a warning.
#[test]
fn standby_keys_on_a_primary_are_accepted_for_after_a_switchover() {
    for (key, value) in [
        ("mirror_interface", "\"mon0\""),
        ("session_interface", "\"eth1\""),
        ("move_addresses", "[\"198.51.100.1/25 eth2\"]"),
        ("fencing_command", "\"true\""),
        ("protect", "[\"192.0.2.1\"]"),
    ] {
        let w = warnings(&format!("{PRIMARY}{key} = {value}\n"));
        assert!(w.is_empty(), "{key}: {w:?}");
    }
}

#[test]
fn primary_endpoint_on_a_primary_is_an_error() {
    let e = error(&format!(
        "{PRIMARY}primary = \"http://192.0.2.253:50052\"\n"
    ));
    assert!(
        e.starts_with(&format!(
            "ha.primary = \"http://192.0.2.253:50052\" (line {}): a primary does not follow \
             another primary",
            ha_line(4)
        )),
        "{e}"
    );
}

#[test]
fn every_key_of_a_standby_has_a_use() {
    // checkpoint_address: where it serves its own standbys once it has taken over.
    let w = warnings(&format!(
        "{STANDBY}checkpoint_address = \"192.0.2.253:50052\"\nwrite_ahead = \"async\"\n\
         protect = [\"192.0.2.2\"]\n"
    ));
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn protect_names_configured_neighbours() {
    let c = Config::from_toml_str(&format!("{BASE}{STANDBY}protect = [\"192.0.2.2\"]\n"))
        .expect("valid");
    let ha = c.ha.expect("[ha]");
    assert!(ha.protects("192.0.2.2".parse().unwrap()));
    assert!(!ha.protects("192.0.2.1".parse().unwrap()));

    let all = Config::from_toml_str(&format!("{BASE}{STANDBY}"))
        .expect("valid")
        .ha
        .expect("[ha]");
    assert!(all.protect.is_empty());
    assert!(all.protects("192.0.2.1".parse().unwrap()));

    let e = error(&format!(
        "{STANDBY}protect = [\"192.0.2.2\", \"192.0.2.9\"]\n"
    ));
    assert_eq!(
        e,
        format!(
            "ha.protect = [\"192.0.2.2\", \"192.0.2.9\"] (line {}): 192.0.2.9 is not the \
             address of a [[neighbor]]",
            ha_line(6)
        )
    );
    let e = Config::from_toml_str(&format!("{BASE}{STANDBY}protect = [\"not-an-address\"]\n"))
        .expect_err("not an address")
        .to_string();
    assert!(
        e.starts_with(&format!(
            "ha.protect[0] = \"not-an-address\" (line {}): ",
            ha_line(6)
        )),
        "{e}"
    );
}

#[test]
fn a_primary_endpoint_that_is_not_a_uri_is_an_error() {
    let e = error(
        "[ha]\nrole = \"standby\"\nnode_id = 2\nprimary = \"http://bad host:50052\"\n\
         mirror_interface = \"mon0\"\nsession_interface = \"eth1\"\n",
    );
    assert!(
        e.starts_with(&format!(
            "ha.primary = \"http://bad host:50052\" (line {}): \"http://bad host:50052\" is not a \
             valid URI",
            ha_line(3)
        )),
        "{e}"
    );
}
