//! Error outcomes: RFC 4271 section 6 NOTIFICATION codes and the RFC 7606 approaches
//! (session reset, AFI/SAFI disable, treat-as-withdraw, attribute discard).

use super::types::AfiSafi;
use serde::Serialize;
use std::borrow::Cow;

/// NOTIFICATION error codes (RFC 4271 section 4.5, IANA "BGP Error (Notification) Codes").
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error (RFC 6608 subcodes).
    pub const FSM: u8 = 5;
    /// Cease (RFC 4486 subcodes).
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH_MESSAGE: u8 = 7;
}

/// Message Header Error subcodes (RFC 4271 section 6.1).
pub mod header_subcode {
    /// Connection Not Synchronized (marker not all ones).
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Bad Message Length; data is the erroneous 2-octet Length field.
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Bad Message Type; data is the erroneous Type field.
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 section 6.2, RFC 5492, RFC 9234).
pub mod open_subcode {
    /// Unspecific (RFC 4271 has no better subcode for malformed optional parameters).
    pub const UNSPECIFIC: u8 = 0;
    /// Unsupported Version Number; data is the 2-octet largest supported version.
    pub const UNSUPPORTED_VERSION: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    /// Role Mismatch (RFC 9234).
    pub const ROLE_MISMATCH: u8 = 11;
}

/// UPDATE Message Error subcodes (RFC 4271 section 6.3).
pub mod update_subcode {
    /// Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// Missing Well-known Attribute.
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// Attribute Length Error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    /// Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    /// Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Cease subcodes (RFC 4486, RFC 8203/9003).
pub mod cease_subcode {
    /// Maximum Number of Prefixes Reached.
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown (may carry a shutdown communication, RFC 9003).
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset (may carry a shutdown communication, RFC 9003).
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538).
    pub const HARD_RESET: u8 = 9;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313 section 5).
pub mod route_refresh_subcode {
    /// Invalid Message Length; data is the complete ROUTE-REFRESH message.
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// The NOTIFICATION a session reset sends: error code, subcode and data, exactly as the RFC
/// naming the error specifies (RFC 4271 section 6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[error("NOTIFICATION {code}/{subcode} (data {} octets)", data.len())]
pub struct NotificationError {
    /// Error code (see [`code`]).
    pub code: u8,
    /// Error subcode (see the `*_subcode` modules).
    pub subcode: u8,
    /// Data field, serialised as lower-case hex.
    #[serde(serialize_with = "ser_hex")]
    pub data: Vec<u8>,
}

impl NotificationError {
    /// A NOTIFICATION error with data.
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        NotificationError {
            code,
            subcode,
            data,
        }
    }

    /// UPDATE Message Error with the given subcode and data.
    pub fn update(subcode: u8, data: Vec<u8>) -> Self {
        NotificationError {
            code: code::UPDATE_MESSAGE,
            subcode,
            data,
        }
    }

    /// OPEN Message Error with the given subcode and empty data.
    pub fn open(subcode: u8) -> Self {
        NotificationError {
            code: code::OPEN_MESSAGE,
            subcode,
            data: Vec::new(),
        }
    }

    /// Message Header Error: Bad Message Length, data = the Length field (RFC 4271 section 6.1).
    pub fn bad_length(length: u16) -> Self {
        NotificationError {
            code: code::MESSAGE_HEADER,
            subcode: header_subcode::BAD_MESSAGE_LENGTH,
            data: length.to_be_bytes().to_vec(),
        }
    }
}

pub(crate) fn ser_hex<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(data))
}

/// What the receiver must do with a decoded message (RFC 4271 section 6, RFC 7606 section 2).
///
/// Serialises to a JSON object whose `action` is `accept`, `treat-as-withdraw`,
/// `attribute-discard`, `session-reset` (with `code`, `subcode`, `data` as hex) or
/// `afi-safi-disable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Outcome {
    /// The message is well formed: process it.
    Accept,
    /// RFC 7606 "treat-as-withdraw": every NLRI of the UPDATE (plain and MP_REACH) is handled as
    /// withdrawn; MP_UNREACH withdrawals stand. The decoded UPDATE is still returned.
    TreatAsWithdraw {
        /// Why (for logs).
        reason: Cow<'static, str>,
    },
    /// RFC 7606 "attribute discard": the listed attributes were removed from the decoded UPDATE;
    /// the rest is processed normally.
    AttributeDiscard {
        /// Type codes of the discarded attributes.
        discarded: Vec<u8>,
        /// Why (for logs).
        reason: Cow<'static, str>,
    },
    /// RFC 4271 section 6 / RFC 7606 "session reset": send this NOTIFICATION and close.
    SessionReset(NotificationError),
    /// RFC 7606 / RFC 4760 section 7 "AFI/SAFI disable": stop using this AFI/SAFI on the session.
    AfiSafiDisable {
        /// The family to disable.
        afi_safi: AfiSafi,
        /// Why (for logs).
        reason: Cow<'static, str>,
    },
}

impl Outcome {
    /// Severity order of RFC 7606 section 3 ("the most severe action takes precedence"):
    /// accept < attribute discard < treat-as-withdraw < AFI/SAFI disable < session reset.
    pub fn severity(&self) -> u8 {
        match self {
            Outcome::Accept => 0,
            Outcome::AttributeDiscard { .. } => 1,
            Outcome::TreatAsWithdraw { .. } => 2,
            Outcome::AfiSafiDisable { .. } => 3,
            Outcome::SessionReset(_) => 4,
        }
    }

    /// The `action` string of the JSON form.
    pub fn action(&self) -> &'static str {
        match self {
            Outcome::Accept => "accept",
            Outcome::TreatAsWithdraw { .. } => "treat-as-withdraw",
            Outcome::AttributeDiscard { .. } => "attribute-discard",
            Outcome::SessionReset(_) => "session-reset",
            Outcome::AfiSafiDisable { .. } => "afi-safi-disable",
        }
    }

    /// The outcome as a JSON object (what `understudy decode` prints under `outcome`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message would exceed the session's maximum message size.
    #[error("message of {len} octets exceeds the maximum of {max}")]
    TooLong {
        /// Encoded length in octets.
        len: usize,
        /// The session maximum (4096 or 65535).
        max: usize,
    },
    /// A field's value does not fit its wire width (e.g. an attribute over 65535 octets).
    #[error("{0} does not fit its wire field")]
    FieldOverflow(&'static str),
    /// The value cannot be expressed on this session (e.g. NLRI of a family not negotiated).
    #[error("cannot encode: {0}")]
    Unsupported(&'static str),
}
