//! Every capture of the shared data set (`shared/data/pcap`) is reassembled and decoded;
//! message and prefix counts are those of `shared/data/README.md` (taken there with
//! tshark: `prefix_fields` counts announced and withdrawn prefixes), or the difference is
//! explained at the file's entry below.
//!
//! Captures that do not hold both OPENs of their session are decoded with the context the
//! rest of the capture shows, as an operator would pass it with `understudy decode`'s flags:
//! `--ibgp` where the UPDATEs carry an empty AS_PATH and LOCAL_PREF (internal peers),
//! `--four-octet-as` where AS_PATHs are 4-octet.

use std::collections::BTreeMap;
use std::fs::File;

use bgpd::capture::{decode_pcap, CapturedItem, ContextOverrides, PortFilter};
use bgpd::wire::{decode_message, AfiSafi, Decoded, Message, Outcome};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/pcap/");

#[derive(Debug, Default)]
struct Tally {
    by_type: BTreeMap<String, u64>,
    /// Announced plus withdrawn prefixes of the decoded UPDATEs.
    prefixes: u64,
    decoded: Vec<Decoded>,
}

#[derive(Clone, Copy)]
enum Ctx {
    Plain,
    Ibgp,
    As4,
    As4AddPathV4,
}

fn tally(file: &str, ctx: Ctx, port: Option<u16>) -> Tally {
    let overrides = match ctx {
        Ctx::Plain => ContextOverrides::default(),
        Ctx::Ibgp => ContextOverrides {
            ibgp: true,
            ..Default::default()
        },
        Ctx::As4 => ContextOverrides {
            four_octet_as: true,
            ..Default::default()
        },
        Ctx::As4AddPathV4 => ContextOverrides {
            four_octet_as: true,
            add_path: vec![AfiSafi::IPV4_UNICAST],
            ..Default::default()
        },
    };
    let filter = PortFilter::with_ports(port.as_slice());
    let mut t = Tally::default();
    let input = File::open(format!("{DIR}{file}")).expect("opens");
    decode_pcap(input, &filter, &overrides, |item| {
        if let CapturedItem::Message { bytes, context, .. } = item {
            let d = decode_message(&bytes, &context);
            let name = match bytes.get(18) {
                Some(1) => "open",
                Some(2) => "update",
                Some(3) => "notification",
                Some(4) => "keepalive",
                Some(5) => "route-refresh",
                _ => "unknown",
            };
            *t.by_type.entry(name.to_string()).or_default() += 1;
            if let Some(Message::Update(u)) = &d.message {
                t.prefixes += (u.announced_count() + u.withdrawn_count()) as u64;
            }
            t.decoded.push(d);
        }
    })
    .unwrap_or_else(|e| panic!("{file}: {e}"));
    t
}

fn types(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
    v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// (file, context, extra port, messages by type, prefix_fields).
type Case = (
    &'static str,
    Ctx,
    Option<u16>,
    &'static [(&'static str, u64)],
    u64,
);

const O: &str = "open";
const U: &str = "update";
const N: &str = "notification";
const K: &str = "keepalive";
const R: &str = "route-refresh";

