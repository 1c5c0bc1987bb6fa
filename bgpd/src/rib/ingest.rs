//! Routes in: neighbours up and down, UPDATEs (RFC 7606 outcomes), import policy, loop
//! checks, locally originated routes, graceful restart (RFC 4724), and the decision process
//! run on every change.

use super::attrs::{AttrId, AttrInfo, NO_ATTR};
use super::decision::{self, Candidate};
use super::table::{Route, Routes, BEST, REFRESH_STALE, STALE};
use super::{
    Core, Direction, Fam, FamRib, PeerFam, PeerId, PeerInfo, PeerState, Rib, RibError, RibEvent,
    Sync, LOCAL_PEER,
};
use crate::policy::{NextHopAction, PolicyConfig, RouteInput};
use crate::wire::{
    type_code, AfiSafi, Aggregator, AsPath, AttributeValue, Ipv4Prefix, Ipv6Prefix, MpNextHop,
    MpNlri, MpReach, Nlri, Origin, Outcome, PathAttribute, PathAttributes, Prefix, Update,
    UpdateView,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

impl<K: Fam> FamRib<K> {
    /// Inserts or replaces `route` (its references are the caller's, handed over), runs the
    /// decision process and logs a Loc-RIB change.
    pub(crate) fn set_route(&mut self, core: &mut Core, key: K, mut route: Route) {
        route.flags &= !BEST;
        match self.table.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                if route.eligible() {
                    route.flags |= BEST;
                    v.insert(Routes::One(route));
                    self.best += 1;
                    if self.logging {
                        self.log.push(key, Some((route.peer, route.attr)));
                    }
                } else {
                    v.insert(Routes::One(route));
                }
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let e = o.get_mut();
                let before = e.best().map(|r| (r.peer, r.attr));
                if let Some(old) = e.upsert(route) {
                    core.attrs.release(old.attr_in);
                    core.attrs.release(old.attr);
                }
                let after = select_best(core, e);
                count_best(&mut self.best, before.is_some(), after.is_some());
                if before != after && self.logging {
                    self.log.push(key, after);
                }
            }
        }
    }

    /// Removes `peer`'s route (path `path_id`) for `key`, if any.
    pub(crate) fn remove_route(&mut self, core: &mut Core, key: K, peer: u32, path_id: u32) {
        let Some(e) = self.table.get_mut(&key) else {
            return;
        };
        let before = e.best().map(|r| (r.peer, r.attr));
        let (old, empty) = e.remove(peer, path_id);
        let Some(old) = old else {
            return;
        };
        core.attrs.release(old.attr_in);
        core.attrs.release(old.attr);
        let after = if empty {
            self.table.remove(&key);
            None
        } else {
            select_best(core, e)
        };
        count_best(&mut self.best, before.is_some(), after.is_some());
        if before != after && self.logging {
            self.log.push(key, after);
        }
    }

    /// Removes every route (every path) of `peer` matching `pred`; returns how many.
    pub(crate) fn remove_peer_routes(
        &mut self,
        core: &mut Core,
        peer: u32,
        pred: impl Fn(&Route) -> bool,
    ) -> usize {
        let mut keys: Vec<(K, u32)> = Vec::new();
        for (k, e) in &self.table {
            for r in e.of_peer(peer) {
                if pred(r) {
                    keys.push((*k, r.path_id));
                }
            }
        }
        keys.sort_unstable();
        let n = keys.len();
        for (k, path_id) in keys {
            self.remove_route(core, k, peer, path_id);
        }
        n
    }
}

/// Keeps [`FamRib::best`] (`best`) when a prefix's Loc-RIB route appears or goes.
#[inline]
fn count_best(best: &mut usize, before: bool, after: bool) {
    match (before, after) {
        (false, true) => *best += 1,
        (true, false) => *best -= 1,
        _ => {}
    }
}

/// Runs the decision process on one prefix: sets the BEST flag, returns the best route's
/// (peer, attributes).
pub(crate) fn select_best(core: &Core, e: &mut Routes) -> Option<(u32, AttrId)> {
    let routes = e.as_mut_slice();
    for r in routes.iter_mut() {
        r.flags &= !BEST;
    }
    let best = if routes.len() == 1 {
        routes[0].eligible().then_some(0)
    } else {
        let mut idx = Vec::with_capacity(routes.len());
        let mut cands = Vec::with_capacity(routes.len());
        for (i, r) in routes.iter().enumerate() {
            if let Some(c) = candidate(core, r) {
                idx.push(i);
                cands.push(c);
            }
        }
        decision::select(&cands, core.cfg.decision).map(|(i, _)| idx[i])
    };
    best.map(|i| {
        let r = &mut routes[i];
        r.flags |= BEST;
        (r.peer, r.attr)
    })
}

