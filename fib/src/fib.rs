//! The FIB writer: desired routes in, netlink operations out, typed results back.

use std::collections::{HashMap, HashSet};

use rustc_hash::FxBuildHasher;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netlink_packet_core::NLM_F_DUMP_INTR;
use netlink_packet_route::route::RouteType;

use crate::codec::{
    kernel_route_fast, messages, parse_route, paths_of, push_dump, push_fib_match, push_route,
    table_of, RTM_NEWROUTE,
};
use crate::config::FibConfig;
use crate::intern::Interner;
use crate::netns::in_netns;
use crate::nexthop::{self, nexthop_objects_unsupported, Registry, RTM_NEWNEXTHOP};
use crate::outcome::{FibError, Outcome, RouteError, RouteResult};
use crate::pipeline::{Done, Pipeline, DEFAULT_BATCH, DEFAULT_WINDOW};
use crate::plan::{plan, plan_route, Action, Op};
use crate::prefix::Prefix;
use crate::route::{normalise_paths, KernelRoute, NextHop, Path, RouteKey, RouteUpdate};
use crate::socket::NlSocket;
use crate::table::RouteTable;
use crate::watch::RouteWatch;

/// What one queued operation is for.
#[derive(Debug)]
enum Tag {
    /// A route add/replace/delete.
    Route {
        /// Index into the results being built.
        index: usize,
        key: RouteKey,
        /// For a delete: the paths it removes (restored in our view if it fails).
        prior: Option<Arc<[Path]>>,
        is_delete: bool,
        on_success: Outcome,
        /// The nexthop object a replace refers to.
        nhid: Option<u32>,
    },
    /// Creation of a nexthop object.
    NewNexthop { id: u32 },
    /// Deletion of a nexthop object, and with it of these routes (result index,
    /// route, its paths).
    DelNexthop { id: u32, routes: ObjectRoutes },
}

/// Routes that go with a nexthop object being deleted: result index, route, the
/// paths it had.
type ObjectRoutes = Vec<(usize, RouteKey, Option<Arc<[Path]>>)>;

/// How many of `prefixes` are IPv4 and IPv6.
fn families(prefixes: impl Iterator<Item = Prefix>) -> (usize, usize) {
    prefixes.fold((0, 0), |(v4, v6), p| {
        if p.is_ipv4() {
            (v4 + 1, v6)
        } else {
            (v4, v6 + 1)
        }
    })
}

/// Counts from a full reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Routes added or changed (RTM_NEWROUTE with NLM_F_REPLACE).
    pub replaced: usize,
    /// Routes deleted.
    pub deleted: usize,
    /// Routes that already matched and were not touched.
    pub kept: usize,
    /// One result per desired prefix and per deleted route, sorted by prefix.
    pub results: Vec<RouteResult>,
}

/// The kernel FIB of one network namespace, table and protocol.
///
/// Bound to the network namespace of the thread that opened it
/// ([`Fib::open`]) or to a named one ([`Fib::open_in_netns`]); usable from any
/// thread afterwards. Not thread-safe itself (`&mut self`): the daemon owns it on
/// one task or thread.
///
/// Start-up and takeover ([`Fib::adopt`], then [`Fib::apply`] as the speaker learns
/// routes, then [`Fib::converged`]): routes already in the kernel that match are
/// never touched, routes that differ are replaced in place, and routes nobody wants
/// are deleted only at convergence. Nothing is ever flushed.
#[derive(Debug)]
pub struct Fib {
    config: FibConfig,
    tx: NlSocket,
    pipeline: Pipeline<Tag>,
    query: NlSocket,
    query_seq: u32,
    rx: Vec<u8>,
    watch: RouteWatch,
    /// Per route: what the speaker core wants (prefix to BGP next hops), what we believe
    /// the kernel holds of ours (our protocol, our table), and the nexthop object it uses.
    routes: RouteTable,
    /// Resolution of next hops without interface: `None` when unresolvable.
    resolved: HashMap<IpAddr, Option<Arc<[Path]>>, FxBuildHasher>,
    /// Shared next-hop sets and path sets (a full table has few distinct ones).
    hop_sets: Interner<NextHop>,
    path_sets: Interner<Path>,
    /// Our kernel nexthop objects (with `nexthop_objects`).
    nexthops: Registry,
    /// Nexthop objects whose creation the kernel refused in the current call, with
    /// its errno: the routes that refer to them report that errno (the route's own
    /// would only say that the object does not exist).
    nh_failed: HashMap<u32, i32, FxBuildHasher>,
    adopting: bool,
    adopt_deadline: Option<Instant>,
}

