//! Rebuilding a TCP connection from a [`TcpRepairState`] with `TCP_REPAIR`, in the order
//! the kernel accepts (notes/tcp-takeover.md, "Socket rebuild order"), then leaving repair
//! mode and resending the unacknowledged bytes as a separate step, once the session
//! address is in place.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::error::TakeoverError;
use super::state::{unix_now_us, RepairWindow, SeqNum, TcpRepairState, TsClock};
use super::sys::{self, RawRepairWindow, RawTcpMd5Sig, TcpRepairOpt};

/// Send-buffer room [`RepairedSocket::go_live`] keeps beyond the unacknowledged bytes, for
/// the application's first message (a KEEPALIVE) and what follows it, in bytes.
const SEND_BUFFER_MARGIN: usize = 64 * 1024;

/// Later knowledge that supersedes parts of a peeked [`TcpRepairState`]: what the mirror
/// saw after the checkpoint, and secrets that never travel in checkpoints.
#[derive(Debug, Clone)]
pub struct RebuildOverrides {
    /// The primary's last ACK seen on the mirror (must be a message boundary the standby
    /// has processed). Used when later than the state's `rcv_nxt`.
    pub rcv_nxt: Option<SeqNum>,
    /// The neighbour's last ACK seen on the mirror. Used when later than the state's.
    pub snd_una: Option<SeqNum>,
    /// Every byte from the effective `snd_una` on that the neighbour has not acknowledged
    /// (from the egress write-ahead). When `None`, the state's send queue is used, trimmed
    /// to the effective `snd_una`.
    pub unacked: Option<Vec<u8>>,
    /// The last TSval the primary was seen sending on the mirror; the rebuilt socket
    /// starts above it.
    pub last_tsval_seen: Option<u32>,
    /// The neighbour's window state seen on the mirror.
    pub window: Option<RepairWindow>,
    /// The TCP-MD5 key (RFC 2385) named by the state's `md5_key_ref`.
    pub md5_key: Option<Vec<u8>>,
    /// Added to the TSval on top of the elapsed time, to absorb clock skew between the
    /// primary's and the standby's hosts.
    pub tsval_margin: Duration,
}

impl Default for RebuildOverrides {
    fn default() -> Self {
        RebuildOverrides {
            rcv_nxt: None,
            snd_una: None,
            unacked: None,
            last_tsval_seen: None,
            window: None,
            md5_key: None,
            tsval_margin: Duration::from_millis(20),
        }
    }
}

/// A rebuilt connection still in repair mode: ESTABLISHED in the kernel, 4-tuple and
/// sequence space of the primary's, nothing sent yet. Put the session address in place,
/// then call [`RepairedSocket::go_live`]. Dropped without it (an aborted takeover), it
/// closes silently: a socket in repair mode sends no FIN or RST.
#[derive(Debug)]
pub struct RepairedSocket {
    socket: Socket,
    unacked: Vec<u8>,
    snd_una: SeqNum,
    rcv_nxt: SeqNum,
    tsval: Option<u32>,
}

impl RepairedSocket {
    /// The socket (still in repair mode).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The bytes that [`RepairedSocket::go_live`] will send first.
    pub fn unacked(&self) -> &[u8] {
        &self.unacked
    }

    /// The send sequence number the socket starts at (the neighbour's last ACK).
    pub fn snd_una(&self) -> SeqNum {
        self.snd_una
    }

