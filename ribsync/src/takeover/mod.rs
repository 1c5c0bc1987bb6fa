//! TCP and address takeover (DESIGN.md section 4; notes/tcp-takeover.md).
//!
//! The live TCP session moves from the primary to a standby with the same 4-tuple and
//! sequence numbers, and the neighbour notices nothing:
//!
//! 1. On the primary, [`peek_live_socket`] reads a [`TcpRepairState`] from the live socket
//!    without emitting a packet; it travels in the checkpoint.
//! 2. On the standby, ahead of time: [`Announcer::open`] and [`AddressControl::open`]
//!    (opening an AF_PACKET socket costs ~10 ms).
//! 3. At takeover, for many sessions at once: [`take_over`] (the steps below in the
//!    order that minimises the time to every session's first segment). Step by step:
//!    [`rebuild_socket`] (repair mode, nothing sent; overrides carry what the
//!    mirror saw since the checkpoint), then [`AddressControl::add_address`] and
//!    [`AddressControl::set_neighbour`], [`Announcer::gratuitous_arp`] or
//!    [`Announcer::unsolicited_na`], then [`RepairedSocket::go_live`], which leaves repair
//!    mode and resends the unacknowledged bytes; then the application sends its KEEPALIVE.
//!
//! Linux only; needs CAP_NET_ADMIN and CAP_NET_RAW.

mod address;
mod announce;
mod error;
mod peek;
mod plan;
mod rebuild;
mod state;
pub(crate) mod sys;

pub use address::AddressControl;
pub use announce::Announcer;
pub use error::TakeoverError;
pub use peek::peek_live_socket;
pub use plan::{take_over, AddressPlan, SessionPlan, TakeoverOutcome, TakeoverTimings};
pub use rebuild::{close_silently, rebuild_socket, set_md5_key, RebuildOverrides, RepairedSocket};
pub use state::{
    unix_now_us, MssState, RepairWindow, SeqNum, TcpRepairState, TimestampState, TsClock,
    WindowScale,
};

/// The interface index of `name` in the caller's network namespace.
///
/// # Errors
/// [`TakeoverError::Sys`] when there is no such interface.
pub fn interface_index(name: &str) -> Result<u32, TakeoverError> {
    sys::if_index(name).map_err(TakeoverError::sys("if_nametoindex"))
}
