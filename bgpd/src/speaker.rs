//! The speaker core: every neighbour's [`Session`] and the [`Rib`], driven quinn-proto style.
//!
//! ```text
//! driver                                   Speaker
//!   handle(now, Input) ------------------>  sessions (FSM, framing) -> RIB (policy, decision)
//!   handle_timeout(now) ----------------->  timers of every session
//!   poll_output() -> Option<Output>  <----  Connect / Transmit / Close / Event
//!   take_fib_changes(n) -> Vec<FibChange> <-  Loc-RIB changes for the kernel, n installs at most
//!   poll_timeout() -> Option<Millis> <----  the earliest deadline
//! ```
//!
//! Pure and deterministic (DESIGN.md section 2): no clock, no I/O, no randomness but the
//! sessions' seeded RNGs; peers are visited in [`PeerId`] order. Two speakers fed the same
//! `(now, input)` log produce the same outputs and the same [`Speaker::state_digest`], and a
//! speaker restored from [`Speaker::snapshot`] continues exactly as the original.

use crate::config::{Config, NeighborConfig};
use crate::rib::{FibChange, FibPending, PeerInfo, Rib, RibConfig, RibError, RibEvent};
use crate::session::serde_wire::Family;
use crate::session::{
    ConnId, Direction, Event, Output as SessionOutput, Session, SessionConfig, SessionEvent,
    SplitMix64, State,
};
use crate::time::Millis;
use crate::wire::error::{cease_subcode, code};
use crate::wire::{AfiSafi, Notification, PathAttributes, Prefix, RouteRefreshSubtype};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

pub use crate::rib::PeerId;

/// An input of the speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A TCP connection of `peer` is up: our [`Output::Connect`] completed (an outgoing
    /// `conn`, RFC 4271 Event 16 Tcp_CR_Acked) or the driver accepted a connection from the
    /// neighbour's address (`conn` = [`ConnId::incoming`] with a driver-chosen number unique
    /// for the peer, Event 17 TcpConnectionConfirmed). `local_address` is our end (the next
    /// hop we announce when the neighbour has no `local_address` configured).
    ConnectionConfirmed {
        /// The neighbour.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// Our address on the connection.
        local_address: IpAddr,
    },
    /// The connection attempt failed, or the connection was reset/closed by the neighbour
    /// (Event 18, TcpConnectionFails).
    ConnectionClosed {
        /// The neighbour.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
    },
    /// Raw bytes received on a connection, in stream order (any segmentation).
    Bytes {
        /// The neighbour.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// An operator command.
    Admin(AdminCommand),
    /// A new configuration: neighbours added, removed or changed, policies, networks.
    /// Unchanged sessions are not reset; policy changes apply without a reset. The
    /// originated `[[network]]`s become the new configuration's: one it drops is withdrawn,
    /// one it lists is originated (also when `route del` withdrew it since).
    Config(Box<Config>),
    /// The kernel refused a FIB change (reported as [`SpeakerEvent::FibFailed`]).
    FibFailed {
        /// The prefix.
        prefix: Prefix,
        /// The driver's error text.
        error: String,
    },
}

/// Operator commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// ManualStart of a neighbour's session.
    Start {
        /// The neighbour.
        peer: PeerId,
    },
    /// ManualStop: Cease / Administrative Shutdown with an optional shutdown communication
    /// (RFC 9003).
    Stop {
        /// The neighbour.
        peer: PeerId,
        /// The text sent to the neighbour.
        communication: Option<String>,
    },
    /// Hard reset: the session is closed with Cease / Administrative Reset (RFC 4486
    /// section 4, with an optional shutdown communication, RFC 9003) and started again
    /// ([`crate::session::Session::manual_reset`]).
    Reset {
        /// The neighbour.
        peer: PeerId,
        /// The text sent to the neighbour.
        communication: Option<String>,
    },
    /// Soft reset in: import policy again over the Adj-RIB-In, and a ROUTE-REFRESH to the
    /// neighbour for every negotiated family when it supports it.
    SoftResetIn {
        /// The neighbour.
        peer: PeerId,
    },
    /// Soft reset out: the whole Adj-RIB-Out is sent again.
    SoftResetOut {
        /// The neighbour.
        peer: PeerId,
    },
    /// Originate a prefix (ORIGIN IGP, empty AS_PATH unless given; next hop self).
    Originate {
        /// The prefix.
        prefix: Prefix,
        /// Attributes (may be empty).
        attributes: PathAttributes,
    },
    /// Stop originating a prefix.
    WithdrawOriginated {
        /// The prefix.
        prefix: Prefix,
    },
}

