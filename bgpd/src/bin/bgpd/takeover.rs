//! The standby's takeover of the primary's BGP sessions (DESIGN.md section 4; issue 7),
//! on `HaAction::TakeOver`: what the standby gathered while following the primary turned
//! into `ribsync::takeover` plans, run, and reported. Called by the standby's HA driver
//! (`ha_standby.rs`) through [`run`] (the hook agreed in /work/coord/ha-contract.md).
//!
//! Per protected flow the standby holds the TCP context of the last checkpoint
//! ([`TcpRepairState`], peeked on the primary at a message boundary), what its mirror port
//! saw since ([`MirrorTcpView`]: the latest ACK each way, the primary's latest TSval, the
//! neighbour's MAC), and the egress octets the neighbour has not acknowledged
//! ([`EgressBacklog`], from the write-ahead and the mirror). [`plan_session`] turns them into
//! a [`SessionPlan`]: the socket starts at the primary's last ACK (what the neighbour will not
//! resend) and the neighbour's last ACK, resends every unacknowledged octet (so a message cut
//! off on the wire is completed byte for byte), then a KEEPALIVE at once (RFC 4271 section
//! 4.4). Once every session is live, the Adj-RIB-Out difference is computed and handed to the
//! core, which writes it before anything else ([`TakenSession::difference`]): the UPDATEs that turn what the neighbour holds (the
//! flow's checkpointed Adj-RIB-Out and every UPDATE the primary wrote since, from the
//! [`EgressLedger`]) into this node's Adj-RIB-Out ([`feed_primary_egress`],
//! `SpeakerReplica::as_sent_difference`). [`plan_addresses`] moves each session address
//! (and the configured extra ones, e.g. a gateway) with the neighbours' MACs installed, so the
//! first segments need no ARP round trip. [`run`] does it all and reports for
//! `ha: takeover complete` and `GetHaStatus.last_takeover`.

use std::collections::BTreeMap;
use std::net::{IpAddr, TcpStream};
use std::sync::Mutex;

use anyhow::Context as _;
use bgpd::config::MovedAddress;
use bgpd::session::ConnId;
use bgpd::speaker::PeerId;
use ribsync::checkpoint::{EgressBacklog, FlowId, Replicated, SeqAnchor};
use ribsync::takeover::{
    self, AddressControl, AddressPlan, Announcer, RebuildOverrides, SeqNum, SessionPlan,
    TcpRepairState,
};

use crate::ha_standby::{lock, MirrorFlowView, TakeoverInput};

/// A BGP KEEPALIVE (RFC 4271 section 4.4): the 19-octet header alone, type 4.
pub const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

pub mod ledger;
pub use ledger::EgressLedger;

/// Hands `replica` the messages the primary wrote on `flow` (from `ledger`) from where what
/// the neighbour holds stands in the replica (the flow's checkpoint offset at first, then
/// each message taken): see `SpeakerReplica::note_primary_egress`. Returns how many were
/// taken. Nothing before the flow is bound and anchored.
pub fn feed_primary_egress(
    replica: &mut bgpd::replica::SpeakerReplica,
    ledger: &mut EgressLedger,
    flow: &FlowId,
) -> usize {
    let (Some(anchor), Some(from)) = (replica.anchor(flow), replica.primary_egress_from(flow))
    else {
        return 0;
    };
    let seq = SeqNum(anchor.our_seq_at_zero).wrapping_add(from as u32);
    if ledger.starts_after(flow, seq) {
        tracing::debug!(%flow, from, "the primary's egress from this offset is not all known");
    }
    let mut taken = 0;
    for (s, m) in ledger.messages_from(flow, seq) {
        let at = replica.primary_egress_from(flow).unwrap_or(from);
        let Some(offset) = SeqAnchor::offset_of(s.0, anchor.our_seq_at_zero, at) else {
            continue;
        };
        if replica.note_primary_egress(flow, offset, &m) {
            taken += 1;
        }
    }
    taken
}

/// [`feed_primary_egress`] for every flow the ledger holds messages of, when the ledger
/// framed new messages or the replica restored a checkpoint since the last call (the
/// standby's core calls it after each drain of its speaker).
pub fn feed_all_primary_egress(
    replica: &mut bgpd::replica::SpeakerReplica,
    ledger: &mut EgressLedger,
) {
    let now = (ledger.generation(), replica.restores());
    if ledger.fed_at() == Some(now) {
        return;
    }
    for flow in ledger.flows() {
        feed_primary_egress(replica, ledger, &flow);
    }
    ledger.set_fed_at(now);
}

