//! Routes out: the export rules and policy per neighbour, the Adj-RIB-Out, and the UPDATEs
//! that bring the neighbour from what it was sent to what it should have.
//!
//! Export rules, in order:
//! - a route is never sent back to the neighbour it came from;
//! - RFC 4271 section 9.2 / RFC 4456 section 6: a route learned from an internal neighbour
//!   goes to another internal neighbour only when one of them is a route reflector client
//!   (reflection: ORIGINATOR_ID set when absent, our CLUSTER_ID prepended to CLUSTER_LIST);
//! - RFC 1997: NO_ADVERTISE goes to nobody, NO_EXPORT and NO_EXPORT_SUBCONFED to no external
//!   neighbour;
//! - RFC 8212: nothing goes to an external neighbour without an export policy;
//! - export policy;
//! - external neighbour: our AS prepended, next hop self (unless policy set one),
//!   LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST removed, MULTI_EXIT_DISC removed unless
//!   export policy set it or the route is ours (RFC 4271 section 5.1.4); unrecognized
//!   non-transitive attributes are dropped and unrecognized transitive ones marked Partial
//!   (section 5);
//! - internal neighbour: LOCAL_PREF kept (100 when absent, section 5.1.5: "MUST include"),
//!   next hop kept (ours for local routes without one, or as policy says).

use super::attrs::AttrId;
use super::hash::FxBuild;
use super::ingest::{apply_next_hop, self_address};
use super::table::{Family, Route, BEST};
use super::{Core, Direction, Fam, PeerId, PeerState, Rib, RibEvent, Sync, LOCAL_PEER};
use crate::policy::{NextHopAction, RouteInput};
use crate::wire::{
    encode_message, type_code, AsPath, AttributeValue, Community, Ipv4Prefix, Ipv6Prefix, Message,
    MpNextHop, Nlri, PathAttribute, PathAttributes, Prefix, Update, UpdateBuilder,
};
use std::collections::HashMap;

impl Rib {
    /// The UPDATE messages (whole messages, header included, encoded for the neighbour's
    /// session) that bring its Adj-RIB-Out up to date: for each family (IPv4 then IPv6) the
    /// withdrawals first, then the announcements grouped by attribute set, groups in the order
    /// of their lowest prefix, prefixes ascending; after the initial table of a session, the
    /// End-of-RIB marker of each negotiated family (RFC 4724 section 2). Empty when the
    /// neighbour is unknown or not established.
    pub fn poll_updates(&mut self, peer: PeerId) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        poll_family::<Ipv4Prefix>(self, peer.0, &mut out);
        poll_family::<Ipv6Prefix>(self, peer.0, &mut out);
        self.compact_logs();
        out
    }
}

