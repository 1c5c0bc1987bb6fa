//! Route change notifications, to re-resolve next hops when the kernel's route to
//! them changes.
//!
//! The socket joins RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE,
//! RTNLGRP_IPV6_IFADDR and RTNLGRP_IPV6_ROUTE. A classic BPF filter drops, in the
//! kernel, the notifications about routes of our own protocol: those are the echo of
//! our own writes (a million of them during a full table load) and never serve to
//! resolve a next hop.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use crate::codec::{RTM_DELROUTE, RTM_NEWROUTE};
use crate::socket::NlSocket;

/// `RTNLGRP_LINK`.
const RTNLGRP_LINK: u32 = 1;
/// `RTNLGRP_IPV4_IFADDR`.
const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// `RTNLGRP_IPV4_ROUTE`.
const RTNLGRP_IPV4_ROUTE: u32 = 7;
/// `RTNLGRP_IPV6_IFADDR`.
const RTNLGRP_IPV6_IFADDR: u32 = 9;
/// `RTNLGRP_IPV6_ROUTE`.
const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// Offset of rtm_protocol in a route notification: nlmsghdr (16) + family, dst_len,
/// src_len, tos, table (5).
const RTM_PROTOCOL_OFFSET: u32 = 21;
/// Offset of the low byte of nlmsg_type (host order, little-endian).
const NLMSG_TYPE_LOW_OFFSET: u32 = 4;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter: accept everything except RTM_NEWROUTE / RTM_DELROUTE whose rtm_protocol
/// is `protocol`.
pub(crate) fn drop_own_routes_filter(protocol: u8) -> Vec<libc::sock_filter> {
    let ld_b = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    vec![
        stmt(ld_b, NLMSG_TYPE_LOW_OFFSET),        // 0: A = type (low byte)
        jump(jeq, u32::from(RTM_NEWROUTE), 1, 0), // 1: new route -> 3
        jump(jeq, u32::from(RTM_DELROUTE), 0, 2), // 2: del route -> 3, else -> 5
        stmt(ld_b, RTM_PROTOCOL_OFFSET),          // 3: A = rtm_protocol
        jump(jeq, u32::from(protocol), 1, 0),     // 4: ours -> 6, else -> 5
        stmt(ret, u32::MAX),                      // 5: accept
        stmt(ret, 0),                             // 6: drop
    ]
}

/// A subscription to route, address and link changes.
#[derive(Debug)]
pub(crate) struct RouteWatch {
    sock: NlSocket,
    buf: Vec<u8>,
}

impl RouteWatch {
    /// Subscribes (in the namespace of the calling thread). Non-blocking.
    pub fn open(own_protocol: u8) -> io::Result<Self> {
        let sock = NlSocket::open()?;
        if cfg!(target_endian = "little") {
            sock.attach_filter(&drop_own_routes_filter(own_protocol))?;
        }
        for g in [
            RTNLGRP_LINK,
            RTNLGRP_IPV4_IFADDR,
            RTNLGRP_IPV4_ROUTE,
            RTNLGRP_IPV6_IFADDR,
            RTNLGRP_IPV6_ROUTE,
        ] {
            sock.add_membership(g)?;
        }
        sock.set_non_blocking(true)?;
        Ok(Self {
            sock,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// Reads every pending notification; true when there was at least one (or some
    /// were lost to ENOBUFS, which means the same: something changed).
    pub fn drain(&mut self) -> io::Result<bool> {
        let mut changed = false;
        loop {
            match self.sock.recv(&mut self.buf) {
                Ok(_) => changed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(changed),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => changed = true,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsRawFd for RouteWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_jumps_land_on_returns() {
        let f = drop_own_routes_filter(186);
        assert_eq!(f.len(), 7);
        // jump targets are pc + 1 + offset
        assert_eq!(1 + 1 + usize::from(f[1].jt), 3);
        assert_eq!(2 + 1 + usize::from(f[2].jf), 5);
        assert_eq!(4 + 1 + usize::from(f[4].jt), 6);
        assert_eq!(f[4].k, 186);
        assert_eq!(f[5].k, u32::MAX);
        assert_eq!(f[6].k, 0);
    }
}
