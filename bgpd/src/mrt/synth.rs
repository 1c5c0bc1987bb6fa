//! Wrapping a RIB entry (prefix + path attributes) into a BGP UPDATE message, so that the
//! wire codec decodes RIB dumps exactly like the messages of an update stream.

use std::net::IpAddr;

use super::{Afi, Prefix, RecordError, SAFI_UNICAST};

/// Path attribute type codes used here (RFC 4271 section 5, RFC 4760 section 3).
const NEXT_HOP: u8 = 3;
const MP_REACH_NLRI: u8 = 14;
/// Attribute flags (RFC 4271 section 4.3).
const OPTIONAL: u8 = 0x80;
const TRANSITIVE: u8 = 0x40;
const EXTENDED_LENGTH: u8 = 0x10;

struct Attribute<'a> {
    flags: u8,
    type_code: u8,
    value: &'a [u8],
    raw: &'a [u8],
}

/// Splits path attributes into (flags, type, value) without judging them; returns the
/// attributes that frame correctly and the unframed rest (left for the codec to reject).
fn split(mut attrs: &[u8]) -> (Vec<Attribute<'_>>, &[u8]) {
    let mut out = Vec::new();
    loop {
        let start = attrs;
        let (flags, type_code, header_len, len) = match attrs {
            [f, t, hi, lo, ..] if f & EXTENDED_LENGTH != 0 => {
                (*f, *t, 4, usize::from(u16::from_be_bytes([*hi, *lo])))
            }
            [f, t, l, ..] if f & EXTENDED_LENGTH == 0 => (*f, *t, 3, usize::from(*l)),
            _ => return (out, attrs),
        };
        let Some(value) = attrs.get(header_len..header_len + len) else {
            return (out, start);
        };
        out.push(Attribute {
            flags,
            type_code,
            value,
            raw: &start[..header_len + len],
        });
        attrs = &attrs[header_len + len..];
    }
}

/// The next hop of an MP_REACH_NLRI found in a RIB entry. RFC 6396 section 4.3.4 stores
/// it abbreviated (next hop length, next hop); some writers store the full RFC 4760 form
/// (AFI, SAFI, next hop length, next hop, reserved, NLRI). The first octet tells them
/// apart: a full form starts with the high octet of the AFI (0), an abbreviated one with a
/// non-zero next hop length.
fn mp_next_hop(value: &[u8]) -> Option<&[u8]> {
    match value {
        [0, _, _, nh_len, rest @ ..] => rest.get(..usize::from(*nh_len)),
        [nh_len, rest @ ..] => rest.get(..usize::from(*nh_len)),
        [] => None,
    }
}

fn prefix_octets(prefix: Prefix) -> Vec<u8> {
    let n = usize::from(prefix.len).div_ceil(8);
    let mut out = Vec::with_capacity(1 + n);
    out.push(prefix.len);
    match prefix.addr {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n.min(4)]),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n.min(16)]),
    }
    out
}

fn push_attribute(
    out: &mut Vec<u8>,
    flags: u8,
    type_code: u8,
    value: &[u8],
) -> Result<(), RecordError> {
    if value.len() > 255 {
        let len = u16::try_from(value.len()).map_err(|_| RecordError::EntryTooLarge)?;
        out.extend_from_slice(&[flags | EXTENDED_LENGTH, type_code]);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.extend_from_slice(&[flags & !EXTENDED_LENGTH, type_code, value.len() as u8]);
    }
    out.extend_from_slice(value);
    Ok(())
}

