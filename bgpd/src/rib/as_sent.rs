//! What each neighbour really holds from us, on a node that does not write to it: the
//! standby of an HA pair (DESIGN.md section 4, issue 7: "then only the Adj-RIB-Out
//! difference (what Loc-RIB now says minus what the neighbour was already sent)").
//!
//! A standby's speaker runs in lockstep with the primary's, but its Adj-RIB-Out is what *it*
//! computed, not what the neighbour was sent: a checkpoint installs the primary's Adj-RIB-Out
//! as sent, and from then on this node's polls move it towards this node's Loc-RIB while
//! only the primary writes to the neighbour. The two differ where the primary has not written
//! (yet, or ever: it died) what this node computed, and where this node's Loc-RIB was behind
//! the checkpoint (a neighbour restored before the routes of another one caught up).
//!
//! So per neighbour this keeps the *as-sent* value of every prefix whose as-sent value may
//! differ from the Adj-RIB-Out (`None`: the neighbour holds no route of ours for it). The
//! invariant, for every prefix `p`:
//!
//! ```text
//! as_sent(p) = overlay[p]          when p is in the overlay
//!            = adj_rib_out(p)      otherwise
//! ```
//!
//! kept by three events:
//! - a checkpoint installs the neighbour's Adj-RIB-Out as sent: the overlay is emptied;
//! - this node's poll changes `adj_rib_out(p)` from `old` to `new`: the neighbour still holds
//!   `old` unless the overlay says otherwise, so `old` is kept when `p` is not in the
//!   overlay;
//! - the primary wrote an UPDATE to the neighbour (mirror, write-ahead): the overlay takes
//!   its withdrawals and announcements (RFC 4271 section 3.1: a route replaces the earlier
//!   one of the same destination, a withdrawal removes it).
//!
//! An entry equal to the Adj-RIB-Out is dropped, so the overlay holds only what the primary
//! has not written yet: a few prefixes in lockstep. At takeover [`Rib::as_sent_difference`]
//! gives the UPDATEs that turn the as-sent state into the Adj-RIB-Out: a withdrawal for every
//! prefix the neighbour holds and should not, an announcement for every prefix it lacks or
//! holds with other attributes, packed as [`Rib::poll_updates`] packs them (RFC 4271 section
//! 9.2). A route the neighbour holds with the same attributes is never sent again, and no
//! prefix is both withdrawn and announced: it is a state difference, not a replay.
//!
//! End-of-RIB (RFC 4724 section 2: after the initial table of each AFI/SAFI; a neighbour
//! may wait for it before it selects routes or cleans up stale ones) is tracked beside the overlay: per neighbour, the families whose
//! End-of-RIB the neighbour has not been written yet. A session coming up here
//! ([`Rib::peer_up`]) owes it for every negotiated family; a restored checkpoint owes what the
//! primary still owed when it was taken; the primary's End-of-RIB on the wire pays it. The
//! difference ends each family it still owes with End-of-RIB: a primary that died during the
//! initial exchange leaves the neighbour waiting for it otherwise.
//!
//! Off by default (a primary writes what it polls; keeping the overlay there would only grow
//! it): [`Rib::track_as_sent`].

use super::attrs::AttrId;
use super::hash::FxBuild;
use super::{Core, Fam, PeerId, PeerState, Rib, RibError, LOCAL_PEER};
use crate::wire::{
    encode_message, type_code, AfiSafi, AttributeValue, Ipv4Prefix, Ipv6Prefix, Message, MpNlri,
    Nlri, PathAttributes, Prefix, Update, UpdateBuilder,
};
use std::collections::{BTreeMap, HashMap};

/// The as-sent overlay of every neighbour (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct AsSent {
    /// Tracking is on (a standby).
    on: bool,
    /// Per neighbour: prefix -> the attribute set the neighbour holds (`None`: no route).
    /// Each set holds one reference.
    peers: BTreeMap<u32, HashMap<Prefix, Option<AttrId>, FxBuild>>,
    /// Per neighbour: the families whose End-of-RIB it has not been written yet.
    eor_owed: BTreeMap<u32, Vec<AfiSafi>>,
}

/// `peer`'s Adj-RIB-Out is about to change for `prefix` from `old` to `new` (a poll): the
/// neighbour still holds `old`, unless the overlay already says what it holds.
pub(crate) fn note_out_change(
    core: &mut Core,
    peer: u32,
    prefix: Prefix,
    old: Option<AttrId>,
    new: Option<AttrId>,
) {
    if !core.as_sent.on || old == new {
        return;
    }
    let overlay = core.as_sent.peers.entry(peer).or_default();
    let held = *overlay.entry(prefix).or_insert_with(|| {
        if let Some(id) = old {
            core.attrs.acquire(id);
        }
        old
    });
    if held == new {
        overlay.remove(&prefix);
        if let Some(id) = held {
            core.attrs.release(id);
        }
    }
}

