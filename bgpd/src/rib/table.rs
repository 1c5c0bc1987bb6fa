//! The per-family route table: one entry per prefix holding every neighbour's route for it
//! (the Adj-RIBs-In, pre- and post-import-policy) with the Loc-RIB best route flagged.
//!
//! An entry costs its key (5 octets for IPv4, 17 for IPv6) and 24 octets; one route is held
//! inline, several in a boxed vector sorted by (peer, Path Identifier).
//!
//! ADD-PATH (RFC 7911): with the receive direction negotiated for a family, a neighbour's
//! routes are told apart by their Path Identifier, and every path is a candidate of the
//! decision process; without it the Path Identifier is 0 and a neighbour has one route per
//! prefix.

use super::attrs::{AttrId, NO_ATTR};
use super::sharded::ShardedMap;
use crate::wire::{AfiSafi, Ipv4Prefix, Ipv6Prefix, Prefix};
use std::fmt::Debug;
use std::hash::Hash;

/// Route flag: the neighbour restarted gracefully and has not re-announced this route yet
/// (RFC 4724 section 4.2).
pub(crate) const STALE: u8 = 1;
/// Route flag: this is the Loc-RIB best route of its prefix.
pub(crate) const BEST: u8 = 2;
/// Route flag: the neighbour began an enhanced route refresh of the route's family (BoRR)
/// and has not re-announced this route since (RFC 7313 section 4).
pub(crate) const REFRESH_STALE: u8 = 4;

/// One neighbour's route (one path, with ADD-PATH) for a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    /// The neighbour (`PeerId`), or `LOCAL_PEER` for locally originated routes.
    pub peer: u32,
    /// The Path Identifier (RFC 7911 section 3) the neighbour gave the path; 0 when ADD-PATH
    /// receive is not negotiated for the family.
    pub path_id: u32,
    /// Attributes as received (Adj-RIB-In, pre-policy).
    pub attr_in: AttrId,
    /// Attributes after import policy, or `NO_ATTR` when rejected (not eligible).
    pub attr: AttrId,
    /// `STALE`, `BEST`, `REFRESH_STALE`.
    pub flags: u8,
}

impl Route {
    /// What identifies the route within its prefix: (neighbour, Path Identifier).
    #[inline]
    pub(crate) fn key(&self) -> (u32, u32) {
        (self.peer, self.path_id)
    }

    /// Eligible for the decision process.
    #[inline]
    pub(crate) fn eligible(&self) -> bool {
        self.attr != NO_ATTR
    }
    #[inline]
    pub(crate) fn is_best(&self) -> bool {
        self.flags & BEST != 0
    }
}

/// The routes of one prefix. (`Box<Vec>`: keeps the enum at 24 octets, the size of one
/// inline route plus tag; a bare `Vec` would make every entry 32.)
#[derive(Debug, Clone)]
#[allow(clippy::box_collection)]
pub(crate) enum Routes {
    One(Route),
    Many(Box<Vec<Route>>),
}

impl Routes {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Route] {
        match self {
            Routes::One(r) => std::slice::from_ref(r),
            Routes::Many(v) => v,
        }
    }

    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [Route] {
        match self {
            Routes::One(r) => std::slice::from_mut(r),
            Routes::Many(v) => v,
        }
    }

    /// The Loc-RIB route.
    #[inline]
    pub(crate) fn best(&self) -> Option<&Route> {
        self.as_slice().iter().find(|r| r.is_best())
    }

    /// Inserts or replaces the route of (`r.peer`, `r.path_id`); returns the replaced one.
    pub(crate) fn upsert(&mut self, r: Route) -> Option<Route> {
        match self {
            Routes::One(o) if o.key() == r.key() => Some(std::mem::replace(o, r)),
            Routes::One(o) => {
                let mut v = Vec::with_capacity(2);
                if o.key() < r.key() {
                    v.push(*o);
                    v.push(r);
                } else {
                    v.push(r);
                    v.push(*o);
                }
                *self = Routes::Many(Box::new(v));
                None
            }
            Routes::Many(v) => match v.binary_search_by_key(&r.key(), Route::key) {
                Ok(i) => Some(std::mem::replace(&mut v[i], r)),
                Err(i) => {
                    v.insert(i, r);
                    None
                }
            },
        }
    }

    /// Removes the route of (`peer`, `path_id`); returns it and whether the entry is now
    /// empty.
    pub(crate) fn remove(&mut self, peer: u32, path_id: u32) -> (Option<Route>, bool) {
        match self {
            Routes::One(o) if o.key() == (peer, path_id) => (Some(*o), true),
            Routes::One(_) => (None, false),
            Routes::Many(v) => match v.binary_search_by_key(&(peer, path_id), Route::key) {
                Ok(i) => {
                    let r = v.remove(i);
                    if v.len() == 1 {
                        *self = Routes::One(v[0]);
                    }
                    (Some(r), false)
                }
                Err(_) => (None, false),
            },
        }
    }

    /// The routes of `peer` (several with ADD-PATH), by Path Identifier.
    pub(crate) fn of_peer(&self, peer: u32) -> &[Route] {
        let s = self.as_slice();
        let lo = s.partition_point(|r| r.peer < peer);
        let hi = lo + s[lo..].partition_point(|r| r.peer == peer);
        &s[lo..hi]
    }
}

