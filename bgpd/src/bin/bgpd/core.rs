//! The core task: owns the [`Speaker`], receives every input as a [`CoreMsg`], and carries
//! out the speaker's outputs (connections, writes, FIB changes, events).

use crate::fibbridge::FibBridge;
use crate::net::{self, ConnectParams, WriterCmd};
use crate::view;
use anyhow::Context;
use bgpd::config::Config;
use bgpd::session::{ConnId, SessionEvent};
use bgpd::speaker::{AdminCommand, Input, Output, PeerId, Speaker, SpeakerEvent};
use bgpd::time::Millis;
use proto::admin as pb;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;
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
    },
    /// A connection was closed or failed.
    Closed { peer: PeerId, conn: ConnId },
    /// An admin API request.
    Admin(AdminReq),
    /// Re-read the configuration file (SIGHUP or the admin API).
    Reload(Option<oneshot::Sender<Result<String, String>>>),
    /// The FIB writer reports failures.
    FibFailed(Vec<(bgpd::wire::Prefix, String)>),
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

struct ConnHandle {
    writer: mpsc::UnboundedSender<WriterCmd>,
    reader: tokio::task::JoinHandle<()>,
}

/// Per-neighbour facts the speaker does not keep (wall-clock uptime, last error).
#[derive(Default)]
pub struct PeerExtra {
    pub established_at: Option<Instant>,
    pub last_error: String,
}

/// The core task's state.
pub struct Core {
    pub speaker: Speaker,
    pub started: Instant,
    config_path: PathBuf,
    tx: mpsc::UnboundedSender<CoreMsg>,
    conns: HashMap<(PeerId, ConnId), ConnHandle>,
    next_incoming: u64,
    pub extra: BTreeMap<PeerId, PeerExtra>,
    events: broadcast::Sender<pb::Event>,
    fib: Option<FibBridge>,
    fib_batch: Vec<bgpd::rib::FibChange>,
}