/// What the speaker reports for the admin API and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerEvent {
    /// A session event (state changes, Established, Down, NOTIFICATIONs, End-of-RIB, route
    /// refresh, GR helper); UPDATEs are not reported.
    Session {
        /// The neighbour.
        peer: PeerId,
        /// Its address.
        address: IpAddr,
        /// What happened.
        event: SessionEvent,
    },
    /// A RIB notice (RFC 8212 missing policy, route not advertised).
    Rib(RibEvent),
    /// The RIB refused a call (a policy that does not exist, an unknown neighbour).
    RibError {
        /// The neighbour concerned.
        peer: Option<PeerId>,
        /// The error.
        error: String,
    },
    /// A neighbour was added by configuration.
    PeerAdded {
        /// The new id.
        peer: PeerId,
        /// Its address.
        address: IpAddr,
    },
    /// A neighbour was removed by configuration.
    PeerRemoved {
        /// Its former id.
        peer: PeerId,
        /// Its address.
        address: IpAddr,
    },
    /// The driver could not apply a FIB change.
    FibFailed {
        /// The prefix.
        prefix: Prefix,
        /// The error.
        error: String,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the neighbour (address and port from [`Speaker::neighbor`]
    /// and [`Speaker::config`]); answer with [`Input::ConnectionConfirmed`] or
    /// [`Input::ConnectionClosed`] for this `conn`.
    Connect {
        /// The neighbour.
        peer: PeerId,
        /// The connection's id.
        conn: ConnId,
    },
    /// Write these bytes (whole BGP messages) to the connection.
    Transmit {
        /// The neighbour.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close the connection once what was transmitted before is written.
    Close {
        /// The neighbour.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
    },
    /// A report for the admin API.
    Event(SpeakerEvent),
}

/// Why a speaker could not be built or restored.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The RIB refused the configuration (policies).
    #[error(transparent)]
    Rib(#[from] RibError),
    /// A snapshot does not decode.
    #[error("bad speaker snapshot: {0}")]
    Snapshot(String),
}

#[derive(Debug, Clone)]
struct Peer {
    neighbor: NeighborConfig,
    session: Session,
    /// Our address on each open connection.
    local_addresses: BTreeMap<ConnId, IpAddr>,
    /// MinRouteAdvertisementIntervalTimer: no UPDATE is sent before this instant.
    mrai_until: Option<Millis>,
    /// The jitter RNG of the MinRouteAdvertisementIntervalTimer (RFC 4271 section 10).
    rng: SplitMix64,
    /// Enhanced route refreshes in progress (RFC 7313 section 4): per family, the instant
    /// our wait for the neighbour's EoRR ends (sorted by family; `Millis::MAX`: no limit).
    refresh_until: Vec<(AfiSafi, Millis)>,
}

/// The speaker core. See the module documentation.
#[derive(Debug)]
pub struct Speaker {
    config: Config,
    rib: Rib,
    peers: BTreeMap<PeerId, Peer>,
    next_peer: u32,
    seed: u64,
    out: VecDeque<Output>,
    /// The prefixes whose Loc-RIB route changed and that the kernel FIB has not taken yet
    /// ([`Speaker::take_fib_changes`]): a full table is a million of them, so only the
    /// prefix is kept, and the change is read from the Loc-RIB when it is taken.
    fib_pending: FibPending,
}

#[derive(Serialize)]
struct PeerReprRef<'a> {
    id: PeerId,
    address: IpAddr,
    session: &'a Session,
    local_addresses: Vec<(ConnId, IpAddr)>,
    mrai_until: Option<Millis>,
    rng: &'a SplitMix64,
    refresh_until: Vec<(Family, Millis)>,
}

#[derive(Serialize)]
struct SpeakerReprRef<'a> {
    config_toml: String,
    rib: &'a Rib,
    peers: Vec<PeerReprRef<'a>>,
    next_peer: u32,
    seed: u64,
}

/// The owned form of `SpeakerReprRef` (same fields, same order, same encoding).
#[derive(Deserialize)]
struct PeerRepr {
    id: PeerId,
    address: IpAddr,
    session: Session,
    local_addresses: Vec<(ConnId, IpAddr)>,
    mrai_until: Option<Millis>,
    rng: SplitMix64,
    refresh_until: Vec<(Family, Millis)>,
}

#[derive(Deserialize)]
struct SpeakerRepr {
    config_toml: String,
    rib: Rib,
    peers: Vec<PeerRepr>,
    next_peer: u32,
    seed: u64,
}

fn mix(seed: u64, peer: u32) -> u64 {
    let mut r = crate::session::SplitMix64::new(seed ^ (u64::from(peer) << 32 | 0x5eed));
    r.next_u64()
}

fn rib_config(c: &Config) -> RibConfig {
    let mut r = RibConfig::new(c.local_as(), c.router_id());
    r.fib = c.fib.enabled;
    r.policy = c.policy.clone();
    r.decision.always_compare_med = c.always_compare_med;
    r
}

