//! "Every error at once" in `[policy]`, `admin_tls` and `[ha]` (note7.md, a fresh user on
//! the final code, finding 1), and the smaller findings about single values (3 and 6): each
//! error in the one form `FIELD = VALUE (line N): message`, in line order.

use super::*;

const MINIMAL: &str = "router_id = \"192.0.2.1\"\nlocal_as = 65001\n";

/// Every error `--check-config` gives for `src`, one line each, in order.
fn errors(src: &str) -> Vec<String> {
    Config::check(src)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Each error's `FIELD = VALUE` part (what comes before ` (line N)`).
fn fields_of(errors: &[String]) -> Vec<&str> {
    errors
        .iter()
        .map(|e| e.split(" (line").next().unwrap_or_default())
        .collect()
}

#[test]
fn every_policy_and_admin_tls_error_is_given_in_line_order_each_with_its_value() {
    let src = format!(
        "{MINIMAL}admin_tls = {{ cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\", \
         ca = \"/nonexistent/ca.pem\" }}\n\
         [policy.prefix_lists]\n\
         customers = [\"203.0.113.0/33\", \"198.51.100.0/24\", \"10.0.0.0/8 le 40\"]\n\
         [policy.policies.in]\n\
         default = \"accept\"\n\
         [[policy.policies.in.terms]]\n\
         match = {{ prefix_list = \"nope\", as_path = \"(\" }}\n\
         action = \"reject\"\n\
         [[policy.policies.in.terms]]\n\
         set = {{ med = -1, add_communities = [\"65000:x\"] }}\n\
         match = {{ prefixes = [\"192.0.2.0/33\"] }}\n\
         action = \"accept\"\n"
    );
    let got = errors(&src);
    let want = [
        "admin_tls.cert = \"/nonexistent/c.pem\" (line 3): cannot be read: No such file or \
         directory (os error 2)",
        "admin_tls.key = \"/nonexistent/k.pem\" (line 3): cannot be read: No such file or \
         directory (os error 2)",
        "admin_tls.ca = \"/nonexistent/ca.pem\" (line 3): cannot be read: No such file or \
         directory (os error 2)",
        "policy.prefix_lists.customers[0] = \"203.0.113.0/33\" (line 5): prefix list \
         \"customers\": bad prefix list entry \"203.0.113.0/33\": invalid prefix \
         \"203.0.113.0/33\": the length /33 is out of range: an IPv4 prefix is at most /32",
        "policy.prefix_lists.customers[2] = \"10.0.0.0/8 le 40\" (line 5): prefix list \
         \"customers\": bad prefix list entry \"10.0.0.0/8 le 40\": ",
        "policy.policies.in.terms[0].match.prefix_list = \"nope\" (line 9): unknown prefix list \
         \"nope\" (policy \"in\" term #1); [policy.prefix_lists] defines customers",
        "policy.policies.in.terms[0].match.as_path = \"(\" (line 9): policy \"in\" term #1: bad \
         as_path regex: unclosed group",
        "policy.policies.in.terms[1].set.med = -1 (line 12): expected a whole number from 0 to \
         4294967295, found -1",
        "policy.policies.in.terms[1].set.add_communities[0] = \"65000:x\" (line 12): policy \
         \"in\" term #2: bad community \"65000:x\"",
        "policy.policies.in.terms[1].match.prefixes[0] = \"192.0.2.0/33\" (line 13): policy \
         \"in\" term #2: bad prefix list entry \"192.0.2.0/33\": ",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "got:  {g}\nwant: {w}\nall: {got:#?}");
        assert!(!g.contains('\n'), "one line: {g}");
    }
}

#[test]
fn an_entry_toml_cannot_read_hides_neither_the_other_entries_nor_makes_the_list_unknown() {
    let src = format!(
        "{MINIMAL}[policy.prefix_lists]\ncustomers = [\"203.0.113.0/24\", 5, \"10.0.0.0/33\"]\n\
         [policy.policies.in]\n[[policy.policies.in.terms]]\n\
         match = {{ prefix_list = \"customers\", community = [1, \"65000:x\"] }}\n"
    );
    let got = errors(&src);
    let want = [
        "policy.prefix_lists.customers[1] = 5 (line 4): expected a string in quotes, found 5",
        "policy.prefix_lists.customers[2] = \"10.0.0.0/33\" (line 4): prefix list \"customers\": \
         bad prefix list entry \"10.0.0.0/33\"",
        "policy.policies.in.terms[0].match.community[0] = 1 (line 7): expected a string in \
         quotes, found 1",
        "policy.policies.in.terms[0].match.community[1] = \"65000:x\" (line 7): policy \"in\" \
         term #1: bad community \"65000:x\"",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "got:  {g}\nwant: {w}\nall: {got:#?}");
    }
    // Elsewhere a list with a value toml cannot read is left out whole, as before.
    let src = format!(
        "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\nimport = [\"a\", 5]\n"
    );
    assert_eq!(
        errors(&src),
        vec!["neighbor[0].import[1] = 5 (line 6): expected a string in quotes, found 5"]
    );
}

