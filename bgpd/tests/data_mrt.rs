//! Every MRT file of the shared data set (`shared/data/mrt`) is read and its BGP messages
//! and RIB entries decoded; the counts are those of `shared/data/README.md` (taken there
//! with mrtparse), or the difference is explained at the file's entry below.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgpd::mrt::{MrtError, MrtReader, Prefix, RecordBody, RecordError};
use bgpd::wire::{decode_message, Message, MessageType, Outcome};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/mrt/");

/// What reading one file gave.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    /// Records whose body parsed, by (type, subtype).
    types: BTreeMap<(u16, u16), u64>,
    /// BGP messages by header type code (1 OPEN .. 5 ROUTE-REFRESH).
    messages: BTreeMap<u8, u64>,
    /// TABLE_DUMP_V2 RIB records (one prefix each), RIB_GENERIC included.
    rib_prefixes: u64,
    /// Their entries.
    rib_entries: u64,
    /// TABLE_DUMP and BGP4MP_ENTRY entries (one prefix, one route each).
    v1_entries: u64,
    /// Records with a malformed body (reading went on).
    record_errors: Vec<(u64, RecordError)>,
    /// The error that ended the read early, if any.
    fatal: Option<String>,
    /// Outcomes of decoding every message and RIB entry with the codec.
    outcomes: BTreeMap<&'static str, u64>,
}

fn mask(p: Prefix) -> String {
    let addr = match p.addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a) & u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
            IpAddr::V4(bits.into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a) & u128::MAX.checked_shl(128 - u32::from(p.len)).unwrap_or(0);
            IpAddr::V6(bits.into())
        }
    };
    format!("{addr}/{}", p.len)
}

/// Decodes a RIB entry's UPDATE: when the codec returns an UPDATE, it must announce
/// exactly the entry's prefix.
fn check_rib_update(
    t: &mut Tally,
    msg: &[u8],
    ctx: &bgpd::wire::SessionContext,
    prefix: Prefix,
    file: &str,
) {
    let d = decode_message(msg, ctx);
    *t.outcomes.entry(d.outcome.action()).or_default() += 1;
    let announced: Vec<String> = match &d.message {
        Some(Message::Update(u)) => u.announced().map(|(_, n)| n.prefix.to_string()).collect(),
        _ => Vec::new(),
    };
    // Whatever the outcome, the UPDATE announces the entry's prefix and nothing else; when
    // the outcome lets the route in, the prefix is there. (Entries without any next hop,
    // as in bird6-mrtdump_rib, yield an MP_REACH_NLRI with an empty next hop, which the
    // codec rejects: the next hop is not invented.)
    if !announced.is_empty()
        || matches!(
            d.outcome,
            Outcome::Accept | Outcome::AttributeDiscard { .. }
        )
    {
        assert_eq!(
            announced,
            vec![mask(prefix)],
            "{file}: RIB entry for {prefix}"
        );
    }
}

