//! BGP Roles and the Only to Customer (OTC) attribute (RFC 9234): the OPEN role check of
//! section 4.2 and the OTC ingress and egress procedures of section 5, as pure functions of
//! the local role (our role towards the peer), the AS numbers and the path attributes.

use super::attribute::{AttributeValue, PathAttributes};
use super::capability::{BgpRole, Capability};
use super::error::{open_subcode, NotificationError};
use super::open::Open;
use super::types::Asn;

/// Whether the pair (our role, the peer's role) is allowed (RFC 9234 section 4.2, Table 2).
pub fn roles_compatible(local: BgpRole, remote: BgpRole) -> bool {
    use BgpRole::*;
    matches!(
        (local, remote),
        (Provider, Customer)
            | (Customer, Provider)
            | (RouteServer, RouteServerClient)
            | (RouteServerClient, RouteServer)
            | (Peer, Peer)
    )
}

/// The OPEN-time role check (RFC 9234 section 4.2). Returns the peer's role when it sent one.
///
/// Role Mismatch (OPEN Message Error, subcode 11) when: the peer sent several Role capabilities
/// with different values; both sent roles that do not form an allowed pair; or `strict` is set
/// and the peer sent none.
pub fn check_roles(
    local: BgpRole,
    peer_open: &Open,
    strict: bool,
) -> Result<Option<BgpRole>, NotificationError> {
    let mismatch = || NotificationError::open(open_subcode::ROLE_MISMATCH);
    let mut remote: Option<BgpRole> = None;
    for c in peer_open.capabilities() {
        if let Capability::Role(r) = c {
            match remote {
                Some(prev) if prev != *r => return Err(mismatch()),
                _ => remote = Some(*r),
            }
        }
    }
    match remote {
        Some(r) if !roles_compatible(local, r) => Err(mismatch()),
        None if strict => Err(mismatch()),
        r => Ok(r),
    }
}

/// What to do with a received route (RFC 9234 section 5, ingress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtcIngress {
    /// Keep the route as it is.
    Accept,
    /// Keep the route and add OTC with this AS (the peer's AS) before further processing.
    AddOtc(Asn),
    /// A route leak: the route "MUST be considered ineligible".
    RouteLeak,
}

/// The ingress procedure for a route received from the peer, `local` being our role on the
/// session (so `Provider` means the peer is our customer).
pub fn otc_ingress(local: BgpRole, peer_as: Asn, attrs: &PathAttributes) -> OtcIngress {
    let otc = attrs.otc();
    match (local, otc) {
        // "If a route with the OTC Attribute is received from a Customer or an RS-Client, then it
        // is a route leak"
        (BgpRole::Provider | BgpRole::RouteServer, Some(_)) => OtcIngress::RouteLeak,
        // "If a route is received from a Peer and the OTC Attribute has a value not equal to the
        // remote (i.e., Peer's) AS number, then it is a route leak"
        (BgpRole::Peer, Some(v)) if v != peer_as => OtcIngress::RouteLeak,
        // "If a route is received from a Provider, a Peer, or an RS and the OTC Attribute is not
        // present, then it MUST be added with a value equal to the remote AS number."
        (BgpRole::Customer | BgpRole::Peer | BgpRole::RouteServerClient, None) => {
            OtcIngress::AddOtc(peer_as)
        }
        _ => OtcIngress::Accept,
    }
}

/// What to do with a route about to be advertised (RFC 9234 section 5, egress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtcEgress {
    /// Advertise as it is.
    Send,
    /// Advertise with OTC set to this AS (our AS).
    AddOtc(Asn),
    /// Do not advertise: "MUST NOT be propagated to Providers, Peers, or RSes".
    Suppress,
}

/// The egress procedure towards the peer, `local` being our role on the session.
pub fn otc_egress(local: BgpRole, local_as: Asn, attrs: &PathAttributes) -> OtcEgress {
    let has_otc = attrs.otc().is_some();
    match local {
        // Towards a Provider (we are Customer), a Peer, or an RS (we are RS-Client).
        BgpRole::Customer | BgpRole::Peer | BgpRole::RouteServerClient if has_otc => {
            OtcEgress::Suppress
        }
        // "If a route is to be advertised to a Customer, a Peer, or an RS-Client (when the sender
        // is an RS), and the OTC Attribute is not present, then ... MUST be added"
        BgpRole::Provider | BgpRole::Peer | BgpRole::RouteServer if !has_otc => {
            OtcEgress::AddOtc(local_as)
        }
        _ => OtcEgress::Send,
    }
}

/// Applies an [`OtcIngress::AddOtc`] or [`OtcEgress::AddOtc`] to the attributes.
pub fn add_otc(attrs: &mut PathAttributes, asn: Asn) {
    attrs.set(AttributeValue::Otc(asn));
}
