//! The standby's gRPC client and driver: one task owns the [`StandbyEngine`] and the
//! [`HaController`]; the tap glue and the application talk to it through a
//! [`StandbyHandle`]; [`HaAction`]s come out of a channel.
//!
//! Threads: the gRPC connection, the stream reader (which stamps the primary's liveness
//! as each message arrives) and the heartbeat sender run on one thread
//! (`ribsync-standby-io`), the driver on another (`ribsync-standby`), both apart from the
//! application's runtime. Only the driver takes the application's lock. A standby whose
//! application is slow (feeding a full table from the mirror) keeps sending heartbeats,
//! which then show how far behind it is (lag), and keeps seeing the primary's.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proto::ribsync as pb;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::convert::{
    handover_from_pb, hello_to_pb, to_primary_pb, to_standby_from_pb, write_ahead_id, Handover,
};
use super::{lock, spawn_thread, Clock, TlsPaths, TransportError, WINDOW_BYTES};
use crate::checkpoint::{
    EgressBacklog, FlowId, Hello, MirrorInput, MirrorMapper, Replicated, StandbyConfig,
    StandbyEngine, StandbyEvent, StandbyFlowView, StreamDirection, ToPrimary, ToStandby,
};
use crate::ha::{HaAction, HaConfig, HaController, HaRole, RosterEntry};

/// Configuration of a standby's side.
#[derive(Debug, Clone)]
pub struct StandbyClientConfig {
    /// The primary's checkpoint endpoint, e.g. `http://192.0.2.1:50051` (`https://` with
    /// TLS).
    pub primary: String,
    /// The engine.
    pub engine: StandbyConfig,
    /// This standby's introduction.
    pub hello: Hello,
    /// Failure detection and election.
    pub ha: HaConfig,
    /// Mutual TLS, when set.
    pub tls: Option<TlsPaths>,
}

/// What the standby reports (watch it with [`StandbyHandle::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyStatus {
    /// The checkpoint stream is up.
    pub connected: bool,
    /// The standby reports `synchronised` (only after the declaration).
    pub synchronised: bool,
    /// Its HA role.
    pub role: HaRole,
    /// Digests matched, mismatched, skipped.
    pub digests: (u64, u64, u64),
    /// The primary's last roster.
    pub roster: Vec<RosterEntry>,
    /// Why the stream ended, if it did.
    pub last_error: Option<String>,
}

enum Input {
    /// As it arrived (converted by the driver, before it takes the application's lock).
    FromPrimary(Box<pb::PrimaryMessage>),
    StreamEnded(String),
    MirrorIngress {
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
    },
    MirrorEgress {
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
    },
    PeerAck {
        flow: FlowId,
        acked_to: u64,
    },
    PrimaryAck {
        flow: FlowId,
        acked_to: u64,
    },
    MirrorGap {
        flow: FlowId,
        direction: StreamDirection,
        range: Range<u64>,
    },
    MirrorData {
        flow: FlowId,
        from_primary: bool,
        seq: u32,
        bytes: Vec<u8>,
    },
    MirrorAck {
        flow: FlowId,
        from_primary: bool,
        ack: u32,
    },
    FencingResult(Result<(), String>),
    ProbeResult(bool),
    TakeoverDone,
    TakeoverFailed(String),
    Backlog {
        flow: FlowId,
        reply: oneshot::Sender<Option<EgressBacklog>>,
    },
    FlowViews {
        reply: oneshot::Sender<Vec<StandbyFlowView>>,
    },
    TakeoverViews {
        reply: oneshot::Sender<Vec<(StandbyFlowView, EgressBacklog)>>,
    },
    Shutdown,
}