/// What the mirror port showed of one flow since its checkpoint (every field the latest
/// value seen; `None` until seen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorTcpView {
    /// The neighbour's latest ACK: our octets before it will never be needed again.
    pub peer_ack: Option<SeqNum>,
    /// The primary's latest ACK: the neighbour will not resend octets before it.
    pub primary_ack: Option<SeqNum>,
    /// The latest TSval (RFC 7323) the primary sent; the standby's start above it.
    pub primary_tsval: Option<u32>,
    /// The neighbour's Ethernet address (source of its frames).
    pub peer_mac: Option<[u8; 6]>,
    /// One past the last octet the primary sent.
    pub primary_seq_next: Option<SeqNum>,
}

impl From<&MirrorFlowView> for MirrorTcpView {
    fn from(v: &MirrorFlowView) -> Self {
        MirrorTcpView {
            peer_ack: v.peer_ack,
            primary_ack: v.primary_ack,
            primary_tsval: v.primary_tsval,
            peer_mac: v.peer_mac,
            primary_seq_next: v.primary_seq_next,
        }
    }
}

/// Everything the standby knows about one protected flow at takeover.
#[derive(Debug, Clone)]
pub struct FlowTakeover {
    /// The flow (the primary's 4-tuple).
    pub flow: FlowId,
    /// The session it carries.
    pub peer: PeerId,
    /// The session's connection.
    pub conn: ConnId,
    /// The TCP context of the flow's last checkpoint.
    pub tcp: TcpRepairState,
    /// Sequence numbers of stream offset 0 (maps egress offsets to sequence numbers).
    pub anchor: Option<SeqAnchor>,
    /// What the mirror saw since the checkpoint.
    pub mirror: MirrorTcpView,
    /// Egress octets the neighbour has not acknowledged (write-ahead and mirror).
    pub backlog: Option<EgressBacklog>,
    /// The neighbour's TCP-MD5 key (RFC 2385), from the configuration.
    pub md5_key: Option<Vec<u8>>,
    /// One past the last neighbour octet this node's speaker took in (whole messages and a
    /// held-back partial one), as a sequence number; `None` when unknown.
    pub received: Option<SeqNum>,
}

/// Why a flow cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The write-ahead has a hole: the octets the neighbour still needs are not all known.
    #[error("the unacknowledged octets have a hole (write-ahead incomplete)")]
    BacklogIncomplete,
    /// The neighbour acknowledged octets the standby never saw written.
    #[error("the neighbour acknowledged {0} octets beyond the write-ahead")]
    AckBeyondBacklog(u32),
    /// The backlog starts after the neighbour's last ACK: octets in between are unknown.
    #[error("the write-ahead starts {0} octets after the neighbour's last ACK")]
    BacklogStartsLate(u32),
    /// The primary acknowledged neighbour octets this node never took in (a mirror gap
    /// not filled before the failure): the neighbour will not send them again.
    #[error("the primary acknowledged {0} neighbour octets this standby never received")]
    IngressBehind(u32),
    /// The backlog's offsets cannot be mapped to sequence numbers.
    #[error("no sequence anchor for the write-ahead")]
    NoAnchor,
    /// The neighbour acknowledged octets after the checkpoint, the primary sent more than
    /// that, and there is no write-ahead to resend them from.
    #[error("no write-ahead for octets the primary sent after the checkpoint")]
    NoBacklog,
}

