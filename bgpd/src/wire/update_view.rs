//! An UPDATE (RFC 4271 section 4.3) read in place: the fast path for the common UPDATE, the
//! one that needs no RFC 7606 action.
//!
//! [`UpdateView::parse`] walks the body once, checks it, and keeps where each field is and
//! the few attribute values the RIB needs; it builds no [`Update`](super::Update) and
//! allocates nothing. It accepts only an UPDATE whose decode would be `Outcome::Accept` with
//! every attribute kept as received, and returns `None` for anything else: then
//! [`decode_message`](super::decode_message) decides, with every RFC 7606 outcome. So the view
//! never decides an error itself.
//!
//! What the view takes (everything else is `None`):
//! - a session with 4-octet ASNs (RFC 6793) and no ADD-PATH receive for IPv4 unicast;
//! - Withdrawn Routes and NLRI that are syntactically correct IPv4 prefixes;
//! - attributes ORIGIN, AS_PATH, NEXT_HOP, MULTI_EXIT_DISC, ATOMIC_AGGREGATE, AGGREGATOR,
//!   COMMUNITIES, EXTENDED_COMMUNITIES, LARGE_COMMUNITY, and LOCAL_PREF, ORIGINATOR_ID and
//!   CLUSTER_LIST from an internal peer (from an external one they are discarded, RFC 7606
//!   sections 7.5, 7.9, 7.10: not the view's case), each once, with flags that agree with its
//!   type and a well-formed value;
//! - with NLRI: ORIGIN, AS_PATH and NEXT_HOP present (RFC 7606 section 3 d), a NEXT_HOP that
//!   is a host address (RFC 4271 section 6.3), and from an external peer a non-empty AS_PATH
//!   (RFC 7606 section 7.2).
//!
//! For such an UPDATE the canonical encoding of its attribute set (see `rib::attrs`) is the
//! Path Attributes field as received with the low four bits of each flags octet cleared:
//! [`UpdateView::canonical_attributes`].

use super::attribute::{as_path, class_of, communities, origin, simple, type_code, AttrFlags};
use super::context::SessionContext;
use super::header::{check_header, MessageType, HEADER_LEN};
use super::nlri::read_v4;
use super::prefix::Ipv4Prefix;
use super::types::{AfiSafi, Asn};
use super::update::Update;
use serde::Serialize;
use std::net::Ipv4Addr;

/// Where the fields of a checked UPDATE body are, and the values the RIB needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Withdrawn Routes: start and end offsets in the body.
    withdrawn: (usize, usize),
    /// Path Attributes.
    attributes: (usize, usize),
    /// NLRI (to the end of the body).
    nlri: usize,
    /// Prefix counts of Withdrawn Routes and NLRI.
    withdrawn_n: usize,
    announced_n: usize,
    /// The AS_PATH value.
    as_path: Option<(usize, usize)>,
    path: as_path::PathSummary,
    origin: Option<u8>,
    next_hop: Option<Ipv4Addr>,
    med: Option<u32>,
    local_pref: Option<u32>,
    originator_id: Option<Ipv4Addr>,
    /// The CLUSTER_LIST value.
    cluster_list: Option<(usize, usize)>,
    /// Some flags octet has one of its low four bits set (ignored on receipt, RFC 4271
    /// section 4.3, and cleared in the canonical encoding).
    low_flag_bits: bool,
}

/// A checked UPDATE body, read in place (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateView<'a> {
    body: &'a [u8],
    l: Layout,
}

/// The attribute types the view takes (a bit per type code below 64).
const TAKEN: u64 = 1 << type_code::ORIGIN
    | 1 << type_code::AS_PATH
    | 1 << type_code::NEXT_HOP
    | 1 << type_code::MULTI_EXIT_DISC
    | 1 << type_code::LOCAL_PREF
    | 1 << type_code::ATOMIC_AGGREGATE
    | 1 << type_code::AGGREGATOR
    | 1 << type_code::COMMUNITIES
    | 1 << type_code::EXTENDED_COMMUNITIES
    | 1 << type_code::LARGE_COMMUNITY
    | 1 << type_code::ORIGINATOR_ID
    | 1 << type_code::CLUSTER_LIST;

