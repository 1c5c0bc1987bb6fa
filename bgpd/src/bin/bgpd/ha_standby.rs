//! The standby role (DESIGN.md section 3): no BGP listener; the speaker follows the primary
//! from the mirror tap (AF_PACKET on `[ha] mirror_interface`, reassembled) and the
//! checkpoint channel (`ribsync::transport::run_standby`); HA actions (fencing, takeover,
//! re-attach) are carried out here.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bgpd::config::{Config, HaSection};
use bgpd::replica::SpeakerReplica;
use ribsync::capture::{parse_frame, LinkType, Reassembler, ReassemblerConfig, StreamEvent};
use ribsync::checkpoint::{FlowId, FlowSelection, Hello, StandbyConfig};
use ribsync::ha::{DetectorConfig, HaAction, HaConfig, HaRole, NodeId, Priority};
use ribsync::takeover::SeqNum;
use ribsync::tap::{MirrorTap, TapConfig, TapFrame, TcpFlags, TcpSegmentView};
use ribsync::transport::{run_standby, StandbyClientConfig, StandbyHandle};

use tokio::sync::mpsc;

use crate::core::{unix_ms, CoreMsg};
use crate::takeover::EgressLedger;

/// What the mirror saw of one flow: the latest sequence and acknowledgement numbers both
/// ways, the timestamps and the link-layer addresses (for the takeover).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorFlowView {
    /// One past the last octet the neighbour sent (its next sequence number).
    pub peer_seq_next: Option<SeqNum>,
    /// One past the last octet the primary sent.
    pub primary_seq_next: Option<SeqNum>,
    /// The neighbour's latest ACK: what it acknowledged of our stream.
    pub peer_ack: Option<SeqNum>,
    /// The primary's latest ACK: what it acknowledged of the neighbour's stream.
    pub primary_ack: Option<SeqNum>,
    /// The latest TSval the primary sent (RFC 7323).
    pub primary_tsval: Option<u32>,
    /// The latest TSval the neighbour sent.
    pub peer_tsval: Option<u32>,
    /// The neighbour's MAC address (source of its frames).
    pub peer_mac: Option<[u8; 6]>,
    /// The primary's MAC address.
    pub primary_mac: Option<[u8; 6]>,
    /// Kernel time of the last frame of the flow, since the Unix epoch.
    pub last_frame: Duration,
    /// The primary closed the connection (FIN or RST seen from it).
    pub primary_closed: bool,
    /// The neighbour closed the connection (FIN or RST seen from it).
    pub peer_closed: bool,
}

/// The mirror's view of every flow, updated by the tap thread.
pub type MirrorViews = Arc<Mutex<BTreeMap<FlowId, MirrorFlowView>>>;

/// Everything [`crate::takeover::run`] gets.
#[derive(Debug, Clone)]
pub struct TakeoverInput {
    /// The configuration (with its `[ha]` section).
    pub config: Config,
    /// The replicated speaker: flows with their `TcpRepairState` (`tcp()`) and bindings
    /// (`binding()`, `flow_of()`); `Replicated::flows()` lists the established ones.
    pub replica: Arc<Mutex<SpeakerReplica>>,
    /// The checkpoint engine: `takeover_views()` (each flow, protected or not, with the
    /// write-ahead and mirrored egress its neighbour has not acknowledged).
    pub standby: StandbyHandle,
    /// What the mirror saw of each flow.
    pub mirror: MirrorViews,
    /// When the primary was declared failed, as an instant of this process.
    pub declared_at: std::time::Instant,
    /// The primary's egress as whole messages (what each neighbour holds follows it: the
    /// Adj-RIB-Out difference); frozen by the takeover, which stops the mirror feeding the
    /// speaker.
    pub ledger: Arc<Mutex<EgressLedger>>,
    /// The core task (asked to drain the speaker's outputs and feed the ledger's messages to
    /// the replica).
    pub core: mpsc::UnboundedSender<CoreMsg>,
}

/// How long one attempt to attach to a primary may take.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(3);

