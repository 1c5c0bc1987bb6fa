//! `--check-config` refusals of neighbour addresses, ports, MD5 keys and policy entries:
//! each names the field and the line.

use super::*;

const MINIMAL: &str = "router_id = \"192.0.2.1\"\nlocal_as = 65001\n";

/// The error line `bgpd --check-config` prints.
fn error(src: &str) -> String {
    match Config::from_toml_str(src) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted:\n{src}"),
    }
}

fn neighbor(extra: &str) -> String {
    format!("{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\n{extra}")
}

#[test]
fn md5_password_over_80_bytes_is_refused() {
    let ok = neighbor(&format!("md5_password = \"{}\"\n", "k".repeat(80)));
    Config::from_toml_str(&ok).expect("80 bytes is the longest key");
    let e = error(&neighbor(&format!(
        "md5_password = \"{}\"\n",
        "k".repeat(81)
    )));
    // The key itself is a secret: never shown.
    assert!(
        e.starts_with(
            "neighbor[0].md5_password (line 6): is 81 bytes; a TCP-MD5 key is 1 to 80 bytes \
             (TCP_MD5SIG_MAXKEYLEN"
        ),
        "{e}"
    );
    assert!(!e.contains("kkk"), "{e}");
    assert!(!e.contains("repair"), "{e}");
    let e = error(&neighbor("md5_password = \"\"\n"));
    assert!(e.contains("(line 6): is 0 bytes"), "{e}");
}

#[test]
fn port_zero_is_refused() {
    let e = error(&format!("{MINIMAL}port = 0\n"));
    assert_eq!(
        e,
        "port = 0 (line 3): must be between 1 and 65535 (TCP port 0 cannot be connected to)"
    );
}

#[test]
fn local_address_of_the_other_family_is_refused() {
    let e = error(&neighbor("local_address = \"2001:db8::1\"\n"));
    assert_eq!(
        e,
        "neighbor[0].local_address = \"2001:db8::1\" (line 6): 2001:db8::1 is IPv6 but the \
         neighbour address 192.0.2.2 is IPv4: both ends of a TCP connection are of one family"
    );
    let e = error(&format!(
        "{MINIMAL}[[neighbor]]\naddress = \"2001:db8::2\"\nremote_as = 65001\nlocal_address = \"192.0.2.1\"\n"
    ));
    assert!(
        e.starts_with("neighbor[0].local_address = \"192.0.2.1\" (line 6): 192.0.2.1 is IPv4"),
        "{e}"
    );
    Config::from_toml_str(&neighbor("local_address = \"192.0.2.1\"\n")).expect("same family");
}

#[test]
fn a_neighbour_at_our_own_address_is_refused() {
    let e = error(&format!(
        "{MINIMAL}listen_addresses = [\"192.0.2.1\"]\n[[neighbor]]\naddress = \"192.0.2.1\"\nremote_as = 65002\n"
    ));
    assert_eq!(
        e,
        "neighbor[0].address = \"192.0.2.1\" (line 5): 192.0.2.1 is our own address \
         (listen_addresses): a neighbour is the remote end"
    );
    let e = error(&format!(
        "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\nlocal_address = \"192.0.2.9\"\n\
         [[neighbor]]\naddress = \"192.0.2.9\"\nremote_as = 65001\n"
    ));
    assert_eq!(
        e,
        "neighbor[1].address = \"192.0.2.9\" (line 8): 192.0.2.9 is our own address \
         (neighbor[0].local_address): a neighbour is the remote end"
    );
}

