//! The kernel FIB's whole desired state from the Loc-RIB, at once.
//!
//! [`Rib::poll_fib`] hands the FIB writer the Loc-RIB's changes as they happen. A node that
//! did not write its changes while they happened (a standby sharing the primary's kernel,
//! issue 7: "when primary and standby share a host, the kernel FIB is taken over with the
//! `fib` adopt mode") needs the whole state at takeover instead: [`Rib::fib_routes`].

use super::{Fam, FibChange, Rib, LOCAL_PEER};
use crate::wire::{Ipv4Prefix, Ipv6Prefix};

impl Rib {
    /// Every route the kernel FIB should hold now, as [`FibChange::Install`]: the best route
    /// of each prefix that has one learned from a neighbour, with its next hop (the same
    /// rule as [`Rib::poll_fib`]: locally originated routes are not installed), IPv4 first, in
    /// no particular order within a family. Does not move the FIB's position in the change log.
    pub fn fib_routes(&self) -> Vec<FibChange> {
        fn one<K: Fam>(rib: &Rib, out: &mut Vec<FibChange>) {
            let f = K::fam(rib);
            for (k, e) in f.table.iter() {
                let next_hop = e
                    .best()
                    .filter(|r| r.peer != LOCAL_PEER)
                    .and_then(|r| rib.core.attrs.info(r.attr).next_hop);
                if let Some(next_hop) = next_hop {
                    out.push(FibChange::Install {
                        prefix: k.to_prefix(),
                        next_hop,
                    });
                }
            }
        }
        let mut out = Vec::new();
        one::<Ipv4Prefix>(self, &mut out);
        one::<Ipv6Prefix>(self, &mut out);
        out
    }
}
