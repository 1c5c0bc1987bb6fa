//! Path attributes (RFC 4271 sections 4.3 and 5) with RFC 7606 error handling.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attr. Flags  |Attr. Type Code|   then Attribute Length: 1 octet, or 2 octets
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   when the Extended Length flag is set
//!  O T P E 0 0 0 0
//! ```
//!
//! Decoding keeps the received order and flags (so that re-encoding reproduces the bytes),
//! decodes every attribute this codec knows, and keeps the others as opaque bytes with their
//! flags. The low four flag bits are ignored on receipt and sent as zero (RFC 4271 section 4.3).

pub mod as_path;
pub mod communities;
pub mod mp;
pub(crate) mod opaque;
pub mod origin;
pub mod simple;

pub use as_path::{AsPath, AsSegment, SegmentType};
pub use communities::{Community, ExtendedCommunity, Ipv6ExtendedCommunity, LargeCommunity};
pub use mp::{MpNextHop, MpNlri, MpReach, MpUnreach};
pub use origin::Origin;
pub use simple::{is_martian_next_hop, Aggregator};

use super::context::SessionContext;
use super::error::{update_subcode, NotificationError};
use super::types::Asn;
use serde::Serialize;
use std::borrow::Cow;
use std::net::Ipv4Addr;

/// Attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED_COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// PMSI_TUNNEL (RFC 6514).
    pub const PMSI_TUNNEL: u8 = 22;
    /// Tunnel Encapsulation (RFC 9012).
    pub const TUNNEL_ENCAPSULATION: u8 = 23;
    /// IPv6 Address Specific Extended Community (RFC 5701).
    pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
    /// AIGP (RFC 7311).
    pub const AIGP: u8 = 26;
    /// BGP-LS Attribute (RFC 9552).
    pub const BGP_LS: u8 = 29;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;
    /// OTC, Only to Customer (RFC 9234).
    pub const OTC: u8 = 35;
    /// Next Hop Dependent Characteristics (draft-ietf-idr-entropy-label).
    pub const NHC: u8 = 39;
    /// BGP Prefix-SID (RFC 8669).
    pub const PREFIX_SID: u8 = 40;
}

/// The Attribute Flags octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AttrFlags(pub u8);

impl AttrFlags {
    /// Optional bit (0x80).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive bit (0x40).
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial bit (0x20).
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length bit (0x10).
    pub const EXTENDED_LENGTH: u8 = 0x10;
    /// Well-known attributes: transitive, not optional.
    pub const WELL_KNOWN: AttrFlags = AttrFlags(0x40);
    /// Optional transitive.
    pub const OPTIONAL_TRANSITIVE: AttrFlags = AttrFlags(0xc0);
    /// Optional non-transitive.
    pub const OPTIONAL_NON_TRANSITIVE: AttrFlags = AttrFlags(0x80);

    /// Whether the Optional bit is set.
    pub fn optional(self) -> bool {
        self.0 & Self::OPTIONAL != 0
    }
    /// Whether the Transitive bit is set.
    pub fn transitive(self) -> bool {
        self.0 & Self::TRANSITIVE != 0
    }
    /// Whether the Partial bit is set.
    pub fn partial(self) -> bool {
        self.0 & Self::PARTIAL != 0
    }
    /// Whether the Extended Length bit is set.
    pub fn extended_length(self) -> bool {
        self.0 & Self::EXTENDED_LENGTH != 0
    }
}

impl Serialize for AttrFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:02x}", self.0))
    }
}

/// A path attribute value. Unknown attributes (and known ones this codec does not decode) are
/// [`AttributeValue::Opaque`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttributeValue {
    /// ORIGIN (1).
    Origin(Origin),
    /// AS_PATH (2); ASN width per the session (RFC 6793).
    AsPath(AsPath),
    /// NEXT_HOP (3).
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC (4).
    MultiExitDisc(u32),
    /// LOCAL_PREF (5).
    LocalPref(u32),
    /// ATOMIC_AGGREGATE (6).
    AtomicAggregate,
    /// AGGREGATOR (7); ASN width per the session.
    Aggregator(Aggregator),
    /// COMMUNITIES (8).
    Communities(Vec<Community>),
    /// ORIGINATOR_ID (9).
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST (10).
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI (14).
    MpReach(MpReach),
    /// MP_UNREACH_NLRI (15).
    MpUnreach(MpUnreach),
    /// EXTENDED_COMMUNITIES (16).
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH (17), always 4-octet ASNs.
    As4Path(AsPath),
    /// AS4_AGGREGATOR (18).
    As4Aggregator(Aggregator),
    /// IPv6 Address Specific Extended Community (25).
    Ipv6ExtendedCommunities(Vec<Ipv6ExtendedCommunity>),
    /// LARGE_COMMUNITY (32).
    LargeCommunities(Vec<LargeCommunity>),
    /// OTC (35).
    Otc(Asn),
    /// Any other attribute, kept byte-exact.
    Opaque {
        /// The type code.
        type_code: u8,
        /// The value octets.
        #[serde(serialize_with = "crate::wire::error::ser_hex")]
        value: Vec<u8>,
    },
}

