//! The fixed-size attributes: NEXT_HOP (3), MULTI_EXIT_DISC (4), LOCAL_PREF (5),
//! ATOMIC_AGGREGATE (6), AGGREGATOR (7) and AS4_AGGREGATOR (18), ORIGINATOR_ID (9) and
//! CLUSTER_LIST (10) (RFC 4456), OTC (35, RFC 9234).

use super::Malformed;
use crate::wire::types::Asn;
use serde::Serialize;
use std::net::Ipv4Addr;

/// AGGREGATOR / AS4_AGGREGATOR value: the AS and BGP identifier of the speaker that aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Aggregator {
    /// The aggregating AS (AS_TRANS in a 2-octet AGGREGATOR for a 4-octet AS).
    pub asn: Asn,
    /// The aggregating speaker's BGP identifier (an IPv4 address).
    pub address: Ipv4Addr,
}

#[inline]
pub(crate) fn be32(v: &[u8]) -> u32 {
    u32::from_be_bytes([v[0], v[1], v[2], v[3]])
}

#[inline]
fn addr(v: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(v[0], v[1], v[2], v[3])
}

/// NEXT_HOP: RFC 7606 section 7.3, malformed (treat-as-withdraw) when the length is not 4.
pub(crate) fn decode_next_hop(value: &[u8]) -> Result<Ipv4Addr, Malformed> {
    if value.len() != 4 {
        return Err(Malformed::withdraw("NEXT_HOP length is not 4"));
    }
    Ok(addr(value))
}

/// Whether `a` can be a NEXT_HOP at all (RFC 4271 section 6.3: it must be a valid IP host
/// address): not 0.0.0.0/8, loopback, multicast, class E or broadcast.
pub fn is_martian_next_hop(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0 || a.is_loopback() || a.is_multicast() || o[0] >= 240
}

/// MULTI_EXIT_DISC: RFC 7606 section 7.4, malformed (treat-as-withdraw) when the length is not 4.
pub(crate) fn decode_med(value: &[u8]) -> Result<u32, Malformed> {
    if value.len() != 4 {
        return Err(Malformed::withdraw("MULTI_EXIT_DISC length is not 4"));
    }
    Ok(be32(value))
}

/// LOCAL_PREF: RFC 7606 section 7.5, malformed (treat-as-withdraw, iBGP only) when the length is not 4.
pub(crate) fn decode_local_pref(value: &[u8]) -> Result<u32, Malformed> {
    if value.len() != 4 {
        return Err(Malformed::withdraw("LOCAL_PREF length is not 4"));
    }
    Ok(be32(value))
}

/// ATOMIC_AGGREGATE: RFC 7606 section 7.6, malformed (attribute discard) when the length is not 0.
pub(crate) fn decode_atomic_aggregate(value: &[u8]) -> Result<(), Malformed> {
    if !value.is_empty() {
        return Err(Malformed::discard("ATOMIC_AGGREGATE length is not 0"));
    }
    Ok(())
}

/// AGGREGATOR: RFC 7606 section 7.7, malformed (attribute discard) when the length is not 6
/// (2-octet session) or 8 (4-octet session); RFC 7607 section 2: AS 0 is malformed too.
pub(crate) fn decode_aggregator(value: &[u8], four_octet: bool) -> Result<Aggregator, Malformed> {
    let a = match (four_octet, value.len()) {
        (false, 6) => Aggregator {
            asn: Asn(u32::from(u16::from_be_bytes([value[0], value[1]]))),
            address: addr(&value[2..]),
        },
        (true, 8) => Aggregator {
            asn: Asn(be32(value)),
            address: addr(&value[4..]),
        },
        _ => {
            return Err(Malformed::discard(
                "AGGREGATOR length inconsistent with the AS number size",
            ))
        }
    };
    if a.asn.0 == 0 {
        return Err(Malformed::discard("AGGREGATOR AS is 0 (RFC 7607)"));
    }
    Ok(a)
}

/// AS4_AGGREGATOR: RFC 6793 section 6, malformed (attribute discard) when the length is not 8.
pub(crate) fn decode_as4_aggregator(value: &[u8]) -> Result<Aggregator, Malformed> {
    if value.len() != 8 {
        return Err(Malformed::discard("AS4_AGGREGATOR length is not 8"));
    }
    let a = Aggregator {
        asn: Asn(be32(value)),
        address: addr(&value[4..]),
    };
    if a.asn.0 == 0 {
        return Err(Malformed::discard("AS4_AGGREGATOR AS is 0 (RFC 7607)"));
    }
    Ok(a)
}

pub(crate) fn encode_aggregator(a: &Aggregator, four_octet: bool, out: &mut Vec<u8>) {
    if four_octet {
        out.extend_from_slice(&a.asn.0.to_be_bytes());
    } else {
        out.extend_from_slice(&a.asn.to_two_octet().to_be_bytes());
    }
    out.extend_from_slice(&a.address.octets());
}

/// ORIGINATOR_ID: RFC 7606 section 7.9, malformed when the length is not 4.
pub(crate) fn decode_originator_id(value: &[u8]) -> Result<Ipv4Addr, Malformed> {
    if value.len() != 4 {
        return Err(Malformed::withdraw("ORIGINATOR_ID length is not 4"));
    }
    Ok(addr(value))
}

/// CLUSTER_LIST: RFC 7606 section 7.10, malformed when the length is not a non-zero multiple of 4.
pub(crate) fn decode_cluster_list(value: &[u8]) -> Result<Vec<Ipv4Addr>, Malformed> {
    check_cluster_list(value)?;
    Ok(value.chunks_exact(4).map(addr).collect())
}

/// The malformation check of [`decode_cluster_list`], without building the list (the
/// in-place view).
#[inline]
pub(crate) fn check_cluster_list(value: &[u8]) -> Result<(), Malformed> {
    if value.is_empty() || !value.len().is_multiple_of(4) {
        return Err(Malformed::withdraw(
            "CLUSTER_LIST length is not a non-zero multiple of 4",
        ));
    }
    Ok(())
}

/// OTC (Only to Customer): RFC 9234 section 5, malformed (treat-as-withdraw) when the length is not 4.
pub(crate) fn decode_otc(value: &[u8]) -> Result<Asn, Malformed> {
    if value.len() != 4 {
        return Err(Malformed::withdraw("OTC length is not 4"));
    }
    Ok(Asn(be32(value)))
}
