//! One neighbour's part of the RIBs as bytes, and its installation into another RIB: what a
//! per-flow checkpoint carries (DESIGN.md section 3, `crate::replica`).
//!
//! A neighbour's part is its Adj-RIB-In (every path it announced, as received and after
//! import policy, with the stale flags) and its RIB-side state (session parameters, families,
//! Adj-RIB-Out as sent, whether the initial table and End-of-RIB are still to be sent). The
//! Loc-RIB is not part of it: it is a function of every Adj-RIB-In, so installing a part
//! runs the decision process of RFC 4271 section 9.1 again for every prefix the part touches.
//! After each neighbour's part is installed from its own checkpoint instant and each
//! neighbour's later UPDATEs are applied, the Loc-RIB equals the primary's, whatever the
//! order and the instants of the checkpoints.
//!
//! The encoding is the [`Rib`] serde form of a RIB holding only that part, wrapped with the
//! neighbour's id at the source (postcard).

use super::attrs::{AttrId, AttrStore, NO_ATTR};
use super::table::{Route, Routes, BEST};
use super::{Fam, PeerFam, PeerId, Rib, RibError, Sync, LOCAL_PEER};
use crate::wire::{Ipv4Prefix, Ipv6Prefix};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

impl PeerId {
    /// The locally originated routes, as [`Rib::peer_snapshot`] and [`Rib::restore_peer`]
    /// name them (no neighbour has this id).
    pub const LOCAL: PeerId = PeerId(LOCAL_PEER);
}

#[derive(Serialize)]
struct PartRef<'a> {
    /// The neighbour's id where the part was taken.
    peer: u32,
    rib: &'a Rib,
}

#[derive(Deserialize)]
struct Part {
    peer: u32,
    rib: Rib,
}

/// A reference in `to` for the set `id` of `from` (one reference for the caller).
fn copy_attr(from: &AttrStore, id: AttrId, to: &mut AttrStore) -> AttrId {
    if id == NO_ATTR {
        return NO_ATTR;
    }
    let info = *from.info(id);
    to.intern_bytes(from.bytes(id), || info)
}

/// `f` with its Adj-RIB-Out references moved from store `from` to store `to`; the change-log
/// position is `pos`.
fn copy_fam<K: Copy + Eq + std::hash::Hash>(
    f: &PeerFam<K>,
    from: &AttrStore,
    to: &mut AttrStore,
    pos: u64,
) -> PeerFam<K> {
    let mut out = HashMap::default();
    out.reserve(f.out.len());
    for (k, id) in &f.out {
        out.insert(*k, copy_attr(from, *id, to));
    }
    PeerFam {
        active: f.active,
        out,
        pos,
        sync: f.sync,
        eor: f.eor,
    }
}

fn release_fam<K>(store: &mut AttrStore, f: PeerFam<K>) {
    for (_, id) in f.out {
        store.release(id);
    }
}

/// The route flags a part carries: every flag but the Loc-RIB one (recomputed).
const KEPT: u8 = !BEST;

/// Copies `peer`'s routes (every path) of family `K` from `src` into `dst` (a part being
/// built).
fn take_routes<K: Fam>(src: &Rib, dst: &mut Rib, peer: u32) {
    let (df, dcore) = K::parts(dst);
    for (k, e) in &K::fam(src).table {
        let mut v: Vec<Route> = e
            .of_peer(peer)
            .iter()
            .map(|r| Route {
                attr_in: copy_attr(&src.core.attrs, r.attr_in, &mut dcore.attrs),
                attr: copy_attr(&src.core.attrs, r.attr, &mut dcore.attrs),
                flags: r.flags & KEPT,
                ..*r
            })
            .collect();
        let entry = match v.len() {
            0 => continue,
            1 => Routes::One(v[0]),
            _ => {
                v.sort_by_key(Route::key);
                Routes::Many(Box::new(v))
            }
        };
        df.table.insert(*k, entry);
    }
}

/// Replaces `peer`'s routes (every path) of family `K` in `rib` with those of `part` (where
/// the neighbour was `from`), running the decision process for every prefix that changes.
fn put_routes<K: Fam>(rib: &mut Rib, part: &Rib, from: u32, peer: u32) {
    let pf = K::fam(part);
    let (f, core) = K::parts(rib);
    let mut gone: Vec<(K, u32)> = Vec::new();
    for (k, e) in &f.table {
        let keep = pf.table.get(k).map_or(&[][..], |x| x.of_peer(from));
        for r in e.of_peer(peer) {
            if !keep.iter().any(|x| x.path_id == r.path_id) {
                gone.push((*k, r.path_id));
            }
        }
    }
    gone.sort_unstable();
    for (k, path_id) in gone {
        f.remove_route(core, k, peer, path_id);
    }
    let mut keys: Vec<(&K, &Routes)> = pf.table.iter().collect();
    keys.sort_unstable_by_key(|(k, _)| **k);
    for (k, e) in keys {
        for r in e.of_peer(from) {
            let attr_in = copy_attr(&part.core.attrs, r.attr_in, &mut core.attrs);
            let attr = copy_attr(&part.core.attrs, r.attr, &mut core.attrs);
            let flags = r.flags & KEPT;
            let same = f.table.get(k).is_some_and(|x| {
                x.of_peer(peer).iter().any(|c| {
                    c.path_id == r.path_id
                        && c.attr_in == attr_in
                        && c.attr == attr
                        && c.flags & KEPT == flags
                })
            });
            if same {
                core.attrs.release(attr_in);
                core.attrs.release(attr);
                continue;
            }
            let mut route = Route {
                attr_in,
                attr,
                flags,
                ..*r
            };
            route.peer = peer;
            f.set_route(core, *k, route);
        }
    }
}