#[test]
fn captures_match_the_readme() {
    use Ctx::*;
    // (file, context, extra port, messages by type, prefix_fields)
    let cases: &[Case] = &[
        (
            "bgp-rs/16-bit-asn.cap",
            Plain,
            None,
            &[(U, 14), (O, 2), (K, 8)],
            28,
        ),
        ("bgp-rs/BGP_flowspec_dscp.cap", Ibgp, None, &[(U, 1)], 0),
        (
            "bgp-rs/BGP_flowspec_redirect.cap",
            Plain,
            None,
            &[(U, 6), (O, 2), (K, 4)],
            2,
        ),
        ("bgp-rs/BGP_flowspec_v4.cap", Ibgp, Some(1179), &[(U, 1)], 0),
        (
            "bgp-rs/BGP_flowspec_v6.cap",
            Ibgp,
            None,
            &[(U, 2), (O, 1), (K, 1)],
            0,
        ),
        (
            "bgp-rs/BGP_notification_msg.cap",
            Plain,
            Some(1179),
            &[(O, 2), (N, 1)],
            0,
        ),
        (
            "packetlife/4-byte_AS_numbers_Full_Support.cap",
            Plain,
            None,
            &[(U, 9), (O, 2), (K, 5)],
            7,
        ),
        (
            "packetlife/4-byte_AS_numbers_Mixed_Scenario.cap",
            Plain,
            None,
            &[(U, 2), (K, 2)],
            2,
        ),
        (
            "packetlife/BGP_AS_set.cap",
            Plain,
            None,
            &[(U, 1), (O, 2), (K, 7)],
            1,
        ),
        ("packetlife/BGP_MD5.cap", Plain, None, &[(O, 2), (K, 8)], 0),
        (
            "packetlife/BGP_MP_NLRI.cap",
            Plain,
            None,
            &[(U, 4), (O, 4), (K, 16)],
            12,
        ),
        (
            "packetlife/BGP_hard_reset.cap",
            Plain,
            None,
            &[(U, 12), (O, 2), (K, 12)],
            26,
        ),
        (
            "packetlife/BGP_notification.cap",
            Plain,
            None,
            &[(N, 1), (O, 1)],
            0,
        ),
        // MPLS-labelled frames over Cisco HDLC; the NLRI are VPNv4 (AFI 1 SAFI 128), kept
        // opaque by the codec and so not counted, like tshark's 0.
        ("packetlife/BGP_redist.cap", Plain, None, &[(U, 2)], 0),
        (
            "packetlife/BGP_soft_reset.cap",
            Plain,
            None,
            &[(R, 1), (U, 12), (K, 8)],
            26,
        ),
        (
            "packetlife/EBGP_adjacency.cap",
            Plain,
            None,
            &[(U, 12), (O, 2), (K, 12)],
            26,
        ),
        (
            "packetlife/IBGP_adjacency.cap",
            Plain,
            None,
            &[(U, 14), (O, 2), (K, 8)],
            28,
        ),
        (
            "packetlife/bgp_as_confed_sequence.pcapng.cap",
            Ibgp,
            None,
            &[(U, 3)],
            3,
        ),
        ("packetlife/bgp_med.pcapng.cap", Plain, None, &[(U, 2)], 3),
        (
            "packetlife/bgp_orf_capabilty_negotitation.pcapng.cap",
            Plain,
            None,
            &[(O, 1)],
            0,
        ),
        (
            "packetlife/bgp_orf_prefix_advertisement.pcapng.cap",
            Plain,
            None,
            &[(R, 1), (K, 1)],
            0,
        ),
        (
            "packetlife/bgplu.cap",
            Plain,
            None,
            &[(U, 4), (O, 2), (K, 3)],
            1,
        ),
        (
            "packetlife/no-advertise_community.pcapng.cap",
            Plain,
            None,
            &[(R, 1), (U, 1)],
            1,
        ),
        (
            "tcpdump/bgp-4byte-asn.pcap",
            Plain,
            None,
            &[(N, 1), (U, 10), (O, 8), (K, 16)],
            50,
        ),
        ("tcpdump/bgp-aigp-2.pcap", Plain, None, &[(U, 1)], 0),
        ("tcpdump/bgp-aigp.pcap", Ibgp, None, &[(U, 2)], 0),
        ("tcpdump/bgp-bfd-cease.pcap", Plain, None, &[(N, 1)], 0),
        (
            "tcpdump/bgp-cease-hard-reset.pcap",
            Plain,
            None,
            &[(N, 1), (O, 2)],
            0,
        ),
        ("tcpdump/bgp-encap.pcap", Ibgp, None, &[(U, 1)], 0),
        (
            "tcpdump/bgp-enhanced-route-refresh-subtype.pcapng",
            As4,
            None,
            &[(R, 3), (U, 5)],
            12,
        ),
        (
            "tcpdump/bgp-enhanced-route-refresh.pcapng",
            Plain,
            None,
            &[(O, 1)],
            0,
        ),
        ("tcpdump/bgp-evpn.pcap", Plain, None, &[(O, 1)], 0),
        ("tcpdump/bgp-extended-msg.pcapng", Plain, None, &[(O, 1)], 0),
        (
            "tcpdump/bgp-extended-optional-parameters-length.pcapng",
            Plain,
            None,
            &[(O, 1)],
            0,
        ),
        (
            "tcpdump/bgp-extended-shutdown-msg.pcapng",
            Plain,
            None,
            &[(N, 1)],
            0,
        ),
        // Four UPDATEs whose Length field says 19 (RFC 4271 section 6.1: Bad Message
        // Length; tshark warns 4 times).
        ("tcpdump/bgp-infinite-loop.pcap", Plain, None, &[(U, 4)], 0),
        ("tcpdump/bgp-large-community.pcap", As4, None, &[(U, 5)], 5),
        (
            "tcpdump/bgp-link-bw-extcommunity.pcapng",
            Ibgp,
            None,
            &[(U, 6)],
            7,
        ),
        (
            "tcpdump/bgp-lu-multiple-labels.pcap",
            Plain,
            None,
            &[(N, 1), (U, 7), (O, 4), (K, 8)],
            0,
        ),
        (
            "tcpdump/bgp-malformed-hard-reset.pcap",
            Plain,
            None,
            &[(N, 1)],
            0,
        ),
        ("tcpdump/bgp-orf.pcapng", Plain, None, &[(R, 2)], 0),
        ("tcpdump/bgp-ovs.pcapng", Ibgp, None, &[(U, 4)], 4),
        // One OPEN only (the other side's is not in the capture): 4-octet AS from the flag.
        (
            "tcpdump/bgp-role.pcapng",
            As4,
            None,
            &[(U, 9), (O, 1), (K, 2)],
            11,
        ),
        ("tcpdump/bgp-rt-prefix.pcap", Plain, None, &[(U, 8)], 0),
        (
            "tcpdump/bgp-shutdown-communication.pcapng",
            Plain,
            None,
            &[(N, 1)],
            0,
        ),
        (
            "tcpdump/bgp-shutdown-msg-variations.pcap",
            Plain,
            None,
            &[(N, 1)],
            0,
        ),
        (
            "tcpdump/bgp_notification_rr_msg_error.pcap",
            Plain,
            None,
            &[(N, 1)],
            0,
        ),
        ("tcpdump/bgp_vpn_attrset.pcap", Ibgp, None, &[(U, 1)], 0),
        (
            "tcpdump/mpbgp-linklocal-nexthop.pcap",
            Plain,
            None,
            &[(U, 1)],
            1,
        ),
    ];
    for (file, ctx, port, msgs, prefixes) in cases {
        let t = tally(file, *ctx, *port);
        assert_eq!(t.by_type, types(msgs), "{file}");
        assert_eq!(t.prefixes, *prefixes, "{file}");
    }
    // In the sessions whose both OPENs are captured, every message is well formed.
    for file in [
        "bgp-rs/16-bit-asn.cap",
        "packetlife/4-byte_AS_numbers_Full_Support.cap",
        "packetlife/BGP_MP_NLRI.cap",
        "packetlife/EBGP_adjacency.cap",
        "packetlife/IBGP_adjacency.cap",
        "tcpdump/bgp-4byte-asn.pcap",
        "tcpdump/bgp-lu-multiple-labels.pcap",
    ] {
        let t = tally(file, Ctx::Plain, None);
        assert!(
            t.decoded.iter().all(|d| d.outcome == Outcome::Accept),
            "{file}"
        );
    }
}

