//! NOTIFICATION (RFC 4271 section 4.5) and the shutdown communication of Cease subcodes 2 and 4
//! (RFC 8203, updated by RFC 9003).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! Cease/2 and Cease/4 data (RFC 9003 section 2):
//! | Length (1) | Shutdown Communication (Length octets of UTF-8, at most 255) |
//! ```

use super::error::{cease_subcode, code, NotificationError};
use serde::Serialize;

/// Longest shutdown communication in octets (RFC 9003 section 2).
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    #[serde(serialize_with = "crate::wire::error::ser_hex")]
    pub data: Vec<u8>,
}

/// Why a shutdown communication could not be read (RFC 9003 section 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShutdownCommunicationError {
    /// The NOTIFICATION is not Cease / Administrative Shutdown or Reset.
    #[error("not a Cease/Administrative Shutdown or Reset")]
    NotShutdown,
    /// The length octet runs past the data.
    #[error("shutdown communication length exceeds the data")]
    Truncated,
    /// The communication is not valid UTF-8.
    #[error("shutdown communication is not valid UTF-8")]
    InvalidUtf8,
}

impl Notification {
    /// A NOTIFICATION.
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// Cease / Administrative Shutdown (or Reset, with `reset`) with a shutdown communication
    /// (RFC 9003). The text is truncated to 255 octets on a UTF-8 character boundary.
    pub fn shutdown(message: &str, reset: bool) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_COMMUNICATION);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = Vec::with_capacity(end + 1);
        data.push(end as u8);
        data.extend_from_slice(&message.as_bytes()[..end]);
        let subcode = if reset {
            cease_subcode::ADMINISTRATIVE_RESET
        } else {
            cease_subcode::ADMINISTRATIVE_SHUTDOWN
        };
        Notification {
            code: code::CEASE,
            subcode,
            data,
        }
    }

    /// The shutdown communication of a Cease/2 or Cease/4 (RFC 9003). `Ok(None)` when the data
    /// is empty (no communication). Octets after the communication are ignored ("any
    /// additional data ... SHOULD be ignored" is not stated; we keep them in `data`).
    pub fn shutdown_communication(&self) -> Result<Option<&str>, ShutdownCommunicationError> {
        if self.code != code::CEASE
            || !(self.subcode == cease_subcode::ADMINISTRATIVE_SHUTDOWN
                || self.subcode == cease_subcode::ADMINISTRATIVE_RESET)
        {
            return Err(ShutdownCommunicationError::NotShutdown);
        }
        let Some((&len, rest)) = self.data.split_first() else {
            return Ok(None);
        };
        let text = rest
            .get(..usize::from(len))
            .ok_or(ShutdownCommunicationError::Truncated)?;
        std::str::from_utf8(text)
            .map(Some)
            .map_err(|_| ShutdownCommunicationError::InvalidUtf8)
    }
}

impl From<NotificationError> for Notification {
    fn from(e: NotificationError) -> Self {
        Notification {
            code: e.code,
            subcode: e.subcode,
            data: e.data,
        }
    }
}

impl From<&NotificationError> for Notification {
    fn from(e: &NotificationError) -> Self {
        Notification {
            code: e.code,
            subcode: e.subcode,
            data: e.data.clone(),
        }
    }
}

pub(crate) fn decode(body: &[u8]) -> Option<Notification> {
    let [c, s, data @ ..] = body else { return None };
    Some(Notification {
        code: *c,
        subcode: *s,
        data: data.to_vec(),
    })
}

pub(crate) fn encode(n: &Notification, out: &mut Vec<u8>) {
    out.extend_from_slice(&[n.code, n.subcode]);
    out.extend_from_slice(&n.data);
}
