//! Our OPEN, the checks of the neighbour's OPEN (RFC 4271 section 6.2, RFC 5492, RFC 6286) and
//! what the two OPENs negotiate (hold time, capabilities, graceful restart).

use super::serde_wire;
use super::SessionConfig;
use crate::wire::capability::{code as cap, GracefulRestartFamily};
use crate::wire::error::open_subcode;
use crate::wire::{
    AfiSafi, Asn, Capability, GracefulRestart, HoldTime, NotificationError, Open, RouterId,
    SessionContext,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One family of the neighbour's Graceful Restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrFamily {
    /// The family.
    #[serde(with = "serde_wire::afi_safi")]
    pub afi_safi: AfiSafi,
    /// The F bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// The neighbour's Graceful Restart capability (RFC 4724 section 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerGracefulRestart {
    /// Restart Time: how long we keep its routes after the session drops.
    pub restart_time: Duration,
    /// The R bit: the neighbour has just restarted.
    pub restarting: bool,
    /// The families whose routes we retain as stale when the session drops.
    pub families: Vec<GrFamily>,
}

/// What the two OPENs of an established session negotiated: what the admin API shows and
/// what the RIB needs (the decoding context).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// The neighbour's AS (from its 4-octet AS capability when present, RFC 6793).
    #[serde(with = "serde_wire::asn")]
    pub remote_as: Asn,
    /// The neighbour's BGP Identifier.
    #[serde(with = "serde_wire::router_id")]
    pub remote_id: RouterId,
    /// The negotiated hold time: the smaller of the two proposals (RFC 4271 section 4.2);
    /// zero means no HoldTimer and no KEEPALIVEs.
    #[serde(with = "serde_wire::hold_time")]
    pub hold_time: HoldTime,
    /// The KEEPALIVE interval (zero with hold time zero): the configured value when set,
    /// else a third of the hold time (RFC 4271 section 10), never above a third.
    pub keepalive: Duration,
    /// The codec's context: AS width, ADD-PATH, extended messages, families, iBGP.
    #[serde(with = "serde_wire::context")]
    pub ctx: SessionContext,
    /// Both sides advertised Route Refresh (RFC 2918).
    pub route_refresh: bool,
    /// Both sides advertised Enhanced Route Refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// The neighbour's Graceful Restart capability, when it advertised one.
    pub peer_graceful_restart: Option<PeerGracefulRestart>,
}

impl Negotiated {
    /// Whether we act as Graceful Restart helper for this neighbour: it advertised the
    /// capability with at least one family (RFC 4724 section 4.2).
    pub fn graceful_restart_helper(&self) -> bool {
        self.peer_graceful_restart
            .as_ref()
            .is_some_and(|g| !g.families.is_empty())
    }
}

/// Our OPEN for this session: Multiprotocol per configured family, Route Refresh, Enhanced
/// Route Refresh, 4-octet AS, Extended Message (when configured) and Graceful Restart (when
/// configured: R bit clear, our restart time, every family with the F bit clear).
pub fn our_open(c: &SessionConfig) -> Open {
    let mut caps: Vec<Capability> = c
        .families
        .iter()
        .map(|f| Capability::Multiprotocol(*f))
        .collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::EnhancedRouteRefresh);
    caps.push(Capability::FourOctetAs(c.local_as));
    if c.extended_message {
        caps.push(Capability::ExtendedMessage);
    }
    if c.graceful_restart {
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: false,
            restart_time: u16::try_from(c.restart_time.as_secs())
                .unwrap_or(0x0fff)
                .min(0x0fff),
            families: c
                .families
                .iter()
                .map(|f| GracefulRestartFamily {
                    afi_safi: *f,
                    forwarding_preserved: false,
                })
                .collect(),
        }));
    }
    Open::new(c.local_as, c.hold_time, c.router_id, caps)
}

