//! IP prefixes as the kernel keys its routes (destination address and length).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A route destination: an address with its host bits cleared, and a prefix length
/// (0..=32 for IPv4, 0..=128 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The length exceeds the address width (32 or 128).
    #[error("prefix length {len} too long for {addr}")]
    LengthTooLong {
        /// The address given.
        addr: IpAddr,
        /// The length given.
        len: u8,
    },
    /// The text is not `address/length`.
    #[error("not a prefix: {0:?}")]
    Syntax(String),
}

impl Prefix {
    /// Builds a prefix, clearing the host bits of `addr`.
    ///
    /// Errors: [`PrefixError::LengthTooLong`] when `len` exceeds 32 (IPv4) or 128 (IPv6).
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        let addr = match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return Err(PrefixError::LengthTooLong { addr, len });
                }
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return Err(PrefixError::LengthTooLong { addr, len });
                }
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Ok(Self { addr, len })
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn length(&self) -> u8 {
        self.len
    }

    /// True for the zero-length (default) prefix.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// True for an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// An IPv4 prefix as address and length (8 octets instead of 18), for compact maps.
    pub(crate) fn v4_key(&self) -> Option<(u32, u8)> {
        match self.addr {
            IpAddr::V4(a) => Some((u32::from(a), self.len)),
            IpAddr::V6(_) => None,
        }
    }

    /// The prefix [`Prefix::v4_key`] gave.
    pub(crate) fn from_v4_key((addr, len): (u32, u8)) -> Self {
        Self {
            addr: IpAddr::V4(Ipv4Addr::from(addr)),
            len,
        }
    }
}

impl std::hash::Hash for Prefix {
    /// One or two words per prefix (the maps of a full table hash a million of them).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.addr {
            IpAddr::V4(a) => state.write_u64((u64::from(u32::from(a)) << 8) | u64::from(self.len)),
            IpAddr::V6(a) => {
                state.write_u128(u128::from(a));
                state.write_u8(self.len);
            }
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Parses `address/length`; host bits are cleared.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| PrefixError::Syntax(s.to_string()))?;
        let addr: IpAddr = a.parse().map_err(|_| PrefixError::Syntax(s.to_string()))?;
        let len: u8 = l.parse().map_err(|_| PrefixError::Syntax(s.to_string()))?;
        Self::new(addr, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_cleared() {
        let p: Prefix = "198.51.100.77/24".parse().expect("valid");
        assert_eq!(p.to_string(), "198.51.100.0/24");
        let p: Prefix = "2001:db8:1:2::5/48".parse().expect("valid");
        assert_eq!(p.to_string(), "2001:db8:1::/48");
        let p: Prefix = "192.0.2.9/0".parse().expect("valid");
        assert_eq!(p.to_string(), "0.0.0.0/0");
        assert!(p.is_default());
    }

    #[test]
    fn length_checked() {
        assert!("192.0.2.0/33".parse::<Prefix>().is_err());
        assert!("2001:db8::/129".parse::<Prefix>().is_err());
        assert!("2001:db8::/128".parse::<Prefix>().is_ok());
        assert!("2001:db8::".parse::<Prefix>().is_err());
    }
}
