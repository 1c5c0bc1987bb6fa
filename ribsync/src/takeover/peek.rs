//! Reading the TCP context out of a live, established socket without emitting a packet.
//!
//! `TCP_INFO` gives the negotiated options and window scales; a brief `TCP_REPAIR = 1`
//! exposes the queue sequence numbers, the queued bytes (`recv(MSG_PEEK)`), the
//! neighbour's MSS, the window state and the TSval clock; `TCP_REPAIR = -1` leaves
//! repair mode without the window probe that `TCP_REPAIR = 0` would send.
//!
//! The caller must not write to the socket during the peek: while repair mode is on
//! with the send queue selected, the kernel would account new data as sent without
//! transmitting it.

use std::os::fd::BorrowedFd;

use socket2::SockRef;

use super::error::TakeoverError;
use super::state::{
    unix_now_us, MssState, RepairWindow, SeqNum, TcpRepairState, TimestampState, TsClock,
    WindowScale,
};
use super::sys::{self, RawRepairWindow, RawTcpInfo};

/// How many times the queues are re-read when traffic moves them during the peek.
const PEEK_ATTEMPTS: u32 = 8;

/// Reads the [`TcpRepairState`] of an established TCP socket (IPv4 or IPv6).
///
/// Emits no packet. Needs CAP_NET_ADMIN (for `TCP_REPAIR`). `md5_key_ref` is left
/// `None`: the kernel does not reveal keys; the caller fills it from its configuration.
///
/// # Errors
/// [`TakeoverError::NotEstablished`] when the socket is not ESTABLISHED,
/// [`TakeoverError::Unstable`] when traffic kept moving the queues, and
/// [`TakeoverError::Sys`] for a failed call (`EPERM`: no CAP_NET_ADMIN).
pub fn peek_live_socket(fd: BorrowedFd<'_>) -> Result<TcpRepairState, TakeoverError> {
    let sock = SockRef::from(&fd);
    let local = sock
        .local_addr()
        .map_err(TakeoverError::sys("getsockname"))?
        .as_socket()
        .ok_or(TakeoverError::InvalidState("local address is not IP"))?;
    let remote = sock
        .peer_addr()
        .map_err(TakeoverError::sys("getpeername"))?
        .as_socket()
        .ok_or(TakeoverError::InvalidState("remote address is not IP"))?;

    let (info, _) = sys::getsockopt::<RawTcpInfo>(fd, libc::IPPROTO_TCP, libc::TCP_INFO)
        .map_err(TakeoverError::sys("getsockopt(TCP_INFO)"))?;
    if info.state != sys::TCP_STATE_ESTABLISHED {
        return Err(TakeoverError::NotEstablished(info.state));
    }

    let repair = RepairGuard::enter(fd)?;
    let queues = read_queues(fd)?;
    let (peer_mss, _) = sys::getsockopt::<libc::c_int>(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG)
        .map_err(TakeoverError::sys("getsockopt(TCP_MAXSEG)"))?;
    let (win, _) =
        sys::getsockopt::<RawRepairWindow>(fd, libc::IPPROTO_TCP, libc::TCP_REPAIR_WINDOW)
            .map_err(TakeoverError::sys("getsockopt(TCP_REPAIR_WINDOW)"))?;
    let (tsval, _) = sys::getsockopt::<u32>(fd, libc::IPPROTO_TCP, libc::TCP_TIMESTAMP)
        .map_err(TakeoverError::sys("getsockopt(TCP_TIMESTAMP)"))?;
    let peeked_at_unix_us = unix_now_us();
    repair.leave()?;

    let timestamps = (info.options & sys::TCPI_OPT_TIMESTAMPS != 0).then_some(TimestampState {
        clock: if info.options & sys::TCPI_OPT_USEC_TS != 0 {
            TsClock::Micros
        } else {
            TsClock::Millis
        },
        tsval,
    });
    let window_scale = (info.options & sys::TCPI_OPT_WSCALE != 0).then_some(WindowScale {
        // tcpi_snd_wscale (low nibble) is the shift the neighbour announced, applied to
        // the windows it advertises; tcpi_rcv_wscale (high nibble) is ours.
        peer: info.wscales & 0x0f,
        ours: info.wscales >> 4,
    });

    Ok(TcpRepairState {
        local,
        remote,
        snd_una: queues.snd_una,
        snd_nxt: queues.snd_nxt,
        write_seq: queues.write_seq,
        rcv_nxt: queues.rcv_nxt,
        mss: MssState {
            peer: clamp_u16(peer_mss),
            ours: clamp_u16(info.advmss as i64),
            effective: clamp_u16(info.snd_mss as i64),
        },
        window_scale,
        sack_permitted: info.options & sys::TCPI_OPT_SACK != 0,
        timestamps,
        window: RepairWindow {
            snd_wl1: SeqNum(win.snd_wl1),
            snd_wnd: win.snd_wnd,
            max_window: win.max_window,
            rcv_wnd: win.rcv_wnd,
            rcv_wup: SeqNum(win.rcv_wup),
        },
        send_queue: queues.send_queue,
        recv_queue: queues.recv_queue,
        md5_key_ref: None,
        peeked_at_unix_us,
    })
}

