//! The primary's gRPC service and driver: one task owns the [`PrimaryEngine`]; the service
//! forwards each standby's stream to it; the application talks to it through a
//! [`PrimaryHandle`].
//!
//! Threads: the gRPC service and the heartbeat sender run on one thread
//! (`ribsync-primary-io`), the driver on another (`ribsync-primary`), both apart from the
//! application's runtime. Only the driver takes the application's lock; the heartbeats go
//! out every interval whatever the driver and the application are doing (a primary busy
//! ingesting a table is alive, and must not look failed to its standbys).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proto::ribsync as pb;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

use super::convert::{handover_to_pb, hello_from_pb, to_primary_from_pb, to_standby_pb, Handover};
use super::{lock, spawn_thread, Clock, TlsPaths, TransportError, WINDOW_BYTES};
use crate::checkpoint::{
    FlowChange, FlowId, FlowView, Hello, PrimaryConfig, PrimaryEngine, PrimaryEvent, Replicated,
    StandbyView, ToPrimary, ToStandby,
};
use crate::ha::{NodeId, RosterEntry};

/// Configuration of the primary's side.
#[derive(Debug, Clone, Default)]
pub struct PrimaryServerConfig {
    /// The engine.
    pub engine: PrimaryConfig,
    /// Mutual TLS, when set.
    pub tls: Option<TlsPaths>,
}

type Outbound = mpsc::UnboundedSender<Result<pb::PrimaryMessage, Status>>;

/// What the heartbeat sender needs, kept by the driver. Every message to a standby is
/// queued under this lock (held only for the queueing), so a heartbeat's roster is never
/// older than a message queued before it: the standby reads a roster that calls it
/// unsynchronised after its synchronisation declaration as a demotion.
#[derive(Debug, Default)]
struct Beats {
    /// The attached standbys' outbound streams.
    links: BTreeMap<NodeId, (u64, Outbound)>,
    /// The roster the heartbeats announce.
    roster: Vec<RosterEntry>,
    /// The driver stopped: no more heartbeats.
    stopped: bool,
}

/// Sends a heartbeat to every attached standby each `interval_ms`, never waiting for the
/// driver or the application (issue 6, "Heartbeats both ways"; issue 7, detection).
async fn send_heartbeats(beats: Arc<Mutex<Beats>>, interval_ms: u64, clock: Clock) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let beats = lock(&beats);
        if beats.stopped {
            return;
        }
        let heartbeat = to_standby_pb(&ToStandby::Heartbeat {
            now_ms: clock.now_ms(),
            roster: beats.roster.clone(),
        });
        for (_, out) in beats.links.values() {
            let _ = out.send(Ok(heartbeat.clone()));
        }
    }
}

enum Input {
    Attach {
        conn: u64,
        hello: Hello,
        out: Outbound,
    },
    FromStandby {
        conn: u64,
        node: NodeId,
        msg: ToPrimary,
    },
    Detach {
        conn: u64,
        node: NodeId,
        reason: String,
    },
    Ingress {
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
    },
    FlowChange {
        flow: FlowId,
        change: FlowChange,
    },
    WriteAhead {
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
        done: oneshot::Sender<()>,
    },
    Views {
        reply: oneshot::Sender<(Vec<StandbyView>, Vec<FlowView>)>,
    },
    Roster {
        reply: oneshot::Sender<Vec<RosterEntry>>,
    },
    Handover {
        handover: Handover,
        reply: oneshot::Sender<usize>,
    },
    Shutdown,
}

struct Service {
    tx: mpsc::UnboundedSender<Input>,
    next_conn: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl pb::checkpoint_server::Checkpoint for Service {
    type AttachStream = UnboundedReceiverStream<Result<pb::PrimaryMessage, Status>>;

    async fn attach(
        &self,
        request: Request<Streaming<pb::StandbyMessage>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty stream"))?;
        let Some(pb::standby_message::Body::Hello(h)) = first.body else {
            return Err(Status::invalid_argument(
                "the first message must be a Hello",
            ));
        };
        let hello = hello_from_pb(h).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let node = hello.node;
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        self.tx
            .send(Input::Attach {
                conn,
                hello,
                out: out_tx,
            })
            .map_err(|_| Status::unavailable("primary driver stopped"))?;
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let reason = loop {
                match inbound.message().await {
                    Ok(Some(m)) => match to_primary_from_pb(m) {
                        Ok(Some(msg)) => {
                            if tx.send(Input::FromStandby { conn, node, msg }).is_err() {
                                break "primary driver stopped".to_string();
                            }
                        }
                        Ok(None) => {}
                        Err(e) => break format!("malformed message: {e}"),
                    },
                    Ok(None) => break "stream closed".to_string(),
                    Err(status) => break format!("stream error: {status}"),
                }
            };
            let _ = tx.send(Input::Detach { conn, node, reason });
        });
        Ok(Response::new(UnboundedReceiverStream::new(out_rx)))
    }
}

/// The application's side of the primary's driver. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrimaryHandle {
    tx: mpsc::UnboundedSender<Input>,
    events: broadcast::Sender<PrimaryEvent>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Input")
    }
}

