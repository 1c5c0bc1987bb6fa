//! The sans-IO BGP session of one neighbour: the FSM of RFC 4271 section 8.
//!
//! A [`Session`] never reads a clock or touches a socket. It is driven with `(now, input)`:
//! [`Session::handle_event`] (administrative and TCP events by their RFC 4271 names),
//! [`Session::handle_bytes`] (raw stream bytes of one connection: the session frames them and
//! keeps the unconsumed remainder as state) and [`Session::handle_timeout`]; it answers with
//! [`Output`]s ([`Session::poll_output`]) and its next deadline ([`Session::poll_timeout`]).
//!
//! Connections are named by [`ConnId`]: the session owns every connection of its neighbour,
//! which during a collision (section 6.8) means two at once, one we opened and one the
//! neighbour opened. The session's [`State`] is the most advanced state of its connections
//! (Idle, Connect or Active when it has none).
//!
//! Timers are absolute [`Millis`] deadlines. ConnectRetryTimer and KeepaliveTimer carry the
//! section 10 jitter (0.75 to 1.0) from a seeded [`SplitMix64`] whose state is part of the
//! session state; HoldTimer has none.

mod event;
mod fsm;
mod open;
pub mod serde_wire;
mod timers;

pub use event::Event;
pub use open::{our_open, GrFamily, Negotiated, PeerGracefulRestart};
pub use timers::SplitMix64;

use crate::config::{Config, NeighborConfig};
use crate::time::Millis;
use crate::wire::{
    AfiSafi, Asn, HoldTime, Notification, Outcome, ReceivedUpdate, RouteRefreshSubtype, RouterId,
    Update,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

/// The states of RFC 4271 section 8.2.2, ordered as a session advances through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum State {
    /// No connection; refuses incoming connections while administratively down.
    Idle,
    /// Waiting for our outgoing TCP connection to complete.
    Connect,
    /// Waiting for the neighbour to connect (passive, or after a failed attempt).
    Active,
    /// OPEN sent, waiting for the neighbour's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the KEEPALIVE.
    OpenConfirm,
    /// UPDATE, KEEPALIVE, NOTIFICATION and ROUTE-REFRESH may flow.
    Established,
}

impl State {
    /// The RFC name.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

/// Who opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// We connected to the neighbour (TCP active open, our Connect output).
    Outgoing,
    /// The neighbour connected to us (accepted by the driver).
    Incoming,
}

/// One TCP connection of a neighbour. Ids with the high bit set are allocated by the session
/// for its outgoing connections ([`Output::Connect`]); the driver names incoming connections
/// with ids below 2^63 ([`ConnId::incoming`]). Unique per neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

impl ConnId {
    const OUTGOING: u64 = 1 << 63;

    /// The id of an incoming connection numbered `n` by the driver (the high bit is cleared).
    pub fn incoming(n: u64) -> Self {
        ConnId(n & !Self::OUTGOING)
    }

    /// The id of our `n`-th outgoing connection.
    pub fn outgoing(n: u64) -> Self {
        ConnId(n | Self::OUTGOING)
    }

    /// Who opened the connection.
    pub fn direction(self) -> Direction {
        if self.0 & Self::OUTGOING != 0 {
            Direction::Outgoing
        } else {
            Direction::Incoming
        }
    }
}

/// The per-neighbour settings a session runs with (from [`NeighborConfig`] and the global
/// router id and AS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Our AS.
    #[serde(with = "serde_wire::asn")]
    pub local_as: Asn,
    /// Our BGP Identifier.
    #[serde(with = "serde_wire::router_id")]
    pub router_id: RouterId,
    /// The neighbour's AS.
    #[serde(with = "serde_wire::asn")]
    pub remote_as: Asn,
    /// The neighbour's address.
    pub remote_address: IpAddr,
    /// Only wait for the neighbour to connect (PassiveTcpEstablishment).
    pub passive: bool,
    /// The hold time we propose.
    #[serde(with = "serde_wire::hold_time")]
    pub hold_time: HoldTime,
    /// The configured KEEPALIVE interval in seconds (default a third of the hold time).
    pub keepalive: Option<u16>,
    /// ConnectRetryTimer base value (jittered).
    pub connect_retry: Duration,
    /// IdleHoldTimer base value after an error (doubles per consecutive failure, capped at
    /// `connect_retry`).
    pub idle_hold: Duration,
    /// The families we advertise (Multiprotocol capability).
    #[serde(with = "serde_wire::afi_safis")]
    pub families: Vec<AfiSafi>,
    /// Advertise Graceful Restart and act as helper (RFC 4724).
    pub graceful_restart: bool,
    /// The Restart Time we advertise.
    pub restart_time: Duration,
    /// How long stale routes are kept after a restarted neighbour re-establishes, waiting
    /// for its End-of-RIB.
    pub stale_time: Duration,
    /// Advertise Extended Message (RFC 8654).
    pub extended_message: bool,
    /// Capability codes the neighbour must advertise (else 2/7).
    pub required_capabilities: Vec<u8>,
}

