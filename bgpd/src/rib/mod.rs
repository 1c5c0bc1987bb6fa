//! The RIBs of RFC 4271 section 3.2: Adj-RIB-In per neighbour (kept before import policy, so
//! a policy change applies without a session reset), Loc-RIB chosen by the decision process
//! of section 9.1, and Adj-RIB-Out per neighbour after export policy, with the UPDATEs that
//! bring a neighbour from what it was sent to what it should have.
//!
//! Sans-IO and deterministic: no clock, no I/O; every output is ordered by prefix, never by
//! hash order or interning history, so two instances fed the same calls produce the same
//! bytes, and a [`Rib`] restored from its serde form produces what the original would have.
//!
//! Memory: path attribute sets are interned (see `attrs`); a route costs a few octets of
//! table entry plus a 4-octet reference to its attribute set.
//!
//! Call pattern (the speaker): [`Rib::peer_up`] when a session reaches Established,
//! [`Rib::apply_update`] for every UPDATE, [`Rib::end_of_rib`] for End-of-RIB markers,
//! [`Rib::peer_down`] / [`Rib::peer_down_graceful`] when it goes down; after inputs,
//! [`Rib::poll_updates`] per established neighbour (when its MinRouteAdvertisementInterval
//! allows), [`Rib::poll_fib`] (or [`Rib::poll_fib_into`], which leaves the next hop to be
//! read when the FIB writer takes the change), and [`Rib::poll_events`].

mod as_sent;
mod attrs;
pub mod decision;
mod export;
mod fib_pending;
mod fib_routes;
mod hash;
mod ingest;
mod loc_rib_image;
mod peer_part;
mod sharded;
mod state;
mod table;

pub use decision::{Candidate, DecisionOptions, DecisionStep};
pub use fib_pending::{FibPending, COALESCE_FROM};
pub use loc_rib_image::LocRibImage;

use crate::policy::{Chain, Policies, PolicyConfig, PolicyError};
use crate::wire::{
    AfiSafi, Asn, Ipv4Prefix, Ipv6Prefix, PathAttributes, Prefix, RouterId, SessionContext,
};
use attrs::{AttrId, AttrStore};
use sharded::ShardedMap;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use table::{ChangeLog, Family, Table};

/// A neighbour, as the speaker numbers it (stable for the neighbour's lifetime in the
/// configuration; `u32::MAX` is reserved for locally originated routes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct PeerId(pub u32);

/// The peer index of locally originated routes.
pub(crate) const LOCAL_PEER: u32 = u32::MAX;

/// What the RIB needs to know about an established neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The speaker's index for the neighbour.
    pub id: PeerId,
    /// The neighbour's address (the session's remote address; decision step 9.1.2.2 g).
    pub address: IpAddr,
    /// The neighbour's AS.
    pub remote_as: Asn,
    /// Our AS on this session (what we prepend towards an external neighbour).
    pub local_as: Asn,
    /// The neighbour's BGP Identifier from its OPEN.
    pub remote_id: RouterId,
    /// Internal neighbour (same AS).
    pub ibgp: bool,
    /// A route reflector client (RFC 4456); only meaningful for internal neighbours.
    pub rr_client: bool,
    /// The negotiated session parameters (AS width, ADD-PATH, message size, families).
    pub ctx: SessionContext,
    /// Our address on the session: the next hop we announce (next-hop-self) for its family.
    pub local_address: IpAddr,
    /// Next hop for IPv4 routes when the session runs over IPv6.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Next hop for IPv6 routes when the session runs over IPv4.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Import policies, by name, evaluated in order.
    pub import: Vec<String>,
    /// Export policies, by name, evaluated in order.
    pub export: Vec<String>,
}

impl PeerInfo {
    /// Our IPv4 next hop on this session.
    pub fn self_v4(&self) -> Option<Ipv4Addr> {
        self.next_hop_v4.or(match self.local_address {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        })
    }

