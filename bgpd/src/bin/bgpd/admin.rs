//! The admin API (proto/admin.proto): a tonic server whose handlers ask the core task by
//! message and wait for its answer. Server reflection is on, so `grpcurl` works.

use crate::core::{AdminOp, AdminReq, Core, CoreMsg};
use crate::view;
use bgpd::config::special::originated_route;
use bgpd::speaker::{AdminCommand, PeerId};
use bgpd::wire::{PathAttributes, Prefix};
use proto::admin as pb;
use proto::admin::admin_server::{Admin, AdminServer};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

struct Service {
    core: mpsc::UnboundedSender<CoreMsg>,
    events: broadcast::Sender<pb::Event>,
}

/// How long a client may take for its TLS handshake before it is dropped.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds the admin address and serves it in a task. With `admin_tls`, the TLS handshakes
/// are done here rather than inside tonic, so that a refused client is logged: one
/// warning with its address and the reason.
pub async fn spawn(
    addr: SocketAddr,
    tls: Option<&bgpd::config::AdminTlsConfig>,
    core: mpsc::UnboundedSender<CoreMsg>,
    events: broadcast::Sender<pb::Event>,
) -> anyhow::Result<()> {
    let acceptor = match tls {
        Some(tls) => Some((
            tokio_rustls::TlsAcceptor::from(server_tls(tls)?),
            tls.ca.clone(),
        )),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let svc = AdminServer::new(Service { core, events });
    let router = tonic::transport::Server::builder()
        .add_service(reflection)
        .add_service(svc);
    tokio::spawn(async move {
        let served = match acceptor {
            None => {
                router
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                    .await
            }
            Some((acceptor, ca)) => {
                let (tx, rx) = mpsc::channel(16);
                tokio::spawn(accept_tls(listener, acceptor, ca, tx));
                router
                    .serve_with_incoming(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
            }
        };
        if let Err(e) = served {
            tracing::error!("admin API stopped: {e}");
        }
    });
    Ok(())
}

type TlsConn = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// Accepts admin clients and does their TLS handshakes, each in its own task; a finished
/// one goes to the server through `tx`, a refused one is logged with the client's address
/// and why ([`bgpd::tls_text::refused_client`]).
async fn accept_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    ca: Option<String>,
    tx: mpsc::Sender<std::io::Result<TlsConn>>,
) {
    while !tx.is_closed() {
        let (stream, client) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("admin API: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, ca, tx) = (acceptor.clone(), ca.clone(), tx.clone());
        tokio::spawn(async move {
            let why =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(conn)) => {
                        let _ = tx.send(Ok(conn)).await;
                        return;
                    }
                    Ok(Err(e)) => match bgpd::tls_text::find_tls_error(&e) {
                        Some(t) => bgpd::tls_text::refused_client(t, ca.as_deref()),
                        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                            "the client closed the connection during the TLS handshake".into()
                        }
                        None => e.to_string(),
                    },
                    Err(_) => format!(
                        "no TLS handshake within {} s",
                        TLS_HANDSHAKE_TIMEOUT.as_secs()
                    ),
                };
            tracing::warn!(%client, "admin API: TLS client refused: {why}");
        });
    }
}