#[test]
fn a_standby_missing_both_interfaces_is_told_of_both() {
    let src = format!(
        "{MINIMAL}[ha]\nrole = \"standby\"\nnode_id = 2\nprimary = \"http://192.0.2.254:50052\"\n"
    );
    assert_eq!(
        errors(&src),
        vec![
            "ha.mirror_interface (line 3): a standby needs the interface its BGP traffic is \
             mirrored to",
            "ha.session_interface (line 3): a standby needs the interface where it adds the \
             session addresses when it takes over (e.g. session_interface = \"eth1\"): without \
             it no session can be taken over",
        ]
    );
    // Independent problems of one section all come, in line order.
    let src = format!(
        "{MINIMAL}[ha]\nrole = \"primary\"\nnode_id = 0\nheartbeat_interval_ms = 1\n\
         primary = \"http://192.0.2.254:50052\"\n"
    );
    let got = errors(&src);
    let fields: Vec<&str> = got
        .iter()
        .map(|e| e.split([' ', ':']).next().unwrap_or_default())
        .collect();
    assert_eq!(
        fields,
        [
            "ha.checkpoint_address",
            "ha.node_id",
            "ha.heartbeat_interval_ms",
            "ha.primary"
        ],
        "{got:#?}"
    );
}

#[test]
fn a_duplicate_key_shows_its_own_value() {
    assert_eq!(
        errors("router_id = \"192.0.2.1\"\nlocal_as = 65001\nlocal_as = 2\n"),
        vec!["local_as = 2 (line 3): duplicate key"]
    );
}

#[test]
fn an_address_without_its_port_says_so() {
    assert_eq!(
        errors(&format!("{MINIMAL}admin_address = \"127.0.0.1\"\n")),
        vec![
            "admin_address = \"127.0.0.1\" (line 3): 127.0.0.1 has no port: write ADDRESS:PORT, \
             e.g. \"127.0.0.1:50051\""
        ]
    );
    assert_eq!(
        errors(&format!("{MINIMAL}metrics_address = \"::1\"\n")),
        vec![
            "metrics_address = \"::1\" (line 3): ::1 has no port: write [ADDRESS]:PORT, e.g. \
             \"[::1]:9179\""
        ]
    );
    let e = errors(&format!("{MINIMAL}admin_address = \"localhost:50051\"\n"));
    assert!(
        e[0].ends_with("expected ADDRESS:PORT, an IP address and a port (e.g. \"127.0.0.1:50051\" or \"[2001:db8::1]:50051\"; no host name)"),
        "{e:?}"
    );
}

#[test]
fn fib_table_0_is_refused_and_the_usable_tables_are_named() {
    assert_eq!(
        errors(&format!("{MINIMAL}[fib]\nenabled = true\ntable = 0\n")),
        vec![
            "fib.table = 0 (line 5): 0 is RT_TABLE_UNSPEC, no table: the kernel would put the \
             routes in main (254), where bgpd would not look for them; write 254 for main, or \
             the id of a table of your own (1 to 252, or 256 and above)"
        ]
    );
    for ok in [1, 100, 254, 1000] {
        assert!(
            errors(&format!("{MINIMAL}[fib]\ntable = {ok}\n")).is_empty(),
            "{ok}"
        );
    }
}

#[test]
fn every_bad_ha_tls_file_is_named() {
    let src = format!(
        "{MINIMAL}[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"127.0.0.1:50052\"\n\
         tls = {{ ca = \"/nonexistent/ca.pem\", cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\" }}\n"
    );
    let got = errors(&src);
    let fields = fields_of(&got);
    assert_eq!(
        fields,
        [
            "ha.tls.ca = \"/nonexistent/ca.pem\"",
            "ha.tls.cert = \"/nonexistent/c.pem\"",
            "ha.tls.key = \"/nonexistent/k.pem\""
        ],
        "{got:#?}"
    );
    assert!(
        got.iter().all(|e| e.contains("(line 7): cannot be read: ")),
        "{got:#?}"
    );
}