impl SessionConfig {
    /// The session settings of neighbour `n` of `cfg`.
    pub fn from_neighbor(cfg: &Config, n: &NeighborConfig) -> Self {
        SessionConfig {
            local_as: cfg.local_as(),
            router_id: cfg.router_id(),
            remote_as: Asn(n.remote_as),
            remote_address: n.address,
            passive: n.passive,
            hold_time: n.hold_time(),
            keepalive: n.keepalive,
            connect_retry: Duration::from_secs(u64::from(n.connect_retry)),
            idle_hold: Duration::from_secs(5),
            families: n.afi_safis(),
            graceful_restart: n.graceful_restart,
            restart_time: Duration::from_secs(u64::from(n.restart_time)),
            stale_time: Duration::from_secs(360),
            extended_message: n.extended_message,
            required_capabilities: n.required_capability_codes(),
        }
    }

    /// Whether the neighbour is in our AS.
    pub fn ibgp(&self) -> bool {
        self.local_as == self.remote_as
    }
}

/// Why an established session went down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DownReason {
    /// We sent this NOTIFICATION (an error, hold timer expiry, or a stop).
    NotificationSent(Notification),
    /// The neighbour sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed without a NOTIFICATION.
    ConnectionClosed,
    /// The neighbour opened a new connection while this one was established (RFC 4724
    /// section 4.2: it restarted).
    PeerRestarted,
}

/// What a session reports to the speaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SessionEvent {
    /// The session changed state.
    StateChange {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// The session reached Established with these parameters.
    Established {
        /// What the OPENs negotiated.
        negotiated: Negotiated,
    },
    /// An UPDATE arrived (not End-of-RIB): the decoded form and its RFC 7606 outcome (accept,
    /// treat-as-withdraw, attribute discard or AFI/SAFI disable; never session reset).
    UpdateReceived {
        /// The decoded UPDATE.
        update: Update,
        /// What to do with it.
        outcome: Outcome,
    },
    /// An UPDATE (not End-of-RIB) read in place and accepted as it is: the common UPDATE,
    /// which needs no RFC 7606 action ([`crate::wire::UpdateView`]). Its decoded form is
    /// [`ReceivedUpdate::to_update`]; the outcome is `Outcome::Accept`.
    UpdateAccepted {
        /// The UPDATE's body and where its fields are.
        update: ReceivedUpdate,
    },
    /// The neighbour's End-of-RIB marker for a family (RFC 4724 section 2).
    EndOfRib(#[serde(serialize_with = "ser_family")] AfiSafi),
    /// A ROUTE-REFRESH arrived for a negotiated family: `Normal` asks us to re-send our
    /// Adj-RIB-Out; `BeginningOfRouteRefresh`/`EndOfRouteRefresh` bracket the neighbour's
    /// re-advertisement (RFC 7313).
    RouteRefresh {
        /// The family.
        #[serde(serialize_with = "ser_family")]
        afi_safi: AfiSafi,
        /// The subtype.
        subtype: RouteRefreshSubtype,
    },
    /// The established session went down. With `graceful_restart: Some(restart_time)` the
    /// neighbour's routes are kept as stale (RFC 4724 helper) until its End-of-RIB,
    /// [`SessionEvent::StaleFlush`] or [`SessionEvent::GracefulRestartExpired`].
    Down {
        /// Why.
        reason: DownReason,
        /// The neighbour's restart time when we act as GR helper.
        graceful_restart: Option<Duration>,
    },
    /// GR helper: the neighbour did not come back within its restart time: remove its routes.
    GracefulRestartExpired,
    /// GR helper: drop the neighbour's routes of this family that are still stale (its
    /// End-of-RIB did not come in time, or it no longer preserves that family).
    StaleFlush(#[serde(serialize_with = "ser_family")] AfiSafi),
    /// We sent a NOTIFICATION on a connection.
    NotificationSent(Notification),
    /// The neighbour sent a NOTIFICATION.
    NotificationReceived(Notification),
}

fn ser_family<S: serde::Serializer>(f: &AfiSafi, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(f)
}

/// What the driver must do for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the neighbour, named `conn`; answer with `Tcp_CR_Acked` or
    /// `TcpConnectionFails`.
    Connect {
        /// The new connection.
        conn: ConnId,
    },
    /// Send these bytes (whole messages) on the connection.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// One or more encoded messages.
        bytes: Vec<u8>,
    },
    /// Close the connection (after sending what was transmitted before).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Report this to the speaker.
    Event(SessionEvent),
}

