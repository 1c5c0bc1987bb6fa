//! A generated IPv4 table shaped like the Internet's, encoded as UPDATE messages: the input of
//! the RIB benchmarks (`benches/`) and of the lab's `interop bench` feeder.
//!
//! Shape: prefix lengths in the Internet table's proportions (about 60 % /24, then /22, /23,
//! /20, ...), prefixes drawn from unicast space (first octet 1 to 223, loopback 127/8 and the
//! documentation /24s of RFC 5737 left out so lab addresses never collide with the table),
//! grouped under a given number of distinct attribute sets (AS paths of 1 to 10 hops, some
//! MED and COMMUNITIES), the sets interleaved as a real full-table transfer would be.
//! Deterministic: the same [`TableSpec`] gives the same bytes.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use crate::wire::{
    encode_message, AfiSafi, AsPath, Asn, AttributeValue, Community, EncodeError, Ipv4Prefix,
    Message, Nlri, Origin, PathAttributes, SessionContext, UpdateBuilder,
};

/// xorshift64*: a deterministic generator with no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is made odd).
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Prefix length mix of the IPv4 Internet table (approximate shares in per mille, 2024).
const LEN_MIX: &[(u8, u32)] = &[
    (24, 600),
    (23, 95),
    (22, 120),
    (21, 50),
    (20, 50),
    (19, 30),
    (18, 15),
    (17, 10),
    (16, 20),
    (15, 3),
    (14, 3),
    (13, 2),
    (12, 1),
    (11, 1),
];

fn pick_len(rng: &mut Rng) -> u8 {
    let total: u32 = LEN_MIX.iter().map(|x| x.1).sum();
    let mut r = rng.below(u64::from(total)) as u32;
    for (l, w) in LEN_MIX {
        if r < *w {
            return *l;
        }
        r -= w;
    }
    24
}

