//! ROUTE-REFRESH (RFC 2918) with the RFC 7313 message subtypes (BoRR, EoRR).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subt. | SAFI  |    (then ORF entries, RFC 5291, kept as bytes)
//! +-------+-------+-------+-------+
//! ```

use super::error::{code, route_refresh_subcode, NotificationError};
use super::types::AfiSafi;
use serde::Serialize;

/// The Message Subtype (RFC 7313 section 3; "Reserved" in RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteRefreshSubtype {
    /// 0: a normal route refresh request.
    Normal,
    /// 1: Beginning of Route Refresh.
    BeginningOfRouteRefresh,
    /// 2: End of Route Refresh.
    EndOfRouteRefresh,
    /// Any other value: "MUST ignore the received ROUTE-REFRESH message" (RFC 7313 section 5).
    Unknown(u8),
}

impl RouteRefreshSubtype {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            RouteRefreshSubtype::Normal => 0,
            RouteRefreshSubtype::BeginningOfRouteRefresh => 1,
            RouteRefreshSubtype::EndOfRouteRefresh => 2,
            RouteRefreshSubtype::Unknown(v) => v,
        }
    }
    fn from_code(v: u8) -> Self {
        match v {
            0 => RouteRefreshSubtype::Normal,
            1 => RouteRefreshSubtype::BeginningOfRouteRefresh,
            2 => RouteRefreshSubtype::EndOfRouteRefresh,
            v => RouteRefreshSubtype::Unknown(v),
        }
    }
}

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub afi_safi: AfiSafi,
    /// The subtype.
    pub subtype: RouteRefreshSubtype,
    /// ORF entries (RFC 5291) of a subtype-0 message, as bytes; empty normally.
    #[serde(serialize_with = "crate::wire::error::ser_hex")]
    pub orf: Vec<u8>,
}

impl RouteRefresh {
    /// A normal route refresh request.
    pub fn new(afi_safi: AfiSafi) -> Self {
        RouteRefresh {
            afi_safi,
            subtype: RouteRefreshSubtype::Normal,
            orf: Vec::new(),
        }
    }
}

/// Decodes the body; `message` is the whole message (the data of the RFC 7313 error).
pub(crate) fn decode(body: &[u8], message: &[u8]) -> Result<RouteRefresh, NotificationError> {
    let invalid = || {
        NotificationError::new(
            code::ROUTE_REFRESH_MESSAGE,
            route_refresh_subcode::INVALID_MESSAGE_LENGTH,
            message.to_vec(),
        )
    };
    let [a0, a1, st, safi, rest @ ..] = body else {
        return Err(invalid());
    };
    let subtype = RouteRefreshSubtype::from_code(*st);
    // RFC 7313 section 5: "If the length, excluding the fixed-size message header, of the
    // received ROUTE-REFRESH message with Message Subtype 1 and 2 is not 4, then the BGP speaker
    // MUST send a NOTIFICATION message with the Error Code of 'ROUTE-REFRESH Message Error' and
    // the subcode of 'Invalid Message Length'. The Data field of the NOTIFICATION message MUST
    // contain the complete ROUTE-REFRESH message."
    if matches!(
        subtype,
        RouteRefreshSubtype::BeginningOfRouteRefresh | RouteRefreshSubtype::EndOfRouteRefresh
    ) && !rest.is_empty()
    {
        return Err(invalid());
    }
    Ok(RouteRefresh {
        afi_safi: AfiSafi::new(u16::from_be_bytes([*a0, *a1]), *safi),
        subtype,
        orf: rest.to_vec(),
    })
}

pub(crate) fn encode(r: &RouteRefresh, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.afi_safi.afi.0.to_be_bytes());
    out.extend_from_slice(&[r.subtype.code(), r.afi_safi.safi.0]);
    out.extend_from_slice(&r.orf);
}
