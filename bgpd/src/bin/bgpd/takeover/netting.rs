//! The Adj-RIB-Out difference sent at takeover, without route flaps.
//!
//! The difference ([`super::EgressLedger::difference`]) is the standby's own UPDATEs that it
//! never saw the primary write, in the order its speaker produced them. Some of them undo
//! others: a standby that restored one neighbour's checkpoint before the Loc-RIB routes of
//! another neighbour's caught up withdrew them from its Adj-RIB-Out, then announced them
//! again as the mirror fed those routes (seen in the demo: 1,001 to 51,711 prefixes). Sent as
//! they are, the neighbour sees every such prefix withdrawn and announced again: a flap, for
//! a route that never changed.
//!
//! RFC 4271 section 3.1: a route advertised with the same destination as an earlier one
//! replaces it ("implicitly withdrawn"), so a withdrawal followed (in the same or a later
//! UPDATE) by an announcement of the same NLRI adds nothing but the flap. [`without_flaps`]
//! leaves such withdrawals out; every prefix still ends as the last UPDATE says, which is
//! the standby's Adj-RIB-Out.

use std::collections::BTreeSet;

use bgpd::wire::{
    decode_message, encode_message, type_code, AfiSafi, AttributeValue, Message, MpNlri, Nlri,
    Outcome, SessionContext, Update,
};

/// `updates` (whole UPDATE messages, in order, as this node sends them to a neighbour of
/// context `ctx`) with every withdrawal of an NLRI that a later announcement (or one in the
/// same UPDATE) replaces left out; an UPDATE left with nothing to say is dropped, one that
/// lost some withdrawals is encoded again. When an UPDATE does not decode cleanly or cannot
/// be encoded again, `updates` is returned unchanged.
pub fn without_flaps(updates: Vec<Vec<u8>>, ctx: &SessionContext) -> Vec<Vec<u8>> {
    // What we send is decoded as the neighbour decodes it: Path Identifiers where we send
    // them.
    let decode_ctx = SessionContext {
        add_path_receive: ctx.add_path_send.clone(),
        ..ctx.clone()
    };
    let mut decoded = Vec::with_capacity(updates.len());
    for m in &updates {
        let d = decode_message(m, &decode_ctx);
        match (d.outcome, d.message) {
            (Outcome::Accept, Some(Message::Update(u))) => decoded.push(u),
            _ => return updates,
        }
    }
    // From the last UPDATE back: the NLRI announced from there on.
    let mut announced_later: BTreeSet<(AfiSafi, Nlri)> = BTreeSet::new();
    let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(updates.len());
    for (m, mut u) in updates.iter().zip(decoded).rev() {
        announced_later.extend(u.announced().map(|(f, n)| (f, *n)));
        if !drop_replaced(&mut u, &announced_later) {
            out.push(Some(m.clone()));
            continue;
        }
        if u.withdrawn_count() == 0 && u.announced_count() == 0 {
            out.push(None);
            continue;
        }
        match encode_message(&Message::Update(u), ctx) {
            Ok(again) => out.push(Some(again)),
            Err(_) => return updates,
        }
    }
    out.into_iter().rev().flatten().collect()
}

/// Leaves out of `u` the withdrawals of NLRI in `replaced`; true when any was.
fn drop_replaced(u: &mut Update, replaced: &BTreeSet<(AfiSafi, Nlri)>) -> bool {
    let before = u.withdrawn_count();
    u.withdrawn
        .retain(|n| !replaced.contains(&(AfiSafi::IPV4_UNICAST, *n)));
    if let Some(unreach) = u.attributes.mp_unreach().cloned() {
        if let MpNlri::Prefixes(list) = &unreach.withdrawn {
            let kept: Vec<Nlri> = list
                .iter()
                .filter(|n| !replaced.contains(&(unreach.afi_safi, **n)))
                .copied()
                .collect();
            if kept.len() != list.len() {
                if kept.is_empty() {
                    // An empty MP_UNREACH_NLRI alone would be an End-of-RIB marker.
                    u.attributes.remove(type_code::MP_UNREACH_NLRI);
                } else {
                    let mut unreach = unreach;
                    unreach.withdrawn = MpNlri::Prefixes(kept);
                    u.attributes.set(AttributeValue::MpUnreach(unreach));
                }
            }
        }
    }
    u.withdrawn_count() != before
}