/// State shared by the standby's tasks and the core.
#[derive(Debug)]
struct Shared {
    /// The current checkpoint stream's handle (None until attached).
    handle: Mutex<Option<StandbyHandle>>,
    /// Bumped whenever `handle` changes.
    generation: AtomicU64,
    /// The endpoint of the primary followed now.
    primary: Mutex<String>,
    mirror: MirrorViews,
    /// Stop reading the mirror (after takeover or at shutdown).
    stop: AtomicBool,
    /// Mirror gaps seen (octets the tap never delivered).
    gaps: AtomicU64,
    /// The primary's egress framed into messages: fed here from the mirror, taken by the
    /// core into the replica; its lock also gates what the mirror hands on (frozen at
    /// takeover).
    ledger: Arc<Mutex<EgressLedger>>,
}

/// A running standby, as the core holds it.
#[derive(Debug, Clone)]
pub struct StandbySide {
    shared: Arc<Shared>,
}

impl StandbySide {
    /// The checkpoint stream's handle, once attached.
    pub fn handle(&self) -> Option<StandbyHandle> {
        lock(&self.shared.handle).clone()
    }

    /// The primary's checkpoint endpoint.
    pub fn primary(&self) -> String {
        lock(&self.shared.primary).clone()
    }

    /// The primary's egress ledger, locked (the core feeds its messages to the replica).
    pub fn ledger(&self) -> std::sync::MutexGuard<'_, EgressLedger> {
        lock(&self.shared.ledger)
    }

    /// Stops reading the mirror.
    pub fn stop_mirror(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// Reports the takeover done to the HA controller.
    pub fn takeover_done(&self) {
        if let Some(h) = self.handle() {
            let _ = h.takeover_done();
        }
    }

    /// Stops everything.
    pub fn shutdown(&self) {
        self.stop_mirror();
        if let Some(h) = self.handle() {
            h.shutdown();
        }
    }
}

/// Locks `m`, also when a thread panicked holding it (the data is still the latest).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The HA controller's configuration from `[ha]`: detection after `detect_multiplier`
/// missed heartbeats and as long a silence of the primary on the mirror.
pub fn controller_config(ha: &HaSection) -> HaConfig {
    let mut c = HaConfig::new(NodeId(ha.node_id));
    c.priority = Priority(ha.priority);
    c.detector = DetectorConfig {
        heartbeat_interval_ms: ha.heartbeat_interval_ms,
        missed_heartbeats: ha.detect_multiplier,
        mirror_silence_ms: ha.detection_ms(),
    };
    // Always through the fencing step: it first checks that the primary is really gone
    // (see `primary_answers`), then runs the configured command, if any.
    c.fencing = true;
    c.probe_after_ms = probe_after_ms(ha);
    c
}

/// After how long a heartbeat silence the split-brain probe starts (`HaAction::Probe`):
/// one and a half heartbeat intervals (the next heartbeat is overdue), early enough that
/// the probe's answer (at most [`PROBE_TIMEOUT`]) is in before the failure is declared.
/// `None` when detection is too short for that: the fencing step probes then.
fn probe_after_ms(ha: &HaSection) -> Option<u64> {
    let latest = ha
        .detection_ms()
        .checked_sub(PROBE_TIMEOUT.as_millis() as u64)?;
    let after = (ha.heartbeat_interval_ms + ha.heartbeat_interval_ms / 2).min(latest);
    (after > 0).then_some(after)
}

/// How long the split-brain check waits for the primary's BGP listener to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(50);