    /// Our global IPv6 next hop on this session: `next_hop_v6`, else the local address
    /// unless it is link-local (RFC 2545 section 3: the first next hop is "the global IPv6
    /// address of the next hop").
    pub fn self_v6(&self) -> Option<Ipv6Addr> {
        self.next_hop_v6.or(match self.local_address {
            IpAddr::V6(a) if !a.is_unicast_link_local() => Some(a),
            _ => None,
        })
    }

    /// Our link-local IPv6 address, when the session runs over one: announced as the
    /// second next hop, beside the global one (RFC 2545 section 3: a next hop of length 32
    /// carries "the global IPv6 address ... followed by the link-local IPv6 address").
    pub fn link_local_v6(&self) -> Option<Ipv6Addr> {
        match self.local_address {
            IpAddr::V6(a) if a.is_unicast_link_local() => Some(a),
            _ => None,
        }
    }
}

/// The RIB's own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS (routes whose AS path holds it are rejected, RFC 4271 section 9.1.2).
    pub local_as: Asn,
    /// Our BGP Identifier (routes with it as ORIGINATOR_ID are rejected, RFC 4456 section 8).
    pub router_id: RouterId,
    /// Our route reflection CLUSTER_ID; the router id when `None` (RFC 4456 section 7).
    pub cluster_id: Option<Ipv4Addr>,
    /// Decision process options.
    pub decision: DecisionOptions,
    /// Whether [`Rib::poll_fib`] is used (when false no FIB changes are kept).
    pub fib: bool,
    /// The policies.
    pub policy: PolicyConfig,
}

impl RibConfig {
    /// A configuration with defaults: cluster id = router id, MED compared within a
    /// neighbouring AS only, FIB changes kept, no policy.
    pub fn new(local_as: Asn, router_id: RouterId) -> Self {
        RibConfig {
            local_as,
            router_id,
            cluster_id: None,
            decision: DecisionOptions::default(),
            fib: true,
            policy: PolicyConfig::default(),
        }
    }

    /// The CLUSTER_ID in force.
    pub fn cluster_id(&self) -> Ipv4Addr {
        self.cluster_id.unwrap_or(self.router_id.0)
    }
}

/// RIB errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// The policy configuration is invalid, or a neighbour names an unknown policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// No such neighbour (never brought up, or removed).
    #[error("unknown neighbour {0:?}")]
    UnknownPeer(PeerId),
    /// The neighbour's session is not established.
    #[error("neighbour {0:?} is not established")]
    PeerNotUp(PeerId),
    /// The attributes cannot be encoded (e.g. over 65535 octets).
    #[error("attributes cannot be encoded: {0}")]
    Encode(#[from] crate::wire::EncodeError),
    /// `PeerId(u32::MAX)` is reserved.
    #[error("peer id u32::MAX is reserved for local routes")]
    ReservedPeerId,
    /// A snapshot does not decode.
    #[error("bad RIB snapshot: {0}")]
    Snapshot(String),
}

/// Import or export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Routes received from the neighbour.
    Import,
    /// Routes sent to the neighbour.
    Export,
}