fn poll_family<K: Fam>(rib: &mut Rib, peer: u32, out: &mut Vec<Vec<u8>>) {
    let (f, core) = K::parts(rib);
    // Taken out of the map while working, put back at the end.
    let Some(mut ps) = core.peers.remove(&peer) else {
        return;
    };
    if !ps.up || !K::pf(&ps).active {
        core.peers.insert(peer, ps);
        return;
    }
    let pf = K::pf_mut(&mut ps);
    let sync = pf.sync;
    // The prefixes to bring up to date, ascending, with their Loc-RIB route (neighbour,
    // attribute set).
    let items: Vec<(K, Option<(u32, AttrId)>)> = match sync {
        Sync::Changes => f.log.latest_since(pf.pos),
        Sync::Diff | Sync::Resend => {
            let mut k: Vec<K> = f
                .table
                .iter()
                .filter(|(_, e)| e.best().is_some())
                .map(|(k, _)| *k)
                .collect();
            k.extend(pf.out.keys().copied());
            k.sort_unstable();
            k.dedup();
            k.into_iter()
                .map(|k| {
                    let best = f.table.get(&k).and_then(|e| e.best());
                    (k, best.map(|r| (r.peer, r.attr)))
                })
                .collect()
        }
    };
    pf.pos = f.log.end();
    pf.sync = Sync::Changes;

    let cacheable = !ps.export.prefix_dependent();
    let mut cache: HashMap<(u32, AttrId), Option<AttrId>, FxBuild> = HashMap::default();
    let mut withdrawn: Vec<Nlri> = Vec::new();
    let mut groups: Vec<(AttrId, Vec<Nlri>)> = Vec::new();
    let mut group_of: HashMap<AttrId, usize, FxBuild> = HashMap::default();
    for (k, best) in items {
        let best = best.map(|(peer, attr)| Route {
            peer,
            path_id: 0,
            attr_in: attr,
            attr,
            flags: BEST,
        });
        let desired = match best {
            None => None,
            Some(r) if cacheable => match cache.get(&(r.peer, r.attr)) {
                Some(d) => {
                    if let Some(id) = d {
                        core.attrs.acquire(*id);
                    }
                    *d
                }
                None => {
                    let d = export::<K>(core, &mut ps, &r, k);
                    if let Some(id) = d {
                        core.attrs.acquire(id);
                    }
                    cache.insert((r.peer, r.attr), d);
                    d
                }
            },
            Some(r) => export::<K>(core, &mut ps, &r, k),
        };
        let pf = K::pf_mut(&mut ps);
        let cur = if pf.out.is_empty() {
            None
        } else {
            pf.out.get(&k).copied()
        };
        if desired == cur && sync != Sync::Resend {
            if let Some(id) = desired {
                core.attrs.release(id);
            }
            continue;
        }
        super::as_sent::note_out_change(core, peer, k.to_prefix(), cur, desired);
        match desired {
            None => {
                if let Some(c) = pf.out.remove(&k) {
                    core.attrs.release(c);
                    withdrawn.push(Nlri::new(k.to_prefix()));
                }
            }
            Some(id) => {
                if let Some(c) = pf.out.insert(k, id) {
                    core.attrs.release(c);
                }
                let g = *group_of.entry(id).or_insert_with(|| {
                    groups.push((id, Vec::new()));
                    groups.len() - 1
                });
                groups[g].1.push(Nlri::new(k.to_prefix()));
            }
        }
    }
    for (_, d) in cache {
        if let Some(id) = d {
            core.attrs.release(id);
        }
    }

    // Encode.
    let ctx = ps.info.ctx.clone();
    let builder = UpdateBuilder::new(&ctx);
    let emit = |u: Update, out: &mut Vec<Vec<u8>>| -> bool {
        match encode_message(&Message::Update(u), &ctx) {
            Ok(b) => {
                out.push(b);
                true
            }
            Err(_) => false,
        }
    };
    if let Ok(us) = builder.withdraw(K::AFI_SAFI, &withdrawn) {
        for u in us {
            emit(u, out);
        }
    }
    for (id, nlri) in groups {
        // The common case (IPv4 NLRI to a 4-octet AS session): the stored octets are the
        // session's, no decoding and encoding again.
        if K::AFI_SAFI == Ipv4Prefix::AFI_SAFI
            && builder.announce_v4_encoded(core.attrs.bytes(id), &nlri, out)
        {
            continue;
        }
        let attrs = core.attrs.decode(id);
        let nh = attrs.mp_reach().map(|r| r.next_hop.clone());
        let sent = match builder.announce(K::AFI_SAFI, &attrs, nh, &nlri) {
            Ok(us) => us.into_iter().all(|u| emit(u, out)),
            Err(_) => false,
        };
        if !sent {
            // Not sent: the Adj-RIB-Out must not claim it was.
            let pf = K::pf_mut(&mut ps);
            for n in &nlri {
                if let Some(k) = K::from_prefix(n.prefix) {
                    let cur = pf.out.get(&k).copied();
                    super::as_sent::note_out_change(core, peer, n.prefix, cur, None);
                    if let Some(c) = pf.out.remove(&k) {
                        core.attrs.release(c);
                    }
                }
                core.events.push(RibEvent::NotAdvertised {
                    peer: PeerId(peer),
                    prefix: n.prefix,
                    reason: "the UPDATE cannot be encoded for this session".into(),
                });
            }
        }
    }
    let pf = K::pf_mut(&mut ps);
    if pf.eor && sync == Sync::Resend {
        pf.eor = false;
        emit(builder.end_of_rib(K::AFI_SAFI), out);
    }
    core.peers.insert(peer, ps);
}