impl Fib {
    /// Opens the writer in the calling thread's network namespace: a socket for
    /// requests, one for dumps and lookups, and a subscription to route changes.
    /// Does not read the kernel: call [`Fib::adopt`] (or [`Fib::reconcile`]) next.
    ///
    ///
    /// With `nexthop_objects` (the default) and `install`, probes the kernel once: a
    /// dump of its nexthop objects (which also learns the ids of other owners). A
    /// kernel that refuses it ([`crate::nexthop_objects_unsupported`]: older than
    /// Linux 5.3, or a sandbox without the message type) makes the writer install
    /// plain routes instead, with one warning logged; [`Fib::config`] then says so.
    ///
    /// Errors: [`FibError::Io`] when a netlink socket cannot be opened;
    /// [`FibError::Query`] when the probe fails for another reason.
    pub fn open(config: FibConfig) -> Result<Self, FibError> {
        let mut fib = Self::open_sockets(config)?;
        if fib.config.nexthop_objects && fib.config.install {
            match fib.load_nexthops() {
                Ok(()) => fib.nexthops.index(),
                Err(FibError::Query { errno }) if nexthop_objects_unsupported(errno) => {
                    tracing::warn!(
                        errno,
                        "kernel refuses nexthop objects (RTM_GETNEXTHOP: {}): installing plain routes (fib.nexthop_objects = false)",
                        std::io::Error::from_raw_os_error(errno)
                    );
                    fib.config.nexthop_objects = false;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(fib)
    }

    fn open_sockets(config: FibConfig) -> Result<Self, FibError> {
        Ok(Self {
            config,
            tx: NlSocket::open()?,
            pipeline: Pipeline::new(DEFAULT_BATCH, DEFAULT_WINDOW),
            query: NlSocket::open()?,
            query_seq: 1,
            rx: Vec::with_capacity(1 << 20),
            watch: RouteWatch::open(config.protocol)?,
            routes: RouteTable::new(config.metric),
            resolved: HashMap::default(),
            hop_sets: Interner::default(),
            path_sets: Interner::default(),
            nexthops: Registry::default(),
            nh_failed: HashMap::default(),
            adopting: false,
            adopt_deadline: None,
        })
    }

    /// Opens the writer in the network namespace at `netns` (e.g. `/run/netns/NAME`),
    /// whatever the calling thread's namespace.
    ///
    /// Errors: [`FibError::Netns`], or as [`Fib::open`].
    pub fn open_in_netns(netns: &FsPath, config: FibConfig) -> Result<Self, FibError> {
        in_netns(netns, || Fib::open(config))?
    }

    /// Sets the requests per datagram and the unacknowledged datagrams in flight
    /// (defaults 64 and 32). Takes effect for the next operations.
    pub fn set_batching(&mut self, requests_per_datagram: usize, datagrams_in_flight: usize) {
        self.pipeline = Pipeline::new(requests_per_datagram, datagrams_in_flight);
    }

    /// The configuration.
    pub fn config(&self) -> &FibConfig {
        &self.config
    }

    /// Number of prefixes the speaker wants installed.
    pub fn desired_len(&self) -> usize {
        self.routes.desired_len()
    }

    /// Number of routes of ours we believe the kernel holds.
    pub fn installed_len(&self) -> usize {
        self.routes.installed_len()
    }

    /// Makes room for `v4` IPv4 and `v6` IPv6 routes in all (the size of a table about to
    /// be applied in pieces): growing the writer's table once, while it is small, instead of
    /// doubling it under a full table, where the old and the new table are briefly alive
    /// together.
    pub fn reserve(&mut self, v4: usize, v6: usize) {
        self.routes.reserve(v4, v6);
    }

    /// True between [`Fib::adopt`] and [`Fib::converged`].
    pub fn is_adopting(&self) -> bool {
        self.adopting
    }

    /// Reads every route of our protocol in our table (IPv4 and IPv6) from the kernel.
    ///
    /// Errors: [`FibError::Io`], [`FibError::Query`], [`FibError::Decode`].
    pub fn kernel_routes(&mut self) -> Result<Vec<KernelRoute>, FibError> {
        Ok(self.dump_routes()?.into_iter().map(|(r, _)| r).collect())
    }

    /// Our routes, each with the nexthop object it uses (RTA_NH_ID), if any.
    fn dump_routes(&mut self) -> Result<Vec<(KernelRoute, Option<u32>)>, FibError> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            while !self.dump_family(v6, &mut out)? {}
        }
        Ok(out)
    }

    /// Reads every nexthop object of the namespace into a fresh registry: ours are
    /// known by content, others' ids are avoided.
    fn load_nexthops(&mut self) -> Result<(), FibError> {
        let seq = self.next_query_seq();
        let mut req = Vec::new();
        nexthop::push_dump(&mut req, seq);
        self.query.send(&req)?;
        let mut registry = Registry::default();
        'dump: loop {
            self.query.recv(&mut self.rx)?;
            for m in messages(&self.rx) {
                if m.seq != seq {
                    continue;
                }
                if m.is_done() {
                    break 'dump;
                }
                if let Some(errno) = m.errno() {
                    if errno != 0 {
                        return Err(FibError::Query { errno });
                    }
                    continue;
                }
                if m.message_type == RTM_NEWNEXTHOP {
                    if let Some(d) = nexthop::parse(m.payload) {
                        registry.learn(d, self.config.protocol);
                    }
                }
            }
        }
        self.nexthops = registry;
        Ok(())
    }

