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
//! The encoding (postcard) is the part alone, built straight from the tables: the attribute
//! sets its routes and Adj-RIB-Out use, each once (canonical encoding), in first-use order;
//! the routes as a flat list ordered by prefix and Path Identifier, each naming its sets by
//! index; and the neighbour's RIB-side state. Installing it interns each set once and
//! hands out references by index: the cost per route is one table update and the decision
//! process for that prefix, with no per-route hashing of attribute bytes.

use super::attrs::{AttrId, AttrStore, NO_ATTR};
use super::sharded::ShardedMap;
use super::state::{peer_fam_repr, sync_of, PeerFamRepr, PeerRepr, PrefixRepr};
use super::table::{Route, BEST};
use super::{Fam, PeerFam, PeerId, PeerState, Rib, RibError, Sync, LOCAL_PEER};
use crate::wire::{Ipv4Prefix, Ipv6Prefix};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

impl PeerId {
    /// The locally originated routes, as [`Rib::peer_snapshot`] and [`Rib::restore_peer`]
    /// name them (no neighbour has this id).
    pub const LOCAL: PeerId = PeerId(LOCAL_PEER);
}

/// The encoding's version; a part of another version is refused.
const PART_VERSION: u32 = 2;

/// Index of "no attribute set" (a route rejected by import policy).
const NO_INDEX: u32 = u32::MAX;

/// One route of the part: prefix, Path Identifier, sets by index, flags.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct RouteWire<P> {
    prefix: P,
    path_id: u32,
    attr_in: u32,
    attr: u32,
    flags: u8,
}

/// A neighbour's part as bytes.
#[derive(Debug, Serialize, Deserialize)]
struct Part<'a> {
    version: u32,
    /// The neighbour's id where the part was taken.
    peer: u32,
    /// Attribute sets (canonical encoding) the routes and the Adj-RIB-Out name by index.
    #[serde(borrow)]
    attrs: Vec<&'a [u8]>,
    v4: Vec<RouteWire<(u32, u8)>>,
    v6: Vec<RouteWire<(u128, u8)>>,
    /// The neighbour's RIB-side state (positions are not carried); `None` for the locally
    /// originated routes or a neighbour the RIB does not know.
    state: Option<PeerRepr>,
}

/// Numbers the attribute sets a part uses, in first-use order.
struct Numbering<'a> {
    store: &'a AttrStore,
    index: Vec<u32>,
    attrs: Vec<&'a [u8]>,
}

impl<'a> Numbering<'a> {
    fn new(store: &'a AttrStore) -> Self {
        Numbering {
            store,
            index: vec![NO_INDEX; store.id_bound()],
            attrs: Vec::new(),
        }
    }

    fn of(&mut self, id: AttrId) -> u32 {
        if id == NO_ATTR {
            return NO_INDEX;
        }
        let Some(slot) = self.index.get_mut(id as usize) else {
            return NO_INDEX;
        };
        if *slot == NO_INDEX {
            *slot = self.attrs.len() as u32;
            self.attrs.push(self.store.bytes(id));
        }
        *slot
    }
}

/// The route flags a part carries: every flag but the Loc-RIB one (recomputed).
const KEPT: u8 = !BEST;

/// `peer`'s routes (every path) of family `K` in prefix and Path Identifier order.
fn take_routes<K: Fam + PrefixRepr>(
    rib: &Rib,
    peer: u32,
    n: &mut Numbering<'_>,
) -> Vec<RouteWire<K::Repr>> {
    let mut v: Vec<(K, Route)> = Vec::new();
    for (k, e) in &K::fam(rib).table {
        v.extend(e.of_peer(peer).iter().map(|r| (*k, *r)));
    }
    v.sort_unstable_by_key(|(k, r)| (*k, r.path_id));
    v.into_iter()
        .map(|(k, r)| RouteWire {
            prefix: k.repr(),
            path_id: r.path_id,
            attr_in: n.of(r.attr_in),
            attr: n.of(r.attr),
            flags: r.flags & KEPT,
        })
        .collect()
}

