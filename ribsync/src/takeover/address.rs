//! Moving the session address: the address added to an interface (IPv6 without duplicate
//! address detection) and the neighbour's link-layer address installed, over rtnetlink.
//!
//! Two fixed-shape requests are all that is needed here, so they are encoded directly
//! (`linux/rtnetlink.h`, `linux/if_addr.h`, `linux/neighbour.h`; RFC 3549 describes the
//! framing); the socket is opened once, ahead of the takeover.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::error::TakeoverError;

const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWNEIGH: u16 = 28;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
/// `NUD_STALE`: used at once, then confirmed by the kernel with a unicast probe.
const NUD_STALE: u16 = 0x04;

/// An rtnetlink socket for the takeover's address and neighbour changes.
#[derive(Debug)]
pub struct AddressControl {
    fd: OwnedFd,
    seq: u32,
}

impl AddressControl {
    /// Opens an rtnetlink socket in the caller's network namespace.
    ///
    /// # Errors
    /// [`TakeoverError::Sys`] if the socket cannot be created.
    pub fn open() -> Result<Self, TakeoverError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(TakeoverError::Sys {
                op: "socket(AF_NETLINK)",
                error: io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(AddressControl { fd, seq: 1 })
    }

    /// Adds `addr/prefix_len` to interface `ifindex` (IPv6 with `IFA_F_NODAD`, usable at
    /// once). An address already present is not an error.
    ///
    /// # Errors
    /// [`TakeoverError::Netlink`] with the kernel's error.
    pub fn add_address(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), TakeoverError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = encode_address(
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            self.seq,
            ifindex,
            addr,
            prefix_len,
        );
        match self.request(&msg) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map_err(|error| TakeoverError::Netlink {
                op: "RTM_NEWADDR",
                error,
            }),
        }
    }

    /// Removes `addr/prefix_len` from interface `ifindex`: a primary handing over in a
    /// planned switchover (or being fenced) drops the session address first, so segments
    /// for it are no longer delivered (and never answered with RST) once its sockets are
    /// closed. An address already absent is not an error.
    ///
    /// # Errors
    /// [`TakeoverError::Netlink`] with the kernel's error.
    pub fn del_address(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), TakeoverError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = encode_address(
            RTM_DELADDR,
            NLM_F_REQUEST | NLM_F_ACK,
            self.seq,
            ifindex,
            addr,
            prefix_len,
        );
        match self.request(&msg) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            r => r.map_err(|error| TakeoverError::Netlink {
                op: "RTM_DELADDR",
                error,
            }),
        }
    }

    /// Installs (or replaces) the neighbour entry `addr -> mac` on `ifindex` in state
    /// STALE, so the first segment goes out without an ARP/ND round trip.
    ///
    /// # Errors
    /// [`TakeoverError::Netlink`] with the kernel's error.
    pub fn set_neighbour(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        mac: [u8; 6],
    ) -> Result<(), TakeoverError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = encode_new_neighbour(self.seq, ifindex, addr, mac);
        self.request(&msg).map_err(|error| TakeoverError::Netlink {
            op: "RTM_NEWNEIGH",
            error,
        })
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&mut self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: all-zero is a valid sockaddr_nl; pid 0 = the kernel.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `msg` is readable for its length; `kernel` is a valid sockaddr_nl of the
        // given size.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
                &kernel as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let seq = self.seq;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = super::sys::recv(self.fd.as_fd(), &mut buf, 0)?;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let mseq =
                    u32::from_ne_bytes([buf[off + 8], buf[off + 9], buf[off + 10], buf[off + 11]]);
                if len < 16 || off + len > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                if ty == NLMSG_ERROR && mseq == seq && len >= 20 {
                    let errno = i32::from_ne_bytes([
                        buf[off + 16],
                        buf[off + 17],
                        buf[off + 18],
                        buf[off + 19],
                    ]);
                    return if errno == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-errno))
                    };
                }
                off += align4(len);
            }
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn header(buf: &mut Vec<u8>, ty: u16, flags: u16, seq: u32) {
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by `finish`
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills ours
}

fn attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