/// The admin API's TLS (rustls with ring, HTTP/2 by ALPN): the server identity, and with
/// `ca` a required client certificate signed by it.
fn server_tls(
    tls: &bgpd::config::AdminTlsConfig,
) -> anyhow::Result<std::sync::Arc<rustls::ServerConfig>> {
    use anyhow::Context as _;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    let read = |what: &str, path: &str| {
        std::fs::read(path).with_context(|| format!("admin_tls.{what}: cannot read {path}"))
    };
    let certs = CertificateDer::pem_slice_iter(&read("cert", &tls.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("admin_tls.cert {}", tls.cert))?;
    let key = PrivateKeyDer::from_pem_slice(&read("key", &tls.key)?)
        .with_context(|| format!("admin_tls.key {}", tls.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("admin_tls")?;
    let builder = match &tls.ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read("ca", ca)?) {
                roots
                    .add(c.with_context(|| format!("admin_tls.ca {ca}"))?)
                    .with_context(|| format!("admin_tls.ca {ca}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .with_context(|| format!("admin_tls.ca {ca}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .context("admin_tls: cert and key")?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

impl Service {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> AdminReq) -> Result<T, Status> {
        let (tx, rx) = oneshot::channel();
        self.core
            .send(CoreMsg::Admin(make(tx)))
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        rx.await
            .map_err(|_| Status::unavailable("the daemon is shutting down"))
    }

    async fn op(&self, op: AdminOp) -> Result<Response<pb::Ack>, Status> {
        let message = self.ask(|tx| AdminReq::Command(op, tx)).await??;
        Ok(Response::new(pb::Ack { message }))
    }
}

type RouteStream = Pin<Box<dyn Stream<Item = Result<pb::Route, Status>> + Send>>;
type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl Admin for Service {
    async fn get_info(
        &self,
        _: Request<pb::GetInfoRequest>,
    ) -> Result<Response<pb::GetInfoResponse>, Status> {
        Ok(Response::new(self.ask(AdminReq::Info).await?))
    }

    async fn list_neighbors(
        &self,
        _: Request<pb::ListNeighborsRequest>,
    ) -> Result<Response<pb::ListNeighborsResponse>, Status> {
        let neighbors = self.ask(AdminReq::Neighbors).await?;
        Ok(Response::new(pb::ListNeighborsResponse { neighbors }))
    }

    async fn get_neighbor(
        &self,
        req: Request<pb::GetNeighborRequest>,
    ) -> Result<Response<pb::Neighbor>, Status> {
        let address = parse_addr(&req.get_ref().address)?.to_string();
        let all = self.ask(AdminReq::Neighbors).await?;
        all.into_iter()
            .find(|n| n.address == address)
            .map(Response::new)
            .ok_or_else(|| no_such_neighbour(address))
    }

    type ListRoutesStream = RouteStream;

    async fn list_routes(
        &self,
        req: Request<pb::ListRoutesRequest>,
    ) -> Result<Response<RouteStream>, Status> {
        let routes = self
            .ask(|tx| AdminReq::Routes(req.into_inner(), tx))
            .await??;
        let stream = tokio_stream::iter(routes.into_iter().map(Ok));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn add_route(
        &self,
        req: Request<pb::AddRouteRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        let r = req.into_inner();
        self.op(AdminOp::AddRoute {
            prefix: r.prefix,
            next_hop: r.next_hop,
        })
        .await
    }

    async fn delete_route(
        &self,
        req: Request<pb::DeleteRouteRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        self.op(AdminOp::DeleteRoute {
            prefix: req.into_inner().prefix,
        })
        .await
    }

    async fn enable_neighbor(
        &self,
        req: Request<pb::NeighborRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        self.op(AdminOp::Enable(req.into_inner().address)).await
    }

    async fn disable_neighbor(
        &self,
        req: Request<pb::DisableNeighborRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        let r = req.into_inner();
        self.op(AdminOp::Disable {
            address: r.address,
            communication: r.communication,
        })
        .await
    }

    async fn reset_neighbor(
        &self,
        req: Request<pb::ResetNeighborRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        let r = req.into_inner();
        let kind = pb::ResetKind::try_from(r.kind)
            .map_err(|_| Status::invalid_argument("unknown reset kind"))?;
        self.op(AdminOp::Reset {
            address: r.address,
            kind,
        })
        .await
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        _: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let rx = self.events.subscribe();
        let stream =
            tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|r| r.ok().map(Ok));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_ha_status(
        &self,
        _: Request<pb::GetHaStatusRequest>,
    ) -> Result<Response<pb::HaStatus>, Status> {
        let probe = self.ask(AdminReq::Ha).await?;
        Ok(Response::new(crate::ha_status::status(probe).await))
    }

    async fn switchover(
        &self,
        request: Request<pb::SwitchoverRequest>,
    ) -> Result<Response<pb::SwitchoverReply>, Status> {
        let to = request.into_inner().to;
        let (reply, rx) = oneshot::channel();
        self.core
            .send(CoreMsg::Switchover { to, reply })
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        let r = rx
            .await
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        r.map(Response::new)
    }

    async fn reload(&self, _: Request<pb::ReloadRequest>) -> Result<Response<pb::Ack>, Status> {
        let (tx, rx) = oneshot::channel();
        self.core
            .send(CoreMsg::Reload(Some(tx)))
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        let r = rx
            .await
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        r.map(|message| Response::new(pb::Ack { message }))
            .map_err(|e| Status::invalid_argument(format!("reload refused: {e}")))
    }
}

use tokio_stream::StreamExt as _;

fn parse_addr(s: &str) -> Result<IpAddr, Status> {
    s.trim()
        .parse()
        .map_err(|_| Status::invalid_argument(format!("{s:?} is not an IP address")))
}

fn parse_prefix(s: &str) -> Result<Prefix, Status> {
    s.trim()
        .parse()
        .map_err(|e: bgpd::wire::prefix::PrefixParseError| Status::invalid_argument(e.to_string()))
}

/// The answer about a neighbour address no `[[neighbor]]` has: NOT_FOUND, which
/// `understudy` exits with status 3 for.
fn no_such_neighbour(a: impl std::fmt::Display) -> Status {
    Status::not_found(format!(
        "no such neighbour: {a} is not configured (`understudy neighbors` lists them)"
    ))
}

/// A prefix an operator gives (route add/del): host bits set is refused, not masked.
fn parse_exact_prefix(s: &str) -> Result<Prefix, Status> {
    Prefix::parse_exact(s.trim()).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn peer_of(core: &Core, s: &str) -> Result<PeerId, Status> {
    let a = parse_addr(s)?;
    core.lock()
        .speaker()
        .peer_by_address(a)
        .ok_or_else(|| no_such_neighbour(a))
}

fn peer_in(speaker: &bgpd::speaker::Speaker, s: &str) -> Result<PeerId, Status> {
    let a = parse_addr(s)?;
    speaker
        .peer_by_address(a)
        .ok_or_else(|| no_such_neighbour(a))
}

/// Answers one admin request from the core's state (called on the core task).
pub fn answer(core: &mut Core, req: AdminReq) {
    match req {
        AdminReq::Info(tx) => {
            let g = core.lock();
            let stats = g.speaker().rib().stats();
            let cfg = g.speaker().config();
            let _ = tx.send(pb::GetInfoResponse {
                version: env!("CARGO_PKG_VERSION").to_string(),
                role: crate::ha_status::role(core).to_string(),
                router_id: cfg.router_id().0.to_string(),
                local_as: cfg.local_as,
                loc_rib_routes: stats.loc_rib as u64,
                prefixes: stats.prefixes as u64,
                uptime_ms: core.started.elapsed().as_millis() as u64,
            });
        }
        AdminReq::Neighbors(tx) => {
            let _ = tx.send(neighbors(core));
        }
        AdminReq::Routes(r, tx) => {
            let _ = tx.send(routes(core, &r));
        }
        AdminReq::Command(op, tx) => {
            let r = if core.is_standby() {
                Err(Status::failed_precondition(
                    "this node is a standby: it follows the primary and takes no commands",
                ))
            } else {
                command(core, op)
            };
            let _ = tx.send(r);
        }
        AdminReq::Ha(tx) => {
            let _ = tx.send(crate::ha_status::probe(core));
        }
    }
}

fn neighbors(core: &Core) -> Vec<pb::Neighbor> {
    let g = core.lock();
    let speaker = g.speaker();
    let rib = speaker.rib();
    let standby = match &core.ha {
        crate::core::HaRuntime::Standby(s) => Some(s),
        _ => None,
    };
    // A halted standby (its takeover failed, fencing failed, ...) follows no session any
    // more and holds none: its copies of the primary's sessions are stale.
    let halted = standby.and_then(halted_reason);
    // The replicated clock: the primary's, on a standby as after a takeover.
    let now = crate::core::unix_ms().saturating_sub(g.clock_base_ms());
    speaker
        .peers()
        .into_iter()
        .filter_map(|(peer, address, state)| {
            let n = speaker.neighbor(peer)?;
            let s = speaker.session(peer)?;
            let extra = core.extra.get(&peer);
            let adj_in = rib.adj_rib_in(peer);
            let (state_name, established) = shown_state(state, standby.is_some(), halted.is_some());
            // A standby's copy of the session sends what the primary's produced, but not
            // its KEEPALIVEs: those are counted from the mirror.
            let mirrored_out = standby.map_or(0, |sb| {
                crate::takeover::primary_messages_out(&g, &sb.ledger(), peer)
            });
            let accepted = adj_in.iter().filter(|e| e.accepted).count();
            Some(pb::Neighbor {
                address: address.to_string(),
                remote_as: n.remote_as,
                description: n.description.clone().unwrap_or_default(),
                state: state_name,
                admin_up: s.admin_up(),
                ibgp: n.remote_as == speaker.config().local_as,
                uptime_ms: uptime_ms(
                    established,
                    s.stats().established_since,
                    now,
                    extra.and_then(|e| e.established_at),
                ),
                established_transitions: s.stats().established_transitions,
                messages_in: s.stats().messages_in,
                messages_out: s.stats().messages_out + mirrored_out,
                updates_in: s.stats().updates_in,
                prefixes_received: adj_in.len() as u64,
                prefixes_accepted: accepted as u64,
                prefixes_sent: rib.adj_rib_out(peer).len() as u64,
                negotiated: s.negotiated().map(view::negotiated),
                last_error: match &halted {
                    Some(reason) => format!("this standby holds no session: {reason}"),
                    None => extra.map(|e| e.last_error.clone()).unwrap_or_default(),
                },
                stale_families: s.stale_families().iter().map(|f| f.to_string()).collect(),
            })
        })
        .collect()
}

/// The state `understudy neighbors` shows of a session whose FSM copy is in `state`, and
/// whether it counts as Established (uptime). A standby (`standby`) holds no connection of
/// its own: what it does not follow from the primary is Idle, whatever its copy of the FSM
/// would try; a halted one (`halted`: its takeover or fencing failed) follows nothing any
/// more and holds nothing, so every session is Idle there.
fn shown_state(state: bgpd::session::State, standby: bool, halted: bool) -> (String, bool) {
    let established = state == bgpd::session::State::Established && !halted;
    if standby && !established {
        ("Idle".to_string(), false)
    } else {
        (state.name().to_string(), established)
    }
}

/// Why `standby` is halted (`ha_status` shows the same as `role_reason`); `None` while it
/// follows the primary or takes over.
fn halted_reason(standby: &crate::ha_standby::StandbySide) -> Option<String> {
    let h = standby.handle()?;
    let status = h.status();
    let role = &status.borrow().role;
    match role {
        ribsync::ha::HaRole::Halted { reason } => Some(format!("halted ({reason})")),
        _ => None,
    }
}

/// A neighbour's uptime in milliseconds: from the replicated instant its session reached
/// Established (carried by checkpoints, so a standby and the node that took the session over
/// show the neighbour's unbroken uptime), else from this process's own record; 0 when not
/// Established.
fn uptime_ms(
    established: bool,
    since: Option<bgpd::time::Millis>,
    now: u64,
    local: Option<std::time::Instant>,
) -> u64 {
    if !established {
        return 0;
    }
    since
        .map(|t| now.saturating_sub(t.0))
        .or_else(|| local.map(|t| t.elapsed().as_millis() as u64))
        .unwrap_or(0)
}

fn routes(core: &Core, r: &pb::ListRoutesRequest) -> Result<Vec<pb::Route>, Status> {
    let filter = if r.prefix.trim().is_empty() {
        None
    } else {
        Some(parse_prefix(&r.prefix)?)
    };
    let afi_ok = |p: &Prefix| match r.afi.as_str() {
        "" => true,
        "ipv4" => matches!(p, Prefix::V4(_)),
        "ipv6" => matches!(p, Prefix::V6(_)),
        _ => false,
    };
    if !matches!(r.afi.as_str(), "" | "ipv4" | "ipv6") {
        return Err(Status::invalid_argument("afi must be ipv4, ipv6 or empty"));
    }
    let within = |p: &Prefix| match filter {
        None => true,
        Some(f) => match (f, p) {
            (Prefix::V4(f), Prefix::V4(p)) => f.contains(p),
            (Prefix::V6(f), Prefix::V6(p)) => f.contains(p),
            _ => false,
        },
    };
    let g = core.lock();
    let speaker = g.speaker();
    let rib = speaker.rib();
    let name = |peer: Option<PeerId>| {
        peer.and_then(|p| speaker.neighbor(p))
            .map(|n| n.address.to_string())
            .unwrap_or_default()
    };
    let table =
        pb::Table::try_from(r.table).map_err(|_| Status::invalid_argument("unknown table"))?;
    let out = match table {
        pb::Table::LocRib => rib
            .loc_rib()
            .iter()
            .filter(|e| afi_ok(&e.prefix) && within(&e.prefix))
            .map(|e| view::route(e, name(e.peer)))
            .collect(),
        pb::Table::AdjRibIn => {
            let peer = peer_in(speaker, &r.neighbor)?;
            rib.adj_rib_in(peer)
                .iter()
                .filter(|e| afi_ok(&e.prefix) && within(&e.prefix))
                .map(|e| view::route(e, name(e.peer)))
                .collect()
        }
        pb::Table::AdjRibOut => {
            let peer = peer_in(speaker, &r.neighbor)?;
            rib.adj_rib_out(peer)
                .into_iter()
                .filter(|(p, _)| afi_ok(p) && within(p))
                .map(|(prefix, attributes)| {
                    let e = bgpd::rib::RouteEntry {
                        prefix,
                        peer: Some(peer),
                        path_id: 0,
                        attributes,
                        accepted: true,
                        stale: false,
                        best: true,
                    };
                    view::route(&e, r.neighbor.clone())
                })
                .collect()
        }
    };
    Ok(out)
}

fn command(core: &mut Core, op: AdminOp) -> Result<String, Status> {
    match op {
        AdminOp::AddRoute { prefix, next_hop } => {
            let next_hop = if next_hop.trim().is_empty() {
                None
            } else {
                Some(parse_addr(&next_hop)?)
            };
            // As `understudy route add` checks it before it connects: loopback and
            // multicast space and unusable next hops refused; the default route,
            // link-local and other special space said in the answer.
            let (prefix, warning) =
                originated_route(&prefix, next_hop).map_err(Status::invalid_argument)?;
            let mut attributes = PathAttributes::new();
            if let Some(nh) = next_hop {
                if !attributes.set_originated_next_hop(&prefix, nh) {
                    return Err(Status::invalid_argument(format!(
                        "next hop {nh} is not of the family of {prefix}"
                    )));
                }
            }
            let again = core.lock().speaker().rib().is_originated(prefix);
            core.command(AdminCommand::Originate { prefix, attributes });
            let done = if again {
                format!("{prefix} was originated already: its attributes are replaced")
            } else {
                format!("{prefix} originated")
            };
            Ok(match warning {
                Some(what) => format!("{done} (warning: {what})"),
                None => done,
            })
        }
        AdminOp::DeleteRoute { prefix } => {
            let prefix = parse_exact_prefix(&prefix)?;
            if !core.lock().speaker().rib().is_originated(prefix) {
                return Err(Status::not_found(format!(
                    "{prefix} is not originated here (`understudy rib` lists the routes; \
                     ours have no neighbour)"
                )));
            }
            core.command(AdminCommand::WithdrawOriginated { prefix });
            Ok(format!("{prefix} withdrawn"))
        }
        AdminOp::Enable(a) => {
            let peer = peer_of(core, &a)?;
            core.command(AdminCommand::Start { peer });
            Ok(format!("{a} enabled"))
        }
        AdminOp::Disable {
            address,
            communication,
        } => {
            let peer = peer_of(core, &address)?;
            let communication = (!communication.is_empty()).then_some(communication);
            core.command(AdminCommand::Stop {
                peer,
                communication,
            });
            Ok(format!("{address} disabled"))
        }
        AdminOp::Reset { address, kind } => {
            let peer = peer_of(core, &address)?;
            let established = core
                .lock()
                .speaker()
                .session(peer)
                .is_some_and(|s| s.established_conn().is_some());
            if kind != pb::ResetKind::Hard && !established {
                // A soft reset asks the neighbour for its routes again (ROUTE-REFRESH, RFC
                // 2918) or resends ours: both need an Established session.
                let state = core
                    .lock()
                    .speaker()
                    .session(peer)
                    .map(|s| s.state().name().to_string())
                    .unwrap_or_default();
                return Err(Status::failed_precondition(format!(
                    "{address} is {state}, not Established: a soft reset needs an Established session"
                )));
            }
            if kind == pb::ResetKind::Hard
                && !core
                    .lock()
                    .speaker()
                    .session(peer)
                    .is_some_and(|s| s.admin_up())
            {
                // A hard reset is ManualStop then ManualStart: on a disabled neighbour it
                // would silently enable it.
                return Err(Status::failed_precondition(format!(
                    "{address} is disabled: `understudy enable {address}` starts it"
                )));
            }
            match kind {
                pb::ResetKind::Hard => core.command(AdminCommand::Reset {
                    peer,
                    communication: Some("hard reset by the operator".into()),
                }),
                pb::ResetKind::SoftIn => core.command(AdminCommand::SoftResetIn { peer }),
                pb::ResetKind::SoftOut => core.command(AdminCommand::SoftResetOut { peer }),
            }
            Ok(format!(
                "{address}: {}",
                match kind {
                    pb::ResetKind::Hard => "hard reset (any connection closed with Cease / Administrative Reset; the session starts again)",
                    pb::ResetKind::SoftIn => "soft reset in (import policy applied again; routes asked for again with ROUTE-REFRESH when the neighbour supports it)",
                    pb::ResetKind::SoftOut => "soft reset out (every route sent again)",
                }
            ))
        }
    }
}

#[cfg(test)]
mod shown_state_tests {
    use super::shown_state;
    use bgpd::session::State;

    #[test]
    fn a_halted_standby_shows_no_session_established() {
        let shown = |s, standby, halted| shown_state(s, standby, halted);
        assert_eq!(
            shown(State::Established, false, false),
            ("Established".into(), true)
        );
        assert_eq!(
            shown(State::Connect, false, false),
            ("Connect".into(), false)
        );
        // A standby following the primary's session shows it as the primary holds it.
        assert_eq!(
            shown(State::Established, true, false),
            ("Established".into(), true)
        );
        assert_eq!(shown(State::Connect, true, false), ("Idle".into(), false));
        // Halted (e.g. "takeover failed: ..."): nothing is held here.
        assert_eq!(
            shown(State::Established, true, true),
            ("Idle".into(), false)
        );
    }
}

#[cfg(test)]
mod uptime_tests {
    use super::uptime_ms;
    use bgpd::time::Millis;

    #[test]
    fn uptime_follows_the_replicated_instant_of_established() {
        // Established at replicated 1,000 ms, now 61,000 ms: a minute, whatever this
        // process saw (a standby restored it from a checkpoint a second ago).
        let local = Some(std::time::Instant::now());
        assert_eq!(uptime_ms(true, Some(Millis(1_000)), 61_000, local), 60_000);
        assert_eq!(uptime_ms(false, Some(Millis(1_000)), 61_000, local), 0);
        assert!(uptime_ms(true, None, 61_000, local) < 1_000);
        assert_eq!(uptime_ms(true, None, 61_000, None), 0);
    }
}