#[test]
fn withdrawals_on_port_1179() {
    // README: prefix_fields=0 (tshark does not dissect the withdrawals here). The capture
    // holds two UPDATEs (19 octets between them were not captured): the first withdraws
    // 2.100.0.0/24 in its Withdrawn Routes, the second 2621:a:10::/64 in an MP_UNREACH_NLRI.
    let t = tally("bgp-rs/bgp_withdraw.cap", Ctx::Ibgp, Some(1179));
    assert_eq!(t.by_type, types(&[(U, 2)]));
    let withdrawn: Vec<String> = t
        .decoded
        .iter()
        .filter_map(|d| match &d.message {
            Some(Message::Update(u)) => Some(u.withdrawals().map(|(_, n)| n.prefix.to_string())),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(withdrawn, ["2.100.0.0/24", "2621:a:10::/64"]);
    assert_eq!(t.prefixes, 2);
}

#[test]
fn bgpsec_updates_count_their_mp_reach_prefixes() {
    // README: prefix_fields=0: tshark stops at the BGPsec_Path attribute (RFC 8205) of
    // these UPDATEs. They carry no AS_PATH, a missing well-known mandatory attribute
    // (RFC 7606 section 3 d: treat-as-withdraw), and one MP_REACH_NLRI prefix each.
    let t = tally("tcpdump/bgp-bgpsec.pcap", Ctx::Plain, None);
    assert_eq!(t.by_type, types(&[(U, 24), (O, 4), (K, 4)]));
    let bgpsec: Vec<&Decoded> = t
        .decoded
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::TreatAsWithdraw { .. }))
        .collect();
    assert_eq!(bgpsec.len(), 20);
    for d in bgpsec {
        match &d.message {
            Some(Message::Update(u)) => assert_eq!(u.announced_count(), 1),
            other => panic!("expected an UPDATE, got {other:?}"),
        }
    }
    assert_eq!(t.prefixes, 20);
    let t = tally(
        "tcpdump/bgpsec_invalid_signature_block_length.pcap",
        Ctx::Plain,
        None,
    );
    assert_eq!(t.by_type, types(&[(U, 1)]));
    assert_eq!(t.prefixes, 2);
}