/// Something the operator should see (the speaker forwards these to its event stream; they
/// are also logged with `tracing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RibEvent {
    /// RFC 8212: an external neighbour without import (or export) policy: nothing is
    /// accepted from (or sent to) it. Reported once per session.
    NoPolicy {
        /// The neighbour.
        peer: PeerId,
        /// Its address.
        address: IpAddr,
        /// Which policy is missing.
        direction: Direction,
    },
    /// A neighbour's End-of-RIB-Route-Refresh did not come in time: the routes its
    /// Beginning-of-RIB-Route-Refresh marked stale and it did not announce again were
    /// purged (RFC 7313 section 4).
    RefreshTimedOut {
        /// The neighbour.
        peer: PeerId,
        /// The family being refreshed.
        afi_safi: AfiSafi,
        /// Routes removed.
        purged: usize,
    },
    /// A route could not be advertised to a neighbour.
    NotAdvertised {
        /// The neighbour.
        peer: PeerId,
        /// The prefix.
        prefix: Prefix,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for RibEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RibEvent::NoPolicy {
                peer,
                address,
                direction,
            } => {
                let (what, how) = match direction {
                    Direction::Import => ("import", "routes received from it are rejected"),
                    Direction::Export => ("export", "no route is sent to it"),
                };
                write!(
                    f,
                    "RFC 8212: external neighbour {address} (peer {}) has no {what} policy: {how}",
                    peer.0
                )
            }
            RibEvent::RefreshTimedOut {
                peer,
                afi_safi,
                purged,
            } => write!(
                f,
                "RFC 7313: no End-of-RIB-Route-Refresh for {afi_safi} from peer {} in time: \
                 {purged} stale routes purged",
                peer.0
            ),
            RibEvent::NotAdvertised {
                peer,
                prefix,
                reason,
            } => write!(f, "{prefix} not advertised to peer {}: {reason}", peer.0),
        }
    }
}

/// A Loc-RIB change for the kernel FIB: the best route of a prefix and its next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FibChange {
    /// Install or replace the route.
    Install {
        /// The prefix.
        prefix: Prefix,
        /// The next hop (NEXT_HOP, or the MP_REACH_NLRI global next hop).
        next_hop: IpAddr,
    },
    /// Remove the route (no best route, or the best one is locally originated). May be
    /// reported for a prefix that was never installed.
    Remove {
        /// The prefix.
        prefix: Prefix,
    },
}

/// One route as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The prefix.
    pub prefix: Prefix,
    /// The neighbour it came from; `None` for locally originated routes.
    pub peer: Option<PeerId>,
    /// The ADD-PATH Path Identifier the neighbour gave the route (RFC 7911); 0 when ADD-PATH
    /// receive is not negotiated for its family, and for local routes.
    pub path_id: u32,
    /// The path attributes (Adj-RIB-In: as received; Loc-RIB: after import policy).
    pub attributes: PathAttributes,
    /// Accepted by import policy and loop checks (always true in the Loc-RIB).
    pub accepted: bool,
    /// Stale after a graceful restart of the neighbour (RFC 4724), or during its enhanced
    /// route refresh until announced again (RFC 7313).
    pub stale: bool,
    /// The Loc-RIB best route of its prefix.
    pub best: bool,
}

/// Route counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RibStats {
    /// Prefixes with at least one route.
    pub prefixes: usize,
    /// Routes (one per prefix and neighbour, or per path with ADD-PATH; local routes
    /// included).
    pub routes: usize,
    /// Prefixes with a best route.
    pub loc_rib: usize,
    /// Distinct interned attribute sets (Adj-RIB-In, Loc-RIB and Adj-RIB-Out).
    pub attribute_sets: usize,
}

/// How much of the Loc-RIB a neighbour must be re-evaluated against at the next poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Sync {
    /// Only the changes logged since its position.
    #[default]
    Changes,
    /// Every prefix, sending only what differs from the Adj-RIB-Out (policy change).
    Diff,
    /// Every prefix, sending every route again (new session, route refresh).
    Resend,
}

/// A neighbour's state for one family.
#[derive(Debug, Clone)]
pub(crate) struct PeerFam<K> {
    /// The family was negotiated and the session is established.
    pub active: bool,
    /// Adj-RIB-Out as sent: prefix -> attribute set.
    pub out: ShardedMap<K, AttrId>,
    /// Position in the family's change log.
    pub pos: u64,
    pub sync: Sync,
    /// End-of-RIB to send after the next poll (initial table sent).
    pub eor: bool,
}