fn take_state(p: &PeerState, n: &mut Numbering<'_>) -> PeerRepr {
    // Log positions are not carried: the part is installed at the end of the log.
    let v4 = peer_fam_repr(&p.v4, 0, |id| n.of(id));
    let v6 = peer_fam_repr(&p.v6, 0, |id| n.of(id));
    PeerRepr::of(p, v4, v6)
}

fn bad(what: &str) -> RibError {
    RibError::Snapshot(format!("peer part: {what}"))
}

/// An index the part's set list has (or [`NO_INDEX`]).
fn check_index(i: u32, sets: usize) -> Result<u32, RibError> {
    if i == NO_INDEX || (i as usize) < sets {
        Ok(i)
    } else {
        Err(bad("attribute set index out of range"))
    }
}

/// A part's route with its prefix read.
type Checked<K> = (K, RouteWire<<K as PrefixRepr>::Repr>);

/// The part's routes of family `K`, checked (prefixes valid, indexes in range).
fn checked_routes<K: PrefixRepr>(
    v: &[RouteWire<K::Repr>],
    sets: usize,
) -> Result<Vec<Checked<K>>, RibError> {
    v.iter()
        .map(|w| {
            let k = K::unrepr(w.prefix).ok_or_else(|| bad("invalid prefix"))?;
            check_index(w.attr_in, sets)?;
            check_index(w.attr, sets)?;
            Ok((k, *w))
        })
        .collect()
}

/// The Adj-RIB-Out of a family, checked.
fn checked_out<K: PrefixRepr>(
    r: &PeerFamRepr<K::Repr>,
    sets: usize,
) -> Result<Vec<(K, u32)>, RibError> {
    r.out
        .iter()
        .map(|(k, i)| {
            let k = K::unrepr(*k).ok_or_else(|| bad("invalid prefix"))?;
            Ok((k, check_index(*i, sets)?))
        })
        .collect()
}

/// The id here of set index `i` (`ids`: the part's sets interned here).
fn id_of(ids: &[AttrId], i: u32) -> AttrId {
    if i == NO_INDEX {
        NO_ATTR
    } else {
        ids.get(i as usize).copied().unwrap_or(NO_ATTR)
    }
}

/// A family of the neighbour's state with references here; the change-log position `pos`.
fn put_fam<K: Copy + Eq + std::hash::Hash>(
    r: &PeerFamRepr<impl Copy>,
    out: &[(K, u32)],
    ids: &[AttrId],
    store: &mut AttrStore,
    pos: u64,
) -> PeerFam<K> {
    let mut map = ShardedMap::default();
    map.reserve(out.len());
    for (k, i) in out {
        let id = id_of(ids, *i);
        store.acquire(id);
        map.insert(*k, id);
    }
    // Installed as sent; the next poll compares every prefix against this Loc-RIB.
    let sync = match sync_of(r.sync) {
        Sync::Changes => Sync::Diff,
        other => other,
    };
    PeerFam {
        active: r.active,
        out: map,
        pos,
        sync,
        eor: r.eor,
    }
}

fn release_fam<K>(store: &mut AttrStore, f: PeerFam<K>) {
    for (_, id) in f.out {
        store.release(id);
    }
}