/// Builds the BGP UPDATE (RFC 4271 section 4.3, header included) that announces `prefix`
/// with the path attributes of a RIB entry.
///
/// - IPv4 unicast prefixes without an MP_REACH_NLRI go in the UPDATE's NLRI field.
/// - Otherwise the prefix goes in an MP_REACH_NLRI (RFC 4760 section 3) built from the
///   entry's MP_REACH_NLRI next hop (abbreviated or full form, see RFC 6396 section
///   4.3.4), or from `next_hop` (BGP4MP_ENTRY records), placed where the entry had it.
/// - `next_hop` also supplies a NEXT_HOP attribute to IPv4 unicast routes that lack one.
/// - `path_id` (ADDPATH records) precedes the prefix, per RFC 7911 section 3.
///
/// Attributes are otherwise copied unchanged, malformed ones included, so the codec
/// judges them as it would on a session.
///
/// # Errors
/// [`RecordError::EntryTooLarge`] when the message would exceed 65535 octets.
pub fn build_update(
    prefix: Prefix,
    safi: u8,
    path_id: Option<u32>,
    attributes: &[u8],
    next_hop: Option<&[u8]>,
) -> Result<Vec<u8>, RecordError> {
    let (attrs, unframed) = split(attributes);
    let has_mp = attrs.iter().any(|a| a.type_code == MP_REACH_NLRI);
    let classic = prefix.afi() == Afi::Ipv4 && safi == SAFI_UNICAST && !has_mp;
    let mut nlri = Vec::new();
    if let Some(id) = path_id {
        nlri.extend_from_slice(&id.to_be_bytes());
    }
    nlri.extend_from_slice(&prefix_octets(prefix));

    let mp_reach = |nh: &[u8]| -> Result<Vec<u8>, RecordError> {
        let nh_len = u8::try_from(nh.len()).map_err(|_| RecordError::EntryTooLarge)?;
        let mut v = Vec::with_capacity(5 + nh.len() + nlri.len());
        v.extend_from_slice(&prefix.afi().code().to_be_bytes());
        v.push(safi);
        v.push(nh_len);
        v.extend_from_slice(nh);
        v.push(0); // Reserved
        v.extend_from_slice(&nlri);
        Ok(v)
    };

    let mut out_attrs = Vec::with_capacity(attributes.len() + nlri.len() + 32);
    for a in &attrs {
        if a.type_code == MP_REACH_NLRI && !classic {
            match mp_next_hop(a.value) {
                Some(nh) => push_attribute(&mut out_attrs, a.flags, a.type_code, &mp_reach(nh)?)?,
                // A next hop that does not fit its attribute: left for the codec to judge.
                None => out_attrs.extend_from_slice(a.raw),
            }
        } else {
            out_attrs.extend_from_slice(a.raw);
        }
    }
    if !classic && !has_mp {
        push_attribute(
            &mut out_attrs,
            OPTIONAL,
            MP_REACH_NLRI,
            &mp_reach(next_hop.unwrap_or(&[]))?,
        )?;
    }
    if classic {
        if let Some(nh) = next_hop.filter(|nh| nh.len() == 4) {
            if !attrs.iter().any(|a| a.type_code == NEXT_HOP) {
                push_attribute(&mut out_attrs, TRANSITIVE, NEXT_HOP, nh)?;
            }
        }
    }
    out_attrs.extend_from_slice(unframed);

    let attr_len = u16::try_from(out_attrs.len()).map_err(|_| RecordError::EntryTooLarge)?;
    let nlri_len = if classic { nlri.len() } else { 0 };
    let total = 19 + 2 + 2 + out_attrs.len() + nlri_len;
    let total = u16::try_from(total).map_err(|_| RecordError::EntryTooLarge)?;
    let mut msg = Vec::with_capacity(usize::from(total));
    msg.extend_from_slice(&[0xff; 16]);
    msg.extend_from_slice(&total.to_be_bytes());
    msg.push(2); // UPDATE
    msg.extend_from_slice(&0u16.to_be_bytes()); // Withdrawn Routes Length
    msg.extend_from_slice(&attr_len.to_be_bytes());
    msg.extend_from_slice(&out_attrs);
    if classic {
        msg.extend_from_slice(&nlri);
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const ORIGIN_IGP: [u8; 4] = [0x40, 0x01, 0x01, 0x00];

    #[test]
    fn ipv4_unicast_prefix_goes_in_nlri() {
        let p = Prefix {
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)),
            len: 24,
        };
        let msg = build_update(p, SAFI_UNICAST, None, &ORIGIN_IGP, None).expect("fits");
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 31, 2, 0, 0, 0, 4]);
        want.extend_from_slice(&ORIGIN_IGP);
        want.extend_from_slice(&[24, 192, 0, 2]);
        assert_eq!(msg, want);
    }

    #[test]
    fn abbreviated_mp_reach_is_expanded_with_the_prefix() {
        let p = Prefix {
            addr: IpAddr::V6("2001:db8:1::".parse::<Ipv6Addr>().expect("v6")),
            len: 48,
        };
        let nh: Ipv6Addr = "2001:db8::1".parse().expect("v6");
        let mut attrs = ORIGIN_IGP.to_vec();
        attrs.extend_from_slice(&[0x80, 14, 17, 16]); // abbreviated: length 16, next hop
        attrs.extend_from_slice(&nh.octets());
        let msg = build_update(p, SAFI_UNICAST, Some(7), &attrs, None).expect("fits");
        let mut mp = vec![0x80, 14, 32, 0, 2, 1, 16];
        mp.extend_from_slice(&nh.octets());
        mp.push(0);
        mp.extend_from_slice(&[0, 0, 0, 7, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1]);
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&((23 + 4 + mp.len()) as u16).to_be_bytes());
        want.extend_from_slice(&[2, 0, 0, 0, (4 + mp.len()) as u8]);
        want.extend_from_slice(&ORIGIN_IGP);
        want.extend_from_slice(&mp);
        assert_eq!(msg, want);
    }

    #[test]
    fn full_form_mp_reach_keeps_its_next_hop_and_gets_this_prefix() {
        let p = Prefix {
            addr: IpAddr::V6("2001:db8::".parse::<Ipv6Addr>().expect("v6")),
            len: 32,
        };
        // Full form with a stale NLRI (2001:db8:ff::/48) that must not be announced.
        let mut attrs = vec![0x80, 14, 28, 0, 2, 1, 16];
        attrs.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        attrs.extend_from_slice(&[0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 0xff]);
        let msg = build_update(p, SAFI_UNICAST, None, &attrs, None).expect("fits");
        let mp = &msg[23..];
        let mut want = vec![0x80, 14, 26, 0, 2, 1, 16];
        want.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend_from_slice(&[0, 32, 0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(mp, &want[..]);
    }

    #[test]
    fn separate_next_hop_becomes_next_hop_attribute() {
        let p = Prefix {
            addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0)),
            len: 23,
        };
        let msg =
            build_update(p, SAFI_UNICAST, None, &ORIGIN_IGP, Some(&[192, 0, 2, 9])).expect("fits");
        assert_eq!(&msg[23..27], &ORIGIN_IGP);
        assert_eq!(&msg[27..34], &[0x40, 3, 4, 192, 0, 2, 9]);
        assert_eq!(&msg[34..], &[23, 198, 51, 100]);
    }

    #[test]
    fn oversized_entry_is_an_error() {
        let p = Prefix {
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)),
            len: 24,
        };
        let mut attrs = vec![0xc0, 99, 0xff, 0xff];
        attrs.resize(4 + 65535, 0);
        assert_eq!(
            build_update(p, SAFI_UNICAST, None, &attrs, None),
            Err(RecordError::EntryTooLarge)
        );
    }
}
