//! What the writer knows of each of its routes, in one table: the BGP next hops the
//! speaker wants, the paths the kernel holds (as far as we know) and the nexthop object the
//! route refers to.
//!
//! One entry per prefix instead of one map per fact: a full table is a million prefixes,
//! and three maps of a million entries each cost about 230 MB (hashbrown grows to 2^21
//! buckets past 917,504 entries), one costs about 136 MB.
//!
//! Routes at our metric are keyed by prefix alone. Routes of ours at another metric (left
//! by an earlier run with another configuration, adopted and deleted at convergence) are
//! rare and kept apart, by [`RouteKey`].

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use crate::prefix::Prefix;
use crate::route::{NextHop, Path, RouteKey};

/// One route: what is wanted, what is installed, through which object.
#[derive(Debug, Clone, Default)]
struct Slot {
    /// The speaker's next hops; `None`: not desired.
    hops: Option<Arc<[NextHop]>>,
    /// The paths we believe the kernel holds; `None`: not installed.
    paths: Option<Arc<[Path]>>,
    /// The nexthop object the kernel's route uses (ids are never 0).
    nh: Option<NonZeroU32>,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.hops.is_none() && self.paths.is_none() && self.nh.is_none()
    }
}

/// The writer's routes: desired, installed, nexthop object, by route.
#[derive(Debug)]
pub(crate) struct RouteTable {
    metric: u32,
    main: HashMap<Prefix, Slot, FxBuildHasher>,
    /// Ours at another metric than `metric`: installed (never desired).
    other: HashMap<RouteKey, Slot, FxBuildHasher>,
    desired: usize,
    installed: usize,
    with_nh: usize,
}

impl RouteTable {
    /// An empty table for routes at `metric`.
    pub fn new(metric: u32) -> Self {
        Self {
            metric,
            main: HashMap::default(),
            other: HashMap::default(),
            desired: 0,
            installed: 0,
            with_nh: 0,
        }
    }

    /// Prefixes desired.
    pub fn desired_len(&self) -> usize {
        self.desired
    }

    /// Routes we believe installed.
    pub fn installed_len(&self) -> usize {
        self.installed
    }

    /// Routes that use a nexthop object.
    pub fn nh_len(&self) -> usize {
        self.with_nh
    }

    /// Room for `additional` more prefixes at our metric.
    pub fn reserve(&mut self, additional: usize) {
        self.main.reserve(additional);
    }

    /// Entries at our metric (desired, installed or both).
    pub fn len(&self) -> usize {
        self.main.len()
    }

    fn slot(&self, key: &RouteKey) -> Option<&Slot> {
        if key.metric == self.metric {
            self.main.get(&key.prefix)
        } else {
            self.other.get(key)
        }
    }

    /// Changes the slot of `key` with `f`; drops it when it ends up empty.
    fn update<R>(&mut self, key: RouteKey, f: impl FnOnce(&mut Slot) -> R) -> R {
        let before;
        let (r, after) = if key.metric == self.metric {
            let slot = self.main.entry(key.prefix).or_default();
            before = counts(slot);
            let r = f(slot);
            let after = counts(slot);
            if slot.is_empty() {
                self.main.remove(&key.prefix);
            }
            (r, after)
        } else {
            let slot = self.other.entry(key).or_default();
            before = counts(slot);
            let r = f(slot);
            let after = counts(slot);
            if slot.is_empty() {
                self.other.remove(&key);
            }
            (r, after)
        };
        self.desired = self.desired + after.0 - before.0;
        self.installed = self.installed + after.1 - before.1;
        self.with_nh = self.with_nh + after.2 - before.2;
        r
    }

    /// The next hops desired for `prefix`.
    pub fn desired(&self, prefix: &Prefix) -> Option<&Arc<[NextHop]>> {
        self.main.get(prefix).and_then(|s| s.hops.as_ref())
    }

    /// Sets (or with `None` clears) the next hops desired for `prefix`.
    pub fn set_desired(&mut self, prefix: Prefix, hops: Option<Arc<[NextHop]>>) {
        if hops.is_none() && !self.main.contains_key(&prefix) {
            return;
        }
        let key = RouteKey {
            prefix,
            metric: self.metric,
        };
        self.update(key, |s| s.hops = hops);
    }

    /// Clears every desired prefix.
    pub fn clear_desired(&mut self) {
        self.main.retain(|_, s| {
            s.hops = None;
            !s.is_empty()
        });
        self.desired = 0;
    }

    /// Every desired prefix with its next hops.
    pub fn desired_iter(&self) -> impl Iterator<Item = (Prefix, &Arc<[NextHop]>)> {
        self.main
            .iter()
            .filter_map(|(p, s)| s.hops.as_ref().map(|h| (*p, h)))
    }

    /// The paths we believe the kernel holds for `key`.
    pub fn installed(&self, key: &RouteKey) -> Option<&Arc<[Path]>> {
        self.slot(key).and_then(|s| s.paths.as_ref())
    }

    /// Sets (or with `None` clears) the paths installed for `key`; returns the former ones.
    pub fn set_installed(
        &mut self,
        key: RouteKey,
        paths: Option<Arc<[Path]>>,
    ) -> Option<Arc<[Path]>> {
        if paths.is_none() && self.slot(&key).is_none() {
            return None;
        }
        self.update(key, |s| std::mem::replace(&mut s.paths, paths))
    }

    /// Every route we believe installed, with its paths.
    pub fn installed_iter(&self) -> impl Iterator<Item = (RouteKey, &Arc<[Path]>)> {
        let metric = self.metric;
        let main = self.main.iter().filter_map(move |(p, s)| {
            s.paths
                .as_ref()
                .map(|paths| (RouteKey { prefix: *p, metric }, paths))
        });
        let other = self
            .other
            .iter()
            .filter_map(|(k, s)| s.paths.as_ref().map(|paths| (*k, paths)));
        main.chain(other)
    }

    /// The nexthop object the route `key` uses.
    pub fn nh(&self, key: &RouteKey) -> Option<u32> {
        self.slot(key).and_then(|s| s.nh).map(NonZeroU32::get)
    }

    /// Sets (or with `None` clears) the nexthop object of `key`; returns the former one.
    /// An id of 0 counts as none.
    pub fn set_nh(&mut self, key: RouteKey, id: Option<u32>) -> Option<u32> {
        let id = id.and_then(NonZeroU32::new);
        if id.is_none() && self.slot(&key).is_none() {
            return None;
        }
        self.update(key, |s| std::mem::replace(&mut s.nh, id))
            .map(NonZeroU32::get)
    }

    /// Forgets what is installed and every nexthop object (before reading the kernel
    /// again); what is desired stays.
    pub fn clear_installed(&mut self) {
        self.other.clear();
        self.main.retain(|_, s| {
            s.paths = None;
            s.nh = None;
            !s.is_empty()
        });
        self.installed = 0;
        self.with_nh = 0;
    }
}

fn counts(s: &Slot) -> (usize, usize, usize) {
    (
        usize::from(s.hops.is_some()),
        usize::from(s.paths.is_some()),
        usize::from(s.nh.is_some()),
    )
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