fn tally(file: &str) -> Tally {
    let mut t = Tally::default();
    let mut reader = MrtReader::open(format!("{DIR}{file}")).expect("opens");
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(MrtError::Record { offset, error, .. }) => {
                t.record_errors.push((offset, error));
                continue;
            }
            Err(e) => {
                t.fatal = Some(e.to_string());
                break;
            }
        };
        *t.types
            .entry((record.header.mrt_type, record.header.subtype))
            .or_default() += 1;
        match record.body {
            RecordBody::Bgp4mpMessage(m) => {
                let code = m.message.get(18).copied().unwrap_or(0);
                *t.messages.entry(code).or_default() += 1;
                let d = decode_message(&m.message, &m.implied_context().session_context());
                *t.outcomes.entry(d.outcome.action()).or_default() += 1;
                if let Some(kind) = d.kind {
                    let expected = match code {
                        1 => MessageType::Open,
                        2 => MessageType::Update,
                        3 => MessageType::Notification,
                        4 => MessageType::Keepalive,
                        _ => MessageType::RouteRefresh,
                    };
                    assert_eq!(kind, expected, "{file} at {}", record.offset);
                }
            }
            RecordBody::Rib(rib) => {
                t.rib_prefixes += 1;
                t.rib_entries += rib.entries.len() as u64;
                for e in &rib.entries {
                    let msg = rib.update_message(e).expect("entry fits an UPDATE");
                    let ctx = rib.implied_context(msg.len()).session_context();
                    check_rib_update(&mut t, &msg, &ctx, rib.prefix, file);
                }
            }
            RecordBody::RibGeneric(g) => {
                if let Some((_, entries)) = &g.parsed {
                    t.rib_prefixes += 1;
                    t.rib_entries += entries.len() as u64;
                }
            }
            RecordBody::TableDump(e) => {
                t.v1_entries += 1;
                let msg = e.update_message().expect("entry fits an UPDATE");
                check_rib_update(
                    &mut t,
                    &msg,
                    &e.implied_context().session_context(),
                    e.prefix,
                    file,
                );
            }
            RecordBody::Bgp4mpEntry(e) => {
                t.v1_entries += 1;
                let msg = e.update_message().expect("entry fits an UPDATE");
                check_rib_update(
                    &mut t,
                    &msg,
                    &e.implied_context().session_context(),
                    e.prefix,
                    file,
                );
            }
            RecordBody::Bgp4mpStateChange(_)
            | RecordBody::PeerIndexTable(_)
            | RecordBody::Unsupported(_) => {}
        }
    }
    t
}

/// `(type, subtype) = count` pairs.
fn types(v: &[((u16, u16), u64)]) -> BTreeMap<(u16, u16), u64> {
    v.iter().copied().collect()
}