/// One TCP connection of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Connection {
    id: ConnId,
    /// OpenSent, OpenConfirm or Established.
    state: State,
    /// Received bytes not yet consumed (an incomplete message).
    rx: Vec<u8>,
    /// Set when the neighbour's OPEN was accepted.
    negotiated: Option<Negotiated>,
    /// HoldTimer deadline.
    hold: Option<Millis>,
    /// KeepaliveTimer deadline.
    keepalive: Option<Millis>,
}

/// Graceful Restart helper state (RFC 4724 section 4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GrHelper {
    /// The neighbour's Restart Time runs out at this instant (session down, routes stale).
    restart_deadline: Option<Millis>,
    /// After re-establishment: stale routes not refreshed by then are flushed.
    stale_deadline: Option<Millis>,
    /// Families with stale routes.
    #[serde(with = "serde_wire::afi_safis")]
    stale: Vec<AfiSafi>,
    /// The families the neighbour's previous GR capability listed, with their F bit.
    retained: Vec<GrFamily>,
}

/// Counters for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStats {
    /// RFC 4271 ConnectRetryCounter.
    pub connect_retry_counter: u32,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// UPDATEs received.
    pub updates_in: u64,
    /// When the session last reached Established (replicated clock): a standby restored
    /// from a checkpoint, and the node that took the session over, show the neighbour's
    /// unbroken uptime from it.
    #[serde(default)]
    pub established_since: Option<Millis>,
}

/// The session of one neighbour. Everything but the output queue is part of the replicated
/// state (serde; see [`Session::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    config: SessionConfig,
    /// ManualStart happened and no ManualStop since.
    admin_up: bool,
    /// The state when there is no connection: Idle, Connect or Active.
    base: State,
    /// Our outgoing connection attempt in progress.
    connecting: Option<ConnId>,
    conns: Vec<Connection>,
    connect_retry: Option<Millis>,
    idle_hold: Option<Millis>,
    /// Consecutive failures since the last Established (IdleHoldTimer doubling).
    failures: u32,
    next_outgoing: u64,
    rng: SplitMix64,
    gr: GrHelper,
    /// The state last reported with [`SessionEvent::StateChange`].
    reported: State,
    shutdown_communication: Option<String>,
    stats: SessionStats,
    #[serde(skip)]
    out: VecDeque<Output>,
}

impl Session {
    /// A session in Idle, administratively down; `seed` seeds the jitter RNG.
    pub fn new(config: SessionConfig, seed: u64) -> Self {
        Session {
            config,
            admin_up: false,
            base: State::Idle,
            connecting: None,
            conns: Vec::new(),
            connect_retry: None,
            idle_hold: None,
            failures: 0,
            next_outgoing: 0,
            rng: SplitMix64::new(seed),
            gr: GrHelper::default(),
            reported: State::Idle,
            shutdown_communication: None,
            stats: SessionStats::default(),
            out: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Replaces the settings; they apply from the next OPEN (the speaker resets the session
    /// when a change needs it).
    pub fn set_config(&mut self, config: SessionConfig) {
        self.config = config;
    }

    /// The RFC 4271 state: the most advanced state of the connections, else Idle, Connect
    /// or Active.
    pub fn state(&self) -> State {
        self.conns
            .iter()
            .map(|c| c.state)
            .max()
            .unwrap_or(self.base)
    }

    /// Whether ManualStart happened and no ManualStop since.
    pub fn admin_up(&self) -> bool {
        self.admin_up
    }

    /// The established connection, if any.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|c| c.state == State::Established)
            .map(|c| c.id)
    }

    /// What the established connection negotiated.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.conns
            .iter()
            .find(|c| c.state == State::Established)
            .and_then(|c| c.negotiated.as_ref())
    }

    /// The connections and their states.
    pub fn connections(&self) -> Vec<(ConnId, State)> {
        self.conns.iter().map(|c| (c.id, c.state)).collect()
    }

    /// Counters.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Counts `n` messages sent on the session that this copy of it did not produce: the
    /// KEEPALIVEs a primary wrote (seen on the mirror) and the one a takeover writes.
    pub fn count_messages_out(&mut self, n: u64) {
        self.stats.messages_out += n;
    }

    /// The families with routes kept stale by the GR helper.
    pub fn stale_families(&self) -> &[AfiSafi] {
        &self.gr.stale
    }

    /// The shutdown communication (RFC 9003) sent with the next ManualStop's Cease.
    pub fn set_shutdown_communication(&mut self, text: Option<String>) {
        self.shutdown_communication = text;
    }

    /// The next output, in the order produced.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The earliest timer deadline.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.deadlines().into_iter().map(|(t, _)| t).min()
    }

    /// The session state as bytes (postcard): everything but undrained outputs.
    pub fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A session from [`Session::snapshot`] bytes.
    pub fn restore(bytes: &[u8]) -> Result<Session, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}