impl Input {
    /// What kind of input this is (for the driver's slow-input log).
    fn kind(&self) -> &'static str {
        match self {
            Input::FromPrimary(_) => "message from the primary",
            Input::StreamEnded(_) => "stream ended",
            Input::MirrorIngress { .. } => "mirror ingress",
            Input::MirrorEgress { .. } => "mirror egress",
            Input::PeerAck { .. } => "peer ack",
            Input::PrimaryAck { .. } => "primary ack",
            Input::MirrorGap { .. } => "mirror gap",
            Input::MirrorData { .. } => "mirror data",
            Input::MirrorAck { .. } => "mirror ack",
            Input::FencingResult(_) => "fencing result",
            Input::ProbeResult(_) => "probe result",
            Input::TakeoverDone => "takeover done",
            Input::TakeoverFailed(_) => "takeover failed",
            Input::Backlog { .. } => "backlog request",
            Input::FlowViews { .. } => "flow views request",
            Input::TakeoverViews { .. } => "takeover views request",
            Input::Shutdown => "shutdown",
        }
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// The signs of the primary's life, stamped (on the driver's [`Clock`], in milliseconds)
/// where they arrive: by the checkpoint stream's reader task and by the tap, not by the
/// driver. The driver can be busy for seconds (feeding a full table from the mirror) with
/// the evidence queued behind that work; the failure detector reads these stamps before
/// each verdict, so a busy standby never declares a live primary failed (issue 7,
/// "Detection and selection").
#[derive(Debug, Default)]
struct Liveness {
    /// Last message of any kind from the primary; 0 = none yet.
    message_ms: AtomicU64,
    /// Last frame the tap saw the primary send; 0 = none yet.
    frame_ms: AtomicU64,
}

/// The tap glue's and application's side of the standby's driver. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StandbyHandle {
    tx: mpsc::UnboundedSender<Input>,
    status: watch::Receiver<StandbyStatus>,
    clock: Clock,
    liveness: Arc<Liveness>,
    handover: Arc<Mutex<Option<Handover>>>,
}

impl StandbyHandle {
    /// The instant of `ms` on the driver's clock (the milliseconds of its [`HaAction`]s,
    /// e.g. `TakeOver::declared_at_ms`).
    pub fn instant_of(&self, ms: u64) -> std::time::Instant {
        self.clock.instant(ms)
    }

    /// The planned switchover's handover, once the primary sent one (set before the
    /// [`HaAction`] it causes comes out).
    pub fn handover(&self) -> Option<Handover> {
        lock(&self.handover).clone()
    }

    fn send(&self, input: Input) -> Result<(), TransportError> {
        self.tx.send(input).map_err(|_| TransportError::DriverGone)
    }

    /// The current status; `.changed().await` on the receiver to wait for a change.
    pub fn status(&self) -> watch::Receiver<StandbyStatus> {
        self.status.clone()
    }