/// A prefix type keying a table: IPv4 or IPv6 unicast.
pub(crate) trait Family: Copy + Eq + Hash + Ord + Debug + 'static {
    /// The AFI/SAFI.
    const AFI_SAFI: AfiSafi;
    /// The prefix, if of this family.
    fn from_prefix(p: Prefix) -> Option<Self>;
    /// As a generic prefix.
    fn to_prefix(self) -> Prefix;
}

impl Family for Ipv4Prefix {
    const AFI_SAFI: AfiSafi = AfiSafi::IPV4_UNICAST;
    #[inline]
    fn from_prefix(p: Prefix) -> Option<Self> {
        match p {
            Prefix::V4(p) => Some(p),
            Prefix::V6(_) => None,
        }
    }
    #[inline]
    fn to_prefix(self) -> Prefix {
        Prefix::V4(self)
    }
}

impl Family for Ipv6Prefix {
    const AFI_SAFI: AfiSafi = AfiSafi::IPV6_UNICAST;
    #[inline]
    fn from_prefix(p: Prefix) -> Option<Self> {
        match p {
            Prefix::V6(p) => Some(p),
            Prefix::V4(_) => None,
        }
    }
    #[inline]
    fn to_prefix(self) -> Prefix {
        Prefix::V6(self)
    }
}

/// A route table (in parts: see [`ShardedMap`]).
pub(crate) type Table<K> = ShardedMap<K, Routes>;

/// A prefix's Loc-RIB route as a change log records it: (neighbour, attribute set), or
/// `(_, NO_ATTR)` when the prefix has none.
pub(crate) type Logged = (u32, AttrId);

/// Prefixes whose Loc-RIB route changed, in order, with the route each change left, read by
/// several consumers (the FIB and every established neighbour) each at its own position.
///
/// Every change of a prefix's Loc-RIB route (neighbour or attribute set) is logged, so the
/// latest entry of a prefix is its Loc-RIB route now: a reader learns it without a look-up
/// in the table (one per prefix and reader, at random places of a table of a million).
#[derive(Debug, Clone)]
pub(crate) struct ChangeLog<K> {
    /// Absolute position of `items[0]`.
    pub base: u64,
    pub items: Vec<K>,
    /// The route each change left, beside `items`.
    pub routes: Vec<Logged>,
}

impl<K: Copy> Default for ChangeLog<K> {
    fn default() -> Self {
        ChangeLog {
            base: 0,
            items: Vec::new(),
            routes: Vec::new(),
        }
    }
}

impl<K: Copy + Ord> ChangeLog<K> {
    /// Absolute position after the last item.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.items.len() as u64
    }

    /// Logs a change of `key`'s Loc-RIB route to `best` (neighbour, attribute set).
    #[inline]
    pub(crate) fn push(&mut self, key: K, best: Option<(u32, AttrId)>) {
        self.items.push(key);
        self.routes.push(best.unwrap_or((0, NO_ATTR)));
    }

    /// The prefixes changed from absolute position `pos`, ascending, each once, with its
    /// Loc-RIB route now (its latest entry).
    pub(crate) fn latest_since(&self, pos: u64) -> Vec<(K, Option<(u32, AttrId)>)> {
        let i = pos.saturating_sub(self.base) as usize;
        let keys = self.items.get(i..).unwrap_or(&[]);
        let routes = self.routes.get(i..).unwrap_or(&[]);
        // Latest first, then a stable sort by prefix: the first entry of each prefix is its
        // latest.
        let mut v: Vec<(K, Logged)> = keys
            .iter()
            .copied()
            .zip(routes.iter().copied())
            .rev()
            .collect();
        v.sort_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        v.into_iter()
            .map(|(k, (peer, attr))| (k, (attr != NO_ATTR).then_some((peer, attr))))
            .collect()
    }

    /// Drops items before `pos` (every consumer is past them).
    pub(crate) fn compact(&mut self, pos: u64) {
        let n = (pos.saturating_sub(self.base) as usize).min(self.items.len());
        if n == self.items.len() {
            self.items.clear();
            self.routes.clear();
            if self.items.capacity() > 1 << 16 {
                self.items.shrink_to(1 << 12);
                self.routes.shrink_to(1 << 12);
            }
        } else if n > 0 {
            self.items.drain(..n);
            self.routes.drain(..n);
        }
        self.base += n as u64;
    }
}

// The memory budget of a table entry (see the module documentation): the Path Identifier
// fits in the padding the enum tag leaves.
const _: () = assert!(std::mem::size_of::<Routes>() == 24);