#[test]
fn policy_errors_name_the_line() {
    let head = format!("{MINIMAL}\n[policy.prefix_lists]\n");
    // A bad prefix list entry, on line 6: the entry itself.
    let e = error(&format!(
        "{head}customers = [\"203.0.113.0/24\",\n  \"203.0.113.0/33\"]\n"
    ));
    assert!(
        e.starts_with(
            "policy.prefix_lists.customers[1] = \"203.0.113.0/33\" (line 6): prefix list \
             \"customers\": bad prefix list entry \"203.0.113.0/33\""
        ),
        "{e}"
    );
    // An unknown prefix list in a term.
    let e = error(&format!(
        "{head}customers = [\"203.0.113.0/24\"]\n\n[policy.policies.in]\n[[policy.policies.in.terms]]\nname = \"t\"\nmatch = {{ prefix_list = \"custmers\" }}\n"
    ));
    assert_eq!(
        e,
        "policy.policies.in.terms[0].match.prefix_list = \"custmers\" (line 10): unknown \
         prefix list \"custmers\" (policy \"in\" term t); [policy.prefix_lists] defines \
         customers"
    );
    // The reference's own line, in the policy that makes it, also when an earlier policy
    // refers to a list of a similar name, and the match is a
    // table of its own written with single quotes.
    let e = error(&format!(
        "{head}customers = [\"203.0.113.0/24\"]\n\n\
         [policy.policies.out]\n[[policy.policies.out.terms]]\nmatch = {{ prefix_list = \"customers\" }}\n\
         [policy.policies.in]\ndefault = \"reject\"\n\
         [[policy.policies.in.terms]]\nmatch = {{ prefix_list = \"customers\" }}\n\
         [[policy.policies.in.terms]]\naction = \"accept\"\n[policy.policies.in.terms.match]\n\
         prefix_list = 'customerz'\n"
    ));
    assert_eq!(
        e,
        "policy.policies.in.terms[1].match.prefix_list = \"customerz\" (line 17): unknown \
         prefix list \"customerz\" (policy \"in\" term #2); [policy.prefix_lists] defines \
         customers"
    );
    // A bad community.
    let e = error(&format!(
        "{head}\n[policy.policies.in]\n[[policy.policies.in.terms]]\nset = {{ add_communities = [\"65000:1\", \"65000:x\"] }}\n"
    ));
    assert_eq!(
        e,
        "policy.policies.in.terms[0].set.add_communities[1] = \"65000:x\" (line 8): policy \
         \"in\" term #1: bad community \"65000:x\""
    );
    // A bad regex: the field and its value, the regex error in one line.
    let e = error(&format!(
        "{head}\n[policy.policies.in]\ndefault = \"accept\"\n[[policy.policies.in.terms]]\nmatch = {{ as_path = \"(\" }}\n"
    ));
    assert_eq!(
        e,
        "policy.policies.in.terms[0].match.as_path = \"(\" (line 9): policy \"in\" term #1: \
         bad as_path regex: unclosed group"
    );
}

#[test]
fn admin_tls_files_are_checked_for_this_node_not_in_an_imported_configuration() {
    let src = format!(
        "{MINIMAL}admin_tls = {{ cert = \"/nonexistent/bgpd.pem\", key = \"/nonexistent/bgpd.key\" }}\n"
    );
    // A standby imports its primary's configuration: the paths are the primary's.
    Config::from_toml_str(&src).expect("the files are not read when a configuration is imported");
    let e = Config::from_toml_str_with_warnings(&src)
        .expect_err("bgpd and --check-config read the files")
        .to_string();
    assert!(
        e.starts_with(
            "admin_tls.cert = \"/nonexistent/bgpd.pem\" (line 3): cannot be read: No such file"
        ),
        "{e}"
    );
}

#[test]
fn an_admin_tls_file_with_a_pem_header_but_no_certificate_is_refused() {
    let dir = std::env::temp_dir().join(format!("usrb-config-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let bad = dir.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let src = format!(
        "{MINIMAL}admin_tls = {{ cert = \"{0}\", key = \"{0}\" }}\n",
        bad.display()
    );
    let e = Config::from_toml_str_with_warnings(&src)
        .expect_err("a header alone is no certificate")
        .to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        e.starts_with(&format!("admin_tls.cert = \"{}\" (line 3):", bad.display()))
            && e.contains("is not a PEM certificate"),
        "{e}"
    );
}