    /// Neighbour-to-primary octets from the mirror, at primary stream offsets.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn mirror_ingress(
        &self,
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        self.send(Input::MirrorIngress {
            flow,
            offset,
            bytes,
        })
    }

    /// Primary-to-neighbour octets from the mirror, at egress stream offsets.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn mirror_egress(
        &self,
        flow: FlowId,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        self.send(Input::MirrorEgress {
            flow,
            offset,
            bytes,
        })
    }

    /// The neighbour acknowledged egress octets up to `acked_to` (mirror).
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn peer_ack(&self, flow: FlowId, acked_to: u64) -> Result<(), TransportError> {
        self.send(Input::PeerAck { flow, acked_to })
    }

    /// The primary acknowledged ingress octets up to `acked_to` (mirror): triggers gap fill
    /// for octets the mirror missed below it.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn primary_ack(&self, flow: FlowId, acked_to: u64) -> Result<(), TransportError> {
        self.send(Input::PrimaryAck { flow, acked_to })
    }

    /// The mirror will never deliver `range` of a stream.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn mirror_gap(
        &self,
        flow: FlowId,
        direction: StreamDirection,
        range: Range<u64>,
    ) -> Result<(), TransportError> {
        self.send(Input::MirrorGap {
            flow,
            direction,
            range,
        })
    }

    /// Octets seen on the mirror, by sequence number (`from_primary`: the direction). They
    /// are held until the flow's checkpoint brings its sequence anchor, then fed at stream
    /// offsets. Prefer reassembled data (in order per stream).
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn mirror_data(
        &self,
        flow: FlowId,
        from_primary: bool,
        seq: u32,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        self.send(Input::MirrorData {
            flow,
            from_primary,
            seq,
            bytes,
        })
    }

    /// An acknowledgement number seen on the mirror (`from_primary`: the primary sent it).
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn mirror_ack(
        &self,
        flow: FlowId,
        from_primary: bool,
        ack: u32,
    ) -> Result<(), TransportError> {
        self.send(Input::MirrorAck {
            flow,
            from_primary,
            ack,
        })
    }

    /// The tap saw a frame sent by the primary just now (failure detection). Only stamped
    /// (see `Liveness`): the driver reads the stamp before each verdict, so nothing is
    /// queued for it.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn primary_frame_seen(&self) -> Result<(), TransportError> {
        if self.tx.is_closed() {
            return Err(TransportError::DriverGone);
        }
        let now = self.clock.now_ms().max(1);
        self.liveness.frame_ms.fetch_max(now, Ordering::Relaxed);
        Ok(())
    }

    /// The fencing step finished: `Ok`, or why the old primary is not fenced
    /// ([`crate::ha::HaController::fencing_result`]).
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn fencing_result(&self, outcome: Result<(), String>) -> Result<(), TransportError> {
        self.send(Input::FencingResult(outcome))
    }

    /// The early split-brain probe ([`HaAction::Probe`]) finished: `answered` when the
    /// primary accepted the connection.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn probe_result(&self, answered: bool) -> Result<(), TransportError> {
        self.send(Input::ProbeResult(answered))
    }

    /// Every protected session was taken over.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn takeover_done(&self) -> Result<(), TransportError> {
        self.send(Input::TakeoverDone)
    }

    /// The takeover failed, for `reason`: the role becomes `Halted` with it.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn takeover_failed(&self, reason: String) -> Result<(), TransportError> {
        self.send(Input::TakeoverFailed(reason))
    }

    /// The egress octets the neighbour has not acknowledged on `flow`.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub async fn egress_backlog(
        &self,
        flow: FlowId,
    ) -> Result<Option<EgressBacklog>, TransportError> {
        let (reply, wait) = oneshot::channel();
        self.send(Input::Backlog { flow, reply })?;
        wait.await.map_err(|_| TransportError::DriverGone)
    }

    /// Every flow as the standby sees it.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub async fn flow_views(&self) -> Result<Vec<StandbyFlowView>, TransportError> {
        let (reply, wait) = oneshot::channel();
        self.send(Input::FlowViews { reply })?;
        wait.await.map_err(|_| TransportError::DriverGone)
    }

    /// Every flow as the standby sees it, with the egress octets its neighbour has not
    /// acknowledged: everything a takeover needs of the engine, in one round trip. The
    /// answer comes after every input handed to the driver before (mirror octets and
    /// acknowledgements, checkpoint messages), so it covers all of them.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub async fn takeover_views(
        &self,
    ) -> Result<Vec<(StandbyFlowView, EgressBacklog)>, TransportError> {
        let (reply, wait) = oneshot::channel();
        self.send(Input::TakeoverViews { reply })?;
        wait.await.map_err(|_| TransportError::DriverGone)
    }

    /// Stop the driver.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Input::Shutdown);
    }
}

/// What the standby's heartbeats carry, kept by the driver: how far it has consumed each
/// flow; `None` once the driver stopped talking to the primary.
type BeatSlot = Arc<Mutex<Option<Vec<(FlowId, u64)>>>>;

/// Sends a heartbeat to the primary each `interval_ms` with the driver's last consumed
/// offsets, never waiting for the driver or the application.
async fn send_heartbeats(
    out: mpsc::UnboundedSender<pb::StandbyMessage>,
    slot: BeatSlot,
    interval_ms: u64,
    clock: Clock,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(consumed) = lock(&slot).clone() else {
            return;
        };
        let heartbeat = ToPrimary::Heartbeat {
            now_ms: clock.now_ms(),
            consumed,
        };
        if out.send(to_primary_pb(&heartbeat)).is_err() {
            return;
        }
    }
}

/// The checkpoint stream, opened on the I/O thread.
struct Opened {
    client: pb::checkpoint_client::CheckpointClient<tonic::transport::Channel>,
    out: mpsc::UnboundedSender<pb::StandbyMessage>,
}

