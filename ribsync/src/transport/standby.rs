//! The standby's gRPC client and driver: one task owns the [`StandbyEngine`] and the
//! [`HaController`]; the tap glue and the application talk to it through a
//! [`StandbyHandle`]; [`HaAction`]s come out of a channel.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use proto::ribsync as pb;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::convert::{hello_to_pb, to_primary_pb, to_standby_from_pb};
use super::{Clock, TlsPaths, TransportError};
use crate::checkpoint::{
    EgressBacklog, FlowId, Hello, MirrorInput, MirrorMapper, Replicated, StandbyConfig,
    StandbyEngine, StandbyEvent, StandbyFlowView, StreamDirection, ToStandby,
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
    FromPrimary(ToStandby),
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
    PrimaryFrameSeen,
    FencingResult(bool),
    TakeoverDone,
    Backlog {
        flow: FlowId,
        reply: oneshot::Sender<Option<EgressBacklog>>,
    },
    FlowViews {
        reply: oneshot::Sender<Vec<StandbyFlowView>>,
    },
    Shutdown,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Input")
    }
}

/// The tap glue's and application's side of the standby's driver. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StandbyHandle {
    tx: mpsc::UnboundedSender<Input>,
    status: watch::Receiver<StandbyStatus>,
}

impl StandbyHandle {
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

    /// The tap saw a frame sent by the primary just now (failure detection).
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn primary_frame_seen(&self) -> Result<(), TransportError> {
        self.send(Input::PrimaryFrameSeen)
    }

