//! Differential test of the in-place UPDATE view (`UpdateView`, the ingest fast path) against
//! the full decode (`decode_message`), on mutations of real UPDATEs: the generated
//! Internet-like table and the real update stream of ../shared/data, changed structurally
//! (flag bits, Extended Length, attribute and field lengths, duplicated, removed, reordered
//! and inserted attributes, tricky attribute values of RFC 4271 section 5/6.3 and RFC 7606
//! sections 3-7, NLRI and Withdrawn Routes) and byte-wise.
//!
//! Whenever the view takes a message: the decode accepts it with no RFC 7606 action
//! (`Outcome::Accept`), the same Withdrawn Routes and NLRI, and the received Path Attributes
//! field with the low four flag bits cleared (what the RIB interns for a view) equals the
//! decode's canonical re-encoding. A RIB fed the views equals a RIB fed the decoded UPDATEs
//! (digest, Loc-RIB, Adj-RIB-In) after every UPDATE.
#![allow(clippy::unwrap_used)]

mod rib_util;
mod view_oracle;

use bgpd::rib::PeerId;
use bgpd::wire::{
    decode_message, AfiSafi, Message, SessionContext, Update, UpdateView, HEADER_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use rib_util::*;
use std::sync::OnceLock;
use view_oracle::*;

/// One attribute as it goes on the wire: flags, type code, value; `len`: a Length field that
/// differs from the value's length (a lie), else the value's.
#[derive(Debug, Clone)]
struct RawAttr {
    flags: u8,
    code: u8,
    value: Vec<u8>,
    len: Option<u16>,
}

/// An UPDATE body in parts; `wlen`/`alen`: lying Withdrawn Routes / Total Path Attribute
/// Lengths.
#[derive(Debug, Clone)]
struct Parts {
    withdrawn: Vec<u8>,
    attrs: Vec<RawAttr>,
    nlri: Vec<u8>,
    wlen: Option<u16>,
    alen: Option<u16>,
}

impl Parts {
    /// Splits a well-formed UPDATE body (None if it is not one).
    fn parse(body: &[u8]) -> Option<Parts> {
        let wl = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
        let withdrawn = body.get(2..2 + wl)?.to_vec();
        let a0 = 2 + wl;
        let al = usize::from(u16::from_be_bytes([*body.get(a0)?, *body.get(a0 + 1)?]));
        let mut field = body.get(a0 + 2..a0 + 2 + al)?;
        let nlri = body.get(a0 + 2 + al..)?.to_vec();
        let mut attrs = Vec::new();
        while !field.is_empty() {
            let (flags, code) = (field[0], *field.get(1)?);
            let (len, hdr) = if flags & 0x10 != 0 {
                (
                    usize::from(u16::from_be_bytes([*field.get(2)?, *field.get(3)?])),
                    4,
                )
            } else {
                (usize::from(*field.get(2)?), 3)
            };
            attrs.push(RawAttr {
                flags,
                code,
                value: field.get(hdr..hdr + len)?.to_vec(),
                len: None,
            });
            field = &field[hdr + len..];
        }
        Some(Parts {
            withdrawn,
            attrs,
            nlri,
            wlen: None,
            alen: None,
        })
    }

    fn body(&self) -> Vec<u8> {
        let mut a = Vec::new();
        for x in &self.attrs {
            let len = x.len.unwrap_or(x.value.len() as u16);
            a.push(x.flags);
            a.push(x.code);
            if x.flags & 0x10 != 0 {
                a.extend_from_slice(&len.to_be_bytes());
            } else {
                a.push(len as u8);
            }
            a.extend_from_slice(&x.value);
        }
        let mut b = Vec::new();
        let wlen = self.wlen.unwrap_or(self.withdrawn.len() as u16);
        b.extend_from_slice(&wlen.to_be_bytes());
        b.extend_from_slice(&self.withdrawn);
        b.extend_from_slice(&self.alen.unwrap_or(a.len() as u16).to_be_bytes());
        b.extend_from_slice(&a);
        b.extend_from_slice(&self.nlri);
        b
    }
}

/// The flags an attribute type code is sent with (RFC 4271 section 5, RFC 7606 section 3 c).
fn class_flags(code: u8) -> u8 {
    match code {
        1 | 2 | 3 | 5 | 6 => 0x40,
        4 | 9 | 10 | 14 | 15 | 26 | 29 => 0x80,
        _ => 0xc0,
    }
}

/// Attributes that the RFCs single out: (type code, value). Our router id (= cluster id) and
/// our address are 192.0.2.254, our AS 65000 (0x0000fde8).
fn tricky() -> Vec<(u8, Vec<u8>)> {
    let mut v: Vec<(u8, Vec<u8>)> = vec![
        // ORIGIN: undefined value, wrong lengths.
        (1, vec![3]),
        (1, vec![0, 0]),
        (1, vec![]),
        (1, vec![2]),
        // AS_PATH: empty, zero-length segment, confederation segments, unknown types, AS 0,
        // our AS (a loop), a 2-octet encoding read as 4-octet, overruns, a single trailing octet.
        (2, vec![]),
        (2, vec![2, 0]),
        (2, vec![3, 1, 0, 0, 0xfd, 0xe9]),
        (2, vec![4, 1, 0, 0, 0xfd, 0xe9]),
        (2, vec![3, 1, 0, 0, 0xfd, 0xe9, 2, 1, 0, 0, 0xfb, 0xf0]),
        (2, vec![1, 2, 0, 0, 0xfb, 0xf0, 0, 0, 0xfb, 0xf1]),
        (2, vec![0, 1, 0, 0, 0xfb, 0xf0]),
        (2, vec![5, 1, 0, 0, 0xfb, 0xf0]),
        (2, vec![2, 1, 0, 0, 0, 0]),
        (2, vec![2, 1, 0, 0, 0xfd, 0xe8]),
        (2, vec![2, 2, 0xfb, 0xf0, 0xfb, 0xf1]),
        (2, vec![2, 2, 0, 0, 0xfb, 0xf0]),
        (2, vec![2, 1, 0, 0, 0xfb, 0xf0, 2]),
        (2, vec![2, 1, 0, 0, 0x5b, 0xa0]),
        // NEXT_HOP: 0/8, loopback, multicast, class E, broadcast, our address, the peer's,
        // wrong lengths.
        (3, vec![0, 0, 0, 0]),
        (3, vec![0, 1, 2, 3]),
        (3, vec![127, 0, 0, 1]),
        (3, vec![224, 0, 0, 1]),
        (3, vec![239, 255, 255, 255]),
        (3, vec![240, 0, 0, 1]),
        (3, vec![255, 255, 255, 255]),
        (3, vec![192, 0, 2, 254]),
        (3, vec![192, 0, 2, 1]),
        (3, vec![10, 0, 0, 3]),
        (3, vec![192, 0, 2]),
        (3, vec![192, 0, 2, 1, 0]),
        (3, vec![]),
        // MULTI_EXIT_DISC, LOCAL_PREF: lengths.
        (4, vec![0, 0, 0, 7]),
        (4, vec![0, 0, 7]),
        (4, vec![]),
        (5, vec![0, 0, 0, 100]),
        (5, vec![0, 0, 100]),
        (5, vec![0, 0, 0, 0, 100]),
        // ATOMIC_AGGREGATE with a length.
        (6, vec![]),
        (6, vec![0]),
        // AGGREGATOR: 2-octet form, AS 0, AS_TRANS, wrong lengths.
        (7, vec![0xfb, 0xf0, 192, 0, 2, 9]),
        (7, vec![0, 0, 0xfb, 0xf0, 192, 0, 2, 9]),
        (7, vec![0, 0, 0, 0, 192, 0, 2, 9]),
        (7, vec![0, 0, 0x5b, 0xa0, 192, 0, 2, 9]),
        (7, vec![0, 0, 0xfb, 0xf0, 192, 0, 2]),
        (7, vec![]),
        // COMMUNITIES, EXTENDED_COMMUNITIES, LARGE_COMMUNITY: empty, not a multiple.
        (8, vec![]),
        (8, vec![0xff, 0xff, 0xff, 0x01]),
        (8, vec![0xff, 0xff, 0xff, 0x01, 0]),
        (8, vec![0xff, 0xff, 0xff]),
        (16, vec![]),
        (16, vec![0, 2, 0, 1, 0, 0, 0, 1]),
        (16, vec![0, 2, 0, 1, 0, 0, 0]),
        (32, vec![]),
        (32, vec![0, 0, 0xfb, 0xf0, 0, 0, 0, 1, 0, 0, 0, 2]),
        (32, vec![0, 0, 0xfb, 0xf0, 0, 0, 0, 1, 0, 0, 0]),
        // ORIGINATOR_ID: ours (a loop), another, wrong length. CLUSTER_LIST: empty, ours,
        // others, not a multiple of 4.
        (9, vec![192, 0, 2, 254]),
        (9, vec![10, 9, 9, 9]),
        (9, vec![10, 9, 9]),
        (10, vec![]),
        (10, vec![192, 0, 2, 254]),
        (10, vec![10, 9, 9, 9, 10, 9, 9, 8]),
        (10, vec![10, 9, 9, 9, 10, 9]),
        // MP_REACH_NLRI (IPv4 unicast, next hop, one prefix), a broken one, MP_UNREACH_NLRI
        // of IPv4 (one prefix; empty) and of IPv6 (empty: End-of-RIB).
        (14, vec![0, 1, 1, 4, 192, 0, 2, 7, 0, 24, 10, 1, 0]),
        (14, vec![0, 1, 1, 4, 192, 0]),
        (15, vec![0, 1, 1, 24, 10, 1, 0]),
        (15, vec![0, 1, 1]),
        (15, vec![0, 2, 1]),
        // AS4_PATH, AS4_AGGREGATOR (discarded on a 4-octet session).
        (17, vec![2, 1, 0, 1, 0, 0]),
        (17, vec![2, 1]),
        (18, vec![0, 1, 0, 0, 192, 0, 2, 9]),
        // OTC, AIGP, PMSI_TUNNEL, IPv6 extended communities, BGP-LS, Prefix-SID.
        (35, vec![0, 0, 0xfb, 0xf0]),
        (35, vec![0, 0, 0xfb]),
        (26, vec![1, 0, 11, 0, 0, 0, 0, 0, 0, 0, 5]),
        (22, vec![0, 0, 0, 0, 0]),
        (25, vec![0; 20]),
        (25, vec![0; 19]),
        (29, vec![]),
        (40, vec![]),
        // Unknown types: optional transitive, well-known (unrecognized), type 0, high codes.
        (99, vec![1, 2, 3]),
        (99, vec![]),
        (0, vec![1]),
        (64, vec![1]),
        (128, vec![1, 2]),
        (255, vec![]),
    ];
    // A value longer than 255 octets (Extended Length needed).
    v.push((8, [0xfbu8, 0xf0, 0, 1].repeat(70)));
    v
}

/// One change to an UPDATE.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR attribute `i`'s flags with `x` (Optional, Transitive, Partial, Extended Length,
    /// low bits).
    Flags(Index, u8),
    /// Toggle Extended Length, keeping the length.
    Ext(Index),
    /// Copy attribute `i` to position `j`.
    Dup(Index, Index),
    /// Remove attribute `i`.
    Remove(Index),
    /// Swap attributes `i` and `j`.
    Swap(Index, Index),
    /// Set attribute `i`'s type code.
    Code(Index, u8),
    /// Drop `n` octets from the end of attribute `i`'s value.
    Shorten(Index, u8),
    /// Append octets to attribute `i`'s value.
    Extend(Index, Vec<u8>),
    /// Attribute `i`'s Length field off by `d` from its value.
    AttrLen(Index, i8),
    /// Insert one of [`tricky`] at position `at`, with its class's flags OR `bits`.
    Insert(Index, Index, u8),
    /// Replace the attribute of the same type as one of [`tricky`] (insert it when absent).
    Replace(Index, u8),
    /// Withdrawn Routes or Total Path Attribute Length off by `d`.
    WithdrawnLen(i8),
    AttrsLen(i8),
    /// Append octets to the NLRI field, or to Withdrawn Routes.
    NlriTail(Vec<u8>),
    WithdrawnTail(Vec<u8>),
    /// Set the first octet (a prefix length) of the NLRI field.
    NlriFirstLen(u8),
    /// Move the NLRI to Withdrawn Routes (and back when empty).
    NlriToWithdrawn,
    /// Sort the attributes by type code, or reverse them.
    Sort,
    Reverse,
    /// XOR one octet of the serialized body (applied after the structural ones).
    Byte(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tricky_i = any::<Index>();
    let flag_xor = prop_oneof![
        Just(0x80u8),
        Just(0x40),
        Just(0x20),
        Just(0x10),
        Just(0x01),
        Just(0x0f),
        Just(0xc0),
        Just(0xa0),
        any::<u8>(),
    ];
    let code = prop_oneof![
        (1u8..=10),
        Just(14u8),
        Just(15),
        Just(16),
        Just(17),
        Just(18),
        Just(32),
        Just(35),
        Just(99),
        any::<u8>(),
    ];
    prop_oneof![
        4 => (any::<Index>(), flag_xor).prop_map(|(i, x)| Mutation::Flags(i, x)),
        2 => any::<Index>().prop_map(Mutation::Ext),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::Dup(i, j)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::Swap(i, j)),
        2 => (any::<Index>(), code).prop_map(|(i, c)| Mutation::Code(i, c)),
        2 => (any::<Index>(), 1u8..5).prop_map(|(i, n)| Mutation::Shorten(i, n)),
        2 => (any::<Index>(), vec(any::<u8>(), 1..5)).prop_map(|(i, v)| Mutation::Extend(i, v)),
        2 => (any::<Index>(), prop_oneof![Just(-1i8), Just(1), Just(-4), Just(4), any::<i8>()])
            .prop_map(|(i, d)| Mutation::AttrLen(i, d)),
        6 => (any::<Index>(), tricky_i.clone(), prop_oneof![4 => Just(0u8), 1 => any::<u8>()])
            .prop_map(|(at, t, b)| Mutation::Insert(at, t, b)),
        8 => (tricky_i, prop_oneof![6 => Just(0u8), 1 => Just(0x10), 1 => Just(0x0f), 1 => any::<u8>()])
            .prop_map(|(t, b)| Mutation::Replace(t, b)),
        1 => prop_oneof![Just(-1i8), Just(1), any::<i8>()].prop_map(Mutation::WithdrawnLen),
        1 => prop_oneof![Just(-1i8), Just(1), any::<i8>()].prop_map(Mutation::AttrsLen),
        2 => prop_oneof![
            Just(vec![0u8]),
            Just(vec![33u8]),
            Just(vec![24u8, 10]),
            Just(vec![32u8, 192, 0, 2, 1]),
            Just(vec![8u8, 10]),
            Just(vec![0xffu8]),
            vec(any::<u8>(), 1..4),
        ].prop_map(Mutation::NlriTail),
        1 => prop_oneof![Just(vec![0u8]), Just(vec![33u8]), Just(vec![24u8, 10]), vec(any::<u8>(), 1..4)]
            .prop_map(Mutation::WithdrawnTail),
        1 => prop_oneof![Just(0u8), Just(32), Just(33), Just(255), any::<u8>()].prop_map(Mutation::NlriFirstLen),
        1 => Just(Mutation::NlriToWithdrawn),
        1 => Just(Mutation::Sort),
        1 => Just(Mutation::Reverse),
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Byte(i, x)),
    ]
}

