//! `understudy decode` end to end: the built binary, its output and exit status.

use std::process::{Command, Output};

use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_understudy"))
        .arg("decode")
        .args(args)
        .output()
        .expect("runs")
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn summary(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = lines(out);
    assert_eq!(l.len(), 1, "one summary object");
    l.into_iter().next().expect("one")
}

const KEEPALIVE: &str = "ffffffffffffffffffffffffffffffff001304";

#[test]
fn hex_keepalive_is_accepted() {
    let out = run(&["--hex", KEEPALIVE]);
    assert!(out.status.success());
    let l = lines(&out);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["type"], "keepalive");
    assert_eq!(l[0]["outcome"]["action"], "accept");
    // Whitespace and a 0x prefix are allowed.
    let out = run(&["--hex", "0xffffffff ffffffff ffffffff ffffffff 0013 04"]);
    assert_eq!(lines(&out)[0]["type"], "keepalive");
}

#[test]
fn malformed_message_is_an_outcome_not_a_failure() {
    // KEEPALIVE with Length 20: RFC 4271 section 6.1, Bad Message Length (1/2), the data
    // being the erroneous Length field.
    let out = run(&["--hex", "ffffffffffffffffffffffffffffffff00140400"]);
    assert!(out.status.success());
    let l = lines(&out);
    assert_eq!(l[0]["type"], "keepalive");
    assert_eq!(l[0]["outcome"]["action"], "session-reset");
    assert_eq!(l[0]["outcome"]["code"], 1);
    assert_eq!(l[0]["outcome"]["subcode"], 2);
    assert_eq!(l[0]["outcome"]["data"], "0014");
}

#[test]
fn context_flags_change_the_decoding() {
    // UPDATE: ORIGIN IGP, AS_PATH one AS_SEQUENCE of one 4-octet ASN (65551), NEXT_HOP,
    // NLRI 192.0.2.0/24.
    let update = concat!(
        "ffffffffffffffffffffffffffffffff",
        "002f",
        "02",
        "0000",
        "0014",
        "40010100",
        "40020602010001000f",
        "400304c0000201",
        "18c00002"
    );
    let with = run(&["--hex", update, "--four-octet-as"]);
    let l = lines(&with);
    assert_eq!(l[0]["type"], "update");
    assert_eq!(l[0]["outcome"]["action"], "accept");
    // The same bytes read with 2-octet AS numbers are a malformed AS_PATH.
    let without = run(&["--hex", update]);
    assert_ne!(lines(&without)[0]["outcome"]["action"], "accept");
    // ADD-PATH: the NLRI is then read as a Path Identifier followed by a prefix, which
    // these bytes do not hold.
    let add_path = run(&[
        "--hex",
        update,
        "--four-octet-as",
        "--add-path",
        "ipv4/unicast",
    ]);
    assert_ne!(lines(&add_path)[0]["outcome"]["action"], "accept");
}

