//! The checkpoint protocol over gRPC (tonic, `proto/ribsync.proto`): one bidirectional
//! stream per standby, and thin tokio drivers that feed the sans-IO engines of
//! [`crate::checkpoint`] and the HA controller of [`crate::ha`].

mod convert;
mod primary;
mod standby;
mod tls;

use std::time::Instant;

pub use convert::{
    hello_from_pb, hello_to_pb, to_primary_from_pb, to_primary_pb, to_standby_from_pb,
    to_standby_pb,
};
pub use primary::{serve_primary, PrimaryHandle, PrimaryServerConfig};
pub use standby::{run_standby, StandbyClientConfig, StandbyHandle, StandbyStatus};
pub use tls::TlsPaths;

/// The largest message either side accepts, in octets: a flow checkpoint carries the
/// application's whole state for that flow (for bgpd a full routing table, tens of
/// megabytes), far above gRPC's default limit of 4 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A message lacks a field or has one out of range.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// gRPC transport failure (connect, TLS, serve).
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The remote side answered with an error status.
    #[error("gRPC status: {0}")]
    Status(#[from] tonic::Status),
    /// Reading TLS material or binding a socket.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// TLS was configured but this build has no TLS support (feature `mtls`).
    #[error("TLS requested but ribsync was built without the `mtls` feature")]
    NoTls,
    /// The driver task is gone.
    #[error("driver stopped")]
    DriverGone,
}

/// Milliseconds since a fixed start: the drivers' plain-value clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// Milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The instant of `ms` on this clock.
    pub fn instant(&self, ms: u64) -> Instant {
        self.start + std::time::Duration::from_millis(ms)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