    /// The receive sequence number the socket starts at.
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv_nxt
    }

    /// The `TCP_TIMESTAMP` value installed (low bit = clock), if timestamps are on.
    pub fn tsval(&self) -> Option<u32> {
        self.tsval
    }

    /// Leaves repair mode (`TCP_REPAIR = 0`: the kernel sends one window probe, the first
    /// segment the neighbour sees from this host), then `send()`s every unacknowledged
    /// byte in order as ordinary new data (not through the repair send queue, whose bytes
    /// would only go out on RTO), having first raised the send buffer (`SO_SNDBUFFORCE`)
    /// to hold them all, so that a neighbour with a zero window (not reading) does not
    /// make the write wait. Returns the live, blocking stream.
    ///
    /// # Errors
    /// [`TakeoverError::Sys`] if leaving repair mode, sizing the send buffer or the write
    /// fails.
    pub fn go_live(self) -> Result<TcpStream, TakeoverError> {
        sys::set_int(
            self.socket.as_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_REPAIR,
            sys::TCP_REPAIR_OFF,
        )
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR, 0)"))?;
        // Repair mode forced the bind through (SK_FORCE_REUSE) and leaving it cleared the
        // socket's reuse flag. Set SO_REUSEADDR now, as an accepted socket inherits it from
        // its listener: else the new primary's BGP listener (SO_REUSEADDR) cannot bind the
        // session's address and port while this session lives (EADDRINUSE).
        self.socket
            .set_reuse_address(true)
            .map_err(TakeoverError::sys("setsockopt(SO_REUSEADDR)"))?;
        // The unacknowledged bytes must fit the send buffer at once, whatever the
        // neighbour's window: when it is not reading (zero window) and they exceed the
        // buffer, the blocking write below would wait for it to read, holding up this
        // takeover and every session after it. SO_SNDBUFFORCE (CAP_NET_ADMIN, which repair
        // mode needs anyway) passes net.core.wmem_max; the kernel doubles the value for its
        // own overhead. Only when the bytes could fill half the buffer (it then stays at
        // that size: setting it ends the kernel's autotuning for this socket); a typical
        // takeover, with a few unacknowledged messages, leaves it alone.
        let need = self.unacked.len() + SEND_BUFFER_MARGIN;
        if 2 * self.unacked.len() >= self.socket.send_buffer_size().unwrap_or(0) {
            sys::set_int(
                self.socket.as_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUFFORCE,
                libc::c_int::try_from(need).unwrap_or(libc::c_int::MAX / 2),
            )
            .map_err(TakeoverError::sys("setsockopt(SO_SNDBUFFORCE)"))?;
        }
        let mut stream: TcpStream = self.socket.into();
        if !self.unacked.is_empty() {
            stream
                .write_all(&self.unacked)
                .map_err(TakeoverError::sys("send(unacknowledged bytes)"))?;
        }
        Ok(stream)
    }
}

/// Closes a live TCP socket without a FIN or RST reaching the wire: repair mode first, so
/// the kernel drops the connection silently (the neighbour keeps it, now served by the
/// standby). For the primary's side of a planned switchover, after
/// [`super::peek_live_socket`] and after its session address was removed.
///
/// # Errors
/// [`TakeoverError::Sys`] if repair mode cannot be entered (no CAP_NET_ADMIN); the socket
/// is then still closed, normally.
pub fn close_silently(fd: OwnedFd) -> Result<(), TakeoverError> {
    sys::set_int(
        fd.as_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_REPAIR,
        sys::TCP_REPAIR_ON,
    )
    .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR, 1)"))?;
    drop(fd);
    Ok(())
}