/// `peer`'s state was just installed (its session came up, or its checkpoint was
/// restored): it is owed End-of-RIB for each active family whose End-of-RIB is still to be
/// sent after the initial table (`PeerFam::eor`: every negotiated family at session start;
/// what the primary still owed when a checkpoint was taken). Does nothing unless tracking is
/// on.
pub(crate) fn owe_end_of_rib(core: &mut Core, peer: u32) {
    if !core.as_sent.on {
        return;
    }
    let Some(ps) = core.peers.get(&peer) else {
        return;
    };
    let owed: Vec<AfiSafi> = [
        (ps.v4.active && ps.v4.eor, AfiSafi::IPV4_UNICAST),
        (ps.v6.active && ps.v6.eor, AfiSafi::IPV6_UNICAST),
    ]
    .into_iter()
    .filter_map(|(owed, f)| owed.then_some(f))
    .collect();
    if owed.is_empty() {
        core.as_sent.eor_owed.remove(&peer);
    } else {
        core.as_sent.eor_owed.insert(peer, owed);
    }
}

/// Drops `peer`'s overlay and End-of-RIB record (its Adj-RIB-Out was installed as sent, or
/// its session ended).
pub(crate) fn forget(core: &mut Core, peer: u32) {
    core.as_sent.eor_owed.remove(&peer);
    if let Some(overlay) = core.as_sent.peers.remove(&peer) {
        for id in overlay.into_values().flatten() {
            core.attrs.release(id);
        }
    }
}

/// The attribute set as this node's export stores it for a route of `afi_safi` announced in
/// an UPDATE with `attrs`: the MP attributes and RFC 6793's AS4 ones are the encoder's, not
/// the route's; an MP_REACH_NLRI keeps its next hop only.
fn canonical(afi_safi: AfiSafi, attrs: &PathAttributes) -> PathAttributes {
    let mut a = attrs.clone();
    let mp = a.mp_reach().filter(|m| m.afi_safi == afi_safi).cloned();
    a.remove(type_code::MP_REACH_NLRI);
    a.remove(type_code::MP_UNREACH_NLRI);
    a.remove(type_code::AS4_PATH);
    a.remove(type_code::AS4_AGGREGATOR);
    if let Some(mut m) = mp {
        if afi_safi != AfiSafi::IPV4_UNICAST || a.next_hop().is_none() {
            m.nlri = MpNlri::Prefixes(Vec::new());
            a.set(AttributeValue::MpReach(m));
        }
    }
    a.sort();
    a
}

impl Rib {
    /// Turns the as-sent tracking on (a standby: its speaker's UPDATEs are not written, the
    /// primary's are noted with [`Rib::note_as_sent`]) or off (a primary, after a takeover:
    /// everything tracked is forgotten).
    pub fn track_as_sent(&mut self, on: bool) {
        if !on {
            self.core.as_sent.eor_owed.clear();
            let peers: Vec<u32> = self.core.as_sent.peers.keys().copied().collect();
            for p in peers {
                forget(&mut self.core, p);
            }
        }
        self.core.as_sent.on = on;
    }

    /// The UPDATE `update` (decoded as the neighbour decodes it) was written to `peer` by the
    /// node that holds the session: what the neighbour holds changes as RFC 4271 section 3.1
    /// says (withdrawals first, then the announcements replace); an End-of-RIB is no longer
    /// owed for its family. Does nothing unless tracking is on ([`Rib::track_as_sent`]).
    ///
    /// # Errors
    /// [`RibError::Encode`] when an announced attribute set cannot be encoded for storage;
    /// the prefixes before it were noted.
    pub fn note_as_sent(&mut self, peer: PeerId, update: &Update) -> Result<(), RibError> {
        if !self.core.as_sent.on || peer.0 == LOCAL_PEER {
            return Ok(());
        }
        if let Some(f) = update.as_end_of_rib() {
            if let Some(owed) = self.core.as_sent.eor_owed.get_mut(&peer.0) {
                owed.retain(|o| *o != f);
                if owed.is_empty() {
                    self.core.as_sent.eor_owed.remove(&peer.0);
                }
            }
            return Ok(());
        }
        for (_, n) in update.withdrawals() {
            self.set_as_sent(peer.0, n.prefix, None);
        }
        let mut interned: Vec<(AfiSafi, AttrId)> = Vec::new();
        for (afi_safi, n) in update.announced() {
            let id = match interned.iter().find(|(f, _)| *f == afi_safi) {
                Some((_, id)) => *id,
                None => {
                    let id = self
                        .core
                        .attrs
                        .intern(&canonical(afi_safi, &update.attributes))?;
                    interned.push((afi_safi, id));
                    id
                }
            };
            self.set_as_sent(peer.0, n.prefix, Some(id));
        }
        for (_, id) in interned {
            self.core.attrs.release(id);
        }
        Ok(())
    }

