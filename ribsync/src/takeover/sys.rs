//! Thin, typed wrappers over the Linux socket calls that TCP repair, address takeover and
//! the mirror tap need. Constants are from the kernel UAPI headers (`linux/tcp.h`,
//! `linux/in.h`, `linux/in6.h`, `linux/if_packet.h`, `linux/sockios.h`).

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd};

use libc::{c_int, c_void, socklen_t};

/// `TCP_REPAIR` values (`linux/tcp.h`).
pub(crate) const TCP_REPAIR_ON: c_int = 1;
pub(crate) const TCP_REPAIR_OFF: c_int = 0;
/// Leave repair mode without sending a window probe.
pub(crate) const TCP_REPAIR_OFF_NO_WP: c_int = -1;

/// `TCP_REPAIR_QUEUE` values.
pub(crate) const TCP_NO_QUEUE: c_int = 0;
pub(crate) const TCP_RECV_QUEUE: c_int = 1;
pub(crate) const TCP_SEND_QUEUE: c_int = 2;

/// TCP option kinds accepted by `TCP_REPAIR_OPTIONS` (RFC 9293, RFC 7323, RFC 2018).
pub(crate) const TCPOPT_MSS: u32 = 2;
pub(crate) const TCPOPT_WINDOW: u32 = 3;
pub(crate) const TCPOPT_SACK_PERM: u32 = 4;
pub(crate) const TCPOPT_TIMESTAMP: u32 = 8;

/// `tcpi_options` bits.
pub(crate) const TCPI_OPT_TIMESTAMPS: u8 = 1;
pub(crate) const TCPI_OPT_SACK: u8 = 2;
pub(crate) const TCPI_OPT_WSCALE: u8 = 4;
pub(crate) const TCPI_OPT_USEC_TS: u8 = 64;

/// `TCP_ESTABLISHED` in `tcpi_state`.
pub(crate) const TCP_STATE_ESTABLISHED: u8 = 1;

pub(crate) const IPV6_FREEBIND: c_int = 78;
pub(crate) const IPV6_TRANSPARENT: c_int = 75;

/// `SIOCINQ` (= `FIONREAD`): unread bytes in the receive queue.
pub(crate) const SIOCINQ: libc::c_ulong = 0x541B;
/// `SIOCOUTQ` (= `TIOCOUTQ`): bytes in the send queue not yet acknowledged.
pub(crate) const SIOCOUTQ: libc::c_ulong = 0x5411;
/// `SIOCOUTQNSD`: bytes in the send queue not yet sent.
pub(crate) const SIOCOUTQNSD: libc::c_ulong = 0x894B;
pub(crate) const SIOCGIFHWADDR: libc::c_ulong = 0x8927;

pub(crate) const SOL_PACKET: c_int = 263;
pub(crate) const PACKET_ADD_MEMBERSHIP: c_int = 1;
pub(crate) const PACKET_MR_PROMISC: u16 = 1;
pub(crate) const SO_ATTACH_FILTER: c_int = 26;
pub(crate) const SO_RCVBUFFORCE: c_int = 33;
pub(crate) const SO_TIMESTAMPNS: c_int = 35;
pub(crate) const SCM_TIMESTAMPNS: c_int = SO_TIMESTAMPNS;
pub(crate) const ETH_P_ALL: u16 = 0x0003;
pub(crate) const ETH_P_ARP: u16 = 0x0806;

/// `struct tcp_repair_opt` (`linux/tcp.h`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TcpRepairOpt {
    pub opt_code: u32,
    pub opt_val: u32,
}

/// `struct tcp_repair_window` (`linux/tcp.h`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawRepairWindow {
    pub snd_wl1: u32,
    pub snd_wnd: u32,
    pub max_window: u32,
    pub rcv_wnd: u32,
    pub rcv_wup: u32,
}

/// The leading, stable part of `struct tcp_info` (`linux/tcp.h`); the kernel copies
/// `min(optlen, sizeof)` bytes, so a prefix is fine.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawTcpInfo {
    pub state: u8,
    pub ca_state: u8,
    pub retransmits: u8,
    pub probes: u8,
    pub backoff: u8,
    pub options: u8,
    /// `tcpi_snd_wscale : 4` (low nibble), `tcpi_rcv_wscale : 4` (high nibble).
    pub wscales: u8,
    pub flags: u8,
    pub rto: u32,
    pub ato: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    pub retrans: u32,
    pub fackets: u32,
    pub last_data_sent: u32,
    pub last_ack_sent: u32,
    pub last_data_recv: u32,
    pub last_ack_recv: u32,
    pub pmtu: u32,
    pub rcv_ssthresh: u32,
    pub rtt: u32,
    pub rttvar: u32,
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    pub advmss: u32,
    pub reordering: u32,
}

