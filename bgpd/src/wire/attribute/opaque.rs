//! Validation of attributes this codec recognizes but carries as opaque bytes. Each check is
//! the structural one its specification defines; the action on failure is the attribute's
//! RFC 7606-style handling (see `malformed_action` in the parent module):
//!
//! - PMSI_TUNNEL (22, RFC 6514 section 5): Flags (1), Tunnel Type (1), MPLS Label (3),
//!   Tunnel Identifier (variable): at least 5 octets.
//! - Tunnel Encapsulation (23, RFC 9012 section 2): TLVs of Tunnel Type (2), Length (2), and
//!   sub-TLVs of Type (1) and Length (1 octet for types 0..=127, 2 octets for 128..=255).
//! - AIGP (26, RFC 7311 section 3): TLVs of Type (1), Length (2, the whole TLV); the AIGP TLV
//!   (type 1) is 11 octets; other types are malformed.
//! - BGP-LS (29, RFC 9552 section 5.3): TLVs of Type (2), Length (2).
//! - NHC (39, draft-ietf-idr-entropy-label): characteristics of Code (2), Length (2).
//! - Prefix-SID (40, RFC 8669 section 3): TLVs of Type (1), Length (2); Label-Index (type 1)
//!   is 7 octets, Originator SRGB (type 3) is 2 + 6n octets.

use super::{type_code, Malformed};

/// Walks TLVs with a `t`-octet type and 2-octet length (of the value), calling `check` on each.
fn walk(mut v: &[u8], t: usize, mut check: impl FnMut(u16, &[u8]) -> bool) -> bool {
    while !v.is_empty() {
        let Some(h) = v.get(..t + 2) else {
            return false;
        };
        let ty = if t == 1 {
            u16::from(h[0])
        } else {
            u16::from_be_bytes([h[0], h[1]])
        };
        let len = usize::from(u16::from_be_bytes([h[t], h[t + 1]]));
        let Some(value) = v.get(t + 2..t + 2 + len) else {
            return false;
        };
        if !check(ty, value) {
            return false;
        }
        v = &v[t + 2 + len..];
    }
    true
}

fn encap_sub_tlvs(mut v: &[u8]) -> bool {
    while let [ty, rest @ ..] = v {
        let (len, rest) = if *ty < 128 {
            match rest {
                [l, r @ ..] => (usize::from(*l), r),
                _ => return false,
            }
        } else {
            match rest {
                [a, b, r @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), r),
                _ => return false,
            }
        };
        let Some(next) = rest.get(len..) else {
            return false;
        };
        v = next;
    }
    true
}

fn aigp(mut v: &[u8]) -> bool {
    if v.is_empty() {
        return false;
    }
    while !v.is_empty() {
        let [ty, l0, l1, ..] = *v else { return false };
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        // The Length covers the whole TLV; the AIGP TLV is exactly 11 octets.
        if ty != 1 || len != 11 || v.len() < len {
            return false;
        }
        v = &v[len..];
    }
    true
}

/// Checks the value of an opaque recognized attribute; unknown codes always pass.
pub(crate) fn validate(code: u8, value: &[u8]) -> Result<(), Malformed> {
    let ok = match code {
        type_code::PMSI_TUNNEL => value.len() >= 5,
        type_code::TUNNEL_ENCAPSULATION => walk(value, 2, |_, v| encap_sub_tlvs(v)),
        type_code::AIGP => aigp(value),
        type_code::BGP_LS | type_code::NHC => walk(value, 2, |_, _| true),
        type_code::PREFIX_SID => walk(value, 1, |ty, v| match ty {
            1 => v.len() == 7,
            3 => v.len() >= 2 && (v.len() - 2).is_multiple_of(6),
            _ => true,
        }),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        // The action is replaced by the attribute's own handling by the caller.
        Err(Malformed::withdraw(
            "attribute value structure is malformed",
        ))
    }
}
