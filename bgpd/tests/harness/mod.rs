//! Two session cores joined by byte pipes in virtual time (quinn-proto style): no sockets, no
//! clock; every step happens at an explicit `Millis`.
#![allow(dead_code)]

pub mod daemon;
pub mod messages;
pub mod speakers;

use bgpd::session::{ConnId, Event, Output, Session, SessionConfig, SessionEvent, State};
use bgpd::time::Millis;
use bgpd::wire::{Asn, HoldTime, RouterId};
use std::collections::VecDeque;
use std::time::Duration;

/// Settings for a test neighbour.
pub fn config(local_as: u32, id: [u8; 4], remote_as: u32, remote: [u8; 4]) -> SessionConfig {
    SessionConfig {
        local_as: Asn(local_as),
        router_id: RouterId(id.into()),
        remote_as: Asn(remote_as),
        remote_address: std::net::IpAddr::from(remote),
        passive: false,
        hold_time: HoldTime::DEFAULT,
        keepalive: None,
        connect_retry: Duration::from_secs(120),
        idle_hold: Duration::from_secs(5),
        families: vec![bgpd::wire::AfiSafi::IPV4_UNICAST],
        graceful_restart: true,
        restart_time: Duration::from_secs(120),
        stale_time: Duration::from_secs(360),
        extended_message: true,
        required_capabilities: Vec::new(),
    }
}

/// One side of the pair and what it did.
#[derive(Debug)]
pub struct Side {
    pub s: Session,
    pub events: Vec<(Millis, SessionEvent)>,
    pub sent: Vec<(Millis, ConnId, Vec<u8>)>,
}

#[derive(Debug)]
struct Link {
    ends: [ConnId; 2],
    open: bool,
}

/// Two sessions, side 0 and side 1, wired together.
#[derive(Debug)]
pub struct Pair {
    pub now: Millis,
    pub sides: [Side; 2],
    links: Vec<Link>,
    next_incoming: u64,
    /// Bytes sent by side i are lost (the other side hears nothing).
    pub cut: [bool; 2],
    /// Connection attempts by side i fail.
    pub refuse: [bool; 2],
    queue: VecDeque<(usize, Output)>,
}

impl Pair {
    pub fn new(a: SessionConfig, b: SessionConfig) -> Self {
        let side = |c, seed| Side {
            s: Session::new(c, seed),
            events: Vec::new(),
            sent: Vec::new(),
        };
        Pair {
            now: Millis::ZERO,
            sides: [side(a, 1), side(b, 2)],
            links: Vec::new(),
            next_incoming: 1,
            cut: [false; 2],
            refuse: [false; 2],
            queue: VecDeque::new(),
        }
    }

    /// The standard eBGP pair: side 0 AS 65001 id 192.0.2.1, side 1 AS 65002 id 192.0.2.2.
    pub fn ebgp() -> Self {
        Pair::new(
            config(65001, [192, 0, 2, 1], 65002, [192, 0, 2, 2]),
            config(65002, [192, 0, 2, 2], 65001, [192, 0, 2, 1]),
        )
    }

    pub fn event(&mut self, side: usize, e: Event, conn: Option<ConnId>) {
        self.sides[side].s.handle_event(self.now, e, conn);
        self.settle();
    }

    /// Starts both: side 0 active, side 1 passive (ManualStart_with_PassiveTcpEstablishment).
    pub fn establish(&mut self) {
        self.event(1, Event::ManualStart_with_PassiveTcpEstablishment, None);
        self.event(0, Event::ManualStart, None);
    }

    fn peer_of(&self, side: usize, conn: ConnId) -> Option<(usize, ConnId, usize)> {
        self.links.iter().enumerate().find_map(|(i, l)| {
            if !l.open {
                return None;
            }
            if side == 0 && l.ends[0] == conn {
                Some((1, l.ends[1], i))
            } else if side == 1 && l.ends[1] == conn {
                Some((0, l.ends[0], i))
            } else {
                None
            }
        })
    }

