//! What the writer knows of each of its routes, in one table: the BGP next hops the
//! speaker wants, the paths the kernel holds (as far as we know) and the nexthop object the
//! route refers to.
//!
//! One entry per prefix instead of one map per fact, and a compact one: a full table is a
//! million prefixes, and hashbrown has 2^21 buckets past 917,504 entries. An IPv4 route is
//! 20 octets (address and length, then three 4-octet ids: next-hop set, path set, nexthop
//! object), about 44 MB at a million; three maps keyed by prefix holding shared pointers
//! cost about 230 MB.
//!
//! Next-hop sets and path sets are few (a full table has a handful of distinct ones): each
//! has an id, counted by the routes that refer to it, and is dropped with its last route.
//! Routes at our metric are keyed by prefix alone. Routes of ours at another metric (left
//! by an earlier run with another configuration, adopted and deleted at convergence) are
//! rare and kept apart, by [`RouteKey`].

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use crate::prefix::Prefix;
use crate::route::{NextHop, Path, RouteKey};

/// Shared sets by id, with the number of routes that refer to each.
#[derive(Debug)]
struct SetIds<T: Hash + Eq> {
    /// Set `id` at index `id - 1`, with its count; `None`: a free id.
    sets: Vec<Option<(Arc<[T]>, u32)>>,
    by_content: HashMap<Arc<[T]>, NonZeroU32, FxBuildHasher>,
    free: Vec<NonZeroU32>,
    /// The last set acquired: routes come in runs with the same set.
    last: Option<(Arc<[T]>, NonZeroU32)>,
}

impl<T: Hash + Eq> Default for SetIds<T> {
    fn default() -> Self {
        Self {
            sets: Vec::new(),
            by_content: HashMap::default(),
            free: Vec::new(),
            last: None,
        }
    }
}

impl<T: Hash + Eq> SetIds<T> {
    /// The id of `set`, counted once more.
    fn acquire(&mut self, set: &Arc<[T]>) -> NonZeroU32 {
        let id = match &self.last {
            Some((s, id)) if Arc::ptr_eq(s, set) => *id,
            _ => {
                let id = match self.by_content.get(set) {
                    Some(id) => *id,
                    None => {
                        let id = match self.free.pop() {
                            Some(id) => id,
                            None => {
                                self.sets.push(None);
                                NonZeroU32::new(u32::try_from(self.sets.len()).unwrap_or(u32::MAX))
                                    .unwrap_or(NonZeroU32::MIN)
                            }
                        };
                        self.by_content.insert(Arc::clone(set), id);
                        if let Some(slot) = self.sets.get_mut(index(id)) {
                            *slot = Some((Arc::clone(set), 0));
                        }
                        id
                    }
                };
                self.last = Some((Arc::clone(set), id));
                id
            }
        };
        if let Some(Some((_, n))) = self.sets.get_mut(index(id)) {
            *n += 1;
        }
        id
    }

    /// Counts `id` once less; drops the set at zero.
    fn release(&mut self, id: NonZeroU32) {
        let Some(entry) = self.sets.get_mut(index(id)) else {
            return;
        };
        let gone = match entry {
            Some((_, n)) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        };
        if gone {
            if let Some((set, _)) = entry.take() {
                self.by_content.remove(&set);
                if self.last.as_ref().is_some_and(|(_, l)| *l == id) {
                    self.last = None;
                }
                self.free.push(id);
            }
        }
    }

    fn get(&self, id: NonZeroU32) -> Option<&Arc<[T]>> {
        self.sets
            .get(index(id))
            .and_then(|e| e.as_ref())
            .map(|(s, _)| s)
    }

    /// Sets in use.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.by_content.len()
    }
}

fn index(id: NonZeroU32) -> usize {
    (id.get() - 1) as usize
}

/// One route: what is wanted, what is installed, through which object.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The speaker's next hops; `None`: not desired.
    hops: Option<NonZeroU32>,
    /// The paths we believe the kernel holds; `None`: not installed.
    paths: Option<NonZeroU32>,
    /// The nexthop object the kernel's route uses (ids are never 0).
    nh: Option<NonZeroU32>,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.hops.is_none() && self.paths.is_none() && self.nh.is_none()
    }

    fn counts(&self) -> [usize; 3] {
        [
            usize::from(self.hops.is_some()),
            usize::from(self.paths.is_some()),
            usize::from(self.nh.is_some()),
        ]
    }
}

const _: () = assert!(std::mem::size_of::<((u32, u8), Slot)>() == 20);

