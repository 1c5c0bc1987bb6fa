//! Interned path attribute sets.
//!
//! Every distinct attribute set is stored once, in its canonical wire encoding (4-octet ASNs,
//! AS_PATH already merged with AS4_PATH, no AS4_PATH/AS4_AGGREGATOR/MP_UNREACH_NLRI, an
//! MP_REACH_NLRI kept only for its next hop, with no NLRI), with the few values the decision
//! process and the FIB need decoded beside it. Routes refer to a set by a 4-octet index;
//! sets are reference counted and their slots reused. Equal sets get the same index, so a full
//! table of a million routes with a few hundred thousand distinct sets holds each set once.

use super::hash::hash_bytes;
use crate::wire::attribute::{self as wattr, AttrReport};
use crate::wire::{
    AfiSafi, AsPath, EncodeError, MpNextHop, PathAttribute, PathAttributes, SessionContext,
    UpdateView,
};
use hashbrown::HashTable;
use std::net::IpAddr;

/// Index of an interned attribute set.
pub(crate) type AttrId = u32;

/// "No attributes": a route rejected by policy or a loop check.
pub(crate) const NO_ATTR: AttrId = u32::MAX;

/// Presence bits of [`AttrInfo::flags`].
pub(crate) mod has {
    pub const LOCAL_PREF: u8 = 1;
    pub const MED: u8 = 2;
    pub const ORIGINATOR_ID: u8 = 4;
    pub const NEIGHBOR_AS: u8 = 8;
}

/// The values of an attribute set that route selection and the FIB use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttrInfo {
    pub local_pref: u32,
    pub med: u32,
    pub originator_id: u32,
    /// First ASN of the AS path when it starts with an AS_SEQUENCE (RFC 4271 9.1.2.2 c).
    pub neighbor_as: u32,
    /// RFC 4271 9.1.2.2 a: AS_SET counts 1, confederation segments 0.
    pub as_path_len: u16,
    pub cluster_len: u16,
    pub origin: u8,
    pub flags: u8,
    pub next_hop: Option<IpAddr>,
}

impl AttrInfo {
    /// From attributes whose AS path is `as_path` (the effective one).
    pub(crate) fn from_attrs(a: &PathAttributes, as_path: Option<&AsPath>) -> Self {
        let mut flags = 0;
        let local_pref = a.local_pref().inspect(|_| flags |= has::LOCAL_PREF);
        let med = a.med().inspect(|_| flags |= has::MED);
        let originator = match a.value(wattr::type_code::ORIGINATOR_ID) {
            Some(crate::wire::AttributeValue::OriginatorId(id)) => {
                flags |= has::ORIGINATOR_ID;
                u32::from(*id)
            }
            _ => 0,
        };
        let cluster_len = match a.value(wattr::type_code::CLUSTER_LIST) {
            Some(crate::wire::AttributeValue::ClusterList(l)) => l.len().min(65535) as u16,
            _ => 0,
        };
        let neighbor_as = as_path
            .and_then(|p| p.first_asn())
            .inspect(|_| flags |= has::NEIGHBOR_AS)
            .map_or(0, |a| a.0);
        let next_hop = match a.mp_reach() {
            Some(r) => match &r.next_hop {
                MpNextHop::Ipv4(v) => Some(IpAddr::V4(*v)),
                MpNextHop::Ipv6 { global, .. } => Some(IpAddr::V6(*global)),
                MpNextHop::Opaque(_) => None,
            },
            None => a.next_hop().map(IpAddr::V4),
        };
        AttrInfo {
            local_pref: local_pref.unwrap_or(0),
            med: med.unwrap_or(0),
            originator_id: originator,
            neighbor_as,
            as_path_len: as_path.map_or(0, |p| p.route_selection_len().min(65535) as u16),
            cluster_len,
            origin: a.origin().map_or(2, |o| o.code()),
            flags,
            next_hop,
        }
    }