/// The socket plan of one flow (see the module documentation).
///
/// # Errors
/// [`PlanError`] when the octets the neighbour still needs are not all known: taking the
/// session over would corrupt its stream, so it is left alone.
pub fn plan_session(f: &FlowTakeover) -> Result<SessionPlan, PlanError> {
    let snd_una = f
        .mirror
        .peer_ack
        .map_or(f.tcp.snd_una, |a| f.tcp.snd_una.later(a));
    let unacked = match (&f.backlog, f.anchor) {
        (Some(b), Some(anchor)) => {
            if !b.complete {
                return Err(PlanError::BacklogIncomplete);
            }
            let start = SeqNum(anchor.our_seq_at_zero).wrapping_add(b.offset as u32);
            if start.is_after(snd_una) {
                return Err(PlanError::BacklogStartsLate(start.distance_from(snd_una)));
            }
            let skip = snd_una.distance_from(start);
            if skip as usize > b.bytes.len() {
                return Err(PlanError::AckBeyondBacklog(skip - b.bytes.len() as u32));
            }
            Some(b.bytes[skip as usize..].to_vec())
        }
        // Without the write-ahead: the checkpoint's send queue covers it while the
        // neighbour has not acknowledged beyond it; past it, only "everything the primary
        // sent is acknowledged" (mirror) leaves nothing to resend.
        (backlog, anchor) => {
            if snd_una.is_after(f.tcp.write_seq) {
                if f.mirror.primary_seq_next != Some(snd_una) {
                    return Err(if backlog.is_some() && anchor.is_none() {
                        PlanError::NoAnchor
                    } else {
                        PlanError::NoBacklog
                    });
                }
                Some(Vec::new())
            } else {
                None
            }
        }
    };
    // The socket expects next the first octet this node has not taken in: octets the
    // mirror delivered beyond the primary's last ACK (in flight when it died) are not taken
    // twice when the neighbour retransmits them, and the rest of a message cut off at the
    // failure joins the part the replica holds.
    let rcv_nxt = match (f.mirror.primary_ack, f.received) {
        (Some(acked), Some(received)) if acked.is_after(received) => {
            return Err(PlanError::IngressBehind(acked.distance_from(received)));
        }
        (acked, Some(received)) => Some(acked.map_or(received, |a| a.later(received))),
        (acked, None) => acked,
    };
    Ok(SessionPlan {
        state: f.tcp.clone(),
        overrides: RebuildOverrides {
            rcv_nxt,
            snd_una: Some(snd_una),
            unacked,
            last_tsval_seen: f.mirror.primary_tsval,
            md5_key: f.md5_key.clone(),
            ..RebuildOverrides::default()
        },
        // The KEEPALIVE alone: the Adj-RIB-Out difference follows once every session is
        // live ([`TakenSession::difference`]), so no session's first segment waits for it.
        first_message: KEEPALIVE.to_vec(),
    })
}

/// One session address seen on the mirror: the primary's address, the neighbour's, and
/// the neighbour's MAC when seen.
pub type Endpoint = (IpAddr, IpAddr, Option<[u8; 6]>);

/// The session endpoints of `flows`.
pub fn endpoints_of(flows: &[FlowTakeover]) -> Vec<Endpoint> {
    flows
        .iter()
        .map(|f| (f.flow.local.ip(), f.flow.remote.ip(), f.mirror.peer_mac))
        .collect()
}

/// The address plans: each distinct session address of `endpoints` once on
/// `session_ifindex` (prefix length from `prefix_len_of`), with the MAC of every neighbour
/// reached through it that the mirror saw; then each of `extra` on its own interface.
pub fn plan_addresses(
    endpoints: &[Endpoint],
    session_ifindex: u32,
    prefix_len_of: &dyn Fn(IpAddr) -> u8,
    extra: &[(u32, MovedAddress)],
) -> Vec<AddressPlan> {
    let mut by_addr: BTreeMap<IpAddr, Vec<(IpAddr, [u8; 6])>> = BTreeMap::new();
    for (local, remote, mac) in endpoints {
        let n = by_addr.entry(*local).or_default();
        if let Some(mac) = mac {
            let peer = (*remote, *mac);
            if !n.contains(&peer) {
                n.push(peer);
            }
        }
    }
    let mut plans: Vec<AddressPlan> = by_addr
        .into_iter()
        .map(|(addr, neighbours)| AddressPlan {
            ifindex: session_ifindex,
            addr,
            prefix_len: prefix_len_of(addr),
            neighbours,
        })
        .collect();
    for (ifindex, m) in extra {
        if !plans.iter().any(|p| p.addr == m.addr) {
            plans.push(AddressPlan {
                ifindex: *ifindex,
                addr: m.addr,
                prefix_len: m.prefix_len,
                neighbours: Vec::new(),
            });
        }
    }
    plans
}

/// The prefix length of the subnet holding `addr` among `local` (this node's own addresses
/// on the session interface), else a whole subnet's default (/24 IPv4, /64 IPv6).
pub fn prefix_len_for(addr: IpAddr, local: &[(IpAddr, u8)]) -> u8 {
    let same_subnet = |a: IpAddr, b: IpAddr, len: u8| match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    };
    local
        .iter()
        .find(|(l, len)| same_subnet(*l, addr, *len))
        .map(|(_, len)| *len)
        .unwrap_or(if addr.is_ipv4() { 24 } else { 64 })
}

