//! The AF_PACKET socket of the mirror tap: bound to one interface, promiscuous, with the
//! BGP filter attached in the kernel before it receives anything; frames read with
//! `recvmsg` into a buffer large enough for GSO super-frames, with kernel timestamps.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::bpf::{self, BpfInsn};
use super::frame::{Direction, TapFrame};
use super::ring::{Ring, RingSize};
use crate::takeover::sys;

/// Errors of the mirror tap.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// A system call failed. The OS error is part of the message and not also a
    /// [`std::error::Error::source`], so a printed chain (`{:#}`) names it once.
    #[error("{op}: {error}")]
    Sys {
        /// The step that failed.
        op: &'static str,
        /// The OS error.
        error: io::Error,
    },
    /// The address list does not fit a classic BPF program.
    #[error("too many addresses for one BPF filter")]
    FilterTooLarge,
}

fn sys_err(op: &'static str) -> impl FnOnce(io::Error) -> TapError {
    move |error| TapError::Sys { op, error }
}

fn last(op: &'static str) -> TapError {
    TapError::Sys {
        op,
        error: io::Error::last_os_error(),
    }
}

/// `PACKET_OUTGOING` in `sll_pkttype`.
const PACKET_OUTGOING: u8 = 4;
/// Receive buffer, bytes (bursts of a full-table transfer must not overflow it).
const RCVBUF: libc::c_int = 32 << 20;
/// Largest frame read: a 64 KiB GSO super-frame and headers, with room to spare.
const FRAME_BUF: usize = bpf::SNAPLEN as usize;

/// `PACKET_STATISTICS` (`linux/if_packet.h`).
const PACKET_STATISTICS: libc::c_int = 6;

/// Counters of the tap socket since the previous [`MirrorTap::stats`] call (the kernel
/// resets them on every read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TapStats {
    /// Frames that passed the filter (delivered or dropped).
    pub frames: u32,
    /// Frames that passed the filter but were dropped: the receive buffer was full. Any
    /// drop on the mirror is a gap the standby must have filled by the primary.
    pub drops: u32,
}

/// Configuration of a [`MirrorTap`].
#[derive(Debug, Clone)]
pub struct TapConfig {
    /// Interface to read (the mirror port).
    pub interface: String,
    /// Session addresses to keep (either end); empty = every TCP port 179 frame.
    pub addresses: Vec<IpAddr>,
    /// Put the interface in promiscuous mode (needed on a mirror port).
    pub promiscuous: bool,
    /// Read through a TPACKET_V3 memory-mapped ring of this size (no system call per
    /// frame); `None` reads with `recvmsg`, one frame per call.
    pub ring: Option<RingSize>,
}

impl TapConfig {
    /// A promiscuous tap on `interface` for the BGP sessions of `addresses`, read through
    /// a ring of the default size.
    pub fn new(interface: &str, addresses: Vec<IpAddr>) -> TapConfig {
        TapConfig {
            interface: interface.to_string(),
            addresses,
            promiscuous: true,
            ring: Some(RingSize::default()),
        }
    }
}