#[test]
fn add_path_capture_without_opens() {
    // README: 6 prefix fields. The UPDATE carries 4 plain NLRI with Path Identifiers and
    // an MP_REACH_NLRI holding 2 more, whose flags (0x40) claim well-known transitive where
    // RFC 4760 section 3 defines MP_REACH_NLRI optional non-transitive: the codec rejects
    // that attribute (session reset), so only the 4 plain NLRI are counted.
    let t = tally("tcpdump/bgp-addpath.pcap", Ctx::As4AddPathV4, None);
    assert_eq!(t.by_type, types(&[(U, 1)]));
    assert_eq!(t.prefixes, 4);
    assert!(matches!(t.decoded[0].outcome, Outcome::SessionReset(_)));
    // Without the ADD-PATH context the NLRI do not parse at all.
    let t = tally("tcpdump/bgp-addpath.pcap", Ctx::As4, None);
    assert!(matches!(t.decoded[0].outcome, Outcome::SessionReset(_)));
}

#[test]
fn fuzzed_captures_decode_without_panic() {
    // tcpdump's regression inputs for out-of-bounds reads: their BGP length fields are
    // corrupt on purpose. After an invalid header this framer resynchronises on the next
    // marker and goes on, where tshark gives up on the rest of the segment, so these
    // counts are not comparable; we check that every file decodes and that it yields at
    // least the messages tshark saw (per valid type).
    let cases: &[(&str, &[(&str, u64)])] = &[
        ("tcpdump/bgp-aigp-oobr.pcap", &[(U, 9)]),
        ("tcpdump/bgp-as-path-oobr.pcap", &[(U, 13)]),
        ("tcpdump/bgp-bgp_capabilities_print-oobr-1.pcap", &[(O, 1)]),
        ("tcpdump/bgp-bgp_capabilities_print-oobr-2.pcap", &[(O, 1)]),
        ("tcpdump/bgp-ub.pcap", &[(U, 4)]),
        ("tcpdump/bgp_mp_reach_nlri-oobr.pcap", &[(U, 1)]),
        ("tcpdump/bgp_mvpn_6_and_7_oobr.pcap", &[(U, 1)]),
        ("tcpdump/bgp_pmsi_tunnel-oobr.pcap", &[(U, 1)]),
        // 37 of its 38 frames have no captured bytes (tshark_warnings=37).
        ("tcpdump/bgp_vpn_rt-oobr.pcap", &[(U, 1)]),
    ];
    for (file, at_least) in cases {
        let t = tally(file, Ctx::Plain, None);
        for (kind, n) in *at_least {
            let got = t.by_type.get(*kind).copied().unwrap_or(0);
            assert!(got >= *n, "{file}: {kind} {got} < {n}");
        }
        assert!(
            t.decoded.iter().any(|d| d.outcome != Outcome::Accept),
            "{file}: a corrupt capture yields error outcomes"
        );
    }
}

#[test]
fn every_capture_is_covered() {
    let mut n = 0;
    for dir in std::fs::read_dir(DIR).expect("shared/data/pcap") {
        n += std::fs::read_dir(dir.expect("dir").path())
            .expect("subdir")
            .count();
    }
    // 49 in the table, bgp_withdraw, 2 BGPsec, bgp-addpath and 9 fuzzed: 62.
    assert_eq!(n, 62);
}
