//! Sockets: listeners, outgoing connections (bound, TCP-MD5, GTSM), and the reader and
//! writer task of each connection. Everything reports to the core task by message.

use crate::core::CoreMsg;
use crate::ha_primary::{FlowIo, TCP_PEEK_INTERVAL};
use bgpd::session::ConnId;
use bgpd::speaker::PeerId;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// What a connection's writer task is told.
#[derive(Debug)]
pub enum WriterCmd {
    /// Write these bytes; with the egress stream offset of the first one when the
    /// connection is a replicated flow (handed to the standbys first: write-ahead).
    Bytes(Vec<u8>, Option<u64>),
    /// Flush what came before, then close our side.
    Close,
    /// Planned switchover: write what came before, then stop without closing and answer
    /// with a duplicate of the socket (for the last peek and the silent close); the
    /// socket is closed only when that duplicate and the reader's half are gone.
    Release(tokio::sync::oneshot::Sender<Option<std::os::fd::OwnedFd>>),
}

/// How long an outgoing connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// RFC 5082 GTSM: send with TTL 255 and accept only TTL >= 256 - hops.
fn set_gtsm(sock: &socket2::SockRef<'_>, v6: bool, hops: u8) -> io::Result<()> {
    let min_ttl = 256u32 - u32::from(hops.max(1));
    if v6 {
        sock.set_unicast_hops_v6(255)?;
        setsockopt_u32(sock, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, min_ttl)
    } else {
        sock.set_ttl_v4(255)?;
        setsockopt_u32(sock, libc::IPPROTO_IP, libc::IP_MINTTL, min_ttl)
    }
}

fn setsockopt_u32(
    sock: &socket2::SockRef<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: u32,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let v = value as libc::c_int;
    // SAFETY: a valid socket fd and a pointer to a c_int of the length passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Installs the TCP-MD5 key (RFC 2385) for `remote` on a socket.
pub fn set_md5(fd: std::os::fd::BorrowedFd<'_>, remote: IpAddr, password: &str) -> io::Result<()> {
    ribsync::takeover::set_md5_key(fd, remote, password.as_bytes())
        .map_err(|e| io::Error::other(format!("TCP_MD5SIG for {remote}: {e}")))
}

/// One listening socket per address, with the MD5 keys of the neighbours that have one;
/// `freebind`: the address need not be on this host yet (a standby that took over).
pub fn listen(
    addr: SocketAddr,
    md5: &[(IpAddr, String)],
    freebind: bool,
) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    if addr.is_ipv6() {
        socket2::SockRef::from(&sock).set_only_v6(true)?;
    }
    if freebind {
        crate::ha_primary::set_freebind(&sock, addr.is_ipv6());
    }
    // Only the keys of the listener's family: an IPv6 listener is IPv6-only, and the kernel
    // refuses an IPv4 key on it (EINVAL), which stopped bgpd with IPv4 and IPv6 neighbours.
    for (remote, password) in md5 {
        if remote.is_ipv4() == addr.is_ipv4() {
            set_md5(sock.as_fd(), *remote, password)?;
        }
    }
    sock.bind(addr)?;
    sock.listen(128)
}

