//! The Loc-RIB as a cheap image, for a digest computed away from the RIB.
//!
//! `understudy ha` shows a digest of the Loc-RIB so two nodes (a primary and its standby)
//! can be compared. Hashing every route with its decoded path attributes took about 2 s at
//! 100,000 routes, all of it under the lock that the speaker's core and the standby's
//! checkpoint driver share. [`Rib::loc_rib_image`] copies only what the digest needs (per
//! route the prefix, the neighbour and an index into the attribute sets, each set's
//! canonical encoding once); [`LocRibImage::digest`] sorts and hashes it later, with no lock
//! held. The digest depends on the routes alone, not on the order they were learned in or
//! on how each node numbers its attribute sets.

use super::attrs::{AttrId, NO_ATTR};
use super::{Fam, PeerId, Rib, LOCAL_PEER};
use crate::wire::{Ipv4Prefix, Ipv6Prefix, Prefix};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Index of "no set" in [`LocRibImage`] (not expected for a best route).
const NO_SET: u32 = u32::MAX;

/// The Loc-RIB's routes as [`Rib::loc_rib_image`] copied them. See the module
/// documentation.
#[derive(Debug, Clone, Default)]
pub struct LocRibImage {
    /// The attribute sets the routes use, canonical encoding, each once.
    sets: Vec<Vec<u8>>,
    /// One per Loc-RIB route: prefix, neighbour (`None`: locally originated), set index.
    /// In table order (sorted by [`LocRibImage::digest`]).
    routes: Vec<(Prefix, Option<PeerId>, u32)>,
}

impl LocRibImage {
    /// Loc-RIB routes in the image (one per prefix).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True for an empty Loc-RIB.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// SHA-256 of the Loc-RIB: per route in prefix order, the prefix, the neighbour's
    /// address (from `addresses`; empty for a local route or an unknown neighbour) and the
    /// attribute set's canonical encoding. Equal on two nodes with the same Loc-RIB.
    pub fn digest(mut self, addresses: &BTreeMap<PeerId, IpAddr>) -> [u8; 32] {
        self.routes.sort_unstable();
        let mut h = Sha256::new();
        h.update(b"understudy-loc-rib-v2");
        let mut buf = Vec::with_capacity(1 << 16);
        for (prefix, peer, set) in &self.routes {
            buf.extend_from_slice(prefix.to_string().as_bytes());
            buf.push(b'|');
            if let Some(a) = peer.and_then(|p| addresses.get(&p)) {
                buf.extend_from_slice(a.to_string().as_bytes());
            }
            buf.push(b'|');
            let attrs = self.sets.get(*set as usize).map_or(&[][..], |s| &s[..]);
            buf.extend_from_slice(&(attrs.len() as u32).to_be_bytes());
            buf.extend_from_slice(attrs);
            if buf.len() > 1 << 15 {
                h.update(&buf);
                buf.clear();
            }
        }
        h.update(&buf);
        h.finalize().into()
    }
}

/// Numbers the attribute sets an image uses, in first-use order.
struct Sets<'a> {
    rib: &'a Rib,
    index: Vec<u32>,
    sets: Vec<Vec<u8>>,
}

impl Sets<'_> {
    fn of(&mut self, id: AttrId) -> u32 {
        if id == NO_ATTR {
            return NO_SET;
        }
        let Some(slot) = self.index.get_mut(id as usize) else {
            return NO_SET;
        };
        if *slot == NO_SET {
            *slot = self.sets.len() as u32;
            self.sets.push(self.rib.core.attrs.bytes(id).to_vec());
        }
        *slot
    }
}

fn take<K: Fam>(rib: &Rib, sets: &mut Sets<'_>, out: &mut Vec<(Prefix, Option<PeerId>, u32)>) {
    for (k, e) in &K::fam(rib).table {
        if let Some(r) = e.best() {
            let peer = (r.peer != LOCAL_PEER).then_some(PeerId(r.peer));
            out.push((k.to_prefix(), peer, sets.of(r.attr)));
        }
    }
}

impl Rib {
    /// The Loc-RIB as a [`LocRibImage`]: one pass over the tables, no attribute decoded, no
    /// sorting (the image sorts when it is digested). Take it under the RIB's lock, digest
    /// it after the lock is released.
    pub fn loc_rib_image(&self) -> LocRibImage {
        let mut sets = Sets {
            rib: self,
            index: vec![NO_SET; self.core.attrs.id_bound()],
            sets: Vec::new(),
        };
        let mut routes = Vec::new();
        take::<Ipv4Prefix>(self, &mut sets, &mut routes);
        take::<Ipv6Prefix>(self, &mut sets, &mut routes);
        LocRibImage {
            sets: sets.sets,
            routes,
        }
    }
}
