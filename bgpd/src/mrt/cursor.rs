//! A bounds-checked reader over one record's body.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Afi, Prefix, RecordError};

#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if self.buf.len() < n {
            return Err(RecordError::Truncated { field });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.bytes(1, field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, RecordError> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, RecordError> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A 2-octet or 4-octet AS number.
    pub(crate) fn asn(
        &mut self,
        four_octet: bool,
        field: &'static str,
    ) -> Result<u32, RecordError> {
        if four_octet {
            self.u32(field)
        } else {
            Ok(u32::from(self.u16(field)?))
        }
    }

    pub(crate) fn ipv4(&mut self, field: &'static str) -> Result<Ipv4Addr, RecordError> {
        let b = self.bytes(4, field)?;
        Ok(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }

    pub(crate) fn ip(&mut self, afi: Afi, field: &'static str) -> Result<IpAddr, RecordError> {
        match afi {
            Afi::Ipv4 => Ok(IpAddr::V4(self.ipv4(field)?)),
            Afi::Ipv6 => {
                let b = self.bytes(16, field)?;
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                Ok(IpAddr::V6(Ipv6Addr::from(o)))
            }
        }
    }

    /// A prefix in the NLRI encoding (RFC 4271 section 4.3): length in bits, then the
    /// fewest octets that hold it.
    pub(crate) fn prefix(&mut self, afi: Afi, field: &'static str) -> Result<Prefix, RecordError> {
        let len = self.u8(field)?;
        self.prefix_bits(afi, len, field)
    }

    /// The address octets of a prefix of `len` bits.
    pub(crate) fn prefix_bits(
        &mut self,
        afi: Afi,
        len: u8,
        field: &'static str,
    ) -> Result<Prefix, RecordError> {
        let max = afi.max_prefix_len();
        if len > max {
            return Err(RecordError::PrefixTooLong { len });
        }
        let octets = usize::from(len).div_ceil(8);
        let b = self.bytes(octets, field)?;
        let addr = match afi {
            Afi::Ipv4 => {
                let mut o = [0u8; 4];
                o[..octets].copy_from_slice(b);
                IpAddr::V4(Ipv4Addr::from(o))
            }
            Afi::Ipv6 => {
                let mut o = [0u8; 16];
                o[..octets].copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(o))
            }
        };
        Ok(Prefix { addr, len })
    }

    pub(crate) fn afi(&mut self, field: &'static str) -> Result<Afi, RecordError> {
        Afi::from_code(self.u16(field)?)
    }

    pub(crate) fn finish(self) -> Result<(), RecordError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(RecordError::TrailingBytes(self.buf.len()))
        }
    }
}