/// What the standby opens ahead of time (opening an AF_PACKET socket costs ~10 ms): the
/// netlink socket and an announcer per interface that receives an address.
pub struct Prepared {
    control: AddressControl,
    announcers: Vec<Announcer>,
    session_interface: String,
    session_ifindex: u32,
    own_addresses: Vec<(IpAddr, u8)>,
    extra: Vec<(u32, MovedAddress)>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("session_interface", &self.session_interface)
            .field("session_ifindex", &self.session_ifindex)
            .field("own_addresses", &self.own_addresses)
            .field("extra", &self.extra)
            .finish()
    }
}

impl Prepared {
    /// Opens the netlink socket and the announcers of `session_interface` and of every
    /// interface in `extra`, and reads this node's own addresses on `session_interface`.
    ///
    /// # Errors
    /// When an interface does not exist or a socket cannot be opened (CAP_NET_ADMIN and
    /// CAP_NET_RAW are needed).
    pub fn open(session_interface: &str, extra: &[MovedAddress]) -> anyhow::Result<Prepared> {
        let control = AddressControl::open().context("netlink socket for the takeover")?;
        let session_ifindex = takeover::interface_index(session_interface)
            .with_context(|| format!("session interface {session_interface}"))?;
        let mut announcers = vec![Announcer::open(session_interface)
            .with_context(|| format!("announcer on {session_interface}"))?];
        let mut with_index = Vec::new();
        for m in extra {
            let ifindex = takeover::interface_index(&m.interface)
                .with_context(|| format!("interface {} of {}", m.interface, m.addr))?;
            if !announcers.iter().any(|a| a.ifindex() == ifindex) {
                announcers.push(
                    Announcer::open(&m.interface)
                        .with_context(|| format!("announcer on {}", m.interface))?,
                );
            }
            with_index.push((ifindex, m.clone()));
        }
        Ok(Prepared {
            control,
            announcers,
            session_interface: session_interface.to_string(),
            session_ifindex,
            own_addresses: interface_addresses(session_interface),
            extra: with_index,
        })
    }
}

/// The sockets opened ahead of time by [`prepare`], used by the next [`run`].
static PREPARED: Mutex<Option<Prepared>> = Mutex::new(None);

/// Opens what the takeover needs ahead of time (the standby calls it once it is attached),
/// so [`run`] does not pay ~10 ms per AF_PACKET socket after the failure.
///
/// # Errors
/// As [`Prepared::open`].
pub fn prepare(session_interface: &str, extra: &[MovedAddress]) -> anyhow::Result<()> {
    let p = Prepared::open(session_interface, extra)?;
    if let Ok(mut slot) = PREPARED.lock() {
        *slot = Some(p);
    }
    Ok(())
}

/// The addresses on `iface` (`ip -j addr show dev IFACE`; read once, ahead of time).
fn interface_addresses(iface: &str) -> Vec<(IpAddr, u8)> {
    let Ok(out) = std::process::Command::new("ip")
        .args(["-j", "addr", "show", "dev", iface])
        .output()
    else {
        return Vec::new();
    };
    addresses_in(&out.stdout)
        .into_iter()
        .map(|(_, ip, len)| (ip, len))
        .collect()
}

/// Every address in `ip -j addr show` output, in its order: (ifindex, address, prefix
/// length). Entries that lack one of the three are left out; output that is not JSON gives
/// none.
pub fn addresses_in(ip_json: &[u8]) -> Vec<(u32, IpAddr, u8)> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(ip_json) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        let Some(ifindex) = link
            .get("ifindex")
            .and_then(|i| i.as_u64())
            .and_then(|i| u32::try_from(i).ok())
        else {
            continue;
        };
        for a in link
            .get("addr_info")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            let ip = a
                .get("local")
                .and_then(|l| l.as_str())
                .and_then(|l| l.parse::<IpAddr>().ok());
            let len = a
                .get("prefixlen")
                .and_then(|l| l.as_u64())
                .and_then(|l| u8::try_from(l).ok());
            if let (Some(ip), Some(len)) = (ip, len) {
                out.push((ifindex, ip, len));
            }
        }
    }
    out
}