fn finish(mut buf: Vec<u8>) -> Vec<u8> {
    let len = buf.len() as u32;
    buf[..4].copy_from_slice(&len.to_ne_bytes());
    buf
}

fn ip_bytes(addr: IpAddr) -> (u8, Vec<u8>) {
    match addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    }
}

/// `RTM_NEWADDR` / `RTM_DELADDR` with `IFA_LOCAL`, `IFA_ADDRESS` and `IFA_FLAGS`.
fn encode_address(
    ty: u16,
    flags: u16,
    seq: u32,
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
) -> Vec<u8> {
    let (family, bytes) = ip_bytes(addr);
    let mut buf = Vec::with_capacity(64);
    header(&mut buf, ty, flags, seq);
    // struct ifaddrmsg
    buf.push(family);
    buf.push(prefix_len);
    let ifa_flags = if family == libc::AF_INET6 as u8 {
        IFA_F_NODAD | IFA_F_PERMANENT
    } else {
        IFA_F_PERMANENT
    };
    buf.push(ifa_flags as u8);
    buf.push(RT_SCOPE_UNIVERSE);
    buf.extend_from_slice(&ifindex.to_ne_bytes());
    attr(&mut buf, IFA_LOCAL, &bytes);
    attr(&mut buf, IFA_ADDRESS, &bytes);
    attr(&mut buf, IFA_FLAGS, &ifa_flags.to_ne_bytes());
    finish(buf)
}

/// `RTM_NEWNEIGH` with `NDA_DST` and `NDA_LLADDR`, state STALE.
fn encode_new_neighbour(seq: u32, ifindex: u32, addr: IpAddr, mac: [u8; 6]) -> Vec<u8> {
    let (family, bytes) = ip_bytes(addr);
    let mut buf = Vec::with_capacity(64);
    header(
        &mut buf,
        RTM_NEWNEIGH,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        seq,
    );
    // struct ndmsg
    buf.push(family);
    buf.extend_from_slice(&[0, 0, 0]);
    buf.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    buf.extend_from_slice(&NUD_STALE.to_ne_bytes());
    buf.push(0); // ndm_flags
    buf.push(0); // ndm_type
    attr(&mut buf, NDA_DST, &bytes);
    attr(&mut buf, NDA_LLADDR, &mac);
    finish(buf)
}

#[cfg(all(test, target_endian = "little"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn new_address_v4_golden() {
        let m = encode_address(RTM_NEWADDR, 0x505, 7, 3, "192.0.2.2".parse().unwrap(), 24);
        let want: Vec<u8> = vec![
            48, 0, 0, 0, 20, 0, 0x05, 0x05, 7, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr
            2, 24, 0x80, 0, 3, 0, 0, 0, // ifaddrmsg
            8, 0, 2, 0, 192, 0, 2, 2, // IFA_LOCAL
            8, 0, 1, 0, 192, 0, 2, 2, // IFA_ADDRESS
            8, 0, 8, 0, 0x80, 0, 0, 0, // IFA_FLAGS
        ];
        assert_eq!(m, want);
    }

    #[test]
    fn new_address_v6_is_nodad() {
        let m = encode_address(RTM_NEWADDR, 0x505, 1, 9, "2001:db8::2".parse().unwrap(), 64);
        assert_eq!(m.len(), 16 + 8 + 20 + 20 + 8);
        assert_eq!(m[16], libc::AF_INET6 as u8);
        assert_eq!(m[18], 0x82);
        assert_eq!(&m[m.len() - 4..], &[0x82, 0, 0, 0]);
    }

    #[test]
    fn new_neighbour_golden() {
        let m = encode_new_neighbour(2, 4, "192.0.2.1".parse().unwrap(), [2, 0, 0, 0, 0, 1]);
        let want: Vec<u8> = vec![
            48, 0, 0, 0, 28, 0, 0x05, 0x05, 2, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr
            2, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, // ndmsg
            8, 0, 1, 0, 192, 0, 2, 1, // NDA_DST
            10, 0, 2, 0, 2, 0, 0, 0, 0, 1, 0, 0, // NDA_LLADDR (padded)
        ];
        assert_eq!(m, want);
    }
}