/// The decision inputs of an eligible route.
fn candidate(core: &Core, r: &Route) -> Option<Candidate> {
    if !r.eligible() {
        return None;
    }
    let info: &AttrInfo = core.attrs.info(r.attr);
    let (ebgp, router_id, address) = if r.peer == LOCAL_PEER {
        (false, core.cfg.router_id.to_u32(), IpAddr::from([0u8; 4]))
    } else {
        let p = core.peers.get(&r.peer)?;
        (!p.info.ibgp, p.info.remote_id.to_u32(), p.info.address)
    };
    Some(Candidate {
        local: r.peer == LOCAL_PEER,
        local_pref: info.local_pref().unwrap_or(100),
        as_path_len: u32::from(info.as_path_len),
        origin: info.origin,
        med: info.med().unwrap_or(0),
        neighbor_as: info.neighbor_as().unwrap_or(core.cfg.local_as.0),
        ebgp,
        bgp_id: info.originator_id().unwrap_or(router_id),
        cluster_len: u32::from(info.cluster_len),
        address,
        peer: r.peer,
        path_id: r.path_id,
    })
}

/// Why a received route is not eligible whatever the policy: RFC 4271 section 9.1.2 (our AS
/// in the AS path), RFC 4456 section 8 (our ORIGINATOR_ID, our CLUSTER_ID).
fn loop_check(core: &Core, p: &PeerInfo, attrs: &PathAttributes, path: Option<&AsPath>) -> bool {
    if let Some(path) = path {
        if path.contains(core.cfg.local_as) || path.contains(p.local_as) {
            return true;
        }
    }
    if let Some(AttributeValue::OriginatorId(id)) = attrs.value(type_code::ORIGINATOR_ID) {
        // "A router that recognizes the ORIGINATOR_ID attribute SHOULD ignore a route
        // received with its BGP Identifier as the ORIGINATOR_ID."
        if *id == core.cfg.router_id.0 {
            return true;
        }
    }
    if let Some(AttributeValue::ClusterList(l)) = attrs.value(type_code::CLUSTER_LIST) {
        // "If the local CLUSTER_ID is found in the CLUSTER_LIST, the advertisement received
        // SHOULD be ignored."
        if l.contains(&core.cfg.cluster_id()) {
            return true;
        }
    }
    false
}

/// Sets the next hop of `attrs` (a route of family `K`) as a policy said.
pub(crate) fn apply_next_hop<K: Fam>(attrs: &mut PathAttributes, nh: IpAddr) {
    match (K::AFI_SAFI == AfiSafi::IPV4_UNICAST, nh) {
        (true, IpAddr::V4(a)) => {
            attrs.remove(type_code::MP_REACH_NLRI);
            attrs.set(AttributeValue::NextHop(a));
        }
        (false, IpAddr::V6(a)) => {
            attrs.set(AttributeValue::MpReach(MpReach {
                afi_safi: K::AFI_SAFI,
                next_hop: MpNextHop::Ipv6 {
                    global: a,
                    link_local: None,
                },
                nlri: MpNlri::Prefixes(Vec::new()),
            }));
        }
        _ => {}
    }
}

/// Our address on the session for routes of family `K`.
pub(crate) fn self_address<K: Fam>(p: &PeerInfo) -> Option<IpAddr> {
    if K::AFI_SAFI == AfiSafi::IPV4_UNICAST {
        p.self_v4().map(IpAddr::V4)
    } else {
        p.self_v6().map(IpAddr::V6)
    }
}

/// Import: the post-policy attribute set of a route (one reference for the caller), or
/// `NO_ATTR`. `in_id` is the pre-policy set, `attrs` its decoded form when the caller has it.
fn import<K: Fam>(core: &mut Core, peer: u32, key: K, in_id: AttrId) -> AttrId {
    let Some(p) = core.peers.get(&peer) else {
        return NO_ATTR;
    };
    if p.import.is_empty() {
        if p.info.ibgp {
            core.attrs.acquire(in_id);
            return in_id;
        }
        // RFC 8212 section 3: "Routes MUST NOT be ... accepted ... from an EBGP peer unless
        // ... an import policy is explicitly configured."
        warn_no_policy(core, peer, Direction::Import);
        return NO_ATTR;
    }
    if p.import.trivially_accepts() {
        core.attrs.acquire(in_id);
        return in_id;
    }
    let attrs = core.attrs.decode(in_id);
    let v = p.import.evaluate(&RouteInput {
        prefix: key.to_prefix(),
        attrs: &attrs,
        local_as: p.info.local_as,
    });
    if !v.accept {
        return NO_ATTR;
    }
    let nh = match v.next_hop {
        Some(NextHopAction::SelfAddress) => self_address::<K>(&p.info),
        Some(NextHopAction::Address(a)) => Some(a),
        None => None,
    };
    if v.attrs.is_none() && nh.is_none() {
        core.attrs.acquire(in_id);
        return in_id;
    }
    let mut a = v.attrs.unwrap_or(attrs);
    if let Some(nh) = nh {
        apply_next_hop::<K>(&mut a, nh);
    }
    core.attrs.intern(&a).unwrap_or(NO_ATTR)
}