/// One session now held by this node: the live socket, rebuilt with TCP_REPAIR and out of
/// repair mode, for the core to serve (`net::spawn_io`).
#[derive(Debug)]
pub struct TakenSession {
    /// The flow (4-tuple as the primary had it).
    pub flow: FlowId,
    /// The neighbour in this node's speaker.
    pub peer: PeerId,
    /// The session connection the flow carries in this node's speaker.
    pub conn: ConnId,
    /// The socket.
    pub stream: TcpStream,
    /// Octets of our stream written to the neighbour so far (the egress offset the next
    /// write starts at), for the replica's accounting.
    pub sent_offset: u64,
    /// The Adj-RIB-Out difference (whole UPDATEs), to be written at `sent_offset`, before
    /// anything else the speaker sends. Computed once every session is live, so that no
    /// session's first segment waits for any session's difference.
    pub difference: Vec<u8>,
}

/// What [`run`] did.
#[derive(Debug, Default)]
pub struct TakeoverReport {
    /// Sessions taken over.
    pub sessions: Vec<TakenSession>,
    /// Flows that could not be taken over, with the reason.
    pub failed: Vec<(FlowId, String)>,
    /// Milliseconds from the failure declaration to the last session's first segment.
    pub takeover_ms: f64,
}

/// The egress offset right after what a plan writes: the neighbour's last ACK (as an
/// offset of our stream, near `near`), the octets resent, then the first message.
fn sent_offset(f: &FlowTakeover, plan: &SessionPlan, near: u64) -> u64 {
    let snd_una = plan.overrides.snd_una.unwrap_or(f.tcp.snd_una);
    let resent = match &plan.overrides.unacked {
        Some(u) => u.len(),
        None => f.tcp.write_seq.distance_from(snd_una) as usize,
    };
    let base = f
        .anchor
        .and_then(|a| SeqAnchor::offset_of(snd_una.0, a.our_seq_at_zero, near))
        .unwrap_or(near);
    base + resent as u64 + plan.first_message.len() as u64
}

/// Why a flow the replica knows is not taken over at a planned switchover.
pub const NOT_HANDED_OVER: &str = "not in the primary's handover";

/// What [`gather`] found.
#[derive(Debug, Default)]
struct Gathered {
    /// The flows to take over, with the egress offset of the flow's last write.
    flows: Vec<(FlowTakeover, u64)>,
    /// Flows that cannot be taken over, and why.
    failed: Vec<(FlowId, String)>,
    /// Flows the primary or the neighbour closed (FIN or RST on the mirror) before the
    /// failure was declared: a primary that stopped cleanly (Cease on every session).
    closed: Vec<FlowId>,
    /// Every session address the mirror showed, also of closed flows: the new primary
    /// owns them all (the neighbours of closed sessions connect to it again).
    endpoints: Vec<Endpoint>,
}