impl AttributeValue {
    /// The attribute type code.
    pub fn type_code(&self) -> u8 {
        use type_code::*;
        match self {
            AttributeValue::Origin(_) => ORIGIN,
            AttributeValue::AsPath(_) => AS_PATH,
            AttributeValue::NextHop(_) => NEXT_HOP,
            AttributeValue::MultiExitDisc(_) => MULTI_EXIT_DISC,
            AttributeValue::LocalPref(_) => LOCAL_PREF,
            AttributeValue::AtomicAggregate => ATOMIC_AGGREGATE,
            AttributeValue::Aggregator(_) => AGGREGATOR,
            AttributeValue::Communities(_) => COMMUNITIES,
            AttributeValue::OriginatorId(_) => ORIGINATOR_ID,
            AttributeValue::ClusterList(_) => CLUSTER_LIST,
            AttributeValue::MpReach(_) => MP_REACH_NLRI,
            AttributeValue::MpUnreach(_) => MP_UNREACH_NLRI,
            AttributeValue::ExtendedCommunities(_) => EXTENDED_COMMUNITIES,
            AttributeValue::As4Path(_) => AS4_PATH,
            AttributeValue::As4Aggregator(_) => AS4_AGGREGATOR,
            AttributeValue::Ipv6ExtendedCommunities(_) => IPV6_EXTENDED_COMMUNITIES,
            AttributeValue::LargeCommunities(_) => LARGE_COMMUNITY,
            AttributeValue::Otc(_) => OTC,
            AttributeValue::Opaque { type_code, .. } => *type_code,
        }
    }
}

/// The flag class a known attribute type must carry (RFC 7606 section 3 c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    WellKnown,
    OptionalTransitive,
    OptionalNonTransitive,
}

/// The class of the attribute types this codec recognizes; `None` for unrecognized types.
pub(crate) fn class_of(code: u8) -> Option<Class> {
    use type_code::*;
    Some(match code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => Class::WellKnown,
        AGGREGATOR
        | COMMUNITIES
        | EXTENDED_COMMUNITIES
        | AS4_PATH
        | AS4_AGGREGATOR
        | PMSI_TUNNEL
        | TUNNEL_ENCAPSULATION
        | IPV6_EXTENDED_COMMUNITIES
        | LARGE_COMMUNITY
        | OTC
        | NHC
        | PREFIX_SID => Class::OptionalTransitive,
        MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI | AIGP
        | BGP_LS => Class::OptionalNonTransitive,
        _ => return None,
    })
}

impl Class {
    fn flags(self) -> AttrFlags {
        match self {
            Class::WellKnown => AttrFlags::WELL_KNOWN,
            Class::OptionalTransitive => AttrFlags::OPTIONAL_TRANSITIVE,
            Class::OptionalNonTransitive => AttrFlags::OPTIONAL_NON_TRANSITIVE,
        }
    }

    /// Whether `flags` agree with the class: Optional and Transitive bits as specified, and the
    /// Partial bit clear unless optional transitive (RFC 4271 section 4.3).
    pub(crate) fn accepts(self, flags: AttrFlags) -> bool {
        let ot = flags.0 & (AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE);
        match self {
            Class::OptionalTransitive => ot == 0xc0,
            _ => ot == self.flags().0 && !flags.partial(),
        }
    }
}

/// One path attribute: flags as received (or defaults) and the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PathAttribute {
    /// The flags octet. Encoding recomputes the Extended Length bit when the value needs it
    /// (keeping it when set) and clears the low four bits.
    pub flags: AttrFlags,
    /// The value.
    pub value: AttributeValue,
}