/// Rebuilds the connection described by `state` (with `overrides` applied) in repair
/// mode. The local address need not exist yet on this host (`IP_FREEBIND`,
/// `IP_TRANSPARENT`). Nothing is sent. Needs CAP_NET_ADMIN.
///
/// # Errors
/// [`TakeoverError::InvalidState`] for an inconsistent state (families, windows),
/// [`TakeoverError::Sys`] naming the step the kernel refused.
pub fn rebuild_socket(
    state: &TcpRepairState,
    overrides: &RebuildOverrides,
) -> Result<RepairedSocket, TakeoverError> {
    let plan = Plan::new(state, overrides)?;
    let domain = match (state.local, state.remote) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => Domain::IPV4,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => Domain::IPV6,
        (l, r) => {
            return Err(TakeoverError::FamilyMismatch {
                local: l.to_string(),
                remote: r.to_string(),
            })
        }
    };
    let tcp = libc::IPPROTO_TCP;

    // 1. socket(), TCP_REPAIR = 1.
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
        .map_err(TakeoverError::sys("socket"))?;
    let fd = socket.as_fd();
    sys::set_int(fd, tcp, libc::TCP_REPAIR, sys::TCP_REPAIR_ON)
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR, 1)"))?;

    // 2. FREEBIND + TRANSPARENT: bind before the address exists on this host.
    if domain == Domain::IPV4 {
        sys::set_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND, 1)
            .map_err(TakeoverError::sys("setsockopt(IP_FREEBIND)"))?;
        sys::set_int(fd, libc::IPPROTO_IP, libc::IP_TRANSPARENT, 1)
            .map_err(TakeoverError::sys("setsockopt(IP_TRANSPARENT)"))?;
    } else {
        sys::set_int(fd, libc::IPPROTO_IPV6, sys::IPV6_FREEBIND, 1)
            .map_err(TakeoverError::sys("setsockopt(IPV6_FREEBIND)"))?;
        sys::set_int(fd, libc::IPPROTO_IPV6, sys::IPV6_TRANSPARENT, 1)
            .map_err(TakeoverError::sys("setsockopt(IPV6_TRANSPARENT)"))?;
    }

    // 3. TCP_MD5SIG before connect.
    if let Some(key) = &overrides.md5_key {
        set_md5_key(fd, state.remote.ip(), key)?;
    }

    // 4. TCP_MAXSEG = the neighbour's MSS before connect (else mss_cache stays small).
    if state.mss.peer != 0 {
        sys::set_int(fd, tcp, libc::TCP_MAXSEG, libc::c_int::from(state.mss.peer))
            .map_err(TakeoverError::sys("setsockopt(TCP_MAXSEG)"))?;
    }

    // 5. bind() to the primary's local address and port.
    socket
        .bind(&state.local.into())
        .map_err(TakeoverError::sys("bind"))?;

    // 6. Queue sequence numbers, in CLOSE state.
    sys::set_int(fd, tcp, libc::TCP_REPAIR_QUEUE, sys::TCP_RECV_QUEUE)
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR_QUEUE, RECV)"))?;
    sys::setsockopt(fd, tcp, libc::TCP_QUEUE_SEQ, &plan.rcv_nxt.0)
        .map_err(TakeoverError::sys("setsockopt(TCP_QUEUE_SEQ, recv)"))?;
    sys::set_int(fd, tcp, libc::TCP_REPAIR_QUEUE, sys::TCP_SEND_QUEUE)
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR_QUEUE, SEND)"))?;
    sys::setsockopt(fd, tcp, libc::TCP_QUEUE_SEQ, &plan.snd_una.0)
        .map_err(TakeoverError::sys("setsockopt(TCP_QUEUE_SEQ, send)"))?;

    // 7. connect(): ESTABLISHED at once in repair mode, nothing sent.
    socket
        .connect(&state.remote.into())
        .map_err(TakeoverError::sys("connect"))?;

    // 8. TCP_REPAIR_OPTIONS (only after connect).
    let mut opts = vec![TcpRepairOpt {
        opt_code: sys::TCPOPT_MSS,
        opt_val: u32::from(state.mss.peer),
    }];
    if let Some(ws) = state.window_scale {
        opts.push(TcpRepairOpt {
            opt_code: sys::TCPOPT_WINDOW,
            opt_val: u32::from(ws.peer) | (u32::from(ws.ours) << 16),
        });
    }
    if state.sack_permitted {
        opts.push(TcpRepairOpt {
            opt_code: sys::TCPOPT_SACK_PERM,
            opt_val: 0,
        });
    }
    if state.timestamps.is_some() {
        opts.push(TcpRepairOpt {
            opt_code: sys::TCPOPT_TIMESTAMP,
            opt_val: 0,
        });
    }
    sys::setsockopt_slice(fd, tcp, libc::TCP_REPAIR_OPTIONS, &opts)
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR_OPTIONS)"))?;

    // 9. TCP_REPAIR_WINDOW.
    sys::setsockopt(fd, tcp, libc::TCP_REPAIR_WINDOW, &plan.window)
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR_WINDOW)"))?;

    // 10. TCP_TIMESTAMP: TSval continue above the primary's, same clock (low bit).
    if let Some(ts) = plan.tsval {
        sys::setsockopt(fd, tcp, libc::TCP_TIMESTAMP, &ts)
            .map_err(TakeoverError::sys("setsockopt(TCP_TIMESTAMP)"))?;
    }

    // 11. TCP_NO_QUEUE.
    sys::set_int(fd, tcp, libc::TCP_REPAIR_QUEUE, sys::TCP_NO_QUEUE)
        .map_err(TakeoverError::sys("setsockopt(TCP_REPAIR_QUEUE, NO_QUEUE)"))?;

    Ok(RepairedSocket {
        socket,
        unacked: plan.unacked,
        snd_una: plan.snd_una,
        rcv_nxt: plan.rcv_nxt,
        tsval: plan.tsval,
    })
}

/// The values the rebuild installs, after applying the overrides.
struct Plan {
    snd_una: SeqNum,
    rcv_nxt: SeqNum,
    unacked: Vec<u8>,
    window: RawRepairWindow,
    tsval: Option<u32>,
}