impl Rib {
    /// `peer`'s part of the RIBs as bytes (postcard): its Adj-RIB-In as received and after
    /// import policy, and its RIB-side state with the Adj-RIB-Out as sent ([`PeerId::LOCAL`]:
    /// the locally originated routes). A neighbour the RIB does not know gives a part with
    /// no routes and no state; installing it removes the neighbour.
    ///
    /// # Errors
    /// [`RibError::Snapshot`] when the part cannot be encoded; [`RibError::Policy`] never in
    /// practice (the policies in force compiled before).
    pub fn peer_snapshot(&self, peer: PeerId) -> Result<Vec<u8>, RibError> {
        let mut part = Rib::new(self.core.cfg.clone())?;
        take_routes::<Ipv4Prefix>(self, &mut part, peer.0);
        take_routes::<Ipv6Prefix>(self, &mut part, peer.0);
        if let Some(ps) = self.core.peers.get(&peer.0) {
            let mut copy = ps.clone();
            copy.v4 = copy_fam(&ps.v4, &self.core.attrs, &mut part.core.attrs, 0);
            copy.v6 = copy_fam(&ps.v6, &self.core.attrs, &mut part.core.attrs, 0);
            part.core.peers.insert(peer.0, copy);
        }
        postcard::to_allocvec(&PartRef {
            peer: peer.0,
            rib: &part,
        })
        .map_err(|e| RibError::Snapshot(e.to_string()))
    }

    /// Installs a part from [`Rib::peer_snapshot`] (taken on a RIB with the same
    /// configuration) as neighbour `peer` here: its routes replace `peer`'s routes, the
    /// decision process runs again for every prefix that changed (Loc-RIB changes are logged
    /// for the FIB and the other neighbours as usual), and its RIB-side state replaces
    /// `peer`'s. The Adj-RIB-Out is installed as sent; since this Loc-RIB may differ from the
    /// source's at the part's instant, every prefix is compared against it at the next
    /// [`Rib::poll_updates`] and only differences are sent (a neighbour whose initial table
    /// is still to be sent keeps that). Returns the id the part had at the source.
    ///
    /// # Errors
    /// [`RibError::Snapshot`] when the bytes do not decode; [`RibError::Policy`] when the
    /// neighbour names a policy that does not exist here; [`RibError::ReservedPeerId`] when
    /// a neighbour's part is installed as [`PeerId::LOCAL`] or the reverse. On error nothing
    /// changed.
    pub fn restore_peer(&mut self, peer: PeerId, bytes: &[u8]) -> Result<PeerId, RibError> {
        let Part {
            peer: from,
            rib: mut part,
        } = postcard::from_bytes(bytes).map_err(|e| RibError::Snapshot(e.to_string()))?;
        if (from == LOCAL_PEER) != (peer.0 == LOCAL_PEER) {
            return Err(RibError::ReservedPeerId);
        }
        let state = match part.core.peers.remove(&from) {
            Some(mut ps) => {
                ps.info.id = peer;
                let chains = self.chains(&ps.info)?;
                Some((ps, chains))
            }
            None => None,
        };
        // The neighbour's state first: the decision process reads its session parameters.
        if let Some(old) = self.core.peers.remove(&peer.0) {
            release_fam(&mut self.core.attrs, old.v4);
            release_fam(&mut self.core.attrs, old.v6);
        }
        if let Some((mut ps, (import, export))) = state {
            let mut v4 = copy_fam(
                &ps.v4,
                &part.core.attrs,
                &mut self.core.attrs,
                self.v4.log.end(),
            );
            let mut v6 = copy_fam(
                &ps.v6,
                &part.core.attrs,
                &mut self.core.attrs,
                self.v6.log.end(),
            );
            for f in [&mut v4.sync, &mut v6.sync] {
                if *f == Sync::Changes {
                    *f = Sync::Diff;
                }
            }
            ps.import = import;
            ps.export = export;
            // The part's own references go with `part`; these are this RIB's.
            ps.v4 = v4;
            ps.v6 = v6;
            self.core.peers.insert(peer.0, ps);
        }
        self.update_logging();
        put_routes::<Ipv4Prefix>(self, &part, from, peer.0);
        put_routes::<Ipv6Prefix>(self, &part, from, peer.0);
        self.compact_logs();
        Ok(PeerId(from))
    }
}