    /// One dump; false when the kernel flagged it interrupted (NLM_F_DUMP_INTR: the
    /// table changed meanwhile), in which case its routes are dropped and the caller
    /// dumps again.
    fn dump_family(
        &mut self,
        v6: bool,
        out: &mut Vec<(KernelRoute, Option<u32>)>,
    ) -> Result<bool, FibError> {
        let seq = self.next_query_seq();
        let mut req = Vec::new();
        push_dump(&mut req, &self.config, v6, seq);
        self.query.send(&req)?;
        let start = out.len();
        let mut interrupted = false;
        loop {
            self.query.recv(&mut self.rx)?;
            for m in messages(&self.rx) {
                if m.seq != seq {
                    continue;
                }
                if m.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                if m.is_done() {
                    if interrupted {
                        out.truncate(start);
                    }
                    return Ok(!interrupted);
                }
                if let Some(errno) = m.errno() {
                    if errno != 0 {
                        return Err(FibError::Query { errno });
                    }
                    continue;
                }
                if m.message_type == RTM_NEWROUTE {
                    if let Some(r) = kernel_route_fast(m.payload, &self.config) {
                        out.push(r);
                    }
                }
            }
        }
    }

    fn next_query_seq(&mut self) -> u32 {
        self.query_seq = self.query_seq.wrapping_add(1);
        self.query_seq
    }

    /// `ip route get fibmatch GW`: the paths to use for next hop `gw`, or `None`
    /// when the kernel has no usable route to it. A route of our own protocol in our
    /// table does not resolve a next hop (no recursion through BGP routes).
    fn fib_match(&mut self, gw: IpAddr) -> Result<Option<Vec<Path>>, FibError> {
        let seq = self.next_query_seq();
        let mut req = Vec::new();
        push_fib_match(&mut req, gw, seq);
        self.query.send(&req)?;
        loop {
            self.query.recv(&mut self.rx)?;
            for m in messages(&self.rx) {
                if m.seq != seq {
                    continue;
                }
                if let Some(errno) = m.errno() {
                    if errno == 0 {
                        continue;
                    }
                    return match errno {
                        libc::ENETUNREACH
                        | libc::EHOSTUNREACH
                        | libc::ESRCH
                        | libc::EINVAL
                        | libc::ENOENT => Ok(None),
                        errno => Err(FibError::Query { errno }),
                    };
                }
                if m.message_type != RTM_NEWROUTE {
                    continue;
                }
                let msg = parse_route(m.payload).map_err(FibError::Decode)?;
                let ours = u8::from(msg.header.protocol) == self.config.protocol
                    && table_of(&msg) == self.config.table;
                if ours || msg.header.kind != RouteType::Unicast {
                    return Ok(None);
                }
                let paths = paths_of(&msg, Some(gw));
                if paths.iter().any(|p| p.ifindex == 0) {
                    return Ok(None);
                }
                return Ok(Some(paths));
            }
        }
    }

