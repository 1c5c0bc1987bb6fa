//! The RIB's replicated state: a canonical digest and a serde snapshot.
//!
//! Both are independent of hash-table order and of interning history: attribute sets are
//! numbered by the order of their canonical encodings, tables walked by prefix, neighbours by
//! id. Pending changes enter as each reader's set of pending prefixes (what its next poll
//! depends on). Events not yet taken with [`Rib::poll_events`] are not part of the state.

use super::attrs::{AttrId, AttrStore, NO_ATTR};
use super::sharded::ShardedMap;
use super::table::{Family, Route, Routes};
use super::{
    Core, DecisionOptions, Fam, FamRib, PeerFam, PeerId, PeerInfo, PeerState, Rib, RibConfig,
    RibError, Sync,
};
use crate::policy::PolicyConfig;
use crate::wire::{AfiSafi, Asn, Ipv4Prefix, Ipv6Prefix, RouterId, SessionContext};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Canonical numbering of the live attribute sets: id -> rank by encoding.
struct Ranks {
    rank: HashMap<AttrId, u32>,
    sorted: Vec<AttrId>,
}

impl Ranks {
    fn new(rib: &Rib) -> Self {
        let mut ids: Vec<AttrId> = Vec::new();
        fn fam<K: Fam>(f: &FamRib<K>, ids: &mut Vec<AttrId>) {
            for e in f.table.values() {
                for r in e.as_slice() {
                    ids.push(r.attr_in);
                    if r.attr != NO_ATTR {
                        ids.push(r.attr);
                    }
                }
            }
        }
        fam(&rib.v4, &mut ids);
        fam(&rib.v6, &mut ids);
        for p in rib.core.peers.values() {
            ids.extend(p.v4.out.values());
            ids.extend(p.v6.out.values());
        }
        ids.sort_unstable();
        ids.dedup();
        let a = &rib.core.attrs;
        ids.sort_by(|x, y| a.bytes(*x).cmp(a.bytes(*y)));
        let rank = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32))
            .collect();
        Ranks { rank, sorted: ids }
    }

    fn of(&self, id: AttrId) -> u32 {
        if id == NO_ATTR {
            u32::MAX
        } else {
            self.rank.get(&id).copied().unwrap_or(u32::MAX)
        }
    }
}

/// A prefix as plain numbers.
pub(super) trait PrefixRepr: Family {
    type Repr: Serialize + for<'de> Deserialize<'de> + Ord + Copy;
    fn repr(self) -> Self::Repr;
    fn unrepr(r: Self::Repr) -> Option<Self>;
    fn bytes(self, out: &mut Vec<u8>);
}

impl PrefixRepr for Ipv4Prefix {
    type Repr = (u32, u8);
    fn repr(self) -> (u32, u8) {
        (u32::from(self.addr()), self.len())
    }
    fn unrepr(r: (u32, u8)) -> Option<Self> {
        Ipv4Prefix::new(Ipv4Addr::from(r.0), r.1)
    }
    fn bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.addr().octets());
        out.push(self.len());
    }
}

