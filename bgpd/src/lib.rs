//! bgpd: the understudy BGP speaker library.
//!
//! - [`wire`]: the BGP-4 message codec (RFC 4271 section 4 and its extensions).
//! - [`mrt`]: the MRT reader (RFC 6396, RFC 8050).
//! - [`capture`]: BGP messages from captured TCP traffic (pcap files, mirror ports).
//! - [`time`]: instants on the replicated clock ([`time::Millis`]).
//! - [`config`]: the TOML configuration.
//! - [`rib`]: Adj-RIB-In, Loc-RIB (RFC 4271 section 9.1 decision process), Adj-RIB-Out.
//! - [`policy`]: import and export policies.
//! - [`session`]: the sans-IO per-neighbour session (RFC 4271 section 8 FSM).
//! - [`speaker`]: the speaker core (every session and the RIBs).
//! - [`replica`]: the speaker as `ribsync`'s replicated application (per-flow checkpoints).
//! - [`tablegen`]: a generated Internet-like IPv4 table as UPDATEs (benchmark input).
// The test harness shared with the integration tests (`tests/harness/messages.rs`) names
// this crate `bgpd`.
#[cfg(test)]
extern crate self as bgpd;

pub mod capture;
pub mod config;
pub mod mrt;
pub mod policy;
pub mod replica;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod tablegen;
pub mod time;
pub mod tls_text;
pub mod wire;