impl Plan {
    fn new(state: &TcpRepairState, ov: &RebuildOverrides) -> Result<Plan, TakeoverError> {
        let snd_una = match ov.snd_una {
            Some(s) => state.snd_una.later(s),
            None => state.snd_una,
        };
        let rcv_nxt = match ov.rcv_nxt {
            Some(r) => state.rcv_nxt.later(r),
            None => state.rcv_nxt,
        };
        let unacked = match &ov.unacked {
            Some(bytes) => bytes.clone(),
            None => {
                let skip = snd_una.distance_from(state.snd_una) as usize;
                if skip > state.send_queue.len() {
                    return Err(TakeoverError::InvalidState(
                        "neighbour acknowledged bytes beyond the checkpointed send queue; supply them in overrides.unacked",
                    ));
                }
                state.send_queue[skip..].to_vec()
            }
        };
        let mut w = ov.window.unwrap_or(state.window);
        // "EINVAL if rcv_wup > rcv_nxt or snd_wl1 > rcv_nxt + rcv_wnd": when the mirror
        // moved rcv_nxt on, the primary's last window update and ACK moved with it.
        if rcv_nxt != state.rcv_nxt && ov.window.is_none() {
            w.rcv_wup = rcv_nxt;
            w.snd_wl1 = rcv_nxt;
        }
        if w.rcv_wup.is_after(rcv_nxt) {
            return Err(TakeoverError::InvalidState("rcv_wup after rcv_nxt"));
        }
        if w.snd_wl1.is_after(rcv_nxt.wrapping_add(w.rcv_wnd)) {
            return Err(TakeoverError::InvalidState(
                "snd_wl1 after rcv_nxt + rcv_wnd",
            ));
        }
        let window = RawRepairWindow {
            snd_wl1: w.snd_wl1.0,
            snd_wnd: w.snd_wnd,
            max_window: w.max_window.max(w.snd_wnd),
            rcv_wnd: w.rcv_wnd,
            rcv_wup: w.rcv_wup.0,
        };
        let tsval = state.timestamps.map(|ts| {
            next_tsval(
                ts.clock,
                ts.tsval,
                state.peeked_at_unix_us,
                unix_now_us(),
                ov,
            )
        });
        Ok(Plan {
            snd_una,
            rcv_nxt,
            unacked,
            window,
            tsval,
        })
    }
}

/// The `TCP_TIMESTAMP` value for the rebuilt socket: the primary's TSval at the peek plus
/// the time elapsed since, plus the margin, and above any TSval seen on the mirror since;
/// the low bit selects the clock (odd = microseconds), so it is forced to match `clock`.
/// RFC 7323 section 5.3: a TSval lower than the neighbour's TS.Recent fails PAWS and the
/// segment is dropped.
pub(crate) fn next_tsval(
    clock: TsClock,
    peeked: u32,
    peeked_at_us: u64,
    now_us: u64,
    ov: &RebuildOverrides,
) -> u32 {
    let elapsed = clock.ticks(now_us.saturating_sub(peeked_at_us));
    let margin = clock.ticks(ov.tsval_margin.as_micros() as u64);
    let from_peek = peeked.wrapping_add(elapsed.wrapping_add(margin) as u32);
    let from_mirror = ov
        .last_tsval_seen
        .map(|t| t.wrapping_add(margin as u32).wrapping_add(1));
    let mut v = match from_mirror {
        Some(m) if SeqNum(m).is_after(SeqNum(from_peek)) => m,
        _ => from_peek,
    };
    match clock {
        TsClock::Millis => {
            if v & 1 == 1 {
                v = v.wrapping_add(1);
            }
        }
        TsClock::Micros => v |= 1,
    }
    v
}

