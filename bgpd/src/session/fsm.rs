//! The transitions of RFC 4271 section 8.2.2, collision detection (section 6.8), message
//! handling and the Graceful Restart helper (RFC 4724 section 4.2).

use super::open::{check_and_negotiate, our_open};
use super::{
    ConnId, Connection, Direction, DownReason, Event, Output, Session, SessionEvent, State,
};
use crate::time::Millis;
use crate::wire::error::{cease_subcode, code};
use crate::wire::keepalive::KEEPALIVE;
use crate::wire::{
    decode_message, encode_message, frame, AfiSafi, Message, MessageType, Notification, Outcome,
    RouteRefresh, RouteRefreshSubtype, SessionContext, Update, UpdateView,
};
use std::borrow::Cow;
use std::time::Duration;

/// RFC 4271 section 8.2.2: after the TCP connection is up and the OPEN sent, "the HoldTimer is
/// set to a large value"; "A HoldTimer value of 4 minutes is suggested."
const OPEN_HOLD: Duration = Duration::from_secs(240);

/// The context messages from the peer are read with: the negotiated one, except for the
/// size limit. RFC 8654 section 4 is asymmetric: a speaker "MAY send BGP Extended Messages to
/// a peer only if the BGP Extended Message Capability was received from that peer", and "An
/// implementation that advertises the BGP Extended Message Capability MUST be capable of
/// receiving a message with a Length up to and including 65535 octets". So when we
/// advertised it (`advertised`), up to 65535 octets are accepted even if the peer did not
/// advertise it (the negotiated context, used for sending, keeps 4096 then).
fn receive_context(negotiated: &SessionContext, advertised: bool) -> Cow<'_, SessionContext> {
    if advertised && !negotiated.extended_message {
        Cow::Owned(SessionContext {
            extended_message: true,
            ..negotiated.clone()
        })
    } else {
        Cow::Borrowed(negotiated)
    }
}

/// The RFC 6608 FSM Error subcodes.
mod fsm_subcode {
    /// Receive Unexpected Message in OpenSent State.
    pub const OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const ESTABLISHED: u8 = 3;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    ConnectRetry,
    IdleHold,
    GrRestart,
    GrStale,
    Hold(ConnId),
    Keepalive(ConnId),
}

impl Session {
    /// Feeds an administrative or TCP event (RFC 4271 section 8.1.2 and 8.1.3).
    ///
    /// - `ManualStart` (`ManualStart_with_PassiveTcpEstablishment`): start; connect unless
    ///   the neighbour is passive. `AutomaticStart*` restart a session that is up but Idle.
    /// - `ManualStop`: Cease / Administrative Shutdown (RFC 8203/9003 communication from
    ///   [`Session::set_shutdown_communication`]) on every connection; stays down.
    /// - `AutomaticStop`: Cease / Other Configuration Change; restarts after the IdleHoldTimer.
    /// - `Tcp_CR_Acked` (`conn`: our [`Output::Connect`] id), `TcpConnectionConfirmed` (`conn`:
    ///   an incoming connection, [`ConnId::incoming`]), `TcpConnectionFails` (`conn`: either).
    ///
    /// Timer and message events are not accepted here (they come from
    /// [`Session::handle_timeout`] and [`Session::handle_bytes`]) and are ignored.
    pub fn handle_event(&mut self, now: Millis, event: Event, conn: Option<ConnId>) {
        self.fire(now, event, conn);
        self.report_state();
    }

    /// An operator's hard reset: ManualStop then ManualStart, but the Cease sent is
    /// Administrative Reset (RFC 4486 section 4: subcode 4, "a BGP speaker administratively
    /// resets the peering"; subcode 2, Administrative Shutdown, is for a peering taken
    /// down), with the shutdown communication of [`Session::set_shutdown_communication`]
    /// (RFC 9003 allows it on both).
    pub fn manual_reset(&mut self, now: Millis) {
        self.manual_stop(now, true);
        self.fire(now, Event::ManualStart, None);
        self.report_state();
    }