pub(crate) fn warn_no_policy(core: &mut Core, peer: u32, dir: Direction) {
    let Some(p) = core.peers.get_mut(&peer) else {
        return;
    };
    let i = dir as usize;
    if p.warned[i] {
        return;
    }
    p.warned[i] = true;
    let ev = RibEvent::NoPolicy {
        peer: PeerId(peer),
        address: p.info.address,
        direction: dir,
    };
    tracing::warn!("{ev}");
    core.events.push(ev);
}

impl Rib {
    /// A session reached Established: its whole Adj-RIB-Out is sent at the next
    /// [`Rib::poll_updates`], followed by End-of-RIB per negotiated family. A neighbour kept
    /// after [`Rib::peer_down_graceful`] keeps its stale routes until [`Rib::end_of_rib`].
    /// Fails when a named policy does not exist.
    pub fn peer_up(&mut self, info: PeerInfo) -> Result<(), RibError> {
        if info.id.0 == LOCAL_PEER {
            return Err(RibError::ReservedPeerId);
        }
        let (import, export) = self.chains(&info)?;
        let id = info.id.0;
        let v4 = info.ctx.negotiated(AfiSafi::IPV4_UNICAST);
        let v6 = info.ctx.negotiated(AfiSafi::IPV6_UNICAST);
        // A neighbour coming back keeps its (stale) routes but nothing of its Adj-RIB-Out.
        super::as_sent::forget(&mut self.core, id);
        if let Some(old) = self.core.peers.remove(&id) {
            release_out(&mut self.core, old);
        }
        fn fam<K>(active: bool, pos: u64) -> PeerFam<K> {
            PeerFam {
                active,
                out: Default::default(),
                pos,
                sync: Sync::Resend,
                eor: active,
            }
        }
        let ps = PeerState {
            v4: fam(v4, self.v4.log.end()),
            v6: fam(v6, self.v6.log.end()),
            info,
            up: true,
            import,
            export,
            warned: [false; 2],
        };
        self.core.peers.insert(id, ps);
        super::as_sent::owe_end_of_rib(&mut self.core, id);
        self.update_logging();
        Ok(())
    }

    /// The session went down (not gracefully): every route learned from it is removed.
    pub fn peer_down(&mut self, peer: PeerId) {
        super::as_sent::forget(&mut self.core, peer.0);
        let Some(ps) = self.core.peers.get_mut(&peer.0) else {
            return;
        };
        ps.up = false;
        let v4 = std::mem::take(&mut ps.v4);
        let v6 = std::mem::take(&mut ps.v6);
        release_fam(&mut self.core, v4);
        release_fam(&mut self.core, v6);
        self.v4.remove_peer_routes(&mut self.core, peer.0, |_| true);
        self.v6.remove_peer_routes(&mut self.core, peer.0, |_| true);
        self.core.peers.remove(&peer.0);
        self.update_logging();
    }

    /// The session went down and the neighbour restarts gracefully (RFC 4724 section 4.2,
    /// receiving speaker): its routes are kept, marked stale, until [`Rib::end_of_rib`] or
    /// [`Rib::flush_stale`] (restart time over).
    pub fn peer_down_graceful(&mut self, peer: PeerId) {
        super::as_sent::forget(&mut self.core, peer.0);
        let Some(ps) = self.core.peers.get_mut(&peer.0) else {
            return;
        };
        ps.up = false;
        let v4 = std::mem::take(&mut ps.v4);
        let v6 = std::mem::take(&mut ps.v6);
        release_fam(&mut self.core, v4);
        release_fam(&mut self.core, v6);
        fn mark<K: Fam>(f: &mut FamRib<K>, peer: u32) {
            for e in f.table.values_mut() {
                for r in e.as_mut_slice() {
                    if r.peer == peer {
                        r.flags |= STALE;
                    }
                }
            }
        }
        mark(&mut self.v4, peer.0);
        mark(&mut self.v6, peer.0);
        self.update_logging();
    }

    /// End-of-RIB received from `peer` for `afi_safi`: its routes of that family still stale
    /// are removed (RFC 4724 section 4.2).
    pub fn end_of_rib(&mut self, peer: PeerId, afi_safi: AfiSafi) {
        if afi_safi == AfiSafi::IPV4_UNICAST {
            self.v4
                .remove_peer_routes(&mut self.core, peer.0, |r| r.flags & STALE != 0);
        } else if afi_safi == AfiSafi::IPV6_UNICAST {
            self.v6
                .remove_peer_routes(&mut self.core, peer.0, |r| r.flags & STALE != 0);
        }
    }

