//! TABLE_DUMP_V2 records (RFC 6396 section 4.3, RFC 8050 section 4).

use std::net::{IpAddr, Ipv4Addr};

use super::cursor::Cursor;
use super::reader::RecordBody;
use super::synth::build_update;
use super::{Afi, ImpliedContext, Prefix, RecordError, SAFI_MULTICAST, SAFI_UNICAST};

mod subtype {
    pub const PEER_INDEX_TABLE: u16 = 1;
    pub const RIB_IPV4_UNICAST: u16 = 2;
    pub const RIB_IPV4_MULTICAST: u16 = 3;
    pub const RIB_IPV6_UNICAST: u16 = 4;
    pub const RIB_IPV6_MULTICAST: u16 = 5;
    pub const RIB_GENERIC: u16 = 6;
    pub const RIB_IPV4_UNICAST_ADDPATH: u16 = 8;
    pub const RIB_IPV4_MULTICAST_ADDPATH: u16 = 9;
    pub const RIB_IPV6_UNICAST_ADDPATH: u16 = 10;
    pub const RIB_IPV6_MULTICAST_ADDPATH: u16 = 11;
    pub const RIB_GENERIC_ADDPATH: u16 = 12;
}

/// The PEER_INDEX_TABLE (RFC 6396 section 4.3.1): the peers that RIB entries refer to by
/// index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIndexTable {
    /// The collector's BGP Identifier.
    pub collector_bgp_id: Ipv4Addr,
    /// The view name (empty when none); invalid UTF-8 is replaced.
    pub view_name: String,
    /// The peers, in index order.
    pub peers: Vec<PeerEntry>,
}

/// One peer of the [`PeerIndexTable`]:
///
/// ```text
/// +-+-+-+-+-+-+-+-+
/// |   Peer Type   |   bit 0 (0x01): IPv6 address; bit 1 (0x02): 4-octet AS
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Peer BGP ID                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Peer IP Address (variable)                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Peer AS (variable)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// The peer's BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// The peer's address.
    pub ip: IpAddr,
    /// The peer's AS number.
    pub asn: u32,
}

/// An AFI/SAFI-specific RIB record (RFC 6396 section 4.3.2; RFC 8050 section 4 for the
/// ADDPATH subtypes): one prefix and the routes of every peer for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibRecord {
    /// Sequence number of the record in the dump.
    pub sequence: u32,
    /// Subsequent address family: 1 unicast, 2 multicast.
    pub safi: u8,
    /// The prefix.
    pub prefix: Prefix,
    /// The entries carry a Path Identifier (ADDPATH subtypes).
    pub add_path: bool,
    /// One entry per peer route.
    pub entries: Vec<RibEntry>,
}

/// A RIB entry (RFC 6396 section 4.3.4):
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer Index            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Originated Time                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  Path Identifier (ADDPATH subtypes only)      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Attribute Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Attributes... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The attributes use 4-octet AS numbers, and MP_REACH_NLRI in its abbreviated form (only
/// next hop length and next hop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibEntry {
    /// Index into the [`PeerIndexTable`].
    pub peer_index: u16,
    /// When the route was received, seconds since the Unix epoch.
    pub originated: u32,
    /// Path Identifier (RFC 7911), for the ADDPATH subtypes.
    pub path_id: Option<u32>,
    /// Path attributes as in the record.
    pub attributes: Vec<u8>,
}

impl RibRecord {
    /// One entry as a BGP UPDATE announcing the record's prefix (see [`build_update`]).
    ///
    /// # Errors
    /// [`RecordError::EntryTooLarge`] when the UPDATE would exceed 65535 octets.
    pub fn update_message(&self, entry: &RibEntry) -> Result<Vec<u8>, RecordError> {
        build_update(
            self.prefix,
            self.safi,
            entry.path_id,
            &entry.attributes,
            None,
        )
    }

    /// What the record implies about the session: 4-octet AS numbers (RFC 6396 section
    /// 4.3.4), Path Identifiers for the ADDPATH subtypes; `update_len` is the length of the
    /// UPDATE built from the entry.
    pub fn implied_context(&self, update_len: usize) -> ImpliedContext {
        ImpliedContext {
            four_octet_as: true,
            add_path: self.add_path,
            ibgp: false,
            extended_message: update_len > 4096,
        }
    }
}

/// A RIB_GENERIC(_ADDPATH) record (RFC 6396 section 4.3.3), kept opaque: its NLRI is
/// not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibGeneric {
    /// Sequence number.
    pub sequence: u32,
    /// Address family code.
    pub afi: u16,
    /// Subsequent address family code.
    pub safi: u8,
    /// The ADDPATH subtype.
    pub add_path: bool,
    /// The NLRI (one prefix) and the entries, when the SAFI encodes its NLRI as a length
    /// in bits followed by that many bits (unicast 1, multicast 2, MPLS labels 4, MPLS VPN
    /// 128 and 129, per RFC 4760, RFC 8277 and RFC 4364), which frames the record.
    pub parsed: Option<(Vec<u8>, Vec<RibEntry>)>,
    /// The rest of the record after SAFI, unparsed.
    pub rest: Vec<u8>,
}