/// Everything the standby holds about each protected flow, from the replica, the
/// checkpoint engine and the mirror views (with the egress offset of the flow's last
/// write, to place sequence numbers in the stream). Flows without a checkpointed TCP
/// context or binding, or that the engine reports unprotected, are returned as failed;
/// flows closed on the mirror are ended in the replica (their sessions go down, to be
/// started again once this node is the primary).
async fn gather(input: &TakeoverInput) -> Gathered {
    let mut flows = Vec::new();
    let mut failed = Vec::new();
    // A planned switchover brings each session's TCP state as the primary left it.
    let handover = input
        .standby
        .handover()
        .map(|h| crate::switchover::states_by_flow(&h.tcp));
    if let Some(fresh) = &handover {
        wait_for_mirror(input, fresh).await;
    }
    let mut closed = Vec::new();
    let mut endpoints = Vec::new();
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1000.0;
    let started = std::time::Instant::now();
    // The mirror hands on nothing more; the round trip through the engine's queue feeds
    // the speaker everything handed on before; the core's drain then has the speaker's
    // Adj-RIB-Out follow it.
    lock(&input.ledger).freeze();
    // One request for every flow's view and egress backlog: the driver answers it after
    // everything queued before (one round trip, not one per flow).
    let mut backlogs = BTreeMap::new();
    let views: Vec<_> = input
        .standby
        .takeover_views()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(view, backlog)| {
            backlogs.insert(view.flow, backlog);
            view
        })
        .collect();
    let viewed = ms(started);
    let (done, flushed) = tokio::sync::oneshot::channel();
    if input.core.send(crate::core::CoreMsg::Flush(done)).is_ok() {
        let _ = flushed.await;
    }
    let drained = ms(started);
    {
        let mut replica = lock(&input.replica);
        tracing::debug!(
            views_ms = viewed,
            flushed_ms = drained,
            replica_locked_ms = ms(started),
            "takeover gather steps (ms from its start)"
        );
        let mirror = input.mirror.lock().ok();
        if let Some(m) = &mirror {
            endpoints = m
                .iter()
                .map(|(f, v)| (f.local.ip(), f.remote.ip(), v.peer_mac))
                .collect();
            // Also those whose end the primary reported already (FIG. 4 flow end).
            closed = m
                .iter()
                .filter(|(_, v)| v.primary_closed || v.peer_closed)
                .map(|(f, _)| *f)
                .collect();
        }
        // A session the primary handed over that this node has no checkpoint of: lost,
        // and said so (the primary checked that this node protects every session).
        let known = replica.flows();
        let mut not_handed_over = Vec::new();
        for flow in handover.iter().flat_map(|h| h.keys()) {
            if !known.contains(flow) {
                failed.push((
                    *flow,
                    "handed over, but this node holds no checkpoint of it".into(),
                ));
            }
        }
        for flow in known {
            if closed.contains(&flow) {
                continue;
            }
            if input
                .config
                .ha
                .as_ref()
                .is_some_and(|h| !h.protects(flow.remote.ip()))
            {
                failed.push((flow, crate::ha_status::NOT_SELECTED.into()));
                continue;
            }
            // A planned switchover hands over every session the primary held, or none (it
            // aborts before the point of no return): a flow it did not name is no longer
            // the primary's (it ended there), and taking it over from an older checkpoint
            // could leave the session on both nodes. Ended here like a closed one.
            if handover.as_ref().is_some_and(|h| !h.contains_key(&flow)) {
                tracing::info!(%flow, "ha: {NOT_HANDED_OVER}: ended, not taken over");
                not_handed_over.push(flow);
                continue;
            }
            if let Some(reason) = views
                .iter()
                .find(|v| v.flow == flow)
                .and_then(|v| v.unprotected.clone())
            {
                failed.push((flow, format!("not protected: {reason}")));
                continue;
            }
            let (Some(tcp), Some((peer, conn))) = (replica.tcp(&flow), replica.binding(&flow))
            else {
                failed.push((flow, "no checkpointed TCP context".into()));
                continue;
            };
            let near = replica.flow_offsets(&flow).map_or(0, |o| o.sent_to_peer);
            let anchor = replica.anchor(&flow);
            let received = anchor
                .zip(replica.received(&flow))
                .map(|(a, r)| SeqNum(a.peer_seq_at_zero).wrapping_add(r as u32));
            let md5_key = input
                .config
                .neighbors
                .iter()
                .find(|n| n.address == flow.remote.ip())
                .and_then(|n| n.md5_password.clone())
                .map(String::into_bytes);
            let seen = mirror.as_ref().and_then(|m| m.get(&flow));
            let mut view = seen.map(MirrorTcpView::from).unwrap_or_default();
            let mut tcp = tcp.clone();
            if let Some(fresh) = handover.as_ref().and_then(|h| h.get(&flow)) {
                // The primary's last state; the socket continues after every octet of the
                // neighbour the replica was fed from the mirror (also any the primary no
                // longer received once its address was gone).
                tcp = fresh.clone();
                view.primary_ack = seen.and_then(|v| v.peer_seq_next);
            }
            flows.push((
                FlowTakeover {
                    flow,
                    peer,
                    conn,
                    tcp,
                    anchor,
                    mirror: view,
                    backlog: None,
                    md5_key,
                    received,
                },
                near,
            ));
        }
        for flow in closed.iter().chain(&not_handed_over) {
            if replica.binding(flow).is_some() {
                ribsync::checkpoint::Replicated::end_flow(&mut *replica, flow);
            }
        }
    }
    for (f, _) in &mut flows {
        // After a handover the primary's own send queue holds what the neighbour has not
        // acknowledged; otherwise the write-ahead does.
        let handed_over = handover.as_ref().is_some_and(|h| h.contains_key(&f.flow));
        if !handed_over {
            f.backlog = backlogs.remove(&f.flow);
        }
        let mut replica = lock(&input.replica);
        {
            let mut ledger = lock(&input.ledger);
            // What the primary wrote ahead (possibly never on the wire, resent by the plan)
            // counts as written.
            if let (Some(b), Some(a)) = (&f.backlog, f.anchor) {
                let seq = SeqNum(a.our_seq_at_zero).wrapping_add(b.offset as u32);
                ledger.primary_sent(f.flow, seq, &b.bytes);
            } else if handed_over {
                ledger.primary_sent(f.flow, f.tcp.snd_una, &f.tcp.send_queue);
            }
            feed_primary_egress(&mut replica, &mut ledger, &f.flow);
        }
    }
    Gathered {
        flows,
        failed,
        closed,
        endpoints,
    }
}