    /// The kernel paths for the BGP next hops of `prefix`.
    fn resolve(
        &mut self,
        prefix: Prefix,
        hops: &[NextHop],
    ) -> Result<Result<Arc<[Path]>, RouteError>, FibError> {
        if let [only] = hops {
            // The common case: one next hop, resolved already; no copy at all.
            if only.interface.is_none() && only.gateway.is_ipv4() == prefix.is_ipv4() {
                if let Some(Some(p)) = self.resolved.get(&only.gateway) {
                    return Ok(Ok(Arc::clone(p)));
                }
            }
        }
        let mut paths = Vec::with_capacity(hops.len());
        let mut unresolved = None;
        for nh in hops {
            if nh.gateway.is_ipv4() != prefix.is_ipv4() {
                return Ok(Err(RouteError::FamilyMismatch {
                    next_hop: nh.gateway,
                }));
            }
            if let Some(ifindex) = nh.interface {
                paths.push(Path {
                    gateway: Some(nh.gateway),
                    ifindex,
                });
                continue;
            }
            if !self.resolved.contains_key(&nh.gateway) {
                let r = self.fib_match(nh.gateway)?.map(|p| self.path_sets.get(&p));
                self.resolved.insert(nh.gateway, r);
            }
            match self.resolved.get(&nh.gateway) {
                Some(Some(p)) => paths.extend_from_slice(p),
                _ => {
                    unresolved.get_or_insert(nh.gateway);
                }
            }
        }
        if paths.is_empty() {
            return Ok(Err(RouteError::Unresolved {
                next_hop: unresolved.unwrap_or(prefix.addr()),
            }));
        }
        let paths = normalise_paths(paths);
        Ok(Ok(self.path_sets.get(&paths)))
    }

    /// Applies changes from the speaker core, one result per update, in order.
    ///
    /// A route that already matches costs no netlink operation; a changed one is
    /// replaced in place (NLM_F_REPLACE); a withdrawn one is deleted (ESRCH counts as
    /// done). A route none of whose next hops resolves is kept out of the kernel and
    /// reported [`RouteError::Unresolved`]; it is installed as soon as a route change
    /// makes a next hop resolvable ([`Fib::refresh_next_hops`]). In adopt mode,
    /// routes found in the kernel and not (yet) mentioned stay untouched.
    ///
    /// With `nexthop_objects`, when the updates withdraw every route that uses one
    /// nexthop object, the object is deleted instead, which removes those routes in
    /// one operation.
    ///
    /// Errors: [`FibError`] only when the socket itself fails; per-route failures are
    /// in the results.
    pub fn apply(&mut self, updates: &[RouteUpdate]) -> Result<Vec<RouteResult>, FibError> {
        self.nh_failed.clear();
        let mut results = Vec::with_capacity(updates.len());
        let mut done = Vec::new();
        // Room for a first full table at once, but no more: reserving for every
        // update would double both maps (a rehash of a million entries and about
        // 300 MB for nothing) when a full table is re-applied or withdrawn.
        let (v4, v6) = families(
            updates
                .iter()
                .filter(|u| !u.next_hops.is_empty())
                .map(|u| u.prefix),
        );
        self.reserve(v4, v6);
        let mut doomed = self.doomed_nexthops(updates);
        for (index, u) in updates.iter().enumerate() {
            let wanted = if u.next_hops.is_empty() {
                self.routes.set_desired(u.prefix, None);
                Ok(None)
            } else {
                let hops = self.hop_sets.get(&u.next_hops);
                self.routes.set_desired(u.prefix, Some(hops));
                self.resolve(u.prefix, &u.next_hops)?.map(Some)
            };
            results.push(RouteResult {
                prefix: u.prefix,
                outcome: Outcome::NotInstalled,
            });
            if !self.config.install {
                continue;
            }
            let key = RouteKey {
                prefix: u.prefix,
                metric: self.config.metric,
            };
            let (paths, failure) = match wanted {
                Ok(p) => (p, None),
                Err(e) => (None, Some(Outcome::Failed(e))),
            };
            let settled = if paths.is_some() {
                Outcome::Installed
            } else {
                failure.unwrap_or(Outcome::Removed)
            };
            let action = plan_route(
                paths.as_deref(),
                self.routes.installed(&key).map(|p| &p[..]),
            );
            match (action, paths) {
                (Action::Replace, Some(paths)) => {
                    self.queue_replace(key, paths, index, settled, &mut done)?;
                }
                (Action::Delete, _) => {
                    let via = self.routes.nh(&key);
                    match via.and_then(|id| doomed.get_mut(&id)) {
                        Some(routes) => {
                            // Goes with its nexthop object, below.
                            let prior = self.routes.set_installed(key, None);
                            routes.push((index, key, prior));
                            results[index].outcome = settled;
                        }
                        None => self.queue_delete(key, index, settled, &mut done)?,
                    }
                }
                _ => results[index].outcome = settled,
            }
            self.settle(&mut done, &mut results);
        }
        let mut doomed: Vec<_> = doomed.drain().collect();
        doomed.sort_unstable_by_key(|(id, _)| *id);
        for (id, routes) in doomed {
            let tag = Tag::DelNexthop { id, routes };
            self.pipeline.push(
                &self.tx,
                |buf, seq| nexthop::push_del(buf, id, seq),
                tag,
                &mut done,
            )?;
        }
        self.pipeline.finish(&self.tx, &mut done)?;
        self.settle(&mut done, &mut results);
        self.collect_nexthops()?;
        self.hop_sets.sweep_if_large();
        self.path_sets.sweep_if_large();
        Ok(results)
    }

