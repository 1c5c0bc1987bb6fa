//! How the speaker's state and events look in the admin API (proto messages) and logs.

use bgpd::rib::RouteEntry;
use bgpd::session::{DownReason, Negotiated, SessionEvent, State};
use bgpd::speaker::SpeakerEvent;
use bgpd::wire::attribute::{AsPath, SegmentType};
use bgpd::wire::{MpNextHop, Notification, PathAttributes};
use proto::admin as pb;

/// An AS_PATH as text: `65001 65002 {65003,65004}`; confederation segments in `( )`/`[ ]`.
pub fn as_path_text(p: &AsPath) -> String {
    let mut parts = Vec::new();
    for s in &p.segments {
        let asns: Vec<String> = s.asns.iter().map(|a| a.0.to_string()).collect();
        match s.kind {
            SegmentType::Sequence => parts.push(asns.join(" ")),
            SegmentType::Set => parts.push(format!("{{{}}}", asns.join(","))),
            SegmentType::ConfedSequence => parts.push(format!("({})", asns.join(" "))),
            SegmentType::ConfedSet => parts.push(format!("[{}]", asns.join(","))),
        }
    }
    parts.retain(|s| !s.is_empty());
    parts.join(" ")
}

/// The next hop of a route: NEXT_HOP, else the MP_REACH_NLRI next hop.
pub fn next_hop_text(a: &PathAttributes) -> String {
    if let Some(r) = a.mp_reach() {
        return match &r.next_hop {
            MpNextHop::Ipv4(v4) => v4.to_string(),
            MpNextHop::Ipv6 { global, link_local } => match link_local {
                Some(ll) if global.is_unspecified() => ll.to_string(),
                _ => global.to_string(),
            },
            MpNextHop::Opaque(b) => hex::encode(b),
        };
    }
    a.next_hop().map(|n| n.to_string()).unwrap_or_default()
}

/// One RIB entry as an admin API route.
pub fn route(e: &RouteEntry, neighbor: String) -> pb::Route {
    let a = &e.attributes;
    pb::Route {
        prefix: e.prefix.to_string(),
        neighbor,
        next_hop: next_hop_text(a),
        as_path: a
            .effective_as_path()
            .map(|p| as_path_text(&p))
            .unwrap_or_default(),
        origin: match a.origin() {
            Some(bgpd::wire::attribute::Origin::Igp) => "igp",
            Some(bgpd::wire::attribute::Origin::Egp) => "egp",
            Some(bgpd::wire::attribute::Origin::Incomplete) => "incomplete",
            None => "",
        }
        .to_string(),
        local_pref: a.local_pref(),
        med: a.med(),
        communities: a.communities().iter().map(|c| c.to_string()).collect(),
        large_communities: a
            .large_communities()
            .iter()
            .map(|c| c.to_string())
            .collect(),
        best: e.best,
        stale: e.stale,
        accepted: e.accepted,
    }
}

/// What the OPENs negotiated, for the admin API.
pub fn negotiated(n: &Negotiated) -> pb::Negotiated {
    let fam = |v: &[bgpd::wire::AfiSafi]| v.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    pb::Negotiated {
        remote_as: n.remote_as.0,
        remote_id: n.remote_id.0.to_string(),
        hold_time: u32::from(n.hold_time.seconds()),
        keepalive_ms: n.keepalive.as_millis() as u64,
        four_octet_as: n.ctx.four_octet_as,
        route_refresh: n.route_refresh,
        enhanced_route_refresh: n.enhanced_route_refresh,
        extended_message: n.ctx.extended_message,
        families: fam(&n.ctx.afi_safis),
        add_path_receive: fam(&n.ctx.add_path_receive),
        add_path_send: fam(&n.ctx.add_path_send),
        graceful_restart: n.graceful_restart_helper(),
    }
}

/// A NOTIFICATION for people: `6/2 (Cease)` plus its data.
pub fn notification_text(n: &Notification) -> String {
    let name = match n.code {
        1 => "Message Header Error",
        2 => "OPEN Message Error",
        3 => "UPDATE Message Error",
        4 => "Hold Timer Expired",
        5 => "Finite State Machine Error",
        6 => "Cease",
        7 => "ROUTE-REFRESH Message Error",
        _ => "unknown error code",
    };
    if n.data.is_empty() {
        format!("{}/{} ({name})", n.code, n.subcode)
    } else if let Ok(Some(text)) = n.shutdown_communication() {
        // RFC 9003: the data of an Administrative Shutdown or Reset is a length octet and
        // UTF-8 text meant for the operator.
        format!(
            "{}/{} ({name}), shutdown communication {text:?}",
            n.code, n.subcode
        )
    } else {
        format!(
            "{}/{} ({name}), data {}",
            n.code,
            n.subcode,
            hex::encode(&n.data)
        )
    }
}

/// A session's state change as logged. On a standby (`standby`) the session is a copy that
/// follows the primary's through checkpoints and the mirror, and opens no connection and
/// listens on no socket before a takeover: its ManualStart (Idle to Connect, or Active for
/// a passive neighbour) is said as following the primary, not as a connection attempt.
pub fn state_change_text(from: State, to: State, standby: bool) -> String {
    match (standby, to) {
        (false, _) => format!("{} -> {}", from.name(), to.name()),
        (true, State::Connect | State::Active) => "following the primary's session: a \
                                                    standby opens no connection of its own \
                                                    before a takeover"
            .to_string(),
        (true, _) => format!(
            "followed session {} -> {} (the primary's, seen through checkpoints and the mirror)",
            from.name(),
            to.name()
        ),
    }
}