/// A mirror tap: yields the Ethernet frames of BGP sessions seen on one interface.
#[derive(Debug)]
pub struct MirrorTap {
    // Field order: the ring is unmapped before the socket closes.
    ring: Option<Ring>,
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl MirrorTap {
    /// Opens the tap in the caller's network namespace. Needs CAP_NET_RAW.
    ///
    /// The socket is created with protocol 0 (it receives nothing), the filter is
    /// attached, and only then is it bound to the interface for all protocols, so no
    /// unfiltered frame is ever queued.
    ///
    /// # Errors
    /// [`TapError::Sys`] naming the failed call, [`TapError::FilterTooLarge`].
    pub fn open(config: &TapConfig) -> Result<Self, TapError> {
        let prog = bpf::bgp_filter(&config.addresses).ok_or(TapError::FilterTooLarge)?;
        let ifindex = sys::if_index(&config.interface).map_err(sys_err("if_nametoindex"))?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(last("socket(AF_PACKET)"));
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        attach_filter(fd.as_fd(), &prog)?;
        // Larger than rmem_max needs CAP_NET_ADMIN; fall back to the capped size.
        if sys::set_int(fd.as_fd(), libc::SOL_SOCKET, sys::SO_RCVBUFFORCE, RCVBUF).is_err() {
            sys::set_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF)
                .map_err(sys_err("setsockopt(SO_RCVBUF)"))?;
        }
        sys::set_int(fd.as_fd(), libc::SOL_SOCKET, sys::SO_TIMESTAMPNS, 1)
            .map_err(sys_err("setsockopt(SO_TIMESTAMPNS)"))?;
        let ring = match config.ring {
            Some(size) => Some(Ring::setup(fd.as_fd(), size).map_err(sys_err("TPACKET_V3 ring"))?),
            None => None,
        };

        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        ll.sll_family = libc::AF_PACKET as u16;
        ll.sll_protocol = sys::ETH_P_ALL.to_be();
        ll.sll_ifindex = ifindex as i32;
        // SAFETY: `ll` is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &ll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(last("bind(AF_PACKET)"));
        }
        if config.promiscuous {
            let mut mreq: libc::packet_mreq = sys::zeroed();
            mreq.mr_ifindex = ifindex as i32;
            mreq.mr_type = sys::PACKET_MR_PROMISC;
            sys::setsockopt(
                fd.as_fd(),
                sys::SOL_PACKET,
                sys::PACKET_ADD_MEMBERSHIP,
                &mreq,
            )
            .map_err(sys_err("setsockopt(PACKET_ADD_MEMBERSHIP)"))?;
        }
        let buf = if ring.is_some() {
            Vec::new()
        } else {
            vec![0u8; FRAME_BUF]
        };
        Ok(MirrorTap { ring, fd, buf })
    }

    /// The socket (for polling from an event loop).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Frames and drops since the previous call (`PACKET_STATISTICS`).
    ///
    /// # Errors
    /// [`TapError::Sys`] if the kernel refuses the query.
    pub fn stats(&self) -> Result<TapStats, TapError> {
        let (v, _) =
            sys::getsockopt::<[u32; 2]>(self.fd.as_fd(), sys::SOL_PACKET, PACKET_STATISTICS)
                .map_err(sys_err("getsockopt(PACKET_STATISTICS)"))?;
        Ok(TapStats {
            frames: v[0],
            drops: v[1],
        })
    }

    /// Waits up to `timeout` for the next frame; `Ok(None)` on time-out.
    ///
    /// # Errors
    /// [`TapError::Sys`] if poll or recvmsg fails.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<TapFrame>, TapError> {
        if let Some(ring) = &mut self.ring {
            if ring.ready() {
                return Ok(ring.next());
            }
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(TapError::Sys {
                op: "poll",
                error: e,
            });
        }
        if rc == 0 {
            return Ok(None);
        }
        self.try_recv()
    }

    /// Reads the next frame if one is queued; `Ok(None)` otherwise.
    ///
    /// # Errors
    /// [`TapError::Sys`] if recvmsg fails.
    pub fn try_recv(&mut self) -> Result<Option<TapFrame>, TapError> {
        if let Some(ring) = &mut self.ring {
            return Ok(ring.next());
        }
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: self.buf.len(),
        };
        let mut cmsg = [0u64; 16];
        // SAFETY: all-zero is a valid msghdr; the pointers are filled below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = &mut from as *mut libc::sockaddr_ll as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cmsg) as _;
        // SAFETY: `msg` points to live buffers (`from`, `iov` -> `self.buf`, `cmsg`) whose
        // sizes are given; MSG_TRUNC makes the kernel return the real frame length.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(TapError::Sys {
                op: "recvmsg",
                error: e,
            });
        }
        let wire_len = n as usize;
        let data = self.buf[..wire_len.min(self.buf.len())].to_vec();
        let timestamp = cmsg_timestamp(&msg)
            .unwrap_or_else(|| Duration::from_micros(crate::takeover::unix_now_us()));
        let direction = if from.sll_pkttype == PACKET_OUTGOING {
            Direction::Outgoing
        } else {
            Direction::Incoming
        };
        Ok(Some(TapFrame {
            timestamp,
            data,
            wire_len,
            direction,
        }))
    }
}

/// `SO_ATTACH_FILTER` with a classic BPF program.
fn attach_filter(fd: BorrowedFd<'_>, prog: &[BpfInsn]) -> Result<(), TapError> {
    let mut insns: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(insns.len()).map_err(|_| TapError::FilterTooLarge)?,
        filter: insns.as_mut_ptr(),
    };
    // SAFETY: `fprog` points to `insns`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            sys::SO_ATTACH_FILTER,
            &fprog as *const libc::sock_fprog as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(last("setsockopt(SO_ATTACH_FILTER)"));
    }
    Ok(())
}

/// The `SCM_TIMESTAMPNS` control message of a received frame.
fn cmsg_timestamp(msg: &libc::msghdr) -> Option<Duration> {
    // SAFETY: `msg` was filled by a successful recvmsg; CMSG_FIRSTHDR/NXTHDR walk within
    // `msg_control` and `msg_controllen`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == sys::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                return Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error and its sources joined as anyhow's `{:#}` prints them.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut next = e.source();
        while let Some(s) = next {
            out.push_str(&format!(": {s}"));
            next = s.source();
        }
        out
    }

    #[test]
    fn a_system_call_error_names_the_os_error_once() {
        let e = sys_err("if_nametoindex")(io::Error::from_raw_os_error(libc::ENODEV));
        assert_eq!(
            chain(&e),
            format!(
                "if_nametoindex: {}",
                io::Error::from_raw_os_error(libc::ENODEV)
            )
        );
        assert!(chain(&e).ends_with("No such device (os error 19)"));
        assert_eq!(chain(&e).matches("os error").count(), 1);
    }
}