/// The attribute types that an external peer's UPDATE must not carry for the view (RFC 7606
/// sections 7.5, 7.9, 7.10: the decode discards them).
const INTERNAL_ONLY: u64 =
    1 << type_code::LOCAL_PREF | 1 << type_code::ORIGINATOR_ID | 1 << type_code::CLUSTER_LIST;

fn split_len(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let l = b.get(at..at + 2)?;
    let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
    let end = at + 2 + len;
    (end <= b.len()).then_some((at + 2, end))
}

/// Whether a whole IPv4 prefix field is syntactically correct; its prefix count.
fn check_prefixes(mut buf: &[u8]) -> Option<usize> {
    let mut n = 0;
    while !buf.is_empty() {
        buf = read_v4(buf).ok()?.1;
        n += 1;
    }
    Some(n)
}

impl<'a> UpdateView<'a> {
    /// Views a whole framed message (19-octet header and body): `None` unless the header is
    /// valid for `ctx`, the message is an UPDATE of exactly `msg.len()` octets, and
    /// [`UpdateView::parse`] takes its body.
    pub fn parse_message(msg: &'a [u8], ctx: &SessionContext) -> Option<Self> {
        let h = check_header(msg, ctx).ok()?;
        if h.kind != MessageType::Update || h.length != msg.len() {
            return None;
        }
        Self::parse(msg.get(HEADER_LEN..)?, ctx)
    }

    /// Views an UPDATE body (after the header) received on a session with context `ctx`:
    /// `None` when the body is not one the view takes (see the module documentation).
    pub fn parse(body: &'a [u8], ctx: &SessionContext) -> Option<Self> {
        if !ctx.four_octet_as || ctx.receives_path_id(AfiSafi::IPV4_UNICAST) {
            return None;
        }
        let withdrawn = split_len(body, 0)?;
        let attributes = split_len(body, withdrawn.1)?;
        let nlri = attributes.1;
        let withdrawn_n = check_prefixes(body.get(withdrawn.0..withdrawn.1)?)?;
        let announced_n = check_prefixes(body.get(nlri..)?)?;
        let mut l = Layout {
            withdrawn,
            attributes,
            nlri,
            withdrawn_n,
            announced_n,
            as_path: None,
            path: as_path::PathSummary::default(),
            origin: None,
            next_hop: None,
            med: None,
            local_pref: None,
            originator_id: None,
            cluster_list: None,
            low_flag_bits: false,
        };
        let mut seen = 0u64;
        let mut at = attributes.0;
        while at < attributes.1 {
            let (flags, code, len, hdr) = match *body.get(at..attributes.1)? {
                [f, c, l, ..] if f & AttrFlags::EXTENDED_LENGTH == 0 => (f, c, usize::from(l), 3),
                [f, c, l0, l1, ..] => (f, c, usize::from(u16::from_be_bytes([l0, l1])), 4),
                _ => return None,
            };
            let start = at + hdr;
            let end = start + len;
            let value = body.get(start..end.min(attributes.1))?;
            if end > attributes.1 || code >= 64 {
                return None;
            }
            let bit = 1u64 << code;
            if TAKEN & bit == 0 || seen & bit != 0 {
                return None;
            }
            if INTERNAL_ONLY & bit != 0 && !ctx.ibgp {
                return None;
            }
            seen |= bit;
            l.low_flag_bits |= flags & 0x0f != 0;
            if !class_of(code)?.accepts(AttrFlags(flags & 0xf0)) {
                return None;
            }
            match code {
                type_code::ORIGIN => l.origin = Some(origin::decode(value).ok()?.code()),
                type_code::AS_PATH => {
                    let s = as_path::summary(value).ok()?;
                    // From an external peer a confederation segment is an error the
                    // decode handles (RFC 5065 section 5, treat-as-withdraw).
                    if s.has_as0 || (s.has_confed && !ctx.ibgp) {
                        return None;
                    }
                    l.path = s;
                    l.as_path = Some((start, end));
                }
                type_code::NEXT_HOP => l.next_hop = Some(simple::decode_next_hop(value).ok()?),
                type_code::MULTI_EXIT_DISC => l.med = Some(simple::decode_med(value).ok()?),
                type_code::LOCAL_PREF => {
                    l.local_pref = Some(simple::decode_local_pref(value).ok()?)
                }
                type_code::ATOMIC_AGGREGATE => simple::decode_atomic_aggregate(value).ok()?,
                type_code::AGGREGATOR => {
                    simple::decode_aggregator(value, true).ok()?;
                }
                type_code::COMMUNITIES => communities::check_communities(value).ok()?,
                type_code::EXTENDED_COMMUNITIES => communities::check_extended(value).ok()?,
                type_code::LARGE_COMMUNITY => communities::check_large(value).ok()?,
                type_code::ORIGINATOR_ID => {
                    l.originator_id = Some(simple::decode_originator_id(value).ok()?)
                }
                type_code::CLUSTER_LIST => {
                    simple::check_cluster_list(value).ok()?;
                    l.cluster_list = Some((start, end));
                }
                _ => return None,
            }
            at = end;
        }
        if announced_n > 0 {
            // RFC 7606 section 3 d, RFC 4271 section 6.3, RFC 7606 section 7.2: the decode
            // treats these as withdrawn; the view leaves them to it.
            let nh = l.next_hop?;
            l.origin?;
            l.as_path?;
            let empty_path = l.as_path.is_some_and(|(s, e)| s == e);
            if super::attribute::is_martian_next_hop(nh) || (!ctx.ibgp && empty_path) {
                return None;
            }
        }
        Some(UpdateView { body, l })
    }

