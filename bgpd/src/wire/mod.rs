//! The BGP-4 wire codec: every message of RFC 4271 section 4 and its extensions, decoded
//! against an explicit [`SessionContext`] and mapped to exactly one RFC 4271 section 6 /
//! RFC 7606 [`Outcome`].
//!
//! Entry points: [`frame`] (how long is the next message in a byte stream), [`decode_message`]
//! (one framed message to a [`Decoded`]), [`encode_message`], and [`UpdateBuilder`].
//! Decoding never panics, never reads past its input and never allocates more than a small
//! multiple of the message length.
//!
//! # Error handling choices
//!
//! Each malformation maps to one [`Outcome`]; when several occur the most severe wins
//! (RFC 7606 section 3). Where the RFCs leave a choice, or where the shared conformance cases
//! expect otherwise, this codec decides as follows (RFC text first):
//!
//! - MP_REACH_NLRI/MP_UNREACH_NLRI malformed (next hop length, truncation, NLRI syntax):
//!   session reset with UPDATE Message Error / Optional Attribute Error (3/9), data = the
//!   attribute (RFC 7606 section 7.11 allows AFI/SAFI disable too; we never choose it).
//! - Repeated MP attribute: 3/1 Malformed Attribute List; other repeats: later ones dropped
//!   silently (RFC 7606 section 3 g).
//! - Attribute list overrun (RFC 7606 section 4): treat-as-withdraw, except when the UPDATE
//!   has no NLRI field, no Withdrawn Routes and no MP attribute was found before the break:
//!   the routes cannot be located, so session reset 3/1.
//! - LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST from an external peer: attribute discard, well
//!   formed or not (RFC 7606 sections 7.5, 7.9, 7.10).
//! - AS4_PATH/AS4_AGGREGATOR: attribute discard when malformed (flags included, via RFC 7606
//!   section 3 c) and always on 4-octet sessions (RFC 6793 section 6).
//! - NEXT_HOP 0/8, 127/8, multicast, 240/4: treat-as-withdraw when the UPDATE has plain NLRI
//!   (RFC 4271 section 6.3 "valid IP host address"); ignored otherwise (RFC 4760 section 3).
//! - Empty AS_PATH from an external peer: treat-as-withdraw (RFC 4271 section 6.3, RFC 7606
//!   section 7.2).
//! - AS_CONFED_SEQUENCE or AS_CONFED_SET from an external peer: treat-as-withdraw (RFC 5065
//!   section 5 with RFC 7606 section 7.2; understudy is in no confederation, so no external
//!   peer is in ours). The leftmost-AS check needs the configuration and is left to the
//!   session.
//! - Unrecognized attribute with the Optional bit clear: 3/2 with the attribute as data.
//! - PMSI_TUNNEL, Tunnel Encapsulation, AIGP, BGP-LS, NHC, Prefix-SID: validated structurally
//!   and carried as bytes (see `attribute::opaque`).

pub mod attribute;
pub mod builder;
pub mod capability;
pub mod context;
pub mod error;
pub mod header;
pub mod keepalive;
pub mod nlri;
pub mod notification;
pub mod open;
pub mod prefix;
mod reader;
pub mod role;
pub mod route_refresh;
pub mod types;
pub mod update;
pub mod update_view;

pub use attribute::{
    type_code, Aggregator, AsPath, AsSegment, AttrFlags, AttributeValue, Community,
    ExtendedCommunity, LargeCommunity, MpNextHop, MpNlri, MpReach, MpUnreach, Origin,
    PathAttribute, PathAttributes, SegmentType,
};
pub use builder::UpdateBuilder;
pub use capability::{AddPathEntry, AddPathMode, BgpRole, Capability, GracefulRestart};
pub use context::{SessionContext, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
pub use error::{EncodeError, NotificationError, Outcome};
pub use header::{frame, MessageType, HEADER_LEN};
pub use nlri::Nlri;
pub use notification::Notification;
pub use open::{Open, OptionalParameter};
pub use prefix::{ExactPrefixError, Ipv4Prefix, Ipv6Prefix, Prefix};
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use types::{Afi, AfiSafi, Asn, HoldTime, PathId, RouterId, Safi};
pub use update::Update;
pub use update_view::{ReceivedUpdate, UpdateView};

use serde::Serialize;

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// OPEN (type 1).
    Open(Open),
    /// UPDATE (type 2).
    Update(Update),
    /// NOTIFICATION (type 3).
    Notification(Notification),
    /// KEEPALIVE (type 4).
    Keepalive,
    /// ROUTE-REFRESH (type 5).
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }
}