    /// The neighbour holds `value` for `prefix`.
    fn set_as_sent(&mut self, peer: u32, prefix: Prefix, value: Option<AttrId>) {
        let out = self.core.peers.get(&peer).and_then(|ps| out_of(ps, prefix));
        let core = &mut self.core;
        let overlay = core.as_sent.peers.entry(peer).or_default();
        let previous = if value == out {
            overlay.remove(&prefix)
        } else {
            if let Some(id) = value {
                core.attrs.acquire(id);
            }
            overlay.insert(prefix, value)
        };
        if let Some(Some(id)) = previous {
            core.attrs.release(id);
        }
    }

    /// How many prefixes `peer` holds otherwise than its Adj-RIB-Out says (what
    /// [`Rib::as_sent_difference`] would send).
    pub fn as_sent_pending(&self, peer: PeerId) -> usize {
        let Some(overlay) = self.core.as_sent.peers.get(&peer.0) else {
            return 0;
        };
        let ps = self.core.peers.get(&peer.0);
        overlay
            .iter()
            .filter(|(p, v)| **v != ps.and_then(|ps| out_of(ps, **p)))
            .count()
    }

    /// The UPDATE messages (whole messages, encoded for `peer`'s session) that turn what
    /// `peer` holds (as tracked) into its Adj-RIB-Out: per family (IPv4 then IPv6) the
    /// withdrawals, then the announcements grouped by attribute set, groups in the order of
    /// their lowest prefix, prefixes ascending, then End-of-RIB when the neighbour has not
    /// been written one for the family yet (RFC 4724 section 2: it follows the initial
    /// table). The overlay and the End-of-RIB record are emptied: the caller sends them.
    /// Empty when tracking is off or nothing differs.
    pub fn as_sent_difference(&mut self, peer: PeerId) -> Vec<Vec<u8>> {
        let overlay = self.core.as_sent.peers.remove(&peer.0);
        let owed = self.core.as_sent.eor_owed.remove(&peer.0);
        if overlay.is_none() && owed.is_none() {
            return Vec::new();
        }
        let overlay = overlay.unwrap_or_default();
        let owed = owed.unwrap_or_default();
        let mut out = Vec::new();
        if let Some(ps) = self.core.peers.get(&peer.0) {
            difference::<Ipv4Prefix>(&self.core, ps, &overlay, &owed, &mut out);
            difference::<Ipv6Prefix>(&self.core, ps, &overlay, &owed, &mut out);
        }
        for id in overlay.into_values().flatten() {
            self.core.attrs.release(id);
        }
        out
    }
}

/// `ps`'s Adj-RIB-Out entry for `prefix`.
fn out_of(ps: &PeerState, prefix: Prefix) -> Option<AttrId> {
    match prefix {
        Prefix::V4(k) => ps.v4.out.get(&k).copied(),
        Prefix::V6(k) => ps.v6.out.get(&k).copied(),
    }
}

/// The UPDATEs of family `K` turning `overlay` into `ps`'s Adj-RIB-Out, appended to `out`,
/// then its End-of-RIB when `owed` names the family and it is active.
fn difference<K: Fam>(
    core: &Core,
    ps: &PeerState,
    overlay: &HashMap<Prefix, Option<AttrId>, FxBuild>,
    owed: &[AfiSafi],
    out: &mut Vec<Vec<u8>>,
) {
    let pf = K::pf(ps);
    let mut keys: Vec<(K, Option<AttrId>)> = overlay
        .iter()
        .filter_map(|(p, v)| Some((K::from_prefix(*p)?, *v)))
        .collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let mut withdrawn: Vec<Nlri> = Vec::new();
    let mut groups: Vec<(AttrId, Vec<Nlri>)> = Vec::new();
    let mut group_of: HashMap<AttrId, usize, FxBuild> = HashMap::default();
    for (k, held) in keys {
        let desired = pf.out.get(&k).copied();
        if desired == held {
            continue;
        }
        match desired {
            None => withdrawn.push(Nlri::new(k.to_prefix())),
            Some(id) => {
                let g = *group_of.entry(id).or_insert_with(|| {
                    groups.push((id, Vec::new()));
                    groups.len() - 1
                });
                groups[g].1.push(Nlri::new(k.to_prefix()));
            }
        }
    }
    let ctx = &ps.info.ctx;
    let builder = UpdateBuilder::new(ctx);
    let mut emit = |us: Vec<Update>| {
        for u in us {
            if let Ok(b) = encode_message(&Message::Update(u), ctx) {
                out.push(b);
            }
        }
    };
    if let Ok(us) = builder.withdraw(K::AFI_SAFI, &withdrawn) {
        emit(us);
    }
    for (id, nlri) in groups {
        let attrs = core.attrs.decode(id);
        let nh = attrs.mp_reach().map(|r| r.next_hop.clone());
        if let Ok(us) = builder.announce(K::AFI_SAFI, &attrs, nh, &nlri) {
            emit(us);
        }
    }
    // RFC 4724 section 2: the marker indicates "the completion of the initial routing
    // update"; the primary that died before writing it cannot send it any more.
    if pf.active && owed.contains(&K::AFI_SAFI) {
        emit(vec![builder.end_of_rib(K::AFI_SAFI)]);
    }
}
