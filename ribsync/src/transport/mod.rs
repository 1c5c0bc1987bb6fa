//! The checkpoint protocol over gRPC (tonic, `proto/ribsync.proto`): one bidirectional
//! stream per standby, and thin tokio drivers that feed the sans-IO engines of
//! [`crate::checkpoint`] and the HA controller of [`crate::ha`].

mod convert;
mod primary;
mod standby;
mod tls;

use std::future::Future;
use std::time::Instant;

pub use convert::{
    handover_from_pb, handover_to_pb, hello_from_pb, hello_to_pb, to_primary_from_pb,
    to_primary_pb, to_standby_from_pb, to_standby_pb, Handover,
};
pub use primary::{serve_primary, PrimaryHandle, PrimaryServerConfig};
pub use standby::{run_standby, StandbyClientConfig, StandbyHandle, StandbyStatus};
pub use tls::{describe, TlsPaths};

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

/// Runs `task` on an OS thread of its own, named `name`, with a single-threaded tokio
/// runtime (I/O and timers) that ends when `task` does (tasks it spawned are dropped then).
///
/// The drivers and the replication's own I/O (gRPC connection, stream readers, heartbeat
/// senders) run this way, apart from the application's runtime and from each other: the
/// application takes its lock on its own workers and may hold it for seconds (ingesting a
/// full table, snapshotting a flow); a driver waiting for that lock must never stop the
/// heartbeats or the stamping of the other side's messages (issue 7, a busy node is not a
/// dead one).
///
/// # Errors
/// [`TransportError::Io`] when the runtime or the thread cannot be created.
pub(crate) fn spawn_thread<F>(name: &str, task: F) -> Result<(), TransportError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || runtime.block_on(task))?;
    Ok(())
}

/// A lock that is only ever held for a few instructions (never across application work),
/// recovered if a holder panicked.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// HTTP/2 flow-control windows of the checkpoint stream, in octets. A flow checkpoint of a
/// full table is tens of megabytes; with HTTP/2's default 64 KiB window it crosses in
/// hundreds of round trips, and every heartbeat queued behind it waits for all of them.
pub(crate) const WINDOW_BYTES: u32 = 32 << 20;

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
