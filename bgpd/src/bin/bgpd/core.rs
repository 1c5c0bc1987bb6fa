//! The core task: owns the [`Speaker`], receives every input as a [`CoreMsg`], and carries
//! out the speaker's outputs (connections, writes, FIB changes, events).

use crate::fibbridge::{FibBridge, FibStart, INSTALLS_PER_APPLY};
use crate::fibconverge::{Convergence, NeighbourView};
use crate::ha_primary::{self, FlowIo, PrimarySide};
use crate::ha_standby::StandbySide;
use crate::net::{self, ConnectParams, WriterCmd};
use crate::view;
use anyhow::Context;
use bgpd::config::{Config, HaFibMode, HaRoleConfig, HaSection};
use bgpd::replica::SpeakerReplica;
use bgpd::session::{ConnId, DownReason, SessionEvent, State};
use bgpd::speaker::{AdminCommand, Input, Output, PeerId, Speaker, SpeakerEvent};
use bgpd::time::Millis;
use bgpd::wire::AfiSafi;
use proto::admin as pb;
use ribsync::checkpoint::{FlowChange, FlowId};
use ribsync::takeover::TcpRepairState;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Everything the core task is told.
#[derive(Debug)]
pub enum CoreMsg {
    /// A listener accepted a connection.
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
        local: SocketAddr,
    },
    /// An outgoing connection attempt finished.
    Connected {
        peer: PeerId,
        conn: ConnId,
        result: std::io::Result<TcpStream>,
    },
    /// Bytes read from a connection.
    Bytes {
        peer: PeerId,
        conn: ConnId,
        data: Vec<u8>,
        /// The reader's credit for these octets, given back when the message is dropped
        /// (handled); see [`net::READ_CREDIT`].
        credit: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    /// A connection was closed or failed.
    Closed { peer: PeerId, conn: ConnId },
    /// A replicated connection's TCP state, read by its writer (primary role).
    TcpState {
        peer: PeerId,
        conn: ConnId,
        state: Box<TcpRepairState>,
    },
    /// The standby took the primary's sessions over: serve them and become the primary.
    Promote(crate::takeover::TakeoverReport),
    /// Planned switchover (admin API): hand the sessions to a standby, then follow it.
    Switchover {
        to: Option<u32>,
        reply: oneshot::Sender<Result<pb::SwitchoverReply, tonic::Status>>,
    },
    /// An admin API request.
    Admin(AdminReq),
    /// Re-read the configuration file (SIGHUP or the admin API).
    Reload(Option<oneshot::Sender<Result<String, String>>>),
    /// The FIB writer reports failures.
    FibFailed(Vec<(bgpd::wire::Prefix, String)>),
    /// The FIB writer (its id) applied a piece of changes: room for the next.
    FibTaken(u64),
    /// Carry out the speaker's pending outputs now, then answer (the takeover's flush: the
    /// primary's egress seen so far is noted in what each neighbour holds).
    Flush(oneshot::Sender<()>),
    /// BGP listeners bound after the takeover by a retry ([`Core::listen_after_takeover`]).
    Listeners(Vec<tokio::task::JoinHandle<()>>),
    /// SIGTERM / SIGINT.
    Shutdown,
}

/// Admin API requests, answered by the core from the speaker's state.
#[derive(Debug)]
pub enum AdminReq {
    Info(oneshot::Sender<pb::GetInfoResponse>),
    Neighbors(oneshot::Sender<Vec<pb::Neighbor>>),
    Routes(
        pb::ListRoutesRequest,
        oneshot::Sender<Result<Vec<pb::Route>, tonic::Status>>,
    ),
    Command(AdminOp, oneshot::Sender<Result<String, tonic::Status>>),
    Ha(oneshot::Sender<crate::ha_status::HaProbe>),
}

/// Operator commands that change something.
#[derive(Debug)]
pub enum AdminOp {
    AddRoute {
        prefix: String,
        next_hop: String,
    },
    DeleteRoute {
        prefix: String,
    },
    Enable(String),
    Disable {
        address: String,
        communication: String,
    },
    Reset {
        address: String,
        kind: pb::ResetKind,
    },
}

/// How the daemon was started.
#[derive(Debug)]
pub struct Options {
    pub config_path: PathBuf,
    pub config: Config,
    pub admin: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    pub seed: Option<u64>,
}

/// A connection's reader and writer tasks.
pub struct ConnHandle {
    pub writer: mpsc::UnboundedSender<WriterCmd>,
    pub reader: tokio::task::JoinHandle<()>,
    /// The replicated flow this connection carries (primary role).
    pub flow: Option<FlowId>,
}

/// The node's part in non-stop routing.
#[derive(Debug)]
pub enum HaRuntime {
    /// No `[ha]` section.
    Standalone,
    /// Holds the sessions and serves checkpoints.
    Primary(PrimarySide),
    /// Follows a primary; acts on none of the speaker's outputs but FIB changes and events.
    Standby(StandbySide),
}

/// The last takeover this node carried out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TakeoverSummary {
    pub takeover_ms: f64,
    pub sessions: u32,
    pub failed: u32,
}

/// Per-neighbour facts the speaker does not keep (wall-clock uptime, last error).
#[derive(Default)]
pub struct PeerExtra {
    pub established_at: Option<Instant>,
    pub last_error: String,
}

