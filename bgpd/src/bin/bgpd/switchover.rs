//! Planned switchover (issue 7; `understudy switchover [--to NODE_ID]`): the primary hands
//! every session to a synchronised standby with no loss, then follows it as a standby.
//!
//! All or nothing, for the operator: either every session moves to the target, or the
//! switchover is aborted before the point of no return and this node keeps serving every
//! session as before. On the primary, in order:
//!
//! 1. **Checks** (refused, nothing changed): the target (the requested standby, or the
//!    election rule: highest priority, then the lowest node_id, among the synchronised
//!    standbys); this node must be able to follow a primary afterwards (`[ha]
//!    mirror_interface`) and take sessions back (`[ha] session_interface`); the target must
//!    protect every session (a session it could not take over would be lost: this node
//!    closes every socket silently).
//! 2. **Pause** (reversible): the speaker's pending output is queued; each writer writes
//!    what was queued (each batch written ahead to the standbys first), then pauses and
//!    answers with a duplicate of its socket. One deadline for all, [`pause_deadline`]
//!    (5 s, less with short hold times).
//!    The readers go on reading (the core takes those octets in order once the switchover
//!    returns).
//! 3. **Trial peek and re-check** (reversible): the TCP state of every paused socket can
//!    be read, and the target still protects every session (it may have reported a
//!    problem since step 1; each paused writer waited for its last write-ahead).
//!
//!    Any failure in 2 or 3 (a writer not paused in time, e.g. its neighbour does not read
//!    and the queued UPDATEs do not fit in the socket; a writer gone; a socket that cannot
//!    be duplicated or peeked) **aborts**: every writer resumes (a late one as soon as it
//!    reaches the pause), nothing else was touched, and the admin call fails with
//!    `switchover aborted, nothing changed: ...` naming each session concerned (neighbour
//!    address) and the cause. The neighbours saw at most their messages delayed.
//!
//!    **Point of no return**: step 4 is the first change seen outside this process.
//! 4. A kernel FIB shared with the target is left to it (its writer stops); the readers
//!    stop; the session addresses and `[ha] move_addresses` are removed, so a segment for
//!    them is no longer delivered here (and never answered with RST).
//! 5. Each socket is peeked again (its final state; if that fails, the trial peek's state
//!    goes instead, which the target completes from the mirror) and closed silently (repair
//!    mode: no FIN, no RST); the writers stop without a FIN.
//! 6. The handover goes to the standbys over ribsync: the target takes over at once exactly
//!    the sessions it names, with those TCP states (no failure detection, no fencing: this
//!    node stepped down itself); any other standby attaches to the target.
//! 7. This node becomes a standby of the target (its checkpoint endpoint, learned from the
//!    target's Hello), with a fresh speaker that the new primary's checkpoints fill.
//!
//! After the point of no return every session is the target's (this node holds none, its
//! sockets are closed silently). A step that fails there (an address not removed, a socket
//! not closed silently, the handover not sent) is logged as an error with the neighbour and
//! the admin call fails with `switchover past the point of no return to node N: ...`.
//! Not covered: the target can still fail a session at its takeover for a reason this node
//! cannot see (a mirror gap it finds only then); the target's `understudy ha` counts it
//! in `last_takeover.failed` and logs `not taken over`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgpd::config::{HaRoleConfig, HaSection};
use proto::admin as pb;
use ribsync::checkpoint::{FlowId, FlowView};
use ribsync::ha::{elect, NodeId, RosterEntry};
use ribsync::takeover::{self, AddressControl, TcpRepairState};
use ribsync::transport::Handover;
use tonic::Status;

use std::os::fd::OwnedFd;

use bgpd::session::ConnId;
use bgpd::speaker::PeerId;
use tokio::sync::oneshot;

use crate::core::{Core, HaRuntime};
use crate::net::{AfterPause, WriterCmd};

/// How long the writers together may take at most to write what was queued and pause (past
/// it, the switchover is aborted); shorter with short hold times, see [`pause_deadline`].
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the writers may take to pause: [`RELEASE_TIMEOUT`], or half the shortest
/// negotiated hold time of the sessions (`hold_times`, in seconds; 0 = no hold timer) when
/// that is shorter. A writer that paused early stays paused while the others write, and
/// its neighbour must hear a message within its hold time (RFC 4271 section 4.4), also
/// when the switchover is then aborted: KEEPALIVEs go at most a third of the hold time
/// apart, so half of it is left.
pub fn pause_deadline(hold_times: impl IntoIterator<Item = u16>) -> Duration {
    hold_times
        .into_iter()
        .filter(|h| *h > 0)
        .map(|h| Duration::from_millis(u64::from(h) * 500))
        .fold(RELEASE_TIMEOUT, Duration::min)
}