fn tricky_attr(t: &Index, bits: u8) -> RawAttr {
    let all = tricky();
    let (code, value) = all[t.index(all.len())].clone();
    let mut flags = class_flags(code) | bits;
    if value.len() > 255 {
        flags |= 0x10;
    }
    RawAttr {
        flags,
        code,
        value,
        len: None,
    }
}

/// Applies the structural mutations to `p`, then the byte ones to its body.
fn mutate(mut p: Parts, ms: &[Mutation]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for m in ms {
        let n = p.attrs.len();
        match m {
            Mutation::Flags(i, x) if n > 0 => p.attrs[i.index(n)].flags ^= x,
            Mutation::Ext(i) if n > 0 => {
                let a = &mut p.attrs[i.index(n)];
                if a.value.len() <= 255 || a.flags & 0x10 == 0 {
                    a.flags ^= 0x10;
                }
            }
            Mutation::Dup(i, j) if n > 0 => {
                let a = p.attrs[i.index(n)].clone();
                p.attrs.insert(j.index(n + 1), a);
            }
            Mutation::Remove(i) if n > 0 => {
                p.attrs.remove(i.index(n));
            }
            Mutation::Swap(i, j) if n > 0 => p.attrs.swap(i.index(n), j.index(n)),
            Mutation::Code(i, c) if n > 0 => p.attrs[i.index(n)].code = *c,
            Mutation::Shorten(i, k) if n > 0 => {
                let v = &mut p.attrs[i.index(n)].value;
                v.truncate(v.len().saturating_sub(usize::from(*k)));
            }
            Mutation::Extend(i, e) if n > 0 => p.attrs[i.index(n)].value.extend_from_slice(e),
            Mutation::AttrLen(i, d) if n > 0 => {
                let a = &mut p.attrs[i.index(n)];
                let max = if a.flags & 0x10 != 0 { 65535 } else { 255 };
                let l = (a.value.len() as i64 + i64::from(*d)).clamp(0, max);
                a.len = Some(l as u16);
            }
            Mutation::Insert(at, t, b) => {
                let a = tricky_attr(t, *b);
                p.attrs.insert(at.index(n + 1), a);
            }
            Mutation::Replace(t, b) => {
                let a = tricky_attr(t, *b);
                match p.attrs.iter().position(|x| x.code == a.code) {
                    Some(k) => p.attrs[k] = a,
                    None => p.attrs.push(a),
                }
            }
            Mutation::WithdrawnLen(d) => {
                let l = (p.withdrawn.len() as i64 + i64::from(*d)).clamp(0, 65535);
                p.wlen = Some(l as u16);
            }
            Mutation::AttrsLen(d) => p.alen = Some(*d as u16),
            Mutation::NlriTail(t) => p.nlri.extend_from_slice(t),
            Mutation::WithdrawnTail(t) => p.withdrawn.extend_from_slice(t),
            Mutation::NlriFirstLen(l) => {
                if let Some(x) = p.nlri.first_mut() {
                    *x = *l;
                }
            }
            Mutation::NlriToWithdrawn => {
                if p.nlri.is_empty() {
                    std::mem::swap(&mut p.nlri, &mut p.withdrawn);
                } else {
                    p.withdrawn.extend_from_slice(&p.nlri);
                }
            }
            Mutation::Sort => p.attrs.sort_by_key(|a| a.code),
            Mutation::Reverse => p.attrs.reverse(),
            Mutation::Byte(i, x) => bytes.push((*i, *x)),
            _ => {}
        }
    }
    // A lying Total Path Attribute Length is relative to the true one.
    if let Some(d) = p.alen {
        let mut q = p.clone();
        q.alen = None;
        let true_len = q.body().len() - 4 - q.withdrawn.len() - q.nlri.len();
        p.alen = Some((true_len as i64 + i64::from(d as i8)).clamp(0, 65535) as u16);
    }
    let mut b = p.body();
    for (i, x) in bytes {
        if !b.is_empty() {
            let k = i.index(b.len());
            b[k] ^= x;
        }
    }
    b
}