fn clamp_u16(v: impl Into<i64>) -> u16 {
    v.into().clamp(0, u16::MAX as i64) as u16
}

struct Queues {
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    write_seq: SeqNum,
    rcv_nxt: SeqNum,
    send_queue: Vec<u8>,
    recv_queue: Vec<u8>,
}

/// Reads both queues until two reads agree (ACKs or data arriving meanwhile move them).
fn read_queues(fd: BorrowedFd<'_>) -> Result<Queues, TakeoverError> {
    for _ in 0..PEEK_ATTEMPTS {
        let write_seq = queue_seq(fd, sys::TCP_SEND_QUEUE)?;
        let outq = ioctl_len(fd, sys::SIOCOUTQ, "ioctl(SIOCOUTQ)")?;
        let notsent = ioctl_len(fd, sys::SIOCOUTQNSD, "ioctl(SIOCOUTQNSD)")?;
        let send_queue = peek_queue(fd, outq)?;
        let rcv_nxt = queue_seq(fd, sys::TCP_RECV_QUEUE)?;
        let inq = ioctl_len(fd, sys::SIOCINQ, "ioctl(SIOCINQ)")?;
        let recv_queue = peek_queue(fd, inq)?;
        // Re-read: if nothing moved, the snapshot is consistent.
        let write_seq2 = queue_seq(fd, sys::TCP_SEND_QUEUE)?;
        let outq2 = ioctl_len(fd, sys::SIOCOUTQ, "ioctl(SIOCOUTQ)")?;
        let rcv_nxt2 = queue_seq(fd, sys::TCP_RECV_QUEUE)?;
        sys::set_int(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_REPAIR_QUEUE,
            sys::TCP_NO_QUEUE,
        )
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR_QUEUE, NO_QUEUE)"))?;
        if write_seq != write_seq2
            || outq != outq2
            || rcv_nxt != rcv_nxt2
            || send_queue.len() != outq as usize
            || recv_queue.len() != inq as usize
        {
            continue;
        }
        let snd_una = SeqNum(write_seq.wrapping_sub(outq));
        return Ok(Queues {
            snd_una,
            snd_nxt: SeqNum(write_seq.wrapping_sub(notsent)),
            write_seq: SeqNum(write_seq),
            rcv_nxt: SeqNum(rcv_nxt),
            send_queue,
            recv_queue,
        });
    }
    Err(TakeoverError::Unstable {
        attempts: PEEK_ATTEMPTS,
    })
}

/// Selects `queue` and reads its `TCP_QUEUE_SEQ`; the queue stays selected for the peek.
fn queue_seq(fd: BorrowedFd<'_>, queue: libc::c_int) -> Result<u32, TakeoverError> {
    sys::set_int(fd, libc::IPPROTO_TCP, libc::TCP_REPAIR_QUEUE, queue)
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR_QUEUE)"))?;
    sys::getsockopt::<u32>(fd, libc::IPPROTO_TCP, libc::TCP_QUEUE_SEQ)
        .map(|(v, _)| v)
        .map_err(TakeoverError::sys("getsockopt(TCP_QUEUE_SEQ)"))
}

fn ioctl_len(
    fd: BorrowedFd<'_>,
    req: libc::c_ulong,
    op: &'static str,
) -> Result<u32, TakeoverError> {
    let v = sys::ioctl_int(fd, req).map_err(TakeoverError::sys(op))?;
    u32::try_from(v).map_err(|_| TakeoverError::InvalidState("negative queue length"))
}

/// `recv(MSG_PEEK)` of the selected queue, up to `len` bytes (+1 to notice growth).
fn peek_queue(fd: BorrowedFd<'_>, len: u32) -> Result<Vec<u8>, TakeoverError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let mut buf = vec![0u8; len as usize + 1];
    let n = sys::recv(fd, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        .map_err(TakeoverError::sys("recv(MSG_PEEK)"))?;
    buf.truncate(n);
    Ok(buf)
}

/// Repair mode on for the lifetime of the guard; dropped without [`RepairGuard::leave`]
/// (an error path) it still leaves repair mode, without a window probe.
struct RepairGuard<'a> {
    fd: Option<BorrowedFd<'a>>,
}

impl<'a> RepairGuard<'a> {
    fn enter(fd: BorrowedFd<'a>) -> Result<Self, TakeoverError> {
        sys::set_int(fd, libc::IPPROTO_TCP, libc::TCP_REPAIR, sys::TCP_REPAIR_ON)
            .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR, 1)"))?;
        Ok(RepairGuard { fd: Some(fd) })
    }

    fn leave(mut self) -> Result<(), TakeoverError> {
        match self.fd.take() {
            Some(fd) => sys::set_int(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_REPAIR,
                sys::TCP_REPAIR_OFF_NO_WP,
            )
            .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR, -1)")),
            None => Ok(()),
        }
    }
}

impl Drop for RepairGuard<'_> {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            let _ = sys::set_int(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_REPAIR_QUEUE,
                sys::TCP_NO_QUEUE,
            );
            let _ = sys::set_int(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_REPAIR,
                sys::TCP_REPAIR_OFF_NO_WP,
            );
        }
    }
}