/// Accepts connections forever, handing each to the core.
pub async fn accept_loop(listener: TcpListener, core: mpsc::UnboundedSender<CoreMsg>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let local = match stream.local_addr() {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(%remote, "accepted connection without a local address: {e}");
                        continue;
                    }
                };
                if core
                    .send(CoreMsg::Accepted {
                        stream,
                        remote,
                        local,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What an outgoing connection needs to know.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    pub remote: SocketAddr,
    pub local: Option<IpAddr>,
    pub md5: Option<String>,
    pub ttl_security: Option<u8>,
}

/// Opens an outgoing connection: bound to the local address, MD5 key and GTSM set first.
pub async fn connect(p: ConnectParams) -> io::Result<TcpStream> {
    let v6 = p.remote.is_ipv6();
    let sock = if v6 {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    if let Some(pw) = &p.md5 {
        set_md5(sock.as_fd(), p.remote.ip(), pw)?;
    }
    if let Some(hops) = p.ttl_security {
        set_gtsm(&socket2::SockRef::from(&sock), v6, hops)?;
    }
    if let Some(local) = p.local {
        sock.bind(SocketAddr::new(local, 0))?;
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(p.remote)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Applies GTSM to an accepted connection.
pub fn accept_gtsm(stream: &TcpStream, hops: u8) -> io::Result<()> {
    set_gtsm(
        &socket2::SockRef::from(stream),
        stream.peer_addr()?.is_ipv6(),
        hops,
    )
}

/// Splits a connection into a reader task (bytes to the core) and a writer task (bytes
/// from the core); returns the writer's channel and the reader's handle.
///
/// With `flow` (the primary of an HA pair), the writer hands every batch to the standbys
/// before writing it (egress write-ahead) and reads the socket's TCP state every
/// [`TCP_PEEK_INTERVAL`] for the checkpoints (`CoreMsg::TcpState`); the peek runs between
/// writes, and a read refused meanwhile (EPERM while the socket is in repair mode) is
/// retried.
pub fn spawn_io(
    stream: TcpStream,
    peer: PeerId,
    conn: ConnId,
    core: mpsc::UnboundedSender<CoreMsg>,
    flow: Option<FlowIo>,
) -> (
    mpsc::UnboundedSender<WriterCmd>,
    tokio::task::JoinHandle<()>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WriterCmd>();
    let core_r = core.clone();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    let msg = CoreMsg::Bytes {
                        peer,
                        conn,
                        data: buf[..n].to_vec(),
                    };
                    if core_r.send(msg).is_err() {
                        return;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    // The writer is peeking the socket (TCP_REPAIR): try again.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => {
                    tracing::debug!(peer = peer.0, "read failed: {e}");
                    break;
                }
            }
        }
        let _ = core_r.send(CoreMsg::Closed { peer, conn });
    });
    tokio::spawn(async move {
        let mut peek = tokio::time::interval(TCP_PEEK_INTERVAL);
        peek.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let cmd = tokio::select! {
                cmd = rx.recv() => cmd,
                _ = peek.tick(), if flow.is_some() => {
                    match ribsync::takeover::peek_live_socket(wr.as_ref().as_fd()) {
                        Ok(state) => {
                            let _ = core.send(CoreMsg::TcpState { peer, conn, state: Box::new(state) });
                        }
                        Err(e) => tracing::debug!(peer = peer.0, "TCP state peek: {e}"),
                    }
                    continue;
                }
            };
            let Some(cmd) = cmd else { return };
            match cmd {
                WriterCmd::Bytes(b, offset) => {
                    if let (Some(f), Some(offset)) = (&flow, offset) {
                        let t = std::time::Instant::now();
                        if f.primary
                            .write_ahead(f.flow, offset, b.clone())
                            .await
                            .is_err()
                        {
                            tracing::warn!(flow = %f.flow, "write-ahead: the checkpoint driver is gone");
                        } else {
                            f.latency.record(t.elapsed().as_micros() as u64);
                        }
                    }
                    if let Err(e) = wr.write_all(&b).await {
                        tracing::debug!(peer = peer.0, "write failed: {e}");
                        let _ = core.send(CoreMsg::Closed { peer, conn });
                        return;
                    }
                }
                WriterCmd::Close => {
                    let _ = wr.flush().await;
                    let _ = wr.shutdown().await;
                    return;
                }
                WriterCmd::Release(reply) => {
                    let _ = wr.flush().await;
                    let fd = wr.as_ref().as_fd().try_clone_to_owned();
                    if let Err(e) = &fd {
                        tracing::warn!(peer = peer.0, "cannot duplicate the socket: {e}");
                    }
                    // No shutdown (FIN) when the half is dropped.
                    wr.forget();
                    let _ = reply.send(fd.ok());
                    return;
                }
            }
        }
    });
    (tx, reader)
}
