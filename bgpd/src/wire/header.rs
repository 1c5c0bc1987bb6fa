//! The message header (RFC 4271 section 4.1) and its checks (section 6.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker (16 octets of all ones)      |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::context::{SessionContext, MAX_MESSAGE_LEN};
use super::error::{code, header_subcode, NotificationError};
use serde::Serialize;

/// Length of the fixed header in octets.
pub const HEADER_LEN: usize = 19;
/// The marker: 16 octets of all ones.
pub const MARKER: [u8; 16] = [0xff; 16];

/// The message Type field (RFC 4271 section 4.1, RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageType {
    /// 1
    Open,
    /// 2
    Update,
    /// 3
    Notification,
    /// 4
    Keepalive,
    /// 5 (RFC 2918)
    RouteRefresh,
}

impl MessageType {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            MessageType::Open => 1,
            MessageType::Update => 2,
            MessageType::Notification => 3,
            MessageType::Keepalive => 4,
            MessageType::RouteRefresh => 5,
        }
    }

    /// The type for a wire value, `None` for unknown types.
    pub fn from_code(v: u8) -> Option<Self> {
        Some(match v {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            _ => return None,
        })
    }

    /// The JSON/CLI name: `open`, `update`, `notification`, `keepalive`, `route-refresh`.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Open => "open",
            MessageType::Update => "update",
            MessageType::Notification => "notification",
            MessageType::Keepalive => "keepalive",
            MessageType::RouteRefresh => "route-refresh",
        }
    }

    /// Smallest valid length of a message of this type, header included (RFC 4271 section 4).
    pub fn min_len(self) -> usize {
        match self {
            MessageType::Open => 29,
            MessageType::Update => 23,
            MessageType::Notification => 21,
            MessageType::Keepalive => 19,
            MessageType::RouteRefresh => 23,
        }
    }
}

/// A checked header: type and total length (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The total message length in octets, header included (19..=max).
    pub length: usize,
    /// The message type.
    pub kind: MessageType,
}

/// Checks the 19-octet header at the start of `buf` (RFC 4271 section 6.1).
///
/// Errors are Message Header Errors: Connection Not Synchronized (bad marker), Bad Message
/// Length (data: the Length field) when the length is below 19, above the session maximum
/// (RFC 8654: OPEN and KEEPALIVE never above 4096), or below/above what the type allows,
/// and Bad Message Type (data: the Type field). `buf` must hold at least 19 octets.
pub fn check_header(buf: &[u8], ctx: &SessionContext) -> Result<Header, NotificationError> {
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Err(NotificationError::new(
            code::MESSAGE_HEADER,
            header_subcode::BAD_MESSAGE_LENGTH,
            Vec::new(),
        ));
    };
    if h[..16] != MARKER {
        // "If the Marker field of the message header is not as expected, then a synchronization
        // error has occurred and the Error Subcode MUST be set to Connection Not Synchronized."
        return Err(NotificationError::new(
            code::MESSAGE_HEADER,
            header_subcode::CONNECTION_NOT_SYNCHRONIZED,
            Vec::new(),
        ));
    }
    let raw_len = u16::from_be_bytes([h[16], h[17]]);
    let length = usize::from(raw_len);
    if length < HEADER_LEN || length > ctx.max_message_len() {
        return Err(NotificationError::bad_length(raw_len));
    }
    let Some(kind) = MessageType::from_code(h[18]) else {
        return Err(NotificationError::new(
            code::MESSAGE_HEADER,
            header_subcode::BAD_MESSAGE_TYPE,
            vec![h[18]],
        ));
    };
    // "if the Length field of an OPEN message is less than the minimum length of the OPEN
    // message, or if the Length field of an UPDATE message is less than the minimum length of
    // the UPDATE message, or if the Length field of a KEEPALIVE message is not equal to 19..."
    let too_short = length < kind.min_len();
    let too_long = match kind {
        MessageType::Keepalive => length != HEADER_LEN,
        // RFC 8654 section 3: OPEN and KEEPALIVE are not extended.
        MessageType::Open => length > MAX_MESSAGE_LEN,
        _ => false,
    };
    if too_short || too_long {
        return Err(NotificationError::bad_length(raw_len));
    }
    Ok(Header { length, kind })
}

/// The stream framer: how long the next message at the start of `buf` is.
///
/// `Ok(None)` means more bytes are needed (fewer than 19 buffered); `Ok(Some(n))` means the next
/// message is `n` octets long, header included (it may not all be buffered yet: wait until
/// `buf.len() >= n`). Header errors are returned as the NOTIFICATION to send (RFC 4271 section 6.1).
pub fn frame(buf: &[u8], ctx: &SessionContext) -> Result<Option<usize>, NotificationError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    check_header(buf, ctx).map(|h| Some(h.length))
}

/// Writes a header with a zero length placeholder; [`finish_header`] fills it in.
pub(crate) fn start_header(out: &mut Vec<u8>, kind: MessageType) -> usize {
    let start = out.len();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[0, 0, kind.code()]);
    start
}

/// Sets the Length field of the message that begins at `start` and checks the size limit.
pub(crate) fn finish_header(
    out: &mut [u8],
    start: usize,
    max: usize,
) -> Result<(), super::error::EncodeError> {
    let len = out.len() - start;
    if len > max {
        return Err(super::error::EncodeError::TooLong { len, max });
    }
    let l = u16::try_from(len).map_err(|_| super::error::EncodeError::TooLong { len, max })?;
    out[start + 16..start + 18].copy_from_slice(&l.to_be_bytes());
    Ok(())
}