    /// The withdrawn IPv4 prefixes.
    pub fn withdrawn(&self) -> Ipv4Prefixes<'a> {
        Ipv4Prefixes(
            self.body
                .get(self.l.withdrawn.0..self.l.withdrawn.1)
                .unwrap_or(&[]),
        )
    }

    /// The announced IPv4 prefixes (the NLRI field).
    pub fn nlri(&self) -> Ipv4Prefixes<'a> {
        Ipv4Prefixes(self.body.get(self.l.nlri..).unwrap_or(&[]))
    }

    /// Number of withdrawn prefixes.
    pub fn withdrawn_count(&self) -> usize {
        self.l.withdrawn_n
    }

    /// Number of announced prefixes.
    pub fn announced_count(&self) -> usize {
        self.l.announced_n
    }

    /// Whether this is the End-of-RIB marker of IPv4 unicast (RFC 4724 section 2): no
    /// withdrawal, no attribute, no NLRI.
    pub fn is_end_of_rib(&self) -> bool {
        self.l.withdrawn.0 == self.l.withdrawn.1
            && self.l.attributes.0 == self.l.attributes.1
            && self.l.nlri == self.body.len()
    }

    /// The Path Attributes field as received.
    pub(crate) fn attribute_octets(&self) -> &'a [u8] {
        self.body
            .get(self.l.attributes.0..self.l.attributes.1)
            .unwrap_or(&[])
    }

    /// The canonical encoding of the attribute set into `out` (cleared first): the field as
    /// received with the low four bits of every flags octet cleared. Returns `out`'s
    /// contents, or the received field itself when no bit needed clearing.
    pub(crate) fn canonical_attributes<'b>(&self, out: &'b mut Vec<u8>) -> &'b [u8]
    where
        'a: 'b,
    {
        let raw = self.attribute_octets();
        if !self.l.low_flag_bits {
            return raw;
        }
        out.clear();
        out.extend_from_slice(raw);
        let mut at = 0;
        while let Some(&[f, _, l0, ..]) = out.get(at..at + 3) {
            let (len, hdr) = if f & AttrFlags::EXTENDED_LENGTH == 0 {
                (usize::from(l0), 3)
            } else {
                match out.get(at + 3) {
                    Some(&l1) => (usize::from(u16::from_be_bytes([l0, l1])), 4),
                    None => break,
                }
            };
            out[at] = f & 0xf0;
            at += hdr + len;
        }
        out
    }

    /// The AS_PATH value (4-octet ASNs), when present.
    pub(crate) fn as_path_octets(&self) -> Option<&'a [u8]> {
        self.l.as_path.and_then(|(s, e)| self.body.get(s..e))
    }

    /// Whether the AS_PATH holds `asn` (RFC 4271 section 9.1.2 loop check).
    pub(crate) fn as_path_contains(&self, asn: Asn) -> bool {
        self.as_path_octets()
            .is_some_and(|v| as_path::contains_raw(v, asn))
    }

    /// The AS path length for route selection (RFC 4271 section 9.1.2.2 a), 0 without AS_PATH.
    pub(crate) fn as_path_selection_len(&self) -> usize {
        self.l.path.selection_len
    }

    /// The leftmost ASN of a leading AS_SEQUENCE (the neighbour AS).
    pub(crate) fn first_asn(&self) -> Option<Asn> {
        self.l.path.first_asn
    }

    /// The ORIGIN code.
    pub(crate) fn origin_code(&self) -> Option<u8> {
        self.l.origin
    }

    /// NEXT_HOP.
    pub(crate) fn next_hop(&self) -> Option<Ipv4Addr> {
        self.l.next_hop
    }

    /// MULTI_EXIT_DISC.
    pub(crate) fn med(&self) -> Option<u32> {
        self.l.med
    }

    /// LOCAL_PREF (internal peers only).
    pub(crate) fn local_pref(&self) -> Option<u32> {
        self.l.local_pref
    }

    /// ORIGINATOR_ID (internal peers only).
    pub(crate) fn originator_id(&self) -> Option<Ipv4Addr> {
        self.l.originator_id
    }

    /// Number of CLUSTER_IDs in the CLUSTER_LIST (internal peers only), 0 without one.
    pub(crate) fn cluster_len(&self) -> usize {
        self.l.cluster_list.map_or(0, |(s, e)| (e - s) / 4)
    }

    /// Whether the CLUSTER_LIST holds `id` (RFC 4456 section 8 loop check).
    pub(crate) fn cluster_list_contains(&self, id: Ipv4Addr) -> bool {
        let want = id.octets();
        self.l
            .cluster_list
            .and_then(|(s, e)| self.body.get(s..e))
            .is_some_and(|v| v.chunks_exact(4).any(|c| c == want))
    }
}

