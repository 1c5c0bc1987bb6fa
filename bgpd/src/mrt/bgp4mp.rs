//! BGP4MP and BGP4MP_ET records (RFC 6396 section 4.4, RFC 8050 section 3).

use std::net::IpAddr;

use super::cursor::Cursor;
use super::reader::RecordBody;
use super::synth::build_update;
use super::{ImpliedContext, Prefix, RecordError};

/// BGP4MP subtype codes (RFC 6396 section 4.4, RFC 8050 section 3).
mod subtype {
    pub const STATE_CHANGE: u16 = 0;
    pub const MESSAGE: u16 = 1;
    pub const ENTRY: u16 = 2;
    pub const MESSAGE_AS4: u16 = 4;
    pub const STATE_CHANGE_AS4: u16 = 5;
    pub const MESSAGE_LOCAL: u16 = 6;
    pub const MESSAGE_AS4_LOCAL: u16 = 7;
    pub const MESSAGE_ADDPATH: u16 = 8;
    pub const MESSAGE_AS4_ADDPATH: u16 = 9;
    pub const MESSAGE_LOCAL_ADDPATH: u16 = 10;
    pub const MESSAGE_AS4_LOCAL_ADDPATH: u16 = 11;
}

/// A BGP message with the session it belongs to (RFC 6396 section 4.4.2):
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer AS Number        |        Local AS Number        |   (4 octets each
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    in the AS4
/// |        Interface Index        |        Address Family         |    subtypes)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Peer IP Address (variable)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Local IP Address (variable)              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Message... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgp4mpMessage {
    /// The peer's AS number.
    pub peer_as: u32,
    /// The collector's (local) AS number.
    pub local_as: u32,
    /// Interface index on the collector (0 when unknown).
    pub interface_index: u16,
    /// The peer's address.
    pub peer_ip: IpAddr,
    /// The collector's address.
    pub local_ip: IpAddr,
    /// The record is of an AS4 subtype: AS numbers inside the message are 4 octets.
    pub four_octet_as: bool,
    /// The record is of an ADDPATH subtype (RFC 8050): NLRI carry Path Identifiers.
    pub add_path: bool,
    /// The record is of a LOCAL subtype: the collector sent the message.
    pub local: bool,
    /// The whole BGP message, marker and header included.
    pub message: Vec<u8>,
}

impl Bgp4mpMessage {
    /// What the record implies about the session the message was exchanged on.
    pub fn implied_context(&self) -> ImpliedContext {
        ImpliedContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path,
            ibgp: self.peer_as == self.local_as,
            extended_message: self.message.len() > 4096,
        }
    }
}

/// A BGP FSM state change (RFC 6396 section 4.4.1). States are the RFC 4271 section 8.2.2
/// numbers: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgp4mpStateChange {
    /// The peer's AS number.
    pub peer_as: u32,
    /// The collector's AS number (0 in the deprecated BGP type, which omits it).
    pub local_as: u32,
    /// The peer's address.
    pub peer_ip: IpAddr,
    /// State before the change.
    pub old_state: u16,
    /// State after the change.
    pub new_state: u16,
}

/// A RIB entry in the deprecated BGP4MP_ENTRY form (subtype 2, from the drafts that
/// preceded RFC 6396; OpenBGPD still writes it): the BGP4MP session header (2-octet AS
/// numbers), then view, status, time of last change, AFI, SAFI, next hop, prefix and path
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgp4mpEntry {
    /// The peer's AS number.
    pub peer_as: u32,
    /// The collector's AS number.
    pub local_as: u32,
    /// The peer's address.
    pub peer_ip: IpAddr,
    /// View number.
    pub view: u16,
    /// Status bits (unused by the format).
    pub status: u16,
    /// When the route last changed, seconds since the Unix epoch.
    pub originated: u32,
    /// Subsequent address family.
    pub safi: u8,
    /// The next hop.
    pub next_hop: Vec<u8>,
    /// The route's prefix.
    pub prefix: Prefix,
    /// Path attributes, as on the wire (2-octet AS numbers).
    pub attributes: Vec<u8>,
}

impl Bgp4mpEntry {
    /// The entry as a BGP UPDATE announcing its prefix (see [`build_update`]).
    ///
    /// # Errors
    /// [`RecordError::EntryTooLarge`] when the UPDATE would exceed 65535 octets.
    pub fn update_message(&self) -> Result<Vec<u8>, RecordError> {
        build_update(
            self.prefix,
            self.safi,
            None,
            &self.attributes,
            Some(&self.next_hop),
        )
    }

