//! Sockets: listeners, outgoing connections (bound, TCP-MD5, GTSM), and the reader and
//! writer task of each connection. Everything reports to the core task by message.

use crate::core::CoreMsg;
use crate::ha_primary::{FlowIo, TCP_PEEK_INTERVAL};
use bgpd::session::ConnId;
use bgpd::speaker::PeerId;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// What a connection's writer task is told.
#[derive(Debug)]
pub enum WriterCmd {
    /// Write these bytes; with the egress stream offset of the first one when the
    /// connection is a replicated flow (handed to the standbys first: write-ahead).
    Bytes(Vec<u8>, Option<u64>),
    /// Flush what came before, then close our side.
    Close,
    /// Planned switchover: write what came before, then pause: answer `paused` with a
    /// duplicate of the socket (for the peeks and the silent close) and write nothing
    /// more until `decision` says whether the session stays here ([`AfterPause::Resume`],
    /// also when the decision is dropped unsent) or left with the handover
    /// ([`AfterPause::HandedOver`]: stop without closing; the socket is closed only when
    /// the duplicate and the reader's half are gone too).
    Pause {
        paused: tokio::sync::oneshot::Sender<io::Result<std::os::fd::OwnedFd>>,
        decision: tokio::sync::oneshot::Receiver<AfterPause>,
    },
}

/// What a paused writer does next (see [`WriterCmd::Pause`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPause {
    /// The switchover was aborted: carry on writing.
    Resume,
    /// The session was handed over: stop, without a FIN.
    HandedOver,
}

/// The most one read of a connection takes from the socket.
const READ_BUFFER: usize = 64 * 1024;

/// Octets of one connection read but not yet handled by the core, at most: a neighbour that
/// sends faster than the speaker applies waits in TCP (its window closes) instead of in
/// bgpd's memory. Without it a full table (26 MB for a million prefixes) was read in a
/// fraction of a second and queued whole in front of the core. A multiple of
/// [`READ_BUFFER`].
pub const READ_CREDIT: usize = 16 * READ_BUFFER;

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