/// The standby to hand over to: `to` when given (it must be attached, synchronised and
/// serve a checkpoint endpoint), else the election rule among the synchronised standbys.
///
/// # Errors
/// One line for the operator when no standby qualifies.
pub fn choose_target(roster: &[RosterEntry], to: Option<u32>) -> Result<RosterEntry, String> {
    let entry = match to {
        Some(n) => {
            let Some(e) = roster.iter().find(|e| e.node == NodeId(n)) else {
                return Err(format!(
                    "standby {n} is not attached to this primary (attached: {})",
                    list(roster)
                ));
            };
            if !e.synchronised {
                return Err(format!("standby {n} is not synchronised yet"));
            }
            e.clone()
        }
        None => {
            let candidates: Vec<_> = roster.iter().map(RosterEntry::candidate).collect();
            let Some(node) = elect(&candidates) else {
                return Err(format!(
                    "no synchronised standby (attached: {})",
                    list(roster)
                ));
            };
            roster
                .iter()
                .find(|e| e.node == node)
                .cloned()
                .ok_or_else(|| "the elected standby left the roster".to_string())?
        }
    };
    if entry.endpoint.is_empty() {
        return Err(format!(
            "standby {} has no [ha] checkpoint_address: it could not serve this node afterwards",
            entry.node.0
        ));
    }
    Ok(entry)
}

/// Why `target` could not take over every one of `flows` (the sessions to hand over), from
/// the checkpoint engine's `views`: each flow must be protected by `target` (a synchronised
/// standby holding an acknowledged checkpoint of it, no problem reported). None when it
/// protects them all.
pub fn unprotected_by(views: &[FlowView], flows: &[FlowId], target: NodeId) -> Option<String> {
    let missing: Vec<String> = flows
        .iter()
        .filter_map(|flow| {
            let view = views.iter().find(|v| v.flow == *flow);
            if view.is_some_and(|v| v.protected_by.contains(&target)) {
                return None;
            }
            let why = view
                .map(|v| {
                    let mine = format!("{target}: ");
                    v.unprotected_reasons
                        .iter()
                        .find_map(|r| r.strip_prefix(&mine))
                        .unwrap_or("not followed by it")
                        .to_string()
                })
                .unwrap_or_else(|| "not known to the checkpoint engine".into());
            Some(format!("{} ({why})", flow.remote.ip()))
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "standby {} does not protect every session: {}",
            target.0,
            missing.join(", ")
        )
    })
}