/// The Adj-RIB-Out difference of `flow` as the bytes to write after its KEEPALIVE (RFC 4271
/// section 9.2: what the neighbour lacks of the Adj-RIB-Out, nothing it holds; see
/// `SpeakerReplica::as_sent_difference`).
pub fn difference_of(replica: &mut bgpd::replica::SpeakerReplica, flow: &FlowId) -> Vec<u8> {
    let difference = replica.as_sent_difference(flow);
    if !difference.is_empty() {
        tracing::info!(
            %flow,
            updates = difference.len(),
            "ha: takeover sends the Adj-RIB-Out difference"
        );
    }
    difference.concat()
}

/// Messages the primary wrote to `peer` since the checkpoint of its flow that this node's
/// speaker did not produce (KEEPALIVEs, from the mirror): what its `messages_out` lacks.
pub fn primary_messages_out(
    replica: &bgpd::replica::SpeakerReplica,
    ledger: &EgressLedger,
    peer: PeerId,
) -> u64 {
    let Some(conn) = replica
        .speaker()
        .session(peer)
        .and_then(|s| s.established_conn())
    else {
        return 0;
    };
    let Some(flow) = replica.flow_of(peer, conn) else {
        return 0;
    };
    let (Some(anchor), Some(o)) = (replica.anchor(&flow), replica.flow_offsets(&flow)) else {
        return 0;
    };
    let from = SeqNum(anchor.our_seq_at_zero).wrapping_add(o.sent_to_peer as u32);
    ledger.other_messages_since(&flow, from)
}