    /// Delivers every output until both sides are quiet.
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            for i in 0..2 {
                while let Some(o) = self.sides[i].s.poll_output() {
                    self.queue.push_back((i, o));
                }
            }
            let Some((side, o)) = self.queue.pop_front() else {
                return;
            };
            let now = self.now;
            let other = 1 - side;
            match o {
                Output::Connect { conn } => {
                    if self.refuse[side] {
                        self.sides[side]
                            .s
                            .handle_event(now, Event::TcpConnectionFails, Some(conn));
                        continue;
                    }
                    let inc = ConnId::incoming(self.next_incoming);
                    self.next_incoming += 1;
                    let mut ends = [conn, inc];
                    if side == 1 {
                        ends = [inc, conn];
                    }
                    self.links.push(Link { ends, open: true });
                    self.sides[other]
                        .s
                        .handle_event(now, Event::TcpConnectionConfirmed, Some(inc));
                    self.sides[side]
                        .s
                        .handle_event(now, Event::Tcp_CR_Acked, Some(conn));
                }
                Output::Transmit { conn, bytes } => {
                    self.sides[side].sent.push((now, conn, bytes.clone()));
                    if self.cut[side] {
                        continue;
                    }
                    if let Some((o, oc, _)) = self.peer_of(side, conn) {
                        self.sides[o].s.handle_bytes(now, oc, &bytes);
                    }
                }
                Output::Close { conn } => {
                    if let Some((o, oc, l)) = self.peer_of(side, conn) {
                        self.links[l].open = false;
                        self.sides[o]
                            .s
                            .handle_event(now, Event::TcpConnectionFails, Some(oc));
                    }
                }
                Output::Event(e) => self.sides[side].events.push((now, e)),
            }
        }
        panic!("the pair did not settle");
    }

    /// Advances virtual time to `t`, firing every timer on the way at its deadline.
    pub fn advance_to(&mut self, t: Millis) {
        self.settle();
        loop {
            let next = self.sides.iter().filter_map(|s| s.s.poll_timeout()).min();
            match next {
                Some(d) if d <= t => {
                    self.now = self.now.max(d);
                    for i in 0..2 {
                        self.sides[i].s.handle_timeout(self.now);
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = t;
        self.settle();
    }

    pub fn state(&self, side: usize) -> State {
        self.sides[side].s.state()
    }

    /// Forgets every connection without telling either side (a side was replaced by a fresh
    /// session: its old sockets are gone, the other side has not noticed yet).
    pub fn forget_links(&mut self) {
        for l in &mut self.links {
            l.open = false;
        }
    }

    /// The connections that are still open between the two.
    pub fn open_links(&self) -> Vec<[ConnId; 2]> {
        self.links
            .iter()
            .filter(|l| l.open)
            .map(|l| l.ends)
            .collect()
    }

    /// Sends raw bytes from side `side` on its established connection, bypassing its session.
    pub fn inject(&mut self, side: usize, bytes: &[u8]) {
        let conn = self.sides[side].s.established_conn().expect("established");
        let (o, oc, _) = self.peer_of(side, conn).expect("link");
        self.sides[o].s.handle_bytes(self.now, oc, bytes);
        self.settle();
    }

    pub fn events(&self, side: usize) -> Vec<SessionEvent> {
        self.sides[side]
            .events
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// A single session driven by a scripted raw peer: the session's outputs are collected.
pub struct Raw {
    pub s: Session,
    pub now: Millis,
    pub conn: ConnId,
    pub sent: Vec<u8>,
    pub events: Vec<SessionEvent>,
    pub closed: bool,
}

impl Raw {
    /// The session (AS 65001, 192.0.2.1) started passive and handed an incoming connection.
    pub fn new(cfg: SessionConfig) -> Self {
        let mut s = Session::new(cfg, 9);
        s.handle_event(
            Millis::ZERO,
            Event::ManualStart_with_PassiveTcpEstablishment,
            None,
        );
        let conn = ConnId::incoming(1);
        s.handle_event(Millis::ZERO, Event::TcpConnectionConfirmed, Some(conn));
        let mut r = Raw {
            s,
            now: Millis::ZERO,
            conn,
            sent: Vec::new(),
            events: Vec::new(),
            closed: false,
        };
        r.drain();
        r
    }

    pub fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            match o {
                Output::Transmit { conn, bytes } if conn == self.conn => {
                    self.sent.extend_from_slice(&bytes)
                }
                Output::Close { conn } if conn == self.conn => self.closed = true,
                Output::Event(e) => self.events.push(e),
                _ => {}
            }
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.s.handle_bytes(self.now, self.conn, bytes);
        self.drain();
    }

    pub fn at(&mut self, t: Millis) {
        self.now = t;
        self.s.handle_timeout(t);
        self.drain();
    }

    /// The messages the session sent so far, decoded.
    pub fn sent_messages(&self) -> Vec<bgpd::wire::Message> {
        let mut out = Vec::new();
        let mut b = &self.sent[..];
        let ctx = bgpd::wire::SessionContext::modern();
        while b.len() >= 19 {
            let n = bgpd::wire::frame(b, &ctx).expect("frame").expect("len");
            let d = bgpd::wire::decode_message(&b[..n], &ctx);
            out.push(d.message.expect("message"));
            b = &b[n..];
        }
        out
    }

    /// The last NOTIFICATION sent, as (code, subcode, data).
    pub fn notification(&self) -> Option<(u8, u8, Vec<u8>)> {
        self.sent_messages()
            .into_iter()
            .rev()
            .find_map(|m| match m {
                bgpd::wire::Message::Notification(n) => Some((n.code, n.subcode, n.data)),
                _ => None,
            })
    }
}