/// The attribute set `dst` should be sent for `r` (one reference for the caller), or `None`.
fn export<K: Fam>(core: &mut Core, dst: &mut PeerState, r: &Route, key: K) -> Option<AttrId> {
    let dst_id = dst.info.id.0;
    if r.peer == dst_id || !r.eligible() {
        return None;
    }
    let src = if r.peer == LOCAL_PEER {
        None
    } else {
        Some(core.peers.get(&r.peer)?)
    };
    let src_ibgp = src.is_some_and(|s| s.info.ibgp);
    let src_client = src.is_some_and(|s| s.info.rr_client);
    let src_id = src.map(|s| s.info.remote_id);
    let dst_ebgp = !dst.info.ibgp;
    let reflect = src_ibgp && !dst_ebgp;
    // RFC 4456 section 6: client routes go to everyone; non-client routes to clients only.
    if reflect && !src_client && !dst.info.rr_client {
        return None;
    }
    if dst_ebgp && dst.export.is_empty() {
        // RFC 8212 section 3: "Routes MUST NOT be ... advertised to an EBGP peer unless ... an
        // export policy is explicitly configured."
        if !dst.warned[Direction::Export as usize] {
            dst.warned[Direction::Export as usize] = true;
            let ev = RibEvent::NoPolicy {
                peer: PeerId(dst_id),
                address: dst.info.address,
                direction: Direction::Export,
            };
            tracing::warn!("{ev}");
            core.events.push(ev);
        }
        return None;
    }
    let full = core.attrs.decode(r.attr);
    let cs = full.communities();
    if cs.contains(&Community::NO_ADVERTISE)
        || (dst_ebgp
            && (cs.contains(&Community::NO_EXPORT) || cs.contains(&Community::NO_EXPORT_SUBCONFED)))
    {
        return None;
    }
    let orig_mp = full.mp_reach().cloned();
    let mut a = full.into_propagation();
    if let Some(mp) = &orig_mp {
        // Keep the received next hop in canonical form for the checks below.
        match &mp.next_hop {
            MpNextHop::Ipv4(v4) => a.set(AttributeValue::NextHop(*v4)),
            _ => a.set(AttributeValue::MpReach(mp.clone())),
        }
    }
    let (accept, med_set, nh_action) = if dst.export.is_empty() || dst.export.trivially_accepts() {
        (true, false, None)
    } else {
        let v = dst.export.evaluate(&RouteInput {
            prefix: key.to_prefix(),
            attrs: &a,
            local_as: dst.info.local_as,
        });
        if let Some(m) = v.attrs {
            a = m;
        }
        (v.accept, v.med_set, v.next_hop)
    };
    if !accept {
        return None;
    }
    let self_nh = self_address::<K>(&dst.info);
    // The next hop to set, and whether it is ours (next hop self).
    let (needs_self, nh) = match nh_action {
        Some(NextHopAction::Address(ip)) => (false, Some(ip)),
        None if !dst_ebgp && has_next_hop::<K>(&a) => (false, None),
        Some(NextHopAction::SelfAddress) | None => (true, self_nh),
    };
    // RFC 2545 section 3: the link-local address goes only beside a global one, never in
    // its place.
    let link_local = if K::AFI_SAFI == Ipv4Prefix::AFI_SAFI || !needs_self {
        None
    } else {
        dst.info.link_local_v6()
    };
    if needs_self && self_nh.is_none() {
        if let Some(ll) = link_local {
            not_advertised_once(
                core,
                dst_id,
                key.to_prefix(),
                format!(
                    "our address on the session is the link-local {ll}, and an IPv6 next hop \
                     must be global (RFC 2545 section 3): set the neighbour's ipv6_next_hop"
                ),
            );
            return None;
        }
    }
    if let Some(nh) = nh {
        // RFC 4271 section 5.1.3: the NEXT_HOP must be an address the receiver can reach
        // us at; a loopback or unspecified one (a session over 127.0.0.1 with next hop self)
        // is treated as withdrawn by the receiver (section 6.3), so it is not announced.
        if nh.is_loopback() || nh.is_unspecified() {
            let reason = format!(
                "next hop {nh} is not a usable NEXT_HOP (RFC 4271 section 5.1.3): no route \
                 needing next hop self goes to this neighbour until it has a routable \
                 local_address"
            );
            not_advertised_once(core, dst_id, key.to_prefix(), reason);
            return None;
        }
        apply_next_hop::<K>(&mut a, nh);
        if let (Some(ll), Some(AttributeValue::MpReach(m))) =
            (link_local, a.value(type_code::MP_REACH_NLRI))
        {
            if let MpNextHop::Ipv6 { global, .. } = m.next_hop {
                let mut m = m.clone();
                m.next_hop = MpNextHop::Ipv6 {
                    global,
                    link_local: Some(ll),
                };
                a.set(AttributeValue::MpReach(m));
            }
        }
    }
    if !has_next_hop::<K>(&a) {
        core.events.push(RibEvent::NotAdvertised {
            peer: PeerId(dst_id),
            prefix: key.to_prefix(),
            reason: "no next hop of this family on the session".into(),
        });
        return None;
    }
    if dst_ebgp {
        let mut p = match a.remove(type_code::AS_PATH) {
            Some(PathAttribute {
                value: AttributeValue::AsPath(p),
                ..
            }) => p,
            _ => AsPath::empty(),
        };
        p.prepend(dst.info.local_as);
        a.set(AttributeValue::AsPath(p));
        a.remove(type_code::LOCAL_PREF);
        a.remove(type_code::ORIGINATOR_ID);
        a.remove(type_code::CLUSTER_LIST);
        // RFC 4271 section 5.1.4: "The MULTI_EXIT_DISC attribute received from a neighboring
        // AS MUST NOT be propagated to other neighboring ASes."
        if !med_set && r.peer != LOCAL_PEER {
            a.remove(type_code::MULTI_EXIT_DISC);
        }
    } else {
        if a.local_pref().is_none() {
            a.set(AttributeValue::LocalPref(100));
        }
        if reflect {
            // RFC 4456 section 8: ORIGINATOR_ID "created by an RR ... if not already present";
            // "When an RR reflects a route, it MUST prepend the local CLUSTER_ID to the
            // CLUSTER_LIST."
            if a.value(type_code::ORIGINATOR_ID).is_none() {
                if let Some(id) = src_id {
                    a.set(AttributeValue::OriginatorId(id.0));
                }
            }
            let mut cl = match a.value(type_code::CLUSTER_LIST) {
                Some(AttributeValue::ClusterList(l)) => l.clone(),
                _ => Vec::new(),
            };
            cl.insert(0, core.cfg.cluster_id());
            a.set(AttributeValue::ClusterList(cl));
        }
    }
    a.sort();
    core.attrs.intern(&a).ok()
}

/// Whether `a` carries a next hop for family `K` (IPv4: NEXT_HOP or MP_REACH_NLRI; IPv6:
/// MP_REACH_NLRI).
fn has_next_hop<K: Fam>(a: &PathAttributes) -> bool {
    if K::AFI_SAFI == Ipv4Prefix::AFI_SAFI {
        a.next_hop().is_some() || a.mp_reach().is_some()
    } else {
        a.mp_reach().is_some()
    }
}

/// Reports that `prefix` is not advertised to `dst_id`: one event for a run of prefixes
/// with the same reason, not one per prefix of a full table.
fn not_advertised_once(core: &mut Core, dst_id: u32, prefix: Prefix, reason: String) {
    let repeated = matches!(
        core.events.last(),
        Some(RibEvent::NotAdvertised { peer, reason: r, .. })
            if *peer == PeerId(dst_id) && *r == reason
    );
    if !repeated {
        core.events.push(RibEvent::NotAdvertised {
            peer: PeerId(dst_id),
            prefix,
            reason,
        });
    }
}