#[test]
fn a_field_missing_from_an_inline_table_names_the_table_and_its_line() {
    // A top-level inline table.
    let e = error(&format!(
        "{MINIMAL}admin_tls = {{ cert = \"/etc/bgpd.pem\" }}\n"
    ));
    assert_eq!(
        e,
        "admin_tls.key (line 3): required, and missing from its table, which starts on this line"
    );
    // An inline table inside a section.
    let e = error(&format!(
        "{MINIMAL}\n[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"127.0.0.1:50052\"\ntls = {{ ca = \"ca.pem\", cert = \"c.pem\" }}\n"
    ));
    assert_eq!(
        e,
        "ha.tls.key (line 8): required, and missing from its table, which starts on this line"
    );
    // A section written as an inline table.
    let e = error(&format!(
        "{MINIMAL}ha = {{ role = \"primary\", checkpoint_address = \"127.0.0.1:50052\" }}\n"
    ));
    assert_eq!(
        e,
        "ha.node_id (line 3): required, and missing from its table, which starts on this line"
    );
    // Neighbours written as an array of inline tables, over several lines.
    let e = error(&format!(
        "{MINIMAL}neighbor = [\n  {{ address = \"192.0.2.2\", remote_as = 65002 }},\n  \
         {{ address = \"192.0.2.3\" }},\n]\n"
    ));
    assert_eq!(
        e,
        "neighbor[1].remote_as (line 5): required, and missing from its table, which starts on this line"
    );
    let e = error(&format!(
        "{MINIMAL}neighbor = [{{ address = \"192.0.2.2\", description = \"a {{ b [\" }}, {{ remote_as = 1 }}]\n"
    ));
    assert_eq!(
        e,
        "neighbor[0].remote_as (line 3): required, and missing from its table, which starts on this line"
    );
    // A value of the wrong type inside an inline table: its own path and text.
    let e = error(&format!(
        "{MINIMAL}neighbor = [ {{ address = \"192.0.2.2\", remote_as = \"x\" }} ]\n"
    ));
    assert_eq!(
        e,
        "neighbor[0].remote_as = \"x\" (line 3): expected an AS number from 1 to 4294967295, \
         found the string \"x\""
    );
    // A value refused by the validation, written in an inline neighbour.
    let e = error(&format!(
        "{MINIMAL}neighbor = [\n  {{ address = \"192.0.2.2\", remote_as = 65001 }},\n  \
         {{ address = \"192.0.2.3\", remote_as = 65001, hold_time = 1 }},\n]\n"
    ));
    assert_eq!(
        e,
        "neighbor[1].hold_time = 1 (line 5): must be 0 or at least 3 seconds (RFC 4271 section \
         4.2)"
    );
    // A missing field of a `[[neighbor]]` table still names its header.
    let e = error(&format!("{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\n"));
    assert_eq!(
        e,
        "neighbor[0].remote_as (line 3): required, and missing from its table, which starts on this line"
    );
}

