//! COMMUNITIES (type 8, RFC 1997), EXTENDED_COMMUNITIES (type 16, RFC 4360),
//! IPv6 Address Specific Extended Community (type 25, RFC 5701) and LARGE_COMMUNITY
//! (type 32, RFC 8092). Each is a list of fixed-size values.

use super::Malformed;
use serde::Serialize;
use std::fmt;

/// A 4-octet community (RFC 1997): conventionally `ASN:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

impl Serialize for Community {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An 8-octet extended community (RFC 4360), kept as its wire bytes: type, subtype, value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// The high-order Type octet.
    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    /// Whether the community is transitive across ASes (Type bit 0x40 clear, RFC 4360 section 2).
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }
}

impl Serialize for ExtendedCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

/// A 20-octet IPv6 Address Specific Extended Community (RFC 5701), kept as wire bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6ExtendedCommunity(pub [u8; 20]);

impl Serialize for Ipv6ExtendedCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

/// A 12-octet large community (RFC 8092): Global Administrator, Local Data Part 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global Administrator (the ASN).
    pub global_admin: u32,
    /// Local Data Part 1.
    pub local_data_1: u32,
    /// Local Data Part 2.
    pub local_data_2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data_1, self.local_data_2
        )
    }
}

impl Serialize for LargeCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[inline]
fn be32(c: &[u8]) -> u32 {
    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
}

/// RFC 7606 section 7.8: malformed unless the length is a non-zero multiple of 4 ("treat-as-withdraw").
pub(crate) fn decode_communities(value: &[u8]) -> Result<Vec<Community>, Malformed> {
    check_communities(value)?;
    Ok(value.chunks_exact(4).map(|c| Community(be32(c))).collect())
}

/// RFC 7606 section 7.14: malformed unless the length is a non-zero multiple of 8 ("treat-as-withdraw").
pub(crate) fn decode_extended(value: &[u8]) -> Result<Vec<ExtendedCommunity>, Malformed> {
    check_extended(value)?;
    Ok(value
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            ExtendedCommunity(a)
        })
        .collect())
}

/// RFC 7606 section 7.15: malformed unless the length is a non-zero multiple of 20 ("treat-as-withdraw").
pub(crate) fn decode_ipv6_extended(value: &[u8]) -> Result<Vec<Ipv6ExtendedCommunity>, Malformed> {
    if value.is_empty() || !value.len().is_multiple_of(20) {
        return Err(Malformed::withdraw(
            "IPv6 Extended Communities length is not a non-zero multiple of 20",
        ));
    }
    Ok(value
        .chunks_exact(20)
        .map(|c| {
            let mut a = [0u8; 20];
            a.copy_from_slice(c);
            Ipv6ExtendedCommunity(a)
        })
        .collect())
}

/// RFC 8092 section 5: malformed unless the length is a non-zero multiple of 12 ("treat-as-withdraw").
pub(crate) fn decode_large(value: &[u8]) -> Result<Vec<LargeCommunity>, Malformed> {
    check_large(value)?;
    Ok(value
        .chunks_exact(12)
        .map(|c| LargeCommunity {
            global_admin: be32(&c[0..4]),
            local_data_1: be32(&c[4..8]),
            local_data_2: be32(&c[8..12]),
        })
        .collect())
}

/// The malformation check of [`decode_communities`], without building the list (the in-place view).
#[inline]
pub(crate) fn check_communities(value: &[u8]) -> Result<(), Malformed> {
    if value.is_empty() || !value.len().is_multiple_of(4) {
        return Err(Malformed::withdraw(
            "COMMUNITIES length is not a non-zero multiple of 4",
        ));
    }
    Ok(())
}

/// The malformation check of [`decode_extended`], without building the list (the in-place view).
#[inline]
pub(crate) fn check_extended(value: &[u8]) -> Result<(), Malformed> {
    if value.is_empty() || !value.len().is_multiple_of(8) {
        return Err(Malformed::withdraw(
            "EXTENDED_COMMUNITIES length is not a non-zero multiple of 8",
        ));
    }
    Ok(())
}

/// The malformation check of [`decode_large`], without building the list (the in-place view).
#[inline]
pub(crate) fn check_large(value: &[u8]) -> Result<(), Malformed> {
    if value.is_empty() || !value.len().is_multiple_of(12) {
        return Err(Malformed::withdraw(
            "LARGE_COMMUNITY length is not a non-zero multiple of 12",
        ));
    }
    Ok(())
}
