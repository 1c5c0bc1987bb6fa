//! The Loc-RIB changes the kernel FIB has not taken yet, in one compact place.
//!
//! A full table changes a million prefixes far faster than the kernel takes routes. Holding
//! each change whole until the FIB writer gets to it (prefix, next hop, about 36 octets) costs
//! tens of megabytes; [`FibPending`] holds only the prefix (5 octets for IPv4, 17 for IPv6)
//! and resolves the change when it is taken: the prefix's Loc-RIB route *then*
//! ([`super::Rib::fib_change`]). A prefix that changed twice before it was taken therefore
//! needs one change, and the kernel still ends with the Loc-RIB's routes.
//!
//! The queue may hold a prefix more than once (pushing does not look it up); when it grows
//! to twice the number of prefixes it held after the last coalescing (and at least
//! [`COALESCE_FROM`]), it is sorted and each prefix kept once. So it never holds more than
//! about twice the prefixes that are waiting, whatever the churn.

use super::{Fam, FibChange, Rib, LOCAL_PEER};
use crate::wire::{Ipv4Prefix, Ipv6Prefix, Prefix};
use std::collections::VecDeque;

/// Queue length below which pending prefixes are never coalesced (a full table of distinct
/// prefixes is never sorted for nothing).
pub const COALESCE_FROM: usize = 1 << 20;

/// One family's pending prefixes, oldest first (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Queue<K> {
    keys: VecDeque<K>,
    /// Length after the last coalescing (0: none yet, or everything taken since).
    unique: usize,
    coalesce_from: usize,
}

impl<K: Copy + Ord> Queue<K> {
    fn new(coalesce_from: usize) -> Self {
        Queue {
            keys: VecDeque::new(),
            unique: 0,
            coalesce_from,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, key: K) {
        self.keys.push_back(key);
        if self.keys.len() >= (2 * self.unique).max(self.coalesce_from) {
            self.coalesce();
        }
    }

    pub(crate) fn extend(&mut self, keys: &[K]) {
        for k in keys {
            self.push(*k);
        }
    }

    /// Keeps each prefix once (in prefix order).
    fn coalesce(&mut self) {
        let keys = self.keys.make_contiguous();
        keys.sort_unstable();
        let mut n = 0;
        for i in 0..keys.len() {
            if n == 0 || keys[i] != keys[n - 1] {
                keys[n] = keys[i];
                n += 1;
            }
        }
        self.keys.truncate(n);
        self.unique = n;
    }

    fn pop(&mut self) -> Option<K> {
        let k = self.keys.pop_front()?;
        self.unique = self.unique.min(self.keys.len());
        if self.keys.is_empty() && self.keys.capacity() > 1 << 16 {
            // A full table's queue is not kept for the next one.
            self.keys = VecDeque::new();
        }
        Some(k)
    }
}

/// The prefixes whose Loc-RIB route changed and that the kernel FIB has not taken yet
/// (filled by [`super::Rib::poll_fib_into`]). See the module documentation.
#[derive(Debug, Clone)]
pub struct FibPending {
    pub(crate) v4: Queue<Ipv4Prefix>,
    pub(crate) v6: Queue<Ipv6Prefix>,
}

impl Default for FibPending {
    fn default() -> Self {
        FibPending::coalescing_from(COALESCE_FROM)
    }
}

impl FibPending {
    /// An empty set that coalesces a family's queue from `n` entries on ([`COALESCE_FROM`]
    /// by default; smaller in tests).
    pub fn coalescing_from(n: usize) -> Self {
        FibPending {
            v4: Queue::new(n),
            v6: Queue::new(n),
        }
    }

    /// Notes that `prefix`'s Loc-RIB route changed.
    pub fn push(&mut self, prefix: Prefix) {
        match prefix {
            Prefix::V4(p) => self.v4.push(p),
            Prefix::V6(p) => self.v6.push(p),
        }
    }

    /// Entries held (IPv4, IPv6); a prefix may be counted more than once until the queue is
    /// coalesced.
    pub fn len(&self) -> (usize, usize) {
        (self.v4.keys.len(), self.v6.keys.len())
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.v4.keys.is_empty() && self.v6.keys.is_empty()
    }

