//! ribsync: understudy's replication engine (DESIGN.md section 3 and 4).
//!
//! Mirror tap and TCP stream reassembly, the checkpoint protocol, failure detection and
//! TCP/address takeover, generic over the replicated application.

pub mod capture;

#[cfg(target_os = "linux")]
pub mod checkpoint;

pub mod ha;

#[cfg(target_os = "linux")]
pub mod transport;

#[cfg(target_os = "linux")]
pub mod takeover;

#[cfg(target_os = "linux")]
pub mod tap;