/// Whether the primary still answers on one of its session addresses: a TCP connection to
/// its BGP port completes (its listener is there). Heartbeats can stop while the primary is
/// alive (the checkpoint link is cut) and its BGP traffic on the mirror may pause for a
/// whole keepalive interval, so before a takeover the standby asks the session LAN
/// directly: two writers on one session would kill it (issue 7, split brain). A refused
/// connection (the box is up, bgpd is not) or no answer within `wait` ([`PROBE_TIMEOUT`]
/// here) counts as gone. The probe connection is closed at once (the primary logs a
/// connection from an address that is not a neighbour).
pub async fn primary_answers(addresses: &[IpAddr], port: u16, wait: Duration) -> Option<IpAddr> {
    let mut probes = tokio::task::JoinSet::new();
    for a in addresses {
        let sa = std::net::SocketAddr::new(*a, port);
        probes.spawn(async move {
            let answer = tokio::time::timeout(wait, tokio::net::TcpStream::connect(sa));
            matches!(answer.await, Ok(Ok(_))).then_some(sa.ip())
        });
    }
    while let Some(r) = probes.join_next().await {
        if let Ok(Some(a)) = r {
            return Some(a);
        }
    }
    None
}

/// The primary's session addresses: the local addresses of the replicated sessions.
fn session_addresses(replica: &Mutex<SpeakerReplica>) -> Vec<IpAddr> {
    use ribsync::checkpoint::Replicated;
    let mut out: Vec<IpAddr> = lock(replica)
        .flows()
        .iter()
        .map(|f| f.local.ip().to_canonical())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Starts the standby: opens the mirror tap (errors here stop the daemon), then follows
/// the primary in the background.
///
/// # Errors
/// `[ha]` incomplete, or the tap cannot be opened (CAP_NET_RAW, interface).
pub fn start(
    config: Config,
    replica: Arc<Mutex<SpeakerReplica>>,
    core: mpsc::UnboundedSender<CoreMsg>,
) -> anyhow::Result<StandbySide> {
    let ha = config.ha.clone().context("no [ha] section")?;
    let iface = ha
        .mirror_interface
        .clone()
        .context("[ha] mirror_interface is not set")?;
    let tap = MirrorTap::open(&TapConfig::new(&iface, Vec::new()))
        .with_context(|| format!("cannot open the mirror tap on {iface}"))?;
    let shared = Arc::new(Shared {
        handle: Mutex::new(None),
        generation: AtomicU64::new(0),
        primary: Mutex::new(ha.primary.clone().unwrap_or_default()),
        mirror: Arc::new(Mutex::new(BTreeMap::new())),
        stop: AtomicBool::new(false),
        gaps: AtomicU64::new(0),
        ledger: Arc::new(Mutex::new(EgressLedger::default())),
    });
    let neighbours: HashSet<IpAddr> = config.neighbors.iter().map(|n| n.address).collect();
    let s = shared.clone();
    std::thread::Builder::new()
        .name("mirror-tap".into())
        .spawn(move || mirror_loop(tap, &s, &neighbours))
        .context("cannot start the mirror thread")?;
    tracing::info!(interface = %iface, node_id = ha.node_id, "ha: standby, reading the mirror");
    // The takeover's sockets, opened ahead of time (~10 ms each).
    if let Some(si) = &ha.session_interface {
        if let Err(e) = crate::takeover::prepare(si, &ha.moved_addresses()) {
            tracing::warn!("ha: takeover sockets not prepared (opened at takeover): {e:#}");
        }
    }
    tokio::spawn(attach_loop(config, ha, replica, shared.clone(), core));
    Ok(StandbySide { shared })
}

/// The checkpoint client's configuration for `primary`.
fn client_config(ha: &HaSection, primary: &str) -> StandbyClientConfig {
    StandbyClientConfig {
        primary: primary.to_string(),
        engine: StandbyConfig {
            heartbeat_interval_ms: ha.heartbeat_interval_ms,
            ..StandbyConfig::default()
        },
        hello: Hello {
            node: NodeId(ha.node_id),
            priority: Priority(ha.priority),
            selection: FlowSelection::All,
            endpoint: ha
                .checkpoint_address
                .map(|a| a.to_string())
                .unwrap_or_default(),
        },
        ha: controller_config(ha),
        tls: ha.tls.as_ref().map(bgpd::config::HaTlsConfig::paths),
    }
}

/// One attached checkpoint stream.
struct Attached {
    handle: StandbyHandle,
    actions: mpsc::UnboundedReceiver<HaAction>,
}

/// Attaches once to `primary` (giving up after [`ATTACH_TIMEOUT`]).
async fn attach(
    ha: HaSection,
    primary: String,
    replica: Arc<Mutex<SpeakerReplica>>,
) -> Result<Attached, String> {
    lock(&replica).set_feed_clock_origin(unix_ms());
    let (handle, actions) = tokio::time::timeout(
        ATTACH_TIMEOUT,
        run_standby(client_config(&ha, &primary), replica.clone()),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| ribsync::transport::describe(&e))?;
    lock(&replica).set_feed_clock_origin(unix_ms());
    tracing::info!(%primary, "ha: standby attached to the primary");
    Ok(Attached { handle, actions })
}

/// Makes `a` the stream the tap and the admin API talk to.
fn adopt(shared: &Shared, a: &Attached) {
    *lock(&shared.handle) = Some(a.handle.clone());
    shared.generation.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(report_sync(a.handle.clone()));
}

/// Attaches to the primary (retrying until it answers), then carries out the HA actions;
/// re-attaches when the primary dropped the stream but still answers, and attaches to a
/// new primary when another standby was elected.
async fn attach_loop(
    config: Config,
    ha: HaSection,
    replica: Arc<Mutex<SpeakerReplica>>,
    shared: Arc<Shared>,
    core: mpsc::UnboundedSender<CoreMsg>,
) {
    let mut primary = ha.primary.clone().unwrap_or_default();
    let mut failures = 0u32;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        *lock(&shared.primary) = primary.clone();
        let mut a = match attach(ha.clone(), primary.clone(), replica.clone()).await {
            Ok(a) => {
                adopt(&shared, &a);
                a
            }
            Err(e) => {
                if failures.is_multiple_of(20) {
                    tracing::warn!(%primary, "ha: cannot attach to the primary (retrying): {e}");
                }
                failures += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        failures = 0;
        let mut declared = false;
        let mut retry = tokio::time::interval(Duration::from_secs(1));
        // A re-attach attempt runs in the background, so that HA actions are never held up
        // by a connect to a primary that is gone.
        let mut reattach: Option<tokio::task::JoinHandle<Result<Attached, String>>> = None;
        let next = loop {
            let action = tokio::select! {
                action = a.actions.recv() => action,
                _ = retry.tick() => {
                    // The stream ended but this standby still follows: if the primary
                    // answers, it is alive and dropped us (e.g. we were too slow); attach
                    // again. If it does not, the old driver's failure detector decides.
                    let st = a.handle.status().borrow().clone();
                    // Halted (the failure detector fired while this standby was not yet
                    // synchronised, e.g. the primary's driver was busy checkpointing):
                    // if the primary answers a new attach, it is alive; start over.
                    let follows = match st.role {
                        HaRole::Standby { .. } => !st.connected,
                        HaRole::Halted { .. } => true,
                        _ => false,
                    } && !shared.stop.load(Ordering::SeqCst);
                    if let Some(task) = reattach.take_if(|t| t.is_finished()) {
                        if let Ok(Ok(b)) = task.await {
                            if follows {
                                a.handle.shutdown();
                                a = b;
                                adopt(&shared, &a);
                                declared = false;
                            } else {
                                b.handle.shutdown();
                            }
                        }
                    } else if follows && reattach.is_none() {
                        reattach = Some(tokio::spawn(attach(
                            ha.clone(),
                            primary.clone(),
                            replica.clone(),
                        )));
                    }
                    continue;
                }
            };
            let Some(action) = action else {
                break None;
            };
            // Declared only once the split-brain check found the primary gone (RunFencing
            // comes first, see `controller_config`); a handover (switchover) is no failure.
            if !declared && matches!(action, HaAction::TakeOver { .. }) {
                if a.handle.handover().is_some() {
                    tracing::info!("ha: switchover: the primary handed over, taking over");
                } else {
                    tracing::warn!("ha: primary declared failed");
                }
                declared = true;
            }
            match action {
                HaAction::Probe => {
                    // The heartbeats stopped: probe now, so that the answer is in when the
                    // failure is declared (the controller waits for it if need be).
                    let addresses = session_addresses(&replica);
                    let handle = a.handle.clone();
                    let port = config.port;
                    tracing::debug!(
                        "ha: the primary's heartbeats stopped: probing its session address"
                    );
                    tokio::spawn(async move {
                        let answer = primary_answers(&addresses, port, PROBE_TIMEOUT).await;
                        let _ = handle.probe_result(answer.is_some());
                    });
                }
                HaAction::RunFencing { primary_gone } => {
                    let addresses = session_addresses(&replica);
                    // Gone at the early probe, with no sign of life since: not asked again.
                    let answer = if primary_gone {
                        None
                    } else {
                        primary_answers(&addresses, config.port, PROBE_TIMEOUT).await
                    };
                    let outcome = match answer {
                        Some(addr) => {
                            tracing::warn!(%addr, "ha: the primary still answers on its session address (checkpoint channel lost, primary alive): no takeover");
                            Err(format!(
                                "the primary still answers on its session address {addr} \
                                 (checkpoint channel lost, primary alive)"
                            ))
                        }
                        None => {
                            if !declared {
                                tracing::warn!("ha: primary declared failed");
                                declared = true;
                            }
                            fence(&ha).await
                        }
                    };
                    let _ = a.handle.fencing_result(outcome);
                }
                HaAction::TakeOver { declared_at_ms } => {
                    let input = TakeoverInput {
                        config: config.clone(),
                        replica: replica.clone(),
                        standby: a.handle.clone(),
                        mirror: shared.mirror.clone(),
                        // On the driver's own clock: the instant `attach` noted comes a
                        // little after its origin, which put the declaration in the future
                        // (takeover_ms 0.0) once no 50 ms probe came before the takeover.
                        declared_at: a.handle.instant_of(declared_at_ms),
                        ledger: shared.ledger.clone(),
                        core: core.clone(),
                    };
                    match crate::takeover::run(input).await {
                        Ok(report) => {
                            let _ = core.send(CoreMsg::Promote(report));
                        }
                        Err(e) => {
                            tracing::error!("ha: takeover failed: {e:#}");
                            let _ = a.handle.takeover_failed(format!("{e:#}"));
                        }
                    }
                }
                HaAction::AttachTo { node, endpoint } => {
                    tracing::info!(%node, %endpoint, "ha: another standby was elected; attaching to it");
                    let scheme = if ha.tls.is_some() { "https" } else { "http" };
                    break Some(format!("{scheme}://{endpoint}"));
                }
            }
        };
        match next {
            Some(p) => {
                a.handle.shutdown();
                primary = p;
            }
            None => return,
        }
    }
}

/// Logs `ha: synchronised` each time the standby becomes synchronised.
async fn report_sync(handle: StandbyHandle) {
    let mut rx = handle.status();
    let mut was = false;
    loop {
        let now = rx.borrow_and_update().synchronised;
        if now && !was {
            tracing::info!("ha: synchronised");
        } else if !now && was {
            tracing::warn!("ha: no longer synchronised");
        }
        was = now;
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Runs `[ha] fencing_command` (with `sh -c`); true when it exits 0.
async fn fence(ha: &HaSection) -> Result<(), String> {
    let Some(cmd) = &ha.fencing_command else {
        return Ok(());
    };
    match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .await
    {
        Ok(status) if status.success() => {
            tracing::info!(command = %cmd, "ha: fencing done");
            Ok(())
        }
        Ok(status) => {
            tracing::error!(command = %cmd, %status, "ha: fencing failed: no takeover");
            Err(format!("fencing command failed ({status})"))
        }
        Err(e) => {
            tracing::error!(command = %cmd, "ha: fencing command did not run: {e}");
            Err(format!("fencing command did not run: {e}"))
        }
    }
}

/// Which side of a session sent a segment: `Some(true)` the primary (its destination is a
/// neighbour), `Some(false)` a neighbour; `None` for anything else.
fn from_primary(neighbours: &HashSet<IpAddr>, src: IpAddr, dst: IpAddr) -> Option<bool> {
    match (
        neighbours.contains(&src.to_canonical()),
        neighbours.contains(&dst.to_canonical()),
    ) {
        (false, true) => Some(true),
        (true, false) => Some(false),
        _ => None,
    }
}

/// The flow a segment from `src` to `dst` belongs to (the primary's 4-tuple), and whether
/// the primary sent it; `None` for a segment not between the primary and a neighbour.
fn flow_of(
    neighbours: &HashSet<IpAddr>,
    src: SocketAddr,
    dst: SocketAddr,
) -> Option<(FlowId, bool)> {
    let fp = from_primary(neighbours, src.ip(), dst.ip())?;
    let (local, remote) = if fp { (src, dst) } else { (dst, src) };
    Some((FlowId { local, remote }, fp))
}

impl MirrorFlowView {
    /// Takes in one segment of the flow, sent by the primary (`from_primary`) or by the
    /// neighbour, in a frame from `mac` received at `at`: sequence numbers, ACKs and TSvals
    /// never move back (modulo 2^32, frames seen out of order), a SYN starts a new
    /// connection on the 4-tuple, a FIN or RST marks its sender's end.
    fn on_segment(
        &mut self,
        from_primary: bool,
        seg: &TcpSegmentView<'_>,
        mac: Option<[u8; 6]>,
        at: Duration,
    ) {
        let mut len = seg.payload.len() as u32;
        if seg.flags.has(TcpFlags::SYN) {
            // A new connection on the same 4-tuple.
            self.primary_closed = false;
            self.peer_closed = false;
            len += 1;
        }
        if seg.flags.has(TcpFlags::FIN) {
            len += 1;
        }
        let next = SeqNum(seg.seq).wrapping_add(len);
        let ack = seg.flags.has(TcpFlags::ACK).then_some(SeqNum(seg.ack));
        let tsval = seg.timestamps.map(|(tsval, _)| SeqNum(tsval));
        let closed = seg.flags.has(TcpFlags::FIN) || seg.flags.has(TcpFlags::RST);
        let later = |old: Option<SeqNum>, new: SeqNum| Some(old.map_or(new, |o| o.later(new)));
        let later_ts = |old: Option<u32>| match tsval {
            Some(t) => later(old.map(SeqNum), t).map(|t| t.0),
            None => old,
        };
        if from_primary {
            self.primary_seq_next = later(self.primary_seq_next, next);
            if let Some(a) = ack {
                self.primary_ack = later(self.primary_ack, a);
            }
            self.primary_tsval = later_ts(self.primary_tsval);
            self.primary_mac = mac.or(self.primary_mac);
            self.primary_closed |= closed;
        } else {
            self.peer_seq_next = later(self.peer_seq_next, next);
            if let Some(a) = ack {
                self.peer_ack = later(self.peer_ack, a);
            }
            self.peer_tsval = later_ts(self.peer_tsval);
            self.peer_mac = mac.or(self.peer_mac);
            self.peer_closed |= closed;
        }
        self.last_frame = at;
    }
}

/// Takes in one mirrored segment `seg` of `frame` (what the tap thread does with each):
/// updates the [`MirrorFlowView`] of its flow in `views`. Returns the flow and whether the
/// primary sent it; `None` (nothing noted) for a segment not between the primary and one
/// of `neighbours`.
pub fn note_segment(
    views: &mut BTreeMap<FlowId, MirrorFlowView>,
    neighbours: &HashSet<IpAddr>,
    frame: &TapFrame,
    seg: &TcpSegmentView<'_>,
) -> Option<(FlowId, bool)> {
    let (flow, fp) = flow_of(neighbours, seg.src, seg.dst)?;
    let mac: Option<[u8; 6]> = frame.data.get(6..12).and_then(|m| m.try_into().ok());
    views
        .entry(flow)
        .or_default()
        .on_segment(fp, seg, mac, frame.timestamp);
    Some((flow, fp))
}

/// Reads the mirror until stopped: every BGP segment updates the flow's [`MirrorFlowView`],
/// signals the primary alive, and is reassembled; in-order octets go to the checkpoint
/// engine by sequence number (it maps them to stream offsets once the flow's checkpoint
/// brings its anchor), and so do the acknowledgement numbers (which trigger gap fill).
fn mirror_loop(mut tap: MirrorTap, shared: &Shared, neighbours: &HashSet<IpAddr>) {
    let mut reasm = Reassembler::new(ReassemblerConfig {
        // The receiver acknowledged octets the mirror never saw: they will not come
        // again; the engine asks the primary for them (gap fill).
        gap_on_peer_ack: true,
        ..ReassemblerConfig::default()
    });
    let mut handle: Option<StandbyHandle> = None;
    let mut generation = u64::MAX;
    let mut last_alive = Instant::now() - Duration::from_secs(1);
    let mut last_cleanup = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        let g = shared.generation.load(Ordering::SeqCst);
        if g != generation {
            generation = g;
            handle = lock(&shared.handle).clone();
        }
        let frame = match tap.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("mirror tap: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let Some(v) = frame.tcp() else { continue };
        let Some((flow, fp)) = note_segment(&mut lock(&shared.mirror), neighbours, &frame, &v)
        else {
            continue;
        };
        let Some(h) = &handle else { continue };
        if fp && last_alive.elapsed() >= Duration::from_millis(10) {
            last_alive = Instant::now();
            let _ = h.primary_frame_seen();
        }
        if let Ok(Some(seg)) = parse_frame(LinkType::Ethernet, &frame.data) {
            reasm.push(&seg);
        }
        while let Some(ev) = reasm.poll_event() {
            match ev {
                StreamEvent::Data {
                    stream,
                    offset,
                    bytes,
                } => {
                    let Some(base) = reasm.stream(stream).and_then(|s| s.base_seq()) else {
                        continue;
                    };
                    let Some((f, dp)) = flow_of(neighbours, stream.src, stream.dst) else {
                        continue;
                    };
                    let seq = base.wrapping_add(offset as u32);
                    // Under the ledger's lock: once the takeover froze it, nothing more
                    // reaches the speaker (the taken-over sockets carry the octets).
                    let mut ledger = lock(&shared.ledger);
                    if ledger.is_frozen() {
                        continue;
                    }
                    if dp {
                        ledger.primary_sent(f, SeqNum(seq), &bytes);
                    }
                    let _ = h.mirror_data(f, dp, seq, bytes);
                }
                StreamEvent::Gap { stream, range } => {
                    let n = shared.gaps.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::debug!(?stream, ?range, gaps = n, "mirror gap");
                }
                _ => {}
            }
        }
        if v.flags.has(TcpFlags::ACK) {
            let _ = h.mirror_ack(flow, fp, v.ack);
        }
        if last_cleanup.elapsed() >= Duration::from_secs(5) {
            last_cleanup = Instant::now();
            reasm.remove_closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(extra: &str) -> HaSection {
        toml::from_str(&format!("role = \"standby\"\nnode_id = 2\n{extra}"))
            .expect("a valid [ha] section")
    }

    #[test]
    fn the_probe_starts_once_a_heartbeat_is_overdue_and_answers_before_the_declaration() {
        // Defaults: 3 x 100 ms; the probe at 150 ms, its answer by 200 ms.
        let c = controller_config(&section(""));
        assert!(c.fencing);
        assert_eq!(c.probe_after_ms, Some(150));
        // 3 x 50 ms: 75 ms, answered by 125 of 150.
        assert_eq!(
            controller_config(&section("heartbeat_interval_ms = 50")).probe_after_ms,
            Some(75)
        );
        // 2 x 60 ms: 90 would leave no time for the 50 ms probe; at 70 it still fits.
        assert_eq!(
            controller_config(&section(
                "heartbeat_interval_ms = 60\ndetect_multiplier = 2"
            ))
            .probe_after_ms,
            Some(70)
        );
        // Detection no longer than the probe itself: the fencing step probes.
        assert_eq!(
            controller_config(&section(
                "heartbeat_interval_ms = 50\ndetect_multiplier = 1"
            ))
            .probe_after_ms,
            None
        );
    }
}
