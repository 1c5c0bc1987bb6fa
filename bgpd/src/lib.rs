//! bgpd: the understudy BGP speaker library.
//!
//! - [`wire`]: the BGP-4 message codec (RFC 4271 section 4 and its extensions).
pub mod wire;