/// Where a route lives.
#[derive(Debug, Clone, Copy)]
enum At {
    V4((u32, u8)),
    V6(Prefix),
    Other(RouteKey),
}

/// The writer's routes: desired, installed, nexthop object, by route.
#[derive(Debug)]
pub(crate) struct RouteTable {
    metric: u32,
    v4: HashMap<(u32, u8), Slot, FxBuildHasher>,
    v6: HashMap<Prefix, Slot, FxBuildHasher>,
    /// Ours at another metric than `metric`: installed (never desired).
    other: HashMap<RouteKey, Slot, FxBuildHasher>,
    hop_sets: SetIds<NextHop>,
    path_sets: SetIds<Path>,
    /// Desired, installed, with a nexthop object.
    counts: [usize; 3],
}

impl RouteTable {
    /// An empty table for routes at `metric`.
    pub fn new(metric: u32) -> Self {
        Self {
            metric,
            v4: HashMap::default(),
            v6: HashMap::default(),
            other: HashMap::default(),
            hop_sets: SetIds::default(),
            path_sets: SetIds::default(),
            counts: [0; 3],
        }
    }

    /// Prefixes desired.
    pub fn desired_len(&self) -> usize {
        self.counts[0]
    }

    /// Routes we believe installed.
    pub fn installed_len(&self) -> usize {
        self.counts[1]
    }

    /// Routes that use a nexthop object.
    pub fn nh_len(&self) -> usize {
        self.counts[2]
    }

    /// Room for `v4` IPv4 and `v6` IPv6 prefixes at our metric in all.
    pub fn reserve(&mut self, v4: usize, v6: usize) {
        self.v4.reserve(v4.saturating_sub(self.v4.len()));
        self.v6.reserve(v6.saturating_sub(self.v6.len()));
    }