#[test]
fn a_tls_key_that_is_not_the_certificates_is_refused() {
    let dir = std::env::temp_dir().join(format!("ust3-config-keypair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let pair = |name: &str| {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (cert_a, key_a) = pair("a");
    let (_, key_b) = pair("b");
    let (cert, key, other) = (
        write("a.pem", &cert_a),
        write("a.key", &key_a),
        write("b.key", &key_b),
    );
    let admin =
        |key: &str| format!("{MINIMAL}admin_tls = {{ cert = \"{cert}\", key = \"{key}\" }}\n");
    let good = Config::from_toml_str_with_warnings(&admin(&key));
    let bad = Config::from_toml_str_with_warnings(&admin(&other));
    let ha = Config::from_toml_str_with_warnings(&format!(
        "{MINIMAL}[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"127.0.0.1:50052\"\n\
         tls = {{ ca = \"{cert}\", cert = \"{cert}\", key = \"{other}\" }}\n"
    ));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(good.is_ok(), "{good:?}");
    let e = bad.expect_err("another key").to_string();
    assert_eq!(
        e,
        format!(
            "admin_tls.key = \"{other}\" (line 3): {other} is not the private key of the \
             certificate in {cert} (their public keys differ)"
        )
    );
    let e = ha.expect_err("another key").to_string();
    assert!(
        e.starts_with(&format!("ha.tls.key = \"{other}\" (line 7): "))
            && e.contains("is not the private key of the certificate"),
        "{e}"
    );
}

#[test]
fn a_table_written_in_the_other_form_says_which_form_is_expected() {
    let e = error(&format!(
        "{MINIMAL}[neighbor]\naddress = \"192.0.2.2\"\nremote_as = 65002\n"
    ));
    assert_eq!(
        e,
        "neighbor (line 3): `[neighbor]` is one table, but neighbor is a list of tables: write \
         `[[neighbor]]`, once for each (toml: invalid type: map, expected a sequence)"
    );
    let e = error(&format!(
        "{MINIMAL}[network]\nprefix = \"203.0.113.0/24\"\n"
    ));
    assert!(
        e.starts_with("network (line 3): `[network]` is one table"),
        "{e}"
    );
    for (table, body) in [
        ("ha", "role = \"primary\"\nnode_id = 1\n"),
        ("fib", "enabled = true\n"),
    ] {
        let e = error(&format!("{MINIMAL}[[{table}]]\n{body}"));
        assert!(
            e.starts_with(&format!(
                "{table} (line 3): `[[{table}]]` starts a list of tables, but {table} is one \
                 table: write `[{table}]` (toml: "
            )),
            "{e}"
        );
    }
}

#[test]
fn addresses_ases_and_duplicates_that_cannot_work_are_refused() {
    for (address, why) in [
        ("0.0.0.0", "0.0.0.0 is not a unicast host address"),
        ("224.0.0.5", "224.0.0.5 is not a unicast host address"),
        (
            "255.255.255.255",
            "255.255.255.255 is not a unicast host address",
        ),
        ("ff02::5", "ff02::5 is not a unicast host address"),
        (
            "::ffff:192.0.2.2",
            "::ffff:192.0.2.2 is an IPv4-mapped IPv6 address: write the IPv4 address 192.0.2.2",
        ),
        (
            "fe80::1",
            "fe80::1 is link-local: it needs an interface scope",
        ),
    ] {
        let e = error(&format!(
            "{MINIMAL}[[neighbor]]\naddress = \"{address}\"\nremote_as = 65002\n"
        ));
        assert!(
            e.starts_with(&format!(
                "neighbor[0].address = \"{address}\" (line 4): {why}"
            )),
            "{e}"
        );
    }
    let e = error("router_id = \"192.0.2.1\"\nlocal_as = 23456\n");
    assert!(
        e.starts_with("local_as = 23456 (line 2): 23456 is AS_TRANS (RFC 6793)"),
        "{e}"
    );
    let e = error(&neighbor("").replace("remote_as = 65001", "remote_as = 23456"));
    assert!(
        e.starts_with("neighbor[0].remote_as = 23456 (line 5): 23456 is AS_TRANS"),
        "{e}"
    );
    let e = error(&neighbor(
        "families = [\"ipv4/unicast\", \"ipv6/unicast\", \"ipv4/unicast\"]\n",
    ));
    assert!(e.contains("(line 6): ipv4/unicast is listed twice"), "{e}");
    let e = error(&format!(
        "{MINIMAL}[[network]]\nprefix = \"203.0.113.0/24\"\n[[network]]\nprefix = \"203.0.113.0/24\"\n"
    ));
    assert_eq!(
        e,
        "network[1].prefix = \"203.0.113.0/24\" (line 6): 203.0.113.0/24 is already network[0]"
    );
    let e = error(&format!(
        "{MINIMAL}admin_address = \"127.0.0.1:50051\"\n[ha]\nrole = \"primary\"\nnode_id = 1\n\
         checkpoint_address = \"127.0.0.1:50051\"\n"
    ));
    assert!(
        e.starts_with("ha.checkpoint_address = \"127.0.0.1:50051\" (line 7): 127.0.0.1:50051 is also admin_address"),
        "{e}"
    );
    let e = error(&format!("{MINIMAL}metrics_address = \"127.0.0.1:50051\"\n"));
    assert!(e.contains("is also admin_address"), "{e}");
}

#[test]
fn a_value_of_the_wrong_type_says_what_is_expected_in_words() {
    // neighbor(): MINIMAL (2 lines), [[neighbor]] on line 3, the extra field on line 6.
    for (extra, expect) in [
        (
            "hold_time = -1\n",
            "neighbor[0].hold_time = -1 (line 6): expected a number of seconds from 0 to \
             65535, found -1",
        ),
        (
            "hold_time = 70000\n",
            "neighbor[0].hold_time = 70000 (line 6): expected a number of seconds from 0 to \
             65535, found 70000",
        ),
        (
            "passive = 1\n",
            "neighbor[0].passive = 1 (line 6): expected true or false, found 1",
        ),
        (
            "description = 5\n",
            "neighbor[0].description = 5 (line 6): expected a string in quotes, found 5",
        ),
    ] {
        assert_eq!(error(&neighbor(extra)), expect);
    }
    let e = error(&format!("{MINIMAL}\n[fib]\ntable = \"main\"\n"));
    assert_eq!(
        e,
        "fib.table = \"main\" (line 5): expected a whole number from 0 to 4294967295, found \
         the string \"main\""
    );
    let e = error("router_id = \"192.0.2.1\"\nlocal_as = 4294967296\n");
    assert_eq!(
        e,
        "local_as = 4294967296 (line 2): expected an AS number from 1 to 4294967295, found \
         4294967296"
    );
    // No Rust type names are left in any of them.
    for t in ["u8", "u16", "u32", "u64", "invalid type"] {
        assert!(!e.contains(t), "{e}");
    }
}

#[test]
fn a_policy_term_without_action_is_warned_about_with_its_line() {
    let src = format!(
        "{MINIMAL}\n[policy.prefix_lists]\nbogons = [\"10.0.0.0/8 le 32\"]\n\
         [policy.policies.in]\ndefault = \"accept\"\n\
         [[policy.policies.in.terms]]\nmatch = {{ prefix_list = \"bogons\" }}\n\
         [[policy.policies.in.terms]]\nmatch = {{ prefix_list = \"bogons\" }}\naction = \"reject\"\n"
    );
    let (_, warnings) = Config::from_toml_str_with_warnings(&src).expect("valid");
    let texts: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        vec![
            "warning: policy.policies.in.terms[0].action (line 8): no action: this term accepts \
             the routes it matches (action defaults to \"accept\"); write action = \"accept\" \
             to say so, or \"reject\" or \"next\""
                .to_string()
        ]
    );
    // Written out, no warning.
    let src = src.replacen(
        "match = { prefix_list = \"bogons\" }\n",
        "match = { prefix_list = \"bogons\" }\naction = \"accept\"\n",
        1,
    );
    let (_, warnings) = Config::from_toml_str_with_warnings(&src).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn a_network_in_loopback_space_is_refused_and_the_default_route_warned_about() {
    let e = error(&format!(
        "{MINIMAL}[[network]]\nprefix = \"127.1.0.0/16\"\n"
    ));
    assert_eq!(
        e,
        "network[0].prefix = \"127.1.0.0/16\" (line 4): 127.1.0.0/16 is loopback address space \
         (a packet to it never leaves a host): not a route to announce"
    );
    let e = error(&format!("{MINIMAL}[[network]]\nprefix = \"239.0.0.0/8\"\n"));
    assert!(e.contains("multicast address space"), "{e}");
    let (_, warnings) = Config::from_toml_str_with_warnings(&format!(
        "{MINIMAL}[[network]]\nprefix = \"198.51.100.0/24\"\n[[network]]\nprefix = \"0.0.0.0/0\"\n"
    ))
    .expect("valid");
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].starts_with(
            "warning: network[1].prefix = \"0.0.0.0/0\" (line 6): 0.0.0.0/0 is the default route"
        ),
        "{text:?}"
    );
}