    /// ManualStop (RFC 4271 section 8.2.2): Cease to every connection, down until a
    /// ManualStart; Administrative Reset instead of Shutdown with `reset`.
    fn manual_stop(&mut self, now: Millis, reset: bool) {
        self.admin_up = false;
        // RFC 9003: Cease / Administrative Shutdown (or Reset) with the shutdown
        // communication.
        let n = match self.shutdown_communication.as_deref() {
            Some(text) => Notification::shutdown(text, reset),
            None => Notification::new(
                code::CEASE,
                if reset {
                    cease_subcode::ADMINISTRATIVE_RESET
                } else {
                    cease_subcode::ADMINISTRATIVE_SHUTDOWN
                },
                Vec::new(),
            ),
        };
        self.close_all(now, n);
        // A stopped neighbour keeps no stale routes.
        if self.gr.restart_deadline.is_some() || !self.gr.stale.is_empty() {
            self.gr = Default::default();
            self.push_event(SessionEvent::GracefulRestartExpired);
        }
    }

    /// Feeds raw stream bytes received on `conn`. Whole messages are decoded and handled in
    /// order; an incomplete tail is kept for the next call. Bytes of an unknown connection
    /// are ignored.
    pub fn handle_bytes(&mut self, now: Millis, conn: ConnId, data: &[u8]) {
        let Some(i) = self.conn_index(conn) else {
            return;
        };
        let mut buf = std::mem::take(&mut self.conns[i].rx);
        let buffered = !buf.is_empty();
        if buffered {
            buf.extend_from_slice(data);
        }
        let consumed = {
            let input: &[u8] = if buffered { &buf } else { data };
            let mut off = 0;
            loop {
                let Some(i) = self.conn_index(conn) else {
                    // The connection was closed by a message: the rest is dropped.
                    return;
                };
                let rest = &input[off..];
                // Only the size limit matters for a NOTIFICATION (4096 before the OPEN exchange).
                #[allow(clippy::unwrap_or_default)]
                let ctx = self.conns[i]
                    .negotiated
                    .as_ref()
                    .map(|n| receive_context(&n.ctx, self.config.extended_message));
                let framed = match ctx {
                    Some(c) => frame(rest, &c),
                    None => frame(rest, &SessionContext::new()),
                };
                match framed {
                    Ok(Some(n)) if n <= rest.len() => {
                        off += n;
                        self.on_message(now, conn, &rest[..n]);
                        self.report_state();
                    }
                    Ok(_) => break,
                    Err(e) => {
                        // Event 21, BGPHeaderErr.
                        self.notify_and_drop(now, conn, e.into(), true);
                        self.report_state();
                        return;
                    }
                }
            }
            off
        };
        let rest = if buffered {
            buf.drain(..consumed);
            buf
        } else {
            data[consumed..].to_vec()
        };
        if let Some(i) = self.conn_index(conn) {
            self.conns[i].rx = rest;
        }
        self.report_state();
    }

