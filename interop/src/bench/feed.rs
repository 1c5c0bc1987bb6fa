//! What the feeder sends: every UPDATE of a table encoded before the clock starts, as one
//! byte string, with the number of distinct IPv4 prefixes it announces.
//!
//! Two sources: the generated Internet-like table of [`bgpd::tablegen`], and a real RIB dump
//! (MRT TABLE_DUMP or TABLE_DUMP_V2, RFC 6396 section 4.2/4.3) read with [`bgpd::mrt`]. From a
//! dump the feeder announces, for each IPv4 unicast prefix, the first entry the dump holds,
//! as an eBGP neighbour would: its AS prepended to the AS_PATH, NEXT_HOP its own address,
//! attributes an external peer does not send (LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST, MP
//! attributes) removed, prefixes grouped by attribute set.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bgpd::mrt::{MrtReader, RecordBody};
use bgpd::tablegen::{internet_table, TableSpec};
use bgpd::wire::{
    decode_message, encode_message, type_code, AfiSafi, AsPath, AsSegment, Asn, AttributeValue,
    Ipv4Prefix, Message, Nlri, PathAttributes, Prefix, SegmentType, SessionContext, UpdateBuilder,
};

/// The pre-encoded feed.
#[derive(Debug, Clone)]
pub struct Feed {
    /// A name for the table ("generated", or the dump's file name).
    pub name: String,
    /// Every UPDATE, back to back (19-octet headers included).
    pub bytes: Vec<u8>,
    /// UPDATE messages in `bytes`.
    pub messages: usize,
    /// Distinct IPv4 prefixes announced.
    pub prefixes: u64,
    /// Distinct attribute sets.
    pub attribute_sets: usize,
}

/// The session the feeder encodes for: 4-octet AS numbers, IPv4 unicast, 4096-octet
/// messages (every daemon under test accepts these without extra configuration).
pub fn feeder_context() -> SessionContext {
    SessionContext {
        four_octet_as: true,
        ..SessionContext::new()
    }
}

impl Feed {
    /// `prefixes` generated prefixes from AS `asn` with NEXT_HOP `next_hop` (300,000
    /// attribute sets per million prefixes).
    pub fn generated(prefixes: usize, asn: u32, next_hop: Ipv4Addr) -> anyhow::Result<Feed> {
        let mut spec = TableSpec::internet(prefixes);
        spec.neighbor_as = Asn(asn);
        spec.next_hops = vec![next_hop];
        let t = internet_table(&spec, &feeder_context()).context("generating the table")?;
        Ok(Feed {
            name: "generated".into(),
            messages: t.messages.len(),
            bytes: t.messages.concat(),
            prefixes: t.prefixes as u64,
            attribute_sets: spec.attribute_sets,
        })
    }

