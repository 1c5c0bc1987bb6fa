//! NLRI encoding (RFC 4271 section 4.3, RFC 4760 section 5, RFC 7911 section 3):
//!
//! ```text
//! +---------------------------+
//! |   Path Identifier (4 octets, only with ADD-PATH)
//! +---------------------------+
//! |   Length (1 octet, bits)  |
//! +---------------------------+
//! |   Prefix (variable: ceil(Length / 8) octets)
//! +---------------------------+
//! ```
//!
//! Trailing bits of the last prefix octet are irrelevant (RFC 4271 section 4.3) and are cleared
//! on decode, so that equal prefixes compare equal.

use super::prefix::{Ipv4Prefix, Ipv6Prefix, Prefix};
use super::types::{AfiSafi, PathId};
use serde::Serialize;

/// One NLRI entry: a prefix and, with ADD-PATH, its Path Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Nlri {
    /// The Path Identifier (RFC 7911), present when ADD-PATH applies to this AFI/SAFI and direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_id: Option<PathId>,
    /// The prefix.
    pub prefix: Prefix,
}

impl Nlri {
    /// An NLRI entry without Path Identifier.
    pub fn new(prefix: impl Into<Prefix>) -> Self {
        Nlri {
            path_id: None,
            prefix: prefix.into(),
        }
    }

    /// An NLRI entry with Path Identifier.
    pub fn with_path_id(prefix: impl Into<Prefix>, path_id: PathId) -> Self {
        Nlri {
            path_id: Some(path_id),
            prefix: prefix.into(),
        }
    }

    /// Octets this entry takes on the wire, with or without the 4-octet Path Identifier.
    pub fn wire_len(&self, add_path: bool) -> usize {
        let p = 1 + usize::from(self.prefix.len()).div_ceil(8);
        if add_path {
            p + 4
        } else {
            p
        }
    }
}

/// Why an NLRI field is syntactically incorrect (RFC 7606 section 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NlriError {
    /// A prefix length exceeds the address width (32 or 128 bits).
    #[error("prefix length {0} exceeds the address width")]
    LengthTooLong(u8),
    /// The last entry runs past the end of the field.
    #[error("NLRI entry overruns its field")]
    Overrun,
}

/// Address family of a prefix list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    pub(crate) fn of(afi_safi: AfiSafi) -> Option<Family> {
        if afi_safi == AfiSafi::IPV4_UNICAST {
            Some(Family::V4)
        } else if afi_safi == AfiSafi::IPV6_UNICAST {
            Some(Family::V6)
        } else {
            None
        }
    }
}

/// Decodes a whole NLRI/Withdrawn Routes field of `family` into `out`.
pub(crate) fn decode_prefixes(
    buf: &[u8],
    family: Family,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), NlriError> {
    if buf.is_empty() {
        return Ok(());
    }
    // Capacity from the field length (an IPv4 /24 takes 4 octets, 8 with a Path Identifier):
    // bounded by the message, never by a length field.
    out.reserve(buf.len() / if add_path { 8 } else { 4 } + 1);
    match (family, add_path) {
        (Family::V4, false) => decode_v4::<false>(buf, out),
        (Family::V4, true) => decode_v4::<true>(buf, out),
        (Family::V6, false) => decode_v6::<false>(buf, out),
        (Family::V6, true) => decode_v6::<true>(buf, out),
    }
}

#[inline(always)]
fn path_id<const ADD_PATH: bool>(buf: &mut &[u8]) -> Result<Option<PathId>, NlriError> {
    if !ADD_PATH {
        return Ok(None);
    }
    match **buf {
        [a, b, c, d, ..] => {
            *buf = &buf[4..];
            Ok(Some(PathId(u32::from_be_bytes([a, b, c, d]))))
        }
        _ => Err(NlriError::Overrun),
    }
}

fn decode_v4<const ADD_PATH: bool>(mut buf: &[u8], out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    while !buf.is_empty() {
        let path_id = path_id::<ADD_PATH>(&mut buf)?;
        let (prefix, rest) = read_v4(buf)?;
        buf = rest;
        out.push(Nlri {
            path_id,
            prefix: Prefix::V4(prefix),
        });
    }
    Ok(())
}

/// Reads one IPv4 prefix (length octet, then the prefix octets) from the start of `buf`;
/// returns it with the octets after it. The one reader of IPv4 NLRI entries: the decoded
/// UPDATE and the in-place view ([`super::update_view`]) both use it.
#[inline(always)]
pub(crate) fn read_v4(buf: &[u8]) -> Result<(Ipv4Prefix, &[u8]), NlriError> {
    let (&len, rest) = buf.split_first().ok_or(NlriError::Overrun)?;
    if len > 32 {
        return Err(NlriError::LengthTooLong(len));
    }
    let n = usize::from(len).div_ceil(8);
    let bytes = rest.get(..n).ok_or(NlriError::Overrun)?;
    let v = match *bytes {
        [] => 0,
        [a] => u32::from(a) << 24,
        [a, b] => u32::from(u16::from_be_bytes([a, b])) << 16,
        [a, b, c] => u32::from_be_bytes([a, b, c, 0]),
        [a, b, c, d, ..] => u32::from_be_bytes([a, b, c, d]),
    };
    Ok((Ipv4Prefix::from_bits(v, len), &rest[n..]))
}

fn decode_v6<const ADD_PATH: bool>(mut buf: &[u8], out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    while !buf.is_empty() {
        let path_id = path_id::<ADD_PATH>(&mut buf)?;
        let (&len, rest) = buf.split_first().ok_or(NlriError::Overrun)?;
        if len > 128 {
            return Err(NlriError::LengthTooLong(len));
        }
        let n = usize::from(len).div_ceil(8);
        let bytes = rest.get(..n).ok_or(NlriError::Overrun)?;
        let mut a = [0u8; 16];
        a[..n].copy_from_slice(bytes);
        buf = &rest[n..];
        out.push(Nlri {
            path_id,
            prefix: Prefix::V6(Ipv6Prefix::from_bits(u128::from_be_bytes(a), len)),
        });
    }
    Ok(())
}

/// Appends one NLRI entry. With `add_path` a missing Path Identifier is written as 0.
pub(crate) fn encode_nlri(out: &mut Vec<u8>, nlri: &Nlri, add_path: bool) {
    if add_path {
        out.extend_from_slice(&nlri.path_id.map_or(0, |p| p.0).to_be_bytes());
    }
    let len = nlri.prefix.len();
    out.push(len);
    let n = usize::from(len).div_ceil(8);
    match nlri.prefix {
        Prefix::V4(p) => out.extend_from_slice(&p.addr().octets()[..n]),
        Prefix::V6(p) => out.extend_from_slice(&p.addr().octets()[..n]),
    }
}

/// Appends a list of NLRI entries.
pub(crate) fn encode_prefixes(out: &mut Vec<u8>, nlri: &[Nlri], add_path: bool) {
    for n in nlri {
        encode_nlri(out, n, add_path);
    }
}