/// The core task's state.
pub struct Core {
    /// The speaker, shared with the checkpoint engine (primary or standby).
    pub rep: Arc<Mutex<SpeakerReplica>>,
    pub started: Instant,
    /// Replicated time 0, milliseconds since the Unix epoch (a standby takes its primary's).
    clock_base_ms: u64,
    config_path: PathBuf,
    tx: mpsc::UnboundedSender<CoreMsg>,
    pub conns: HashMap<(PeerId, ConnId), ConnHandle>,
    /// The speaker's jitter seed (a fresh speaker after a switchover gets the same).
    seed: u64,
    /// The BGP listeners' accept tasks (none on a standby).
    listeners: Vec<tokio::task::JoinHandle<()>>,
    next_incoming: u64,
    pub extra: BTreeMap<PeerId, PeerExtra>,
    events: broadcast::Sender<pb::Event>,
    fib: Option<FibBridge>,
    /// Until the speaker converges after start: the kernel FIB keeps the routes an earlier
    /// run left (adopt mode) and removes those nothing claims then.
    fib_convergence: Option<Convergence>,
    /// The speaker converged (why, for the log); the writer is told once it has been handed
    /// every change the speaker holds for it.
    fib_converged: Option<&'static str>,
    /// The FIB writer writes nothing until the takeover (a standby sharing the primary's
    /// kernel, `[ha] fib = "adopt"`).
    fib_held: bool,
    /// The role and its handles.
    pub ha: HaRuntime,
    /// The `[ha]` section this node was started with.
    pub ha_config: Option<HaSection>,
    pub last_takeover: Option<TakeoverSummary>,
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn seed_of(config: &Config) -> u64 {
    u64::from(u32::from(config.router_id().0)) << 32 | u64::from(config.local_as)
}

/// How long a taken-over node keeps trying to bind its BGP listeners.
const LISTEN_RETRY: Duration = Duration::from_secs(5);

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let clock_base_ms = unix_ms();
    let seed = opts.seed.unwrap_or_else(|| seed_of(&opts.config));
    let speaker = Speaker::new(Millis(0), opts.config.clone(), seed)
        .map_err(|e| anyhow::anyhow!("configuration refused by the speaker: {e}"))?;
    let rep = Arc::new(Mutex::new(SpeakerReplica::new(
        speaker,
        seed,
        clock_base_ms,
    )));
    let (tx, mut rx) = mpsc::unbounded_channel::<CoreMsg>();
    let (events, _) = broadcast::channel(4096);
    let ha_config = opts.config.ha.clone();
    let standby = ha_config
        .as_ref()
        .is_some_and(|h| h.role == HaRoleConfig::Standby);

    if ha_config
        .as_ref()
        .is_some_and(|h| h.role == HaRoleConfig::Primary)
    {
        ha_primary::refuse_if_sessions_held(&opts.config).await?;
    }

    // Listeners (a standby listens only once it has taken over).
    let listeners = if standby {
        Vec::new()
    } else {
        start_listeners(&opts.config, &tx, false)?
    };

    // The kernel FIB: an earlier run's routes are adopted (kept forwarding) until the
    // speaker converges; a standby sharing the primary's kernel leaves it to the primary.
    let fib_held = standby
        && ha_config
            .as_ref()
            .is_some_and(|h| h.fib == HaFibMode::Adopt);
    let fib_start = if fib_held {
        FibStart::Held
    } else {
        FibStart::Adopt(opts.config.fib.convergence_timeout())
    };
    let fib = if opts.config.fib.enabled {
        Some(
            FibBridge::start(&opts.config.fib, fib_start, tx.clone())
                .context("cannot open the kernel FIB")?,
        )
    } else {
        None
    };
    let fib_convergence = match fib_start {
        FibStart::Adopt(timeout) if fib.is_some() => {
            Some(Convergence::new(Instant::now() + timeout))
        }
        _ => None,
    };

    // Admin API and metrics.
    let admin_addr = opts.admin.unwrap_or(opts.config.admin_address);
    let admin_tls = opts.config.admin_tls.as_ref();
    crate::admin::spawn(admin_addr, admin_tls, tx.clone(), events.clone())
        .await
        .with_context(|| format!("cannot serve the admin API on {admin_addr}"))?;
    tracing::info!(address = %admin_addr, tls = admin_tls.is_some(), "admin API listening");
    let metrics = match opts.metrics {
        Some(addr) => Some(crate::metrics::Metrics::start(addr)?),
        None => None,
    };

    // Replication.
    let ha = match &ha_config {
        None => HaRuntime::Standalone,
        Some(h) if h.role == HaRoleConfig::Primary => {
            HaRuntime::Primary(ha_primary::start(h, rep.clone()).await?)
        }
        Some(_) => HaRuntime::Standby(crate::ha_standby::start(
            opts.config.clone(),
            rep.clone(),
            tx.clone(),
        )?),
    };

    // Signals.
    spawn_signals(tx.clone())?;