impl PathAttribute {
    /// An attribute with the flags its type specifies (optional/transitive per RFC; opaque
    /// values get optional transitive).
    pub fn new(value: AttributeValue) -> Self {
        let flags =
            class_of(value.type_code()).map_or(AttrFlags::OPTIONAL_TRANSITIVE, Class::flags);
        PathAttribute { flags, value }
    }

    /// The type code.
    pub fn type_code(&self) -> u8 {
        self.value.type_code()
    }
}

/// The path attributes of an UPDATE: in wire order, at most one per type code (RFC 7606
/// section 3 g: later repetitions are dropped on decode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct PathAttributes(Vec<PathAttribute>);

impl PathAttributes {
    /// No attributes.
    pub fn new() -> Self {
        PathAttributes(Vec::new())
    }

    /// From a list; later attributes with a type code already present are dropped.
    pub fn from_vec(v: Vec<PathAttribute>) -> Self {
        let mut out = PathAttributes(Vec::with_capacity(v.len()));
        for a in v {
            if out.get(a.type_code()).is_none() {
                out.0.push(a);
            }
        }
        out
    }

    /// The attributes in order.
    pub fn iter(&self) -> std::slice::Iter<'_, PathAttribute> {
        self.0.iter()
    }

    /// The attributes as a slice.
    pub fn as_slice(&self) -> &[PathAttribute] {
        &self.0
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no attribute.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attribute with this type code.
    pub fn get(&self, code: u8) -> Option<&PathAttribute> {
        self.0.iter().find(|a| a.type_code() == code)
    }

    /// Sets the next hop of a route of `prefix` that this speaker originates: NEXT_HOP (type
    /// 3) for an IPv4 prefix, the next hop of an MP_REACH_NLRI without NLRI for an IPv6 one
    /// (RFC 4760 section 3; RFC 2545 section 3: the global address). Returns false and sets
    /// nothing when `next_hop` is not of the prefix's family.
    pub fn set_originated_next_hop(
        &mut self,
        prefix: &crate::wire::Prefix,
        next_hop: std::net::IpAddr,
    ) -> bool {
        use crate::wire::{AfiSafi, Prefix};
        use std::net::IpAddr;
        match (prefix, next_hop) {
            (Prefix::V4(_), IpAddr::V4(a)) => self.set(AttributeValue::NextHop(a)),
            (Prefix::V6(_), IpAddr::V6(a)) => self.set(AttributeValue::MpReach(MpReach {
                afi_safi: AfiSafi::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 {
                    global: a,
                    link_local: None,
                },
                nlri: MpNlri::Prefixes(Vec::new()),
            })),
            _ => return false,
        }
        true
    }

    /// The value of the attribute with this type code.
    pub fn value(&self, code: u8) -> Option<&AttributeValue> {
        self.get(code).map(|a| &a.value)
    }

    /// Inserts or replaces (keeping position) the attribute of the same type code.
    pub fn insert(&mut self, attr: PathAttribute) {
        let code = attr.type_code();
        match self.0.iter_mut().find(|a| a.type_code() == code) {
            Some(slot) => *slot = attr,
            None => self.0.push(attr),
        }
    }

    /// Inserts a value with default flags (see [`PathAttribute::new`]).
    pub fn set(&mut self, value: AttributeValue) {
        self.insert(PathAttribute::new(value));
    }

    /// Removes and returns the attribute with this type code.
    pub fn remove(&mut self, code: u8) -> Option<PathAttribute> {
        let i = self.0.iter().position(|a| a.type_code() == code)?;
        Some(self.0.remove(i))
    }

    /// Sorts the attributes by type code (RFC 4271 section 5: senders SHOULD order them so).
    pub fn sort(&mut self) {
        self.0.sort_by_key(|a| a.type_code());
    }

    /// ORIGIN.
    pub fn origin(&self) -> Option<Origin> {
        match self.value(type_code::ORIGIN)? {
            AttributeValue::Origin(o) => Some(*o),
            _ => None,
        }
    }

    /// AS_PATH as received (see [`PathAttributes::effective_as_path`] for the RFC 6793 merge).
    pub fn as_path(&self) -> Option<&AsPath> {
        match self.value(type_code::AS_PATH)? {
            AttributeValue::AsPath(p) => Some(p),
            _ => None,
        }
    }

    /// AS4_PATH.
    pub fn as4_path(&self) -> Option<&AsPath> {
        match self.value(type_code::AS4_PATH)? {
            AttributeValue::As4Path(p) => Some(p),
            _ => None,
        }
    }

    /// The route's AS path: AS_PATH merged with AS4_PATH per RFC 6793 section 4.2.3 when
    /// AS4_PATH is present (it only is on 2-octet sessions; on 4-octet sessions it is discarded
    /// at decode), else AS_PATH.
    ///
    /// "If the AGGREGATOR attribute carries a 2-octet AS number other than AS_TRANS, then the
    /// AS4_AGGREGATOR and AS4_PATH attributes SHALL be ignored": the AS_PATH is then used alone.
    pub fn effective_as_path(&self) -> Option<AsPath> {
        let p = self.as_path()?;
        let aggregator_overrides = matches!(
            self.value(type_code::AGGREGATOR),
            Some(AttributeValue::Aggregator(a)) if a.asn != Asn::TRANS
        );
        Some(match self.as4_path() {
            Some(p4) if !aggregator_overrides => p.merge_as4(p4),
            _ => p.clone(),
        })
    }

    /// The route's aggregator: AS4_AGGREGATOR when AGGREGATOR carries AS_TRANS (RFC 6793
    /// section 4.2.3), else AGGREGATOR.
    pub fn effective_aggregator(&self) -> Option<Aggregator> {
        let agg = match self.value(type_code::AGGREGATOR)? {
            AttributeValue::Aggregator(a) => *a,
            _ => return None,
        };
        if agg.asn == Asn::TRANS {
            if let Some(AttributeValue::As4Aggregator(a4)) = self.value(type_code::AS4_AGGREGATOR) {
                return Some(*a4);
            }
        }
        Some(agg)
    }

    /// NEXT_HOP.
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        match self.value(type_code::NEXT_HOP)? {
            AttributeValue::NextHop(a) => Some(*a),
            _ => None,
        }
    }

    /// MULTI_EXIT_DISC.
    pub fn med(&self) -> Option<u32> {
        match self.value(type_code::MULTI_EXIT_DISC)? {
            AttributeValue::MultiExitDisc(v) => Some(*v),
            _ => None,
        }
    }

    /// LOCAL_PREF.
    pub fn local_pref(&self) -> Option<u32> {
        match self.value(type_code::LOCAL_PREF)? {
            AttributeValue::LocalPref(v) => Some(*v),
            _ => None,
        }
    }

    /// COMMUNITIES (empty when absent).
    pub fn communities(&self) -> &[Community] {
        match self.value(type_code::COMMUNITIES) {
            Some(AttributeValue::Communities(c)) => c,
            _ => &[],
        }
    }

    /// LARGE_COMMUNITY (empty when absent).
    pub fn large_communities(&self) -> &[LargeCommunity] {
        match self.value(type_code::LARGE_COMMUNITY) {
            Some(AttributeValue::LargeCommunities(c)) => c,
            _ => &[],
        }
    }

    /// EXTENDED_COMMUNITIES (empty when absent).
    pub fn extended_communities(&self) -> &[ExtendedCommunity] {
        match self.value(type_code::EXTENDED_COMMUNITIES) {
            Some(AttributeValue::ExtendedCommunities(c)) => c,
            _ => &[],
        }
    }

    /// OTC.
    pub fn otc(&self) -> Option<Asn> {
        match self.value(type_code::OTC)? {
            AttributeValue::Otc(a) => Some(*a),
            _ => None,
        }
    }

    /// MP_REACH_NLRI.
    pub fn mp_reach(&self) -> Option<&MpReach> {
        match self.value(type_code::MP_REACH_NLRI)? {
            AttributeValue::MpReach(r) => Some(r),
            _ => None,
        }
    }

    /// MP_UNREACH_NLRI.
    pub fn mp_unreach(&self) -> Option<&MpUnreach> {
        match self.value(type_code::MP_UNREACH_NLRI)? {
            AttributeValue::MpUnreach(u) => Some(u),
            _ => None,
        }
    }

    /// The attributes to pass on to another peer, RFC 4271 section 5: unrecognized optional
    /// non-transitive attributes are dropped, unrecognized optional transitive ones get the
    /// Partial bit set. MP_REACH/MP_UNREACH are dropped (they are per-peer, rebuilt by the sender).
    pub fn for_propagation(&self) -> PathAttributes {
        let mut out = Vec::with_capacity(self.0.len());
        for a in &self.0 {
            let code = a.type_code();
            if code == type_code::MP_REACH_NLRI || code == type_code::MP_UNREACH_NLRI {
                continue;
            }
            if let AttributeValue::Opaque { .. } = a.value {
                if class_of(code).is_none() {
                    if !a.flags.transitive() {
                        continue;
                    }
                    out.push(PathAttribute {
                        flags: AttrFlags(a.flags.0 | AttrFlags::PARTIAL),
                        value: a.value.clone(),
                    });
                    continue;
                }
            }
            out.push(a.clone());
        }
        PathAttributes(out)
    }

    /// [`PathAttributes::for_propagation`] of attributes no longer needed as they are: the
    /// same result, without copying the values.
    pub fn into_propagation(mut self) -> PathAttributes {
        self.0.retain_mut(|a| {
            let code = a.type_code();
            if code == type_code::MP_REACH_NLRI || code == type_code::MP_UNREACH_NLRI {
                return false;
            }
            if let AttributeValue::Opaque { .. } = a.value {
                if class_of(code).is_none() {
                    if !a.flags.transitive() {
                        return false;
                    }
                    a.flags = AttrFlags(a.flags.0 | AttrFlags::PARTIAL);
                }
            }
            true
        });
        self
    }
}

