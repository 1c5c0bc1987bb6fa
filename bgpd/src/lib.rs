//! bgpd: the understudy BGP speaker library.
//!
//! - [`wire`]: the BGP-4 message codec (RFC 4271 section 4 and its extensions).
//! - [`mrt`]: the MRT reader (RFC 6396, RFC 8050).
//! - [`capture`]: BGP messages from captured TCP traffic (pcap files, mirror ports).
pub mod capture;
pub mod mrt;
pub mod wire;