    let mut core = Core {
        rep,
        started,
        clock_base_ms,
        config_path: opts.config_path,
        tx,
        conns: HashMap::new(),
        seed,
        listeners,
        next_incoming: 1,
        extra: BTreeMap::new(),
        events,
        fib,
        fib_convergence,
        fib_converged: None,
        fib_held,
        ha,
        ha_config,
        last_takeover: None,
    };
    core.drain();
    let mut metrics_tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        let deadline = if core.is_standby() {
            // Follow what the checkpoint engine feeds the speaker (FIB, events).
            Some(Instant::now() + Duration::from_millis(100))
        } else {
            let t = core.lock().speaker().poll_timeout();
            t.map(|m| core.instant_of(m))
        };
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                let mut next = Some(msg);
                // Take whatever else is queued before polling outputs: fewer, larger writes.
                while let Some(m) = next {
                    match m {
                        CoreMsg::Shutdown => {
                            core.shutdown().await;
                            return Ok(());
                        }
                        CoreMsg::Promote(report) => core.promote(report).await,
                        CoreMsg::Switchover { to, reply } => {
                            let r = crate::switchover::run(&mut core, to).await;
                            if let Err(e) = &r {
                                tracing::warn!("{}", e.message());
                            }
                            let _ = reply.send(r);
                        }
                        m => core.on_msg(m),
                    }
                    next = rx.try_recv().ok();
                }
            }
            _ = sleep => {
                if !core.is_standby() {
                    let now = core.now();
                    core.lock().speaker_mut().handle_timeout(now);
                }
            }
            _ = metrics_tick.tick(), if metrics.is_some() => {
                if let Some(m) = &metrics { m.update(&core); }
            }
        }
        core.drain();
    }
    Ok(())
}

/// Listens on every `listen_addresses` for BGP connections; returns the accept tasks.
fn start_listeners(
    config: &Config,
    tx: &mpsc::UnboundedSender<CoreMsg>,
    freebind: bool,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let md5: Vec<(IpAddr, String)> = config
        .neighbors
        .iter()
        .filter_map(|n| n.md5_password.clone().map(|p| (n.address, p)))
        .collect();
    for addr in &config.listen_addresses {
        let sa = SocketAddr::new(*addr, config.port);
        let listener = match net::listen(sa, &md5, freebind) {
            Ok(l) => l,
            Err(e) => {
                // All or nothing: a retry binds them all again.
                tasks.iter().for_each(tokio::task::JoinHandle::abort);
                return Err(e).with_context(|| format!("cannot listen on {sa}"));
            }
        };
        tracing::info!(address = %sa, "listening for BGP connections");
        tasks.push(tokio::spawn(net::accept_loop(listener, tx.clone())));
    }
    Ok(tasks)
}

fn spawn_signals(tx: mpsc::UnboundedSender<CoreMsg>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => { let _ = tx.send(CoreMsg::Reload(None)); }
                _ = term.recv() => { let _ = tx.send(CoreMsg::Shutdown); return; }
                _ = int.recv() => { let _ = tx.send(CoreMsg::Shutdown); return; }
            }
        }
    });
    Ok(())
}

impl Core {
    /// The speaker (and its flows). Never hold the guard across an await or a call that
    /// locks again.
    pub fn lock(&self) -> MutexGuard<'_, SpeakerReplica> {
        self.rep.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while this node follows a primary.
    pub fn is_standby(&self) -> bool {
        matches!(self.ha, HaRuntime::Standby(_))
    }

    /// The replicated clock: milliseconds since replicated time 0 (the daemon's start, or
    /// the primary's start on a standby that took over).
    pub fn now(&self) -> Millis {
        Millis(unix_ms().saturating_sub(self.clock_base_ms))
    }

    fn instant_of(&self, m: Millis) -> Instant {
        Instant::now() + Duration::from_millis(m.0.saturating_sub(self.now().0))
    }