/// The result of decoding one message: the message when there is one, and what to do.
///
/// `message` is `Some` for `Accept`, `AttributeDiscard` (discarded attributes removed),
/// `TreatAsWithdraw` (the UPDATE whose NLRI must be withdrawn) and `AfiSafiDisable`; it is
/// `None` for `SessionReset`, except for header-valid messages whose body could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decoded {
    /// The message type from the header, when the header was valid.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageType>,
    /// The decoded message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// What the receiver must do.
    pub outcome: Outcome,
}

impl Decoded {
    fn reset(kind: Option<MessageType>, e: NotificationError) -> Self {
        Decoded {
            kind,
            message: None,
            outcome: Outcome::SessionReset(e),
        }
    }
}

/// Decodes exactly one framed message (`bytes` holds the 19-octet header and the body, and
/// nothing else) against the session context.
///
/// Header errors, OPEN errors and UPDATE errors map to the NOTIFICATION the RFCs name
/// (RFC 4271 section 6); UPDATE attribute errors follow RFC 7606. A length field that
/// disagrees with `bytes.len()` is Bad Message Length.
pub fn decode_message(bytes: &[u8], ctx: &SessionContext) -> Decoded {
    let h = match header::check_header(bytes, ctx) {
        Ok(h) => h,
        Err(mut e) => {
            if e.data.is_empty() && e.subcode == error::header_subcode::BAD_MESSAGE_LENGTH {
                e.data = bytes.get(16..18).map(<[u8]>::to_vec).unwrap_or_default();
            }
            return Decoded::reset(None, e);
        }
    };
    if h.length != bytes.len() {
        return Decoded::reset(Some(h.kind), NotificationError::bad_length(h.length as u16));
    }
    let body = &bytes[HEADER_LEN..];
    let kind = Some(h.kind);
    match h.kind {
        MessageType::Open => match open::decode(body) {
            Ok(o) => Decoded {
                kind,
                message: Some(Message::Open(o)),
                outcome: Outcome::Accept,
            },
            Err(e) => Decoded::reset(kind, e),
        },
        MessageType::Update => {
            let (u, outcome) = update::decode(body, ctx);
            Decoded {
                kind,
                message: u.map(Message::Update),
                outcome,
            }
        }
        MessageType::Notification => match notification::decode(body) {
            Some(n) => Decoded {
                kind,
                message: Some(Message::Notification(n)),
                outcome: Outcome::Accept,
            },
            None => Decoded::reset(kind, NotificationError::bad_length(h.length as u16)),
        },
        MessageType::Keepalive => Decoded {
            kind,
            message: Some(Message::Keepalive),
            outcome: Outcome::Accept,
        },
        MessageType::RouteRefresh => match route_refresh::decode(body, bytes) {
            Ok(r) => Decoded {
                kind,
                message: Some(Message::RouteRefresh(r)),
                outcome: Outcome::Accept,
            },
            Err(e) => Decoded::reset(kind, e),
        },
    }
}

/// Encodes a message, header included. Fails when the result would exceed the session's
/// maximum message size (OPEN and KEEPALIVE: 4096, RFC 8654 section 3) or a field overflows.
pub fn encode_message(msg: &Message, ctx: &SessionContext) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64);
    encode_message_into(msg, ctx, &mut out)?;
    Ok(out)
}

/// Appends the encoded message to `out` (see [`encode_message`]). On error `out` may hold a
/// partial message after its previous length.
pub fn encode_message_into(
    msg: &Message,
    ctx: &SessionContext,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = header::start_header(out, msg.kind());
    let max = match msg {
        Message::Open(_) | Message::Keepalive => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    };
    match msg {
        Message::Open(o) => open::encode(o, out)?,
        Message::Update(u) => update::encode(u, ctx, out)?,
        Message::Notification(n) => notification::encode(n, out),
        Message::Keepalive => {}
        Message::RouteRefresh(r) => route_refresh::encode(r, out),
    }
    header::finish_header(out, start, max)
}