fn rib_entries(c: &mut Cursor<'_>, add_path: bool) -> Result<Vec<RibEntry>, RecordError> {
    let count = c.u16("entry count")?;
    // Each entry takes at least 8 octets: never reserve more than the body can hold.
    let mut entries = Vec::with_capacity(usize::from(count).min(c.remaining() / 8));
    for _ in 0..count {
        let peer_index = c.u16("peer index")?;
        let originated = c.u32("originated time")?;
        let path_id = if add_path {
            Some(c.u32("path identifier")?)
        } else {
            None
        };
        let attr_len = c.u16("attribute length")?;
        let attributes = c.bytes(usize::from(attr_len), "attributes")?.to_vec();
        entries.push(RibEntry {
            peer_index,
            originated,
            path_id,
            attributes,
        });
    }
    Ok(entries)
}

pub(super) fn parse(st: u16, body: &[u8]) -> Result<RecordBody, RecordError> {
    let mut c = Cursor::new(body);
    let (afi, safi, add_path) = match st {
        subtype::PEER_INDEX_TABLE => return peer_index_table(c),
        subtype::RIB_GENERIC | subtype::RIB_GENERIC_ADDPATH => {
            let add_path = st == subtype::RIB_GENERIC_ADDPATH;
            let sequence = c.u32("sequence number")?;
            let afi = c.u16("AFI")?;
            let safi = c.u8("SAFI")?;
            let rest = c.rest();
            let parsed = if matches!(safi, 1 | 2 | 4 | 128 | 129) {
                let mut g = Cursor::new(rest);
                let bits = g.u8("NLRI length")?;
                let octets = g.bytes(usize::from(bits).div_ceil(8), "NLRI")?;
                let mut nlri = vec![bits];
                nlri.extend_from_slice(octets);
                let entries = rib_entries(&mut g, add_path)?;
                g.finish()?;
                Some((nlri, entries))
            } else {
                None
            };
            return Ok(RecordBody::RibGeneric(RibGeneric {
                sequence,
                afi,
                safi,
                add_path,
                parsed,
                rest: rest.to_vec(),
            }));
        }
        subtype::RIB_IPV4_UNICAST => (Afi::Ipv4, SAFI_UNICAST, false),
        subtype::RIB_IPV4_MULTICAST => (Afi::Ipv4, SAFI_MULTICAST, false),
        subtype::RIB_IPV6_UNICAST => (Afi::Ipv6, SAFI_UNICAST, false),
        subtype::RIB_IPV6_MULTICAST => (Afi::Ipv6, SAFI_MULTICAST, false),
        subtype::RIB_IPV4_UNICAST_ADDPATH => (Afi::Ipv4, SAFI_UNICAST, true),
        subtype::RIB_IPV4_MULTICAST_ADDPATH => (Afi::Ipv4, SAFI_MULTICAST, true),
        subtype::RIB_IPV6_UNICAST_ADDPATH => (Afi::Ipv6, SAFI_UNICAST, true),
        subtype::RIB_IPV6_MULTICAST_ADDPATH => (Afi::Ipv6, SAFI_MULTICAST, true),
        _ => return Ok(RecordBody::Unsupported(body.to_vec())),
    };
    let sequence = c.u32("sequence number")?;
    let prefix = c.prefix(afi, "prefix")?;
    let entries = rib_entries(&mut c, add_path)?;
    c.finish()?;
    Ok(RecordBody::Rib(RibRecord {
        sequence,
        safi,
        prefix,
        add_path,
        entries,
    }))
}

fn peer_index_table(mut c: Cursor<'_>) -> Result<RecordBody, RecordError> {
    let collector_bgp_id = c.ipv4("collector BGP ID")?;
    let name_len = c.u16("view name length")?;
    let view_name =
        String::from_utf8_lossy(c.bytes(usize::from(name_len), "view name")?).into_owned();
    let count = c.u16("peer count")?;
    let mut peers = Vec::with_capacity(usize::from(count).min(c.remaining() / 7));
    for _ in 0..count {
        let peer_type = c.u8("peer type")?;
        let bgp_id = c.ipv4("peer BGP ID")?;
        let afi = if peer_type & 0x01 != 0 {
            Afi::Ipv6
        } else {
            Afi::Ipv4
        };
        let ip = c.ip(afi, "peer address")?;
        let asn = c.asn(peer_type & 0x02 != 0, "peer AS")?;
        peers.push(PeerEntry { bgp_id, ip, asn });
    }
    c.finish()?;
    Ok(RecordBody::PeerIndexTable(PeerIndexTable {
        collector_bgp_id,
        view_name,
        peers,
    }))
}