    fn on_msg(&mut self, msg: CoreMsg) {
        let now = self.now();
        match msg {
            CoreMsg::Accepted {
                stream,
                remote,
                local,
            } => {
                let remote_ip = remote.ip().to_canonical();
                let (peer, ttl_security) = {
                    let g = self.lock();
                    let peer = g.speaker().peer_by_address(remote_ip);
                    let hops = peer.and_then(|p| g.speaker().neighbor(p)?.ttl_security);
                    (peer, hops)
                };
                let Some(peer) = peer else {
                    tracing::warn!(%remote, "connection from an address that is not a configured neighbour: closed");
                    return;
                };
                if let Some(hops) = ttl_security {
                    if let Err(e) = net::accept_gtsm(&stream, hops) {
                        tracing::warn!(%remote, "GTSM: {e}");
                    }
                }
                let conn = ConnId::incoming(self.next_incoming);
                self.next_incoming += 1;
                tracing::debug!(neighbor = %remote_ip, conn = conn.0, "incoming connection");
                self.register(peer, conn, stream);
                self.lock().speaker_mut().handle(
                    now,
                    Input::ConnectionConfirmed {
                        peer,
                        conn,
                        local_address: local.ip().to_canonical(),
                    },
                );
            }
            CoreMsg::Connected { peer, conn, result } => match result {
                Ok(stream) => {
                    let local = stream.local_addr().map(|a| a.ip().to_canonical());
                    match local {
                        Ok(local_address) => {
                            self.register(peer, conn, stream);
                            self.lock().speaker_mut().handle(
                                now,
                                Input::ConnectionConfirmed {
                                    peer,
                                    conn,
                                    local_address,
                                },
                            );
                        }
                        Err(e) => {
                            tracing::warn!(peer = peer.0, "connected socket has no address: {e}");
                            self.lock()
                                .speaker_mut()
                                .handle(now, Input::ConnectionClosed { peer, conn });
                        }
                    }
                }
                Err(e) => {
                    let addr = self.peer_address(peer);
                    let text = format!("connect failed: {e}");
                    tracing::info!(neighbor = %addr, "{text}");
                    self.extra.entry(peer).or_default().last_error = text;
                    self.lock()
                        .speaker_mut()
                        .handle(now, Input::ConnectionClosed { peer, conn });
                }
            },
            CoreMsg::Bytes {
                peer,
                conn,
                data,
                credit: _credit,
            } => {
                let Some(h) = self.conns.get(&(peer, conn)) else {
                    return;
                };
                match (h.flow, &self.ha) {
                    (Some(flow), HaRuntime::Primary(p)) => {
                        let offset = {
                            let mut g = self.lock();
                            let offset = g.received(&flow);
                            if let Err(e) = g.receive(now, &flow, &data) {
                                tracing::warn!(%flow, "replica refused bytes: {e}");
                            }
                            offset
                        };
                        if let Some(offset) = offset {
                            let _ = p.handle.on_ingress(flow, offset, data);
                        }
                    }
                    // A taken-over flow without standbys of its own: still through the
                    // replica, which holds the part of a message cut off at the takeover.
                    (Some(flow), _) => {
                        if let Err(e) = self.lock().receive(now, &flow, &data) {
                            tracing::warn!(%flow, "replica refused bytes: {e}");
                        }
                    }
                    _ => self
                        .lock()
                        .speaker_mut()
                        .handle(now, Input::Bytes { peer, conn, data }),
                }
            }
            CoreMsg::Closed { peer, conn } => {
                if let Some(h) = self.conns.remove(&(peer, conn)) {
                    // The neighbour closed a connection the session still holds, before it
                    // was Established and without a NOTIFICATION (one would have dropped
                    // the connection already): nothing else says why the session failed.
                    let state = self.lock().speaker().session(peer).and_then(|s| {
                        s.connections()
                            .into_iter()
                            .find(|(c, _)| *c == conn)
                            .map(|(_, st)| st)
                    });
                    if let Some(st) = state.filter(|st| *st != State::Established) {
                        let text = format!(
                            "connection closed by the neighbour in {} (no NOTIFICATION)",
                            st.name()
                        );
                        tracing::warn!(neighbor = %self.peer_address(peer), "{text}");
                        self.extra.entry(peer).or_default().last_error = text;
                    }
                    h.reader.abort();
                    let _ = h.writer.send(WriterCmd::Close);
                    self.end_flow(h.flow);
                    self.lock()
                        .speaker_mut()
                        .handle(now, Input::ConnectionClosed { peer, conn });
                }
            }
            CoreMsg::TcpState { peer, conn, state } => {
                if let Some(flow) = self.conns.get(&(peer, conn)).and_then(|h| h.flow) {
                    self.lock().set_tcp(&flow, *state);
                }
            }
            CoreMsg::Promote(_) => {}
            CoreMsg::Switchover { reply, .. } => {
                let _ = reply.send(Err(tonic::Status::internal("switchover not run")));
            }
            CoreMsg::Admin(req) => crate::admin::answer(self, req),
            CoreMsg::Reload(reply) => {
                let r = self.reload();
                match &r {
                    Ok(m) => tracing::info!("{m}"),
                    Err(e) => tracing::error!("reload refused: {e}"),
                }
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            CoreMsg::FibFailed(v) => {
                let mut g = self.lock();
                for (prefix, error) in v {
                    g.speaker_mut()
                        .handle(now, Input::FibFailed { prefix, error });
                }
            }
            CoreMsg::FibTaken(id) => {
                if let Some(fib) = &mut self.fib {
                    fib.taken(id);
                }
                // The next piece at once: under a full table the messages queued before this
                // one keep the core from draining for a while, and the writer would idle.
                self.feed_fib();
            }
            CoreMsg::Flush(done) => {
                self.drain();
                let _ = done.send(());
            }
            CoreMsg::Listeners(l) => {
                if self.is_standby() {
                    // Demoted meanwhile: a standby listens for nothing.
                    l.iter().for_each(tokio::task::JoinHandle::abort);
                } else {
                    self.listeners.extend(l);
                }
            }
            CoreMsg::Shutdown => {}
        }
    }

    fn reload(&mut self) -> Result<String, String> {
        if self.is_standby() {
            return Err("a standby takes its configuration from the primary".into());
        }
        let config = crate::load_config(&self.config_path)
            .map_err(|e| format!("{e:#} (the old configuration is kept)"))?;
        let now = self.now();
        let mut g = self.lock();
        let before = g.speaker().peers().len();
        // The metrics endpoint (like admin_address) is bound once, at start.
        let restart = restart_only_changes(g.speaker().config(), &config);
        let identity = identity_change(g.speaker().config(), &config);
        g.speaker_mut().handle(now, Input::Config(Box::new(config)));
        let mut msg = format!(
            "configuration reloaded from {} ({} neighbours before, {} now)",
            self.config_path.display(),
            before,
            g.speaker().peers().len()
        );
        if let Some(what) = identity {
            let text = format!(
                "{what} changed: every session was restarted (its counters start again); \
                 routes added with `understudy route add` are kept"
            );
            tracing::warn!("reload: {text}");
            msg.push_str(&format!("; {text}"));
        }
        if !restart.is_empty() {
            tracing::warn!("reload: {restart} changed: takes effect only when bgpd restarts");
            msg.push_str(&format!(
                "; {restart} changed: takes effect only when bgpd restarts"
            ));
        }
        Ok(msg)
    }

    /// Runs an admin command through the speaker.
    pub fn command(&mut self, cmd: AdminCommand) {
        let now = self.now();
        self.lock().speaker_mut().handle(now, Input::Admin(cmd));
    }

    /// A new connection: on a primary it becomes a replicated flow (bound at offset 0,
    /// anchored at the socket's sequence numbers, peeked before anything is read).
    fn register(&mut self, peer: PeerId, conn: ConnId, stream: TcpStream) {
        let flow = match &self.ha {
            HaRuntime::Primary(_) => match ha_primary::flow_of(&stream) {
                Ok(flow) => {
                    let peeked = ribsync::takeover::peek_live_socket(stream.as_fd());
                    let mut g = self.lock();
                    g.bind_flow(flow, peer, conn);
                    match peeked {
                        Ok(state) => {
                            g.set_anchor(&flow, ha_primary::anchor_of(&state));
                            g.set_tcp(&flow, state);
                        }
                        Err(e) => {
                            tracing::warn!(%flow, "cannot read the TCP state (a standby cannot follow this session): {e}")
                        }
                    }
                    Some(flow)
                }
                Err(e) => {
                    tracing::warn!(peer = peer.0, "connection without addresses: {e}");
                    None
                }
            },
            _ => None,
        };
        self.attach_io(peer, conn, stream, flow);
    }

    /// Starts the reader and writer of a connection.
    fn attach_io(&mut self, peer: PeerId, conn: ConnId, stream: TcpStream, flow: Option<FlowId>) {
        let io = match (&self.ha, flow) {
            (HaRuntime::Primary(p), Some(flow)) => Some(FlowIo {
                flow,
                primary: p.handle.clone(),
                latency: p.latency.clone(),
            }),
            _ => None,
        };
        let (writer, reader) = net::spawn_io(stream, peer, conn, self.tx.clone(), io);
        self.conns.insert(
            (peer, conn),
            ConnHandle {
                writer,
                reader,
                flow,
            },
        );
    }

    /// A replicated flow ended: the standbys forget it.
    fn end_flow(&mut self, flow: Option<FlowId>) {
        let Some(flow) = flow else { return };
        self.lock().unbind_flow(&flow);
        if let HaRuntime::Primary(p) = &self.ha {
            let _ = p.handle.on_flow_change(flow, FlowChange::Ended);
        }
    }

    /// The takeover finished: serve the taken-over sessions and become the primary (its
    /// own checkpoint service, listeners, timers and outputs).
    async fn promote(&mut self, report: crate::takeover::TakeoverReport) {
        let standby = match std::mem::replace(&mut self.ha, HaRuntime::Standalone) {
            HaRuntime::Standby(s) => s,
            other => {
                self.ha = other;
                tracing::warn!("a takeover report on a node that is not a standby: ignored");
                return;
            }
        };
        standby.stop_mirror();
        // The sessions' timers are on the primary's clock.
        let base = self.lock().clock_base_ms();
        self.clock_base_ms = base;
        if let Some(h) = self
            .ha_config
            .clone()
            .filter(|h| h.checkpoint_address.is_some())
        {
            // After a switchover the old primary's service may still hold the address
            // for a moment (same host, or the old primary that hands back at failback).
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                match ha_primary::start(&h, self.rep.clone()).await {
                    Ok(p) => self.ha = HaRuntime::Primary(p),
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!("checkpoint service not up yet: {e:#}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::error!("cannot serve checkpoints after the takeover: {e:#}")
                    }
                }
                break;
            }
        }
        let (sessions, failed) = (report.sessions.len(), report.failed.len());
        // The primary's KEEPALIVEs since each flow's checkpoint, and the takeover's own.
        for s in &report.sessions {
            let mut g = self.lock();
            let n = crate::takeover::primary_messages_out(&g, &standby.ledger(), s.peer);
            g.speaker_mut().count_messages_out(s.peer, n + 1);
        }
        for s in report.sessions {
            let stream = s
                .stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(s.stream));
            match stream {
                Ok(stream) => {
                    self.lock().set_sent_offset(&s.flow, s.sent_offset);
                    self.attach_io(s.peer, s.conn, stream, Some(s.flow));
                    // The Adj-RIB-Out difference, before anything the speaker sends.
                    if !s.difference.is_empty() {
                        let offset = self.lock().note_sent(&s.flow, s.difference.len() as u64);
                        if let Some(h) = self.conns.get(&(s.peer, s.conn)) {
                            let _ = h.writer.send(WriterCmd::Bytes(s.difference, offset));
                        }
                    }
                }
                Err(e) => tracing::error!(flow = %s.flow, "taken-over socket unusable: {e}"),
            }
        }
        for (flow, why) in &report.failed {
            tracing::warn!(%flow, "not taken over: {why}");
        }
        let config = self.lock().speaker().config().clone();
        self.listen_after_takeover(&config);
        self.last_takeover = Some(TakeoverSummary {
            takeover_ms: report.takeover_ms,
            sessions: sessions as u32,
            failed: failed as u32,
        });
        self.take_over_fib();
        standby.takeover_done();
        // The old stream must not feed the live speaker any more (after a switchover the
        // old primary's service may still send a little).
        standby.shutdown();
        tracing::info!(
            sessions,
            failed,
            takeover_ms = report.takeover_ms,
            "ha: takeover complete"
        );
    }

