//! The primary's gRPC service and driver: one task owns the [`PrimaryEngine`]; the service
//! forwards each standby's stream to it; the application talks to it through a
//! [`PrimaryHandle`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proto::ribsync as pb;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

use super::convert::{hello_from_pb, to_primary_from_pb, to_standby_pb};
use super::{Clock, TlsPaths, TransportError};
use crate::checkpoint::{
    FlowChange, FlowId, FlowView, Hello, PrimaryConfig, PrimaryEngine, PrimaryEvent, Replicated,
    StandbyView, ToPrimary,
};
use crate::ha::NodeId;

/// Configuration of the primary's side.
#[derive(Debug, Clone, Default)]
pub struct PrimaryServerConfig {
    /// The engine.
    pub engine: PrimaryConfig,
    /// Mutual TLS, when set.
    pub tls: Option<TlsPaths>,
}

type Outbound = mpsc::UnboundedSender<Result<pb::PrimaryMessage, Status>>;

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
    let (tx, rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(1024);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let service = Service {
        tx: tx.clone(),
        next_conn: Arc::new(AtomicU64::new(1)),
    };
    #[allow(unused_mut)]
    let mut builder = tonic::transport::Server::builder();
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
    tokio::spawn(async move {
        let incoming = TcpListenerStream::new(listener);
        let stop = async {
            let _ = stop_rx.await;
        };
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop).await {
            tracing::error!(error = %e, "checkpoint service stopped");
        }
    });
    let engine = PrimaryEngine::new(config.engine);
    tokio::spawn(drive(engine, app, rx, events.clone(), stop_tx));
    Ok(PrimaryHandle {
        tx,
        events,
        local_addr,
    })
}

async fn drive<A: Replicated + Send + 'static>(
    mut engine: PrimaryEngine,
    app: Arc<Mutex<A>>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    events: broadcast::Sender<PrimaryEvent>,
    stop: oneshot::Sender<()>,
) {
    let clock = Clock::new();
    let mut links: BTreeMap<NodeId, (u64, Outbound)> = BTreeMap::new();
    let mut waiters: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    loop {
        let now = clock.now_ms();
        // Only when something is due: polling reads the application's flow list, which
        // is not free on every ingested message.
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            if let Ok(app) = app.lock() {
                engine.poll(now, &*app);
            }
        }
        while let Some((node, msg)) = engine.poll_transmit() {
            if let Some((_, out)) = links.get(&node) {
                let _ = out.send(Ok(to_standby_pb(&msg)));
            }
        }
        while let Some(event) = engine.poll_event() {
            match &event {
                PrimaryEvent::WriteAheadReleased { id } => {
                    if let Some(done) = waiters.remove(id) {
                        let _ = done.send(());
                    }
                }
                PrimaryEvent::StandbyLost { node, reason } => {
                    tracing::warn!(%node, %reason, "standby lost");
                    links.remove(node);
                }
                other => tracing::info!(event = ?other, "replication"),
            }
            let _ = events.send(event);
        }
        let wake = engine.poll_timeout().map_or(now + 1000, |t| t.max(now + 1));
        let input = tokio::select! {
            input = rx.recv() => input,
            _ = tokio::time::sleep_until(clock.instant(wake).into()) => continue,
        };
        let Some(input) = input else {
            break;
        };
        let now = clock.now_ms();
        match input {
            Input::Attach { conn, hello, out } => {
                let node = hello.node;
                links.insert(node, (conn, out));
                if let Ok(app) = app.lock() {
                    engine.attach(now, hello, &*app);
                }
            }
            Input::FromStandby { conn, node, msg } => {
                if links.get(&node).is_some_and(|(c, _)| *c == conn) {
                    engine.handle(now, node, msg);
                }
            }
            Input::Detach { conn, node, reason } => {
                if links.get(&node).is_some_and(|(c, _)| *c == conn) {
                    links.remove(&node);
                    engine.detach(node, &reason);
                }
            }
            Input::Ingress {
                flow,
                offset,
                bytes,
            } => engine.on_ingress(now, flow, offset, &bytes),
            Input::FlowChange { flow, change } => engine.on_flow_change(now, flow, change),
            Input::WriteAhead {
                flow,
                offset,
                bytes,
                done,
            } => {
                let ticket = engine.write_ahead(now, flow, offset, &bytes);
                if ticket.must_wait {
                    waiters.insert(ticket.id, done);
                } else {
                    let _ = done.send(());
                }
            }
            Input::Views { reply } => {
                let _ = reply.send((engine.standby_views(now), engine.flow_views()));
            }
            Input::Shutdown => break,
        }
    }
    let _ = stop.send(());
}