impl<K> Default for PeerFam<K> {
    fn default() -> Self {
        PeerFam {
            active: false,
            out: ShardedMap::default(),
            pos: 0,
            sync: Sync::Changes,
            eor: false,
        }
    }
}

/// A neighbour.
#[derive(Debug, Clone)]
pub(crate) struct PeerState {
    pub info: PeerInfo,
    pub up: bool,
    pub import: Chain,
    pub export: Chain,
    pub v4: PeerFam<Ipv4Prefix>,
    pub v6: PeerFam<Ipv6Prefix>,
    pub warned: [bool; 2],
}

/// One family's table, change log and FIB position.
#[derive(Debug, Clone)]
pub(crate) struct FamRib<K> {
    pub table: Table<K>,
    pub log: ChangeLog<K>,
    pub fib_pos: u64,
    /// Someone reads the log (FIB enabled, or an established neighbour with the family).
    pub logging: bool,
    /// Prefixes of `table` with a Loc-RIB route (kept by `set_route` and `remove_route`, so
    /// that counting the Loc-RIB does not walk a full table).
    pub best: usize,
}

impl<K: Copy> Default for FamRib<K> {
    fn default() -> Self {
        FamRib {
            table: Table::default(),
            log: ChangeLog::default(),
            fib_pos: 0,
            logging: false,
            best: 0,
        }
    }
}

/// Everything but the tables.
#[derive(Debug)]
pub(crate) struct Core {
    pub cfg: RibConfig,
    pub policies: Policies,
    pub attrs: AttrStore,
    pub peers: BTreeMap<u32, PeerState>,
    pub events: Vec<RibEvent>,
    /// What each neighbour holds where it differs from its Adj-RIB-Out (a standby).
    pub as_sent: as_sent::AsSent,
}

/// The RIBs of the speaker. See the module documentation.
#[derive(Debug)]
pub struct Rib {
    pub(crate) core: Core,
    pub(crate) v4: FamRib<Ipv4Prefix>,
    pub(crate) v6: FamRib<Ipv6Prefix>,
}

/// Per-family access to a [`Rib`].
pub(crate) trait Fam: Family {
    fn parts(rib: &mut Rib) -> (&mut FamRib<Self>, &mut Core);
    fn fam(rib: &Rib) -> &FamRib<Self>;
    fn pf(p: &PeerState) -> &PeerFam<Self>;
    fn pf_mut(p: &mut PeerState) -> &mut PeerFam<Self>;
}

impl Fam for Ipv4Prefix {
    fn parts(rib: &mut Rib) -> (&mut FamRib<Self>, &mut Core) {
        (&mut rib.v4, &mut rib.core)
    }
    fn fam(rib: &Rib) -> &FamRib<Self> {
        &rib.v4
    }
    fn pf(p: &PeerState) -> &PeerFam<Self> {
        &p.v4
    }
    fn pf_mut(p: &mut PeerState) -> &mut PeerFam<Self> {
        &mut p.v4
    }
}

impl Fam for Ipv6Prefix {
    fn parts(rib: &mut Rib) -> (&mut FamRib<Self>, &mut Core) {
        (&mut rib.v6, &mut rib.core)
    }
    fn fam(rib: &Rib) -> &FamRib<Self> {
        &rib.v6
    }
    fn pf(p: &PeerState) -> &PeerFam<Self> {
        &p.v6
    }
    fn pf_mut(p: &mut PeerState) -> &mut PeerFam<Self> {
        &mut p.v6
    }
}

impl Rib {
    /// An empty RIB; fails when the policy configuration does not compile.
    pub fn new(cfg: RibConfig) -> Result<Self, RibError> {
        let policies = cfg.policy.compile()?;
        let mut rib = Rib {
            core: Core {
                cfg,
                policies,
                attrs: AttrStore::default(),
                peers: BTreeMap::new(),
                events: Vec::new(),
                as_sent: Default::default(),
            },
            v4: FamRib::default(),
            v6: FamRib::default(),
        };
        rib.update_logging();
        Ok(rib)
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.core.cfg
    }