/// Connects, attaches, and starts the reader and the heartbeat sender (on the I/O
/// thread's runtime).
async fn open(
    config: &StandbyClientConfig,
    driver: mpsc::UnboundedSender<Input>,
    liveness: Arc<Liveness>,
    slot: BeatSlot,
    clock: Clock,
) -> Result<Opened, TransportError> {
    #[allow(unused_mut)]
    let mut endpoint = tonic::transport::Endpoint::from_shared(config.primary.clone())?
        .tcp_nodelay(true)
        .initial_stream_window_size(WINDOW_BYTES)
        .initial_connection_window_size(WINDOW_BYTES);
    #[cfg(feature = "mtls")]
    if let Some(tls) = &config.tls {
        endpoint = endpoint.tls_config(tls.client()?)?;
    }
    #[cfg(not(feature = "mtls"))]
    if let Some(tls) = &config.tls {
        tls.unsupported()?;
    }
    let channel = endpoint.connect().await?;
    let mut client = pb::checkpoint_client::CheckpointClient::new(channel)
        .max_decoding_message_size(super::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(super::MAX_MESSAGE_BYTES);
    let (out_tx, out_rx) = mpsc::unbounded_channel::<pb::StandbyMessage>();
    let _ = out_tx.send(hello_to_pb(&config.hello));
    let mut inbound = client
        .attach(UnboundedReceiverStream::new(out_rx))
        .await?
        .into_inner();
    let acks = out_tx.clone();
    tokio::spawn(async move {
        let reason = loop {
            match inbound.message().await {
                Ok(Some(m)) => {
                    // Stamped here, as it arrives: the driver may be busy for seconds.
                    let now = clock.now_ms().max(1);
                    liveness.message_ms.fetch_max(now, Ordering::Relaxed);
                    // A write-ahead batch is acknowledged on receipt: from now on this
                    // process holds its octets (queued for the driver, which takes them
                    // before any request made later, a takeover's included). The
                    // primary's write so never waits for a driver busy with a full
                    // table, and a busy standby is not demoted for it.
                    if let Some(id) = write_ahead_id(&m) {
                        let _ = acks.send(to_primary_pb(&ToPrimary::WriteAheadAck { id }));
                    }
                    // Converted by the driver: a full-table checkpoint takes a while.
                    if driver.send(Input::FromPrimary(Box::new(m))).is_err() {
                        return;
                    }
                }
                Ok(None) => break "stream closed by the primary".to_string(),
                Err(status) => break format!("stream error: {status}"),
            }
        };
        let _ = driver.send(Input::StreamEnded(reason));
    });
    tokio::spawn(send_heartbeats(
        out_tx.clone(),
        slot,
        config.engine.heartbeat_interval_ms,
        clock,
    ));
    Ok(Opened {
        client,
        out: out_tx,
    })
}

/// Connect to the primary, introduce this standby and start the driver for `app`.
/// Returns the handle and the HA actions to carry out.
///
/// # Errors
/// [`TransportError`] when the primary cannot be reached or refuses the stream.
pub async fn run_standby<A>(
    config: StandbyClientConfig,
    app: Arc<Mutex<A>>,
) -> Result<(StandbyHandle, mpsc::UnboundedReceiver<HaAction>), TransportError>
where
    A: Replicated + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let clock = Clock::new();
    let liveness = Arc::new(Liveness::default());
    let slot: BeatSlot = Arc::new(Mutex::new(Some(Vec::new())));
    // The I/O thread lives until `stop` is dropped (the driver ended) or the caller gave
    // up waiting for the stream.
    let (opened_tx, opened_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    {
        let config = config.clone();
        let tx = tx.clone();
        let liveness = liveness.clone();
        let slot = slot.clone();
        spawn_thread("ribsync-standby-io", async move {
            let opened = open(&config, tx, liveness, slot, clock).await;
            let ok = opened.is_ok();
            if opened_tx.send(opened).is_err() || !ok {
                return;
            }
            let _ = stop_rx.await;
        })?;
    }
    let opened = opened_rx.await.map_err(|_| TransportError::DriverGone)??;
    let ha = HaController::new(config.ha.clone(), clock.now_ms());
    // The stream's reader acknowledges write-ahead batches (see `open`).
    let engine = StandbyEngine::new(
        StandbyConfig {
            write_ahead_acked_on_receipt: true,
            ..config.engine
        },
        config.hello.clone(),
    );
    let initial = StandbyStatus {
        connected: true,
        synchronised: false,
        role: ha.role().clone(),
        digests: (0, 0, 0),
        roster: Vec::new(),
        last_error: None,
    };
    let (status_tx, status_rx) = watch::channel(initial);
    let (actions_tx, actions_rx) = mpsc::unbounded_channel();
    let handover = Arc::new(Mutex::new(None));
    spawn_thread(
        "ribsync-standby",
        drive(
            Driver {
                engine,
                ha,
                app,
                clock,
                out: Some(opened.out),
                status: status_tx,
                actions: actions_tx,
                last_error: None,
                mapper: MirrorMapper::new(config.engine.mirror_buffer_bytes),
                handover: handover.clone(),
                liveness: liveness.clone(),
                beat: slot,
                _io: stop_tx,
                _client: opened.client,
            },
            rx,
        ),
    )?;
    Ok((
        StandbyHandle {
            tx,
            status: status_rx,
            clock,
            liveness,
            handover,
        },
        actions_rx,
    ))
}

struct Driver<A> {
    engine: StandbyEngine,
    ha: HaController,
    app: Arc<Mutex<A>>,
    clock: Clock,
    out: Option<mpsc::UnboundedSender<pb::StandbyMessage>>,
    status: watch::Sender<StandbyStatus>,
    actions: mpsc::UnboundedSender<HaAction>,
    last_error: Option<String>,
    mapper: MirrorMapper,
    handover: Arc<Mutex<Option<Handover>>>,
    liveness: Arc<Liveness>,
    /// What the heartbeat sender sends.
    beat: BeatSlot,
    /// Dropped with the driver: ends the I/O thread (connection, reader, heartbeats).
    _io: oneshot::Sender<()>,
    _client: pb::checkpoint_client::CheckpointClient<tonic::transport::Channel>,
}

impl<A: Replicated> Driver<A> {
    fn step(&mut self, now: u64) {
        self.engine.poll(now);
        self.ha.set_synchronised(self.engine.is_synchronised());
        // The evidence as it arrived, not as far as this driver has got through its queue.
        let message = self.liveness.message_ms.load(Ordering::Relaxed);
        if message > 0 {
            self.ha.on_primary_alive(message);
        }
        let frame = self.liveness.frame_ms.load(Ordering::Relaxed);
        if frame > 0 {
            self.ha.on_primary_frame(frame);
        }
        self.ha.tick(now);
        while let Some(msg) = self.engine.poll_transmit() {
            // The engine's heartbeat becomes what the heartbeat sender sends from now on.
            if let ToPrimary::Heartbeat { consumed, .. } = msg {
                if self.out.is_some() {
                    *lock(&self.beat) = Some(consumed);
                }
                continue;
            }
            if let Some(out) = &self.out {
                let _ = out.send(to_primary_pb(&msg));
            }
        }
        if self.out.is_none() {
            *lock(&self.beat) = None;
        }
        while let Some(event) = self.engine.poll_event() {
            match &event {
                StandbyEvent::FlowRestored {
                    flow,
                    anchor: Some(anchor),
                    offsets,
                } => {
                    let inputs = self.mapper.set_anchor(
                        *flow,
                        *anchor,
                        offsets.consumed_from_peer,
                        offsets.sent_to_peer,
                    );
                    self.apply_all(now, inputs);
                }
                StandbyEvent::FlowEnded { flow } => self.mapper.remove(flow),
                StandbyEvent::DigestMismatch { .. } | StandbyEvent::FlowUnprotected { .. } => {
                    tracing::warn!(?event, "standby")
                }
                _ => tracing::debug!(?event, "standby"),
            }
        }
        while let Some(action) = self.ha.poll_action() {
            tracing::warn!(
                ?action,
                now_ms = now,
                last_message_ms = self.liveness.message_ms.load(Ordering::Relaxed),
                last_frame_ms = self.liveness.frame_ms.load(Ordering::Relaxed),
                "HA action"
            );
            let _ = self.actions.send(action);
        }
        let status = StandbyStatus {
            connected: self.out.is_some(),
            synchronised: self.engine.is_synchronised(),
            role: self.ha.role().clone(),
            digests: self.engine.digest_counts(),
            roster: self.ha.roster().to_vec(),
            last_error: self.last_error.clone(),
        };
        self.status.send_if_modified(|s| {
            if *s == status {
                false
            } else {
                *s = status;
                true
            }
        });
    }

    /// A message from the primary: converted before the application's lock is taken (a
    /// full-table checkpoint takes a while); a handover is the driver's, the rest the
    /// engine's. Returns false to stop.
    fn on_primary_message(&mut self, now: u64, msg: pb::PrimaryMessage) -> bool {
        match handover_from_pb(&msg) {
            Ok(Some(h)) => {
                tracing::info!(node = %h.node, endpoint = %h.endpoint, "handover from the primary");
                self.ha.on_handover(now, h.node, h.endpoint.clone());
                *lock(&self.handover) = Some(h);
                return true;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "malformed handover from the primary");
                return true;
            }
        }
        let msg = match to_standby_from_pb(msg) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::error!(error = %e, "malformed message from the primary");
                self.last_error = Some(format!("malformed message: {e}"));
                self.out = None;
                return true;
            }
        };
        if let ToStandby::Heartbeat { roster, .. } = &msg {
            self.ha.on_primary_heartbeat(now, roster.clone());
        }
        // Write-ahead batches, heartbeats and the like never wait for the application.
        let Some(msg) = self.engine.handle_without_app(now, msg) else {
            return true;
        };
        let Ok(mut app) = self.app.lock() else {
            return false;
        };
        if let Err(e) = self.engine.handle(now, msg, &mut *app) {
            tracing::error!(error = %e, "checkpoint stream unusable");
            self.last_error = Some(e.to_string());
            self.out = None;
        }
        true
    }

    /// Mirror inputs in stream offsets: the application's lock is taken only when one of
    /// them feeds it (neighbour-to-primary octets). Returns false to stop.
    fn apply_all(&mut self, now: u64, inputs: Vec<MirrorInput>) -> bool {
        if !inputs
            .iter()
            .any(|i| matches!(i, MirrorInput::Ingress { .. }))
        {
            for input in inputs {
                apply_without_app(&mut self.engine, input);
            }
            return true;
        }
        let Ok(mut app) = self.app.lock() else {
            return false;
        };
        for input in inputs {
            if let Some(MirrorInput::Ingress {
                flow,
                offset,
                bytes,
            }) = apply_without_app(&mut self.engine, input)
            {
                self.engine
                    .on_mirror_ingress(now, flow, offset, &bytes, &mut *app);
            }
        }
        true
    }

    /// Returns false to stop. Only inputs that feed the application take its lock (bgpd
    /// holds it for seconds while it restores or digests a full table): mirrored egress,
    /// acknowledgements and the takeover's requests never wait for it.
    fn input(&mut self, now: u64, input: Input) -> bool {
        match input {
            Input::FromPrimary(msg) => return self.on_primary_message(now, *msg),
            Input::StreamEnded(reason) => {
                tracing::warn!(%reason, "checkpoint stream ended");
                self.last_error = Some(reason);
                self.out = None;
            }
            Input::MirrorIngress {
                flow,
                offset,
                bytes,
            } => {
                return self.apply_all(
                    now,
                    vec![MirrorInput::Ingress {
                        flow,
                        offset,
                        bytes,
                    }],
                )
            }
            Input::MirrorEgress {
                flow,
                offset,
                bytes,
            } => self.engine.on_mirror_egress(flow, offset, &bytes),
            Input::PeerAck { flow, acked_to } => self.engine.on_peer_ack(flow, acked_to),
            Input::PrimaryAck { flow, acked_to } => self.engine.on_primary_ack(flow, acked_to),
            Input::MirrorGap {
                flow,
                direction,
                range,
            } => self.engine.on_mirror_gap(flow, direction, range),
            Input::MirrorData {
                flow,
                from_primary,
                seq,
                bytes,
            } => {
                let inputs = self.mapper.on_data(flow, from_primary, seq, &bytes);
                return self.apply_all(now, inputs);
            }
            Input::MirrorAck {
                flow,
                from_primary,
                ack,
            } => {
                if let Some(input) = self.mapper.on_ack(flow, from_primary, ack) {
                    apply_without_app(&mut self.engine, input);
                }
            }
            Input::FencingResult(outcome) => self.ha.fencing_result(outcome),
            Input::ProbeResult(answered) => self.ha.probe_result(answered),
            Input::TakeoverDone => self.ha.takeover_done(),
            Input::TakeoverFailed(reason) => self.ha.takeover_failed(&reason),
            Input::Backlog { flow, reply } => {
                let _ = reply.send(self.engine.egress_backlog(&flow));
            }
            Input::FlowViews { reply } => {
                let _ = reply.send(self.engine.flow_views());
            }
            Input::TakeoverViews { reply } => {
                let _ = reply.send(self.engine.takeover_views());
            }
            Input::Shutdown => return false,
        }
        true
    }
}