impl<'a> IntoIterator for &'a PathAttributes {
    type Item = &'a PathAttribute;
    type IntoIter = std::slice::Iter<'a, PathAttribute>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// What RFC 7606 prescribes for a malformed attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// "attribute discard".
    Discard,
    /// "treat-as-withdraw".
    Withdraw,
    /// "session reset" with UPDATE Message Error / Optional Attribute Error and the attribute
    /// as data (MP_REACH_NLRI/MP_UNREACH_NLRI, RFC 7606 section 7.11).
    Mp,
}

/// A malformed attribute: the action and a reason for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub action: Action,
    pub reason: &'static str,
}

impl Malformed {
    pub(crate) fn withdraw(reason: &'static str) -> Self {
        Malformed {
            action: Action::Withdraw,
            reason,
        }
    }
    pub(crate) fn discard(reason: &'static str) -> Self {
        Malformed {
            action: Action::Discard,
            reason,
        }
    }
    pub(crate) fn mp(reason: &'static str) -> Self {
        Malformed {
            action: Action::Mp,
            reason,
        }
    }
}

/// The outcome of parsing the Path Attributes field, before the UPDATE-level checks.
#[derive(Debug, Default)]
pub(crate) struct AttrReport {
    /// Most severe session reset seen (first wins).
    pub reset: Option<NotificationError>,
    /// First treat-as-withdraw reason.
    pub withdraw: Option<Cow<'static, str>>,
    /// Discarded attribute type codes and the first reason.
    pub discarded: Vec<u8>,
    pub discard_reason: Option<&'static str>,
    /// The attribute list could not be walked to its end (RFC 7606 section 4).
    pub list_error: bool,
    /// Type codes of the attributes returned (a bit per code).
    pub present: [u64; 4],
}