/// Replaces `peer`'s routes (every path) of family `K` with `routes`, running the decision
/// process for every prefix that changes.
fn put_routes<K: Fam + PrefixRepr>(
    rib: &mut Rib,
    routes: &[Checked<K>],
    ids: &[AttrId],
    peer: u32,
) {
    let (f, core) = K::parts(rib);
    // The neighbour's routes the part does not have.
    let mut gone: Vec<(K, u32)> = Vec::new();
    let mut keep: Option<HashSet<(K, u32)>> = None;
    for (k, e) in &f.table {
        let mine = e.of_peer(peer);
        if mine.is_empty() {
            continue;
        }
        let keep =
            keep.get_or_insert_with(|| routes.iter().map(|(k, w)| (*k, w.path_id)).collect());
        for r in mine {
            if !keep.contains(&(*k, r.path_id)) {
                gone.push((*k, r.path_id));
            }
        }
    }
    gone.sort_unstable();
    for (k, path_id) in gone {
        f.remove_route(core, k, peer, path_id);
    }
    if f.table.is_empty() {
        f.table.reserve(routes.len());
    }
    for (k, w) in routes {
        let attr_in = id_of(ids, w.attr_in);
        let attr = id_of(ids, w.attr);
        let flags = w.flags & KEPT;
        let same = f.table.get(k).is_some_and(|x| {
            x.of_peer(peer).iter().any(|c| {
                c.path_id == w.path_id
                    && c.attr_in == attr_in
                    && c.attr == attr
                    && c.flags & KEPT == flags
            })
        });
        if same {
            continue;
        }
        core.attrs.acquire(attr_in);
        core.attrs.acquire(attr);
        f.set_route(
            core,
            *k,
            Route {
                peer,
                path_id: w.path_id,
                attr_in,
                attr,
                flags,
            },
        );
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
        let mut n = Numbering::new(&self.core.attrs);
        let v4 = take_routes::<Ipv4Prefix>(self, peer.0, &mut n);
        let v6 = take_routes::<Ipv6Prefix>(self, peer.0, &mut n);
        let state = self.core.peers.get(&peer.0).map(|p| take_state(p, &mut n));
        postcard::to_allocvec(&Part {
            version: PART_VERSION,
            peer: peer.0,
            attrs: n.attrs,
            v4,
            v6,
            state,
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
        let part: Part<'_> =
            postcard::from_bytes(bytes).map_err(|e| RibError::Snapshot(e.to_string()))?;
        if part.version != PART_VERSION {
            return Err(bad(&format!(
                "version {} (this node reads {PART_VERSION})",
                part.version
            )));
        }
        let from = part.peer;
        if (from == LOCAL_PEER) != (peer.0 == LOCAL_PEER) {
            return Err(RibError::ReservedPeerId);
        }
        // Everything is checked before anything changes.
        let sets = part.attrs.len();
        let v4 = checked_routes::<Ipv4Prefix>(&part.v4, sets)?;
        let v6 = checked_routes::<Ipv6Prefix>(&part.v6, sets)?;
        let state = match part.state {
            Some(mut p) => {
                let out4 = checked_out::<Ipv4Prefix>(&p.v4, sets)?;
                let out6 = checked_out::<Ipv6Prefix>(&p.v6, sets)?;
                let mut info = p.info();
                info.id = peer;
                let chains = self.chains(&info)?;
                Some((p, info, chains, out4, out6))
            }
            None => None,
        };
        // Each set once, one reference held until the end.
        let ids: Vec<AttrId> = part
            .attrs
            .iter()
            .map(|b| self.core.attrs.intern_encoded(b))
            .collect();
        // The neighbour's state first: the decision process reads its session parameters.
        // Its Adj-RIB-Out is installed as sent: what it holds is that, nothing tracked before.
        super::as_sent::forget(&mut self.core, peer.0);
        if let Some(old) = self.core.peers.remove(&peer.0) {
            release_fam(&mut self.core.attrs, old.v4);
            release_fam(&mut self.core.attrs, old.v6);
        }
        if let Some((p, info, (import, export), out4, out6)) = state {
            let (end4, end6) = (self.v4.log.end(), self.v6.log.end());
            let store = &mut self.core.attrs;
            let v4 = put_fam(&p.v4, &out4, &ids, store, end4);
            let v6 = put_fam(&p.v6, &out6, &ids, store, end6);
            self.core.peers.insert(
                peer.0,
                PeerState {
                    info,
                    up: p.up,
                    import,
                    export,
                    v4,
                    v6,
                    warned: p.warned,
                },
            );
            super::as_sent::owe_end_of_rib(&mut self.core, peer.0);
        }
        self.update_logging();
        put_routes::<Ipv4Prefix>(self, &v4, &ids, peer.0);
        put_routes::<Ipv6Prefix>(self, &v6, &ids, peer.0);
        for id in ids {
            self.core.attrs.release(id);
        }
        self.compact_logs();
        Ok(PeerId(from))
    }
}