    /// From an UPDATE read in place (its AS_PATH is the effective one: the view takes no
    /// AS4_PATH). Equal to [`AttrInfo::from_attrs`] of the decoded UPDATE.
    pub(crate) fn from_view(v: &UpdateView<'_>) -> Self {
        let mut flags = 0;
        if v.local_pref().is_some() {
            flags |= has::LOCAL_PREF;
        }
        if v.med().is_some() {
            flags |= has::MED;
        }
        if v.originator_id().is_some() {
            flags |= has::ORIGINATOR_ID;
        }
        let neighbor_as = v
            .first_asn()
            .inspect(|_| flags |= has::NEIGHBOR_AS)
            .map_or(0, |a| a.0);
        AttrInfo {
            local_pref: v.local_pref().unwrap_or(0),
            med: v.med().unwrap_or(0),
            originator_id: v.originator_id().map_or(0, u32::from),
            neighbor_as,
            as_path_len: v.as_path_selection_len().min(65535) as u16,
            cluster_len: v.cluster_len().min(65535) as u16,
            origin: v.origin_code().unwrap_or(2),
            flags,
            next_hop: v.next_hop().map(IpAddr::V4),
        }
    }

    pub(crate) fn local_pref(&self) -> Option<u32> {
        (self.flags & has::LOCAL_PREF != 0).then_some(self.local_pref)
    }
    pub(crate) fn med(&self) -> Option<u32> {
        (self.flags & has::MED != 0).then_some(self.med)
    }
    pub(crate) fn originator_id(&self) -> Option<u32> {
        (self.flags & has::ORIGINATOR_ID != 0).then_some(self.originator_id)
    }
    pub(crate) fn neighbor_as(&self) -> Option<u32> {
        (self.flags & has::NEIGHBOR_AS != 0).then_some(self.neighbor_as)
    }
}

#[derive(Debug)]
struct Slot {
    bytes: Box<[u8]>,
    info: AttrInfo,
    refs: u32,
}

/// Slots in fixed chunks, so that growing never reserves twice what is used.
#[derive(Debug, Default)]
struct Slots {
    chunks: Vec<Vec<Slot>>,
    len: usize,
}

const CHUNK: usize = 4096;