    /// Forgets every pending prefix (the kernel is given the whole Loc-RIB instead).
    pub fn clear(&mut self) {
        *self = FibPending::coalescing_from(self.v4.coalesce_from);
    }

    /// Takes pending prefixes, oldest first (IPv4 before IPv6), each turned by `resolve`
    /// into the change the kernel needs now, until `max_installs` installs are taken.
    /// Removals do not count, so that withdrawing every route of a next hop stays in one
    /// piece (the writer then deletes the nexthop object instead of each route).
    pub fn take(
        &mut self,
        max_installs: usize,
        mut resolve: impl FnMut(Prefix) -> FibChange,
    ) -> Vec<FibChange> {
        let mut out = Vec::new();
        let mut installs = 0;
        while installs < max_installs {
            let Some(prefix) = self
                .v4
                .pop()
                .map(Prefix::V4)
                .or_else(|| self.v6.pop().map(Prefix::V6))
            else {
                break;
            };
            let change = resolve(prefix);
            installs += usize::from(matches!(change, FibChange::Install { .. }));
            out.push(change);
        }
        out
    }
}

impl Rib {
    /// Adds the prefixes whose Loc-RIB route changed since the last call to `pending` (the
    /// same changes as [`Rib::poll_fib`], with the next hop left for [`Rib::fib_change`] to
    /// read when the FIB writer takes them). Nothing when the FIB is not used.
    pub fn poll_fib_into(&mut self, pending: &mut FibPending) {
        if !self.core.cfg.fib {
            return;
        }
        fn one<K: Fam>(rib: &mut Rib, queue: &mut Queue<K>) {
            let (f, _) = K::parts(rib);
            let i = f.fib_pos.saturating_sub(f.log.base) as usize;
            queue.extend(f.log.items.get(i..).unwrap_or(&[]));
            f.fib_pos = f.log.end();
        }
        one::<Ipv4Prefix>(self, &mut pending.v4);
        one::<Ipv6Prefix>(self, &mut pending.v6);
        self.compact_logs();
    }

    /// What the kernel FIB needs for `prefix` now: its Loc-RIB best route's next hop, or a
    /// removal (no best route, or a locally originated one: the rule of [`Rib::poll_fib`]).
    pub fn fib_change(&self, prefix: Prefix) -> FibChange {
        fn next_hop<K: Fam>(rib: &Rib, k: K) -> Option<std::net::IpAddr> {
            let best = K::fam(rib).table.get(&k)?.best()?;
            if best.peer == LOCAL_PEER {
                return None;
            }
            rib.core.attrs.info(best.attr).next_hop
        }
        let next_hop = match prefix {
            Prefix::V4(k) => next_hop(self, k),
            Prefix::V6(k) => next_hop(self, k),
        };
        match next_hop {
            Some(next_hop) => FibChange::Install { prefix, next_hop },
            None => FibChange::Remove { prefix },
        }
    }

    /// Prefixes with a Loc-RIB route (IPv4, IPv6): about the size the kernel FIB grows to.
    pub fn loc_rib_lens(&self) -> (usize, usize) {
        (self.v4.best, self.v6.best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn prefix(i: u8) -> Prefix {
        if i % 4 == 3 {
            let a = Ipv6Addr::new(0x2001, 0xdb8, u16::from(i), 0, 0, 0, 0, 0);
            Prefix::V6(Ipv6Prefix::new(a, 48).expect("a /48"))
        } else {
            Prefix::V4(Ipv4Prefix::new(Ipv4Addr::new(198, 51, i, 0), 24).expect("a /24"))
        }
    }

    fn hop(h: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, h))
    }

    /// The Loc-RIB as the test sees it: prefix -> next hop of its best route.
    type LocRib = BTreeMap<Prefix, IpAddr>;

    fn resolve(rib: &LocRib) -> impl Fn(Prefix) -> FibChange + '_ {
        |prefix| match rib.get(&prefix) {
            Some(&next_hop) => FibChange::Install { prefix, next_hop },
            None => FibChange::Remove { prefix },
        }
    }