impl PrimaryHandle {
    /// Where the checkpoint service listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Bytes read from the neighbour at stream `offset` and consumed by the application.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn on_ingress(
        &self,
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        self.tx
            .send(Input::Ingress {
                flow,
                offset,
                bytes,
            })
            .map_err(|_| TransportError::DriverGone)
    }

    /// A state change of a flow (time-out, or the flow ended).
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn on_flow_change(&self, flow: FlowId, change: FlowChange) -> Result<(), TransportError> {
        self.tx
            .send(Input::FlowChange { flow, change })
            .map_err(|_| TransportError::DriverGone)
    }

    /// Egress write-ahead: returns once `bytes` may be written to the flow's socket (every
    /// synchronised standby holds them, or the configured mode does not wait).
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub async fn write_ahead(
        &self,
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Input::WriteAhead {
                flow,
                offset,
                bytes,
                done,
            })
            .map_err(|_| TransportError::DriverGone)?;
        wait.await.map_err(|_| TransportError::DriverGone)
    }

    /// The standbys and flows, for the admin API.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub async fn views(&self) -> Result<(Vec<StandbyView>, Vec<FlowView>), TransportError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Input::Views { reply })
            .map_err(|_| TransportError::DriverGone)?;
        wait.await.map_err(|_| TransportError::DriverGone)
    }

    /// The standbys as the next heartbeat announces them (node, priority, synchronised,
    /// checkpoint endpoint): the candidates of a planned switchover.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub async fn roster(&self) -> Result<Vec<RosterEntry>, TransportError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Input::Roster { reply })
            .map_err(|_| TransportError::DriverGone)?;
        wait.await.map_err(|_| TransportError::DriverGone)
    }

    /// Planned switchover: sends `handover` to every attached standby, after everything
    /// queued for them before (write-ahead batches included). Returns how many standbys
    /// it was sent to.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub async fn hand_over(&self, handover: Handover) -> Result<usize, TransportError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Input::Handover { handover, reply })
            .map_err(|_| TransportError::DriverGone)?;
        wait.await.map_err(|_| TransportError::DriverGone)
    }

    /// Engine events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PrimaryEvent> {
        self.events.subscribe()
    }

    /// Stop the driver and the service.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Input::Shutdown);
    }
}

/// Serve the checkpoint protocol on `listener` for application `app` and start the
/// driver. The application keeps mutating `app` (under its lock) and reports through the
/// returned handle.
///
/// # Errors
/// [`TransportError`] when the listener has no address or TLS cannot be set up.
pub async fn serve_primary<A>(
    listener: tokio::net::TcpListener,
    config: PrimaryServerConfig,
    app: Arc<Mutex<A>>,
) -> Result<PrimaryHandle, TransportError>
where
    A: Replicated + Send + 'static,
{
    let local_addr = listener.local_addr()?;
    // The service moves to its own thread's runtime.
    let listener = listener.into_std()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(1024);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let service = Service {
        tx: tx.clone(),
        next_conn: Arc::new(AtomicU64::new(1)),
    };
    #[allow(unused_mut)]
    let mut builder = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_stream_window_size(WINDOW_BYTES)
        .initial_connection_window_size(WINDOW_BYTES);
    #[cfg(feature = "mtls")]
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.server()?)?;
    }
    #[cfg(not(feature = "mtls"))]
    if let Some(tls) = &config.tls {
        tls.unsupported()?;
    }
    let router = builder.add_service(
        pb::checkpoint_server::CheckpointServer::new(service)
            .max_decoding_message_size(super::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(super::MAX_MESSAGE_BYTES),
    );
    let clock = Clock::new();
    let beats = Arc::new(Mutex::new(Beats::default()));
    let interval_ms = config.engine.heartbeat_interval_ms;
    let io_beats = beats.clone();
    spawn_thread("ribsync-primary-io", async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "checkpoint service cannot listen");
                return;
            }
        };
        tokio::spawn(send_heartbeats(io_beats, interval_ms, clock));
        let incoming = TcpListenerStream::new(listener);
        let stop = async {
            let _ = stop_rx.await;
        };
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop).await {
            tracing::error!(error = %e, "checkpoint service stopped");
        }
    })?;
    let engine = PrimaryEngine::new(config.engine);
    let driver = Driver {
        engine,
        app,
        events: events.clone(),
        beats,
        clock,
        waiters: HashMap::new(),
    };
    spawn_thread("ribsync-primary", drive(driver, rx, stop_tx))?;
    Ok(PrimaryHandle {
        tx,
        events,
        local_addr,
    })
}

struct Driver<A> {
    engine: PrimaryEngine,
    app: Arc<Mutex<A>>,
    events: broadcast::Sender<PrimaryEvent>,
    beats: Arc<Mutex<Beats>>,
    clock: Clock,
    waiters: HashMap<u64, oneshot::Sender<()>>,
}