    /// Beginning-of-RIB-Route-Refresh (BoRR) received from `peer` for `afi_safi`: its
    /// routes of that family are marked stale until re-announced (RFC 7313 section 4: "it
    /// MUST mark all the routes with the given AFI/SAFI, which it has received from the
    /// peer, as stale"). A route announced again is fresh; [`Rib::purge_stale`] at the
    /// End-of-RIB-Route-Refresh (EoRR) removes the rest. Independent of the Graceful Restart
    /// stale state ([`Rib::peer_down_graceful`]): End-of-RIB does not purge these routes, and
    /// EoRR does not purge routes only GR-stale.
    pub fn mark_stale(&mut self, peer: PeerId, afi_safi: AfiSafi) {
        fn mark<K: Fam>(f: &mut FamRib<K>, peer: u32) {
            for e in f.table.values_mut() {
                for r in e.as_mut_slice() {
                    if r.peer == peer {
                        r.flags |= REFRESH_STALE;
                    }
                }
            }
        }
        if afi_safi == AfiSafi::IPV4_UNICAST {
            mark(&mut self.v4, peer.0);
        } else if afi_safi == AfiSafi::IPV6_UNICAST {
            mark(&mut self.v6, peer.0);
        }
    }

    /// End-of-RIB-Route-Refresh (EoRR) received from `peer` for `afi_safi`, or our wait for
    /// it is over: the routes [`Rib::mark_stale`] marked and the neighbour did not announce
    /// again are removed (RFC 7313 section 4: "it MUST immediately remove all the routes
    /// from the peer that are still marked as stale for that AFI/SAFI"). Without a preceding
    /// BoRR nothing is stale and nothing changes. Returns how many routes were removed.
    pub fn purge_stale(&mut self, peer: PeerId, afi_safi: AfiSafi) -> usize {
        let stale = |r: &Route| r.flags & REFRESH_STALE != 0;
        if afi_safi == AfiSafi::IPV4_UNICAST {
            self.v4.remove_peer_routes(&mut self.core, peer.0, stale)
        } else if afi_safi == AfiSafi::IPV6_UNICAST {
            self.v6.remove_peer_routes(&mut self.core, peer.0, stale)
        } else {
            0
        }
    }

    /// The restart time (or stale-path time) is over: every stale route of `peer` is removed;
    /// a neighbour that is not up is forgotten.
    pub fn flush_stale(&mut self, peer: PeerId) {
        self.v4
            .remove_peer_routes(&mut self.core, peer.0, |r| r.flags & STALE != 0);
        self.v6
            .remove_peer_routes(&mut self.core, peer.0, |r| r.flags & STALE != 0);
        if self.core.peers.get(&peer.0).is_some_and(|p| !p.up) {
            self.peer_down(peer);
        }
    }

    /// Applies a decoded UPDATE from `peer` with the codec's outcome (RFC 7606):
    /// `Accept` and `AttributeDiscard` (the discarded attributes already removed) are applied
    /// as they are; `TreatAsWithdraw` withdraws every prefix the UPDATE announces (MP_UNREACH
    /// withdrawals stand); `AfiSafiDisable` removes the neighbour's routes of that family;
    /// `SessionReset` changes nothing (the session closes, then calls [`Rib::peer_down`]).
    ///
    /// Routes with our AS in the AS path (RFC 4271 section 9.1.2), our BGP Identifier as
    /// ORIGINATOR_ID or our CLUSTER_ID in the CLUSTER_LIST (RFC 4456 section 8) stay in the
    /// Adj-RIB-In but are not eligible. The AS path used is AS_PATH merged with AS4_PATH
    /// (RFC 6793 section 4.2.3). With ADD-PATH receive negotiated for a family (RFC 7911)
    /// each Path Identifier is a route of its own: announcements and withdrawals name the
    /// path, and every path takes part in the decision process.
    pub fn apply_update(
        &mut self,
        peer: PeerId,
        update: &Update,
        outcome: &Outcome,
    ) -> Result<(), RibError> {
        let add_path = AddPath::of(&self.established_peer(peer)?.info);
        match outcome {
            Outcome::SessionReset(_) => return Ok(()),
            Outcome::AfiSafiDisable { afi_safi, .. } => {
                if *afi_safi == AfiSafi::IPV4_UNICAST {
                    self.v4.remove_peer_routes(&mut self.core, peer.0, |_| true);
                } else if *afi_safi == AfiSafi::IPV6_UNICAST {
                    self.v6.remove_peer_routes(&mut self.core, peer.0, |_| true);
                }
                return Ok(());
            }
            Outcome::Accept
            | Outcome::AttributeDiscard { .. }
            | Outcome::TreatAsWithdraw { .. } => {}
        }
        // Withdrawals (also under treat-as-withdraw), by Path Identifier with ADD-PATH.
        for n in &update.withdrawn {
            self.withdraw_nlri(peer.0, n, add_path);
        }
        if let Some(u) = update.attributes.mp_unreach() {
            for n in u.withdrawn.prefixes() {
                self.withdraw_nlri(peer.0, n, add_path);
            }
        }
        let mp = update.attributes.mp_reach();
        if matches!(outcome, Outcome::TreatAsWithdraw { .. }) {
            // RFC 7606 section 2: "the UPDATE message MUST be handled as though all contained
            // routes had been withdrawn".
            let mp_nlri = mp.map_or(&[][..], |r| r.nlri.prefixes());
            for n in update.nlri.iter().chain(mp_nlri) {
                self.withdraw_nlri(peer.0, n, add_path);
            }
            return Ok(());
        }
        if !update.nlri.is_empty() {
            announce::<Ipv4Prefix>(self, peer.0, &update.attributes, None, &update.nlri);
        }
        if let Some(r) = mp {
            if r.afi_safi == AfiSafi::IPV4_UNICAST {
                announce::<Ipv4Prefix>(
                    self,
                    peer.0,
                    &update.attributes,
                    Some(r),
                    r.nlri.prefixes(),
                );
            } else if r.afi_safi == AfiSafi::IPV6_UNICAST {
                announce::<Ipv6Prefix>(
                    self,
                    peer.0,
                    &update.attributes,
                    Some(r),
                    r.nlri.prefixes(),
                );
            }
        }
        Ok(())
    }

