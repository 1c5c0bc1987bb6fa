//! MRT routing information export format (RFC 6396, with the RFC 8050 ADD-PATH subtypes).
//!
//! [`MrtReader`] reads the records of an MRT file, gzip- or bzip2-compressed or not
//! (detected from the first bytes), and parses the bodies this project uses:
//!
//! | type | subtypes | parsed into |
//! |---|---|---|
//! | `BGP4MP` (16), `BGP4MP_ET` (17) | `MESSAGE`, `MESSAGE_AS4`, `*_LOCAL`, `*_ADDPATH` | [`Bgp4mpMessage`] |
//! | | `STATE_CHANGE`, `STATE_CHANGE_AS4` | [`Bgp4mpStateChange`] |
//! | | `ENTRY` (2, deprecated; written by OpenBGPD) | [`Bgp4mpEntry`] |
//! | `TABLE_DUMP` (12) | `AFI_IPv4`, `AFI_IPv6` | [`TableDumpEntry`] |
//! | `TABLE_DUMP_V2` (13) | `PEER_INDEX_TABLE` | [`PeerIndexTable`] |
//! | | `RIB_IPV4/IPV6_UNICAST/MULTICAST` and their `_ADDPATH` forms | [`RibRecord`] |
//! | | `RIB_GENERIC(_ADDPATH)` | [`RibGeneric`], kept opaque |
//! | `BGP` (5), `BGP4PLUS` (9), `BGP4PLUS_01` (10), deprecated | messages and state changes | [`Bgp4mpMessage`], [`Bgp4mpStateChange`] |
//!
//! Everything else is kept as [`RecordBody::Unsupported`]. A record whose body is
//! malformed is reported ([`MrtError::Record`]) and reading goes on with the next one;
//! only a broken record framing (input ending inside a record) ends the read.
//!
//! BGP messages come out as their raw bytes (19-octet header included) together with what
//! the record implies about the session ([`ImpliedContext`]): the AS4 subtypes mean 4-octet
//! AS numbers, the ADDPATH subtypes mean Path Identifiers in the NLRI. RIB entries come out
//! as their path attributes and prefix; [`RibRecord::update_message`] (and its
//! counterparts) wrap them into a BGP UPDATE so the wire codec can decode them.
//! [`MrtReader::update_messages`] walks the UPDATE messages of a dump with their contexts.

mod bgp4mp;
mod cursor;
mod error;
mod legacy;
mod reader;
mod synth;
mod table_dump;
mod table_dump_v2;
mod updates;

use std::net::IpAddr;

pub use bgp4mp::{Bgp4mpEntry, Bgp4mpMessage, Bgp4mpStateChange};
pub use error::{MrtError, RecordError};
pub use reader::{MrtReader, MrtRecord, MrtType, RecordBody, RecordHeader};
pub use synth::build_update;
pub use table_dump::TableDumpEntry;
pub use table_dump_v2::{PeerEntry, PeerIndexTable, RibEntry, RibGeneric, RibRecord};
pub use updates::UpdateMessages;

/// Address family identifier (IANA "Address Family Numbers"), as used in MRT records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Afi {
    /// AFI 1.
    Ipv4,
    /// AFI 2.
    Ipv6,
}

impl Afi {
    /// Maps an AFI code.
    ///
    /// # Errors
    /// [`RecordError::UnknownAfi`] for codes other than 1 and 2.
    pub fn from_code(code: u16) -> Result<Afi, RecordError> {
        match code {
            1 => Ok(Afi::Ipv4),
            2 => Ok(Afi::Ipv6),
            other => Err(RecordError::UnknownAfi(other)),
        }
    }

    /// The AFI code.
    pub fn code(self) -> u16 {
        match self {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
        }
    }

    /// Longest prefix of the family, in bits.
    pub fn max_prefix_len(self) -> u8 {
        match self {
            Afi::Ipv4 => 32,
            Afi::Ipv6 => 128,
        }
    }
}

/// Subsequent address family identifier 1: unicast (RFC 4760).
pub const SAFI_UNICAST: u8 = 1;
/// Subsequent address family identifier 2: multicast (RFC 4760).
pub const SAFI_MULTICAST: u8 = 2;

/// An IP prefix: address and length in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The address; bits beyond `len` are as found in the record.
    pub addr: IpAddr,
    /// Prefix length, in bits.
    pub len: u8,
}

impl Prefix {
    /// The address family of the prefix.
    pub fn afi(&self) -> Afi {
        match self.addr {
            IpAddr::V4(_) => Afi::Ipv4,
            IpAddr::V6(_) => Afi::Ipv6,
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What an MRT record says about the BGP session its message or route came from. MRT does
/// not record the negotiated capabilities; only these follow from the record itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpliedContext {
    /// AS numbers in AS_PATH and AGGREGATOR are 4 octets: the record is of an AS4 subtype
    /// (RFC 6396 section 4.4.3, "used when ... the AS numbers are 4 octets"), or a
    /// TABLE_DUMP_V2 RIB entry (RFC 6396 section 4.3.4: "the AS_PATH attribute MUST be
    /// encoded as 4-byte AS").
    pub four_octet_as: bool,
    /// The NLRI carry Path Identifiers (RFC 8050 section 3 and 4: the ADDPATH subtypes),
    /// for every AFI/SAFI.
    pub add_path: bool,
    /// The peer and the collector are in the same AS (peer AS equals local AS).
    pub ibgp: bool,
    /// The message is longer than 4096 octets, which only an Extended Message session
    /// (RFC 8654) carries.
    pub extended_message: bool,
}

impl ImpliedContext {
    /// The codec context for a message or RIB entry of this record: the record's
    /// implications, with IPv4 and IPv6 unicast and multicast negotiated and IPv6 next hops
    /// for IPv4 unicast allowed (RFC 8950), since a collector records what its sessions
    /// carried.
    pub fn session_context(&self) -> crate::wire::SessionContext {
        use crate::wire::{AfiSafi, SessionContext};
        let families = vec![
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::new(1, SAFI_MULTICAST),
            AfiSafi::new(2, SAFI_MULTICAST),
        ];
        SessionContext {
            four_octet_as: self.four_octet_as,
            add_path_receive: if self.add_path {
                families.clone()
            } else {
                Vec::new()
            },
            add_path_send: if self.add_path {
                families.clone()
            } else {
                Vec::new()
            },
            extended_message: self.extended_message,
            ibgp: self.ibgp,
            afi_safis: families,
            extended_next_hop: vec![AfiSafi::IPV4_UNICAST],
        }
    }
}
