//! Shared copies of next-hop and path sets: a full table has a million routes but
//! only a handful of distinct sets, so each route holds a reference-counted pointer
//! to one shared set instead of its own heap copy.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

/// An interner of slices.
#[derive(Debug)]
pub(crate) struct Interner<T: Hash + Eq> {
    set: HashSet<Arc<[T]>, FxBuildHasher>,
    /// The last set handed out: routes come in runs with the same next hops.
    last: Option<Arc<[T]>>,
    /// Size above which unused sets are swept.
    watermark: usize,
}

impl<T: Hash + Eq + Clone> Default for Interner<T> {
    fn default() -> Self {
        Self {
            set: HashSet::default(),
            last: None,
            watermark: 1024,
        }
    }
}

impl<T: Hash + Eq + Clone> Interner<T> {
    /// The shared copy of `items`.
    pub fn get(&mut self, items: &[T]) -> Arc<[T]> {
        if let Some(last) = &self.last {
            if **last == *items {
                return Arc::clone(last);
            }
        }
        let shared = match self.set.get(items) {
            Some(s) => Arc::clone(s),
            None => {
                let s: Arc<[T]> = Arc::from(items);
                self.set.insert(Arc::clone(&s));
                s
            }
        };
        self.last = Some(Arc::clone(&shared));
        shared
    }

    /// Drops the sets nobody else holds, once the set has grown past its watermark.
    pub fn sweep_if_large(&mut self) {
        if self.set.len() <= self.watermark {
            return;
        }
        self.last = None;
        self.set.retain(|s| Arc::strong_count(s) > 1);
        self.watermark = (self.set.len() * 2).max(1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_slices_share_one_copy() {
        let mut i: Interner<u32> = Interner::default();
        let a = i.get(&[1, 2]);
        let b = i.get(&[1, 2]);
        let c = i.get(&[3]);
        let d = i.get(&[1, 2]);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&a, &d));
        assert_eq!(*c, [3]);
    }

    #[test]
    fn sweep_keeps_what_is_held() {
        let mut i: Interner<u32> = Interner::default();
        let held = i.get(&[7]);
        for n in 0..2000u32 {
            i.get(&[n + 100]);
        }
        i.sweep_if_large();
        assert_eq!(i.set.len(), 1);
        assert!(Arc::ptr_eq(&held, &i.get(&[7])));
    }
}