    /// Applies an UPDATE from `peer` read in place ([`UpdateView`]): the same change as
    /// [`Rib::apply_update`] of its decoded form with `Outcome::Accept`, which is what the
    /// decode gives every UPDATE a view is made of. Nothing is decoded into owned values: the
    /// prefixes are read from the octets, and the attribute set is interned by its received
    /// octets (built only when new).
    pub fn apply_update_view(
        &mut self,
        peer: PeerId,
        view: &UpdateView<'_>,
    ) -> Result<(), RibError> {
        self.established_peer(peer)?;
        // No Path Identifiers in a view: path 0 (as `AddPath::path_id` of an NLRI without one).
        for k in view.withdrawn() {
            self.v4.remove_route(&mut self.core, k, peer.0, 0);
        }
        if view.announced_count() > 0 {
            announce_view(self, peer.0, view);
        }
        Ok(())
    }

    /// The state of `peer`, which must be known ([`RibError::UnknownPeer`]) and up
    /// ([`RibError::PeerNotUp`]) for an UPDATE of it to be applied.
    fn established_peer(&self, peer: PeerId) -> Result<&PeerState, RibError> {
        let ps = self
            .core
            .peers
            .get(&peer.0)
            .ok_or(RibError::UnknownPeer(peer))?;
        if !ps.up {
            return Err(RibError::PeerNotUp(peer));
        }
        Ok(ps)
    }

    /// Withdraws one NLRI of `peer`: the path its Path Identifier names (RFC 7911 section
    /// 3: the prefix and the Path Identifier together identify the route), 0 without ADD-PATH.
    fn withdraw_nlri(&mut self, peer: u32, n: &Nlri, add_path: AddPath) {
        self.withdraw_prefix(peer, n.prefix, add_path.path_id(n));
    }

    fn withdraw_prefix(&mut self, peer: u32, p: Prefix, path_id: u32) {
        match p {
            Prefix::V4(k) => self.v4.remove_route(&mut self.core, k, peer, path_id),
            Prefix::V6(k) => self.v6.remove_route(&mut self.core, k, peer, path_id),
        }
    }