fn seed_of(config: &Config) -> u64 {
    u64::from(u32::from(config.router_id().0)) << 32 | u64::from(config.local_as)
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let seed = opts.seed.unwrap_or_else(|| seed_of(&opts.config));
    let speaker = Speaker::new(Millis(0), opts.config.clone(), seed)
        .map_err(|e| anyhow::anyhow!("configuration refused by the speaker: {e}"))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<CoreMsg>();
    let (events, _) = broadcast::channel(4096);

    // Listeners.
    let md5: Vec<(IpAddr, String)> = opts
        .config
        .neighbors
        .iter()
        .filter_map(|n| n.md5_password.clone().map(|p| (n.address, p)))
        .collect();
    for addr in &opts.config.listen_addresses {
        let sa = SocketAddr::new(*addr, opts.config.port);
        let listener = net::listen(sa, &md5).with_context(|| format!("cannot listen on {sa}"))?;
        tracing::info!(address = %sa, "listening for BGP connections");
        tokio::spawn(net::accept_loop(listener, tx.clone()));
    }

    // The kernel FIB.
    let fib = if opts.config.fib.enabled {
        Some(FibBridge::start(&opts.config.fib, tx.clone()).context("cannot open the kernel FIB")?)
    } else {
        None
    };

    // Admin API and metrics.
    let admin_addr = opts.admin.unwrap_or(opts.config.admin_address);
    crate::admin::spawn(admin_addr, tx.clone(), events.clone())
        .await
        .with_context(|| format!("cannot serve the admin API on {admin_addr}"))?;
    tracing::info!(address = %admin_addr, "admin API listening");
    let metrics = match opts.metrics {
        Some(addr) => Some(crate::metrics::Metrics::start(addr)?),
        None => None,
    };

    // Signals.
    spawn_signals(tx.clone())?;

    let mut core = Core {
        speaker,
        started,
        config_path: opts.config_path,
        tx,
        conns: HashMap::new(),
        next_incoming: 1,
        extra: BTreeMap::new(),
        events,
        fib,
        fib_batch: Vec::new(),
    };
    core.drain();
    let mut metrics_tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        let deadline = core.speaker.poll_timeout().map(|m| core.instant_of(m));
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                if matches!(msg, CoreMsg::Shutdown) {
                    core.shutdown().await;
                    break;
                }
                core.on_msg(msg);
                // Take whatever else is queued before polling outputs: fewer, larger writes.
                while let Ok(m) = rx.try_recv() {
                    if matches!(m, CoreMsg::Shutdown) {
                        core.shutdown().await;
                        return Ok(());
                    }
                    core.on_msg(m);
                }
            }
            _ = sleep => {
                let now = core.now();
                core.speaker.handle_timeout(now);
            }
            _ = metrics_tick.tick(), if metrics.is_some() => {
                if let Some(m) = &metrics { m.update(&core); }
            }
        }
        core.drain();
    }
    Ok(())
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
    /// The replicated clock: milliseconds since the daemon started.
    pub fn now(&self) -> Millis {
        Millis(self.started.elapsed().as_millis() as u64)
    }

    fn instant_of(&self, m: Millis) -> Instant {
        self.started + std::time::Duration::from_millis(m.0)
    }

    fn on_msg(&mut self, msg: CoreMsg) {
        let now = self.now();
        match msg {
            CoreMsg::Accepted {
                stream,
                remote,
                local,
            } => {
                let remote_ip = canonical(remote.ip());
                let Some(peer) = self.speaker.peer_by_address(remote_ip) else {
                    tracing::warn!(%remote, "connection from an address that is not a configured neighbour: closed");
                    return;
                };
                if let Some(hops) = self.speaker.neighbor(peer).and_then(|n| n.ttl_security) {
                    if let Err(e) = net::accept_gtsm(&stream, hops) {
                        tracing::warn!(%remote, "GTSM: {e}");
                    }
                }
                let conn = ConnId::incoming(self.next_incoming);
                self.next_incoming += 1;
                tracing::debug!(neighbor = %remote_ip, conn = conn.0, "incoming connection");
                self.register(peer, conn, stream);
                self.speaker.handle(
                    now,
                    Input::ConnectionConfirmed {
                        peer,
                        conn,
                        local_address: canonical(local.ip()),
                    },
                );
            }
            CoreMsg::Connected { peer, conn, result } => match result {
                Ok(stream) => {
                    let local = stream.local_addr().map(|a| canonical(a.ip()));
                    match local {
                        Ok(local_address) => {
                            self.register(peer, conn, stream);
                            self.speaker.handle(
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
                            self.speaker
                                .handle(now, Input::ConnectionClosed { peer, conn });
                        }
                    }
                }
                Err(e) => {
                    let addr = self.peer_address(peer);
                    tracing::info!(neighbor = %addr, "connect failed: {e}");
                    self.speaker
                        .handle(now, Input::ConnectionClosed { peer, conn });
                }
            },
            CoreMsg::Bytes { peer, conn, data } => {
                if self.conns.contains_key(&(peer, conn)) {
                    self.speaker.handle(now, Input::Bytes { peer, conn, data });
                }
            }
            CoreMsg::Closed { peer, conn } => {
                if let Some(h) = self.conns.remove(&(peer, conn)) {
                    h.reader.abort();
                    let _ = h.writer.send(WriterCmd::Close);
                    self.speaker
                        .handle(now, Input::ConnectionClosed { peer, conn });
                }
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
                for (prefix, error) in v {
                    self.speaker.handle(now, Input::FibFailed { prefix, error });
                }
            }
            CoreMsg::Shutdown => {}
        }
    }

    fn reload(&mut self) -> Result<String, String> {
        let config = crate::load_config(&self.config_path).map_err(|e| format!("{e:#}"))?;
        let before = self.speaker.peers().len();
        let now = self.now();
        self.speaker.handle(now, Input::Config(Box::new(config)));
        Ok(format!(
            "configuration reloaded from {} ({} neighbours before, {} now)",
            self.config_path.display(),
            before,
            self.speaker.peers().len()
        ))
    }

    /// Runs an admin command through the speaker.
    pub fn command(&mut self, cmd: AdminCommand) {
        let now = self.now();
        self.speaker.handle(now, Input::Admin(cmd));
    }

    fn register(&mut self, peer: PeerId, conn: ConnId, stream: TcpStream) {
        let (writer, reader) = net::spawn_io(stream, peer, conn, self.tx.clone());
        self.conns
            .insert((peer, conn), ConnHandle { writer, reader });
    }

    fn peer_address(&self, peer: PeerId) -> String {
        self.speaker
            .neighbor(peer)
            .map(|n| n.address.to_string())
            .unwrap_or_else(|| format!("peer {}", peer.0))
    }

    /// Carries out every pending output of the speaker.
    fn drain(&mut self) {
        while let Some(out) = self.speaker.poll_output() {
            match out {
                Output::Connect { peer, conn } => self.connect(peer, conn),
                Output::Transmit { peer, conn, bytes } => {
                    if let Some(h) = self.conns.get(&(peer, conn)) {
                        let _ = h.writer.send(WriterCmd::Bytes(bytes));
                    }
                }
                Output::Close { peer, conn } => {
                    if let Some(h) = self.conns.remove(&(peer, conn)) {
                        h.reader.abort();
                        let _ = h.writer.send(WriterCmd::Close);
                    }
                }
                Output::Fib(change) => self.fib_batch.push(change),
                Output::Event(ev) => self.on_event(ev),
            }
        }
        if !self.fib_batch.is_empty() {
            let batch = std::mem::take(&mut self.fib_batch);
            if let Some(fib) = &self.fib {
                fib.submit(batch);
            }
        }
    }

    fn connect(&mut self, peer: PeerId, conn: ConnId) {
        let Some(n) = self.speaker.neighbor(peer) else {
            return;
        };
        let params = ConnectParams {
            remote: SocketAddr::new(n.address, self.speaker.config().port),
            local: n.local_address,
            md5: n.md5_password.clone(),
            ttl_security: n.ttl_security,
        };
        tracing::debug!(neighbor = %n.address, conn = conn.0, "connecting");
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = net::connect(params).await;
            let _ = tx.send(CoreMsg::Connected { peer, conn, result });
        });
    }

    fn on_event(&mut self, ev: SpeakerEvent) {
        let (neighbor, kind, text) = view::describe_event(&ev);
        match &ev {
            SpeakerEvent::Session { peer, event, .. } => {
                let extra = self.extra.entry(*peer).or_default();
                match event {
                    SessionEvent::Established { .. } => {
                        extra.established_at = Some(Instant::now());
                        tracing::info!(neighbor = %neighbor, "{text}");
                    }
                    SessionEvent::Down { .. } => {
                        extra.established_at = None;
                        tracing::warn!(neighbor = %neighbor, "{text}");
                    }
                    SessionEvent::NotificationSent(_) | SessionEvent::NotificationReceived(_) => {
                        extra.last_error = text.clone();
                        tracing::warn!(neighbor = %neighbor, "{text}");
                    }
                    SessionEvent::UpdateReceived { .. } => {}
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
        tracing::info!("shutting down: closing every session with Cease");
        let peers: Vec<PeerId> = self.speaker.peers().into_iter().map(|p| p.0).collect();
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

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) as IPv4.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}