fn list(roster: &[RosterEntry]) -> String {
    if roster.is_empty() {
        return "none".into();
    }
    roster
        .iter()
        .map(|e| {
            format!(
                "{}{}",
                e.node.0,
                if e.synchronised {
                    " synchronised"
                } else {
                    " not synchronised"
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where each of `addrs` is configured, from `ip -j addr show` output: (ifindex, address,
/// prefix length). Addresses not found are left out.
pub fn owners_in(ip_json: &[u8], addrs: &[IpAddr]) -> Vec<(u32, IpAddr, u8)> {
    let mut out: Vec<(u32, IpAddr, u8)> = Vec::new();
    for (ifindex, ip, len) in crate::takeover::addresses_in(ip_json) {
        if addrs.contains(&ip) && !out.iter().any(|(_, o, _)| *o == ip) {
            out.push((ifindex, ip, len));
        }
    }
    out
}

fn owners(addrs: &[IpAddr]) -> Vec<(u32, IpAddr, u8)> {
    match std::process::Command::new("ip")
        .args(["-j", "addr", "show"])
        .output()
    {
        Ok(out) => owners_in(&out.stdout, addrs),
        Err(e) => {
            tracing::warn!("switchover: cannot list the addresses (ip -j addr show): {e}");
            Vec::new()
        }
    }
}

fn refused(why: impl std::fmt::Display) -> Status {
    Status::failed_precondition(format!("switchover refused, nothing changed: {why}"))
}

/// The `[ha]` this node follows the new primary with.
fn standby_section(ha: &HaSection, endpoint: &str) -> HaSection {
    let mut s = ha.clone();
    s.role = HaRoleConfig::Standby;
    let scheme = if ha.tls.is_some() { "https" } else { "http" };
    s.primary = Some(format!("{scheme}://{endpoint}"));
    s
}

/// Carries out a planned switchover on `core` (see the module documentation).
///
/// # Errors
/// FAILED_PRECONDITION with nothing changed when this node is not a primary, could not
/// follow a primary afterwards, or no (or not the requested) standby is synchronised or it
/// does not protect every session; ABORTED with nothing changed when a session could not be
/// paused or read before the point of no return (each named with its cause); INTERNAL
/// when the checkpoint driver is gone before it, or when a step after the point of no
/// return failed (the sessions are the target's then).
pub async fn run(core: &mut Core, to: Option<u32>) -> Result<pb::SwitchoverReply, Status> {
    let HaRuntime::Primary(primary) = &core.ha else {
        let role = match core.ha {
            HaRuntime::Standalone => "standalone, no [ha] section",
            _ => "standby",
        };
        return Err(refused(format!(
            "this node is not the primary ({role}); run it on the primary"
        )));
    };
    let handle = primary.handle.clone();
    let Some(ha) = core.ha_config.clone() else {
        return Err(refused("no [ha] section"));
    };
    if ha.mirror_interface.is_none() {
        return Err(refused(
            "[ha] mirror_interface is not set: this node could not follow the new primary",
        ));
    }
    if ha.session_interface.is_none() {
        return Err(refused(
            "[ha] session_interface is not set: this node, once the new primary's standby, \
             could take no session back",
        ));
    }
    let roster = handle
        .roster()
        .await
        .map_err(|e| Status::internal(format!("checkpoint driver: {e}")))?;
    let target = choose_target(&roster, to).map_err(refused)?;
    let flows: Vec<FlowId> = core.conns.values().filter_map(|h| h.flow).collect();
    let (_, views) = handle
        .views()
        .await
        .map_err(|e| Status::internal(format!("checkpoint driver: {e}")))?;
    if let Some(why) = unprotected_by(&views, &flows, target.node) {
        return Err(refused(why));
    }
    let started = Instant::now();

    // The addresses that leave with the sessions (looked up before anything stops).
    let mut addrs: Vec<IpAddr> = flows.iter().map(|f| f.local.ip()).collect();
    addrs.extend(ha.moved_addresses().iter().map(|m| m.addr));
    addrs.sort();
    addrs.dedup();
    let owned = owners(&addrs);
    let mut control = AddressControl::open()
        .map_err(|e| refused(format!("netlink socket for the addresses: {e}")))?;
    tracing::info!(target = target.node.0, endpoint = %target.endpoint, sessions = core.conns.len(), "ha: switchover: pausing the sessions");

    // 2. and 3. Pause every writer, read every socket's TCP state; abort on any failure.
    let paused = match pause_all(core).await {
        Ok(paused) => match recheck(&handle, &flows, target.node).await {
            Ok(()) => Ok(paused),
            Err(why) => {
                resume(paused);
                Err(vec![why])
            }
        },
        Err(problems) => Err(problems
            .into_iter()
            .map(|(neighbour, cause)| {
                tracing::error!(neighbor = %neighbour, target = target.node.0, "ha: switchover aborted: {cause}");
                format!("session with {neighbour}: {cause}")
            })
            .collect()),
    };
    let mut paused = match paused {
        Ok(p) => p,
        Err(problems) => {
            let why = format!(
                "switchover aborted, nothing changed: {}; every session stays on this node",
                problems.join("; ")
            );
            tracing::error!(target = target.node.0, "ha: {why}");
            return Err(Status::aborted(why));
        }
    };
    tracing::info!(
        target = target.node.0,
        sessions = paused.len(),
        "ha: switchover: every session paused; past the point of no return now"
    );

    // 4. The shared kernel FIB is the target's from now on; the readers stop; the
    // addresses go.
    core.release_shared_fib().await;
    for p in &paused {
        if let Some(h) = core.conns.remove(&(p.peer, p.conn)) {
            h.reader.abort();
            let _ = h.reader.await;
        }
    }
    let mut after: Vec<String> = Vec::new();
    for (ifindex, addr, len) in &owned {
        if let Err(e) = control.del_address(*ifindex, *addr, *len) {
            let on: Vec<&str> = paused
                .iter()
                .filter(|p| p.trial.local.ip() == *addr)
                .map(|p| p.neighbour.as_str())
                .collect();
            let text = format!(
                "address {addr} not removed ({e}), sessions on it: {}",
                if on.is_empty() {
                    "none".into()
                } else {
                    on.join(", ")
                }
            );
            tracing::error!(%addr, "ha: switchover past the point of no return: {text}");
            after.push(text);
        }
    }
    // 5. Last TCP state of each session, a silent close, the writer stops.
    let mut states: Vec<TcpRepairState> = Vec::new();
    for p in paused.drain(..) {
        use std::os::fd::AsFd;
        let state = match takeover::peek_live_socket(p.fd.as_fd()) {
            Ok(s) => s,
            Err(e) => {
                let text = format!(
                    "session with {}: last peek failed ({e}); handed over with the state read \
                     before the point of no return",
                    p.neighbour
                );
                tracing::error!(neighbor = %p.neighbour, "ha: switchover past the point of no return: {text}");
                after.push(text);
                p.trial
            }
        };
        if let Err(e) = takeover::close_silently(p.fd) {
            let text = format!(
                "session with {}: not closed silently ({e}); handed over all the same",
                p.neighbour
            );
            tracing::error!(neighbor = %p.neighbour, "ha: switchover past the point of no return: {text}");
            after.push(text);
        }
        let _ = p.decision.send(AfterPause::HandedOver);
        states.push(state);
    }
    // 6. Hand over.
    let sessions = states.len() as u32;
    let names: Vec<String> = states.iter().map(|s| s.remote.ip().to_string()).collect();
    match handle
        .hand_over(Handover {
            node: target.node,
            endpoint: target.endpoint.clone(),
            tcp: states,
        })
        .await
    {
        Ok(0) if sessions > 0 => {
            let text = format!(
                "no standby was attached any more to receive the handover; the sessions with \
                 {} are closed here and wait for standby {} to declare this node failed",
                names.join(", "),
                target.node.0
            );
            tracing::error!("ha: switchover past the point of no return: {text}");
            after.push(text);
        }
        Ok(told) => tracing::info!(
            target = target.node.0,
            standbys = told,
            "ha: switchover: handover sent"
        ),
        Err(e) => {
            let text = format!(
                "the handover could not be sent (checkpoint driver: {e}); the sessions with {} \
                 are closed here and wait for standby {} to declare this node failed",
                names.join(", "),
                target.node.0
            );
            tracing::error!("ha: switchover past the point of no return: {text}");
            after.push(text);
        }
    }
    let stopped_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target = target.node.0,
        sessions,
        stopped_ms,
        "ha: switchover: handed over"
    );
    // The old checkpoint service stops now: each standby's stream ends after the handover
    // queued on it, and its address is free for this node's service at failback (a
    // standby must never attach to this stale one).
    handle.shutdown();

    // 7. Follow the new primary.
    let section = standby_section(&ha, &target.endpoint);
    if let Err(e) = core.demote(section) {
        after.push(format!("handed over, but cannot follow it: {e:#}"));
    }
    if !after.is_empty() {
        return Err(Status::internal(format!(
            "switchover past the point of no return to node {}: {}",
            target.node.0,
            after.join("; ")
        )));
    }
    let message = format!(
        "switchover: node {} is the primary now ({} sessions handed over in {stopped_ms:.1} ms); this node follows it at {}",
        target.node.0, sessions, target.endpoint
    );
    tracing::info!("ha: {message}");
    Ok(pb::SwitchoverReply {
        node_id: target.node.0,
        endpoint: target.endpoint,
        sessions,
        stopped_ms,
        message,
    })
}

/// A session whose writer paused for the handover (steps 2 and 3).
struct Paused {
    peer: PeerId,
    conn: ConnId,
    /// The neighbour's address, for the operator.
    neighbour: String,
    /// A duplicate of the socket.
    fd: OwnedFd,
    /// Its TCP state read while paused (before the point of no return).
    trial: TcpRepairState,
    /// Tells the writer to resume or to stop.
    decision: oneshot::Sender<AfterPause>,
}

/// Steps 2 and 3: every writer writes what was queued and pauses (one deadline,
/// [`pause_deadline`]), and every paused socket's TCP state can be read. On any failure
/// every writer is told to resume (a late one resumes as soon as it reaches the pause) and
/// the failures come back as (neighbour address, cause), nothing else touched.
async fn pause_all(core: &mut Core) -> Result<Vec<Paused>, Vec<(String, String)>> {
    // What the speaker has to send goes ahead of the pause.
    core.drain();
    let wait = {
        let g = core.lock();
        let sp = g.speaker();
        pause_deadline(
            sp.peers()
                .into_iter()
                .filter_map(|(peer, _, _)| sp.session(peer)?.negotiated())
                .map(|n| n.hold_time.seconds()),
        )
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut keys: Vec<(PeerId, ConnId)> = core.conns.keys().copied().collect();
    keys.sort_by_key(|(p, c)| (p.0, c.0));
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut waiting = Vec::new();
    for key in keys {
        let Some(h) = core.conns.get(&key) else {
            continue;
        };
        let neighbour = core.peer_address(key.0);
        let (paused, answer) = oneshot::channel();
        let (decision, told) = oneshot::channel();
        if h.writer
            .send(WriterCmd::Pause {
                paused,
                decision: told,
            })
            .is_err()
        {
            problems.push((
                neighbour,
                "its writer has stopped (the connection just closed)".into(),
            ));
            continue;
        }
        waiting.push((key, neighbour, answer, decision));
    }
    let mut paused = Vec::new();
    let mut undecided = Vec::new();
    for (key, neighbour, answer, decision) in waiting {
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(Ok(fd))) => {
                use std::os::fd::AsFd;
                match takeover::peek_live_socket(fd.as_fd()) {
                    Ok(trial) => paused.push(Paused {
                        peer: key.0,
                        conn: key.1,
                        neighbour,
                        fd,
                        trial,
                        decision,
                    }),
                    Err(e) => {
                        problems.push((neighbour, format!("cannot read its TCP state: {e}")));
                        undecided.push(decision);
                    }
                }
            }
            Ok(Ok(Err(e))) => {
                problems.push((neighbour, format!("cannot duplicate its socket: {e}")));
                undecided.push(decision);
            }
            Ok(Err(_)) => {
                problems.push((
                    neighbour,
                    "its writer stopped (the connection closed)".into(),
                ));
                undecided.push(decision);
            }
            Err(_) => {
                problems.push((
                    neighbour,
                    format!(
                        "its writer did not write out what was queued within {:.1} s (the \
                         neighbour reads slowly or not at all: the socket's send buffer is full)",
                        wait.as_secs_f64()
                    ),
                ));
                undecided.push(decision);
            }
        }
    }
    if problems.is_empty() {
        return Ok(paused);
    }
    for decision in undecided {
        let _ = decision.send(AfterPause::Resume);
    }
    resume(paused);
    Err(problems)
}

/// With every writer paused (each waited for its last write-ahead): the target still
/// protects every session (it may have reported a problem since the first check).
async fn recheck(
    handle: &ribsync::transport::PrimaryHandle,
    flows: &[FlowId],
    target: NodeId,
) -> Result<(), String> {
    let (_, views) = handle
        .views()
        .await
        .map_err(|e| format!("checkpoint driver: {e}"))?;
    match unprotected_by(&views, flows, target) {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

/// The switchover is aborted: every paused writer writes again.
fn resume(paused: Vec<Paused>) {
    for p in paused {
        let _ = p.decision.send(AfterPause::Resume);
    }
}

/// The flows of `states`, by 4-tuple (for the standby's takeover).
pub fn states_by_flow(states: &[TcpRepairState]) -> BTreeMap<FlowId, TcpRepairState> {
    states
        .iter()
        .map(|s| {
            (
                FlowId {
                    local: s.local,
                    remote: s.remote,
                },
                s.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ribsync::ha::Priority;

    fn e(node: u32, priority: u8, synchronised: bool) -> RosterEntry {
        RosterEntry {
            node: NodeId(node),
            priority: Priority(priority),
            synchronised,
            endpoint: format!("192.0.2.{node}:50052"),
        }
    }

    #[test]
    fn target_by_election_rule() {
        let r = [e(3, 100, true), e(2, 200, false), e(4, 100, true)];
        assert_eq!(choose_target(&r, None).unwrap().node, NodeId(3));
        let r = [e(3, 100, true), e(5, 150, true)];
        assert_eq!(choose_target(&r, None).unwrap().node, NodeId(5));
    }

    #[test]
    fn requested_target_must_be_attached_and_synchronised() {
        let r = [e(2, 100, true), e(3, 100, false)];
        assert_eq!(
            choose_target(&r, Some(2)).unwrap().endpoint,
            "192.0.2.2:50052"
        );
        assert_eq!(
            choose_target(&r, Some(3)).unwrap_err(),
            "standby 3 is not synchronised yet"
        );
        assert_eq!(
            choose_target(&r, Some(9)).unwrap_err(),
            "standby 9 is not attached to this primary (attached: 2 synchronised, 3 not synchronised)"
        );
    }

    #[test]
    fn no_synchronised_standby_is_refused() {
        assert_eq!(
            choose_target(&[], None).unwrap_err(),
            "no synchronised standby (attached: none)"
        );
        assert_eq!(
            choose_target(&[e(2, 1, false)], None).unwrap_err(),
            "no synchronised standby (attached: 2 not synchronised)"
        );
        let mut no_endpoint = e(2, 1, true);
        no_endpoint.endpoint.clear();
        assert!(choose_target(&[no_endpoint], None)
            .unwrap_err()
            .contains("no [ha] checkpoint_address"));
    }

    fn flow(peer: u8) -> FlowId {
        FlowId {
            local: "192.0.2.1:179".parse().unwrap(),
            remote: format!("192.0.2.{peer}:40000").parse().unwrap(),
        }
    }

    fn view(peer: u8, by: &[u32], reasons: &[&str]) -> FlowView {
        FlowView {
            flow: flow(peer),
            protected_by: by.iter().map(|n| NodeId(*n)).collect(),
            unprotected_reasons: reasons.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn every_session_must_be_protected_by_the_target() {
        let views = [
            view(11, &[2, 3], &[]),
            view(12, &[3], &["node-2: flow not protected: gap"]),
        ];
        assert_eq!(unprotected_by(&views, &[flow(11)], NodeId(2)), None);
        assert_eq!(
            unprotected_by(&views, &[flow(11), flow(12)], NodeId(2)).unwrap(),
            "standby 2 does not protect every session: 192.0.2.12 (flow not protected: gap)"
        );
        assert_eq!(
            unprotected_by(&views, &[flow(11), flow(12)], NodeId(3)),
            None
        );
        // A session the engine does not know, or whose checkpoint the target lacks.
        assert_eq!(
            unprotected_by(&views, &[flow(13)], NodeId(2)).unwrap(),
            "standby 2 does not protect every session: 192.0.2.13 (not known to the checkpoint engine)"
        );
        assert_eq!(
            unprotected_by(&[view(11, &[3], &[])], &[flow(11)], NodeId(2)).unwrap(),
            "standby 2 does not protect every session: 192.0.2.11 (not followed by it)"
        );
    }

    #[test]
    fn writers_pause_for_at_most_half_the_shortest_hold_time() {
        assert_eq!(pause_deadline([]), Duration::from_secs(5));
        assert_eq!(pause_deadline([90, 0, 180]), Duration::from_secs(5));
        assert_eq!(pause_deadline([90, 9]), Duration::from_millis(4500));
        assert_eq!(pause_deadline([3, 90]), Duration::from_millis(1500));
        // Hold time 0: no hold timer to keep.
        assert_eq!(pause_deadline([0]), Duration::from_secs(5));
    }

    #[test]
    fn address_owners_from_ip_json() {
        let json = br#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifindex":7,"ifname":"eth1","addr_info":[{"family":"inet","local":"192.0.2.1","prefixlen":24},
             {"family":"inet6","local":"2001:db8::1","prefixlen":64}]},
            {"ifindex":9,"ifname":"eth2","addr_info":[{"family":"inet","local":"198.51.100.1","prefixlen":25}]}]"#;
        let want: Vec<IpAddr> = ["192.0.2.1", "2001:db8::1", "198.51.100.1", "203.0.113.9"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            owners_in(json, &want),
            vec![(7, want[0], 24), (7, want[1], 64), (9, want[2], 25)]
        );
        assert!(owners_in(b"not json", &want).is_empty());
    }

    #[test]
    fn standby_section_points_at_the_new_primary() {
        let ha: HaSection = toml::from_str("role = \"primary\"\nnode_id = 1\n").unwrap();
        let s = standby_section(&ha, "192.0.2.2:50052");
        assert_eq!(s.role, HaRoleConfig::Standby);
        assert_eq!(s.primary.as_deref(), Some("http://192.0.2.2:50052"));
        assert_eq!(s.node_id, 1);
    }
}