/// Prefixes the table never holds: loopback, and the RFC 5737 documentation /24s that lab
/// links are addressed from (a covering shorter prefix is fine).
fn reserved(p: &Ipv4Prefix) -> bool {
    let a = p.addr().octets();
    a[0] == 127
        || (p.len() >= 24
            && matches!(
                (a[0], a[1], a[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            ))
}

/// `asn` moved out of the RFC 6996 private-use range (64512-65534, and 65535) and off
/// AS_TRANS (23456, RFC 6793): transit ASNs of the table are public, so lab speakers in
/// private ASNs never find their own AS in a path (and drop it as a loop).
fn public_asn(asn: u32) -> u32 {
    if (64_512..=65_535).contains(&asn) || asn == 23_456 {
        asn + 70_000
    } else {
        asn
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Distinct prefixes.
    pub prefixes: usize,
    /// Distinct attribute sets (at most `prefixes`; every set gets at least one prefix).
    pub attribute_sets: usize,
    /// The sending neighbour's AS: the first hop of every AS_PATH (the other hops are public
    /// ASNs).
    pub neighbor_as: Asn,
    /// NEXT_HOP values, picked at random per attribute set (at least one).
    pub next_hops: Vec<Ipv4Addr>,
    /// Random seed.
    pub seed: u64,
}

impl TableSpec {
    /// `prefixes` prefixes under `attribute_sets` sets from AS 64700, next hops 192.0.2.1 to
    /// 192.0.2.4, the benchmarks' fixed seed.
    pub fn new(prefixes: usize, attribute_sets: usize) -> Self {
        TableSpec {
            prefixes,
            attribute_sets,
            neighbor_as: Asn(64_700),
            next_hops: (1..=4).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect(),
            seed: 0x5eed_1234,
        }
    }

    /// The Internet's proportion of attribute sets: 300,000 per 1,000,000 prefixes.
    pub fn internet(prefixes: usize) -> Self {
        Self::new(prefixes, (prefixes * 3 / 10).max(1))
    }
}

/// A generated table: the UPDATE messages (each with its 19-octet header) and the number of
/// distinct prefixes they announce.
#[derive(Debug, Clone)]
pub struct Table {
    /// Encoded UPDATE messages, in sending order.
    pub messages: Vec<Vec<u8>>,
    /// Distinct prefixes announced.
    pub prefixes: usize,
}

/// Generates `spec`, encoded for the session `ctx` (message size limit, AS width).
///
/// # Errors
/// [`EncodeError`] when an UPDATE cannot be encoded for `ctx` (not for any valid spec).
pub fn internet_table(spec: &TableSpec, ctx: &SessionContext) -> Result<Table, EncodeError> {
    let n = spec.prefixes;
    let sets = spec.attribute_sets.clamp(1, n.max(1));
    let mut rng = Rng::new(spec.seed);
    let mut seen = HashSet::with_capacity(n);
    let mut prefixes = Vec::with_capacity(n);
    while prefixes.len() < n {
        let len = pick_len(&mut rng);
        // Unicast space 1.0.0.0 - 223.255.255.255.
        let a = (1 + rng.below(223) as u32) << 24 | (rng.next() as u32 & 0x00ff_ffff);
        let Some(p) = Ipv4Prefix::new(Ipv4Addr::from(a), len) else {
            continue;
        };
        if !reserved(&p) && seen.insert(p) {
            prefixes.push(p);
        }
    }
    // Group sizes: every set gets one prefix, the rest land on skewed sets.
    let mut groups: Vec<Vec<Nlri>> = vec![Vec::new(); sets];
    for (i, p) in prefixes.iter().enumerate() {
        let g = if i < sets {
            i
        } else {
            let r = rng.below(sets as u64) as usize;
            if rng.below(4) == 0 {
                r % (sets / 20).max(1)
            } else {
                r
            }
        };
        groups[g].push(Nlri::new(*p));
    }
    let b = UpdateBuilder::new(ctx);
    let mut messages = Vec::with_capacity(sets * 2);
    let fallback_hop = Ipv4Addr::new(192, 0, 2, 1);
    for (i, nlri) in groups.iter().enumerate() {
        let hops = 1 + rng.below(10) as usize;
        let mut path = vec![spec.neighbor_as];
        for _ in 1..hops {
            path.push(Asn(public_asn(1 + rng.below(400_000) as u32)));
        }
        // Make each set distinct whatever the random draw.
        path.push(Asn(100_000 + i as u32));
        let mut a = PathAttributes::new();
        a.set(AttributeValue::Origin(if rng.below(10) == 0 {
            Origin::Incomplete
        } else {
            Origin::Igp
        }));
        a.set(AttributeValue::AsPath(AsPath::sequence(path)));
        let hop = rng.below(spec.next_hops.len() as u64) as usize;
        a.set(AttributeValue::NextHop(
            spec.next_hops.get(hop).copied().unwrap_or(fallback_hop),
        ));
        if rng.below(3) == 0 {
            a.set(AttributeValue::MultiExitDisc(rng.below(1000) as u32));
        }
        if rng.below(2) == 0 {
            let k = 1 + rng.below(4);
            let first = spec.neighbor_as.0 & 0xffff;
            a.set(AttributeValue::Communities(
                (0..k)
                    .map(|_| Community((first << 16) | rng.below(1000) as u32))
                    .collect(),
            ));
        }
        for u in b.announce(AfiSafi::IPV4_UNICAST, &a, None, nlri)? {
            messages.push(encode_message(&Message::Update(u), ctx)?);
        }
    }
    // Interleave sets as a real full-table transfer would (not sorted by anything).
    for i in (1..messages.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        messages.swap(i, j);
    }
    Ok(Table {
        messages,
        prefixes: n,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::decode_message;

    fn ctx() -> SessionContext {
        SessionContext {
            four_octet_as: true,
            ..SessionContext::new()
        }
    }

    #[test]
    fn table_announces_every_prefix_once_under_the_asked_sets() {
        let spec = TableSpec::new(5_000, 1_500);
        let t = internet_table(&spec, &ctx()).unwrap();
        let mut seen = HashSet::new();
        let mut paths = HashSet::new();
        for m in &t.messages {
            assert!(m.len() <= 4096);
            let d = decode_message(m, &ctx());
            let Some(Message::Update(u)) = d.message else {
                panic!("not an UPDATE")
            };
            for n in &u.nlri {
                assert!(seen.insert(n.prefix), "{:?} twice", n.prefix);
            }
            let path = u.attributes.as_path().unwrap();
            assert_eq!(path.first_asn(), Some(Asn(64_700)));
            for asn in path.segments.iter().flat_map(|s| &s.asns).skip(1) {
                assert!(
                    !(64_512..=65_535).contains(&asn.0) && asn.0 != 23_456,
                    "{asn:?}"
                );
            }
            paths.insert(format!("{path:?}"));
        }
        assert_eq!(seen.len(), 5_000);
        assert_eq!(t.prefixes, 5_000);
        assert_eq!(paths.len(), 1_500);
    }

    #[test]
    fn same_spec_same_bytes_and_no_reserved_prefix() {
        let spec = TableSpec::internet(3_000);
        let a = internet_table(&spec, &ctx()).unwrap();
        let b = internet_table(&spec, &ctx()).unwrap();
        assert_eq!(a.messages, b.messages);
        for m in &a.messages {
            if let Some(Message::Update(u)) = decode_message(m, &ctx()).message {
                for n in &u.nlri {
                    if let crate::wire::Prefix::V4(p) = n.prefix {
                        assert!(!reserved(&p), "{p:?}");
                    }
                }
            }
        }
    }
}