    /// Nexthop objects all of whose routes `updates` withdraw: taken out of the path
    /// index (new routes get new objects) and returned with an empty route list.
    fn doomed_nexthops(&mut self, updates: &[RouteUpdate]) -> HashMap<u32, ObjectRoutes> {
        let mut doomed = HashMap::new();
        if !self.config.nexthop_objects || !self.config.install || self.routes.nh_len() == 0 {
            return doomed;
        }
        let mut seen: HashSet<RouteKey, FxBuildHasher> = HashSet::default();
        let mut count: HashMap<u32, usize, FxBuildHasher> = HashMap::default();
        for u in updates.iter().filter(|u| u.next_hops.is_empty()) {
            let key = RouteKey {
                prefix: u.prefix,
                metric: self.config.metric,
            };
            if let Some(id) = self.routes.nh(&key) {
                if seen.insert(key) {
                    *count.entry(id).or_default() += 1;
                }
            }
        }
        for (id, n) in count {
            if n == self.nexthops.refs(id) {
                self.nexthops.retire(id);
                doomed.insert(id, Vec::new());
            }
        }
        doomed
    }

    /// Queues the replace of `key` by `paths` (through a nexthop object when so
    /// configured, creating it first if needed).
    fn queue_replace(
        &mut self,
        key: RouteKey,
        paths: Arc<[Path]>,
        index: usize,
        on_success: Outcome,
        done: &mut Vec<Done<Tag>>,
    ) -> Result<(), FibError> {
        let nhid = if self.config.nexthop_objects {
            if !self.nexthops.loaded {
                self.load_nexthops()?;
                self.nexthops.index();
            }
            let mut create = Vec::new();
            let id = self
                .nexthops
                .ensure(!key.prefix.is_ipv4(), &paths, &mut create);
            for (nid, obj) in create {
                let protocol = self.config.protocol;
                self.pipeline.push(
                    &self.tx,
                    |buf, seq| nexthop::push_new(buf, protocol, nid, &obj, seq),
                    Tag::NewNexthop { id: nid },
                    done,
                )?;
            }
            // Held from now on; released if the replace fails.
            self.nexthops.add_ref(id);
            Some(id)
        } else {
            None
        };
        let tag = Tag::Route {
            index,
            key,
            prior: None,
            is_delete: false,
            on_success,
            nhid,
        };
        let config = &self.config;
        self.pipeline.push(
            &self.tx,
            |buf, seq| push_route(buf, config, key, Some(&paths), nhid, seq),
            tag,
            done,
        )?;
        self.routes.set_installed(key, Some(paths));
        Ok(())
    }

    /// Queues the delete of `key`.
    fn queue_delete(
        &mut self,
        key: RouteKey,
        index: usize,
        on_success: Outcome,
        done: &mut Vec<Done<Tag>>,
    ) -> Result<(), FibError> {
        let prior = self.routes.set_installed(key, None);
        let tag = Tag::Route {
            index,
            key,
            prior,
            is_delete: true,
            on_success,
            nhid: None,
        };
        let config = &self.config;
        self.pipeline.push(
            &self.tx,
            |buf, seq| push_route(buf, config, key, None, None, seq),
            tag,
            done,
        )?;
        Ok(())
    }