#[test]
fn an_md5_password_is_never_shown_in_an_error() {
    // A value error (too long), a type error, and an inline table: the key is not echoed.
    for (src, line) in [
        (neighbor("md5_password = \"s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret\"\n"), 6),
        (neighbor("md5_password = 's3cret\n"), 6),
        (
            format!(
                "{MINIMAL}neighbor = [{{ address = \"192.0.2.2\", remote_as = 65001, \
                 md5_password = \"s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3cret\" }}]\n"
            ),
            3,
        ),
    ] {
        let e = error(&src);
        assert!(!e.contains("s3cret"), "{e}");
        assert!(e.contains("md5_password"), "{e}");
        assert!(e.contains(&format!("(line {line})")), "{e}");
    }
}

#[test]
fn a_link_local_neighbour_is_refused_with_or_without_a_zone() {
    let src = |a: &str| format!("{MINIMAL}[[neighbor]]\naddress = \"{a}\"\nremote_as = 65001\n");
    assert_eq!(
        error(&src("fe80::1%eth0")),
        "neighbor[0].address = \"fe80::1%eth0\" (line 4): fe80::1%eth0 has a zone (%eth0): bgpd \
         does not bind a session to an interface, so a link-local neighbour cannot be reached; \
         use a global or unique local address of the neighbour"
    );
    let e = error(&src("fe80::1"));
    assert!(
        e.starts_with("neighbor[0].address = \"fe80::1\" (line 4): fe80::1 is link-local"),
        "{e}"
    );
    assert_eq!(
        error(&src("192.0.2.300")),
        "neighbor[0].address = \"192.0.2.300\" (line 4): not an IP address"
    );
}

