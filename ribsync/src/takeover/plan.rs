//! The standby's takeover of many sessions at once, in the order that keeps the time from
//! failure to every session's first segment short (DESIGN.md section 4; issue 7 targets
//! 50 ms for 100 sessions): every socket rebuilt first (repair mode, nothing sent), then
//! each session address added once, the neighbours' link-layer addresses installed, one
//! announcement per address, and only then each socket leaves repair mode, resends its
//! unacknowledged bytes and its first message.

use std::io::Write;
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use super::address::AddressControl;
use super::announce::Announcer;
use super::error::TakeoverError;
use super::rebuild::{rebuild_socket, RebuildOverrides};
use super::state::TcpRepairState;

/// One session to take over.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    /// The TCP context from the checkpoint.
    pub state: TcpRepairState,
    /// What the mirror and the write-ahead add, and the MD5 key.
    pub overrides: RebuildOverrides,
    /// Bytes to send right after the unacknowledged ones (e.g. a BGP KEEPALIVE,
    /// RFC 4271 section 4.4), as early as possible.
    pub first_message: Vec<u8>,
}

/// One session address moving to this host.
#[derive(Debug, Clone)]
pub struct AddressPlan {
    /// Interface that receives the address (and sends the announcement).
    pub ifindex: u32,
    /// The session address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Neighbours reached through it and their Ethernet addresses (from the mirror), so
    /// the first segments need no ARP/ND round trip.
    pub neighbours: Vec<(IpAddr, [u8; 6])>,
}

/// Time since the start of [`take_over`] at which each phase completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TakeoverTimings {
    /// Every socket rebuilt in repair mode.
    pub rebuilt: Duration,
    /// Addresses and neighbour entries installed.
    pub addresses: Duration,
    /// Gratuitous ARP / unsolicited NA sent.
    pub announced: Duration,
    /// Every session live with its first message written.
    pub live: Duration,
}

/// What [`take_over`] produced: one live stream (or the error) per session, in the order
/// of the plans, and the phase timings.
#[derive(Debug)]
pub struct TakeoverOutcome {
    /// Per session, in plan order.
    pub sessions: Vec<Result<TcpStream, TakeoverError>>,
    /// Phase timings.
    pub timings: TakeoverTimings,
}

/// Takes over `sessions` and `addresses` with the pre-opened `control` and `announcers`
/// (one per interface; see [`Announcer::open`]). A session that cannot be rebuilt or
/// brought live fails alone, in its slot of the outcome.
///
/// # Errors
/// [`TakeoverError`] if an address, neighbour entry or announcement fails: no session
/// can be served without its address, so none is brought live (the rebuilt sockets
/// close silently, still in repair mode).
pub fn take_over(
    sessions: &[SessionPlan],
    addresses: &[AddressPlan],
    control: &mut AddressControl,
    announcers: &[Announcer],
) -> Result<TakeoverOutcome, TakeoverError> {
    let start = Instant::now();
    let mut timings = TakeoverTimings::default();
    let rebuilt: Vec<_> = sessions
        .iter()
        .map(|s| rebuild_socket(&s.state, &s.overrides))
        .collect();
    timings.rebuilt = start.elapsed();

    for a in addresses {
        control.add_address(a.ifindex, a.addr, a.prefix_len)?;
        for (ip, mac) in &a.neighbours {
            control.set_neighbour(a.ifindex, *ip, *mac)?;
        }
    }
    timings.addresses = start.elapsed();

    for a in addresses {
        let announcer = announcers.iter().find(|n| n.ifindex() == a.ifindex).ok_or(
            TakeoverError::InvalidState("no announcer opened for the address's interface"),
        )?;
        match a.addr {
            IpAddr::V4(v4) => announcer.gratuitous_arp(v4)?,
            IpAddr::V6(v6) => announcer.unsolicited_na(v6)?,
        }
    }
    timings.announced = start.elapsed();

    let sessions = rebuilt
        .into_iter()
        .zip(sessions)
        .map(|(r, plan)| {
            let mut stream = r?.go_live()?;
            if !plan.first_message.is_empty() {
                stream
                    .write_all(&plan.first_message)
                    .map_err(TakeoverError::sys("send(first message)"))?;
            }
            Ok(stream)
        })
        .collect();
    timings.live = start.elapsed();
    Ok(TakeoverOutcome { sessions, timings })
}
