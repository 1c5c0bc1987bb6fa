//! IP prefixes as carried in NLRI (RFC 4271 section 4.3): small `Copy` values, `Ord` and `Hash`,
//! always normalised (host bits zero), so that the RIBs can key millions of them cheaply.

use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 prefix: address with host bits cleared and a length of 0..=32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Prefix {
    /// A prefix; `None` when `len > 32`. Host bits of `addr` are cleared.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        if len > 32 {
            return None;
        }
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        Some(Ipv4Prefix {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }

    /// From the address bits and a length already checked to be at most 32; clears host bits.
    #[inline]
    pub(crate) fn from_bits(bits: u32, len: u8) -> Self {
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len.min(32)))
        };
        Ipv4Prefix {
            addr: Ipv4Addr::from(bits & mask),
            len,
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route 0.0.0.0/0 (length zero).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `other` lies within this prefix.
    pub fn contains(&self, other: &Ipv4Prefix) -> bool {
        other.len >= self.len && Ipv4Prefix::new(other.addr, self.len) == Some(*self)
    }
}

/// An IPv6 prefix: address with host bits cleared and a length of 0..=128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

impl Ipv6Prefix {
    /// A prefix; `None` when `len > 128`. Host bits of `addr` are cleared.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        if len > 128 {
            return None;
        }
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Some(Ipv6Prefix {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        })
    }

    /// From the address bits and a length already checked to be at most 128; clears host bits.
    #[inline]
    pub(crate) fn from_bits(bits: u128, len: u8) -> Self {
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len.min(128)))
        };
        Ipv6Prefix {
            addr: Ipv6Addr::from(bits & mask),
            len,
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route ::/0 (length zero).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `other` lies within this prefix.
    pub fn contains(&self, other: &Ipv6Prefix) -> bool {
        other.len >= self.len && Ipv6Prefix::new(other.addr, self.len) == Some(*self)
    }
}

/// An IPv4 or IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prefix {
    /// IPv4.
    V4(Ipv4Prefix),
    /// IPv6.
    V6(Ipv6Prefix),
}

impl Prefix {
    /// A prefix from any IP address; `None` when `len` exceeds the address width.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        match addr {
            IpAddr::V4(a) => Ipv4Prefix::new(a, len).map(Prefix::V4),
            IpAddr::V6(a) => Ipv6Prefix::new(a, len).map(Prefix::V6),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        match self {
            Prefix::V4(p) => IpAddr::V4(p.addr()),
            Prefix::V6(p) => IpAddr::V6(p.addr()),
        }
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        match self {
            Prefix::V4(p) => p.len(),
            Prefix::V6(p) => p.len(),
        }
    }

    /// Whether this is a default route (length zero).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Ipv4Prefix> for Prefix {
    fn from(p: Ipv4Prefix) -> Self {
        Prefix::V4(p)
    }
}

impl From<Ipv6Prefix> for Prefix {
    fn from(p: Ipv6Prefix) -> Self {
        Prefix::V6(p)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(p) => p.fmt(f),
            Prefix::V6(p) => p.fmt(f),
        }
    }
}

/// Error parsing a prefix from text (the text as given). Its message says what is wrong:
/// no `/LENGTH`, an address that is not one, or a length beyond the family's maximum (32
/// for IPv4, 128 for IPv6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix {0:?}: {reason}", reason = self.reason())]
pub struct PrefixParseError(pub String);

impl PrefixParseError {
    /// What is wrong with the text, in words.
    fn reason(&self) -> String {
        let s = self.0.trim();
        let Some((a, l)) = s.split_once('/') else {
            return "expected ADDRESS/LENGTH (no /LENGTH)".into();
        };
        let (family, max) = match a.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => ("IPv4", 32),
            Ok(IpAddr::V6(_)) => ("IPv6", 128),
            Err(_) => return format!("{a:?} is not an IPv4 or IPv6 address"),
        };
        match l.parse::<u16>() {
            Ok(len) if len > max => {
                format!("the length /{len} is out of range: an {family} prefix is at most /{max}")
            }
            _ => format!("the length {l:?} is not a number from 0 to {max}"),
        }
    }
}

impl std::str::FromStr for Ipv4Prefix {
    type Err = PrefixParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PrefixParseError(s.to_string());
        let (a, l) = s.split_once('/').ok_or_else(err)?;
        Ipv4Prefix::new(a.parse().map_err(|_| err())?, l.parse().map_err(|_| err())?)
            .ok_or_else(err)
    }
}