impl UpdateView<'_> {
    /// The owned form (the body copied once), for a queue of events.
    pub fn to_received(&self) -> ReceivedUpdate {
        ReceivedUpdate {
            body: self.body.into(),
            l: self.l,
        }
    }
}

/// An owned [`UpdateView`]: a checked UPDATE body and where its fields are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedUpdate {
    body: Box<[u8]>,
    l: Layout,
}

impl ReceivedUpdate {
    /// The view of the body.
    pub fn view(&self) -> UpdateView<'_> {
        UpdateView {
            body: &self.body,
            l: self.l,
        }
    }

    /// The decoded form: what [`decode_message`](super::decode_message) gives for the same
    /// body, with `Outcome::Accept` (the only outcome of an UPDATE a view takes).
    pub fn to_update(&self) -> Update {
        // 4-octet ASNs as the view requires; internal, so that nothing is discarded (a view
        // of an external peer's UPDATE holds no LOCAL_PREF and no empty AS_PATH).
        let ctx = SessionContext {
            four_octet_as: true,
            ibgp: true,
            ..SessionContext::new()
        };
        super::update::decode(&self.body, &ctx)
            .0
            .unwrap_or_default()
    }
}

impl Serialize for ReceivedUpdate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_update().serialize(s)
    }
}

/// The IPv4 prefixes of a checked Withdrawn Routes or NLRI field, in order.
#[derive(Debug, Clone)]
pub struct Ipv4Prefixes<'a>(&'a [u8]);

impl Iterator for Ipv4Prefixes<'_> {
    type Item = Ipv4Prefix;

    #[inline]
    fn next(&mut self) -> Option<Ipv4Prefix> {
        if self.0.is_empty() {
            return None;
        }
        match read_v4(self.0) {
            Ok((p, rest)) => {
                self.0 = rest;
                Some(p)
            }
            // Checked when the view was made; a broken field ends the list.
            Err(_) => {
                self.0 = &[];
                None
            }
        }
    }
}