#[test]
fn bad_input_fails_with_one_line_on_stderr() {
    for args in [
        vec!["--hex", "not-hex"],
        vec!["--mrt", "/nonexistent/understudy-test.mrt"],
        vec!["--pcap", "/nonexistent/understudy-test.pcap"],
        vec!["--mrt", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")],
        vec!["--pcap", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")],
        vec!["--add-path", "ipv9/unicast", "--hex", KEEPALIVE],
        vec![],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn missing_input_names_the_arguments() {
    let out = run(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--hex"), "{err}");
}

#[test]
fn summary_counts_treat_as_withdraw_nlri_as_withdrawn() {
    // An UPDATE with NLRI 10.0.0.0/24 and no path attributes: the mandatory ones are
    // missing, so RFC 7606 section 3(d) makes it treat-as-withdraw; its NLRI is withdrawn.
    let hex = "ffffffffffffffffffffffffffffffff001b0200000000180a0000";
    let out = run(&["--summary", "--hex", hex]);
    assert!(out.status.success());
    let s = summary(&out);
    assert_eq!(s["prefixes_announced"], 0);
    assert_eq!(s["prefixes_withdrawn"], 1);
    assert_eq!(s["errors"], 1);
}

#[test]
fn truncated_gzip_keeps_what_was_read() {
    // A gzip file cut in the middle: the records before the cut are decoded, the cut is
    // reported on stderr, and the exit status is 0 (the input could be read).
    let src = std::fs::read(format!("{DATA}mrt/bgpkit-parser/updates.20000102.2014.gz"))
        .expect("shared data");
    let dir = std::env::temp_dir().join(format!("understudy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cut = dir.join("cut.gz");
    std::fs::write(&cut, &src[..5000]).expect("write");
    let out = run(&["--summary", "--mrt", cut.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert!(s["messages"].as_u64().is_some_and(|n| n > 100), "{s}");
    assert!(!out.stderr.is_empty());
}

#[test]
fn mrt_summary_counts_messages_and_prefixes() {
    let out = run(&[
        "--summary",
        "--mrt",
        &format!("{DATA}mrt/mrtparse/quagga_bgp"),
    ]);
    let s = summary(&out);
    // 67 records: 20 state changes and 47 messages (README: OPEN 4, KEEPALIVE 10,
    // UPDATE 24, ROUTE-REFRESH 7, NOTIFICATION 2).
    assert_eq!(s["messages"], 47);
    assert_eq!(s["updates"], 24);
    assert_eq!(s["by_type"]["open"], 4);
    assert_eq!(s["by_type"]["route-refresh"], 7);
    assert_eq!(s["by_type"]["notification"], 2);
    assert!(s["prefixes_announced"].as_u64().is_some_and(|n| n > 0));
    for key in ["prefixes_withdrawn", "errors"] {
        assert!(s[key].is_u64(), "{key}");
    }
}

#[test]
fn mrt_rib_entries_become_updates() {
    let out = run(&[
        "--mrt",
        &format!("{DATA}mrt/bgpdump/bview.ipv4_unicast_add_path.gz"),
    ]);
    assert!(out.status.success());
    let l = lines(&out);
    // 31 RIB_IPV4_UNICAST_ADDPATH records of 2 entries each.
    assert_eq!(l.len(), 62);
    for v in &l {
        assert_eq!(v["type"], "update");
        assert!(v["mrt"]["path_id"].is_u64());
        assert!(v["mrt"]["rib_prefix"]
            .as_str()
            .is_some_and(|p| p.contains('.')));
    }
    let s = summary(&run(&[
        "--summary",
        "--mrt",
        &format!("{DATA}mrt/bgpdump/bview.ipv4_unicast_add_path.gz"),
    ]));
    // Read as from an external peer, 60 entries lose LOCAL_PREF (attribute discard, RFC
    // 7606 section 7.5) and stay announced; 2 have an empty AS_PATH, which an external
    // peer may not send: treat-as-withdraw, so they count as withdrawn.
    assert_eq!(s["prefixes_announced"], 60);
    assert_eq!(s["prefixes_withdrawn"], 2);
    assert_eq!(s["by_outcome"]["attribute-discard"], 60);
}

#[test]
fn pcap_follows_the_opens() {
    // packetlife 4-byte_AS_numbers_Full_Support: both OPENs carry the 4-octet AS
    // capability; the UPDATEs' AS_PATHs are 4-octet and decode only in that context.
    let file = format!("{DATA}pcap/packetlife/4-byte_AS_numbers_Full_Support.cap");
    let out = run(&["--pcap", &file]);
    assert!(out.status.success());
    let l = lines(&out);
    assert_eq!(l.len(), 16);
    assert!(
        l.iter().all(|v| v["outcome"]["action"] == "accept"),
        "{l:?}"
    );
    let first_update = l
        .iter()
        .position(|v| v["type"] == "update")
        .expect("an update");
    let opens = l[..first_update]
        .iter()
        .filter(|v| v["type"] == "open")
        .count();
    assert_eq!(opens, 2);
    assert!(l[0]["tcp"]["src"].is_string() && l[0]["tcp"]["offset"] == 0);
    let s = summary(&run(&["--summary", "--pcap", &file]));
    assert_eq!(s["messages"], 16);
    assert_eq!(s["updates"], 9);
    assert_eq!(s["prefixes_announced"], 7);
    assert_eq!(s["errors"], 0);
}

#[test]
fn pcap_extra_port() {
    // bgp-rs BGP_notification_msg: BGP on port 1179; nothing without --port.
    let file = format!("{DATA}pcap/bgp-rs/BGP_notification_msg.cap");
    assert_eq!(
        summary(&run(&["--summary", "--pcap", &file]))["messages"],
        0
    );
    let s = summary(&run(&["--summary", "--pcap", &file, "--port", "1179"]));
    assert_eq!(s["messages"], 3);
    assert_eq!(s["by_type"]["open"], 2);
    assert_eq!(s["by_type"]["notification"], 1);
}

/// A reader that has gone away (`understudy decode ... | head -1`): no panic, no
/// "failed printing to stdout" on stderr.
#[test]
fn closed_stdout_ends_quietly() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let hex = "ffffffffffffffffffffffffffffffff001304";
    let out = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["decode", "--hex", hex])
        .stdout(writer)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(!out.status.success());
}

#[test]
fn empty_or_malformed_hex_is_bad_input_exit_2() {
    // Bad input exits 2 as clap's usage errors do; an unreadable file is a failure at run
    // time (1).
    for (args, want) in [
        (vec!["--hex", ""], "understudy: error: --hex is empty"),
        (vec!["--hex", "  0x "], "understudy: error: --hex is empty"),
        (
            vec!["--hex", "not-hex"],
            "understudy: error: --hex is not hex: ",
        ),
        (
            vec!["--add-path", "ipv9/unicast", "--hex", KEEPALIVE],
            "understudy: ",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
    let out = run(&["--mrt", "/nonexistent/understudy-test.mrt"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn a_shutdown_communication_is_decoded() {
    // NOTIFICATION Cease (6) / Administrative Shutdown (2) with the RFC 9003 communication
    // "maintenance" (length 11), and Administrative Reset (4) with "reset now" (9).
    let shutdown = concat!(
        "ffffffffffffffffffffffffffffffff",
        "0021",
        "03",
        "0602",
        "0b",
        "6d61696e74656e616e6365"
    );
    let l = lines(&run(&["--hex", shutdown]));
    assert_eq!(l[0]["type"], "notification", "{}", l[0]);
    assert_eq!(l[0]["message"]["code"], 6);
    assert_eq!(l[0]["message"]["subcode"], 2);
    assert_eq!(l[0]["message"]["shutdown_communication"], "maintenance");
    let reset = concat!(
        "ffffffffffffffffffffffffffffffff",
        "001f",
        "03",
        "0604",
        "09",
        "7265736574206e6f77"
    );
    let l = lines(&run(&["--hex", reset]));
    assert_eq!(l[0]["message"]["shutdown_communication"], "reset now");
    // A length past the data: said, not guessed at.
    let cut = concat!(
        "ffffffffffffffffffffffffffffffff",
        "0018",
        "03",
        "0602",
        "14",
        "6869"
    );
    let l = lines(&run(&["--hex", cut]));
    assert!(
        l[0]["message"]["shutdown_communication"].is_null(),
        "{}",
        l[0]
    );
    assert_eq!(
        l[0]["message"]["shutdown_communication_error"],
        "shutdown communication length exceeds the data"
    );
    // Another Cease subcode (Peer De-configured, 3) carries no communication.
    let other = concat!("ffffffffffffffffffffffffffffffff", "0015", "03", "0603");
    let l = lines(&run(&["--hex", other]));
    assert!(
        l[0]["message"].get("shutdown_communication").is_none(),
        "{}",
        l[0]
    );
    assert!(l[0]["message"]
        .get("shutdown_communication_error")
        .is_none());
}