/// Takes `input` unless it feeds the application (neighbour-to-primary octets), which is
/// given back.
fn apply_without_app(engine: &mut StandbyEngine, input: MirrorInput) -> Option<MirrorInput> {
    match input {
        MirrorInput::Egress {
            flow,
            offset,
            bytes,
        } => engine.on_mirror_egress(flow, offset, &bytes),
        MirrorInput::PeerAck { flow, acked_to } => engine.on_peer_ack(flow, acked_to),
        MirrorInput::PrimaryAck { flow, acked_to } => engine.on_primary_ack(flow, acked_to),
        ingress @ MirrorInput::Ingress { .. } => return Some(ingress),
    }
    None
}

async fn drive<A: Replicated + Send + 'static>(
    mut d: Driver<A>,
    mut rx: mpsc::UnboundedReceiver<Input>,
) {
    loop {
        // What queued up meanwhile (a long restore, or feeding the mirror's backlog once a
        // flow's anchor arrives, blocks this task) goes in before the failure detector
        // ticks again. Bounded in time, so the detector and the consumed offsets the
        // heartbeats carry keep up; the evidence of the primary's life does not depend on
        // it (stamped on arrival, see `Liveness`).
        let budget = std::time::Instant::now();
        while budget.elapsed() < DRAIN_BUDGET {
            let Ok(more) = rx.try_recv() else { break };
            let now = d.clock.now_ms();
            if !timed_input(&mut d, now, more) {
                return;
            }
        }
        let now = d.clock.now_ms();
        d.step(now);
        let mut wake = d.engine.poll_timeout();
        if let Some(t) = d.ha.poll_timeout(now) {
            wake = wake.min(t);
        }
        let wake = wake.max(now + 1);
        let input = tokio::select! {
            input = rx.recv() => input,
            _ = tokio::time::sleep_until(d.clock.instant(wake).into()) => continue,
        };
        let Some(input) = input else {
            break;
        };
        let now = d.clock.now_ms();
        if !timed_input(&mut d, now, input) {
            break;
        }
    }
}

/// An input that held the driver longer than this is logged (debug): everything queued
/// behind it, the takeover's requests included, waited that long.
const SLOW_INPUT: std::time::Duration = std::time::Duration::from_millis(20);

/// [`Driver::input`], logging the inputs that held the driver for [`SLOW_INPUT`] or more.
fn timed_input<A: Replicated>(d: &mut Driver<A>, now: u64, input: Input) -> bool {
    let kind = input.kind();
    let started = std::time::Instant::now();
    let go_on = d.input(now, input);
    let took = started.elapsed();
    if took >= SLOW_INPUT {
        tracing::debug!(
            input = kind,
            took_ms = took.as_secs_f64() * 1000.0,
            "standby driver: slow input"
        );
    }
    go_on
}

/// How long the driver takes queued inputs before each step.
const DRAIN_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);