impl<A: Replicated> Driver<A> {
    /// Runs the engine's timers if due (reads the application under its lock), then
    /// queues what the engine has to send and publishes its events.
    fn step(&mut self) {
        let now = self.clock.now_ms();
        // Only when something is due: polling reads the application's flow list, which
        // is not free on every ingested message.
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            if let Ok(app) = self.app.lock() {
                self.engine.poll(now, &*app);
            }
        }
        self.flush();
    }

    /// Queues the engine's messages (its own heartbeats dropped: [`send_heartbeats`]
    /// sends them) and refreshes the heartbeats' roster, in one critical section.
    fn flush(&mut self) {
        {
            let mut beats = lock(&self.beats);
            beats.roster = self.engine.roster();
            while let Some((node, msg)) = self.engine.poll_transmit() {
                if matches!(msg, ToStandby::Heartbeat { .. }) {
                    continue;
                }
                if let Some((_, out)) = beats.links.get(&node) {
                    let _ = out.send(Ok(to_standby_pb(&msg)));
                }
            }
        }
        while let Some(event) = self.engine.poll_event() {
            match &event {
                PrimaryEvent::WriteAheadReleased { id } => {
                    if let Some(done) = self.waiters.remove(id) {
                        let _ = done.send(());
                    }
                }
                PrimaryEvent::StandbyLost { node, reason } => {
                    tracing::warn!(%node, %reason, "standby lost");
                    lock(&self.beats).links.remove(node);
                }
                other => tracing::info!(event = ?other, "replication"),
            }
            let _ = self.events.send(event);
        }
    }

    /// Returns false to stop.
    fn input(&mut self, input: Input) -> bool {
        let now = self.clock.now_ms();
        match input {
            Input::Attach { conn, hello, out } => {
                let node = hello.node;
                lock(&self.beats).links.insert(node, (conn, out));
                if let Ok(app) = self.app.lock() {
                    self.engine.attach(now, hello, &*app);
                }
            }
            Input::FromStandby { conn, node, msg } => {
                if self.is_current(node, conn) {
                    self.engine.handle(now, node, msg);
                }
            }
            Input::Detach { conn, node, reason } => {
                if self.is_current(node, conn) {
                    lock(&self.beats).links.remove(&node);
                    self.engine.detach(node, &reason);
                }
            }
            Input::Ingress {
                flow,
                offset,
                bytes,
            } => self.engine.on_ingress(now, flow, offset, &bytes),
            Input::FlowChange { flow, change } => self.engine.on_flow_change(now, flow, change),
            Input::WriteAhead {
                flow,
                offset,
                bytes,
                done,
            } => {
                let ticket = self.engine.write_ahead(now, flow, offset, &bytes);
                if ticket.must_wait {
                    self.waiters.insert(ticket.id, done);
                } else {
                    let _ = done.send(());
                }
            }
            Input::Views { reply } => {
                let _ = reply.send((self.engine.standby_views(now), self.engine.flow_views()));
            }
            Input::Roster { reply } => {
                let _ = reply.send(self.engine.roster());
            }
            Input::Handover { handover, reply } => {
                // After everything the engine queued.
                self.flush();
                let msg = handover_to_pb(&handover);
                let sent = lock(&self.beats)
                    .links
                    .values()
                    .filter(|(_, out)| out.send(Ok(msg.clone())).is_ok())
                    .count();
                let _ = reply.send(sent);
            }
            Input::Shutdown => return false,
        }
        true
    }

    fn is_current(&self, node: NodeId, conn: u64) -> bool {
        lock(&self.beats)
            .links
            .get(&node)
            .is_some_and(|(c, _)| *c == conn)
    }
}

impl<A> Drop for Driver<A> {
    /// No more heartbeats once the driver is gone: the standbys must see this primary's
    /// replication stop, and the streams end.
    fn drop(&mut self) {
        let mut beats = lock(&self.beats);
        beats.stopped = true;
        beats.links.clear();
    }
}

async fn drive<A: Replicated + Send + 'static>(
    mut d: Driver<A>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    stop: oneshot::Sender<()>,
) {
    'run: loop {
        // What queued up while the driver waited for the application (the standbys'
        // messages among it) goes in before the engine's timers run: a standby is judged
        // silent only on what it really did not send.
        let budget = std::time::Instant::now();
        while budget.elapsed() < DRAIN_BUDGET {
            let Ok(input) = rx.try_recv() else { break };
            if !d.input(input) {
                break 'run;
            }
        }
        d.step();
        let now = d.clock.now_ms();
        let wake = d
            .engine
            .poll_timeout()
            .map_or(now + 1000, |t| t.max(now + 1));
        let input = tokio::select! {
            input = rx.recv() => input,
            _ = tokio::time::sleep_until(d.clock.instant(wake).into()) => continue,
        };
        let Some(input) = input else {
            break;
        };
        if !d.input(input) {
            break;
        }
    }
    // Dropping the driver stops the heartbeats (also if it panicked).
    drop(d);
    let _ = stop.send(());
}

/// How long the driver takes queued inputs before it runs the engine's timers again.
const DRAIN_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);