/// Checks the neighbour's OPEN against the configuration (what the codec cannot know) and
/// negotiates the session. Errors are the NOTIFICATION to send (RFC 4271 section 6.2).
///
/// The codec already refused version != 4 (2/1, data 0x0004), AS 0, hold time 1 or 2 (2/6)
/// and BGP Identifier 0 (2/3).
pub fn check_and_negotiate(
    c: &SessionConfig,
    ours: &Open,
    theirs: &Open,
) -> Result<Negotiated, NotificationError> {
    // "If the Autonomous System field of the OPEN message is unacceptable, then the Error
    // Subcode MUST be set to Bad Peer AS."
    let remote_as = theirs.asn();
    if remote_as != c.remote_as {
        return Err(NotificationError::open(open_subcode::BAD_PEER_AS));
    }
    // RFC 6793 section 4.2.1: a 4-octet AS that fits 2 octets is sent as itself, else AS_TRANS.
    if theirs.has_capability(cap::FOUR_OCTET_AS) && theirs.my_as != remote_as.to_two_octet() {
        return Err(NotificationError::open(open_subcode::BAD_PEER_AS));
    }
    let ibgp = c.remote_as == c.local_as;
    // RFC 6286 section 2.2: "If the BGP Identifier field of the OPEN message is zero, or if it
    // is the same as the BGP Identifier of the local BGP speaker and the message is from an
    // internal peer, then the Error Subcode is set to 'Bad BGP Identifier'."
    if theirs.bgp_identifier.to_u32() == 0 || (ibgp && theirs.bgp_identifier == c.router_id) {
        return Err(NotificationError::open(open_subcode::BAD_BGP_IDENTIFIER));
    }
    // RFC 5492 section 5: a capability we require and the peer did not advertise: 2/7 with
    // the capability (as we advertise it) in the Data field.
    let mut missing = Vec::new();
    for code in &c.required_capabilities {
        if !theirs.has_capability(*code) {
            let mut found = false;
            for cap in ours.capabilities().filter(|x| x.code() == *code) {
                let mut v = Vec::new();
                cap.encode_value(&mut v);
                missing.push(*code);
                missing.push(u8::try_from(v.len()).unwrap_or(0));
                missing.extend_from_slice(&v);
                found = true;
            }
            if !found {
                missing.extend_from_slice(&[*code, 0]);
            }
        }
    }
    if !missing.is_empty() {
        return Err(NotificationError::new(
            crate::wire::error::code::OPEN_MESSAGE,
            open_subcode::UNSUPPORTED_CAPABILITY,
            missing,
        ));
    }
    // RFC 4271 section 4.2: "the calculated value ... MUST be the smaller of its configured
    // Hold Time and the Hold Time received in the OPEN message".
    let hold_time = ours.hold_time.min(theirs.hold_time);
    let keepalive = if hold_time.seconds() == 0 {
        Duration::ZERO
    } else {
        let third = Duration::from_millis(u64::from(hold_time.seconds()) * 1000 / 3);
        match c.keepalive {
            Some(k) if k > 0 => Duration::from_secs(u64::from(k)).min(third),
            _ => third,
        }
    };
    let both = |code: u8| ours.has_capability(code) && theirs.has_capability(code);
    let peer_graceful_restart = theirs.capabilities().find_map(|x| match x {
        Capability::GracefulRestart(g) if c.graceful_restart => Some(PeerGracefulRestart {
            restart_time: Duration::from_secs(u64::from(g.restart_time)),
            restarting: g.restart_state,
            families: g
                .families
                .iter()
                .map(|f| GrFamily {
                    afi_safi: f.afi_safi,
                    forwarding_preserved: f.forwarding_preserved,
                })
                .collect(),
        }),
        _ => None,
    });
    Ok(Negotiated {
        remote_as,
        remote_id: theirs.bgp_identifier,
        hold_time,
        keepalive,
        ctx: SessionContext::negotiate(ours, theirs, ibgp),
        route_refresh: both(cap::ROUTE_REFRESH),
        enhanced_route_refresh: both(cap::ENHANCED_ROUTE_REFRESH),
        peer_graceful_restart,
    })
}
