//! Typed errors of the MRT reader.

/// Why one MRT record's body could not be parsed (RFC 6396). The record's framing was
/// intact, so reading goes on with the next record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The body ended inside a field.
    #[error("record body cut short in {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// An address family identifier other than 1 (IPv4) and 2 (IPv6).
    #[error("unknown address family {0}")]
    UnknownAfi(u16),
    /// A prefix length larger than the address family allows.
    #[error("prefix length {len} too long for the address family")]
    PrefixTooLong {
        /// The length found, in bits.
        len: u8,
    },
    /// Bytes were left after the last field.
    #[error("{0} unexpected bytes after the record's last field")]
    TrailingBytes(usize),
    /// The BGP UPDATE built from a RIB entry would exceed 65535 octets.
    #[error("RIB entry too large to fit in one BGP UPDATE")]
    EntryTooLarge,
}

/// An error reading an MRT file (RFC 6396).
#[derive(Debug, thiserror::Error)]
pub enum MrtError {
    /// Reading or decompressing the input failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The input does not start with an MRT record (after decompression).
    #[error("not an MRT file: {0}")]
    NotMrt(String),
    /// The input ended inside a record's header or body; nothing more can be read.
    #[error("MRT input truncated inside the record at byte {offset}")]
    Truncated {
        /// Offset of the record in the decompressed stream.
        offset: u64,
    },
    /// One record's body is malformed; the next record can still be read.
    #[error("malformed MRT record (type {mrt_type}, subtype {subtype}) at byte {offset}: {error}")]
    Record {
        /// Offset of the record in the decompressed stream.
        offset: u64,
        /// The record's type.
        mrt_type: u16,
        /// The record's subtype.
        subtype: u16,
        /// What was wrong.
        error: RecordError,
    },
}

impl MrtError {
    /// Whether reading can go on after this error (only [`MrtError::Record`] allows it).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, MrtError::Record { .. })
    }
}