    /// What the record implies about the session: 2-octet AS numbers, no ADD-PATH.
    pub fn implied_context(&self) -> ImpliedContext {
        ImpliedContext {
            four_octet_as: false,
            add_path: false,
            ibgp: self.peer_as == self.local_as,
            extended_message: false,
        }
    }
}

struct SessionHeader {
    peer_as: u32,
    local_as: u32,
    interface_index: u16,
    peer_ip: IpAddr,
    local_ip: IpAddr,
}

fn session_header(c: &mut Cursor<'_>, four_octet: bool) -> Result<SessionHeader, RecordError> {
    let peer_as = c.asn(four_octet, "peer AS")?;
    let local_as = c.asn(four_octet, "local AS")?;
    let interface_index = c.u16("interface index")?;
    let afi = c.afi("address family")?;
    let peer_ip = c.ip(afi, "peer address")?;
    let local_ip = c.ip(afi, "local address")?;
    Ok(SessionHeader {
        peer_as,
        local_as,
        interface_index,
        peer_ip,
        local_ip,
    })
}

pub(super) fn parse(st: u16, body: &[u8]) -> Result<RecordBody, RecordError> {
    let mut c = Cursor::new(body);
    match st {
        subtype::STATE_CHANGE | subtype::STATE_CHANGE_AS4 => {
            let h = session_header(&mut c, st == subtype::STATE_CHANGE_AS4)?;
            let old_state = c.u16("old state")?;
            let new_state = c.u16("new state")?;
            c.finish()?;
            Ok(RecordBody::Bgp4mpStateChange(Bgp4mpStateChange {
                peer_as: h.peer_as,
                local_as: h.local_as,
                peer_ip: h.peer_ip,
                old_state,
                new_state,
            }))
        }
        subtype::MESSAGE
        | subtype::MESSAGE_AS4
        | subtype::MESSAGE_LOCAL
        | subtype::MESSAGE_AS4_LOCAL
        | subtype::MESSAGE_ADDPATH
        | subtype::MESSAGE_AS4_ADDPATH
        | subtype::MESSAGE_LOCAL_ADDPATH
        | subtype::MESSAGE_AS4_LOCAL_ADDPATH => {
            let four_octet_as = matches!(
                st,
                subtype::MESSAGE_AS4
                    | subtype::MESSAGE_AS4_LOCAL
                    | subtype::MESSAGE_AS4_ADDPATH
                    | subtype::MESSAGE_AS4_LOCAL_ADDPATH
            );
            let h = session_header(&mut c, four_octet_as)?;
            Ok(RecordBody::Bgp4mpMessage(Bgp4mpMessage {
                peer_as: h.peer_as,
                local_as: h.local_as,
                interface_index: h.interface_index,
                peer_ip: h.peer_ip,
                local_ip: h.local_ip,
                four_octet_as,
                add_path: st >= subtype::MESSAGE_ADDPATH,
                local: matches!(
                    st,
                    subtype::MESSAGE_LOCAL
                        | subtype::MESSAGE_AS4_LOCAL
                        | subtype::MESSAGE_LOCAL_ADDPATH
                        | subtype::MESSAGE_AS4_LOCAL_ADDPATH
                ),
                message: c.rest().to_vec(),
            }))
        }
        subtype::ENTRY => {
            let h = session_header(&mut c, false)?;
            let view = c.u16("view")?;
            let status = c.u16("status")?;
            let originated = c.u32("originated time")?;
            let afi = c.afi("entry address family")?;
            let safi = c.u8("entry SAFI")?;
            let nh_len = c.u8("next hop length")?;
            let next_hop = c.bytes(usize::from(nh_len), "next hop")?.to_vec();
            let prefix = c.prefix(afi, "prefix")?;
            let attr_len = c.u16("attribute length")?;
            let attributes = c.bytes(usize::from(attr_len), "attributes")?.to_vec();
            c.finish()?;
            Ok(RecordBody::Bgp4mpEntry(Bgp4mpEntry {
                peer_as: h.peer_as,
                local_as: h.local_as,
                peer_ip: h.peer_ip,
                view,
                status,
                originated,
                safi,
                next_hop,
                prefix,
                attributes,
            }))
        }
        _ => Ok(RecordBody::Unsupported(body.to_vec())),
    }
}