/// Message counts: OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH.
fn msgs(
    open: u64,
    update: u64,
    notification: u64,
    keepalive: u64,
    route_refresh: u64,
) -> BTreeMap<u8, u64> {
    [
        (1, open),
        (2, update),
        (3, notification),
        (4, keepalive),
        (5, route_refresh),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect()
}

fn assert_clean(file: &str, t: &Tally) {
    assert!(t.record_errors.is_empty(), "{file}: {:?}", t.record_errors);
    assert_eq!(t.fatal, None, "{file}");
}

/// Records by (type, subtype).
type Types = &'static [((u16, u16), u64)];
/// (file, records by type, OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH).
type StreamCase = (&'static str, Types, [u64; 5]);
/// (file, records by type, RIB prefixes, RIB entries).
type RibCase = (&'static str, Types, u64, u64);

const BGP4MP: u16 = 16;
const BGP4MP_ET: u16 = 17;
const TD: u16 = 12;
const TD2: u16 = 13;
const BGP: u16 = 5;

#[test]
fn bgp4mp_update_streams_match_the_readme() {
    // (file, records by type, OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH)
    let cases: &[StreamCase] = &[
        (
            "bgp-rs/updates.20190101.0000.gz",
            &[((BGP4MP, 4), 54471), ((BGP4MP, 5), 43)],
            [0, 54107, 0, 364, 0],
        ),
        (
            "bgpdump/updates.20070211.0141.gz",
            &[((BGP4MP, 1), 23394)],
            [0, 23394, 0, 0, 0],
        ),
        (
            "bgpdump/updates.20071015.1505.gz",
            &[((BGP4MP, 1), 4256), ((BGP4MP, 4), 41)],
            [0, 4222, 0, 75, 0],
        ),
        (
            "bgpdump/updates.20100722.2015.gz",
            &[((BGP4MP, 4), 1364), ((BGP4MP, 1), 789), ((BGP4MP, 5), 40)],
            [0, 1822, 0, 331, 0],
        ),
        (
            "bgpdump/updates.et-header.2015.gz",
            &[
                ((BGP4MP_ET, 5), 4),
                ((BGP4MP_ET, 1), 1),
                ((BGP4MP_ET, 4), 89681),
            ],
            [1, 89679, 0, 2, 0],
        ),
        (
            "bgpdump/updates.long_withdrawal.gz",
            &[((BGP4MP, 4), 1)],
            [0, 1, 0, 0, 0],
        ),
        (
            "bgpkit-parser/updates.bz2",
            &[((BGP4MP_ET, 4), 85)],
            [0, 85, 0, 0, 0],
        ),
        (
            "bgpkit-parser/updates.20100227.1600.first-796-records.gz",
            &[((BGP4MP, 4), 515), ((BGP4MP, 1), 277), ((BGP4MP, 5), 4)],
            [0, 768, 1, 23, 0],
        ),
        (
            "bgpkit-parser/updates.20100227.1610.gz",
            &[((BGP4MP, 4), 1306), ((BGP4MP, 5), 16), ((BGP4MP, 1), 631)],
            [1, 1888, 1, 47, 0],
        ),
        (
            "libbgpstream/ris.rrc06.updates.1427846400.gz",
            &[((BGP4MP, 4), 791), ((BGP4MP, 5), 4)],
            [0, 761, 0, 30, 0],
        ),
        (
            "libbgpstream/routeviews.route-views.jinx.updates.1427846400.bz2",
            &[((BGP4MP, 4), 1756)],
            [0, 1756, 0, 0, 0],
        ),
        (
            "mrtparse/bird-mrtdump_bgp",
            &[((BGP4MP, 5), 12), ((BGP4MP, 1), 1), ((BGP4MP, 9), 14)],
            [2, 6, 1, 5, 1],
        ),
        (
            "mrtparse/bird6-mrtdump_bgp",
            &[((BGP4MP, 5), 12), ((BGP4MP, 1), 1), ((BGP4MP, 9), 14)],
            [2, 6, 1, 5, 1],
        ),
        (
            "mrtparse/bird6_bgp",
            &[((BGP4MP, 5), 12), ((BGP4MP, 1), 1), ((BGP4MP, 4), 16)],
            [2, 8, 1, 5, 1],
        ),
        (
            "mrtparse/bird_bgp",
            &[((BGP4MP, 5), 12), ((BGP4MP, 1), 1), ((BGP4MP, 4), 16)],
            [2, 8, 1, 5, 1],
        ),
        (
            "mrtparse/openbgpd_bgp",
            &[
                ((BGP4MP, 0), 8),
                ((BGP4MP, 1), 4),
                ((BGP4MP, 5), 8),
                ((BGP4MP, 4), 67),
            ],
            [4, 48, 2, 13, 4],
        ),
        (
            "mrtparse/quagga_bgp",
            &[((BGP4MP, 5), 20), ((BGP4MP, 1), 4), ((BGP4MP, 4), 43)],
            [4, 24, 2, 10, 7],
        ),
    ];
    for (file, ty, [o, u, n, k, r]) in cases {
        let t = tally(file);
        assert_clean(file, &t);
        assert_eq!(t.types, types(ty), "{file}");
        assert_eq!(t.messages, msgs(*o, *u, *n, *k, *r), "{file}");
        let decoded: u64 = t.outcomes.values().sum();
        assert_eq!(decoded, o + u + n + k + r, "{file}: every message decoded");
    }
}

#[test]
fn table_dump_v2_ribs_match_the_readme() {
    // (file, records by type, RIB prefixes, RIB entries)
    let cases: &[RibCase] = &[
        (
            "bgpdump/bview.64k_stream_overflow.gz",
            &[((TD2, 1), 1), ((TD2, 4), 1)],
            1,
            23,
        ),
        (
            "bgpdump/bview.ipv4_unicast_add_path.gz",
            &[((TD2, 1), 1), ((TD2, 8), 31)],
            31,
            62,
        ),
        (
            "bgpdump/bview.ipv6_unicast_add_path.gz",
            &[((TD2, 1), 1), ((TD2, 10), 31)],
            31,
            62,
        ),
        (
            "mrtparse/bird-mrtdump_rib",
            &[((TD2, 1), 2), ((TD2, 2), 4), ((TD2, 8), 8)],
            12,
            18,
        ),
        (
            "mrtparse/bird6-mrtdump_rib",
            &[((TD2, 1), 2), ((TD2, 4), 2), ((TD2, 10), 5)],
            7,
            10,
        ),
        // Two of the 23 prefixes are RIB_GENERIC (AFI 1, SAFI 128) records, whose NLRI the
        // reader frames but does not decode.
        (
            "mrtparse/openbgpd_rib_table-v2",
            &[((TD2, 1), 1), ((TD2, 2), 11), ((TD2, 4), 10), ((TD2, 6), 2)],
            23,
            33,
        ),
        (
            "mrtparse/quagga_rib",
            &[((TD2, 1), 1), ((TD2, 2), 3), ((TD2, 4), 3)],
            6,
            9,
        ),
    ];
    for (file, ty, prefixes, entries) in cases {
        let t = tally(file);
        assert_clean(file, &t);
        assert_eq!(t.types, types(ty), "{file}");
        assert_eq!(
            (t.rib_prefixes, t.rib_entries),
            (*prefixes, *entries),
            "{file}"
        );
        assert!(t.messages.is_empty());
    }
    // 64k_stream_overflow: each of its 23 entries holds a full-form MP_REACH_NLRI (AFI,
    // SAFI, next hop, NLRI) of some 2.5 kB instead of RFC 6396's abbreviated one; the UPDATE
    // built from it still announces only the record's prefix (checked in `tally`).
}

#[test]
fn table_dump_v1_and_bgp4mp_entry_dumps() {
    // The README's rib_prefixes/rib_entries count TABLE_DUMP_V2 only (0 for these): every
    // TABLE_DUMP record is one prefix with one route, so records = entries here.
    let t = tally("bgpdump/bview.20020722.2337.gz");
    assert_clean("bview.20020722.2337", &t);
    assert_eq!(t.types, types(&[((TD, 1), 115521)]));
    assert_eq!(t.v1_entries, 115521);
    let t = tally("mrtparse/openbgpd_rib_table");
    assert_clean("openbgpd_rib_table", &t);
    assert_eq!(t.types, types(&[((TD, 1), 11), ((TD, 2), 20)]));
    assert_eq!(t.v1_entries, 31);
    // README: parse_errors=31. These are BGP4MP_ENTRY records (subtype 2, deprecated before
    // RFC 6396 and unknown to mrtparse); the reader parses the draft layout, and every entry
    // decodes to an UPDATE announcing its prefix.
    let t = tally("mrtparse/openbgpd_rib_table-mp");
    assert_clean("openbgpd_rib_table-mp", &t);
    assert_eq!(t.types, types(&[((BGP4MP, 2), 31)]));
    assert_eq!(t.v1_entries, 31);
}

#[test]
fn files_mrtparse_stopped_on() {
    // README: 45 records parsed, 1076 errors. mrtparse fails on record 45 (an OPEN whose
    // capabilities include code 128 with length 0) and on every record after it; the
    // framing is intact (the records end exactly at the end of the file) and every record
    // parses here.
    let t = tally("bgpdump/updates.20020722.2238.gz");
    assert_clean("updates.20020722.2238", &t);
    assert_eq!(t.types, types(&[((BGP4MP, 1), 1028), ((BGP4MP, 0), 93)]));
    assert_eq!(t.messages, msgs(13, 393, 7, 615, 0));

    // README: 1286 records, 34 parsed, 1252 errors. mrtparse fails from record 36 on.
    // 63 records here are malformed per RFC 6396 and reported: 42 STATE_CHANGE records of
    // 8 octets (AS numbers and states only: no interface, AFI or addresses) and 21 MESSAGE
    // records with AFI 65535 and no addresses (an OPEN follows). Reading goes on after
    // each; the other 1223 parse.
    let t = tally("bgpkit-parser/updates.20001104.0124.gz");
    assert_eq!(t.fatal, None);
    assert_eq!(t.record_errors.len(), 63);
    assert!(t.record_errors.iter().all(|(_, e)| matches!(
        e,
        RecordError::UnknownAfi(4 | 65535) | RecordError::Truncated { .. }
    )));
    assert_eq!(t.types, types(&[((BGP4MP, 1), 901), ((BGP4MP, 0), 322)]));
    assert_eq!(t.messages, msgs(9, 266, 8, 618, 0));

    // README: one record, parse error. mrtparse rejects the NLRI (bits set beyond the
    // prefix length); the record is a well-formed BGP4MP_MESSAGE carrying one UPDATE.
    let t = tally("bgpdump/updates.nlri_mask_trailing_bits.gz");
    assert_clean("nlri_mask_trailing_bits", &t);
    assert_eq!(t.types, types(&[((BGP4MP, 1), 1)]));
    assert_eq!(t.messages, msgs(0, 1, 0, 0, 0));
}

#[test]
fn legacy_bgp_type_files() {
    // README: "mrtparse could not parse (legacy/odd format)". These use the deprecated
    // MRT type BGP (5) of 1999-2000 collectors (subtypes 1 UPDATE, 3 STATE_CHANGE, 5 OPEN,
    // 6 NOTIFY, 7 KEEPALIVE), which the reader supports.
    let cases: &[StreamCase] = &[
        (
            "bgpkit-parser/updates.19990903.1041.gz",
            &[
                ((BGP, 1), 24216),
                ((BGP, 3), 4),
                ((BGP, 5), 1),
                ((BGP, 7), 21),
            ],
            [1, 24216, 0, 21, 0],
        ),
        (
            "bgpkit-parser/updates.19991214.1621.gz",
            &[
                ((BGP, 1), 18054),
                ((BGP, 7), 120),
                ((BGP, 3), 27),
                ((BGP, 5), 1),
                ((BGP, 6), 1),
            ],
            [1, 18054, 1, 120, 0],
        ),
        (
            "bgpkit-parser/updates.20000102.2014.gz",
            &[((BGP, 1), 3818), ((BGP, 7), 123), ((BGP, 3), 16)],
            [0, 3818, 0, 123, 0],
        ),
    ];
    for (file, ty, [o, u, n, k, r]) in cases {
        let t = tally(file);
        assert_clean(file, &t);
        assert_eq!(t.types, types(ty), "{file}");
        assert_eq!(t.messages, msgs(*o, *u, *n, *k, *r), "{file}");
    }
    // updates.20000325.0345: the fifth record's header is cut after two octets of its
    // Length field (offset 188: `00 00` then the next record's timestamp), so its length
    // reads 14556 and swallows the records after it; what follows is no longer framed. The
    // first four records are sound; the read then ends on a record running past the end.
    let t = tally("bgpkit-parser/updates.20000325.0345.gz");
    assert!(
        t.fatal.as_deref().is_some_and(|e| e.contains("truncated")),
        "{:?}",
        t.fatal
    );
    assert_eq!(t.types.get(&(BGP, 1)), Some(&4));
    assert_eq!(t.types.get(&(BGP, 7)), Some(&1));
    // bview.20000111.0032: a TABLE_DUMP whose records each hold many entries, with a Length
    // 4 octets short of the body: the first record is reported malformed (7676 octets left
    // after its first entry), then the framing is lost and the read ends.
    let t = tally("bgpkit-parser/bview.20000111.0032.gz");
    assert_eq!(t.record_errors, vec![(0, RecordError::TrailingBytes(7676))]);
    assert!(t.fatal.is_some());
}

#[test]
fn every_mrt_file_is_covered() {
    let mut listed = 0;
    for dir in std::fs::read_dir(DIR).expect("shared/data/mrt") {
        for f in std::fs::read_dir(dir.expect("dir").path()).expect("subdir") {
            let _ = f.expect("entry");
            listed += 1;
        }
    }
    // 17 update streams + 7 TABLE_DUMP_V2 + 3 TABLE_DUMP/ENTRY + 3 mrtparse failures
    // + 5 legacy files: the tests above name every file of the directory.
    assert_eq!(listed, 35);
}