impl AttrReport {
    fn withdraw(&mut self, code: u8, reason: &str) {
        if self.withdraw.is_none() {
            self.withdraw = Some(Cow::Owned(format!("attribute {code}: {reason}")));
        }
    }
    fn discard(&mut self, code: u8, reason: &'static str) {
        // The codes are in the outcome; the reason stays a static string (no allocation).
        self.discarded.push(code);
        if self.discard_reason.is_none() {
            self.discard_reason = Some(reason);
        }
    }
    /// Whether an attribute of this type code was returned.
    pub(crate) fn has(&self, code: u8) -> bool {
        self.present[usize::from(code / 64)] & (1 << (code % 64)) != 0
    }

    fn reset(&mut self, e: NotificationError) {
        if self.reset.is_none() {
            self.reset = Some(e);
        }
    }
}

/// The action when the flags of a recognized attribute conflict with its type (RFC 7606
/// section 3 c): the attribute's own malformed-attribute handling.
fn malformed_action(code: u8, ctx: &SessionContext) -> Action {
    use type_code::*;
    match code {
        ATOMIC_AGGREGATE | AGGREGATOR | AS4_PATH | AS4_AGGREGATOR | AIGP | BGP_LS | NHC
        | PREFIX_SID => Action::Discard,
        // RFC 7606 sections 7.5, 7.9, 7.10: from an external neighbor, discarded.
        LOCAL_PREF | ORIGINATOR_ID | CLUSTER_LIST if !ctx.ibgp => Action::Discard,
        MP_REACH_NLRI | MP_UNREACH_NLRI => Action::Mp,
        _ => Action::Withdraw,
    }
}