#[test]
fn every_independent_error_is_reported() {
    let src = "router_id = \"0.0.0.0\"\nlocal_as = 65001\n\
               [[network]]\nprefix = \"127.0.0.0/8\"\n\
               [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 0\nhold_time = 1\n\
               [[neighbor]]\naddress = \"192.0.2.3\"\nremote_as = 65001\nimport = [\"nope\"]\n";
    let errors: Vec<String> = match Config::from_toml_str_all(src) {
        Err(e) => e.iter().map(ToString::to_string).collect(),
        Ok(_) => panic!("accepted"),
    };
    assert_eq!(
        errors,
        [
            "router_id = \"0.0.0.0\" (line 1): must not be 0.0.0.0",
            "network[0].prefix = \"127.0.0.0/8\" (line 4): 127.0.0.0/8 is loopback address \
             space (a packet to it never leaves a host): not a route to announce",
            "neighbor[0].remote_as = 0 (line 7): AS 0 is reserved (RFC 7607)",
            "neighbor[0].hold_time = 1 (line 8): must be 0 or at least 3 seconds (RFC 4271 \
             section 4.2)",
            "neighbor[1].import = [\"nope\"] (line 12): unknown policy \"nope\"",
        ]
    );
    // The first is what from_toml_str gives.
    assert_eq!(error(src), errors[0]);
}

#[test]
fn the_value_echoed_is_the_value_alone_never_the_lines_comment() {
    // A value error (the validation's).
    let e = error(&neighbor(
        "hold_time = 2                     # 0 or >= 3 seconds; default 90\n",
    ));
    assert_eq!(
        e,
        "neighbor[0].hold_time = 2 (line 6): must be 0 or at least 3 seconds (RFC 4271 \
         section 4.2)"
    );
    // A type error (toml's).
    let e = error(&neighbor("hold_time = -1 # seconds\n"));
    assert_eq!(
        e,
        "neighbor[0].hold_time = -1 (line 6): expected a number of seconds from 0 to 65535, \
         found -1"
    );
    // A list written over lines, with comments: on one line, as TOML renders it.
    let e = error(&neighbor(
        "import = [\n  \"a\",   # first\n  'b',\n]   # two\n",
    ));
    assert_eq!(
        e,
        "neighbor[0].import = [\"a\", \"b\"] (line 6): unknown policy \"a\""
    );
    // A secret: never, with a comment or without.
    let e = error(&neighbor("md5_password = \"\"  # the key\n"));
    assert!(
        e.starts_with("neighbor[0].md5_password (line 6): is 0 bytes"),
        "{e}"
    );
}

/// Every error of `src` as `--check-config` lists them (without the file name).
fn all_errors(src: &str) -> Vec<String> {
    match Config::from_toml_str_all(src) {
        Err(e) => e.iter().map(ToString::to_string).collect(),
        Ok(_) => panic!("accepted:\n{src}"),
    }
}

