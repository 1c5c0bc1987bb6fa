//! A hash map kept in [`SHARDS`] parts, each a map of its own chosen by bits of the key's
//! hash that neither picks the bucket inside a part (low bits) nor its tag (top bits).
//!
//! Why: a hash map grows by moving everything into a table twice as large, and holds both
//! while it does. For the route table of a full Internet table (a million prefixes, 66 MiB
//! once grown) that was 33 + 66 MiB at once, and the Adj-RIB-Out of every neighbour doubled
//! at the same moment (13 + 26 MiB). In parts, the parts grow one after another, each
//! holding the old and new tables of a sixteenth only. Sizes once grown are the same.
//!
//! Iteration goes part by part: an order as arbitrary as a single map's, and as
//! deterministic (the hasher is unseeded).

use super::hash::FxBuild;
use std::collections::hash_map::{self, HashMap};
use std::hash::{BuildHasher, Hash};

/// Number of parts (a power of two).
pub(crate) const SHARDS: usize = 16;

/// The first hash bit that picks the part: below the tag's 7 top bits, above any bucket
/// index of a part smaller than 2^40 buckets.
const SHARD_SHIFT: u32 = 40;

/// A hash map in [`SHARDS`] parts.
#[derive(Debug, Clone)]
pub(crate) struct ShardedMap<K, V> {
    shards: Vec<HashMap<K, V, FxBuild>>,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
        }
    }
}

/// The part holding `k`.
#[inline]
fn shard_of<K: Hash>(k: &K) -> usize {
    (FxBuild.hash_one(k) >> SHARD_SHIFT) as usize & (SHARDS - 1)
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    #[inline]
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.shards[shard_of(k)].get(k)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.shards[shard_of(k)].get_mut(k)
    }

    #[inline]
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.shards[shard_of(&k)].insert(k, v)
    }

    #[inline]
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        self.shards[shard_of(k)].remove(k)
    }

    #[inline]
    pub(crate) fn entry(&mut self, k: K) -> hash_map::Entry<'_, K, V> {
        self.shards[shard_of(&k)].entry(k)
    }

    /// Room for `additional` more entries spread evenly (each part gets its share).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let each = additional.div_ceil(SHARDS);
        for s in &mut self.shards {
            s.reserve(each);
        }
    }
}

impl<K, V> ShardedMap<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.shards.iter().flat_map(HashMap::iter)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.shards.iter().flat_map(HashMap::keys)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.shards.iter().flat_map(HashMap::values)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.shards.iter_mut().flat_map(HashMap::values_mut)
    }

    /// The capacity (entries) of the largest part.
    #[cfg(test)]
    pub(crate) fn largest_part_capacity(&self) -> usize {
        self.shards.iter().map(HashMap::capacity).max().unwrap_or(0)
    }
}

impl<K: Hash + Eq, V> std::ops::Index<&K> for ShardedMap<K, V> {
    type Output = V;
    /// The value of `k`; panics when absent (as `HashMap`'s).
    fn index(&self, k: &K) -> &V {
        &self.shards[shard_of(k)][k]
    }
}

impl<'a, K, V> IntoIterator for &'a ShardedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::FlatMap<
        std::slice::Iter<'a, HashMap<K, V, FxBuild>>,
        hash_map::Iter<'a, K, V>,
        fn(&'a HashMap<K, V, FxBuild>) -> hash_map::Iter<'a, K, V>,
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.shards.iter().flat_map(HashMap::iter)
    }
}

impl<K, V> IntoIterator for ShardedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<HashMap<K, V, FxBuild>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.shards.into_iter().flatten()
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for ShardedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = ShardedMap::default();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::{ShardedMap, SHARDS};
    use crate::wire::Ipv4Prefix;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    fn prefix(i: u32) -> Ipv4Prefix {
        Ipv4Prefix::new(Ipv4Addr::from(i << 8), 24).expect("a /24")
    }

    #[test]
    fn holds_what_a_map_holds() {
        let mut m: ShardedMap<Ipv4Prefix, u32> = ShardedMap::default();
        let mut reference = HashMap::new();
        for i in 0..20_000u32 {
            let k = prefix(i % 7_000);
            assert_eq!(m.insert(k, i), reference.insert(k, i));
            if i % 3 == 0 {
                let r = prefix((i * 7) % 7_000);
                assert_eq!(m.remove(&r), reference.remove(&r));
            }
        }
        assert_eq!(m.len(), reference.len());
        for (k, v) in &reference {
            assert_eq!(m.get(k), Some(v));
        }
        let mut a: Vec<(Ipv4Prefix, u32)> = m.iter().map(|(k, v)| (*k, *v)).collect();
        let mut b: Vec<(Ipv4Prefix, u32)> = reference.into_iter().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        let owned: Vec<(Ipv4Prefix, u32)> = m.into_iter().collect();
        assert_eq!(owned.len(), b.len());
    }

    #[test]
    fn the_parts_share_the_entries_and_grow_apart() {
        // 2^17 prefixes: one map would have grown to 2^18 buckets; each part holds about a
        // sixteenth and has grown only to its own share.
        let n = 1u32 << 17;
        let m: ShardedMap<Ipv4Prefix, u32> = (0..n).map(|i| (prefix(i), i)).collect();
        assert_eq!(m.len(), n as usize);
        let sizes: Vec<usize> = m.shards.iter().map(HashMap::len).collect();
        let even = n as usize / SHARDS;
        assert!(
            sizes.iter().all(|s| s.abs_diff(even) < even / 10),
            "parts unevenly filled: {sizes:?}"
        );
        // A part's capacity is what its own entries need (at most twice), never the whole
        // map's.
        assert!(
            m.largest_part_capacity() <= 4 * even,
            "largest part capacity {} for {} entries",
            m.largest_part_capacity(),
            even
        );
    }
}