/// Decodes a recognized attribute value straight into `slot` (constructing it in place avoids
/// copying the large enum on the hot path).
fn decode_value(
    code: u8,
    value: &[u8],
    ctx: &SessionContext,
    slot: &mut AttributeValue,
) -> Result<(), Malformed> {
    use type_code::*;
    match code {
        ORIGIN => *slot = AttributeValue::Origin(origin::decode(value)?),
        AS_PATH => {
            let p = as_path::decode(value, ctx.four_octet_as)?;
            if p.asns().any(|a| a.0 == 0) {
                // RFC 7607 section 2: AS 0 in AS_PATH is malformed (treat-as-withdraw).
                return Err(Malformed::withdraw("AS_PATH contains AS 0 (RFC 7607)"));
            }
            *slot = AttributeValue::AsPath(p);
        }
        NEXT_HOP => *slot = AttributeValue::NextHop(simple::decode_next_hop(value)?),
        MULTI_EXIT_DISC => *slot = AttributeValue::MultiExitDisc(simple::decode_med(value)?),
        LOCAL_PREF => *slot = AttributeValue::LocalPref(simple::decode_local_pref(value)?),
        ATOMIC_AGGREGATE => {
            simple::decode_atomic_aggregate(value)?;
            *slot = AttributeValue::AtomicAggregate;
        }
        AGGREGATOR => {
            *slot = AttributeValue::Aggregator(simple::decode_aggregator(value, ctx.four_octet_as)?)
        }
        COMMUNITIES => *slot = AttributeValue::Communities(communities::decode_communities(value)?),
        ORIGINATOR_ID => *slot = AttributeValue::OriginatorId(simple::decode_originator_id(value)?),
        CLUSTER_LIST => *slot = AttributeValue::ClusterList(simple::decode_cluster_list(value)?),
        MP_REACH_NLRI => *slot = AttributeValue::MpReach(mp::decode_reach(value, ctx)?),
        MP_UNREACH_NLRI => *slot = AttributeValue::MpUnreach(mp::decode_unreach(value, ctx)?),
        EXTENDED_COMMUNITIES => {
            *slot = AttributeValue::ExtendedCommunities(communities::decode_extended(value)?)
        }
        AS4_PATH => {
            // RFC 6793 section 6: malformed AS4_PATH is "attribute discard".
            if value.len() < 6 || !value.len().is_multiple_of(2) {
                return Err(Malformed::discard(
                    "AS4_PATH length not a multiple of 2 or below 6",
                ));
            }
            let mut p = as_path::decode(value, true).map_err(|m| Malformed::discard(m.reason))?;
            if p.asns().any(|a| a.0 == 0) {
                return Err(Malformed::discard("AS4_PATH contains AS 0 (RFC 7607)"));
            }
            // "MUST discard these path segments" (confederation segments in AS4_PATH).
            p.segments.retain(|s| !s.kind.is_confed());
            *slot = AttributeValue::As4Path(p);
        }
        AS4_AGGREGATOR => {
            *slot = AttributeValue::As4Aggregator(simple::decode_as4_aggregator(value)?)
        }
        IPV6_EXTENDED_COMMUNITIES => {
            *slot =
                AttributeValue::Ipv6ExtendedCommunities(communities::decode_ipv6_extended(value)?)
        }
        LARGE_COMMUNITY => {
            *slot = AttributeValue::LargeCommunities(communities::decode_large(value)?)
        }
        OTC => *slot = AttributeValue::Otc(simple::decode_otc(value)?),
        _ => {
            opaque::validate(code, value)?;
            *slot = AttributeValue::Opaque {
                type_code: code,
                value: value.to_vec(),
            };
        }
    }
    Ok(())
}

/// The slot pushed before decoding a value in place (a constant: copied from static memory).
const PLACEHOLDER: PathAttribute = PathAttribute {
    flags: AttrFlags(0),
    value: AttributeValue::AtomicAggregate,
};

