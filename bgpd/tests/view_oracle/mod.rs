//! The oracle of the in-place UPDATE view (`UpdateView`): what the full decode
//! (`decode_message`) must say of a message the view takes, and what two RIBs fed either
//! way must agree on. One copy for the tests (`update_view_differential.rs`,
//! `wire_update_view.rs`) and the fuzz target (`bgpd/fuzz/fuzz_targets/update_view.rs`,
//! which includes this file by its path), so every check the view must pass is written once.
//! Needs only `bgpd` and `std`.
#![allow(dead_code)]

use bgpd::rib::{PeerId, Rib};
use bgpd::wire::{
    decode_message, encode_message, Ipv4Prefix, Message, Nlri, Outcome, Prefix, SessionContext,
    UpdateView, HEADER_LEN,
};

/// `Err` with both values and `what` unless `a == b`.
macro_rules! ensure_eq {
    ($a:expr, $b:expr, $($what:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!("{}: {:?} != {:?}", format!($($what)+), a, b));
        }
    }};
}

/// Checks the view of the whole message `msg` against its decode on a session with `ctx`:
/// `Ok(true)` when the view took it and the decode agrees, `Ok(false)` when the view did not
/// take it, `Err` (saying what differs, with the message in hex) otherwise. When the view
/// takes a message, the decode accepts it with no RFC 7606 action, the same Withdrawn Routes
/// and NLRI, the same decoded UPDATE, and the received Path Attributes field with the low
/// four flag bits cleared (what the RIB interns for a view) equals the decode's canonical
/// re-encoding.
pub fn view_agrees_with_decode(msg: &[u8], ctx: &SessionContext) -> Result<bool, String> {
    let Some(v) = UpdateView::parse_message(msg, ctx) else {
        return Ok(false);
    };
    let m = hex(msg);
    let body = &msg[HEADER_LEN..];
    ensure_eq!(
        UpdateView::parse(body, ctx),
        Some(v),
        "the body's view of {m}"
    );
    let d = decode_message(msg, ctx);
    ensure_eq!(d.outcome, Outcome::Accept, "the view took {m}");
    let Some(Message::Update(u)) = d.message else {
        return Err(format!(
            "the view took what the decode gives no UPDATE for: {m}"
        ));
    };
    ensure_eq!(
        v.withdrawn().collect::<Vec<_>>(),
        v4_prefixes(&u.withdrawn),
        "withdrawn of {m}"
    );
    ensure_eq!(
        v.nlri().collect::<Vec<_>>(),
        v4_prefixes(&u.nlri),
        "NLRI of {m}"
    );
    ensure_eq!(
        v.withdrawn_count(),
        u.withdrawn_count(),
        "withdrawn count of {m}"
    );
    ensure_eq!(
        v.announced_count(),
        u.announced_count(),
        "NLRI count of {m}"
    );
    ensure_eq!(
        v.is_end_of_rib(),
        u.as_end_of_rib().is_some(),
        "End-of-RIB of {m}"
    );
    ensure_eq!(u.attributes.mp_reach(), None, "MP_REACH_NLRI in {m}");
    ensure_eq!(u.attributes.mp_unreach(), None, "MP_UNREACH_NLRI in {m}");
    ensure_eq!(v.to_received().to_update(), u, "the view's UPDATE of {m}");
    // The decode's canonical encoding: the decoded UPDATE re-encoded for the session.
    let again = encode_message(&Message::Update(u), ctx)
        .map_err(|e| format!("an accepted UPDATE does not encode ({e}): {m}"))?;
    ensure_eq!(
        hex(&low_bits_cleared(attribute_field(body))),
        hex(attribute_field(&again[HEADER_LEN..])),
        "canonical attributes of {m}"
    );
    Ok(true)
}

/// What two RIBs fed the same routes must agree on: the state digest, the Loc-RIB and
/// neighbour 1's Adj-RIB-In.
pub fn rib_state(r: &Rib) -> (Vec<u8>, String, String) {
    (
        r.digest().to_vec(),
        format!("{:?}", r.loc_rib()),
        format!("{:?}", r.adj_rib_in(PeerId(1))),
    )
}

/// The IPv4 prefixes of a decoded UPDATE's Withdrawn Routes or NLRI.
pub fn v4_prefixes(ns: &[Nlri]) -> Vec<Ipv4Prefix> {
    ns.iter()
        .filter_map(|n| match n.prefix {
            Prefix::V4(p) => Some(p),
            Prefix::V6(_) => None,
        })
        .collect()
}

/// The Path Attributes field of a well-formed UPDATE body.
fn attribute_field(body: &[u8]) -> &[u8] {
    let wl = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let a0 = 2 + wl;
    let al = usize::from(u16::from_be_bytes([body[a0], body[a0 + 1]]));
    &body[a0 + 2..a0 + 2 + al]
}

/// A well-formed Path Attributes field with the low four bits of every flags octet cleared
/// (written here from RFC 4271 section 4.3, not taken from the view, which does the same).
fn low_bits_cleared(field: &[u8]) -> Vec<u8> {
    let mut out = field.to_vec();
    let mut at = 0;
    while at + 3 <= out.len() {
        let f = out[at];
        let (len, hdr) = if f & 0x10 != 0 {
            (
                usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]])),
                4,
            )
        } else {
            (usize::from(out[at + 2]), 3)
        };
        out[at] = f & 0xf0;
        at += hdr + len;
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
