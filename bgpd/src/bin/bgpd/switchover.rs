//! Planned switchover (issue 7; `understudy switchover [--to NODE_ID]`): the primary hands
//! every session to a synchronised standby with no loss, then follows it as a standby.
//!
//! On the primary, in order:
//! 1. the target: the requested standby, or the election rule (highest priority, then the
//!    lowest node_id, among the synchronised standbys); refused, with nothing changed, when
//!    there is none, or when this node could not follow a primary afterwards (no
//!    `[ha] mirror_interface`) or take the sessions back (no `[ha] session_interface`), or
//!    when the target does not protect every session (a session it could not take over
//!    would be lost: this node closes every socket silently);
//! 2. every session stops: its reader is aborted and its writer writes what the speaker
//!    had queued (each batch written ahead to the standbys first) and hands back a
//!    duplicate of the socket without closing it;
//! 3. the session addresses and `[ha] move_addresses` are removed, so a segment for them is
//!    no longer delivered here (and never answered with RST);
//! 4. each socket is peeked (its TCP state after the last write) and closed silently
//!    (repair mode: no FIN, no RST);
//! 5. the handover goes to the standbys over ribsync: the target takes over at once with
//!    those TCP states (no failure detection, no fencing: this node stepped down itself),
//!    any other standby attaches to the target;
//! 6. this node becomes a standby of the target (its checkpoint endpoint, learned from the
//!    target's Hello), with a fresh speaker that the new primary's checkpoints fill.

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

use crate::core::{Core, HaRuntime};
use crate::net::WriterCmd;

/// How long the writers may take to write what was queued before the switchover.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

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
/// follow a primary afterwards, or no (or not the requested) standby is synchronised;
/// UNAVAILABLE when the checkpoint driver is gone.
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
    tracing::info!(target = target.node.0, endpoint = %target.endpoint, sessions = flows.len(), "ha: switchover: stopping the sessions");

    // A kernel FIB shared with the standby is its to write from now on.
    core.release_shared_fib().await;

    // 2. Stop reading; let each writer write what was queued, then release its socket.
    let mut pending = Vec::new();
    for ((peer, conn), h) in core.conns.drain() {
        h.reader.abort();
        let (tx, rx) = tokio::sync::oneshot::channel();
        if h.writer.send(WriterCmd::Release(tx)).is_ok() {
            pending.push((peer, conn, h.flow, rx));
        }
    }
    let mut sockets = Vec::new();
    for (peer, conn, flow, rx) in pending {
        match tokio::time::timeout(RELEASE_TIMEOUT, rx).await {
            Ok(Ok(Some(fd))) => sockets.push((flow, fd)),
            _ => tracing::warn!(
                peer = peer.0,
                conn = conn.0,
                "switchover: a writer did not release its socket"
            ),
        }
    }
    // 3. The addresses go.
    for (ifindex, addr, len) in &owned {
        if let Err(e) = control.del_address(*ifindex, *addr, *len) {
            tracing::warn!(%addr, "switchover: cannot remove the address: {e}");
        }
    }
    // 4. Last TCP state of each session, then a silent close.
    let mut states: Vec<TcpRepairState> = Vec::new();
    for (flow, fd) in sockets {
        use std::os::fd::AsFd;
        match takeover::peek_live_socket(fd.as_fd()) {
            Ok(s) => states.push(s),
            Err(e) => tracing::warn!(?flow, "switchover: cannot peek the socket: {e}"),
        }
        if let Err(e) = takeover::close_silently(fd) {
            tracing::warn!(?flow, "switchover: silent close: {e}");
        }
    }
    // 5. Hand over.
    let sessions = states.len() as u32;
    let told = handle
        .hand_over(Handover {
            node: target.node,
            endpoint: target.endpoint.clone(),
            tcp: states,
        })
        .await
        .map_err(|e| Status::internal(format!("checkpoint driver: {e}")))?;
    let stopped_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target = target.node.0,
        sessions,
        standbys = told,
        stopped_ms,
        "ha: switchover: handed over"
    );
    // The old checkpoint service stops now: each standby's stream ends after the handover
    // queued on it, and its address is free for this node's service at failback (a
    // standby must never attach to this stale one).
    handle.shutdown();

    // 6. Follow the new primary.
    let section = standby_section(&ha, &target.endpoint);
    core.demote(section)
        .map_err(|e| Status::internal(format!("handed over, but cannot follow it: {e:#}")))?;
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