/// Decodes a recognized attribute into a slot pushed first, so that the value is built in place
/// (the placeholder is a constant, its flags set afterwards: no stack copy of the large enum,
/// which measurably stalls the decoder). The slot is removed again on error.
fn decode_in_place(
    out: &mut Vec<PathAttribute>,
    flags: AttrFlags,
    code: u8,
    value: &[u8],
    ctx: &SessionContext,
) -> Result<(), Malformed> {
    out.push(PLACEHOLDER);
    let n = out.len();
    // Index n - 1 exists: it was just pushed.
    out[n - 1].flags = flags;
    let r = decode_value(code, value, ctx, &mut out[n - 1].value);
    if r.is_err() {
        out.truncate(n - 1);
    }
    r
}

/// Parses the Path Attributes field. Attribute-list errors (RFC 7606 section 4) and
/// malformed attributes (sections 3 and 7) are recorded in the report; well-formed
/// attributes are returned in wire order, first occurrence only.
pub(crate) fn decode_attributes(
    buf: &[u8],
    ctx: &SessionContext,
    report: &mut AttrReport,
) -> PathAttributes {
    let mut out = PathAttributes(Vec::with_capacity(8));
    let mut seen = [0u64; 4];
    let mut rest = buf;
    while !rest.is_empty() {
        let start = rest;
        // RFC 7606 section 4: fewer octets than an attribute header, or a length running past
        // the field, is "treat-as-withdraw"; the Total Attribute Length still locates the NLRI.
        let (flags, code, len, hdr) = match *rest {
            [f, c, l, ..] if f & AttrFlags::EXTENDED_LENGTH == 0 => (f, c, usize::from(l), 3),
            [f, c, l0, l1, ..] if f & AttrFlags::EXTENDED_LENGTH != 0 => {
                (f, c, usize::from(u16::from_be_bytes([l0, l1])), 4)
            }
            _ => {
                report.withdraw(0, "path attribute header truncated (RFC 7606 section 4)");
                report.list_error = true;
                break;
            }
        };
        let Some(value) = rest.get(hdr..hdr + len) else {
            report.withdraw(
                code,
                "attribute length overruns the Path Attributes field (RFC 7606 section 4)",
            );
            report.list_error = true;
            break;
        };
        let raw = &start[..hdr + len];
        rest = &rest[hdr + len..];
        let flags = AttrFlags(flags & 0xf0); // low four bits: "MUST be ignored when received"
        let (word, bit) = (usize::from(code / 64), code % 64);
        if seen[word] & (1 << bit) != 0 {
            if code == type_code::MP_REACH_NLRI || code == type_code::MP_UNREACH_NLRI {
                // RFC 7606 section 3 g: repeated MP attribute: Malformed Attribute List.
                report.reset(NotificationError::update(
                    update_subcode::MALFORMED_ATTRIBUTE_LIST,
                    Vec::new(),
                ));
            }
            // "all the occurrences of the attribute other than the first one SHALL be discarded"
            continue;
        }
        seen[word] |= 1 << bit;
        let class = class_of(code);
        if class.is_some() {
            // RFC 7606 7.5/7.9/7.10 and RFC 4271 5.1.5: from an external neighbor these are
            // discarded, well formed or not.
            if !ctx.ibgp
                && matches!(
                    code,
                    type_code::LOCAL_PREF | type_code::ORIGINATOR_ID | type_code::CLUSTER_LIST
                )
            {
                report.discard(code, "attribute received from an external neighbor");
                continue;
            }
            // RFC 6793 section 6: AS4_PATH/AS4_AGGREGATOR between NEW speakers is discarded.
            if ctx.four_octet_as && matches!(code, type_code::AS4_PATH | type_code::AS4_AGGREGATOR)
            {
                report.discard(code, "AS4 attribute received on a 4-octet AS session");
                continue;
            }
        }
        let malformed = match class {
            None if !flags.optional() => {
                // RFC 4271 section 6.3: Unrecognized Well-known Attribute, data = the attribute.
                report.reset(NotificationError::update(
                    update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    raw.to_vec(),
                ));
                Malformed {
                    action: Action::Mp,
                    reason: "unrecognized well-known attribute",
                }
            }
            None => {
                report.present[word] |= 1 << bit;
                out.0.push(PathAttribute {
                    flags,
                    value: AttributeValue::Opaque {
                        type_code: code,
                        value: value.to_vec(),
                    },
                });
                continue;
            }
            Some(class) if !class.accepts(flags) => Malformed {
                action: malformed_action(code, ctx),
                reason: "attribute flags conflict with the type code",
            },
            Some(_) => match decode_in_place(&mut out.0, flags, code, value, ctx) {
                Ok(()) => {
                    report.present[word] |= 1 << bit;
                    continue;
                }
                // Attributes whose handling is "attribute discard" are discarded whatever the
                // malformation.
                Err(m) if malformed_action(code, ctx) == Action::Discard => {
                    Malformed::discard(m.reason)
                }
                Err(m) => m,
            },
        };
        match malformed.action {
            Action::Discard => report.discard(code, malformed.reason),
            Action::Withdraw => report.withdraw(code, malformed.reason),
            Action::Mp => {
                if report.reset.is_none() {
                    report.reset(NotificationError::update(
                        update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
                        raw.to_vec(),
                    ));
                }
                // Kept as bytes so that the (session-resetting) message can still be logged.
                out.0.push(PathAttribute {
                    flags,
                    value: AttributeValue::Opaque {
                        type_code: code,
                        value: value.to_vec(),
                    },
                });
            }
        }
    }
    out
}