impl Slots {
    fn push(&mut self, s: Slot) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(s),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(s);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }
    fn len(&self) -> usize {
        self.len
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Slot;
    #[inline]
    fn index(&self, i: usize) -> &Slot {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl std::ops::IndexMut<usize> for Slots {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Slot {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// The hash of an encoding, 32 bits kept in the index beside the id: growing the index then
/// neither reads the slots nor hashes their bytes again (it did, and that re-hashing of every
/// set at each doubling was 7 % of the ingest time of a full table), and a lookup compares
/// bytes only when the 32 bits match.
#[inline]
fn hash32(bytes: &[u8]) -> u32 {
    hash_bytes(bytes) as u32
}

/// The 64-bit table hash of a [`hash32`]: both halves, so that the bucket (low bits) and the
/// table's tag (top 7 bits) come from different bits of the hash.
#[inline]
fn spread(h: u32) -> u64 {
    (u64::from(h) << 32) | u64::from(h)
}

/// An index entry: (id, [`hash32`] of its encoding).
type IndexEntry = (AttrId, u32);

/// The interner.
#[derive(Debug)]
pub(crate) struct AttrStore {
    slots: Slots,
    free: Vec<AttrId>,
    index: HashTable<IndexEntry>,
    ctx: SessionContext,
    scratch: Vec<u8>,
}

/// The context of the canonical encoding: 4-octet ASNs, internal (nothing discarded).
pub(crate) fn storage_ctx() -> SessionContext {
    SessionContext {
        four_octet_as: true,
        ibgp: true,
        extended_message: true,
        afi_safis: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
        extended_next_hop: vec![AfiSafi::IPV4_UNICAST],
        ..SessionContext::default()
    }
}

impl Default for AttrStore {
    fn default() -> Self {
        AttrStore {
            slots: Slots::default(),
            free: Vec::new(),
            index: HashTable::new(),
            ctx: storage_ctx(),
            scratch: Vec::with_capacity(256),
        }
    }
}

impl AttrStore {
    /// Interns the canonical encoding in `bytes`; `info` is called only for a new set. The
    /// returned id carries one reference for the caller.
    pub(crate) fn intern_bytes(&mut self, bytes: &[u8], info: impl FnOnce() -> AttrInfo) -> AttrId {
        let h32 = hash32(bytes);
        let h = spread(h32);
        // One probe of the index for both outcomes (a find, then an insert for a new set,
        // probed twice).
        let AttrStore {
            slots, free, index, ..
        } = self;
        let vacant = match index.entry(
            h,
            |&(id, x)| x == h32 && &*slots[id as usize].bytes == bytes,
            |&(_, x)| spread(x),
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let id = o.get().0;
                slots[id as usize].refs += 1;
                return id;
            }
            hashbrown::hash_table::Entry::Vacant(v) => v,
        };
        let slot = Slot {
            bytes: bytes.into(),
            info: info(),
            refs: 1,
        };
        let id = match free.pop() {
            Some(id) => {
                slots[id as usize] = slot;
                id
            }
            None => {
                slots.push(slot);
                (slots.len() - 1) as AttrId
            }
        };
        vacant.insert((id, h32));
        id
    }

    /// Interns a canonical encoding read back (a RIB snapshot, a neighbour's part),
    /// decoding it for its [`AttrInfo`] only when the set is new. One reference for the
    /// caller.
    pub(crate) fn intern_encoded(&mut self, bytes: &[u8]) -> AttrId {
        self.intern_bytes(bytes, || {
            let mut report = AttrReport::default();
            let decoded = wattr::decode_attributes(bytes, &storage_ctx(), &mut report);
            AttrInfo::from_attrs(&decoded, decoded.as_path())
        })
    }

    /// Interns decoded attributes (which must already be in canonical form: effective
    /// AS_PATH, no AS4 attributes). One reference for the caller.
    pub(crate) fn intern(&mut self, attrs: &PathAttributes) -> Result<AttrId, EncodeError> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let r = wattr::encode_attributes(attrs, &self.ctx, &mut buf);
        let out =
            r.map(|()| self.intern_bytes(&buf, || AttrInfo::from_attrs(attrs, attrs.as_path())));
        self.scratch = buf;
        out
    }

    /// Adds a reference.
    #[inline]
    pub(crate) fn acquire(&mut self, id: AttrId) {
        if id != NO_ATTR {
            self.slots[id as usize].refs += 1;
        }
    }

    /// Drops a reference; the set is freed with its last one.
    #[inline]
    pub(crate) fn release(&mut self, id: AttrId) {
        if id == NO_ATTR {
            return;
        }
        let s = &mut self.slots[id as usize];
        s.refs -= 1;
        if s.refs == 0 {
            let h = spread(hash32(&s.bytes));
            if let Ok(e) = self.index.find_entry(h, |&(i, _)| i == id) {
                e.remove();
            }
            self.slots[id as usize].bytes = Box::default();
            self.free.push(id);
        }
    }

    /// The decoded values of a set.
    #[inline]
    pub(crate) fn info(&self, id: AttrId) -> &AttrInfo {
        &self.slots[id as usize].info
    }

    /// The canonical encoding of a set.
    pub(crate) fn bytes(&self, id: AttrId) -> &[u8] {
        &self.slots[id as usize].bytes
    }

    /// The set decoded.
    pub(crate) fn decode(&self, id: AttrId) -> PathAttributes {
        let mut report = AttrReport::default();
        wattr::decode_attributes(&self.slots[id as usize].bytes, &self.ctx, &mut report)
    }

    /// One past the largest id ever given out (ids index a vector of this length).
    pub(crate) fn id_bound(&self) -> usize {
        self.slots.len()
    }

    /// Number of live sets.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Reference count (consistency checks).
    #[allow(dead_code)]
    pub(crate) fn refs(&self, id: AttrId) -> u32 {
        self.slots[id as usize].refs
    }

    /// Encodes one attribute canonically into `out`.
    pub(crate) fn encode_one(
        &self,
        a: &PathAttribute,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        wattr::encode_attribute(a, &self.ctx, out)
    }

    /// Takes the scratch buffer (give it back with [`AttrStore::put_scratch`]).
    pub(crate) fn take_scratch(&mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.scratch);
        b.clear();
        b
    }

    /// Returns the scratch buffer.
    pub(crate) fn put_scratch(&mut self, b: Vec<u8>) {
        self.scratch = b;
    }
}
