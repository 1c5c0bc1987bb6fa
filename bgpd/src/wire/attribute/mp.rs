//! MP_REACH_NLRI (type 14) and MP_UNREACH_NLRI (type 15), RFC 4760 sections 3 and 4.
//!
//! ```text
//! MP_REACH_NLRI                              MP_UNREACH_NLRI
//! +---------------------------------------+  +---------------------------------------+
//! | AFI (2) | SAFI (1)                     |  | AFI (2) | SAFI (1)                     |
//! | Length of Next Hop Network Address (1)|  | Withdrawn Routes (variable)           |
//! | Network Address of Next Hop (var)     |  +---------------------------------------+
//! | Reserved (1)                          |
//! | Network Layer Reachability Info (var) |
//! +---------------------------------------+
//! ```
//!
//! IPv4 and IPv6 unicast are decoded (IPv6 next hops per RFC 2545 section 3: global, or global
//! plus link-local; IPv6 next hops of IPv4 NLRI per RFC 8950); other families are kept as
//! opaque bytes.

use super::Malformed;
use crate::wire::context::SessionContext;
use crate::wire::nlri::{decode_prefixes, encode_prefixes, Family, Nlri};
use crate::wire::types::AfiSafi;
use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The next hop of an MP_REACH_NLRI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MpNextHop {
    /// A 4-octet IPv4 next hop.
    Ipv4(Ipv4Addr),
    /// A 16-octet global IPv6 next hop, optionally followed by a link-local one (32 octets).
    Ipv6 {
        /// The global address (may be `::` when only the link-local one is meaningful).
        global: Ipv6Addr,
        /// The link-local address, when 32 octets were sent.
        #[serde(skip_serializing_if = "Option::is_none")]
        link_local: Option<Ipv6Addr>,
    },
    /// The next hop of a family this codec does not decode, as wire bytes.
    Opaque(#[serde(serialize_with = "crate::wire::error::ser_hex")] Vec<u8>),
}

impl MpNextHop {
    fn wire_len(&self) -> usize {
        match self {
            MpNextHop::Ipv4(_) => 4,
            MpNextHop::Ipv6 {
                link_local: None, ..
            } => 16,
            MpNextHop::Ipv6 {
                link_local: Some(_),
                ..
            } => 32,
            MpNextHop::Opaque(b) => b.len(),
        }
    }
}

/// The NLRI of an MP attribute: decoded prefixes, or opaque bytes for other families.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MpNlri {
    /// IPv4 or IPv6 unicast NLRI.
    Prefixes(Vec<Nlri>),
    /// NLRI of another family, as wire bytes.
    Opaque(#[serde(serialize_with = "crate::wire::error::ser_hex")] Vec<u8>),
}

impl MpNlri {
    /// The decoded prefixes (empty for opaque NLRI).
    pub fn prefixes(&self) -> &[Nlri] {
        match self {
            MpNlri::Prefixes(p) => p,
            MpNlri::Opaque(_) => &[],
        }
    }

    /// Whether there is no NLRI at all.
    pub fn is_empty(&self) -> bool {
        match self {
            MpNlri::Prefixes(p) => p.is_empty(),
            MpNlri::Opaque(b) => b.is_empty(),
        }
    }
}

/// MP_REACH_NLRI: reachable destinations of one AFI/SAFI and their next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MpReach {
    /// The family.
    pub afi_safi: AfiSafi,
    /// The next hop.
    pub next_hop: MpNextHop,
    /// The announced NLRI.
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI: withdrawn destinations of one AFI/SAFI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MpUnreach {
    /// The family.
    pub afi_safi: AfiSafi,
    /// The withdrawn NLRI.
    pub withdrawn: MpNlri,
}

fn decode_nlri(afi_safi: AfiSafi, buf: &[u8], ctx: &SessionContext) -> Result<MpNlri, Malformed> {
    match Family::of(afi_safi) {
        Some(f) => {
            let mut v = Vec::new();
            decode_prefixes(buf, f, ctx.receives_path_id(afi_safi), &mut v).map_err(|_| {
                Malformed::mp("MP NLRI syntactically incorrect (RFC 7606 section 5.3)")
            })?;
            Ok(MpNlri::Prefixes(v))
        }
        None => Ok(MpNlri::Opaque(buf.to_vec())),
    }
}

/// Decodes MP_REACH_NLRI. Malformations (RFC 7606 section 7.11: inconsistent next hop length,
/// truncation, NLRI errors) are "session reset" (or AFI/SAFI disable, which we do not choose).
pub(crate) fn decode_reach(value: &[u8], ctx: &SessionContext) -> Result<MpReach, Malformed> {
    let [a0, a1, safi, nh_len, rest @ ..] = value else {
        return Err(Malformed::mp("MP_REACH_NLRI truncated before the next hop"));
    };
    let afi_safi = AfiSafi::new(u16::from_be_bytes([*a0, *a1]), *safi);
    let nh_len = usize::from(*nh_len);
    let (Some(nh), Some(&_reserved)) = (rest.get(..nh_len), rest.get(nh_len)) else {
        return Err(Malformed::mp(
            "MP_REACH_NLRI next hop overruns the attribute",
        ));
    };
    let nlri = &rest[nh_len + 1..];
    let v6 = |b: &[u8]| {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ipv6Addr::from(a)
    };
    let ipv6_nh = |nh: &[u8]| match nh.len() {
        16 => Ok(MpNextHop::Ipv6 {
            global: v6(nh),
            link_local: None,
        }),
        32 => Ok(MpNextHop::Ipv6 {
            global: v6(&nh[..16]),
            link_local: Some(v6(&nh[16..])),
        }),
        _ => Err(Malformed::mp(
            "MP_REACH_NLRI next hop length inconsistent with the AFI",
        )),
    };
    let next_hop = if afi_safi == AfiSafi::IPV4_UNICAST {
        match nh.len() {
            4 => MpNextHop::Ipv4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3])),
            16 | 32 if ctx.extended_next_hop.contains(&afi_safi) => ipv6_nh(nh)?,
            _ => {
                return Err(Malformed::mp(
                    "MP_REACH_NLRI next hop length inconsistent with the AFI",
                ))
            }
        }
    } else if afi_safi == AfiSafi::IPV6_UNICAST {
        ipv6_nh(nh)?
    } else {
        MpNextHop::Opaque(nh.to_vec())
    };
    Ok(MpReach {
        afi_safi,
        next_hop,
        nlri: decode_nlri(afi_safi, nlri, ctx)?,
    })
}