/// (neighbour, kind, text) of a speaker event, for logs and the event stream; `standby`:
/// this node is a standby, whose sessions follow the primary's ([`state_change_text`]).
pub fn describe_event(ev: &SpeakerEvent, standby: bool) -> (String, &'static str, String) {
    match ev {
        SpeakerEvent::Session { address, event, .. } => {
            let (kind, text) = match event {
                SessionEvent::StateChange { from, to } => {
                    ("state", state_change_text(*from, *to, standby))
                }
                SessionEvent::Established { negotiated } => (
                    "established",
                    format!(
                        "session Established: AS {}, id {}, hold time {} s, families {:?}",
                        negotiated.remote_as.0,
                        negotiated.remote_id.0,
                        negotiated.hold_time.seconds(),
                        negotiated
                            .ctx
                            .afi_safis
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>()
                    ),
                ),
                SessionEvent::UpdateReceived { .. } | SessionEvent::UpdateAccepted { .. } => {
                    ("update", "UPDATE".to_string())
                }
                SessionEvent::EndOfRib(f) => ("end-of-rib", format!("End-of-RIB for {f}")),
                SessionEvent::RouteRefresh { afi_safi, subtype } => (
                    "route-refresh",
                    format!("ROUTE-REFRESH {subtype:?} for {afi_safi}"),
                ),
                SessionEvent::Down {
                    reason,
                    graceful_restart,
                } => {
                    let why = match reason {
                        DownReason::NotificationSent(n) => {
                            format!("we sent NOTIFICATION {}", notification_text(n))
                        }
                        DownReason::NotificationReceived(n) => {
                            format!("neighbour sent NOTIFICATION {}", notification_text(n))
                        }
                        DownReason::ConnectionClosed => "connection closed".to_string(),
                        DownReason::PeerRestarted => "neighbour restarted".to_string(),
                    };
                    let gr = match graceful_restart {
                        Some(t) => format!(
                            "; Graceful Restart helper: routes kept as stale for {} s",
                            t.as_secs()
                        ),
                        None => String::new(),
                    };
                    ("down", format!("session down: {why}{gr}"))
                }
                SessionEvent::GracefulRestartExpired => (
                    "graceful-restart-expired",
                    "restart time ran out: stale routes removed".to_string(),
                ),
                SessionEvent::StaleFlush(f) => {
                    ("stale-flush", format!("stale routes of {f} removed"))
                }
                SessionEvent::NotificationSent(n) => (
                    "notification-sent",
                    format!("sent NOTIFICATION {}", notification_text(n)),
                ),
                SessionEvent::NotificationReceived(n) => (
                    "notification-received",
                    format!("received NOTIFICATION {}", notification_text(n)),
                ),
            };
            (address.to_string(), kind, text)
        }
        SpeakerEvent::Rib(e) => (String::new(), "rib", e.to_string()),
        SpeakerEvent::RibError { error, .. } => (String::new(), "rib-error", error.clone()),
        SpeakerEvent::PeerAdded { address, .. } => {
            (address.to_string(), "config", "neighbour added".to_string())
        }
        SpeakerEvent::PeerRemoved { address, .. } => (
            address.to_string(),
            "config",
            "neighbour removed".to_string(),
        ),
        SpeakerEvent::FibFailed { prefix, error } => (
            String::new(),
            "fib",
            format!("kernel refused {prefix}: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgpd::rib::PeerId;

    fn logged(from: State, to: State, standby: bool) -> String {
        let ev = SpeakerEvent::Session {
            peer: PeerId(0),
            address: std::net::Ipv4Addr::new(192, 0, 2, 2).into(),
            event: SessionEvent::StateChange { from, to },
        };
        describe_event(&ev, standby).2
    }

    #[test]
    fn a_standby_does_not_log_a_connect_it_does_not_make() {
        assert_eq!(
            logged(State::Idle, State::Connect, false),
            "Idle -> Connect"
        );
        for to in [State::Connect, State::Active] {
            let text = logged(State::Idle, to, true);
            assert!(!text.contains("Idle -> "), "{text}");
            assert!(
                text.starts_with("following the primary's session"),
                "{text}"
            );
            assert!(text.contains("opens no connection"), "{text}");
        }
        assert_eq!(
            logged(State::OpenConfirm, State::Established, true),
            "followed session OpenConfirm -> Established (the primary's, seen through \
             checkpoints and the mirror)"
        );
    }

    #[test]
    fn notification_text_decodes_a_shutdown_communication() {
        let n = Notification::shutdown("understudy bgpd shutting down", false);
        assert_eq!(
            notification_text(&n),
            "6/2 (Cease), shutdown communication \"understudy bgpd shutting down\""
        );
        // Not valid UTF-8: the octets in hex.
        let n = Notification {
            code: 6,
            subcode: 2,
            data: vec![2, 0xff, 0xfe],
        };
        assert_eq!(notification_text(&n), "6/2 (Cease), data 02fffe");
        // Other codes: hex as before.
        let n = Notification {
            code: 2,
            subcode: 2,
            data: vec![0xfd, 0xe9],
        };
        assert_eq!(notification_text(&n), "2/2 (OPEN Message Error), data fde9");
    }
}