/// Encodes one attribute. The Extended Length bit is kept when set and forced when the value
/// exceeds 255 octets; the low four flag bits are sent as zero.
pub(crate) fn encode_attribute(
    a: &PathAttribute,
    ctx: &SessionContext,
    out: &mut Vec<u8>,
) -> Result<(), super::error::EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[a.flags.0 & 0xf0, a.type_code(), 0, 0]);
    let body = out.len();
    encode_value(&a.value, ctx, out);
    let len = out.len() - body;
    let len16 = u16::try_from(len)
        .map_err(|_| super::error::EncodeError::FieldOverflow("path attribute length"))?;
    if a.flags.extended_length() || len > 255 {
        out[start] |= AttrFlags::EXTENDED_LENGTH;
        out[start + 2..start + 4].copy_from_slice(&len16.to_be_bytes());
    } else {
        out[start + 2] = len as u8;
        out.remove(start + 3);
    }
    Ok(())
}

fn encode_value(v: &AttributeValue, ctx: &SessionContext, out: &mut Vec<u8>) {
    match v {
        AttributeValue::Origin(o) => out.push(o.code()),
        AttributeValue::AsPath(p) => as_path::encode(p, ctx.four_octet_as, out),
        AttributeValue::NextHop(a) | AttributeValue::OriginatorId(a) => {
            out.extend_from_slice(&a.octets())
        }
        AttributeValue::MultiExitDisc(x) | AttributeValue::LocalPref(x) => {
            out.extend_from_slice(&x.to_be_bytes())
        }
        AttributeValue::AtomicAggregate => {}
        AttributeValue::Aggregator(a) => simple::encode_aggregator(a, ctx.four_octet_as, out),
        AttributeValue::Communities(c) => c
            .iter()
            .for_each(|c| out.extend_from_slice(&c.0.to_be_bytes())),
        AttributeValue::ClusterList(c) => c.iter().for_each(|a| out.extend_from_slice(&a.octets())),
        AttributeValue::MpReach(r) => mp::encode_reach(r, ctx, out),
        AttributeValue::MpUnreach(u) => mp::encode_unreach(u, ctx, out),
        AttributeValue::ExtendedCommunities(c) => {
            c.iter().for_each(|c| out.extend_from_slice(&c.0))
        }
        AttributeValue::As4Path(p) => as_path::encode(p, true, out),
        AttributeValue::As4Aggregator(a) => simple::encode_aggregator(a, true, out),
        AttributeValue::Ipv6ExtendedCommunities(c) => {
            c.iter().for_each(|c| out.extend_from_slice(&c.0))
        }
        AttributeValue::LargeCommunities(c) => c.iter().for_each(|c| {
            out.extend_from_slice(&c.global_admin.to_be_bytes());
            out.extend_from_slice(&c.local_data_1.to_be_bytes());
            out.extend_from_slice(&c.local_data_2.to_be_bytes());
        }),
        AttributeValue::Otc(a) => out.extend_from_slice(&a.0.to_be_bytes()),
        AttributeValue::Opaque { value, .. } => out.extend_from_slice(value),
    }
}

/// Encodes the Path Attributes field.
pub(crate) fn encode_attributes(
    attrs: &PathAttributes,
    ctx: &SessionContext,
    out: &mut Vec<u8>,
) -> Result<(), super::error::EncodeError> {
    for a in attrs {
        encode_attribute(a, ctx, out)?;
    }
    Ok(())
}