/// Decodes MP_UNREACH_NLRI (malformations: "session reset", RFC 7606 section 7.11 and 5.3).
pub(crate) fn decode_unreach(value: &[u8], ctx: &SessionContext) -> Result<MpUnreach, Malformed> {
    let [a0, a1, safi, rest @ ..] = value else {
        return Err(Malformed::mp("MP_UNREACH_NLRI truncated"));
    };
    let afi_safi = AfiSafi::new(u16::from_be_bytes([*a0, *a1]), *safi);
    Ok(MpUnreach {
        afi_safi,
        withdrawn: decode_nlri(afi_safi, rest, ctx)?,
    })
}

fn encode_nlri(nlri: &MpNlri, afi_safi: AfiSafi, ctx: &SessionContext, out: &mut Vec<u8>) {
    match nlri {
        MpNlri::Prefixes(p) => encode_prefixes(out, p, ctx.sends_path_id(afi_safi)),
        MpNlri::Opaque(b) => out.extend_from_slice(b),
    }
}

pub(crate) fn encode_reach(r: &MpReach, ctx: &SessionContext, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.afi_safi.afi.0.to_be_bytes());
    out.push(r.afi_safi.safi.0);
    out.push(r.next_hop.wire_len().min(255) as u8);
    match &r.next_hop {
        MpNextHop::Ipv4(a) => out.extend_from_slice(&a.octets()),
        MpNextHop::Ipv6 { global, link_local } => {
            out.extend_from_slice(&global.octets());
            if let Some(ll) = link_local {
                out.extend_from_slice(&ll.octets());
            }
        }
        MpNextHop::Opaque(b) => out.extend_from_slice(&b[..b.len().min(255)]),
    }
    out.push(0); // Reserved: "MUST be set to 0"
    encode_nlri(&r.nlri, r.afi_safi, ctx, out);
}

pub(crate) fn encode_unreach(u: &MpUnreach, ctx: &SessionContext, out: &mut Vec<u8>) {
    out.extend_from_slice(&u.afi_safi.afi.0.to_be_bytes());
    out.push(u.afi_safi.safi.0);
    encode_nlri(&u.withdrawn, u.afi_safi, ctx, out);
}