/// Installs the TCP-MD5 key (RFC 2385) for segments to and from `remote` on socket `fd`
/// (`TCP_MD5SIG`, matching that one address). The primary calls it before `connect()`
/// (or on its listener); [`rebuild_socket`] does it from [`RebuildOverrides::md5_key`].
///
/// # Errors
/// [`TakeoverError::Md5KeyTooLong`] for a key longer than 80 bytes (`TCP_MD5SIG_MAXKEYLEN`),
/// [`TakeoverError::Sys`] if the kernel refuses it.
pub fn set_md5_key(fd: BorrowedFd<'_>, remote: IpAddr, key: &[u8]) -> Result<(), TakeoverError> {
    let mut sig: RawTcpMd5Sig = sys::zeroed();
    if key.len() > sig.key.len() {
        return Err(TakeoverError::Md5KeyTooLong { len: key.len() });
    }
    let addr: socket2::SockAddr = SocketAddr::new(remote, 0).into();
    let len = (addr.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `addr.as_ptr()` points to `addr.len()` initialised bytes of a sockaddr; the
    // destination is a sockaddr_storage, at least as large; the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            addr.as_ptr() as *const u8,
            &mut sig.addr as *mut libc::sockaddr_storage as *mut u8,
            len,
        );
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    sys::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
        .map_err(TakeoverError::sys("setsockopt(TCP_MD5SIG)"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::takeover::state::{MssState, TimestampState};

    fn state() -> TcpRepairState {
        TcpRepairState {
            local: "192.0.2.2:40000".parse().unwrap(),
            remote: "192.0.2.1:179".parse().unwrap(),
            snd_una: SeqNum(1000),
            snd_nxt: SeqNum(1010),
            write_seq: SeqNum(1020),
            rcv_nxt: SeqNum(5000),
            mss: MssState {
                peer: 1460,
                ours: 1460,
                effective: 1448,
            },
            window_scale: None,
            sack_permitted: true,
            timestamps: Some(TimestampState {
                clock: TsClock::Millis,
                tsval: 100_000,
            }),
            window: RepairWindow {
                snd_wl1: SeqNum(4900),
                snd_wnd: 64_000,
                max_window: 64_000,
                rcv_wnd: 65_000,
                rcv_wup: SeqNum(4990),
            },
            send_queue: (0u8..20).collect(),
            recv_queue: vec![],
            md5_key_ref: None,
            peeked_at_unix_us: 1_000_000,
        }
    }

    #[test]
    fn plan_trims_acknowledged_bytes_and_moves_window() {
        let ov = RebuildOverrides {
            snd_una: Some(SeqNum(1005)),
            rcv_nxt: Some(SeqNum(5019)),
            ..RebuildOverrides::default()
        };
        let p = Plan::new(&state(), &ov).unwrap();
        assert_eq!(p.snd_una, SeqNum(1005));
        assert_eq!(p.unacked, (5u8..20).collect::<Vec<_>>());
        assert_eq!(p.rcv_nxt, SeqNum(5019));
        assert_eq!(p.window.rcv_wup, 5019);
        assert_eq!(p.window.snd_wl1, 5019);
    }

    #[test]
    fn plan_ignores_older_mirror_values() {
        let ov = RebuildOverrides {
            snd_una: Some(SeqNum(900)),
            rcv_nxt: Some(SeqNum(4000)),
            ..RebuildOverrides::default()
        };
        let p = Plan::new(&state(), &ov).unwrap();
        assert_eq!(p.snd_una, SeqNum(1000));
        assert_eq!(p.unacked.len(), 20);
        assert_eq!(p.window.rcv_wup, 4990);
    }

    #[test]
    fn plan_rejects_ack_beyond_queue_without_bytes() {
        let ov = RebuildOverrides {
            snd_una: Some(SeqNum(1030)),
            ..RebuildOverrides::default()
        };
        assert!(matches!(
            Plan::new(&state(), &ov),
            Err(TakeoverError::InvalidState(_))
        ));
    }

    #[test]
    fn md5_key_over_80_bytes_is_refused_as_such() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let e = set_md5_key(sock.as_fd(), "127.0.0.2".parse().unwrap(), &[b'k'; 81]).unwrap_err();
        assert!(
            matches!(e, TakeoverError::Md5KeyTooLong { len: 81 }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "TCP-MD5 key is 81 bytes, the kernel takes at most 80 (TCP_MD5SIG_MAXKEYLEN)"
        );
    }

    #[test]
    fn tsval_advances_and_keeps_clock_bit() {
        let ov = RebuildOverrides {
            tsval_margin: Duration::from_millis(5),
            ..RebuildOverrides::default()
        };
        // 2.5 s elapsed on the millisecond clock: +2500 +5, even.
        let v = next_tsval(TsClock::Millis, 100_000, 1_000_000, 3_500_000, &ov);
        assert_eq!(v, 102_506);
        // Microsecond clock: odd.
        let v = next_tsval(TsClock::Micros, 100_001, 1_000_000, 1_000_100, &ov);
        assert_eq!(v, 100_001 + 100 + 5000);
        assert_eq!(v & 1, 1);
        // A TSval seen on the mirror later than the projection wins.
        let ov = RebuildOverrides {
            tsval_margin: Duration::ZERO,
            last_tsval_seen: Some(200_000),
            ..RebuildOverrides::default()
        };
        assert_eq!(next_tsval(TsClock::Millis, 100_000, 0, 0, &ov), 200_002);
    }
}