    /// Originates `prefix` locally with `attributes` (ORIGIN IGP and an empty AS_PATH are
    /// added when absent; the next hop may be absent: next-hop-self is used on export).
    /// Locally originated routes win the decision process and are not sent to the FIB.
    pub fn originate(
        &mut self,
        prefix: Prefix,
        attributes: PathAttributes,
    ) -> Result<(), RibError> {
        let mut a = attributes;
        for code in [
            type_code::MP_UNREACH_NLRI,
            type_code::AS4_PATH,
            type_code::AS4_AGGREGATOR,
        ] {
            a.remove(code);
        }
        if a.origin().is_none() {
            a.set(AttributeValue::Origin(Origin::Igp));
        }
        if a.as_path().is_none() {
            a.set(AttributeValue::AsPath(AsPath::empty()));
        }
        if let Prefix::V4(_) = prefix {
            if let Some(MpNextHop::Ipv4(nh)) = a.mp_reach().map(|r| r.next_hop.clone()) {
                a.remove(type_code::MP_REACH_NLRI);
                a.set(AttributeValue::NextHop(nh));
            }
        } else {
            a.remove(type_code::NEXT_HOP);
            if let Some(r) = a.mp_reach().cloned() {
                a.set(AttributeValue::MpReach(MpReach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    next_hop: r.next_hop,
                    nlri: MpNlri::Prefixes(Vec::new()),
                }));
            }
        }
        a.sort();
        let id = self.core.attrs.intern(&a)?;
        self.core.attrs.acquire(id);
        let route = Route {
            peer: LOCAL_PEER,
            path_id: 0,
            attr_in: id,
            attr: id,
            flags: 0,
        };
        match prefix {
            Prefix::V4(k) => self.v4.set_route(&mut self.core, k, route),
            Prefix::V6(k) => self.v6.set_route(&mut self.core, k, route),
        }
        Ok(())
    }

    /// Withdraws a locally originated prefix.
    pub fn withdraw_originated(&mut self, prefix: Prefix) {
        self.withdraw_prefix(LOCAL_PEER, prefix, 0);
    }

    /// Replaces the policies: import policy is applied again to every Adj-RIB-In route and
    /// every neighbour's Adj-RIB-Out is brought in line at its next poll (only differences
    /// are sent). On error (a policy fails to compile, or a neighbour names a policy that
    /// no longer exists) nothing changes.
    pub fn set_policy(&mut self, policy: PolicyConfig) -> Result<(), RibError> {
        let policies = policy.compile()?;
        let mut chains = Vec::new();
        for (id, p) in &self.core.peers {
            chains.push((
                *id,
                policies.chain(&p.info.import)?,
                policies.chain(&p.info.export)?,
            ));
        }
        self.core.cfg.policy = policy;
        self.core.policies = policies;
        for (id, i, e) in chains {
            if let Some(p) = self.core.peers.get_mut(&id) {
                p.import = i;
                p.export = e;
                p.warned = [false; 2];
            }
        }
        self.reimport(None);
        for p in self.core.peers.values_mut() {
            resync(p, Sync::Diff);
        }
        Ok(())
    }

    /// Changes one neighbour's import and export policy names (configuration change without
    /// a session reset): like [`Rib::set_policy`] for that neighbour.
    pub fn set_peer_policy(
        &mut self,
        peer: PeerId,
        import: Vec<String>,
        export: Vec<String>,
    ) -> Result<(), RibError> {
        let i = self.core.policies.chain(&import)?;
        let e = self.core.policies.chain(&export)?;
        let p = self
            .core
            .peers
            .get_mut(&peer.0)
            .ok_or(RibError::UnknownPeer(peer))?;
        p.info.import = import;
        p.info.export = export;
        p.import = i;
        p.export = e;
        p.warned = [false; 2];
        resync(p, Sync::Diff);
        self.reimport(Some(peer.0));
        Ok(())
    }

    /// Soft reset in: applies import policy again to the neighbour's Adj-RIB-In.
    pub fn soft_reset_in(&mut self, peer: PeerId) {
        self.reimport(Some(peer.0));
    }

    /// Route refresh (RFC 2918) or soft reset out: the neighbour's whole Adj-RIB-Out of
    /// `afi_safi` is sent again at the next poll.
    pub fn refresh_out(&mut self, peer: PeerId, afi_safi: AfiSafi) {
        if let Some(p) = self.core.peers.get_mut(&peer.0) {
            if afi_safi == AfiSafi::IPV4_UNICAST {
                p.v4.sync = Sync::Resend;
            } else if afi_safi == AfiSafi::IPV6_UNICAST {
                p.v6.sync = Sync::Resend;
            }
        }
    }

    /// Applies import policy again to the routes of `peer` (or of every neighbour).
    fn reimport(&mut self, peer: Option<u32>) {
        reimport_fam::<Ipv4Prefix>(self, peer);
        reimport_fam::<Ipv6Prefix>(self, peer);
    }
}

fn resync(p: &mut PeerState, s: Sync) {
    for sync in [&mut p.v4.sync, &mut p.v6.sync] {
        if *sync == Sync::Changes {
            *sync = s;
        }
    }
}