    /// The fencing command finished.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn fencing_result(&self, ok: bool) -> Result<(), TransportError> {
        self.send(Input::FencingResult(ok))
    }

    /// Every protected session was taken over.
    ///
    /// # Errors
    /// [`TransportError::DriverGone`] after shutdown.
    pub fn takeover_done(&self) -> Result<(), TransportError> {
        self.send(Input::TakeoverDone)
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

    /// Stop the driver.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Input::Shutdown);
    }
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
    #[allow(unused_mut)]
    let mut endpoint = tonic::transport::Endpoint::from_shared(config.primary.clone())?;
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
    let (tx, rx) = mpsc::unbounded_channel();
    let reader_tx = tx.clone();
    tokio::spawn(async move {
        let reason = loop {
            match inbound.message().await {
                Ok(Some(m)) => match to_standby_from_pb(m) {
                    Ok(msg) => {
                        if reader_tx.send(Input::FromPrimary(msg)).is_err() {
                            return;
                        }
                    }
                    Err(e) => break format!("malformed message: {e}"),
                },
                Ok(None) => break "stream closed by the primary".to_string(),
                Err(status) => break format!("stream error: {status}"),
            }
        };
        let _ = reader_tx.send(Input::StreamEnded(reason));
    });
    let clock = Clock::new();
    let ha = HaController::new(config.ha.clone(), clock.now_ms());
    let engine = StandbyEngine::new(config.engine, config.hello.clone());
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
    tokio::spawn(drive(
        Driver {
            engine,
            ha,
            app,
            clock,
            out: Some(out_tx),
            status: status_tx,
            actions: actions_tx,
            last_error: None,
            mapper: MirrorMapper::new(config.engine.mirror_buffer_bytes),
            _client: client,
        },
        rx,
    ));
    Ok((
        StandbyHandle {
            tx,
            status: status_rx,
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
    _client: pb::checkpoint_client::CheckpointClient<tonic::transport::Channel>,
}

impl<A: Replicated> Driver<A> {
    fn step(&mut self, now: u64) {
        self.engine.poll(now);
        self.ha.set_synchronised(self.engine.is_synchronised());
        self.ha.tick(now);
        while let Some(msg) = self.engine.poll_transmit() {
            if let Some(out) = &self.out {
                let _ = out.send(to_primary_pb(&msg));
            }
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
                    if let Ok(mut app) = self.app.lock() {
                        for input in inputs {
                            apply(&mut self.engine, now, input, &mut *app);
                        }
                    }
                }
                StandbyEvent::FlowEnded { flow } => self.mapper.remove(flow),
                StandbyEvent::DigestMismatch { .. } | StandbyEvent::FlowUnprotected { .. } => {
                    tracing::warn!(?event, "standby")
                }
                _ => tracing::debug!(?event, "standby"),
            }
        }
        while let Some(action) = self.ha.poll_action() {
            tracing::warn!(?action, "HA action");
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

    /// Returns false to stop.
    fn input(&mut self, now: u64, input: Input) -> bool {
        let mut app = match self.app.lock() {
            Ok(app) => app,
            Err(_) => return false,
        };
        match input {
            Input::FromPrimary(msg) => {
                if let ToStandby::Heartbeat { roster, .. } = &msg {
                    self.ha.on_primary_heartbeat(now, roster.clone());
                }
                if let Err(e) = self.engine.handle(now, msg, &mut *app) {
                    tracing::error!(error = %e, "checkpoint stream unusable");
                    self.last_error = Some(e.to_string());
                    self.out = None;
                }
            }
            Input::StreamEnded(reason) => {
                tracing::warn!(%reason, "checkpoint stream ended");
                self.last_error = Some(reason);
                self.out = None;
            }
            Input::MirrorIngress {
                flow,
                offset,
                bytes,
            } => self
                .engine
                .on_mirror_ingress(now, flow, offset, &bytes, &mut *app),
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
                for input in self.mapper.on_data(flow, from_primary, seq, &bytes) {
                    apply(&mut self.engine, now, input, &mut *app);
                }
            }
            Input::MirrorAck {
                flow,
                from_primary,
                ack,
            } => {
                if let Some(input) = self.mapper.on_ack(flow, from_primary, ack) {
                    apply(&mut self.engine, now, input, &mut *app);
                }
            }
            Input::PrimaryFrameSeen => self.ha.on_primary_frame(now),
            Input::FencingResult(ok) => self.ha.fencing_result(ok),
            Input::TakeoverDone => self.ha.takeover_done(),
            Input::Backlog { flow, reply } => {
                let _ = reply.send(self.engine.egress_backlog(&flow));
            }
            Input::FlowViews { reply } => {
                let _ = reply.send(self.engine.flow_views());
            }
            Input::Shutdown => return false,
        }
        true
    }
}

fn apply<A: Replicated>(engine: &mut StandbyEngine, now: u64, input: MirrorInput, app: &mut A) {
    match input {
        MirrorInput::Ingress {
            flow,
            offset,
            bytes,
        } => engine.on_mirror_ingress(now, flow, offset, &bytes, app),
        MirrorInput::Egress {
            flow,
            offset,
            bytes,
        } => engine.on_mirror_egress(flow, offset, &bytes),
        MirrorInput::PeerAck { flow, acked_to } => engine.on_peer_ack(flow, acked_to),
        MirrorInput::PrimaryAck { flow, acked_to } => engine.on_primary_ack(flow, acked_to),
    }
}

async fn drive<A: Replicated + Send + 'static>(
    mut d: Driver<A>,
    mut rx: mpsc::UnboundedReceiver<Input>,
) {
    loop {
        // What queued up meanwhile (a long restore, or feeding the mirror's backlog once a
        // flow's anchor arrives, blocks this task) goes in before the failure detector
        // ticks again: the primary's heartbeats among it prove it alive. Bounded, so the
        // engine's own heartbeats are not starved.
        for _ in 0..DRAIN_LIMIT {
            let Ok(more) = rx.try_recv() else { break };
            let now = d.clock.now_ms();
            if !d.input(now, more) {
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
        if !d.input(now, input) {
            break;
        }
    }
}

/// Queued inputs taken before each step.
const DRAIN_LIMIT: usize = 1024;
