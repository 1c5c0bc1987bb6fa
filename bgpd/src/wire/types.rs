//! Small value types shared by every message: AS numbers, hold time, BGP identifier,
//! address family identifiers and ADD-PATH path identifiers.

use serde::Serialize;
use std::fmt;
use std::net::Ipv4Addr;

/// An autonomous system number; 4 octets (RFC 6793), 2-octet ASNs are the subset `0..=65535`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Asn(pub u32);

impl Asn {
    /// AS_TRANS (RFC 6793 section 9): stands in for a 4-octet ASN on a 2-octet session.
    pub const TRANS: Asn = Asn(23456);

    /// Whether the ASN fits the 2-octet encoding of RFC 4271.
    pub fn is_two_octet(self) -> bool {
        self.0 <= u32::from(u16::MAX)
    }

    /// The 2-octet wire form: the ASN itself, or AS_TRANS when it does not fit (RFC 6793 section 4.2.2).
    pub fn to_two_octet(self) -> u16 {
        u16::try_from(self.0).unwrap_or(23456)
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u32> for Asn {
    fn from(v: u32) -> Self {
        Asn(v)
    }
}

/// The Hold Time of an OPEN, in seconds (RFC 4271 section 4.2): zero (no keepalives) or at least 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct HoldTime(u16);

impl HoldTime {
    /// Hold time 0: no KEEPALIVE messages and no hold timer.
    pub const NONE: HoldTime = HoldTime(0);
    /// The RFC 4271 section 10 suggested default, 90 seconds.
    pub const DEFAULT: HoldTime = HoldTime(90);

    /// A hold time in seconds; `None` for 1 and 2, which RFC 4271 section 4.2 forbids
    /// ("MUST be either zero or at least three seconds").
    pub fn new(seconds: u16) -> Option<Self> {
        if seconds == 1 || seconds == 2 {
            None
        } else {
            Some(HoldTime(seconds))
        }
    }

    /// The hold time in seconds.
    pub fn seconds(self) -> u16 {
        self.0
    }
}

/// The BGP Identifier (RFC 4271 section 4.2, RFC 6286): a non-zero 4-octet value shown as an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RouterId(pub Ipv4Addr);

impl RouterId {
    /// The identifier as a 32-bit unsigned integer (RFC 6286 section 2.1 compares it so).
    pub fn to_u32(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Address Family Identifier (IANA "Address Family Numbers"; RFC 4760 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4 (1).
    pub const IPV4: Afi = Afi(1);
    /// IPv6 (2).
    pub const IPV6: Afi = Afi(2);
    /// BGP-LS (16388, RFC 9552).
    pub const LINK_STATE: Afi = Afi(16388);
}

/// Subsequent Address Family Identifier (IANA "SAFI Values"; RFC 4760 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast forwarding (1).
    pub const UNICAST: Safi = Safi(1);
    /// Multicast forwarding (2).
    pub const MULTICAST: Safi = Safi(2);
    /// MPLS-labeled VPN address (128, RFC 4364).
    pub const MPLS_VPN: Safi = Safi(128);
}

/// An AFI/SAFI pair: what MP_REACH_NLRI, capabilities and End-of-RIB are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AfiSafi {
    /// The address family.
    pub afi: Afi,
    /// The subsequent address family.
    pub safi: Safi,
}

impl AfiSafi {
    /// IPv4 unicast, the family of the plain UPDATE NLRI and Withdrawn Routes fields.
    pub const IPV4_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::IPV4,
        safi: Safi::UNICAST,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::IPV6,
        safi: Safi::UNICAST,
    };

    /// An AFI/SAFI from raw numbers.
    pub const fn new(afi: u16, safi: u8) -> Self {
        AfiSafi {
            afi: Afi(afi),
            safi: Safi(safi),
        }
    }

    /// Whether this codec decodes the NLRI of this family into prefixes (IPv4 and IPv6 unicast);
    /// other families are carried as opaque bytes.
    pub fn is_decoded(self) -> bool {
        self == Self::IPV4_UNICAST || self == Self::IPV6_UNICAST
    }
}

impl fmt::Display for AfiSafi {
    /// `ipv4/unicast`, `ipv6/unicast`, or `afi-N/safi-M` for the others.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let afi = match self.afi {
            Afi::IPV4 => "ipv4".to_string(),
            Afi::IPV6 => "ipv6".to_string(),
            Afi::LINK_STATE => "link-state".to_string(),
            Afi(n) => format!("afi-{n}"),
        };
        let safi = match self.safi {
            Safi::UNICAST => "unicast".to_string(),
            Safi::MULTICAST => "multicast".to_string(),
            Safi::MPLS_VPN => "mpls-vpn".to_string(),
            Safi(n) => format!("safi-{n}"),
        };
        write!(f, "{afi}/{safi}")
    }
}

impl std::str::FromStr for AfiSafi {
    type Err = String;
    /// Parses `ipv4/unicast`, `ipv6/unicast`, `ipv4/multicast`, ... or numeric `1/1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('/')
            .ok_or_else(|| format!("expected AFI/SAFI, got {s:?}"))?;
        let afi = match a {
            "ipv4" => 1,
            "ipv6" => 2,
            "link-state" => 16388,
            n => n.parse::<u16>().map_err(|_| format!("unknown AFI {a:?}"))?,
        };
        let safi = match b {
            "unicast" => 1,
            "multicast" => 2,
            "mpls-vpn" => 128,
            n => n.parse::<u8>().map_err(|_| format!("unknown SAFI {b:?}"))?,
        };
        Ok(AfiSafi::new(afi, safi))
    }
}

impl Serialize for AfiSafi {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An ADD-PATH Path Identifier (RFC 7911 section 3), meaningful only per peer and AFI/SAFI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PathId(pub u32);