    /// Prefixes with a Loc-RIB route, both families; the same as `stats().loc_rib` without
    /// walking the tables (O(1): the admin API's `info` asks for it while a full table comes
    /// in).
    pub fn loc_rib_len(&self) -> usize {
        self.v4.best + self.v6.best
    }

    /// Prefixes with at least one route, both families; `stats().prefixes` in O(1).
    pub fn prefix_len(&self) -> usize {
        self.v4.table.len() + self.v6.table.len()
    }

    /// Route counts (walks every table).
    pub fn stats(&self) -> RibStats {
        let mut s = RibStats {
            attribute_sets: self.core.attrs.len(),
            ..RibStats::default()
        };
        fn count<K>(f: &FamRib<K>, s: &mut RibStats) {
            s.prefixes += f.table.len();
            for r in f.table.values() {
                s.routes += r.as_slice().len();
                if r.best().is_some() {
                    s.loc_rib += 1;
                }
            }
        }
        count(&self.v4, &mut s);
        count(&self.v6, &mut s);
        s
    }

    /// Events since the last call (RFC 8212 notices, routes not advertised).
    pub fn poll_events(&mut self) -> Vec<RibEvent> {
        std::mem::take(&mut self.core.events)
    }

    /// Recomputes which change logs have readers.
    pub(crate) fn update_logging(&mut self) {
        let fib = self.core.cfg.fib;
        let v4 = fib || self.core.peers.values().any(|p| p.v4.active);
        let v6 = fib || self.core.peers.values().any(|p| p.v6.active);
        self.v4.logging = v4;
        self.v6.logging = v6;
        self.compact_logs();
    }

    /// Drops change log items every reader has consumed.
    pub(crate) fn compact_logs(&mut self) {
        fn one<K: Fam>(rib: &mut Rib) {
            let (f, core) = K::parts(rib);
            let mut min = if core.cfg.fib { f.fib_pos } else { f.log.end() };
            for p in core.peers.values() {
                let pf = K::pf(p);
                if pf.active {
                    min = min.min(pf.pos);
                }
            }
            f.log.compact(min);
        }
        one::<Ipv4Prefix>(self);
        one::<Ipv6Prefix>(self);
    }

    /// Loc-RIB changes for the kernel FIB since the last call, ordered by prefix (IPv4 first),
    /// one per prefix.
    pub fn poll_fib(&mut self) -> Vec<FibChange> {
        let mut out = Vec::new();
        if !self.core.cfg.fib {
            return out;
        }
        // The change of each prefix is the one the FIB writer gets ([`Rib::fib_change`]):
        // the log's latest entry of a prefix is its Loc-RIB route now.
        fn one<K: Fam>(rib: &mut Rib, out: &mut Vec<FibChange>) {
            let (f, _) = K::parts(rib);
            let changed: Vec<Prefix> = f
                .log
                .latest_since(f.fib_pos)
                .into_iter()
                .map(|(k, _)| k.to_prefix())
                .collect();
            f.fib_pos = f.log.end();
            out.extend(changed.into_iter().map(|p| rib.fib_change(p)));
        }
        one::<Ipv4Prefix>(self, &mut out);
        one::<Ipv6Prefix>(self, &mut out);
        self.compact_logs();
        out
    }

    /// The Loc-RIB, ordered by prefix (IPv4 first).
    pub fn loc_rib(&self) -> Vec<RouteEntry> {
        let mut v = Vec::new();
        self.collect::<Ipv4Prefix>(&mut v, |r| r.is_best(), false);
        self.collect::<Ipv6Prefix>(&mut v, |r| r.is_best(), false);
        v
    }