#[test]
fn a_value_left_out_inside_a_policy_does_not_hide_an_unknown_policy_name() {
    let src = format!(
        "{MINIMAL}[policy.policies.in]\n[[policy.policies.in.terms]]\nset = {{ med = -1 }}\n\
         [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\nimport = [\"nope\"]\n"
    );
    assert_eq!(
        errors(&src),
        vec![
            "policy.policies.in.terms[0].set.med = -1 (line 5): expected a whole number from 0 to \
             4294967295, found -1",
            "neighbor[0].import = [\"nope\"] (line 9): unknown policy \"nope\"",
        ]
    );
    // A policy left out whole is not unknown.
    let src = format!(
        "{MINIMAL}[policy.policies]\nin = 5\n\
         [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\nimport = [\"in\"]\n"
    );
    assert_eq!(errors(&src).len(), 1, "{:?}", errors(&src));
}

#[test]
fn an_unknown_ha_enum_value_hides_no_other_ha_error() {
    let src = format!(
        "{MINIMAL}[ha]\nrole = \"standby\"\nnode_id = 0\nprimary = \"192.0.2.254:50052\"\n\
         heartbeat_interval_ms = 0\ndetect_multiplier = 0\nwrite_ahead = \"sometimes\"\n\
         fib = \"share\"\nmove_addresses = [\"198.51.100.1 eth2\"]\n"
    );
    let got = errors(&src);
    let fields = fields_of(&got);
    assert_eq!(
        fields,
        [
            "ha.mirror_interface",
            "ha.session_interface",
            "ha.node_id = 0",
            "ha.primary = \"192.0.2.254:50052\"",
            "ha.heartbeat_interval_ms = 0",
            "ha.detect_multiplier = 0",
            "ha.write_ahead = \"sometimes\"",
            "ha.fib = \"share\"",
            "ha.move_addresses = [\"198.51.100.1 eth2\"]",
        ],
        "{got:#?}"
    );
    for (e, line) in got.iter().zip([3, 3, 5, 6, 7, 8, 9, 10, 11]) {
        assert!(e.contains(&format!(" (line {line}): ")), "{e}");
    }
    // A role toml cannot read says nothing of what depends on the role.
    let src = format!(
        "{MINIMAL}[ha]\nrole = \"backup\"\nnode_id = 0\nprimary = \"http://192.0.2.254:50052\"\n"
    );
    let got = errors(&src);
    let fields = fields_of(&got);
    assert_eq!(
        fields,
        ["ha.role = \"backup\"", "ha.node_id = 0"],
        "{got:#?}"
    );
}

#[test]
fn every_bad_family_is_reported() {
    let src = format!(
        "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\n\
         families = [\"ipv4/unicast\", \"ipv4/flowspec\", \"l2vpn/evpn\"]\n"
    );
    assert_eq!(
        errors(&src),
        vec![
            "neighbor[0].families[1] = \"ipv4/flowspec\" (line 6): unknown SAFI \"flowspec\"",
            "neighbor[0].families[2] = \"l2vpn/evpn\" (line 6): unknown AFI \"l2vpn\"",
        ]
    );
    // Entries that parse but are not supported: each, when the list reads.
    let src = format!(
        "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\n\
         families = [\"ipv4/unicast\", \"ipv4/multicast\", \"ipv6/multicast\"]\n"
    );
    let got = errors(&src);
    let fields = fields_of(&got);
    assert_eq!(
        fields,
        [
            "neighbor[0].families[1] = \"ipv4/multicast\"",
            "neighbor[0].families[2] = \"ipv6/multicast\""
        ],
        "{got:#?}"
    );
}

#[test]
fn a_refused_neighbour_gets_no_warning() {
    let src = format!(
        "{MINIMAL}[[neighbor]]\naddress = \"fe80::2\"\nremote_as = 65002\n\
         [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65003\n"
    );
    let check = Config::check(&src);
    let errors: Vec<String> = check.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("neighbor[0].address = \"fe80::2\" (line 4): fe80::2 is link-local"),
        "{errors:#?}"
    );
    // The other neighbour's warnings stay: import and export, each naming 192.0.2.2.
    let warned: Vec<(&str, bool)> = check
        .warnings
        .iter()
        .map(|w| (w.field.as_str(), w.message.contains("192.0.2.2")))
        .collect();
    assert_eq!(
        warned,
        [("neighbor[1].import", true), ("neighbor[1].export", true)],
        "{:#?}",
        check.warnings
    );
}
