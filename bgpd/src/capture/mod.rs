//! BGP sessions seen in captured traffic: the reassembled TCP byte streams of
//! [`ribsync::capture`] framed into BGP messages, each with the session context it must be
//! decoded with.
//!
//! The context of a stream follows the OPEN messages seen on its connection: once both
//! OPENs are seen, it is what they negotiated ([`SessionContext::negotiate`], RFC 5492:
//! 4-octet AS, ADD-PATH per AFI/SAFI and direction, extended message, iBGP); before that it
//! is the base context. [`ContextOverrides`] (the operator's flags) are applied on top of
//! either. After a gap or an invalid header the framer resynchronises on the next marker
//! (RFC 4271 section 4.1: 16 octets of ones).

mod framer;
mod overrides;
mod pcap;

pub use framer::{CapturedItem, SessionTracker};
pub use overrides::ContextOverrides;
pub use pcap::{decode_pcap, PcapStats, PortFilter};

#[cfg(test)]
mod tests;