    /// The Loc-RIB route of one prefix.
    pub fn best(&self, prefix: Prefix) -> Option<RouteEntry> {
        fn one<K: Fam>(rib: &Rib, k: K) -> Option<RouteEntry> {
            let r = *K::fam(rib).table.get(&k)?.best()?;
            Some(rib.entry(k.to_prefix(), &r, false))
        }
        match prefix {
            Prefix::V4(p) => one(self, p),
            Prefix::V6(p) => one(self, p),
        }
    }

    /// Whether `prefix` is locally originated (a `[[network]]` or `route add`), best or not.
    pub fn is_originated(&self, prefix: Prefix) -> bool {
        fn one<K: Fam>(rib: &Rib, k: K) -> bool {
            K::fam(rib)
                .table
                .get(&k)
                .is_some_and(|e| !e.of_peer(LOCAL_PEER).is_empty())
        }
        match prefix {
            Prefix::V4(p) => one(self, p),
            Prefix::V6(p) => one(self, p),
        }
    }

    /// A neighbour's Adj-RIB-In (as received, before import policy), ordered by prefix;
    /// `accepted` tells whether import policy and the loop checks let each route in.
    pub fn adj_rib_in(&self, peer: PeerId) -> Vec<RouteEntry> {
        let mut v = Vec::new();
        self.collect::<Ipv4Prefix>(&mut v, |r| r.peer == peer.0, true);
        self.collect::<Ipv6Prefix>(&mut v, |r| r.peer == peer.0, true);
        v
    }

    /// A neighbour's Adj-RIB-Out as sent, ordered by prefix: (prefix, attributes).
    pub fn adj_rib_out(&self, peer: PeerId) -> Vec<(Prefix, PathAttributes)> {
        let Some(p) = self.core.peers.get(&peer.0) else {
            return Vec::new();
        };
        fn one<K: Fam>(rib: &Rib, pf: &PeerFam<K>, v: &mut Vec<(Prefix, PathAttributes)>) {
            let mut keys: Vec<(&K, &AttrId)> = pf.out.iter().collect();
            keys.sort_unstable();
            v.extend(
                keys.into_iter()
                    .map(|(k, id)| (k.to_prefix(), rib.core.attrs.decode(*id))),
            );
        }
        let mut v = Vec::new();
        one(self, &p.v4, &mut v);
        one(self, &p.v6, &mut v);
        v
    }

    fn collect<K: Fam>(
        &self,
        v: &mut Vec<RouteEntry>,
        f: impl Fn(&table::Route) -> bool,
        pre: bool,
    ) {
        let mut keys: Vec<&K> = K::fam(self).table.keys().collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(e) = K::fam(self).table.get(k) {
                for r in e.as_slice().iter().filter(|r| f(r)) {
                    v.push(self.entry(k.to_prefix(), r, pre));
                }
            }
        }
    }

    fn entry(&self, prefix: Prefix, r: &table::Route, pre: bool) -> RouteEntry {
        let id = if pre || !r.eligible() {
            r.attr_in
        } else {
            r.attr
        };
        RouteEntry {
            prefix,
            peer: (r.peer != LOCAL_PEER).then_some(PeerId(r.peer)),
            path_id: r.path_id,
            attributes: self.core.attrs.decode(id),
            accepted: r.eligible(),
            stale: r.flags & (table::STALE | table::REFRESH_STALE) != 0,
            best: r.is_best(),
        }
    }

    /// The neighbours known to the RIB (established, or stale after a graceful restart).
    pub fn peers(&self) -> Vec<(PeerId, bool)> {
        self.core
            .peers
            .iter()
            .map(|(id, p)| (PeerId(*id), p.up))
            .collect()
    }

    /// The policies in force.
    pub fn policy(&self) -> &PolicyConfig {
        self.core.policies.config()
    }

    pub(crate) fn chains(&self, info: &PeerInfo) -> Result<(Chain, Chain), RibError> {
        Ok((
            self.core.policies.chain(&info.import)?,
            self.core.policies.chain(&info.export)?,
        ))
    }
}