impl Speaker {
    /// A speaker for `config` (validated), at `now`: neighbours numbered 0.. in configuration
    /// order, each session started (ManualStart, passive ones listening) unless `shutdown`;
    /// the `[[network]]`s originated. `seed` seeds every session's jitter RNG.
    pub fn new(now: Millis, config: Config, seed: u64) -> Result<Speaker, SpeakerError> {
        let rib = Rib::new(rib_config(&config))?;
        let mut s = Speaker {
            config: config.clone(),
            rib,
            peers: BTreeMap::new(),
            next_peer: 0,
            seed,
            out: VecDeque::new(),
            fib_pending: FibPending::default(),
        };
        for n in &config.networks {
            s.originate_network(n.prefix, n.next_hop);
        }
        for n in config.neighbors.clone() {
            s.add_peer(now, n);
        }
        s.pump(now);
        Ok(s)
    }

    fn originate_network(&mut self, prefix: Prefix, next_hop: Option<IpAddr>) {
        let mut attrs = PathAttributes::new();
        if let Some(nh) = next_hop {
            // The family was checked by Config::validate.
            attrs.set_originated_next_hop(&prefix, nh);
        }
        if let Err(e) = self.rib.originate(prefix, attrs) {
            self.out.push_back(Output::Event(SpeakerEvent::RibError {
                peer: None,
                error: e.to_string(),
            }));
        }
    }