fn reimport_fam<K: Fam>(rib: &mut Rib, peer: Option<u32>) {
    let (f, core) = K::parts(rib);
    let mut keys: Vec<K> = f.table.keys().copied().collect();
    keys.sort_unstable();
    let mut cache: HashMap<(u32, AttrId), AttrId> = HashMap::new();
    for k in keys {
        let routes: Vec<Route> = match f.table.get(&k) {
            Some(e) => e
                .as_slice()
                .iter()
                .filter(|r| r.peer != LOCAL_PEER && peer.is_none_or(|p| p == r.peer))
                .copied()
                .collect(),
            None => continue,
        };
        for r in routes {
            let Some(ps) = core.peers.get(&r.peer) else {
                continue;
            };
            let cacheable = !ps.import.prefix_dependent();
            let post = match cache.get(&(r.peer, r.attr_in)) {
                Some(&id) if cacheable => {
                    core.attrs.acquire(id);
                    id
                }
                _ => {
                    let id = reimport_one::<K>(core, r.peer, k, r.attr_in);
                    if cacheable {
                        core.attrs.acquire(id);
                        cache.insert((r.peer, r.attr_in), id);
                    }
                    id
                }
            };
            if post == r.attr {
                core.attrs.release(post);
                continue;
            }
            core.attrs.acquire(r.attr_in);
            f.set_route(
                core,
                k,
                Route {
                    attr: post,
                    flags: r.flags & (STALE | REFRESH_STALE),
                    ..r
                },
            );
        }
    }
    for (_, id) in cache {
        core.attrs.release(id);
    }
}

fn reimport_one<K: Fam>(core: &mut Core, peer: u32, key: K, in_id: AttrId) -> AttrId {
    let attrs = core.attrs.decode(in_id);
    let looped = match core.peers.get(&peer) {
        Some(p) => loop_check(core, &p.info, &attrs, attrs.as_path()),
        None => true,
    };
    if looped {
        return NO_ATTR;
    }
    import::<K>(core, peer, key, in_id)
}

/// Announces `nlri` of family `K` from `peer` with the UPDATE's `attrs` (`mp`: the
/// MP_REACH_NLRI they came in, for its next hop).
fn announce<K: Fam>(
    rib: &mut Rib,
    peer: u32,
    attrs: &PathAttributes,
    mp: Option<&MpReach>,
    nlri: &[Nlri],
) {
    let (f, core) = K::parts(rib);
    let add_path = core
        .peers
        .get(&peer)
        .is_some_and(|p| AddPath::of(&p.info).family::<K>());
    let path_id = |n: &Nlri| {
        if add_path {
            n.path_id.map_or(0, |p| p.0)
        } else {
            0
        }
    };
    // The AS path: AS_PATH merged with AS4_PATH (RFC 6793 section 4.2.3).
    let as4 = attrs.as4_path().is_some();
    let path: Option<Cow<'_, AsPath>> = if as4 {
        attrs.effective_as_path().map(Cow::Owned)
    } else {
        attrs.as_path().map(Cow::Borrowed)
    };
    let agg: Option<Aggregator> = attrs.effective_aggregator();
    let next_hop = match mp {
        Some(r) => match &r.next_hop {
            MpNextHop::Ipv4(a) => Some(IpAddr::V4(*a)),
            MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(*global)),
            MpNextHop::Opaque(_) => None,
        },
        None => attrs.next_hop().map(IpAddr::V4),
    };
    // Canonical encoding of the Adj-RIB-In set.
    let mut buf = core.attrs.take_scratch();
    let mut ok = true;
    for a in attrs.iter() {
        let r = match a.type_code() {
            type_code::MP_UNREACH_NLRI | type_code::AS4_PATH | type_code::AS4_AGGREGATOR => Ok(()),
            type_code::MP_REACH_NLRI => match mp {
                Some(r) => core.attrs.encode_one(
                    &PathAttribute {
                        flags: a.flags,
                        value: AttributeValue::MpReach(MpReach {
                            afi_safi: r.afi_safi,
                            next_hop: r.next_hop.clone(),
                            nlri: MpNlri::Prefixes(Vec::new()),
                        }),
                    },
                    &mut buf,
                ),
                None => Ok(()),
            },
            type_code::NEXT_HOP if mp.is_some() => Ok(()),
            type_code::AS_PATH if as4 => match &path {
                Some(p) => core.attrs.encode_one(
                    &PathAttribute {
                        flags: a.flags,
                        value: AttributeValue::AsPath(p.clone().into_owned()),
                    },
                    &mut buf,
                ),
                None => Ok(()),
            },
            type_code::AGGREGATOR
                if agg.is_some_and(|g| Some(&AttributeValue::Aggregator(g)) != Some(&a.value)) =>
            {
                core.attrs.encode_one(
                    &PathAttribute {
                        flags: a.flags,
                        value: AttributeValue::Aggregator(agg.unwrap_or(Aggregator {
                            asn: crate::wire::Asn::TRANS,
                            address: std::net::Ipv4Addr::UNSPECIFIED,
                        })),
                    },
                    &mut buf,
                )
            }
            _ => core.attrs.encode_one(a, &mut buf),
        };
        if r.is_err() {
            ok = false;
            break;
        }
    }
    if !ok {
        core.attrs.put_scratch(buf);
        // Cannot be stored: handled as withdrawn.
        for n in nlri {
            if let Some(k) = K::from_prefix(n.prefix) {
                f.remove_route(core, k, peer, path_id(n));
            }
        }
        return;
    }
    let in_id = core.attrs.intern_bytes(&buf, || {
        let mut info = AttrInfo::from_attrs(attrs, path.as_deref());
        info.next_hop = next_hop;
        info
    });
    core.attrs.put_scratch(buf);

    let Some(ps) = core.peers.get(&peer) else {
        core.attrs.release(in_id);
        return;
    };
    let looped = loop_check(core, &ps.info, attrs, path.as_deref());
    let keys = nlri
        .iter()
        .filter_map(|n| K::from_prefix(n.prefix).map(|k| (k, path_id(n))));
    install(f, core, peer, in_id, looped, keys);
}

