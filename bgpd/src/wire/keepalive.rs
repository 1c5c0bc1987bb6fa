//! KEEPALIVE (RFC 4271 section 4.4): the 19-octet header alone.

use super::header::{MessageType, MARKER};

/// The complete KEEPALIVE message.
pub const KEEPALIVE: [u8; 19] = {
    let mut m = [0xffu8; 19];
    m[16] = 0;
    m[17] = 19;
    m[18] = 4;
    m
};

/// Whether `bytes` is exactly a KEEPALIVE.
pub fn is_keepalive(bytes: &[u8]) -> bool {
    bytes.len() == 19
        && bytes[..16] == MARKER
        && bytes[16..18] == [0, 19]
        && bytes[18] == MessageType::Keepalive.code()
}