/// The seeds: UPDATE bodies with the context they were sent on.
struct Seeds {
    /// The generated table, as sent to an external peer.
    table: Vec<Vec<u8>>,
    /// The first UPDATEs of the real stream (an internal session from a route reflector).
    real: Vec<Vec<u8>>,
    real_ctx: SessionContext,
}

fn seeds() -> &'static Seeds {
    static S: OnceLock<Seeds> = OnceLock::new();
    S.get_or_init(|| {
        let t = bgpd::tablegen::internet_table(
            &bgpd::tablegen::TableSpec::new(3_000, 900),
            &table_ctx(false),
        )
        .unwrap();
        let table = t
            .messages
            .iter()
            .map(|m| m[HEADER_LEN..].to_vec())
            .collect();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/mrt/bgpdump/updates.et-header.2015.gz"
        );
        let r = bgpd::mrt::MrtReader::open(path).unwrap();
        let (mut real, mut real_ctx) = (Vec::new(), None);
        for (msg, ctx) in r.update_messages().map(Result::unwrap) {
            if UpdateView::parse_message(&msg, &ctx).is_some() {
                real.push(msg[HEADER_LEN..].to_vec());
                real_ctx.get_or_insert(ctx);
            }
            if real.len() == 3_000 {
                break;
            }
        }
        Seeds {
            table,
            real,
            real_ctx: real_ctx.unwrap(),
        }
    })
}