/// A connection's reader: reads `rd` until it ends or fails, hands every read to the core
/// as [`CoreMsg::Bytes`], then reports [`CoreMsg::Closed`]. Each read holds its octets'
/// share of a credit of [`READ_CREDIT`] until the core has handled (dropped) the message,
/// and the next read waits for a whole [`READ_BUFFER`] of credit.
pub async fn read_to_core<R: AsyncRead + Unpin>(
    mut rd: R,
    peer: PeerId,
    conn: ConnId,
    core: mpsc::UnboundedSender<CoreMsg>,
) {
    let mut buf = vec![0u8; READ_BUFFER];
    let credit = Arc::new(Semaphore::new(READ_CREDIT));
    loop {
        let Ok(mut permit) = credit.clone().acquire_many_owned(READ_BUFFER as u32).await else {
            break;
        };
        match rd.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                // The octets read stay on credit until the core is done with them; the
                // rest of the buffer's share goes back now.
                let held = permit.split(n);
                drop(permit);
                let msg = CoreMsg::Bytes {
                    peer,
                    conn,
                    data: buf[..n].to_vec(),
                    credit: held,
                };
                if core.send(msg).is_err() {
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
    let _ = core.send(CoreMsg::Closed { peer, conn });
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
    let (rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WriterCmd>();
    let reader = tokio::spawn(read_to_core(rd, peer, conn, core.clone()));
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
                WriterCmd::Pause { paused, decision } => {
                    let _ = wr.flush().await;
                    // Answered even when the switchover stopped waiting: it then decides
                    // Resume (already queued on `decision`).
                    let _ = paused.send(wr.as_ref().as_fd().try_clone_to_owned());
                    match decision.await {
                        Ok(AfterPause::HandedOver) => {
                            // No shutdown (FIN) when the half is dropped.
                            wr.forget();
                            return;
                        }
                        Ok(AfterPause::Resume) | Err(_) => {
                            tracing::debug!(peer = peer.0, "switchover aborted: writing again");
                        }
                    }
                }
            }
        }
    });
    (tx, reader)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    /// A connected pair on the loopback: the writer's side runs `spawn_io`, the other is
    /// the neighbour.
    async fn pair() -> (
        mpsc::UnboundedSender<WriterCmd>,
        TcpStream,
        mpsc::UnboundedReceiver<CoreMsg>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (neighbour, _) = listener.accept().await.unwrap();
        let (core, core_rx) = mpsc::unbounded_channel();
        let (writer, _reader) = spawn_io(ours, PeerId(1), ConnId::incoming(1), core, None);
        (writer, neighbour, core_rx)
    }

    fn pause(
        writer: &mpsc::UnboundedSender<WriterCmd>,
    ) -> (
        oneshot::Receiver<io::Result<std::os::fd::OwnedFd>>,
        oneshot::Sender<AfterPause>,
    ) {
        let (paused, answer) = oneshot::channel();
        let (decision, told) = oneshot::channel();
        writer
            .send(WriterCmd::Pause {
                paused,
                decision: told,
            })
            .unwrap();
        (answer, decision)
    }

    /// Reads exactly `n` octets from the neighbour's side.
    async fn read_n(neighbour: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(30), neighbour.read_exact(&mut got))
            .await
            .expect("the octets arrive")
            .unwrap();
        got
    }

    #[tokio::test]
    async fn a_paused_writer_writes_nothing_until_it_resumes() {
        let (writer, mut neighbour, _core) = pair().await;
        writer
            .send(WriterCmd::Bytes(b"before".to_vec(), None))
            .unwrap();
        let (answer, decision) = pause(&writer);
        let fd = answer.await.unwrap().unwrap();
        // The duplicate is the writer's socket.
        let dup = socket2::SockRef::from(&fd);
        assert_eq!(
            dup.peer_addr().unwrap().as_socket(),
            Some(neighbour.local_addr().unwrap())
        );
        writer
            .send(WriterCmd::Bytes(b"after".to_vec(), None))
            .unwrap();
        assert_eq!(read_n(&mut neighbour, 6).await, b"before");
        let mut one = [0u8; 1];
        assert!(
            tokio::time::timeout(Duration::from_millis(200), neighbour.read(&mut one))
                .await
                .is_err(),
            "a paused writer wrote"
        );
        decision.send(AfterPause::Resume).unwrap();
        assert_eq!(read_n(&mut neighbour, 5).await, b"after");
    }

    /// The writer of a neighbour that does not read is stuck in a write longer than the
    /// socket buffers: it cannot pause (the switchover aborts), and once told to resume it
    /// goes on where it was, every octet in order.
    #[tokio::test]
    async fn a_writer_stuck_on_a_full_socket_resumes_where_it_was() {
        let (writer, mut neighbour, _core) = pair().await;
        let big: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
        writer.send(WriterCmd::Bytes(big.clone(), None)).unwrap();
        let (mut answer, decision) = pause(&writer);
        writer
            .send(WriterCmd::Bytes(b"after".to_vec(), None))
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut answer)
                .await
                .is_err(),
            "paused although 32 MiB could not have been written"
        );
        // The switchover gives up waiting and aborts.
        drop(answer);
        decision.send(AfterPause::Resume).unwrap();
        let got = read_n(&mut neighbour, big.len() + 5).await;
        assert!(got[..big.len()] == big[..], "the big write arrived whole");
        assert_eq!(&got[big.len()..], b"after");
    }
}

#[cfg(test)]
mod reader_tests {
    use super::{read_to_core, READ_BUFFER, READ_CREDIT};
    use crate::core::CoreMsg;
    use bgpd::session::ConnId;
    use bgpd::speaker::PeerId;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio::sync::mpsc;

    /// Octets of a `Bytes` message (panics on anything else).
    fn data(m: &CoreMsg) -> &[u8] {
        match m {
            CoreMsg::Bytes { data, .. } => data,
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reader_holds_at_most_its_credit_until_the_core_handles_the_bytes() {
        // A neighbour with 8 MiB to send, far more than the credit.
        let total = 8 << 20;
        let sent: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let (mut neighbour, ours) = tokio::io::duplex(256 * 1024);
        let to_send = sent.clone();
        let writer = tokio::spawn(async move {
            neighbour.write_all(&to_send).await.expect("write");
            neighbour.shutdown().await.expect("shutdown");
        });
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(read_to_core(ours, PeerId(1), ConnId::incoming(1), tx));

        // The core handles nothing yet: the reader stops once less than a read's worth of
        // credit is left.
        let mut held: Vec<CoreMsg> = Vec::new();
        let mut held_octets = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while held_octets <= READ_CREDIT - READ_BUFFER {
            let m = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("the reader read up to its credit in time")
                .expect("the reader is running");
            held_octets += data(&m).len();
            held.push(m);
        }
        assert!(held_octets <= READ_CREDIT, "{held_octets} octets queued");
        let more = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(
            more.is_err(),
            "the reader went on beyond its credit ({held_octets} octets queued)"
        );

        // Handled: the rest comes, in order, then the close.
        let mut got: Vec<u8> = held.iter().flat_map(|m| data(m).to_vec()).collect();
        drop(held);
        loop {
            let m = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("the rest in time")
                .expect("the reader is running");
            match m {
                CoreMsg::Closed { .. } => break,
                m => got.extend_from_slice(data(&m)),
            }
        }
        writer.await.expect("writer");
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "the octets came out of order or changed");
    }
}
