//! The rtnetlink socket, set up for batched requests.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

/// Receive buffer asked for (SO_RCVBUFFORCE, root only; else SO_RCVBUF up to
/// net.core.rmem_max). Acknowledgements of every request in flight must fit in it, or
/// the kernel drops them and reports ENOBUFS.
const RCVBUF: libc::c_int = 32 << 20;

/// A NETLINK_ROUTE socket bound in the namespace of the thread that opened it.
#[derive(Debug)]
pub(crate) struct NlSocket {
    sock: Socket,
}

impl NlSocket {
    /// Opens and binds the socket with NETLINK_CAP_ACK (errors do not echo the whole
    /// request), NETLINK_EXT_ACK off and NETLINK_GET_STRICT_CHK on (dump filtering).
    pub fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.set_cap_ack(true)?;
        // Strict checking only enables kernel-side dump filters; older kernels
        // refuse the option, which is harmless (we filter again ourselves).
        let _ = sock.set_netlink_get_strict_chk(true);
        let s = Self { sock };
        s.set_rcvbuf(RCVBUF);
        Ok(s)
    }

    fn set_rcvbuf(&self, size: libc::c_int) {
        let fd = self.sock.as_raw_fd();
        let val = &size as *const libc::c_int as *const libc::c_void;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: fd is a valid socket owned by self; val points to a live c_int of
        // the length given.
        let forced =
            unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, val, len) };
        if forced != 0 {
            // SAFETY: as above.
            unsafe {
                libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, val, len);
            }
        }
    }

    /// Joins a multicast group (RTNLGRP_*).
    pub fn add_membership(&self, group: u32) -> io::Result<()> {
        self.sock.add_membership(group)
    }

    /// Switches O_NONBLOCK.
    pub fn set_non_blocking(&self, on: bool) -> io::Result<()> {
        self.sock.set_non_blocking(on)
    }

    /// Sends one datagram (all requests in `buf`) to the kernel.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            match self.sock.send(buf, 0) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("netlink sent {n} of {} bytes", buf.len()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one datagram into `buf` (cleared first; capacity kept).
    pub fn recv(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        loop {
            match self.sock.recv(buf, 0) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Attaches a classic BPF filter (SO_ATTACH_FILTER).
    pub fn attach_filter(&self, prog: &[libc::sock_filter]) -> io::Result<()> {
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: fprog points to `prog`, alive for the duration of the call; the
        // kernel copies the program.
        let rc = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &fprog as *const libc::sock_fprog as *const libc::c_void,
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl AsRawFd for NlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