    /// The IPv4 unicast table of the MRT RIB dump `path`, as announced by AS `asn` with
    /// NEXT_HOP `next_hop`.
    pub fn from_mrt(path: &Path, asn: u32, next_hop: Ipv4Addr) -> anyhow::Result<Feed> {
        let mut reader =
            MrtReader::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut seen: HashSet<Prefix> = HashSet::new();
        let mut sets: HashMap<PathAttributes, usize> = HashMap::new();
        let mut groups: Vec<(PathAttributes, Vec<Nlri>)> = Vec::new();
        loop {
            let rec = match reader.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                // A malformed record is reported and reading goes on; a broken framing ends it.
                Err(e) if e.is_recoverable() => continue,
                Err(e) => {
                    if seen.is_empty() {
                        return Err(e).with_context(|| format!("reading {}", path.display()));
                    }
                    break;
                }
            };
            let (prefix, update, ctx) = match rec.body {
                RecordBody::TableDump(e) => {
                    let Ok(u) = e.update_message() else { continue };
                    (e.prefix, u, e.implied_context().session_context())
                }
                RecordBody::Rib(r) => {
                    let Some(entry) = r.entries.first() else {
                        continue;
                    };
                    let Ok(u) = r.update_message(entry) else {
                        continue;
                    };
                    let ctx = r.implied_context(u.len()).session_context();
                    (r.prefix, u, ctx)
                }
                _ => continue,
            };
            // Host bits as found in the record are cleared (Ipv4Prefix::new).
            let std::net::IpAddr::V4(addr) = prefix.addr else {
                continue;
            };
            let Some(p) = Ipv4Prefix::new(addr, prefix.len) else {
                continue;
            };
            let prefix = Prefix::V4(p);
            if seen.contains(&prefix) {
                continue;
            }
            let d = decode_message(&update, &ctx);
            let Some(Message::Update(u)) = d.message else {
                continue;
            };
            if d.outcome.severity() > 1 {
                continue;
            }
            let attrs = as_sent_by(&u.attributes, Asn(asn), next_hop);
            seen.insert(prefix);
            let i = *sets.entry(attrs.clone()).or_insert_with(|| {
                groups.push((attrs, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(Nlri::new(prefix));
        }
        anyhow::ensure!(
            !seen.is_empty(),
            "{} holds no IPv4 unicast RIB entry (TABLE_DUMP or TABLE_DUMP_V2)",
            path.display()
        );
        let ctx = feeder_context();
        let b = UpdateBuilder::new(&ctx);
        let mut bytes = Vec::new();
        let mut messages = 0;
        for (attrs, nlri) in &groups {
            for u in b
                .announce(AfiSafi::IPV4_UNICAST, attrs, None, nlri)
                .context("encoding an UPDATE of the dump")?
            {
                bytes.extend_from_slice(&encode_message(&Message::Update(u), &ctx)?);
                messages += 1;
            }
        }
        Ok(Feed {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes,
            messages,
            prefixes: seen.len() as u64,
            attribute_sets: groups.len(),
        })
    }
}

/// The attributes `attrs` (learned by the dump's collector) as an external neighbour in AS
/// `asn` sends them: `asn` prepended (RFC 4271 section 5.1.2), NEXT_HOP itself (section
/// 5.1.3), LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST and the MP attributes removed.
fn as_sent_by(attrs: &PathAttributes, asn: Asn, next_hop: Ipv4Addr) -> PathAttributes {
    let mut out = attrs.clone();
    for code in [
        type_code::LOCAL_PREF,
        type_code::ORIGINATOR_ID,
        type_code::CLUSTER_LIST,
        type_code::MP_REACH_NLRI,
        type_code::MP_UNREACH_NLRI,
        type_code::AS4_PATH,
        type_code::AS4_AGGREGATOR,
    ] {
        out.remove(code);
    }
    let mut path = attrs.as_path().cloned().unwrap_or_default();
    match path.segments.first_mut() {
        Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => s.asns.insert(0, asn),
        _ => path.segments.insert(
            0,
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![asn],
            },
        ),
    }
    out.set(AttributeValue::AsPath(AsPath {
        segments: path.segments,
    }));
    out.set(AttributeValue::NextHop(next_hop));
    out
}

/// The largest RIB dump under `dir` (by file size, names starting `bview` or `rib`) whose
/// first records read as TABLE_DUMP or TABLE_DUMP_V2.
pub fn largest_rib_dump(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(p);
                continue;
            }
            let name = e.file_name().to_string_lossy().to_lowercase();
            if name.starts_with("bview") || name.starts_with("rib") {
                found.push((meta.len(), p));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .map(|(_, p)| p)
        .find(|p| starts_as_rib_dump(p))
}

/// Whether the first records of `path` read as RIB dump records.
fn starts_as_rib_dump(path: &Path) -> bool {
    let Ok(mut r) = MrtReader::open(path) else {
        return false;
    };
    for _ in 0..16 {
        match r.next_record() {
            Ok(Some(rec)) => {
                if matches!(rec.body, RecordBody::TableDump(_) | RecordBody::Rib(_)) {
                    return true;
                }
            }
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_feed_holds_whole_updates() {
        let f = Feed::generated(2_000, 64_700, Ipv4Addr::new(192, 0, 2, 1)).unwrap();
        assert_eq!(f.prefixes, 2_000);
        assert_eq!(f.attribute_sets, 600);
        let mut at = 0;
        let mut n = 0;
        let ctx = feeder_context();
        while at < f.bytes.len() {
            let len = usize::from(u16::from_be_bytes([f.bytes[at + 16], f.bytes[at + 17]]));
            let d = decode_message(&f.bytes[at..at + len], &ctx);
            let Some(Message::Update(u)) = d.message else {
                panic!("not an UPDATE at {at}")
            };
            assert_eq!(
                u.attributes.value(type_code::NEXT_HOP),
                Some(&AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)))
            );
            n += u.nlri.len();
            at += len;
        }
        assert_eq!(n, 2_000);
    }

    #[test]
    fn dump_attributes_are_sent_as_an_external_neighbour() {
        let mut a = PathAttributes::new();
        a.set(AttributeValue::AsPath(AsPath::sequence([
            Asn(3356),
            Asn(15169),
        ])));
        a.set(AttributeValue::LocalPref(200));
        a.set(AttributeValue::NextHop(Ipv4Addr::new(10, 0, 0, 1)));
        let s = as_sent_by(&a, Asn(64_700), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            s.as_path(),
            Some(&AsPath::sequence([Asn(64_700), Asn(3356), Asn(15169)]))
        );
        assert!(s.get(type_code::LOCAL_PREF).is_none());
        assert_eq!(
            s.value(type_code::NEXT_HOP),
            Some(&AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)))
        );
    }
}
