//! Typed errors of the capture reader and the packet parser.

/// An error reading a capture file or parsing one captured frame.
///
/// File-level errors ([`CaptureError::NotACapture`], [`CaptureError::Truncated`],
/// [`CaptureError::Malformed`], [`CaptureError::Io`]) end the read; frame-level errors
/// ([`CaptureError::LinkHeader`], [`CaptureError::Ip`], [`CaptureError::Tcp`],
/// [`CaptureError::UnsupportedLinkType`]) concern one frame and the caller may go on with
/// the next one.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Reading the underlying file or stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The input starts with neither a pcap file header nor a pcapng section header block.
    #[error("not a pcap or pcapng capture")]
    NotACapture,
    /// The input ended in the middle of a record or block.
    #[error("capture truncated in the middle of a record")]
    Truncated,
    /// A record or block could not be parsed.
    #[error("malformed capture record after {offset} bytes: {reason}")]
    Malformed {
        /// Bytes of the capture consumed before the bad record.
        offset: u64,
        /// What the pcap parser reported.
        reason: String,
    },
    /// A pcapng packet block names an interface that no interface description block
    /// declared.
    #[error("pcapng packet refers to undeclared interface {0}")]
    UnknownInterface(u32),
    /// The link type of the capture is not one this parser understands.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(i32),
    /// The frame is too short for its link-layer header.
    #[error("malformed link-layer header: {0}")]
    LinkHeader(String),
    /// The IPv4/IPv6 header (or an extension header) is malformed.
    #[error("malformed IP header: {0}")]
    Ip(String),
    /// The TCP header is malformed (RFC 9293 section 3.1).
    #[error("malformed TCP header: {0}")]
    Tcp(String),
}
