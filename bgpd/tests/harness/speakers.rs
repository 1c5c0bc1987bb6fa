//! Two speakers joined by byte pipes in virtual time; every input each one receives is
//! logged, so a run can be replayed into fresh instances.

use bgpd::config::Config;
use bgpd::rib::FibChange;
use bgpd::session::{ConnId, Direction};
use bgpd::speaker::{Input, Output, PeerId, Speaker, SpeakerEvent};
use bgpd::time::Millis;
use std::collections::VecDeque;
use std::net::IpAddr;

/// One step of a speaker's life: an input, or a timer check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `handle(now, input)`.
    Input(Millis, Input),
    /// `handle_timeout(now)`.
    Timeout(Millis),
}

/// Applies a step and returns the outputs it produced.
pub fn apply(s: &mut Speaker, step: &Step) -> Vec<Output> {
    match step {
        Step::Input(t, i) => s.handle(*t, i.clone()),
        Step::Timeout(t) => s.handle_timeout(*t),
    }
    std::iter::from_fn(|| s.poll_output()).collect()
}

/// The configuration of a test speaker: one eBGP neighbour, everything accepted both ways.
pub fn speaker_config(
    id: &str,
    asn: u32,
    peer: &str,
    peer_as: u32,
    networks: &[&str],
    extra: &str,
) -> Config {
    let mut s = format!(
        "router_id = \"{id}\"\nlocal_as = {asn}\n[fib]\nenabled = true\n\
         [policy.policies.all]\ndefault = \"accept\"\n\
         [[neighbor]]\naddress = \"{peer}\"\nremote_as = {peer_as}\n\
         local_address = \"{id}\"\nimport = [\"all\"]\nexport = [\"all\"]\n{extra}\n"
    );
    for n in networks {
        s.push_str(&format!("[[network]]\nprefix = \"{n}\"\n"));
    }
    Config::from_toml_str(&s).expect("test config")
}

/// A speaker and its history.
#[derive(Debug)]
pub struct Node {
    pub s: Speaker,
    pub address: IpAddr,
    pub log: Vec<Step>,
    pub outputs: Vec<(Millis, Output)>,
    /// The Loc-RIB changes for the kernel FIB taken after each step (all of them, unless
    /// [`Net::hold_fib`]).
    pub fib: Vec<(Millis, FibChange)>,
    pub initial: (Config, u64),
}

impl Node {
    pub fn events(&self) -> Vec<SpeakerEvent> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug)]
struct Link {
    ends: [ConnId; 2],
    open: bool,
}

/// Two speakers, each the other's neighbour `PeerId(0)`.
#[derive(Debug)]
pub struct Net {
    pub now: Millis,
    pub nodes: [Node; 2],
    links: Vec<Link>,
    next_incoming: u64,
    queue: VecDeque<(usize, Output)>,
    /// Drop everything node i sends.
    pub cut: [bool; 2],
    /// Leave node i's FIB changes in the speaker (the test takes them).
    pub hold_fib: [bool; 2],
}

impl Net {
    pub fn new(a: Config, b: Config) -> Self {
        let mk = |c: Config, seed: u64| {
            let address = c.router_id().0.into();
            let s = Speaker::new(Millis::ZERO, c.clone(), seed).expect("speaker");
            Node {
                s,
                address,
                log: Vec::new(),
                outputs: Vec::new(),
                fib: Vec::new(),
                initial: (c, seed),
            }
        };
        let mut n = Net {
            now: Millis::ZERO,
            nodes: [mk(a, 11), mk(b, 22)],
            links: Vec::new(),
            next_incoming: 1,
            queue: VecDeque::new(),
            cut: [false; 2],
            hold_fib: [false; 2],
        };
        n.settle();
        n
    }

    pub fn step(&mut self, node: usize, step: Step) {
        let outs = apply(&mut self.nodes[node].s, &step);
        if !self.hold_fib[node] {
            let t = match step {
                Step::Input(t, _) | Step::Timeout(t) => t,
            };
            let n = &mut self.nodes[node];
            n.fib
                .extend(n.s.take_fib_changes(usize::MAX).into_iter().map(|c| (t, c)));
        }
        self.nodes[node].log.push(step);
        for o in outs {
            self.queue.push_back((node, o));
        }
    }

    pub fn input(&mut self, node: usize, i: Input) {
        self.step(node, Step::Input(self.now, i));
        self.settle();
    }

    fn peer_of(&self, node: usize, conn: ConnId) -> Option<(ConnId, usize)> {
        self.links
            .iter()
            .enumerate()
            .find(|(_, l)| l.open && l.ends[node] == conn)
            .map(|(i, l)| (l.ends[1 - node], i))
    }

    pub fn settle(&mut self) {
        for i in 0..2 {
            while let Some(o) = self.nodes[i].s.poll_output() {
                self.queue.push_back((i, o));
            }
        }
        for _ in 0..1_000_000 {
            let Some((node, o)) = self.queue.pop_front() else {
                return;
            };
            let now = self.now;
            self.nodes[node].outputs.push((now, o.clone()));
            let other = 1 - node;
            let peer = PeerId(0);
            match o {
                Output::Connect { conn, .. } => {
                    let inc = ConnId::incoming(self.next_incoming);
                    self.next_incoming += 1;
                    let mut ends = [conn, inc];
                    if node == 1 {
                        ends = [inc, conn];
                    }
                    self.links.push(Link { ends, open: true });
                    let (a_self, a_other) = (self.nodes[node].address, self.nodes[other].address);
                    self.step(
                        other,
                        Step::Input(
                            now,
                            Input::ConnectionConfirmed {
                                peer,
                                conn: inc,
                                local_address: a_other,
                            },
                        ),
                    );
                    self.step(
                        node,
                        Step::Input(
                            now,
                            Input::ConnectionConfirmed {
                                peer,
                                conn,
                                local_address: a_self,
                            },
                        ),
                    );
                }
                Output::Transmit { conn, bytes, .. } => {
                    if self.cut[node] {
                        continue;
                    }
                    if let Some((oc, _)) = self.peer_of(node, conn) {
                        self.step(
                            other,
                            Step::Input(
                                now,
                                Input::Bytes {
                                    peer,
                                    conn: oc,
                                    data: bytes,
                                },
                            ),
                        );
                    }
                }
                Output::Close { conn, .. } => {
                    if let Some((oc, l)) = self.peer_of(node, conn) {
                        self.links[l].open = false;
                        self.step(
                            other,
                            Step::Input(now, Input::ConnectionClosed { peer, conn: oc }),
                        );
                    }
                }
                Output::Event(_) => {}
            }
        }
        panic!("the network did not settle");
    }

    /// Advances virtual time to `t`, firing timers at their deadlines.
    pub fn advance_to(&mut self, t: Millis) {
        self.settle();
        loop {
            let next = self.nodes.iter().filter_map(|n| n.s.poll_timeout()).min();
            match next {
                Some(d) if d <= t => {
                    self.now = self.now.max(d);
                    for i in 0..2 {
                        self.step(i, Step::Timeout(self.now));
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = t;
    }

    /// The open connection between the two, as seen by node `i`.
    pub fn conn(&self, i: usize) -> Option<ConnId> {
        self.links.iter().find(|l| l.open).map(|l| l.ends[i])
    }

    /// Silently forgets every connection (node restarts).
    pub fn forget_links(&mut self) {
        for l in &mut self.links {
            l.open = false;
        }
    }
}

/// Whether the connection was opened by us.
pub fn outgoing(c: ConnId) -> bool {
    c.direction() == Direction::Outgoing
}
