//! The deprecated `BGP` (5), `BGP4PLUS` (9) and `BGP4PLUS_01` (10) record types.
//!
//! RFC 6396 appendix B lists them as deprecated without their layout; it is the one of the
//! MRT documentation that preceded the RFC (and of collectors' archives from 1999-2001):
//! peer AS (2 octets), peer address (4 octets; 16 for the BGP4PLUS types), then, for the
//! message subtypes, local AS and local address, then the BGP message *without* its
//! 19-octet header. The state change subtype has the two states after the peer address.

use super::bgp4mp::{Bgp4mpMessage, Bgp4mpStateChange};
use super::cursor::Cursor;
use super::reader::{MrtType, RecordBody};
use super::{Afi, RecordError};

mod subtype {
    pub const UPDATE: u16 = 1;
    pub const STATE_CHANGE: u16 = 3;
    pub const OPEN: u16 = 5;
    pub const NOTIFY: u16 = 6;
    pub const KEEPALIVE: u16 = 7;
}

pub(super) fn parse(mrt_type: u16, st: u16, body: &[u8]) -> Result<RecordBody, RecordError> {
    let afi = if mrt_type == MrtType::BGP {
        Afi::Ipv4
    } else {
        Afi::Ipv6
    };
    // RFC 4271 section 4.1 message type codes.
    let message_type = match st {
        subtype::OPEN => 1,
        subtype::UPDATE => 2,
        subtype::NOTIFY => 3,
        subtype::KEEPALIVE => 4,
        subtype::STATE_CHANGE => {
            let mut c = Cursor::new(body);
            let peer_as = u32::from(c.u16("peer AS")?);
            let peer_ip = c.ip(afi, "peer address")?;
            let old_state = c.u16("old state")?;
            let new_state = c.u16("new state")?;
            c.finish()?;
            return Ok(RecordBody::Bgp4mpStateChange(Bgp4mpStateChange {
                peer_as,
                local_as: 0,
                peer_ip,
                old_state,
                new_state,
            }));
        }
        _ => return Ok(RecordBody::Unsupported(body.to_vec())),
    };
    let mut c = Cursor::new(body);
    let peer_as = u32::from(c.u16("peer AS")?);
    let peer_ip = c.ip(afi, "peer address")?;
    let local_as = u32::from(c.u16("local AS")?);
    let local_ip = c.ip(afi, "local address")?;
    let content = c.rest();
    let total = u16::try_from(19 + content.len()).map_err(|_| RecordError::EntryTooLarge)?;
    let mut message = Vec::with_capacity(usize::from(total));
    message.extend_from_slice(&[0xff; 16]);
    message.extend_from_slice(&total.to_be_bytes());
    message.push(message_type);
    message.extend_from_slice(content);
    Ok(RecordBody::Bgp4mpMessage(Bgp4mpMessage {
        peer_as,
        local_as,
        interface_index: 0,
        peer_ip,
        local_ip,
        four_octet_as: false,
        add_path: false,
        local: false,
        message,
    }))
}