/// Announces the NLRI of an UPDATE read in place ([`UpdateView`]) from `peer`: what
/// [`announce`] does with its decoded form, from the received octets. The canonical encoding
/// is the received Path Attributes field (see [`UpdateView::canonical_attributes`]), so a set
/// already interned costs a hash and a compare, and a new one is stored without re-encoding.
fn announce_view(rib: &mut Rib, peer: u32, view: &UpdateView<'_>) {
    let (f, core) = <Ipv4Prefix as Fam>::parts(rib);
    let mut buf = core.attrs.take_scratch();
    let in_id = {
        let bytes = view.canonical_attributes(&mut buf);
        core.attrs.intern_bytes(bytes, || AttrInfo::from_view(view))
    };
    core.attrs.put_scratch(buf);
    let Some(ps) = core.peers.get(&peer) else {
        core.attrs.release(in_id);
        return;
    };
    // As loop_check, from the octets.
    let looped = view.as_path_contains(core.cfg.local_as)
        || view.as_path_contains(ps.info.local_as)
        || view.originator_id() == Some(core.cfg.router_id.0)
        || view.cluster_list_contains(core.cfg.cluster_id());
    install(f, core, peer, in_id, looped, view.nlri().map(|k| (k, 0)));
}

/// Puts the routes of one UPDATE in place: `keys` are the (prefix, Path Identifier) of its
/// NLRI, `in_id` their Adj-RIB-In attribute set (the caller's reference, consumed), `looped`
/// whether a loop check made them ineligible. Import policy runs once for the whole UPDATE
/// unless it looks at prefixes.
fn install<K: Fam>(
    f: &mut FamRib<K>,
    core: &mut Core,
    peer: u32,
    in_id: AttrId,
    looped: bool,
    keys: impl Iterator<Item = (K, u32)> + Clone,
) {
    let Some(ps) = core.peers.get(&peer) else {
        core.attrs.release(in_id);
        return;
    };
    let per_prefix = !looped && !ps.import.is_empty() && ps.import.prefix_dependent();
    // One import verdict for the whole UPDATE unless the policy looks at prefixes.
    let shared = if looped || per_prefix {
        NO_ATTR
    } else {
        match keys.clone().next() {
            Some((k, _)) => import::<K>(core, peer, k, in_id),
            None => NO_ATTR,
        }
    };
    for (k, path_id) in keys {
        let post = if per_prefix {
            import::<K>(core, peer, k, in_id)
        } else {
            core.attrs.acquire(shared);
            shared
        };
        core.attrs.acquire(in_id);
        f.set_route(
            core,
            k,
            Route {
                peer,
                path_id,
                attr_in: in_id,
                attr: post,
                flags: 0,
            },
        );
    }
    core.attrs.release(shared);
    core.attrs.release(in_id);
}

/// Whether ADD-PATH receive is negotiated with a neighbour, for IPv4 and IPv6 unicast.
#[derive(Debug, Clone, Copy)]
struct AddPath([bool; 2]);

impl AddPath {
    fn of(p: &PeerInfo) -> Self {
        let r = &p.ctx.add_path_receive;
        AddPath([
            r.contains(&AfiSafi::IPV4_UNICAST),
            r.contains(&AfiSafi::IPV6_UNICAST),
        ])
    }

    fn family<K: Fam>(self) -> bool {
        self.0[usize::from(K::AFI_SAFI != AfiSafi::IPV4_UNICAST)]
    }

    /// The Path Identifier of an NLRI (RFC 7911 section 3) when ADD-PATH receive applies to
    /// its family, else 0.
    fn path_id(self, n: &Nlri) -> u32 {
        let on = match n.prefix {
            Prefix::V4(_) => self.0[0],
            Prefix::V6(_) => self.0[1],
        };
        if on {
            n.path_id.map_or(0, |p| p.0)
        } else {
            0
        }
    }
}

/// Releases the Adj-RIB-Out references of a neighbour being replaced.
fn release_out(core: &mut Core, p: PeerState) {
    release_fam(core, p.v4);
    release_fam(core, p.v6);
}

fn release_fam<K>(core: &mut Core, f: PeerFam<K>) {
    for (_, id) in f.out {
        core.attrs.release(id);
    }
}