/// `struct tcp_md5sig` (`linux/tcp.h`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RawTcpMd5Sig {
    pub addr: libc::sockaddr_storage,
    pub flags: u8,
    pub prefixlen: u8,
    pub keylen: u16,
    pub ifindex: c_int,
    pub key: [u8; 80],
}

/// Plain-old-data types that may be filled from zeroed memory by the kernel.
///
/// # Safety
/// Implementors must be `repr(C)` structs or integers for which every bit pattern
/// (in particular all zeroes) is a valid value.
pub(crate) unsafe trait Pod: Copy {}
// SAFETY: integers and repr(C) structs of integers/byte arrays: every bit pattern is valid.
unsafe impl Pod for c_int {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for TcpRepairOpt {}
// SAFETY: as above.
unsafe impl Pod for RawRepairWindow {}
// SAFETY: as above.
unsafe impl Pod for RawTcpInfo {}
// SAFETY: sockaddr_storage is a repr(C) byte/integer struct; as above.
unsafe impl Pod for RawTcpMd5Sig {}
// SAFETY: repr(C) struct of integers.
unsafe impl Pod for libc::packet_mreq {}
// SAFETY: array of integers (`struct icmp6_filter`).
unsafe impl Pod for [u32; 8] {}
// SAFETY: array of integers (`struct tpacket_stats`).
unsafe impl Pod for [u32; 2] {}

/// A zero-filled value of a [`Pod`] type.
pub(crate) fn zeroed<T: Pod>() -> T {
    // SAFETY: `Pod` guarantees that the all-zero bit pattern is a valid `T`.
    unsafe { MaybeUninit::<T>::zeroed().assume_init() }
}

/// `setsockopt(fd, level, name, &val, sizeof val)`.
pub(crate) fn setsockopt<T: Pod>(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    val: &T,
) -> io::Result<()> {
    setsockopt_bytes(
        fd,
        level,
        name,
        val as *const T as *const c_void,
        size_of::<T>(),
    )
}

/// `setsockopt` with a slice of [`Pod`] values (e.g. an array of `tcp_repair_opt`).
pub(crate) fn setsockopt_slice<T: Pod>(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    vals: &[T],
) -> io::Result<()> {
    setsockopt_bytes(
        fd,
        level,
        name,
        vals.as_ptr() as *const c_void,
        size_of_val(vals),
    )
}

fn setsockopt_bytes(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    ptr: *const c_void,
    len: usize,
) -> io::Result<()> {
    let len = socklen_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `fd` is a live descriptor for the borrow; `ptr` points to `len` readable bytes
    // owned by the caller for the duration of the call.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, ptr, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(fd, level, name)` into a zero-initialised `T`; returns the value and the
/// length the kernel wrote.
pub(crate) fn getsockopt<T: Pod>(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
) -> io::Result<(T, usize)> {
    let mut val: T = zeroed();
    let mut len = size_of::<T>() as socklen_t;
    // SAFETY: `val` is a valid, writable `T` of `len` bytes; the kernel writes at most `len`
    // bytes and any bit pattern is a valid `T` (`Pod`).
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &mut val as *mut T as *mut c_void,
            &mut len,
        )
    };
    if rc == 0 {
        Ok((val, len as usize))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `setsockopt` of an `int`.
pub(crate) fn set_int(fd: BorrowedFd<'_>, level: c_int, name: c_int, val: c_int) -> io::Result<()> {
    setsockopt(fd, level, name, &val)
}

/// `ioctl(fd, request, &int)` for the socket queue-size requests.
pub(crate) fn ioctl_int(fd: BorrowedFd<'_>, request: libc::c_ulong) -> io::Result<c_int> {
    let mut val: c_int = 0;
    // SAFETY: the requests used here (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD) write one `int`
    // to the pointer; `val` lives across the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, &mut val as *mut c_int) };
    if rc == 0 {
        Ok(val)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `recv(fd, buf, flags)`.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: c_int) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes for the duration of the call.
    let rc = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut c_void,
            buf.len(),
            flags,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// The interface index of `name` in the caller's network namespace.
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    let c =
        std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// The Ethernet address of interface `name` (`SIOCGIFHWADDR`), queried through `fd`
/// (any socket of the right network namespace).
pub(crate) fn if_hwaddr(fd: BorrowedFd<'_>, name: &str) -> io::Result<[u8; 6]> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `ifreq` is a repr(C) union of integers and byte arrays; all-zero is valid.
    let mut req: libc::ifreq = unsafe { MaybeUninit::zeroed().assume_init() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads `ifr_name` and writes `ifr_hwaddr` inside `req`, which
    // lives across the call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            SIOCGIFHWADDR as _,
            &mut req as *mut libc::ifreq,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFHWADDR the `ifr_hwaddr` member is the active one.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}
