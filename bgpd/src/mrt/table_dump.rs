//! TABLE_DUMP records (RFC 6396 section 4.2).

use std::net::IpAddr;

use super::cursor::Cursor;
use super::reader::RecordBody;
use super::synth::build_update;
use super::{Afi, ImpliedContext, Prefix, RecordError, SAFI_UNICAST};

/// One RIB entry of the original table dump format (RFC 6396 section 4.2):
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         View Number           |       Sequence Number         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Prefix (variable)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Prefix Length |    Status     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Originated Time                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Peer IP Address (variable)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Peer AS             |       Attribute Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   BGP Attribute... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The subtype is the AFI of the prefix and peer address; AS numbers are 2 octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDumpEntry {
    /// View number (normally 0).
    pub view: u16,
    /// Sequence number (wraps at 65535).
    pub sequence: u16,
    /// The route's prefix (the address field is full width; only `len` bits count).
    pub prefix: Prefix,
    /// Status (unused, "SHOULD be set to 1").
    pub status: u8,
    /// When the route was received, seconds since the Unix epoch.
    pub originated: u32,
    /// The peer's address.
    pub peer_ip: IpAddr,
    /// The peer's AS number.
    pub peer_as: u16,
    /// Path attributes as on the wire (2-octet AS numbers).
    pub attributes: Vec<u8>,
}

impl TableDumpEntry {
    /// The entry as a BGP UPDATE announcing its prefix (see [`build_update`]).
    ///
    /// # Errors
    /// [`RecordError::EntryTooLarge`] when the UPDATE would exceed 65535 octets.
    pub fn update_message(&self) -> Result<Vec<u8>, RecordError> {
        build_update(self.prefix, SAFI_UNICAST, None, &self.attributes, None)
    }

    /// What the record implies about the session: 2-octet AS numbers, no ADD-PATH.
    pub fn implied_context(&self) -> ImpliedContext {
        ImpliedContext::default()
    }
}

pub(super) fn parse(subtype: u16, body: &[u8]) -> Result<RecordBody, RecordError> {
    let afi = Afi::from_code(subtype)?;
    let mut c = Cursor::new(body);
    let view = c.u16("view number")?;
    let sequence = c.u16("sequence number")?;
    let addr = c.ip(afi, "prefix")?;
    let len = c.u8("prefix length")?;
    if len > afi.max_prefix_len() {
        return Err(RecordError::PrefixTooLong { len });
    }
    let status = c.u8("status")?;
    let originated = c.u32("originated time")?;
    let peer_ip = c.ip(afi, "peer address")?;
    let peer_as = c.u16("peer AS")?;
    let attr_len = c.u16("attribute length")?;
    let attributes = c.bytes(usize::from(attr_len), "attributes")?.to_vec();
    c.finish()?;
    Ok(RecordBody::TableDump(TableDumpEntry {
        view,
        sequence,
        prefix: Prefix { addr, len },
        status,
        originated,
        peer_ip,
        peer_as,
        attributes,
    }))
}