fn table_ctx(ibgp: bool) -> SessionContext {
    SessionContext {
        ibgp,
        ..SessionContext::modern()
    }
}

/// A seed body (`real`: of the stream, else of the table) and its context.
fn seed(real: bool, i: &Index) -> (Vec<u8>, SessionContext) {
    let s = seeds();
    if real {
        (s.real[i.index(s.real.len())].clone(), s.real_ctx.clone())
    } else {
        (s.table[i.index(s.table.len())].clone(), table_ctx(false))
    }
}

/// Checks the view of `msg` against the decode: `Ok(true)` when the view took it.
fn check_one(msg: &[u8], ctx: &SessionContext) -> Result<bool, TestCaseError> {
    view_agrees_with_decode(msg, ctx).map_err(TestCaseError::fail)
}

/// Feeds `bodies` to a RIB by the view (the decode where the view declines) and to a RIB by
/// the decode; equal after each.
fn check_ribs(bodies: &[Vec<u8>], ctx: &SessionContext) -> Result<usize, TestCaseError> {
    let mut info = if ctx.ibgp {
        peer(1, [10, 0, 0, 3], [10, 0, 0, 254], LOCAL_AS)
    } else {
        peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 64_700)
    };
    info.ctx = ctx.clone();
    let mut by_view = rib();
    let mut by_decode = rib();
    by_view.peer_up(info.clone()).unwrap();
    by_decode.peer_up(info).unwrap();
    let mut taken = 0;
    for b in bodies {
        let msg = update_message(b);
        let d = decode_message(&msg, ctx);
        let u: Option<Update> = match d.message {
            Some(Message::Update(u)) => Some(u),
            _ => None,
        };
        if let Some(u) = &u {
            by_decode.apply_update(PeerId(1), u, &d.outcome).unwrap();
        }
        match UpdateView::parse_message(&msg, ctx) {
            Some(v) => {
                taken += 1;
                by_view.apply_update_view(PeerId(1), &v).unwrap();
            }
            None => {
                if let Some(u) = &u {
                    by_view.apply_update(PeerId(1), u, &d.outcome).unwrap();
                }
            }
        }
        prop_assert_eq!(
            rib_state(&by_view),
            rib_state(&by_decode),
            "after {}",
            hex::encode(&msg)
        );
    }
    Ok(taken)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Mutations of a real or generated UPDATE: whatever the view takes, the decode accepts
    /// unchanged, with the same prefixes and canonical attribute octets.
    #[test]
    fn the_view_of_a_mutated_update_agrees_with_the_decode(
        real in any::<bool>(), i in any::<Index>(), ms in vec(mutation(), 1..4),
        ibgp_flip in proptest::bool::weighted(0.2),
        two_octet in proptest::bool::weighted(0.05),
        add_path in proptest::bool::weighted(0.05),
    ) {
        let (body, mut ctx) = seed(real, &i);
        let parts = Parts::parse(&body).unwrap();
        let b = mutate(parts, &ms);
        if ibgp_flip {
            ctx.ibgp = !ctx.ibgp;
        }
        ctx.four_octet_as &= !two_octet;
        if add_path {
            ctx.add_path_receive = vec![AfiSafi::IPV4_UNICAST];
        }
        check_one(&update_message(&b), &ctx)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// A RIB fed views of mutated UPDATEs (and the decode where the view declines) equals a
    /// RIB fed the decoded UPDATEs, after each UPDATE; some UPDATEs are unmutated seeds so
    /// that routes exist to be replaced and withdrawn.
    #[test]
    fn a_rib_fed_views_of_mutated_updates_equals_a_rib_fed_the_decode(
        real in any::<bool>(), ibgp_flip in proptest::bool::weighted(0.3),
        steps in vec((any::<Index>(), vec(mutation(), 0..3)), 1..8),
    ) {
        let mut ctx = if real { seeds().real_ctx.clone() } else { table_ctx(false) };
        if ibgp_flip {
            ctx.ibgp = !ctx.ibgp;
        }
        let bodies: Vec<Vec<u8>> = steps
            .iter()
            .map(|(i, ms)| mutate(Parts::parse(&seed(real, i).0).unwrap(), ms))
            .collect();
        check_ribs(&bodies, &ctx)?;
    }
}