    /// The kernel FIB at takeover. On a kernel shared with the primary (`[ha] fib =
    /// "adopt"`) the primary's routes are adopted and made the Loc-RIB's (only those that
    /// differ are touched, those nothing claims removed). With a FIB of its own kept warm in
    /// lockstep, the Loc-RIB is complete now: routes an earlier run of this node left and
    /// nothing claims are removed (if not done yet).
    fn take_over_fib(&mut self) {
        if self.fib_held && self.fib.is_none() {
            // Stopped when this node handed the sessions over (see `release_shared_fib`).
            let cfg = self.lock().speaker().config().fib.clone();
            if cfg.enabled {
                match FibBridge::start(&cfg, FibStart::Held, self.tx.clone()) {
                    Ok(b) => self.fib = Some(b),
                    Err(e) => tracing::error!("ha: cannot open the kernel FIB: {e:#}"),
                }
            }
        }
        let Some(fib) = &self.fib else { return };
        if std::mem::take(&mut self.fib_held) {
            let routes = {
                let mut g = self.lock();
                // The whole Loc-RIB covers every change pending.
                g.speaker_mut().discard_fib_changes();
                g.speaker().rib().fib_routes()
            };
            tracing::info!(
                routes = routes.len(),
                "ha: taking the kernel FIB over from the primary (adopt mode)"
            );
            fib.take_over(routes);
        } else if self.fib_convergence.take().is_some() {
            self.fib_converged = Some("takeover: the Loc-RIB followed the primary's");
        }
    }