    fn apply(kernel: &mut LocRib, changes: &[FibChange]) {
        for c in changes {
            match *c {
                FibChange::Install { prefix, next_hop } => {
                    kernel.insert(prefix, next_hop);
                }
                FibChange::Remove { prefix } => {
                    kernel.remove(&prefix);
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// The best route of a prefix changes (to a next hop, or none).
        Change(u8, Option<u8>),
        /// The FIB writer takes a piece.
        Take(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..40, proptest::option::of(1u8..4)).prop_map(|(p, h)| Op::Change(p, h)),
            1 => (1usize..8).prop_map(Op::Take),
        ]
    }

    proptest! {
        /// Taking coalesced prefixes in bounded pieces leaves the kernel with what applying
        /// every change in order leaves; no piece holds more installs than asked; a queue
        /// never holds more than twice the distinct prefixes pushed since the set was last
        /// empty (or the threshold), however often they change.
        #[test]
        fn bounded_coalesced_takes_end_with_the_kernel_of_every_change_in_order(
            ops in proptest::collection::vec(op(), 0..400),
            from in 1usize..12,
        ) {
            let mut pending = FibPending::coalescing_from(from);
            let mut rib = LocRib::new();
            let (mut kernel, mut every) = (LocRib::new(), LocRib::new());
            let mut pushed = std::collections::BTreeSet::new();
            for op in ops {
                match op {
                    Op::Change(p, h) => {
                        let p = prefix(p);
                        let change = match h {
                            Some(h) => {
                                rib.insert(p, hop(h));
                                FibChange::Install { prefix: p, next_hop: hop(h) }
                            }
                            None => {
                                rib.remove(&p);
                                FibChange::Remove { prefix: p }
                            }
                        };
                        apply(&mut every, &[change]);
                        pending.push(p);
                        pushed.insert(p);
                    }
                    Op::Take(n) => {
                        let piece = pending.take(n, resolve(&rib));
                        let installs = piece
                            .iter()
                            .filter(|c| matches!(c, FibChange::Install { .. }))
                            .count();
                        prop_assert!(installs <= n, "{installs} installs, asked {n}");
                        // Only a lack of pending prefixes ends a piece early.
                        prop_assert!(installs == n || pending.is_empty());
                        apply(&mut kernel, &piece);
                    }
                }
                let (v4, v6) = pending.len();
                let held = v4.max(v6);
                prop_assert!(held <= (2 * pushed.len()).max(from), "{held} held, {} pushed", pushed.len());
                if pending.is_empty() {
                    pushed.clear();
                }
            }
            let rest = pending.take(usize::MAX, resolve(&rib));
            apply(&mut kernel, &rest);
            prop_assert!(pending.is_empty());
            prop_assert_eq!(&kernel, &every);
            prop_assert_eq!(&kernel, &rib);
        }
    }

    #[test]
    fn a_prefix_changed_twice_before_it_is_taken_is_one_change_with_the_latest_route() {
        let mut pending = FibPending::coalescing_from(4);
        let mut rib = LocRib::new();
        for h in 1..=3 {
            rib.insert(prefix(1), hop(h));
            pending.push(prefix(1));
        }
        rib.insert(prefix(2), hop(9));
        pending.push(prefix(2));
        // Four entries reach the threshold: coalesced to two.
        assert_eq!(pending.len(), (2, 0));
        let taken = pending.take(10, resolve(&rib));
        assert_eq!(
            taken,
            [
                FibChange::Install {
                    prefix: prefix(1),
                    next_hop: hop(3)
                },
                FibChange::Install {
                    prefix: prefix(2),
                    next_hop: hop(9)
                },
            ]
        );
    }

    #[test]
    fn removals_do_not_count_toward_a_piece() {
        let mut pending = FibPending::default();
        let mut rib = LocRib::new();
        for i in 0..20 {
            pending.push(prefix(i));
            if i % 2 == 0 {
                rib.insert(prefix(i), hop(1));
            }
        }
        let piece = pending.take(3, resolve(&rib));
        let installs = piece
            .iter()
            .filter(|c| matches!(c, FibChange::Install { .. }))
            .count();
        assert_eq!(installs, 3);
        // Prefixes 0..=4 are IPv4 installs 0, 2, 4 and removals 1 (and none of 3, IPv6:
        // taken after every IPv4 prefix).
        assert_eq!(piece.len(), 4);
        assert_eq!(pending.len(), (11, 5));
    }
}