/// The seeds themselves: every one is taken by the view and agrees with the decode, and a
/// RIB fed them by the view equals one fed by the decode.
#[test]
fn the_unmutated_seeds_agree() {
    let s = seeds();
    assert!(s.table.len() > 100, "{} table UPDATEs", s.table.len());
    assert_eq!(s.real.len(), 3_000);
    for b in &s.table {
        assert!(check_one(&update_message(b), &table_ctx(false)).unwrap());
    }
    for b in &s.real {
        assert!(check_one(&update_message(b), &s.real_ctx).unwrap());
    }
    assert_eq!(check_ribs(&s.real[..40], &s.real_ctx).unwrap(), 40);
}

/// The mutations reach both paths: a fair share of mutated UPDATEs is still taken by the view
/// (so the property tests something), and most are not.
#[test]
fn the_mutations_reach_both_paths() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (any::<bool>(), any::<Index>(), vec(mutation(), 1..4));
    let (mut taken, n) = (0, 2000);
    for _ in 0..n {
        let (real, i, ms) = strategy.new_tree(&mut runner).unwrap().current();
        let (body, ctx) = seed(real, &i);
        let b = mutate(Parts::parse(&body).unwrap(), &ms);
        if UpdateView::parse_message(&update_message(&b), &ctx).is_some() {
            taken += 1;
        }
    }
    assert!(taken > n / 10 && taken < n * 9 / 10, "{taken} of {n} taken");
}