    /// Entries at our metric (desired, installed or both).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    fn at(&self, key: &RouteKey) -> At {
        if key.metric != self.metric {
            At::Other(*key)
        } else {
            match key.prefix.v4_key() {
                Some(k) => At::V4(k),
                None => At::V6(key.prefix),
            }
        }
    }

    fn at_prefix(&self, prefix: Prefix) -> At {
        self.at(&RouteKey {
            prefix,
            metric: self.metric,
        })
    }

    fn get(&self, at: At) -> Option<Slot> {
        match at {
            At::V4(k) => self.v4.get(&k),
            At::V6(p) => self.v6.get(&p),
            At::Other(k) => self.other.get(&k),
        }
        .copied()
    }

    /// Stores `slot` (the former content was `before`), or drops the entry when empty.
    fn put(&mut self, at: At, before: Slot, slot: Slot) {
        for ((c, a), b) in self
            .counts
            .iter_mut()
            .zip(slot.counts())
            .zip(before.counts())
        {
            *c = *c + a - b;
        }
        let empty = slot.is_empty();
        match at {
            At::V4(k) if empty => drop(self.v4.remove(&k)),
            At::V4(k) => drop(self.v4.insert(k, slot)),
            At::V6(p) if empty => drop(self.v6.remove(&p)),
            At::V6(p) => drop(self.v6.insert(p, slot)),
            At::Other(k) if empty => drop(self.other.remove(&k)),
            At::Other(k) => drop(self.other.insert(k, slot)),
        }
    }

    /// The next hops desired for `prefix`.
    pub fn desired(&self, prefix: &Prefix) -> Option<&Arc<[NextHop]>> {
        let id = self.get(self.at_prefix(*prefix))?.hops?;
        self.hop_sets.get(id)
    }

    /// Sets (or with `None` clears) the next hops desired for `prefix`.
    pub fn set_desired(&mut self, prefix: Prefix, hops: Option<Arc<[NextHop]>>) {
        let at = self.at_prefix(prefix);
        let before = self.get(at);
        if hops.is_none() && before.is_none() {
            return;
        }
        let before = before.unwrap_or_default();
        let mut slot = before;
        slot.hops = hops.map(|h| self.hop_sets.acquire(&h));
        if let Some(old) = before.hops {
            self.hop_sets.release(old);
        }
        self.put(at, before, slot);
    }

    /// Clears every desired prefix.
    pub fn clear_desired(&mut self) {
        let hop_sets = &mut self.hop_sets;
        let mut clear = |s: &mut Slot| {
            if let Some(id) = s.hops.take() {
                hop_sets.release(id);
            }
            !s.is_empty()
        };
        self.v4.retain(|_, s| clear(s));
        self.v6.retain(|_, s| clear(s));
        self.counts[0] = 0;
    }

    /// Every desired prefix with its next hops.
    pub fn desired_iter(&self) -> impl Iterator<Item = (Prefix, &Arc<[NextHop]>)> {
        let sets = &self.hop_sets;
        let v4 = self.v4.iter().filter_map(move |(k, s)| {
            s.hops
                .and_then(|id| sets.get(id))
                .map(|h| (Prefix::from_v4_key(*k), h))
        });
        let v6 = self
            .v6
            .iter()
            .filter_map(move |(p, s)| s.hops.and_then(|id| sets.get(id)).map(|h| (*p, h)));
        v4.chain(v6)
    }

    /// The paths we believe the kernel holds for `key`.
    pub fn installed(&self, key: &RouteKey) -> Option<&Arc<[Path]>> {
        let id = self.get(self.at(key))?.paths?;
        self.path_sets.get(id)
    }

    /// Sets (or with `None` clears) the paths installed for `key`; returns the former ones.
    pub fn set_installed(
        &mut self,
        key: RouteKey,
        paths: Option<Arc<[Path]>>,
    ) -> Option<Arc<[Path]>> {
        let at = self.at(&key);
        let before = self.get(at);
        if paths.is_none() && before.is_none() {
            return None;
        }
        let before = before.unwrap_or_default();
        let mut slot = before;
        slot.paths = paths.map(|p| self.path_sets.acquire(&p));
        let prior = before.paths.and_then(|old| {
            let prior = self.path_sets.get(old).cloned();
            self.path_sets.release(old);
            prior
        });
        self.put(at, before, slot);
        prior
    }

    /// Every route we believe installed, with its paths.
    pub fn installed_iter(&self) -> impl Iterator<Item = (RouteKey, &Arc<[Path]>)> {
        let metric = self.metric;
        let sets = &self.path_sets;
        let v4 = self.v4.iter().filter_map(move |(k, s)| {
            s.paths.and_then(|id| sets.get(id)).map(|p| {
                (
                    RouteKey {
                        prefix: Prefix::from_v4_key(*k),
                        metric,
                    },
                    p,
                )
            })
        });
        let v6 = self.v6.iter().filter_map(move |(prefix, s)| {
            s.paths.and_then(|id| sets.get(id)).map(|p| {
                (
                    RouteKey {
                        prefix: *prefix,
                        metric,
                    },
                    p,
                )
            })
        });
        let other = self
            .other
            .iter()
            .filter_map(move |(k, s)| s.paths.and_then(|id| sets.get(id)).map(|p| (*k, p)));
        v4.chain(v6).chain(other)
    }

    /// The nexthop object the route `key` uses.
    pub fn nh(&self, key: &RouteKey) -> Option<u32> {
        self.get(self.at(key))?.nh.map(NonZeroU32::get)
    }

    /// Sets (or with `None` clears) the nexthop object of `key`; returns the former one.
    /// An id of 0 counts as none.
    pub fn set_nh(&mut self, key: RouteKey, id: Option<u32>) -> Option<u32> {
        let id = id.and_then(NonZeroU32::new);
        let at = self.at(&key);
        let before = self.get(at);
        if id.is_none() && before.is_none() {
            return None;
        }
        let before = before.unwrap_or_default();
        let mut slot = before;
        slot.nh = id;
        self.put(at, before, slot);
        before.nh.map(NonZeroU32::get)
    }

    /// Forgets what is installed and every nexthop object (before reading the kernel
    /// again); what is desired stays.
    pub fn clear_installed(&mut self) {
        let path_sets = &mut self.path_sets;
        let mut clear = |s: &mut Slot| {
            if let Some(id) = s.paths.take() {
                path_sets.release(id);
            }
            s.nh = None;
            !s.is_empty()
        };
        self.v4.retain(|_, s| clear(s));
        self.v6.retain(|_, s| clear(s));
        self.other.retain(|_, s| clear(s));
        self.counts[1] = 0;
        self.counts[2] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn key(s: &str, metric: u32) -> RouteKey {
        RouteKey {
            prefix: s.parse().expect("valid prefix"),
            metric,
        }
    }

    fn paths(gw: &str) -> Arc<[Path]> {
        Arc::from(vec![Path {
            gateway: Some(gw.parse::<IpAddr>().expect("valid address")),
            ifindex: 3,
        }])
    }

    #[test]
    fn each_fact_is_kept_and_counted_on_its_own() {
        let mut t = RouteTable::new(20);
        let k = key("198.51.100.0/24", 20);
        let hops: Arc<[NextHop]> = Arc::from(vec![NextHop::via(
            "192.0.2.1".parse().expect("valid address"),
        )]);
        t.set_desired(k.prefix, Some(Arc::clone(&hops)));
        assert_eq!(
            (t.desired_len(), t.installed_len(), t.nh_len(), t.len()),
            (1, 0, 0, 1)
        );
        assert_eq!(t.set_installed(k, Some(paths("192.0.2.1"))), None);
        assert_eq!(t.set_nh(k, Some(7)), None);
        assert_eq!(
            (t.desired_len(), t.installed_len(), t.nh_len(), t.len()),
            (1, 1, 1, 1)
        );
        assert_eq!(
            t.desired(&k.prefix).map(|h| h.to_vec()),
            Some(hops.to_vec())
        );
        assert_eq!(t.nh(&k), Some(7));
        t.set_desired(k.prefix, None);
        assert_eq!(t.desired(&k.prefix), None);
        assert_eq!(
            t.installed(&k).map(|p| p.to_vec()),
            Some(paths("192.0.2.1").to_vec())
        );
        assert_eq!(t.set_nh(k, None), Some(7));
        let prior = t.set_installed(k, None);
        assert_eq!(prior.map(|p| p.to_vec()), Some(paths("192.0.2.1").to_vec()));
        assert_eq!(
            (t.desired_len(), t.installed_len(), t.nh_len(), t.len()),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn another_metric_is_another_route() {
        let mut t = RouteTable::new(20);
        let ours = key("198.51.100.0/24", 20);
        let old = key("198.51.100.0/24", 10);
        t.set_installed(ours, Some(paths("192.0.2.1")));
        t.set_installed(old, Some(paths("192.0.2.2")));
        t.set_nh(old, Some(9));
        assert_eq!(t.installed_len(), 2);
        assert_eq!(t.nh(&ours), None);
        assert_eq!(t.nh(&old), Some(9));
        let mut keys: Vec<RouteKey> = t.installed_iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![old, ours]);
        t.clear_installed();
        assert_eq!((t.installed_len(), t.nh_len(), t.len()), (0, 0, 0));
        assert!(t.installed(&old).is_none());
    }

    #[test]
    fn a_shared_set_is_kept_once_and_dropped_with_its_last_route() {
        let mut t = RouteTable::new(20);
        let a = paths("192.0.2.1");
        let b = paths("192.0.2.2");
        let k1 = key("198.51.100.0/25", 20);
        let k2 = key("198.51.100.128/25", 20);
        let k6 = key("2001:db8::/32", 20);
        t.set_installed(k1, Some(Arc::clone(&a)));
        // Equal content, another allocation: the same set.
        t.set_installed(k2, Some(Arc::from(a.to_vec())));
        assert_eq!(t.path_sets.live(), 1);
        t.set_installed(k6, Some(Arc::clone(&b)));
        assert_eq!(t.path_sets.live(), 2);
        t.set_installed(k1, Some(Arc::clone(&b)));
        assert_eq!(t.path_sets.live(), 2, "k2 still holds a");
        assert_eq!(
            t.set_installed(k2, None).map(|p| p.to_vec()),
            Some(a.to_vec())
        );
        assert_eq!(t.path_sets.live(), 1);
        // The freed id is used again, for another set.
        t.set_installed(k2, Some(paths("192.0.2.3")));
        assert_eq!(t.path_sets.live(), 2);
        assert_eq!(t.path_sets.sets.len(), 2);
        let mut all: Vec<(RouteKey, Vec<Path>)> =
            t.installed_iter().map(|(k, p)| (k, p.to_vec())).collect();
        all.sort();
        assert_eq!(
            all,
            vec![
                (k1, b.to_vec()),
                (k2, paths("192.0.2.3").to_vec()),
                (k6, b.to_vec())
            ]
        );
        t.clear_installed();
        assert_eq!(t.path_sets.live(), 0);
    }

    #[test]
    fn clearing_what_is_absent_adds_nothing() {
        let mut t = RouteTable::new(20);
        let k = key("198.51.100.0/24", 20);
        t.set_desired(k.prefix, None);
        assert_eq!(t.set_installed(k, None), None);
        assert_eq!(t.set_nh(k, None), None);
        assert_eq!(t.set_nh(k, Some(0)), None);
        assert_eq!(t.len(), 0);
        t.set_desired(
            k.prefix,
            Some(Arc::from(vec![NextHop::via(
                "192.0.2.1".parse().expect("valid address"),
            )])),
        );
        t.set_installed(k, Some(paths("192.0.2.1")));
        t.clear_desired();
        assert_eq!((t.desired_len(), t.installed_len(), t.len()), (0, 1, 1));
    }
}