#[test]
fn an_invalid_field_gives_no_error_about_a_field_derived_from_it() {
    // The keepalive is bounded by the hold time: with hold_time = 2 refused, nothing is said
    // about "a third of hold_time (0)".
    assert_eq!(
        all_errors(&neighbor("hold_time = 2\nkeepalive = 30\n")),
        [
            "neighbor[0].hold_time = 2 (line 6): must be 0 or at least 3 seconds (RFC 4271 \
          section 4.2)"
        ]
    );
    // A valid hold time still bounds it.
    assert_eq!(
        all_errors(&neighbor("hold_time = 9\nkeepalive = 4\n")),
        ["neighbor[0].keepalive = 4 (line 7): must be between 1 and a third of hold_time (3)"]
    );
    // remote_as = 0 is refused; whether the session is internal (which a route-reflector
    // client needs) is not known, so that is not an error of its own.
    assert_eq!(
        all_errors(
            &neighbor("route_reflector_client = true\n")
                .replace("remote_as = 65001", "remote_as = 0")
        ),
        ["neighbor[0].remote_as = 0 (line 5): AS 0 is reserved (RFC 7607)"]
    );
}

#[test]
fn a_network_next_hop_is_refused_as_route_add_refuses_it() {
    // What a receiver treats as withdrawn (RFC 4271 section 6.3): 255.255.255.255 was
    // accepted here while `understudy route add --next-hop` refused it.
    for nh in [
        "255.255.255.255",
        "240.0.0.1",
        "0.1.2.3",
        "127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::",
        "ff02::1",
    ] {
        let prefix = if nh.contains(':') {
            "2001:db8:1::/48"
        } else {
            "203.0.113.0/24"
        };
        assert_eq!(
            all_errors(&format!(
                "{MINIMAL}[[network]]\nprefix = \"{prefix}\"\nnext_hop = \"{nh}\"\n"
            )),
            [format!(
                "network[0].next_hop = \"{nh}\" (line 5): {nh} is not a usable host address \
                 (RFC 4271 section 6.3)"
            )],
        );
    }
    Config::from_toml_str(&format!(
        "{MINIMAL}[[network]]\nprefix = \"203.0.113.0/24\"\nnext_hop = \"192.0.2.254\"\n"
    ))
    .expect("a host address");
}

#[test]
fn an_error_found_while_reading_does_not_hide_the_others() {
    // A missing router_id does not hide hold_time = 2.
    let src = "local_as = 65001\n\
               [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\nhold_time = 2\n";
    assert_eq!(
        all_errors(src),
        [
            "router_id: required, and missing from the top of the file (before the first \
             [table])",
            "neighbor[0].hold_time = 2 (line 5): must be 0 or at least 3 seconds (RFC 4271 \
             section 4.2)",
        ]
    );
    // A /33 network does not hide another network's loopback error.
    let src = format!(
        "{MINIMAL}[[network]]\nprefix = \"10.0.0.0/33\"\n\
         [[network]]\nprefix = \"127.0.0.0/8\"\n"
    );
    let errors = all_errors(&src);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("network[0].prefix = \"10.0.0.0/33\" (line 4): ")
            && errors[0].contains("an IPv4 prefix is at most /32"),
        "{errors:?}"
    );
    assert_eq!(
        errors[1],
        "network[1].prefix = \"127.0.0.0/8\" (line 6): 127.0.0.0/8 is loopback address space \
         (a packet to it never leaves a host): not a route to announce"
    );
    // Values of the wrong type, one in each of two neighbours, and an unknown field: all
    // three, and nothing about the fields toml could not read (the default hold time
    // does not bound the keepalive written for the hold time that was meant).
    let src = format!(
        "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65001\n\
         hold_time = \"ninety\"\nkeepalive = 40\n\
         [[neighbor]]\naddress = \"192.0.2.300\"\nremote_as = 65001\nhold_tme = 90\n"
    );
    let errors = all_errors(&src);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("neighbor[0].hold_time = \"ninety\" (line 6): expected a number"),
        "{errors:?}"
    );
    assert_eq!(
        errors[1],
        "neighbor[1].address = \"192.0.2.300\" (line 9): not an IP address"
    );
    assert!(
        errors[2].starts_with("neighbor[1].hold_tme = 90 (line 11): unknown field"),
        "{errors:?}"
    );
}