    /// Deletes our nexthop objects that no route uses any more (groups, then their
    /// members).
    fn collect_nexthops(&mut self) -> Result<(), FibError> {
        if !self.nexthops.loaded || !self.config.install {
            return Ok(());
        }
        for _ in 0..2 {
            let unused = self.nexthops.unreferenced();
            if unused.is_empty() {
                break;
            }
            let mut done = Vec::new();
            for id in unused {
                self.nexthops.retire(id);
                self.pipeline.push(
                    &self.tx,
                    |buf, seq| nexthop::push_del(buf, id, seq),
                    Tag::DelNexthop {
                        id,
                        routes: Vec::new(),
                    },
                    &mut done,
                )?;
            }
            self.pipeline.finish(&self.tx, &mut done)?;
            self.settle(&mut done, &mut []);
        }
        Ok(())
    }

    /// Turns finished requests into results and corrects our view of the kernel.
    fn settle(&mut self, done: &mut Vec<Done<Tag>>, results: &mut [RouteResult]) {
        for d in done.drain(..) {
            match d.tag {
                Tag::Route {
                    index,
                    key,
                    prior,
                    is_delete,
                    on_success,
                    nhid,
                } => {
                    let outcome = match (d.errno, is_delete) {
                        // "ESRCH on delete counts as done".
                        (0, true) | (libc::ESRCH, true) => {
                            if let Some(old) = self.routes.set_nh(key, None) {
                                self.nexthops.drop_ref(old);
                            }
                            on_success
                        }
                        (0, false) => {
                            let old = match nhid {
                                Some(new) => self.routes.set_nh(key, Some(new)),
                                None => self.routes.set_nh(key, None),
                            };
                            if let Some(old) = old {
                                self.nexthops.drop_ref(old);
                            }
                            on_success
                        }
                        (errno, true) => {
                            if let Some(prior) = prior {
                                self.routes.set_installed(key, Some(prior));
                            }
                            Outcome::Failed(RouteError::Kernel { errno })
                        }
                        (errno, false) => {
                            // A failed replace leaves the kernel's old route, if any,
                            // in place; we no longer know which: forget it, so the
                            // next change sends a replace again.
                            self.routes.set_installed(key, None);
                            let mut errno = errno;
                            if let Some(new) = nhid {
                                self.nexthops.drop_ref(new);
                                match self.nh_failed.get(&new) {
                                    Some(e) => errno = *e,
                                    // "Nexthop id does not exist": the kernel deleted
                                    // the object (it does when its device goes down);
                                    // the next route with these paths gets a new one.
                                    None if errno == libc::EINVAL => self.nexthops.retire(new),
                                    None => {}
                                }
                            }
                            Outcome::Failed(RouteError::Kernel { errno })
                        }
                    };
                    if let Some(r) = results.get_mut(index) {
                        r.outcome = outcome;
                    }
                }
                Tag::NewNexthop { id } => {
                    if d.errno != 0 {
                        // The routes that refer to it fail on their own, with this
                        // errno.
                        self.nh_failed.insert(id, d.errno);
                        self.nexthops.forget(id);
                        if d.errno == libc::EEXIST {
                            // Someone else took the id meanwhile (we create with
                            // NLM_F_EXCL, never replacing an object we do not own).
                            self.nexthops.avoid(id);
                        }
                    }
                }
                Tag::DelNexthop { id, routes } => {
                    if d.errno == 0 || d.errno == libc::ENOENT {
                        for (_, key, _) in &routes {
                            if self.routes.nh(key) == Some(id) {
                                self.routes.set_nh(*key, None);
                            }
                        }
                        self.nexthops.forget(id);
                    } else {
                        for (index, key, prior) in routes {
                            if let Some(prior) = prior {
                                self.routes.set_installed(key, Some(prior));
                            }
                            if let Some(r) = results.get_mut(index) {
                                r.outcome = Outcome::Failed(RouteError::Kernel { errno: d.errno });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs a list of operations, one result per operation, in order.
    fn execute(&mut self, ops: Vec<Op>) -> Result<Vec<RouteResult>, FibError> {
        self.nh_failed.clear();
        let mut results = Vec::with_capacity(ops.len());
        let mut done = Vec::new();
        for (index, op) in ops.into_iter().enumerate() {
            results.push(RouteResult {
                prefix: op.key().prefix,
                outcome: Outcome::NotInstalled,
            });
            if !self.config.install {
                continue;
            }
            match op {
                Op::Replace(r) => {
                    let paths = self.path_sets.get(&r.paths);
                    self.queue_replace(r.key, paths, index, Outcome::Installed, &mut done)?
                }
                Op::Delete(key) => self.queue_delete(key, index, Outcome::Removed, &mut done)?,
            }
            self.settle(&mut done, &mut results);
        }
        self.pipeline.finish(&self.tx, &mut done)?;
        self.settle(&mut done, &mut results);
        self.collect_nexthops()?;
        Ok(results)
    }

    /// Reads our routes (and, with `nexthop_objects`, the nexthop objects) from the
    /// kernel and takes them as what is installed.
    fn load_installed(&mut self) -> Result<usize, FibError> {
        let routes = self.dump_routes()?;
        let found = routes.len();
        self.routes.clear_installed();
        if self.config.nexthop_objects {
            self.load_nexthops()?;
            for id in routes.iter().filter_map(|(_, nhid)| *nhid) {
                self.nexthops.claim(id);
            }
            self.nexthops.index();
        }
        let (v4, v6) = families(routes.iter().map(|(r, _)| r.key.prefix));
        self.reserve(v4, v6);
        for (r, nhid) in routes {
            let mut paths = self.path_sets.get(&r.paths);
            if let Some(id) = nhid {
                if let Some(p) = self.nexthops.paths(id) {
                    paths = self.path_sets.get(p);
                }
                self.routes.set_nh(r.key, Some(id));
            }
            self.routes.set_installed(r.key, Some(paths));
        }
        Ok(found)
    }

    /// Start-up or takeover: reads our routes from the kernel and takes them as what
    /// is installed, without touching any. Routes the speaker already wants (if
    /// [`Fib::apply`] ran before) are compared at once and replaced where they differ.
    /// Routes that nobody claims stay until [`Fib::converged`] (or the deadline given
    /// here, checked by [`Fib::tick`]). Returns the number of routes found.
    ///
    /// Errors: as [`Fib::kernel_routes`] and [`Fib::apply`].
    pub fn adopt(&mut self, deadline: Option<Instant>) -> Result<usize, FibError> {
        let found = self.load_installed()?;
        self.adopting = true;
        self.adopt_deadline = deadline;
        let again: Vec<RouteUpdate> = self
            .routes
            .desired_iter()
            .map(|(p, h)| RouteUpdate::install(p, h.to_vec()))
            .collect();
        if !again.is_empty() {
            self.apply(&again)?;
        }
        Ok(found)
    }

    /// The speaker has converged (End-of-RIB from every neighbour, RFC 4724 §2, or
    /// its own timeout): deletes our routes that no desired route claims, including
    /// ours at another metric. Ends adopt mode. Returns one result per deletion.
    ///
    /// Errors: [`FibError`] when the socket fails.
    pub fn converged(&mut self) -> Result<Vec<RouteResult>, FibError> {
        self.adopting = false;
        self.adopt_deadline = None;
        let mut stale: Vec<RouteKey> = self
            .routes
            .installed_iter()
            .map(|(k, _)| k)
            .filter(|k| k.metric != self.config.metric || self.routes.desired(&k.prefix).is_none())
            .collect();
        stale.sort_unstable();
        self.execute(stale.into_iter().map(Op::Delete).collect())
    }

    /// Checks the adopt deadline against `now`; past it, acts as [`Fib::converged`].
    ///
    /// Errors: as [`Fib::converged`].
    pub fn tick(&mut self, now: Instant) -> Result<Vec<RouteResult>, FibError> {
        match self.adopt_deadline {
            Some(d) if self.adopting && now >= d => self.converged(),
            _ => Ok(Vec::new()),
        }
    }

    /// Makes the kernel hold exactly `desired` (our protocol, our table): reads the
    /// kernel, computes the smallest set of operations ([`crate::plan::plan`]) and runs
    /// it. Matching routes are not touched, differing ones replaced, the rest deleted.
    /// `desired` replaces everything the writer wanted before.
    ///
    /// Errors: [`FibError`] when a socket fails.
    pub fn reconcile(&mut self, desired: &[RouteUpdate]) -> Result<Reconciled, FibError> {
        self.load_installed()?;
        self.routes.clear_desired();
        for u in desired.iter().filter(|u| !u.next_hops.is_empty()) {
            let hops = self.hop_sets.get(&u.next_hops);
            self.routes.set_desired(u.prefix, Some(hops));
        }
        let mut want: HashMap<Prefix, Arc<[Path]>> =
            HashMap::with_capacity(self.routes.desired_len());
        let mut unresolved: Vec<RouteResult> = Vec::new();
        let prefixes: Vec<(Prefix, Arc<[NextHop]>)> = self
            .routes
            .desired_iter()
            .map(|(p, h)| (p, Arc::clone(h)))
            .collect();
        for (prefix, hops) in prefixes {
            match self.resolve(prefix, &hops)? {
                Ok(paths) => {
                    want.insert(prefix, paths);
                }
                Err(e) => unresolved.push(RouteResult {
                    prefix,
                    outcome: Outcome::Failed(e),
                }),
            }
        }
        let installed: HashMap<RouteKey, Arc<[Path]>, FxBuildHasher> = self
            .routes
            .installed_iter()
            .map(|(k, p)| (k, Arc::clone(p)))
            .collect();
        let ops = plan(&want, &installed, self.config.metric, true);
        drop(installed);
        let replaced = ops.iter().filter(|o| matches!(o, Op::Replace(_))).count();
        let deleted = ops.len() - replaced;
        let touched: HashSet<Prefix> = ops.iter().map(|o| o.key().prefix).collect();
        let mut results = self.execute(ops)?;
        let kept_before = results.len();
        results.extend(
            want.keys()
                .filter(|p| !touched.contains(p))
                .map(|p| RouteResult {
                    prefix: *p,
                    outcome: if self.config.install {
                        Outcome::Installed
                    } else {
                        Outcome::NotInstalled
                    },
                }),
        );
        let kept = results.len() - kept_before;
        results.extend(unresolved);
        results.sort_by_key(|r| r.prefix);
        self.adopting = false;
        self.adopt_deadline = None;
        Ok(Reconciled {
            replaced,
            deleted,
            kept,
            results,
        })
    }

    /// Reads pending route, address and link change notifications; when there were
    /// any, re-resolves every next hop ([`Fib::re_resolve`]). Cheap when nothing
    /// changed. Call when [`Fib::watch_fd`] is readable, or after
    /// [`Fib::wait_route_change`].
    ///
    /// Errors: [`FibError`] when a socket fails.
    pub fn refresh_next_hops(&mut self) -> Result<Vec<RouteResult>, FibError> {
        if self.watch.drain()? {
            self.re_resolve()
        } else {
            Ok(Vec::new())
        }
    }

    /// Looks up every next hop again; the routes using one whose resolution changed
    /// are replaced (or deleted when none of their next hops resolves any more).
    /// Returns results for the routes touched.
    ///
    /// Errors: [`FibError`] when a socket fails.
    pub fn re_resolve(&mut self) -> Result<Vec<RouteResult>, FibError> {
        let in_use: HashSet<IpAddr> = self
            .routes
            .desired_iter()
            .flat_map(|(_, h)| h.iter())
            .filter(|h| h.interface.is_none())
            .map(|h| h.gateway)
            .collect();
        self.resolved.retain(|gw, _| in_use.contains(gw));
        let mut changed = HashSet::new();
        for gw in in_use {
            let now = self.fib_match(gw)?.map(|p| self.path_sets.get(&p));
            if self.resolved.get(&gw) != Some(&now) {
                changed.insert(gw);
                self.resolved.insert(gw, now);
            }
        }
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let updates: Vec<RouteUpdate> = self
            .routes
            .desired_iter()
            .filter(|(_, hops)| {
                hops.iter()
                    .any(|h| h.interface.is_none() && changed.contains(&h.gateway))
            })
            .map(|(p, h)| RouteUpdate::install(p, h.to_vec()))
            .collect();
        self.apply(&updates)
    }

    /// Waits up to `timeout` for a route change notification; true when one is
    /// pending.
    ///
    /// Errors: poll(2) failures.
    pub fn wait_route_change(&self, timeout: Duration) -> std::io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.watch.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        loop {
            // SAFETY: pfd is one valid pollfd for the duration of the call.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc >= 0 {
                return Ok(rc > 0);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// The descriptor that becomes readable on route changes (for an async reactor,
    /// e.g. `tokio::io::unix::AsyncFd`). Non-blocking.
    pub fn watch_fd(&self) -> RawFd {
        self.watch.as_raw_fd()
    }
}