    /// Fires every timer whose deadline is at or before `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Millis) {
        for _ in 0..64 {
            let next = self
                .deadlines()
                .into_iter()
                .filter(|(t, _)| *t <= now)
                .min_by_key(|(t, _)| *t);
            let Some((_, timer)) = next else { break };
            match timer {
                Timer::ConnectRetry => {
                    self.connect_retry = None;
                    self.fire(now, Event::ConnectRetryTimer_Expires, None);
                }
                Timer::IdleHold => {
                    self.idle_hold = None;
                    self.fire(now, Event::IdleHoldTimer_Expires, None);
                }
                Timer::Hold(c) => {
                    if let Some(i) = self.conn_index(c) {
                        self.conns[i].hold = None;
                    }
                    self.fire(now, Event::HoldTimer_Expires, Some(c));
                }
                Timer::Keepalive(c) => {
                    if let Some(i) = self.conn_index(c) {
                        self.conns[i].keepalive = None;
                    }
                    self.fire(now, Event::KeepaliveTimer_Expires, Some(c));
                }
                Timer::GrRestart => {
                    // RFC 4724 section 4.2: "If the session does not get re-established within
                    // the "Restart Time" ... the Receiving Speaker MUST delete all the stale
                    // routes from the peer".
                    self.gr = Default::default();
                    self.push_event(SessionEvent::GracefulRestartExpired);
                }
                Timer::GrStale => {
                    self.gr.stale_deadline = None;
                    for f in std::mem::take(&mut self.gr.stale) {
                        self.push_event(SessionEvent::StaleFlush(f));
                    }
                }
            }
        }
        self.report_state();
    }

    /// Sends encoded UPDATEs (or other whole messages) on the established connection and
    /// restarts its KeepaliveTimer. `false` when no connection is established.
    pub fn send_messages(&mut self, now: Millis, bytes: Vec<u8>) -> bool {
        let Some(id) = self.established_conn() else {
            return false;
        };
        if bytes.is_empty() {
            return true;
        }
        self.transmit(id, bytes);
        self.restart_keepalive(now, id);
        true
    }

    /// Sends our End-of-RIB marker for `afi_safi` (RFC 4724 section 2): after the initial
    /// UPDATEs of that family. `false` when not established or the family is not negotiated.
    pub fn send_end_of_rib(&mut self, now: Millis, afi_safi: AfiSafi) -> bool {
        let Some(n) = self.negotiated() else {
            return false;
        };
        if !n.ctx.negotiated(afi_safi) {
            return false;
        }
        match encode_message(&Message::Update(Update::end_of_rib(afi_safi)), &n.ctx) {
            Ok(b) => self.send_messages(now, b),
            Err(_) => false,
        }
    }

    /// Sends a ROUTE-REFRESH: `Normal` asks the neighbour to re-send its routes (needs Route
    /// Refresh negotiated, RFC 2918); `BeginningOfRouteRefresh`/`EndOfRouteRefresh` bracket
    /// our re-advertisement (needs Enhanced Route Refresh, RFC 7313). `false` when not
    /// possible on this session.
    pub fn send_route_refresh(
        &mut self,
        now: Millis,
        afi_safi: AfiSafi,
        subtype: RouteRefreshSubtype,
    ) -> bool {
        let Some(n) = self.negotiated() else {
            return false;
        };
        let allowed = match subtype {
            RouteRefreshSubtype::Normal => n.route_refresh || n.enhanced_route_refresh,
            RouteRefreshSubtype::BeginningOfRouteRefresh
            | RouteRefreshSubtype::EndOfRouteRefresh => n.enhanced_route_refresh,
            RouteRefreshSubtype::Unknown(_) => false,
        };
        if !allowed || !n.ctx.negotiated(afi_safi) {
            return false;
        }
        let rr = RouteRefresh {
            afi_safi,
            subtype,
            orf: Vec::new(),
        };
        match encode_message(&Message::RouteRefresh(rr), &n.ctx) {
            Ok(b) => self.send_messages(now, b),
            Err(_) => false,
        }
    }

    /// Resets every connection with `notification` (e.g. Cease / Peer De-configured, or
    /// Maximum Number of Prefixes Reached) and stays down when `stay_down`, else restarts
    /// after the IdleHoldTimer.
    pub fn reset(&mut self, now: Millis, notification: Notification, stay_down: bool) {
        if stay_down {
            self.admin_up = false;
        }
        self.close_all(now, notification);
        self.report_state();
    }

    // ---- internals ----

    pub(super) fn deadlines(&self) -> Vec<(Millis, Timer)> {
        let mut v = Vec::new();
        let mut add = |t: Option<Millis>, k: Timer| {
            if let Some(t) = t {
                v.push((t, k));
            }
        };
        add(self.connect_retry, Timer::ConnectRetry);
        add(self.idle_hold, Timer::IdleHold);
        add(self.gr.restart_deadline, Timer::GrRestart);
        add(self.gr.stale_deadline, Timer::GrStale);
        for c in &self.conns {
            add(c.hold, Timer::Hold(c.id));
            add(c.keepalive, Timer::Keepalive(c.id));
        }
        v
    }

    fn conn_index(&self, id: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    fn push_event(&mut self, e: SessionEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn report_state(&mut self) {
        let s = self.state();
        if s != self.reported {
            let from = self.reported;
            self.reported = s;
            self.push_event(SessionEvent::StateChange { from, to: s });
        }
    }

    fn transmit(&mut self, conn: ConnId, bytes: Vec<u8>) {
        self.stats.messages_out += 1;
        if let Some(Output::Transmit { conn: c, bytes: b }) = self.out.back_mut() {
            if *c == conn {
                b.extend_from_slice(&bytes);
                return;
            }
        }
        self.out.push_back(Output::Transmit { conn, bytes });
    }

    fn restart_keepalive(&mut self, now: Millis, id: ConnId) {
        let Some(i) = self.conn_index(id) else { return };
        let Some(k) = self.conns[i].negotiated.as_ref().map(|n| n.keepalive) else {
            return;
        };
        if !k.is_zero() {
            let j = self.rng.jitter(k);
            self.conns[i].keepalive = Some(now + j);
        }
    }

    fn restart_hold(&mut self, now: Millis, i: usize) {
        if let Some(n) = &self.conns[i].negotiated {
            let h = n.hold_time.seconds();
            self.conns[i].hold = (h != 0).then(|| now.plus_secs(u64::from(h)));
        }
    }

    fn connect(&mut self, now: Millis) {
        self.next_outgoing += 1;
        let id = ConnId::outgoing(self.next_outgoing);
        self.connecting = Some(id);
        self.base = State::Connect;
        let j = self.rng.jitter(self.config.connect_retry);
        self.connect_retry = Some(now + j);
        self.out.push_back(Output::Connect { conn: id });
    }

    fn start(&mut self, now: Millis, passive: bool) {
        self.idle_hold = None;
        if passive || self.config.passive {
            self.base = State::Active;
        } else {
            self.connect(now);
        }
    }

    /// The single FSM dispatch of the non-message events.
    fn fire(&mut self, now: Millis, event: Event, conn: Option<ConnId>) {
        use Event::*;
        match event {
            ManualStart | ManualStart_with_PassiveTcpEstablishment => {
                if !self.admin_up {
                    self.admin_up = true;
                    self.failures = 0;
                    self.stats.connect_retry_counter = 0;
                    if self.conns.is_empty() && self.connecting.is_none() {
                        self.start(now, event == ManualStart_with_PassiveTcpEstablishment);
                    }
                }
            }
            AutomaticStart
            | AutomaticStart_with_PassiveTcpEstablishment
            | IdleHoldTimer_Expires => {
                if self.admin_up && self.conns.is_empty() && self.connecting.is_none() {
                    self.start(now, event == AutomaticStart_with_PassiveTcpEstablishment);
                }
            }
            ManualStop => self.manual_stop(now, false),
            AutomaticStop => {
                let n = Notification::new(
                    code::CEASE,
                    cease_subcode::OTHER_CONFIGURATION_CHANGE,
                    Vec::new(),
                );
                self.close_all(now, n);
            }
            ConnectRetryTimer_Expires => {
                if self.conns.is_empty() && self.admin_up && !self.config.passive {
                    // In Connect: "drops the TCP connection, restarts the ConnectRetryTimer,
                    // initiates a TCP connection"; in Active: the same without the drop.
                    if let Some(old) = self.connecting.take() {
                        self.out.push_back(Output::Close { conn: old });
                    }
                    self.connect(now);
                }
            }
            Tcp_CR_Acked | TcpConnection_Valid | TcpConnectionConfirmed => {
                if let Some(id) = conn {
                    self.connection_up(now, id);
                }
            }
            Tcp_CR_Invalid => {
                if let Some(id) = conn {
                    self.out.push_back(Output::Close { conn: id });
                }
            }
            TcpConnectionFails => {
                let Some(id) = conn else { return };
                if self.connecting == Some(id) {
                    self.connecting = None;
                    self.stats.connect_retry_counter += 1;
                    if self.conns.is_empty() && self.admin_up {
                        // Wait for the ConnectRetryTimer (or the neighbour) in Active.
                        self.base = State::Active;
                        if self.connect_retry.is_none() {
                            let j = self.rng.jitter(self.config.connect_retry);
                            self.connect_retry = Some(now + j);
                        }
                    }
                } else if self.conn_index(id).is_some() {
                    self.drop_conn(now, id, None, DownReason::ConnectionClosed, true);
                }
            }
            HoldTimer_Expires => {
                if let Some(id) = conn {
                    // RFC 4271 section 6.5: "the NOTIFICATION message with the Error Code Hold
                    // Timer Expired is sent and the BGP connection is closed".
                    let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new());
                    self.notify_and_drop(now, id, n, true);
                }
            }
            KeepaliveTimer_Expires => {
                if let Some(id) = conn {
                    if self.conn_index(id).is_some() {
                        self.transmit(id, KEEPALIVE.to_vec());
                        self.restart_keepalive(now, id);
                    }
                }
            }
            // Message events are derived from bytes, see `on_message`.
            BGPOpen | BGPHeaderErr | BGPOpenMsgErr | OpenCollisionDump | NotifMsgVerErr
            | NotifMsg | KeepAliveMsg | UpdateMsg | UpdateMsgErr | RouteRefreshMsg
            | RouteRefreshMsgErr => {}
        }
    }

    fn connection_up(&mut self, now: Millis, id: ConnId) {
        if self.conn_index(id).is_some() {
            return;
        }
        let ours = self.connecting == Some(id);
        if ours {
            self.connecting = None;
        }
        let refuse = !self.admin_up
            || (id.direction() == Direction::Outgoing
                && (!ours || self.established_conn().is_some()));
        if refuse {
            // Idle refuses connections; our own attempt that completes after the session is
            // established would only collide with it (section 6.8: the new one is closed).
            self.out.push_back(Output::Close { conn: id });
            return;
        }
        if id.direction() == Direction::Incoming {
            // A newer incoming connection replaces an older one that is not established.
            let old: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|c| {
                    c.id.direction() == Direction::Incoming && c.state != State::Established
                })
                .map(|c| c.id)
                .collect();
            for o in old {
                self.drop_conn(now, o, None, DownReason::ConnectionClosed, false);
            }
        }
        self.connect_retry = None;
        self.idle_hold = None;
        self.conns.push(Connection {
            id,
            state: State::OpenSent,
            rx: Vec::new(),
            negotiated: None,
            hold: Some(now + OPEN_HOLD),
            keepalive: None,
        });
        let open = our_open(&self.config);
        match encode_message(&Message::Open(open), &SessionContext::new()) {
            Ok(b) => self.transmit(id, b),
            Err(_) => {
                let n = Notification::new(code::CEASE, cease_subcode::OUT_OF_RESOURCES, Vec::new());
                self.notify_and_drop(now, id, n, true);
            }
        }
    }

    fn on_message(&mut self, now: Millis, id: ConnId, msg: &[u8]) {
        let Some(i) = self.conn_index(id) else { return };
        self.stats.messages_in += 1;
        let state = self.conns[i].state;
        let Some(kind) = msg.get(18).copied().and_then(MessageType::from_code) else {
            return;
        };
        if state >= State::OpenConfirm && kind != MessageType::Notification {
            // RFC 4271 section 6.5: the HoldTimer restarts on every KEEPALIVE and UPDATE; we
            // restart it on any message.
            self.restart_hold(now, i);
        }
        match (state, kind) {
            (_, MessageType::Notification) => {
                let d = decode_message(msg, &SessionContext::new());
                let n = match d.message {
                    Some(Message::Notification(n)) => n,
                    _ => Notification::new(code::CEASE, 0, Vec::new()),
                };
                // Event 24 (NotifMsgVerErr) and 25 (NotifMsg): no reply, close.
                self.push_event(SessionEvent::NotificationReceived(n.clone()));
                let ver_err = n.code == code::OPEN_MESSAGE && n.subcode == 1;
                self.drop_conn(now, id, None, DownReason::NotificationReceived(n), !ver_err);
            }
            (State::OpenSent, MessageType::Open) => {
                let d = decode_message(msg, &SessionContext::new());
                match (d.message, d.outcome) {
                    (Some(Message::Open(o)), Outcome::Accept) => self.on_open(now, id, &o),
                    (_, Outcome::SessionReset(e)) => {
                        // Event 22 (BGPOpenMsgErr) or 21 (BGPHeaderErr).
                        self.notify_and_drop(now, id, e.into(), true);
                    }
                    _ => {}
                }
            }
            (State::OpenConfirm, MessageType::Keepalive) => self.on_established(now, id),
            (State::Established, MessageType::Keepalive) => {}
            (State::Established, MessageType::Update) => {
                let d = {
                    let Some(n) = self.conns[i].negotiated.as_ref() else {
                        return;
                    };
                    let ctx = receive_context(&n.ctx, self.config.extended_message);
                    // The common UPDATE, read in place: accepted as it is (the view takes
                    // nothing that needs an RFC 7606 action), so no decoded form is built.
                    if let Some(v) = UpdateView::parse_message(msg, &ctx) {
                        // Event 27, UpdateMsg.
                        self.stats.updates_in += 1;
                        if v.is_end_of_rib() {
                            self.on_end_of_rib(AfiSafi::IPV4_UNICAST);
                        } else {
                            self.push_event(SessionEvent::UpdateAccepted {
                                update: v.to_received(),
                            });
                        }
                        return;
                    }
                    decode_message(msg, &ctx)
                };
                match (d.message, d.outcome) {
                    (_, Outcome::SessionReset(e)) => {
                        // Event 28, UpdateMsgErr (RFC 4271 section 6.3, RFC 7606).
                        self.notify_and_drop(now, id, e.into(), true);
                    }
                    (Some(Message::Update(u)), outcome) => {
                        // Event 27, UpdateMsg.
                        self.stats.updates_in += 1;
                        match u.as_end_of_rib() {
                            Some(f) => self.on_end_of_rib(f),
                            None => {
                                self.push_event(SessionEvent::UpdateReceived { update: u, outcome })
                            }
                        }
                    }
                    _ => {}
                }
            }
            (State::Established, MessageType::RouteRefresh) => {
                let d = decode_message(msg, &SessionContext::new());
                match (d.message, d.outcome) {
                    (_, Outcome::SessionReset(e)) => {
                        self.notify_and_drop(now, id, e.into(), true);
                    }
                    (Some(Message::RouteRefresh(r)), _) => self.on_route_refresh(i, r),
                    _ => {}
                }
            }
            (s, k) => {
                // RFC 6608: "Receive Unexpected Message in <state> State", data: the type.
                let sub = match s {
                    State::OpenSent => fsm_subcode::OPEN_SENT,
                    State::OpenConfirm => fsm_subcode::OPEN_CONFIRM,
                    _ => fsm_subcode::ESTABLISHED,
                };
                let n = Notification::new(code::FSM, sub, vec![k.code()]);
                self.notify_and_drop(now, id, n, true);
            }
        }
    }

    fn on_open(&mut self, now: Millis, id: ConnId, theirs: &crate::wire::Open) {
        let ours = our_open(&self.config);
        let neg = match check_and_negotiate(&self.config, &ours, theirs) {
            Ok(n) => n,
            Err(e) => {
                self.notify_and_drop(now, id, e.into(), true);
                return;
            }
        };
        // Section 6.8, collision detection, against the other connections that know the
        // neighbour's identifier (OpenConfirm) or are established.
        let others: Vec<(ConnId, State, bool)> = self
            .conns
            .iter()
            .filter(|c| c.id != id && c.state >= State::OpenConfirm)
            .map(|c| {
                (
                    c.id,
                    c.state,
                    c.negotiated
                        .as_ref()
                        .is_some_and(|n| n.graceful_restart_helper()),
                )
            })
            .collect();
        for (other, state, gr) in others {
            let collision = Notification::new(
                code::CEASE,
                cease_subcode::CONNECTION_COLLISION_RESOLUTION,
                Vec::new(),
            );
            if state == State::Established {
                if gr {
                    // RFC 4724 section 4.2: a new connection while established means the
                    // neighbour restarted: close the old one and keep its routes as stale.
                    self.drop_conn(now, other, None, DownReason::PeerRestarted, false);
                } else {
                    // "a connection collision with an existing BGP connection that is in the
                    // Established state causes closing of the newly created connection."
                    self.notify_and_drop(now, id, collision, false);
                    return;
                }
            } else {
                // "the local system closes the BGP connection that already exists ... and
                // accepts the BGP connection initiated by the remote system" when the local
                // BGP Identifier is lower: the connection kept is the one opened by the side
                // with the higher identifier (RFC 6286 section 2.3: then the higher AS).
                let local = (self.config.router_id.to_u32(), self.config.local_as.0);
                let remote = (neg.remote_id.to_u32(), neg.remote_as.0);
                let keep = if local > remote {
                    Direction::Outgoing
                } else {
                    Direction::Incoming
                };
                if id.direction() == keep || other.direction() == id.direction() {
                    self.notify_and_drop(now, other, collision, false);
                } else {
                    // Event 23, OpenCollisionDump, on this connection.
                    self.notify_and_drop(now, id, collision, false);
                    return;
                }
            }
        }
        let Some(i) = self.conn_index(id) else { return };
        let keepalive = neg.keepalive;
        self.conns[i].negotiated = Some(neg);
        self.conns[i].state = State::OpenConfirm;
        self.restart_hold(now, i);
        self.transmit(id, KEEPALIVE.to_vec());
        if !keepalive.is_zero() {
            self.restart_keepalive(now, id);
        } else {
            self.conns[i].keepalive = None;
        }
    }

    fn on_established(&mut self, now: Millis, id: ConnId) {
        let Some(i) = self.conn_index(id) else { return };
        self.conns[i].state = State::Established;
        self.stats.established_transitions += 1;
        self.stats.established_since = Some(now);
        self.failures = 0;
        self.connect_retry = None;
        self.idle_hold = None;
        let Some(neg) = self.conns[i].negotiated.clone() else {
            return;
        };
        self.report_state();
        // GR helper: the neighbour is back.
        if self.gr.restart_deadline.take().is_some() || !self.gr.stale.is_empty() {
            // "If the Graceful Restart Capability is not received in the re-established
            // session OPEN, or the F bit for a family is not set, the Receiving Speaker MUST
            // immediately remove all the stale routes from the peer that it is retaining for
            // that address family."
            let preserved: Vec<AfiSafi> = neg
                .peer_graceful_restart
                .as_ref()
                .map(|g| {
                    g.families
                        .iter()
                        .filter(|f| f.forwarding_preserved)
                        .map(|f| f.afi_safi)
                        .collect()
                })
                .unwrap_or_default();
            let (keep, flush): (Vec<AfiSafi>, Vec<AfiSafi>) = std::mem::take(&mut self.gr.stale)
                .into_iter()
                .partition(|f| preserved.contains(f));
            self.gr.stale = keep;
            self.gr.stale_deadline =
                (!self.gr.stale.is_empty()).then(|| now + self.config.stale_time);
            self.push_event(SessionEvent::Established { negotiated: neg });
            for f in flush {
                self.push_event(SessionEvent::StaleFlush(f));
            }
            return;
        }
        self.push_event(SessionEvent::Established { negotiated: neg });
    }

    fn on_end_of_rib(&mut self, f: AfiSafi) {
        self.gr.stale.retain(|s| *s != f);
        if self.gr.stale.is_empty() {
            self.gr.stale_deadline = None;
        }
        self.push_event(SessionEvent::EndOfRib(f));
    }

    fn on_route_refresh(&mut self, i: usize, r: RouteRefresh) {
        let Some(n) = self.conns[i].negotiated.as_ref() else {
            return;
        };
        // RFC 2918 section 4: a family not advertised at session establishment: "ignore".
        if !n.ctx.negotiated(r.afi_safi) {
            return;
        }
        let pass = match r.subtype {
            RouteRefreshSubtype::Normal => true,
            // RFC 7313 section 4: BoRR/EoRR only with Enhanced Route Refresh.
            RouteRefreshSubtype::BeginningOfRouteRefresh
            | RouteRefreshSubtype::EndOfRouteRefresh => n.enhanced_route_refresh,
            // RFC 7313 section 5: "MUST ignore the received ROUTE-REFRESH message".
            RouteRefreshSubtype::Unknown(_) => false,
        };
        if pass {
            self.push_event(SessionEvent::RouteRefresh {
                afi_safi: r.afi_safi,
                subtype: r.subtype,
            });
        }
    }

    fn close_all(&mut self, now: Millis, n: Notification) {
        if let Some(c) = self.connecting.take() {
            self.out.push_back(Output::Close { conn: c });
        }
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            self.notify_and_drop(now, id, n.clone(), true);
        }
        self.connect_retry = None;
        if !self.admin_up {
            self.idle_hold = None;
            self.base = State::Idle;
        }
    }

    /// Sends `n` on `id`, then closes it.
    fn notify_and_drop(&mut self, now: Millis, id: ConnId, n: Notification, error: bool) {
        let Some(i) = self.conn_index(id) else { return };
        // Only the size limit matters for a NOTIFICATION (4096 before the OPEN exchange).
        #[allow(clippy::unwrap_or_default)]
        let ctx = self.conns[i]
            .negotiated
            .as_ref()
            .map(|x| x.ctx.clone())
            .unwrap_or_else(SessionContext::new);
        let bytes = encode_message(&Message::Notification(n.clone()), &ctx).or_else(|_| {
            encode_message(
                &Message::Notification(Notification::new(n.code, n.subcode, Vec::new())),
                &ctx,
            )
        });
        if let Ok(b) = bytes {
            self.transmit(id, b);
        }
        self.push_event(SessionEvent::NotificationSent(n.clone()));
        self.drop_conn(now, id, Some(n), DownReason::ConnectionClosed, error);
    }

    /// Removes a connection (the NOTIFICATION, if any, was already transmitted).
    fn drop_conn(
        &mut self,
        now: Millis,
        id: ConnId,
        sent: Option<Notification>,
        reason: DownReason,
        error: bool,
    ) {
        let Some(i) = self.conn_index(id) else { return };
        let conn = self.conns.remove(i);
        self.out.push_back(Output::Close { conn: id });
        let reason = match sent {
            Some(n) => DownReason::NotificationSent(n),
            None => reason,
        };
        if conn.state == State::Established {
            let gr = conn
                .negotiated
                .as_ref()
                .and_then(|n| n.peer_graceful_restart.clone())
                .filter(|g| !g.families.is_empty());
            // RFC 4724 section 4.2: on "termination of the TCP session" (no NOTIFICATION),
            // retain the routes of the families of the neighbour's GR capability as stale.
            let graceful = matches!(
                reason,
                DownReason::ConnectionClosed | DownReason::PeerRestarted
            );
            match gr.filter(|_| graceful) {
                Some(g) => {
                    self.gr.restart_deadline = Some(now + g.restart_time);
                    self.gr.stale_deadline = None;
                    for f in &g.families {
                        if !self.gr.stale.contains(&f.afi_safi) {
                            self.gr.stale.push(f.afi_safi);
                        }
                    }
                    self.gr.retained = g.families.clone();
                    self.push_event(SessionEvent::Down {
                        reason,
                        graceful_restart: Some(g.restart_time),
                    });
                }
                None => {
                    self.gr = Default::default();
                    self.push_event(SessionEvent::Down {
                        reason,
                        graceful_restart: None,
                    });
                }
            }
        }
        if self.conns.is_empty() {
            if !self.admin_up {
                self.base = State::Idle;
            } else if self.connecting.is_some() {
                self.base = State::Connect;
            } else {
                self.base = State::Idle;
                if error {
                    self.stats.connect_retry_counter += 1;
                }
                // Restart after the IdleHoldTimer, doubling per consecutive failure.
                let shift = self.failures.min(6);
                self.failures = self.failures.saturating_add(1);
                let base = (self.config.idle_hold * (1u32 << shift))
                    .min(self.config.connect_retry.max(self.config.idle_hold));
                let j = self.rng.jitter(base);
                self.idle_hold = Some(now + j);
                self.connect_retry = None;
            }
        }
    }
}