/// How long a handover waits for the mirror to show what the primary received.
const HANDOVER_MIRROR_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// After a handover: waits (bounded) until the mirror has shown every octet each
/// neighbour sent up to the primary's last `rcv_nxt`, so the replica was fed them before
/// the sockets are rebuilt after them.
async fn wait_for_mirror(input: &TakeoverInput, fresh: &BTreeMap<FlowId, TcpRepairState>) {
    let deadline = std::time::Instant::now() + HANDOVER_MIRROR_WAIT;
    loop {
        let behind: Vec<FlowId> = {
            // Fed so far: what the mirror showed, or (a neighbour silent since this
            // standby opened its tap) what the replica consumed.
            let consumed: BTreeMap<FlowId, SeqNum> = {
                let Ok(r) = input.replica.lock() else { return };
                fresh
                    .keys()
                    .filter_map(|flow| {
                        let anchor = r.anchor(flow)?;
                        let offsets = r.flow_offsets(flow)?;
                        Some((
                            *flow,
                            SeqNum(anchor.peer_seq_at_zero)
                                .wrapping_add(offsets.consumed_from_peer as u32),
                        ))
                    })
                    .collect()
            };
            let Ok(m) = input.mirror.lock() else { return };
            fresh
                .iter()
                .filter(|(flow, s)| {
                    let seen = m.get(flow).and_then(|v| v.peer_seq_next);
                    let fed = match (seen, consumed.get(flow)) {
                        (Some(a), Some(b)) => Some(a.later(*b)),
                        (a, b) => a.or(b.copied()),
                    };
                    fed.is_none_or(|next| s.rcv_nxt.is_after(next))
                })
                .map(|(flow, _)| *flow)
                .collect()
        };
        if behind.is_empty() {
            // The tap thread hands a frame's octets to the engine right after it updates
            // the view; the engine's queue is then drained before the flow views answer.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            return;
        }
        if std::time::Instant::now() >= deadline {
            tracing::warn!(
                ?behind,
                "handover: the mirror has not shown everything the primary received"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Takes over every protected session of the failed primary: addresses, TCP_REPAIR
/// sockets, cut-off messages completed from the write-ahead, KEEPALIVE (and the Adj-RIB-Out
/// difference when one is known). Returns the live sockets; the caller hands them to the
/// core, which becomes the primary.
///
/// # Errors
/// When the session interface cannot be opened, or an address cannot be added or
/// announced: then no session is brought live (the rebuilt sockets close silently, still
/// in repair mode).
pub async fn run(input: TakeoverInput) -> anyhow::Result<TakeoverReport> {
    tracing::debug!(
        since_declared_ms = input.declared_at.elapsed().as_secs_f64() * 1000.0,
        "takeover starts"
    );
    let g = gather(&input).await;
    tracing::debug!(
        gathered_ms = input.declared_at.elapsed().as_secs_f64() * 1000.0,
        flows = g.flows.len(),
        "takeover inputs gathered"
    );
    if !g.closed.is_empty() {
        tracing::info!(
            sessions = g.closed.len(),
            "ha: the primary closed these sessions before it stopped (Cease, FIN or RST on \
             the mirror): not taken over; this node takes the primary's role and addresses, \
             the neighbours connect to it again"
        );
    }
    tokio::task::spawn_blocking(move || run_blocking(&input, g))
        .await
        .context("the takeover task panicked")?
}

fn run_blocking(input: &TakeoverInput, g: Gathered) -> anyhow::Result<TakeoverReport> {
    let Gathered {
        flows,
        mut failed,
        endpoints,
        ..
    } = g;
    let mut planned = Vec::new();
    let mut plans = Vec::new();
    for (f, near) in flows {
        match plan_session(&f) {
            Ok(p) => {
                plans.push(p);
                planned.push((f, near));
            }
            Err(e) => failed.push((f.flow, e.to_string())),
        }
    }
    let session_interface = input
        .config
        .ha
        .as_ref()
        .and_then(|h| h.session_interface.clone())
        .context("[ha] session_interface is not set")?;
    let mut slot = PREPARED
        .lock()
        .map_err(|_| anyhow::anyhow!("takeover state poisoned"))?;
    let moved = input
        .config
        .ha
        .as_ref()
        .map(|h| h.moved_addresses())
        .unwrap_or_default();
    if slot.as_ref().is_none_or(|p| {
        p.session_interface != session_interface || p.extra.iter().map(|(_, m)| m).ne(moved.iter())
    }) {
        *slot = Some(Prepared::open(&session_interface, &moved)?);
    }
    let prepared = slot.as_mut().context("takeover sockets not prepared")?;
    let only: Vec<FlowTakeover> = planned.iter().map(|(f, _)| f.clone()).collect();
    let mut all = endpoints_of(&only);
    all.extend(endpoints);
    let own = prepared.own_addresses.clone();
    let addresses = plan_addresses(
        &all,
        prepared.session_ifindex,
        &|a| prefix_len_for(a, &own),
        &prepared.extra,
    );
    let outcome = takeover::take_over(
        &plans,
        &addresses,
        &mut prepared.control,
        &prepared.announcers,
    )
    .context("taking the session addresses over")?;
    let takeover_ms = input.declared_at.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(
        rebuilt_ms = outcome.timings.rebuilt.as_secs_f64() * 1000.0,
        addresses_ms = outcome.timings.addresses.as_secs_f64() * 1000.0,
        announced_ms = outcome.timings.announced.as_secs_f64() * 1000.0,
        live_ms = outcome.timings.live.as_secs_f64() * 1000.0,
        "takeover phases"
    );
    let mut sessions = Vec::new();
    let mut replica = lock(&input.replica);
    for (((f, near), plan), r) in planned.into_iter().zip(&plans).zip(outcome.sessions) {
        match r {
            Ok(stream) => sessions.push(TakenSession {
                flow: f.flow,
                peer: f.peer,
                conn: f.conn,
                stream,
                sent_offset: sent_offset(&f, plan, near),
                difference: difference_of(&mut replica, &f.flow),
            }),
            Err(e) => failed.push((f.flow, e.to_string())),
        }
    }
    // This node writes to the neighbours from now on.
    replica.stop_tracking_as_sent();
    drop(replica);
    for (flow, reason) in &failed {
        tracing::warn!(%flow, "ha: session not taken over: {reason}");
    }
    Ok(TakeoverReport {
        sessions,
        failed,
        takeover_ms,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod difference_tests;