impl PrefixRepr for Ipv6Prefix {
    type Repr = (u128, u8);
    fn repr(self) -> (u128, u8) {
        (u128::from(self.addr()), self.len())
    }
    fn unrepr(r: (u128, u8)) -> Option<Self> {
        Ipv6Prefix::new(Ipv6Addr::from(r.0), r.1)
    }
    fn bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.addr().octets());
        out.push(self.len());
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct RouteRepr {
    peer: u32,
    /// ADD-PATH Path Identifier (0 without ADD-PATH).
    path_id: u32,
    attr_in: u32,
    attr: u32,
    flags: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct FamRepr<P> {
    routes: Vec<(P, Vec<RouteRepr>)>,
    /// The change log from the earliest reader's position, in order.
    log: Vec<P>,
    /// The FIB's position in `log`.
    fib_pos: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct PeerFamRepr<P> {
    pub(super) active: bool,
    pub(super) sync: u8,
    pub(super) eor: bool,
    /// Position in the family's `log`.
    pub(super) pos: u64,
    pub(super) out: Vec<(P, u32)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct CtxRepr {
    four_octet_as: bool,
    add_path_receive: Vec<(u16, u8)>,
    add_path_send: Vec<(u16, u8)>,
    extended_message: bool,
    ibgp: bool,
    afi_safis: Vec<(u16, u8)>,
    extended_next_hop: Vec<(u16, u8)>,
}

fn fams(v: &[AfiSafi]) -> Vec<(u16, u8)> {
    v.iter().map(|f| (f.afi.0, f.safi.0)).collect()
}

fn unfams(v: &[(u16, u8)]) -> Vec<AfiSafi> {
    v.iter().map(|(a, s)| AfiSafi::new(*a, *s)).collect()
}

impl CtxRepr {
    fn of(c: &SessionContext) -> Self {
        CtxRepr {
            four_octet_as: c.four_octet_as,
            add_path_receive: fams(&c.add_path_receive),
            add_path_send: fams(&c.add_path_send),
            extended_message: c.extended_message,
            ibgp: c.ibgp,
            afi_safis: fams(&c.afi_safis),
            extended_next_hop: fams(&c.extended_next_hop),
        }
    }
    fn ctx(&self) -> SessionContext {
        SessionContext {
            four_octet_as: self.four_octet_as,
            add_path_receive: unfams(&self.add_path_receive),
            add_path_send: unfams(&self.add_path_send),
            extended_message: self.extended_message,
            ibgp: self.ibgp,
            afi_safis: unfams(&self.afi_safis),
            extended_next_hop: unfams(&self.extended_next_hop),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct PeerRepr {
    id: u32,
    address: IpAddr,
    remote_as: u32,
    local_as: u32,
    remote_id: Ipv4Addr,
    ibgp: bool,
    rr_client: bool,
    ctx: CtxRepr,
    local_address: IpAddr,
    next_hop_v4: Option<Ipv4Addr>,
    next_hop_v6: Option<Ipv6Addr>,
    import: Vec<String>,
    export: Vec<String>,
    pub(super) up: bool,
    pub(super) warned: [bool; 2],
    pub(super) v4: PeerFamRepr<(u32, u8)>,
    pub(super) v6: PeerFamRepr<(u128, u8)>,
}

impl PeerRepr {
    /// `p` with its families already in their serde form (`v4`, `v6`): the caller decides
    /// how attribute sets are numbered and where log positions count from.
    pub(super) fn of(
        p: &PeerState,
        v4: PeerFamRepr<(u32, u8)>,
        v6: PeerFamRepr<(u128, u8)>,
    ) -> Self {
        let i = &p.info;
        PeerRepr {
            id: i.id.0,
            address: i.address,
            remote_as: i.remote_as.0,
            local_as: i.local_as.0,
            remote_id: i.remote_id.0,
            ibgp: i.ibgp,
            rr_client: i.rr_client,
            ctx: CtxRepr::of(&i.ctx),
            local_address: i.local_address,
            next_hop_v4: i.next_hop_v4,
            next_hop_v6: i.next_hop_v6,
            import: i.import.clone(),
            export: i.export.clone(),
            up: p.up,
            warned: p.warned,
            v4,
            v6,
        }
    }

    /// The neighbour's parameters (`import` and `export` moved out).
    pub(super) fn info(&mut self) -> PeerInfo {
        PeerInfo {
            id: PeerId(self.id),
            address: self.address,
            remote_as: Asn(self.remote_as),
            local_as: Asn(self.local_as),
            remote_id: RouterId(self.remote_id),
            ibgp: self.ibgp,
            rr_client: self.rr_client,
            ctx: self.ctx.ctx(),
            local_address: self.local_address,
            next_hop_v4: self.next_hop_v4,
            next_hop_v6: self.next_hop_v6,
            import: std::mem::take(&mut self.import),
            export: std::mem::take(&mut self.export),
        }
    }
}

/// The serde form of a [`Rib`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct RibRepr {
    local_as: u32,
    router_id: Ipv4Addr,
    cluster_id: Option<Ipv4Addr>,
    decision: DecisionOptions,
    fib: bool,
    policy: PolicyConfig,
    /// Attribute sets in canonical encoding, ordered; routes refer to them by index.
    attrs: Vec<Vec<u8>>,
    v4: FamRepr<(u32, u8)>,
    v6: FamRepr<(u128, u8)>,
    peers: Vec<PeerRepr>,
}

fn sync_code(s: Sync) -> u8 {
    match s {
        Sync::Changes => 0,
        Sync::Diff => 1,
        Sync::Resend => 2,
    }
}

pub(super) fn sync_of(c: u8) -> Sync {
    match c {
        1 => Sync::Diff,
        2 => Sync::Resend,
        _ => Sync::Changes,
    }
}

fn fam_repr<K: Fam + PrefixRepr>(rib: &Rib, ranks: &Ranks) -> FamRepr<K::Repr> {
    let f = K::fam(rib);
    let mut keys: Vec<&K> = f.table.keys().collect();
    keys.sort_unstable();
    let routes = keys
        .into_iter()
        .map(|k| {
            let rs = f.table[k]
                .as_slice()
                .iter()
                .map(|r| RouteRepr {
                    peer: r.peer,
                    path_id: r.path_id,
                    attr_in: ranks.of(r.attr_in),
                    attr: ranks.of(r.attr),
                    flags: r.flags,
                })
                .collect();
            (k.repr(), rs)
        })
        .collect();
    FamRepr {
        routes,
        log: f.log.items.iter().map(|k| k.repr()).collect(),
        fib_pos: f.fib_pos.saturating_sub(f.log.base),
    }
}

/// A neighbour's family in its serde form: `pos` its change-log position as stored,
/// `number` names each attribute set of its Adj-RIB-Out (called in prefix order).
pub(super) fn peer_fam_repr<K: PrefixRepr>(
    pf: &PeerFam<K>,
    pos: u64,
    mut number: impl FnMut(AttrId) -> u32,
) -> PeerFamRepr<K::Repr> {
    let mut out: Vec<(K::Repr, AttrId)> = pf.out.iter().map(|(k, id)| (k.repr(), *id)).collect();
    out.sort_unstable_by_key(|(k, _)| *k);
    PeerFamRepr {
        active: pf.active,
        sync: sync_code(pf.sync),
        eor: pf.eor,
        pos,
        out: out.into_iter().map(|(k, id)| (k, number(id))).collect(),
    }
}

impl Rib {
    fn repr(&self) -> RibRepr {
        let ranks = Ranks::new(self);
        let cfg = &self.core.cfg;
        let peers = self
            .core
            .peers
            .values()
            .map(|p| {
                PeerRepr::of(
                    p,
                    peer_fam_repr(&p.v4, p.v4.pos.saturating_sub(self.v4.log.base), |id| {
                        ranks.of(id)
                    }),
                    peer_fam_repr(&p.v6, p.v6.pos.saturating_sub(self.v6.log.base), |id| {
                        ranks.of(id)
                    }),
                )
            })
            .collect();
        RibRepr {
            local_as: cfg.local_as.0,
            router_id: cfg.router_id.0,
            cluster_id: cfg.cluster_id,
            decision: cfg.decision,
            fib: cfg.fib,
            policy: cfg.policy.clone(),
            attrs: ranks
                .sorted
                .iter()
                .map(|id| self.core.attrs.bytes(*id).to_vec())
                .collect(),
            v4: fam_repr::<Ipv4Prefix>(self, &ranks),
            v6: fam_repr::<Ipv6Prefix>(self, &ranks),
            peers,
        }
    }

    fn from_repr(r: RibRepr) -> Result<Self, RibError> {
        let bad = |s: &str| RibError::Snapshot(s.to_string());
        let cfg = RibConfig {
            local_as: Asn(r.local_as),
            router_id: RouterId(r.router_id),
            cluster_id: r.cluster_id,
            decision: r.decision,
            fib: r.fib,
            policy: r.policy,
        };
        let mut rib = Rib::new(cfg)?;
        // Intern in order: ids are 0..n (one reference each, dropped at the end).
        let mut store = AttrStore::default();
        let mut ids = Vec::with_capacity(r.attrs.len());
        for b in &r.attrs {
            ids.push(store.intern_encoded(b));
        }
        let id_of = |rank: u32, store: &mut AttrStore| -> Result<AttrId, RibError> {
            if rank == u32::MAX {
                return Ok(NO_ATTR);
            }
            let id = *ids
                .get(rank as usize)
                .ok_or_else(|| bad("attribute index out of range"))?;
            store.acquire(id);
            Ok(id)
        };
        rib.core.attrs = store;
        for mut p in r.peers {
            let info = p.info();
            let (import, export) = rib.chains(&info)?;
            fn pf<K: PrefixRepr>(
                r: PeerFamRepr<K::Repr>,
                store: &mut AttrStore,
                id_of: &dyn Fn(u32, &mut AttrStore) -> Result<AttrId, RibError>,
            ) -> Result<PeerFam<K>, RibError> {
                let mut out = ShardedMap::default();
                for (k, rank) in r.out {
                    let k = K::unrepr(k).ok_or_else(|| RibError::Snapshot("bad prefix".into()))?;
                    out.insert(k, id_of(rank, store)?);
                }
                Ok(PeerFam {
                    active: r.active,
                    out,
                    pos: r.pos,
                    sync: sync_of(r.sync),
                    eor: r.eor,
                })
            }
            let v4 = pf::<Ipv4Prefix>(p.v4, &mut rib.core.attrs, &id_of)?;
            let v6 = pf::<Ipv6Prefix>(p.v6, &mut rib.core.attrs, &id_of)?;
            rib.core.peers.insert(
                p.id,
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
        }
        fn fam<K: Fam + PrefixRepr>(
            r: FamRepr<K::Repr>,
            f: &mut FamRib<K>,
            core: &mut Core,
            id_of: &dyn Fn(u32, &mut AttrStore) -> Result<AttrId, RibError>,
        ) -> Result<(), RibError> {
            let bad = || RibError::Snapshot("bad prefix".into());
            f.table.reserve(r.routes.len());
            for (k, rs) in r.routes {
                let k = K::unrepr(k).ok_or_else(bad)?;
                let mut v = Vec::with_capacity(rs.len());
                for x in rs {
                    v.push(Route {
                        peer: x.peer,
                        path_id: x.path_id,
                        attr_in: id_of(x.attr_in, &mut core.attrs)?,
                        attr: id_of(x.attr, &mut core.attrs)?,
                        flags: x.flags,
                    });
                }
                v.sort_by_key(Route::key);
                let e = match v.len() {
                    0 => continue,
                    1 => Routes::One(v[0]),
                    _ => Routes::Many(Box::new(v)),
                };
                let best = e.best().is_some();
                let replaced = f.table.insert(k, e);
                f.best = f.best + usize::from(best)
                    - usize::from(replaced.is_some_and(|o| o.best().is_some()));
            }
            for k in r.log {
                let k = K::unrepr(k).ok_or_else(bad)?;
                // The route the change left is the prefix's Loc-RIB route now (for its latest
                // entry, the only one read).
                let best = f
                    .table
                    .get(&k)
                    .and_then(|e| e.best())
                    .map(|r| (r.peer, r.attr));
                f.log.push(k, best);
            }
            f.fib_pos = r.fib_pos;
            Ok(())
        }
        fam::<Ipv4Prefix>(r.v4, &mut rib.v4, &mut rib.core, &id_of)?;
        fam::<Ipv6Prefix>(r.v6, &mut rib.v6, &mut rib.core, &id_of)?;
        for id in ids {
            rib.core.attrs.release(id);
        }
        rib.update_logging();
        Ok(rib)
    }

    /// A SHA-256 digest of the replicated RIB state in a canonical encoding: configuration,
    /// attribute sets, every route of every table (Adj-RIB-In before and after import
    /// policy, Loc-RIB flag, stale flag), each neighbour's session parameters, Adj-RIB-Out
    /// as sent and pending prefixes, and the pending FIB prefixes. Equal for two RIBs that
    /// will produce the same outputs from the same inputs.
    pub fn digest(&self) -> [u8; 32] {
        let r = self.repr();
        let mut h = Sha256::new();
        let mut buf = Vec::with_capacity(1 << 16);
        let flush = |buf: &mut Vec<u8>, h: &mut Sha256| {
            h.update(&buf[..]);
            buf.clear();
        };
        buf.extend_from_slice(b"understudy-rib-v2");
        let head = serde_json::to_vec(&(
            r.local_as,
            r.router_id,
            r.cluster_id,
            r.decision,
            r.fib,
            &r.policy,
        ))
        .unwrap_or_default();
        put(&mut buf, &head);
        buf.extend_from_slice(&(r.attrs.len() as u64).to_be_bytes());
        for a in &r.attrs {
            put(&mut buf, a);
            if buf.len() > 1 << 15 {
                flush(&mut buf, &mut h);
            }
        }
        fn fam<K: PrefixRepr>(
            f: &FamRepr<K::Repr>,
            peers: &[(u32, Vec<K::Repr>)],
            with_fib: bool,
            buf: &mut Vec<u8>,
            h: &mut Sha256,
        ) {
            buf.extend_from_slice(&(f.routes.len() as u64).to_be_bytes());
            for (k, rs) in &f.routes {
                if let Some(k) = K::unrepr(*k) {
                    k.bytes(buf);
                }
                buf.push(rs.len() as u8);
                for r in rs {
                    buf.extend_from_slice(&r.peer.to_be_bytes());
                    buf.extend_from_slice(&r.path_id.to_be_bytes());
                    buf.extend_from_slice(&r.attr_in.to_be_bytes());
                    buf.extend_from_slice(&r.attr.to_be_bytes());
                    buf.push(r.flags);
                }
                if buf.len() > 1 << 15 {
                    h.update(&buf[..]);
                    buf.clear();
                }
            }
            // Pending prefixes per reader (FIB = u32::MAX), as sorted sets.
            let mut readers: Vec<(u32, Vec<K::Repr>)> = peers.to_vec();
            if with_fib {
                let mut fib: Vec<K::Repr> = f.log.get(f.fib_pos as usize..).unwrap_or(&[]).to_vec();
                fib.sort_unstable();
                fib.dedup();
                readers.push((u32::MAX, fib));
            }
            for (id, keys) in readers {
                buf.extend_from_slice(&id.to_be_bytes());
                buf.extend_from_slice(&(keys.len() as u64).to_be_bytes());
                for k in keys {
                    if let Some(k) = K::unrepr(k) {
                        k.bytes(buf);
                    }
                }
            }
            h.update(&buf[..]);
            buf.clear();
        }
        fn pending<P: Ord + Copy>(log: &[P], pos: u64) -> Vec<P> {
            let mut v: Vec<P> = log.get(pos as usize..).unwrap_or(&[]).to_vec();
            v.sort_unstable();
            v.dedup();
            v
        }
        let p4: Vec<(u32, Vec<(u32, u8)>)> = r
            .peers
            .iter()
            .filter(|p| p.v4.active)
            .map(|p| (p.id, pending(&r.v4.log, p.v4.pos)))
            .collect();
        let p6: Vec<(u32, Vec<(u128, u8)>)> = r
            .peers
            .iter()
            .filter(|p| p.v6.active)
            .map(|p| (p.id, pending(&r.v6.log, p.v6.pos)))
            .collect();
        flush(&mut buf, &mut h);
        fam::<Ipv4Prefix>(&r.v4, &p4, r.fib, &mut buf, &mut h);
        fam::<Ipv6Prefix>(&r.v6, &p6, r.fib, &mut buf, &mut h);
        for p in &r.peers {
            let mut q = p.clone();
            // Positions are history, not state: the pending sets above carry them.
            q.v4.pos = 0;
            q.v6.pos = 0;
            let b = serde_json::to_vec(&q).unwrap_or_default();
            put(&mut buf, &b);
            flush(&mut buf, &mut h);
        }
        h.finalize().into()
    }
}

fn put(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u64).to_be_bytes());
    buf.extend_from_slice(b);
}

impl Serialize for Rib {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.repr().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Rib {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RibRepr::deserialize(d)?;
        Rib::from_repr(r).map_err(serde::de::Error::custom)
    }
}