    /// A switchover on a kernel shared with the standby (`[ha] fib = "adopt"`): before the
    /// session addresses go, this node's FIB writer stops (it would otherwise re-resolve the
    /// next hops when the addresses leave and come back, and rewrite the routes the new
    /// primary adopts). The routes stay; the new primary takes them over.
    pub async fn release_shared_fib(&mut self) {
        let shared = self
            .ha_config
            .as_ref()
            .is_some_and(|h| h.fib == HaFibMode::Adopt);
        if !shared {
            return;
        }
        self.drain();
        self.fib_convergence = None;
        self.fib_converged = None;
        if let Some(mut fib) = self.fib.take() {
            // The changes the speaker still holds go before the stop, as if the writer
            // had kept pace.
            loop {
                let (piece, loc_rib) = self.take_fib_piece();
                if piece.is_empty() {
                    break;
                }
                fib.submit(piece, loc_rib);
            }
            fib.stop().await;
            tracing::info!("ha: switchover: the kernel FIB is left to the new primary");
        }
    }

    /// The BGP listeners after a takeover. After a switchover on a shared host the old
    /// primary may hold the listening sockets a moment longer (it closes them when it
    /// follows this node): binding is retried in the background for [`LISTEN_RETRY`], every
    /// 100 ms, and the listeners reach the core as [`CoreMsg::Listeners`].
    fn listen_after_takeover(&mut self, config: &Config) {
        match start_listeners(config, &self.tx, true) {
            Ok(l) => self.listeners = l,
            Err(first) => {
                tracing::warn!(
                    "after the takeover: {first:#}; trying again for {} s",
                    LISTEN_RETRY.as_secs()
                );
                let (config, tx) = (config.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let deadline = Instant::now() + LISTEN_RETRY;
                    loop {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        match start_listeners(&config, &tx, true) {
                            Ok(l) => {
                                let _ = tx.send(CoreMsg::Listeners(l));
                                return;
                            }
                            Err(e) if Instant::now() >= deadline => {
                                tracing::error!("after the takeover: {e:#} (gave up)");
                                return;
                            }
                            Err(_) => {}
                        }
                    }
                });
            }
        }
    }

    /// After a planned switchover: this node follows the new primary as a standby with
    /// `ha` (role standby, `primary` its endpoint), with a fresh speaker that the new
    /// primary's checkpoints fill. The old sessions are already handed over.
    ///
    /// # Errors
    /// When the speaker cannot be rebuilt or the mirror tap cannot be opened.
    pub fn demote(&mut self, ha: HaSection) -> anyhow::Result<()> {
        for l in self.listeners.drain(..) {
            l.abort();
        }
        self.conns.clear();
        self.extra.clear();
        // On a kernel shared with the new primary, the FIB is its to write now.
        self.fib_held = ha.fib == HaFibMode::Adopt;
        self.fib_convergence = None;
        self.fib_converged = None;
        let mut config = self.lock().speaker().config().clone();
        config.ha = Some(ha.clone());
        let speaker = Speaker::new(Millis(0), config.clone(), self.seed)
            .map_err(|e| anyhow::anyhow!("configuration refused by the speaker: {e}"))?;
        self.rep = Arc::new(Mutex::new(SpeakerReplica::new(
            speaker,
            self.seed,
            self.clock_base_ms,
        )));
        self.ha = HaRuntime::Standby(crate::ha_standby::start(
            config,
            self.rep.clone(),
            self.tx.clone(),
        )?);
        self.ha_config = Some(ha);
        Ok(())
    }

    pub fn peer_address(&self, peer: PeerId) -> String {
        self.lock()
            .speaker()
            .neighbor(peer)
            .map(|n| n.address.to_string())
            .unwrap_or_else(|| format!("peer {}", peer.0))
    }

    /// Carries out every pending output of the speaker (a standby: FIB changes and events
    /// only; its copy of the sessions does not touch the network until takeover).
    pub fn drain(&mut self) {
        let outputs = self.lock().drain_outputs();
        let standby = self.is_standby();
        for out in outputs {
            match out {
                // Not sent before takeover: what each neighbour holds follows the primary's
                // egress instead (below).
                Output::Transmit { .. } if standby => {}
                Output::Connect { .. } | Output::Close { .. } if standby => {}
                Output::Connect { peer, conn } => self.connect(peer, conn),
                Output::Transmit { peer, conn, bytes } => {
                    if let Some(h) = self.conns.get(&(peer, conn)) {
                        let offset = h
                            .flow
                            .and_then(|f| self.lock().note_sent(&f, bytes.len() as u64));
                        let _ = h.writer.send(WriterCmd::Bytes(bytes, offset));
                    }
                }
                Output::Close { peer, conn } => {
                    if let Some(h) = self.conns.remove(&(peer, conn)) {
                        h.reader.abort();
                        let _ = h.writer.send(WriterCmd::Close);
                        self.end_flow(h.flow);
                    }
                }
                Output::Event(ev) => self.on_event(ev),
            }
        }
        if let HaRuntime::Standby(s) = &self.ha {
            crate::takeover::feed_all_primary_egress(&mut self.lock(), &mut s.ledger());
        }
        self.feed_fib();
        self.check_fib_convergence();
    }

    /// Hands the FIB writer pieces of the speaker's pending changes while it has room
    /// (flow control: the rest waits in the speaker, a prefix each).
    fn feed_fib(&mut self) {
        // Held: the primary writes this kernel's FIB; the takeover gives the whole state
        // (the held writer stays, for `take_over_fib`). No writer: nothing to write to.
        let Some(mut fib) = self.fib.take_if(|_| !self.fib_held) else {
            self.lock().speaker_mut().discard_fib_changes();
            return;
        };
        while fib.has_room() {
            let (piece, loc_rib) = self.take_fib_piece();
            if piece.is_empty() {
                break;
            }
            fib.submit(piece, loc_rib);
        }
        self.fib = Some(fib);
    }

    /// The next piece of the speaker's pending FIB changes (at most
    /// [`INSTALLS_PER_APPLY`] installs), with the Loc-RIB's size (IPv4, IPv6 prefixes).
    fn take_fib_piece(&mut self) -> (Vec<bgpd::rib::FibChange>, (usize, usize)) {
        let mut g = self.lock();
        let piece = g.take_fib_changes(INSTALLS_PER_APPLY);
        (piece, g.speaker().rib().loc_rib_lens())
    }

    /// Once the speaker has converged after start (End-of-RIB from every neighbour, or
    /// `[fib] convergence_timeout_secs`), the FIB writer removes the adopted routes that no
    /// best path claims, after every change submitted before.
    fn check_fib_convergence(&mut self) {
        self.check_convergence();
        // The writer takes the speaker's pending changes first (in order after the pieces
        // handed over): the routes they claim are not removed.
        if self.fib_converged.is_some() && self.lock().speaker().fib_pending() == (0, 0) {
            if let (Some(why), Some(fib)) = (self.fib_converged.take(), &self.fib) {
                fib.converged(why);
            }
        }
    }

    /// Whether the speaker converged after start ([`Core::fib_converged`] then).
    fn check_convergence(&mut self) {
        let Some(c) = &self.fib_convergence else {
            return;
        };
        let neighbours: Vec<NeighbourView> = {
            let g = self.lock();
            let sp = g.speaker();
            sp.peers()
                .into_iter()
                .map(|(peer, _, state)| {
                    let session = sp.session(peer);
                    NeighbourView {
                        peer,
                        admin_up: session.is_some_and(|s| s.admin_up()),
                        families: session
                            .and_then(|s| s.negotiated())
                            .filter(|_| state == State::Established)
                            .map(|n| {
                                [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
                                    .into_iter()
                                    .filter(|f| n.ctx.negotiated(*f))
                                    .collect()
                            }),
                    }
                })
                .collect()
        };
        if let Some(why) = c.check(Instant::now(), &neighbours) {
            self.fib_convergence = None;
            self.fib_converged = Some(why.text());
        }
    }

    fn connect(&mut self, peer: PeerId, conn: ConnId) {
        let g = self.lock();
        let Some(n) = g.speaker().neighbor(peer) else {
            return;
        };
        let params = ConnectParams {
            remote: SocketAddr::new(n.address, g.speaker().config().port),
            local: n.local_address,
            md5: n.md5_password.clone(),
            ttl_security: n.ttl_security,
        };
        tracing::debug!(neighbor = %n.address, conn = conn.0, "connecting");
        drop(g);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = net::connect(params).await;
            let _ = tx.send(CoreMsg::Connected { peer, conn, result });
        });
    }

    fn on_event(&mut self, ev: SpeakerEvent) {
        let (neighbor, kind, text) = view::describe_event(&ev, self.is_standby());
        match &ev {
            SpeakerEvent::Session { peer, event, .. } => {
                let extra = self.extra.entry(*peer).or_default();
                match event {
                    SessionEvent::Established { .. } => {
                        extra.established_at = Some(Instant::now());
                        tracing::info!(neighbor = %neighbor, "{text}");
                    }
                    SessionEvent::Down { reason, .. } => {
                        extra.established_at = None;
                        if let Some(c) = &mut self.fib_convergence {
                            c.session_down(*peer);
                        }
                        // A NOTIFICATION set last_error when it was sent or received.
                        if !matches!(
                            reason,
                            DownReason::NotificationSent(_) | DownReason::NotificationReceived(_)
                        ) {
                            extra.last_error = text.clone();
                        }
                        tracing::warn!(neighbor = %neighbor, "{text}");
                    }
                    SessionEvent::NotificationSent(_) | SessionEvent::NotificationReceived(_) => {
                        extra.last_error = text.clone();
                        tracing::warn!(neighbor = %neighbor, "{text}");
                    }
                    SessionEvent::UpdateReceived { .. } | SessionEvent::UpdateAccepted { .. } => {}
                    SessionEvent::EndOfRib(f) => {
                        if let Some(c) = &mut self.fib_convergence {
                            c.end_of_rib(*peer, *f);
                        }
                        tracing::info!(neighbor = %neighbor, "{text}");
                    }
                    _ => tracing::info!(neighbor = %neighbor, "{text}"),
                }
            }
            SpeakerEvent::FibFailed { .. } | SpeakerEvent::RibError { .. } => {
                tracing::warn!("{text}")
            }
            _ => tracing::info!("{text}"),
        }
        if kind != "update" {
            let _ = self.events.send(pb::Event {
                time_ms: self.now().0,
                neighbor,
                kind: kind.to_string(),
                text,
            });
        }
    }

    async fn shutdown(&mut self) {
        if let HaRuntime::Standby(s) = &self.ha {
            tracing::info!("shutting down (standby: no session is touched)");
            s.shutdown();
            return;
        }
        tracing::info!("shutting down: closing every session with Cease");
        let peers: Vec<PeerId> = self
            .lock()
            .speaker()
            .peers()
            .into_iter()
            .map(|p| p.0)
            .collect();
        for peer in peers {
            self.command(AdminCommand::Stop {
                peer,
                communication: Some("understudy bgpd shutting down".into()),
            });
        }
        self.drain();
        // Let the writers flush the NOTIFICATIONs.
        for (_, h) in self.conns.drain() {
            let _ = h.writer.send(WriterCmd::Close);
            h.reader.abort();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The fields of `new` that differ from `old` but apply only at start (the listeners of the
/// admin API and the metrics endpoint), comma-separated; empty when none.
/// `router_id` and/or `local_as` when a reload changes them: the speaker then restarts
/// every session (bgpd::speaker, Input::Config).
fn identity_change(old: &bgpd::config::Config, new: &bgpd::config::Config) -> Option<String> {
    let mut v = Vec::new();
    if old.router_id != new.router_id {
        v.push("router_id");
    }
    if old.local_as != new.local_as {
        v.push("local_as");
    }
    (!v.is_empty()).then(|| v.join(" and "))
}

fn restart_only_changes(old: &bgpd::config::Config, new: &bgpd::config::Config) -> String {
    let mut v = Vec::new();
    if old.metrics_address != new.metrics_address {
        v.push("metrics_address");
    }
    if old.admin_address != new.admin_address {
        v.push("admin_address");
    }
    if old.admin_tls != new.admin_tls {
        v.push("admin_tls");
    }
    // The HA role, the checkpoint server or client and the mirror are set up at start.
    if old.ha != new.ha {
        v.push("[ha]");
    }
    v.join(", ")
}

#[cfg(test)]
mod reload_tests {
    use super::{identity_change, restart_only_changes};
    use bgpd::config::Config;

    fn config(extra: &str) -> Config {
        let src = format!("router_id = \"192.0.2.1\"\nlocal_as = 65001\n{extra}");
        match Config::from_toml_str(&src) {
            Ok(c) => c,
            Err(e) => panic!("{e}: {src}"),
        }
    }

    #[test]
    fn a_reload_says_what_takes_effect_only_at_restart() {
        let plain = config("");
        let ha =
            "[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"127.0.0.1:50052\"\n";
        // Adding [ha], or changing it.
        assert_eq!(restart_only_changes(&plain, &config(ha)), "[ha]");
        let other = ha.replace("node_id = 1", "node_id = 2");
        assert_eq!(restart_only_changes(&config(ha), &config(&other)), "[ha]");
        assert_eq!(restart_only_changes(&config(ha), &config(ha)), "");
        assert_eq!(
            restart_only_changes(&plain, &config("admin_address = \"127.0.0.1:50099\"\n")),
            "admin_address"
        );
        assert_eq!(identity_change(&plain, &plain), None);
        let other_as = Config {
            local_as: 65002,
            ..plain.clone()
        };
        assert_eq!(
            identity_change(&plain, &other_as).as_deref(),
            Some("local_as")
        );
    }
}