impl std::str::FromStr for Ipv6Prefix {
    type Err = PrefixParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PrefixParseError(s.to_string());
        let (a, l) = s.split_once('/').ok_or_else(err)?;
        Ipv6Prefix::new(a.parse().map_err(|_| err())?, l.parse().map_err(|_| err())?)
            .ok_or_else(err)
    }
}

impl std::str::FromStr for Prefix {
    type Err = PrefixParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            s.parse().map(Prefix::V6)
        } else {
            s.parse().map(Prefix::V4)
        }
    }
}

macro_rules! serialize_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_display!(Ipv4Prefix, Ipv6Prefix, Prefix);

/// Error of [`Prefix::parse_exact`]: the text is no prefix, or it has host bits set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExactPrefixError {
    /// Not `ADDRESS/LENGTH` with a length that fits the address.
    #[error(transparent)]
    Syntax(#[from] PrefixParseError),
    /// Bits beyond the prefix length are set (`203.0.113.1/24`): a typo or a host address,
    /// refused rather than silently masked.
    #[error("{given:?} has host bits set beyond /{len}: did you mean {network}?", len = network.len())]
    HostBits {
        /// The text as given.
        given: String,
        /// The prefix with the host bits cleared.
        network: Prefix,
    },
}

impl Prefix {
    /// Parses `ADDRESS/LENGTH` as an operator wrote it: unlike [`str::parse`] (which clears
    /// host bits, as NLRI decoding must), refuses an address with bits set beyond the
    /// length, so `10.0.0.1/8` is an error naming `10.0.0.0/8` instead of a silent change.
    ///
    /// # Errors
    /// [`ExactPrefixError::Syntax`] when the text is no prefix, [`ExactPrefixError::HostBits`]
    /// when host bits are set.
    pub fn parse_exact(s: &str) -> Result<Prefix, ExactPrefixError> {
        let network: Prefix = s.parse()?;
        let given: IpAddr = s
            .split_once('/')
            .and_then(|(a, _)| a.parse().ok())
            .ok_or_else(|| PrefixParseError(s.to_string()))?;
        if given != network.addr() {
            return Err(ExactPrefixError::HostBits {
                given: s.to_string(),
                network,
            });
        }
        Ok(network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_error_says_what_is_wrong() {
        let err = |s: &str| s.parse::<Prefix>().map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            err("198.51.100.0/33"),
            Err(
                "invalid prefix \"198.51.100.0/33\": the length /33 is out of range: an IPv4 \
                 prefix is at most /32"
                    .into()
            )
        );
        assert_eq!(
            err("2001:db8::/129"),
            Err(
                "invalid prefix \"2001:db8::/129\": the length /129 is out of range: an IPv6 \
                 prefix is at most /128"
                    .into()
            )
        );
        assert_eq!(
            err("198.51.100.0"),
            Err("invalid prefix \"198.51.100.0\": expected ADDRESS/LENGTH (no /LENGTH)".into())
        );
        assert_eq!(
            err("198.51.100.300/24"),
            Err(
                "invalid prefix \"198.51.100.300/24\": \"198.51.100.300\" is not an IPv4 or \
                 IPv6 address"
                    .into()
            )
        );
        assert_eq!(
            err("198.51.100.0/x"),
            Err(
                "invalid prefix \"198.51.100.0/x\": the length \"x\" is not a number from 0 \
                 to 32"
                    .into()
            )
        );
        assert_eq!(err("198.51.100.0/24"), Ok(()));
    }

    #[test]
    fn parse_exact_refuses_host_bits() {
        assert_eq!(
            Prefix::parse_exact("203.0.113.0/24").map(|p| p.to_string()),
            Ok("203.0.113.0/24".to_string())
        );
        assert_eq!(
            Prefix::parse_exact("2001:db8::/32").map(|p| p.to_string()),
            Ok("2001:db8::/32".to_string())
        );
        let e = Prefix::parse_exact("10.0.0.1/8").expect_err("host bits");
        assert_eq!(
            e.to_string(),
            "\"10.0.0.1/8\" has host bits set beyond /8: did you mean 10.0.0.0/8?"
        );
        assert!(matches!(
            Prefix::parse_exact("2001:db8::1/64"),
            Err(ExactPrefixError::HostBits { .. })
        ));
        assert!(matches!(
            Prefix::parse_exact("10.0.0.0/33"),
            Err(ExactPrefixError::Syntax(_))
        ));
        // The lenient parser still masks (NLRI and prefix filters).
        assert_eq!(
            "10.0.0.1/8".parse::<Prefix>().map(|p| p.to_string()),
            Ok("10.0.0.0/8".to_string())
        );
    }
}