    fn add_peer(&mut self, now: Millis, n: NeighborConfig) -> PeerId {
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let mut session = Session::new(
            SessionConfig::from_neighbor(&self.config, &n),
            mix(self.seed, id.0),
        );
        if !n.shutdown {
            session.handle_event(now, Event::ManualStart, None);
        }
        self.peers.insert(
            id,
            Peer {
                neighbor: n,
                session,
                local_addresses: BTreeMap::new(),
                mrai_until: None,
                rng: SplitMix64::new(mix(self.seed, id.0) ^ 0x4d52_4149),
                refresh_until: Vec::new(),
            },
        );
        id
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The RIBs (read access for the admin API: `loc_rib()`, `adj_rib_in(peer)`, ...).
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The RIBs, for what does not go through the speaker's inputs and outputs: a standby's
    /// record of what each neighbour holds ([`Rib::track_as_sent`], [`Rib::note_as_sent`],
    /// [`Rib::as_sent_difference`]). Changing routes here bypasses the speaker.
    pub fn rib_mut(&mut self) -> &mut Rib {
        &mut self.rib
    }

    /// The neighbours: id, address, session state.
    pub fn peers(&self) -> Vec<(PeerId, IpAddr, State)> {
        self.peers
            .iter()
            .map(|(id, p)| (*id, p.neighbor.address, p.session.state()))
            .collect()
    }

    /// The neighbour configured with this address (to route an accepted connection; none:
    /// refuse it, RFC 4271 Event 15 Tcp_CR_Invalid).
    pub fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, p)| p.neighbor.address == address)
            .map(|(id, _)| *id)
    }

    /// A neighbour's configuration.
    pub fn neighbor(&self, peer: PeerId) -> Option<&NeighborConfig> {
        self.peers.get(&peer).map(|p| &p.neighbor)
    }

    /// A neighbour's session (state, negotiated parameters, counters).
    pub fn session(&self, peer: PeerId) -> Option<&Session> {
        self.peers.get(&peer).map(|p| &p.session)
    }

    /// Counts `n` messages sent to `peer` that this speaker did not produce (see
    /// [`Session::count_messages_out`]).
    pub fn count_messages_out(&mut self, peer: PeerId, n: u64) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.session.count_messages_out(n);
        }
    }

    /// Feeds one input at `now`.
    pub fn handle(&mut self, now: Millis, input: Input) {
        match input {
            Input::ConnectionConfirmed {
                peer,
                conn,
                local_address,
            } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.local_addresses.insert(conn, local_address);
                    let ev = match conn.direction() {
                        Direction::Outgoing => Event::Tcp_CR_Acked,
                        Direction::Incoming => Event::TcpConnectionConfirmed,
                    };
                    p.session.handle_event(now, ev, Some(conn));
                } else {
                    self.out.push_back(Output::Close { peer, conn });
                }
            }
            Input::ConnectionClosed { peer, conn } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.local_addresses.remove(&conn);
                    p.session
                        .handle_event(now, Event::TcpConnectionFails, Some(conn));
                }
            }
            Input::Bytes { peer, conn, data } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.handle_bytes(now, conn, &data);
                }
            }
            Input::Admin(cmd) => self.admin(now, cmd),
            Input::Config(c) => self.apply_config(now, *c),
            Input::FibFailed { prefix, error } => {
                self.out
                    .push_back(Output::Event(SpeakerEvent::FibFailed { prefix, error }));
            }
        }
        self.pump(now);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        for p in self.peers.values_mut() {
            p.session.handle_timeout(now);
        }
        self.pump(now);
        // RFC 7313 section 4: the EoRR did not come in time; purge what is still stale.
        let mut due = Vec::new();
        for (id, p) in self.peers.iter_mut() {
            p.refresh_until.retain(|(f, t)| {
                if *t <= now {
                    due.push((*id, *f));
                    false
                } else {
                    true
                }
            });
        }
        if !due.is_empty() {
            for (peer, afi_safi) in due {
                let purged = self.rib.purge_stale(peer, afi_safi);
                let ev = RibEvent::RefreshTimedOut {
                    peer,
                    afi_safi,
                    purged,
                };
                tracing::warn!("{ev}");
                self.out.push_back(Output::Event(SpeakerEvent::Rib(ev)));
            }
            self.pump(now);
        }
    }

    /// The next output. Loc-RIB changes for the kernel FIB are not outputs: the FIB writer
    /// takes them at its own pace with [`Speaker::take_fib_changes`].
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Every pending output at once, in [`Speaker::poll_output`]'s order. The queue's
    /// memory goes with it: after a full table it would otherwise stay as large as the
    /// largest burst.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out).into()
    }

    /// Loc-RIB changes for the kernel FIB, oldest first, until `max_installs` installs
    /// (removals do not count): each prefix whose Loc-RIB route changed since it was last
    /// taken, once, with its Loc-RIB route now ([`FibPending::take`]). The rest waits for
    /// the next call.
    pub fn take_fib_changes(&mut self, max_installs: usize) -> Vec<FibChange> {
        let rib = &self.rib;
        self.fib_pending
            .take(max_installs, |prefix| rib.fib_change(prefix))
    }

    /// Prefixes waiting for [`Speaker::take_fib_changes`] (IPv4, IPv6; a prefix may count
    /// twice until its queue is coalesced).
    pub fn fib_pending(&self) -> (usize, usize) {
        self.fib_pending.len()
    }

    /// Forgets the pending FIB changes: the kernel is the primary's to write (a standby
    /// sharing it), and the takeover gives it the whole Loc-RIB ([`Rib::fib_routes`]).
    pub fn discard_fib_changes(&mut self) {
        self.fib_pending.clear();
    }

    /// The earliest timer deadline: call [`Speaker::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.peers
            .values()
            .flat_map(|p| {
                let refresh = p.refresh_until.iter().map(|(_, t)| *t).min();
                [p.session.poll_timeout(), p.mrai_until, refresh]
            })
            .flatten()
            .filter(|t| *t != Millis::MAX)
            .min()
    }

    fn admin(&mut self, now: Millis, cmd: AdminCommand) {
        match cmd {
            AdminCommand::Start { peer } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.handle_event(now, Event::ManualStart, None);
                }
            }
            AdminCommand::Stop {
                peer,
                communication,
            } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.set_shutdown_communication(communication);
                    p.session.handle_event(now, Event::ManualStop, None);
                }
            }
            AdminCommand::Reset {
                peer,
                communication,
            } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.set_shutdown_communication(communication);
                    p.session.manual_reset(now);
                }
            }
            AdminCommand::SoftResetIn { peer } => {
                self.rib.soft_reset_in(peer);
                if let Some(p) = self.peers.get_mut(&peer) {
                    let fams: Vec<AfiSafi> = p
                        .session
                        .negotiated()
                        .map(|n| n.ctx.afi_safis.clone())
                        .unwrap_or_default();
                    for f in fams {
                        p.session
                            .send_route_refresh(now, f, RouteRefreshSubtype::Normal);
                    }
                }
            }
            AdminCommand::SoftResetOut { peer } => {
                let fams: Vec<AfiSafi> = self
                    .peers
                    .get(&peer)
                    .and_then(|p| p.session.negotiated())
                    .map(|n| n.ctx.afi_safis.clone())
                    .unwrap_or_default();
                for f in fams {
                    self.refresh_out(now, peer, f);
                }
            }
            AdminCommand::Originate { prefix, attributes } => {
                if let Err(e) = self.rib.originate(prefix, attributes) {
                    self.out.push_back(Output::Event(SpeakerEvent::RibError {
                        peer: None,
                        error: e.to_string(),
                    }));
                }
            }
            AdminCommand::WithdrawOriginated { prefix } => self.rib.withdraw_originated(prefix),
        }
    }

    /// Re-sends the Adj-RIB-Out of a family, bracketed by BoRR/EoRR with Enhanced Route
    /// Refresh (RFC 7313 section 4).
    fn refresh_out(&mut self, now: Millis, peer: PeerId, f: AfiSafi) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let enhanced = p
            .session
            .negotiated()
            .is_some_and(|n| n.enhanced_route_refresh);
        // Pending changes go first, so that the bracket holds only the refresh.
        let pending = self.rib.poll_updates(peer);
        send_all(&mut p.session, now, pending);
        if enhanced {
            p.session
                .send_route_refresh(now, f, RouteRefreshSubtype::BeginningOfRouteRefresh);
        }
        self.rib.refresh_out(peer, f);
        let msgs = self.rib.poll_updates(peer);
        send_all(&mut p.session, now, msgs);
        if enhanced {
            p.session
                .send_route_refresh(now, f, RouteRefreshSubtype::EndOfRouteRefresh);
        }
    }

    /// Moves session outputs to the RIB and the output queue, and RIB outputs to the
    /// sessions, until nothing moves.
    fn pump(&mut self, now: Millis) {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for _ in 0..1000 {
            let mut moved = false;
            for id in &ids {
                while let Some(o) = self.peers.get_mut(id).and_then(|p| p.session.poll_output()) {
                    moved = true;
                    self.on_session_output(now, *id, o);
                }
            }
            for id in &ids {
                let Some(p) = self.peers.get_mut(id) else {
                    continue;
                };
                if p.mrai_until.is_some_and(|t| t <= now) {
                    p.mrai_until = None;
                }
                if p.session.state() != State::Established || p.mrai_until.is_some() {
                    continue;
                }
                let msgs = self.rib.poll_updates(*id);
                if !msgs.is_empty() {
                    moved = true;
                    send_all(&mut p.session, now, msgs);
                    // RFC 4271 section 9.2.1.1: the next UPDATEs to this neighbour wait for
                    // the MinRouteAdvertisementIntervalTimer (jittered, section 10).
                    let mrai = p.neighbor.min_route_advertisement_interval;
                    if mrai > 0 {
                        let j = p
                            .rng
                            .jitter(std::time::Duration::from_secs(u64::from(mrai)));
                        p.mrai_until = Some(now + j);
                    }
                }
            }
            self.rib.poll_fib_into(&mut self.fib_pending);
            for e in self.rib.poll_events() {
                self.out.push_back(Output::Event(SpeakerEvent::Rib(e)));
            }
            if !moved {
                break;
            }
        }
    }

    fn on_session_output(&mut self, now: Millis, id: PeerId, o: SessionOutput) {
        match o {
            SessionOutput::Connect { conn } => {
                self.out.push_back(Output::Connect { peer: id, conn })
            }
            SessionOutput::Transmit { conn, bytes } => self.out.push_back(Output::Transmit {
                peer: id,
                conn,
                bytes,
            }),
            SessionOutput::Close { conn } => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.local_addresses.remove(&conn);
                }
                self.out.push_back(Output::Close { peer: id, conn });
            }
            SessionOutput::Event(e) => self.on_session_event(now, id, e),
        }
    }

    fn on_session_event(&mut self, now: Millis, id: PeerId, e: SessionEvent) {
        let Some(p) = self.peers.get(&id) else { return };
        let address = p.neighbor.address;
        let mut report = true;
        let mut rib_err = None;
        match &e {
            SessionEvent::UpdateReceived { update, outcome } => {
                report = false;
                if let Err(err) = self.rib.apply_update(id, update, outcome) {
                    rib_err = Some(err);
                }
            }
            SessionEvent::UpdateAccepted { update } => {
                report = false;
                if let Err(err) = self.rib.apply_update_view(id, &update.view()) {
                    rib_err = Some(err);
                }
            }
            SessionEvent::Established { negotiated } => {
                let local_address = p
                    .neighbor
                    .local_address
                    .or_else(|| {
                        p.session
                            .established_conn()
                            .and_then(|c| p.local_addresses.get(&c).copied())
                    })
                    .unwrap_or(match address {
                        IpAddr::V4(_) => IpAddr::from([0u8, 0, 0, 0]),
                        IpAddr::V6(_) => IpAddr::from([0u16; 8]),
                    });
                let info = PeerInfo {
                    id,
                    address,
                    remote_as: negotiated.remote_as,
                    local_as: self.config.local_as(),
                    remote_id: negotiated.remote_id,
                    ibgp: negotiated.ctx.ibgp,
                    rr_client: p.neighbor.route_reflector_client,
                    ctx: negotiated.ctx.clone(),
                    local_address,
                    next_hop_v4: None,
                    next_hop_v6: p.neighbor.ipv6_next_hop,
                    import: p.neighbor.import.clone(),
                    export: p.neighbor.export.clone(),
                };
                if let Err(err) = self.rib.peer_up(info) {
                    rib_err = Some(err);
                }
            }
            SessionEvent::EndOfRib(f) | SessionEvent::StaleFlush(f) => {
                self.rib.end_of_rib(id, *f);
            }
            SessionEvent::Down {
                graceful_restart, ..
            } => {
                if graceful_restart.is_some() {
                    self.rib.peer_down_graceful(id);
                } else {
                    self.rib.peer_down(id);
                }
                if let Some(p) = self.peers.get_mut(&id) {
                    p.mrai_until = None;
                    // A refresh in progress ends with the session.
                    p.refresh_until.clear();
                }
            }
            SessionEvent::GracefulRestartExpired => self.rib.flush_stale(id),
            SessionEvent::RouteRefresh { afi_safi, subtype } => match subtype {
                RouteRefreshSubtype::Normal => self.refresh_out(now, id, *afi_safi),
                RouteRefreshSubtype::BeginningOfRouteRefresh => {
                    self.rib.mark_stale(id, *afi_safi);
                    if let Some(p) = self.peers.get_mut(&id) {
                        let wait = p.neighbor.enhanced_route_refresh_time;
                        let until = if wait == 0 {
                            Millis::MAX
                        } else {
                            now.plus_secs(u64::from(wait))
                        };
                        // A new BoRR restarts the wait.
                        p.refresh_until.retain(|(f, _)| f != afi_safi);
                        p.refresh_until.push((*afi_safi, until));
                        p.refresh_until.sort_unstable();
                    }
                }
                RouteRefreshSubtype::EndOfRouteRefresh => {
                    self.rib.purge_stale(id, *afi_safi);
                    if let Some(p) = self.peers.get_mut(&id) {
                        p.refresh_until.retain(|(f, _)| f != afi_safi);
                    }
                }
                RouteRefreshSubtype::Unknown(_) => {}
            },
            SessionEvent::StateChange { .. }
            | SessionEvent::NotificationSent(_)
            | SessionEvent::NotificationReceived(_) => {}
        }
        if let Some(err) = rib_err {
            self.out.push_back(Output::Event(SpeakerEvent::RibError {
                peer: Some(id),
                error: err.to_string(),
            }));
        }
        if report {
            self.out.push_back(Output::Event(SpeakerEvent::Session {
                peer: id,
                address,
                event: e,
            }));
        }
    }

    /// Applies a new configuration (see [`Input::Config`]).
    fn apply_config(&mut self, now: Millis, new: Config) {
        let cease = |sub: u8| Notification::new(code::CEASE, sub, Vec::new());
        // A new identity resets everything.
        if new.local_as != self.config.local_as || new.router_id != self.config.router_id {
            let ids: Vec<PeerId> = self.peers.keys().copied().collect();
            for id in ids {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.session
                        .reset(now, cease(cease_subcode::OTHER_CONFIGURATION_CHANGE), true);
                }
            }
            self.pump(now);
            let old: Vec<(PeerId, Peer)> = std::mem::take(&mut self.peers).into_iter().collect();
            for (id, p) in old {
                self.out.push_back(Output::Event(SpeakerEvent::PeerRemoved {
                    peer: id,
                    address: p.neighbor.address,
                }));
            }
            // Routes originated through the admin API (not [[network]]s of the old
            // configuration) are the operator's: they survive the new RIB.
            let api_routes: Vec<(Prefix, PathAttributes)> = self
                .rib
                .loc_rib()
                .into_iter()
                .filter(|e| {
                    e.peer.is_none() && !self.config.networks.iter().any(|n| n.prefix == e.prefix)
                })
                .map(|e| (e.prefix, e.attributes))
                .collect();
            match Rib::new(rib_config(&new)) {
                Ok(r) => self.rib = r,
                Err(e) => {
                    self.out.push_back(Output::Event(SpeakerEvent::RibError {
                        peer: None,
                        error: e.to_string(),
                    }));
                    return;
                }
            }
            self.config = new.clone();
            for n in &new.networks {
                self.originate_network(n.prefix, n.next_hop);
            }
            for (prefix, attributes) in api_routes {
                if !new.networks.iter().any(|n| n.prefix == prefix) {
                    self.admin(now, AdminCommand::Originate { prefix, attributes });
                }
            }
            for n in new.neighbors {
                let address = n.address;
                let id = self.add_peer(now, n);
                self.out
                    .push_back(Output::Event(SpeakerEvent::PeerAdded { peer: id, address }));
            }
            return;
        }
        // Policies first: the RIB refuses a policy set that does not compile, and then
        // nothing changes.
        if new.policy != self.config.policy {
            if let Err(e) = self.rib.set_policy(new.policy.clone()) {
                self.out.push_back(Output::Event(SpeakerEvent::RibError {
                    peer: None,
                    error: e.to_string(),
                }));
                return;
            }
        }
        // Removed neighbours: Cease / Peer De-configured.
        let removed: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| new.neighbor(p.neighbor.address).is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in &removed {
            if let Some(p) = self.peers.get_mut(id) {
                p.session
                    .reset(now, cease(cease_subcode::PEER_DECONFIGURED), true);
            }
        }
        self.pump(now);
        for id in removed {
            self.rib.peer_down(id);
            if let Some(p) = self.peers.remove(&id) {
                self.out.push_back(Output::Event(SpeakerEvent::PeerRemoved {
                    peer: id,
                    address: p.neighbor.address,
                }));
            }
        }
        let old_cfg = std::mem::replace(&mut self.config, new.clone());
        // Changed and added neighbours.
        for n in &new.neighbors {
            match self.peer_by_address(n.address) {
                None => {
                    let id = self.add_peer(now, n.clone());
                    self.out.push_back(Output::Event(SpeakerEvent::PeerAdded {
                        peer: id,
                        address: n.address,
                    }));
                }
                Some(id) => {
                    let Some(p) = self.peers.get_mut(&id) else {
                        continue;
                    };
                    if p.neighbor == *n {
                        continue;
                    }
                    let sc = SessionConfig::from_neighbor(&new, n);
                    let policy_changed =
                        p.neighbor.import != n.import || p.neighbor.export != n.export;
                    let session_changed = *p.session.config() != sc
                        || p.neighbor.local_address != n.local_address
                        || p.neighbor.route_reflector_client != n.route_reflector_client
                        || p.neighbor.md5_password != n.md5_password
                        || p.neighbor.ttl_security != n.ttl_security;
                    let was_shutdown = p.neighbor.shutdown;
                    p.neighbor = n.clone();
                    p.session.set_config(sc);
                    if n.shutdown && !was_shutdown {
                        p.session.handle_event(now, Event::ManualStop, None);
                    } else if session_changed && !n.shutdown {
                        p.session.reset(
                            now,
                            cease(cease_subcode::OTHER_CONFIGURATION_CHANGE),
                            false,
                        );
                        if !p.session.admin_up() {
                            p.session.handle_event(now, Event::ManualStart, None);
                        }
                    } else if !n.shutdown && was_shutdown {
                        p.session.handle_event(now, Event::ManualStart, None);
                    } else if policy_changed && p.session.state() == State::Established {
                        if let Err(e) =
                            self.rib
                                .set_peer_policy(id, n.import.clone(), n.export.clone())
                        {
                            self.out.push_back(Output::Event(SpeakerEvent::RibError {
                                peer: Some(id),
                                error: e.to_string(),
                            }));
                        }
                    }
                }
            }
        }
        // Originated networks.
        for n in &old_cfg.networks {
            if !new.networks.iter().any(|x| x.prefix == n.prefix) {
                self.rib.withdraw_originated(n.prefix);
            }
        }
        // A network the file lists is originated after the reload, also one the operator
        // withdrew with `understudy route del` since: the file says what is originated.
        for n in &new.networks {
            if !old_cfg.networks.contains(n) || !self.rib.is_originated(n.prefix) {
                self.originate_network(n.prefix, n.next_hop);
            }
        }
    }

    /// SHA-256 over a canonical encoding of the replicated state: the RIB digest (Adj-RIB-In,
    /// Loc-RIB, Adj-RIB-Out as sent, negotiated session parameters) and every session's
    /// complete state (FSM state, timers, RNG, unconsumed bytes), in peer order.
    pub fn state_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"understudy-speaker-v1");
        h.update(self.rib.digest());
        for (id, p) in &self.peers {
            h.update(id.0.to_be_bytes());
            let s = p.session.snapshot();
            h.update((s.len() as u64).to_be_bytes());
            h.update(&s);
            for (c, a) in &p.local_addresses {
                h.update(c.0.to_be_bytes());
                h.update(a.to_string().as_bytes());
            }
            h.update(p.mrai_until.map_or(u64::MAX, |t| t.0).to_be_bytes());
            h.update(postcard::to_allocvec(&p.rng).unwrap_or_default());
            h.update((p.refresh_until.len() as u64).to_be_bytes());
            for (f, t) in &p.refresh_until {
                h.update(f.afi.0.to_be_bytes());
                h.update([f.safi.0]);
                h.update(t.0.to_be_bytes());
            }
        }
        h.update(self.next_peer.to_be_bytes());
        h.finalize().into()
    }

    /// The whole speaker as bytes (postcard): configuration, RIB, every session. Take it
    /// after draining [`Speaker::poll_output`]: undrained outputs are not included.
    pub fn snapshot(&self) -> Result<Vec<u8>, SpeakerError> {
        let repr = SpeakerReprRef {
            config_toml: self
                .config
                .to_toml_string()
                .map_err(|e| SpeakerError::Snapshot(e.to_string()))?,
            rib: &self.rib,
            peers: self
                .peers
                .iter()
                .map(|(id, p)| PeerReprRef {
                    id: *id,
                    address: p.neighbor.address,
                    session: &p.session,
                    local_addresses: p.local_addresses.iter().map(|(c, a)| (*c, *a)).collect(),
                    mrai_until: p.mrai_until,
                    rng: &p.rng,
                    refresh_until: families(&p.refresh_until),
                })
                .collect(),
            next_peer: self.next_peer,
            seed: self.seed,
        };
        postcard::to_allocvec(&repr).map_err(|e| SpeakerError::Snapshot(e.to_string()))
    }

    /// A speaker from [`Speaker::snapshot`] bytes.
    pub fn restore(bytes: &[u8]) -> Result<Speaker, SpeakerError> {
        let repr: SpeakerRepr =
            postcard::from_bytes(bytes).map_err(|e| SpeakerError::Snapshot(e.to_string()))?;
        let config = Config::from_toml_str(&repr.config_toml)
            .map_err(|e| SpeakerError::Snapshot(e.to_string()))?;
        let mut peers = BTreeMap::new();
        for p in repr.peers {
            let neighbor = config
                .neighbor(p.address)
                .cloned()
                .ok_or_else(|| SpeakerError::Snapshot(format!("no neighbour {}", p.address)))?;
            peers.insert(
                p.id,
                Peer {
                    neighbor,
                    session: p.session,
                    local_addresses: p.local_addresses.into_iter().collect(),
                    mrai_until: p.mrai_until,
                    rng: p.rng,
                    refresh_until: unfamilies(p.refresh_until),
                },
            );
        }
        Ok(Speaker {
            config,
            rib: repr.rib,
            peers,
            next_peer: repr.next_peer,
            seed: repr.seed,
            out: VecDeque::new(),
            fib_pending: FibPending::default(),
        })
    }

    /// One session's complete context (what a per-flow checkpoint carries):
    /// [`Session::snapshot`] bytes. `None` for an unknown peer.
    pub fn session_snapshot(&self, peer: PeerId) -> Option<Vec<u8>> {
        self.peers.get(&peer).map(|p| p.session.snapshot())
    }

    /// Replaces one session's context from [`Speaker::session_snapshot`] bytes (the
    /// standby installing a checkpointed flow). The RIB is not touched.
    pub fn restore_session(&mut self, peer: PeerId, bytes: &[u8]) -> Result<(), SpeakerError> {
        let s = Session::restore(bytes).map_err(|e| SpeakerError::Snapshot(e.to_string()))?;
        let p = self
            .peers
            .get_mut(&peer)
            .ok_or_else(|| SpeakerError::Snapshot(format!("unknown peer {}", peer.0)))?;
        p.session = s;
        Ok(())
    }

    /// Installs one neighbour's part of the RIBs from [`Rib::peer_snapshot`] bytes as
    /// neighbour `peer` here ([`PeerId::LOCAL`]: the locally originated routes), then moves
    /// what it changed on at `now`: UPDATEs to the established neighbours, FIB changes (the
    /// standby installing a checkpointed flow; see [`Rib::restore_peer`]). Sessions are not
    /// touched. Returns the part's id at the source.
    pub fn restore_peer_rib(
        &mut self,
        now: Millis,
        peer: PeerId,
        bytes: &[u8],
    ) -> Result<PeerId, SpeakerError> {
        let from = self.rib.restore_peer(peer, bytes)?;
        self.pump(now);
        Ok(from)
    }

    /// Our address on a connection of `peer` (from [`Input::ConnectionConfirmed`]).
    pub fn local_address(&self, peer: PeerId, conn: ConnId) -> Option<IpAddr> {
        self.peers.get(&peer)?.local_addresses.get(&conn).copied()
    }

    /// One neighbour's complete context as bytes (postcard): its session
    /// ([`Speaker::session_snapshot`]), our address on each connection, the
    /// MinRouteAdvertisementIntervalTimer and its jitter RNG. `None` for an unknown peer.
    pub fn peer_context(&self, peer: PeerId) -> Option<Vec<u8>> {
        let p = self.peers.get(&peer)?;
        let repr = PeerReprRef {
            id: peer,
            address: p.neighbor.address,
            session: &p.session,
            local_addresses: p.local_addresses.iter().map(|(c, a)| (*c, *a)).collect(),
            mrai_until: p.mrai_until,
            rng: &p.rng,
            refresh_until: families(&p.refresh_until),
        };
        postcard::to_allocvec(&repr).ok()
    }

    /// Replaces a neighbour's context from [`Speaker::peer_context`] bytes, taken on a node
    /// with the same configuration (the standby installing a checkpointed flow); the
    /// neighbour is found by its address. Returns its id here. The RIB is not touched.
    pub fn restore_peer_context(&mut self, bytes: &[u8]) -> Result<PeerId, SpeakerError> {
        let r: PeerRepr =
            postcard::from_bytes(bytes).map_err(|e| SpeakerError::Snapshot(e.to_string()))?;
        let id = self
            .peer_by_address(r.address)
            .ok_or_else(|| SpeakerError::Snapshot(format!("no neighbour {}", r.address)))?;
        let p = self
            .peers
            .get_mut(&id)
            .ok_or_else(|| SpeakerError::Snapshot(format!("unknown peer {}", id.0)))?;
        p.session = r.session;
        p.local_addresses = r.local_addresses.into_iter().collect();
        p.mrai_until = r.mrai_until;
        p.rng = r.rng;
        p.refresh_until = unfamilies(r.refresh_until);
        Ok(id)
    }
}

fn families(v: &[(AfiSafi, Millis)]) -> Vec<(Family, Millis)> {
    v.iter().map(|(f, t)| (Family::from(*f), *t)).collect()
}

fn unfamilies(v: Vec<(Family, Millis)>) -> Vec<(AfiSafi, Millis)> {
    v.into_iter().map(|(f, t)| (AfiSafi::from(f), t)).collect()
}

fn send_all(session: &mut Session, now: Millis, msgs: Vec<Vec<u8>>) {
    if msgs.is_empty() {
        return;
    }
    let mut bytes = Vec::with_capacity(msgs.iter().map(Vec::len).sum());
    for m in msgs {
        bytes.extend_from_slice(&m);
    }
    session.send_messages(now, bytes);
}
