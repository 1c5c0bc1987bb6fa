//! Lab test: a plain TCP stream moves from the primary to the standby (same 4-tuple, same
//! sequence space) and the peer notices nothing: one accepted connection, an unbroken
//! byte stream both ways, no SYN/FIN/RST on its link. Needs root; skipped otherwise.

#![allow(clippy::unwrap_used)]

mod lab;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use lab::{in_ns, spawn_in, wait_for, Capture, Lab};
use ribsync::takeover::{self, AddressControl, Announcer, RebuildOverrides};
use ribsync::tap::{Direction, TcpFlags};

const BGP_PORT: u16 = 179;
const WAIT: Duration = Duration::from_secs(10);

/// The neighbour: accepts on port 179, records every byte received, writes on request,
/// counts accepted connections.
struct PeerServer {
    received: Arc<Mutex<Vec<u8>>>,
    accepts: Arc<AtomicUsize>,
    send: mpsc::Sender<Vec<u8>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeerServer {
    fn start(ns: &str, addr: SocketAddr) -> PeerServer {
        let received = Arc::new(Mutex::new(Vec::new()));
        let accepts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (send, rx) = mpsc::channel::<Vec<u8>>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (r, a, s) = (received.clone(), accepts.clone(), stop.clone());
        let thread = spawn_in(ns, move || {
            let listener = TcpListener::bind(addr).expect("bind peer listener");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            let mut conn: Option<TcpStream> = None;
            let mut readers = Vec::new();
            while !s.load(Ordering::SeqCst) {
                if let Ok((c, _)) = listener.accept() {
                    a.fetch_add(1, Ordering::SeqCst);
                    c.set_nonblocking(false).expect("blocking");
                    let mut rd = c.try_clone().expect("clone");
                    let r2 = r.clone();
                    readers.push(std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = rd.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            r2.lock().expect("lock").extend_from_slice(&buf[..n]);
                        }
                    }));
                    conn.get_or_insert(c);
                }
                while let Ok(bytes) = rx.try_recv() {
                    conn.as_mut()
                        .expect("no connection yet")
                        .write_all(&bytes)
                        .expect("peer write");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if let Some(c) = conn {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
            for t in readers {
                let _ = t.join();
            }
        });
        ready_rx
            .recv_timeout(WAIT)
            .expect("peer server did not start");
        PeerServer {
            received,
            accepts,
            send,
            stop,
            thread: Some(thread),
        }
    }

    fn received(&self) -> Vec<u8> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_exact_timeout(s: &mut TcpStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("read");
    buf
}

fn run(v6: bool) {
    let (peer_ip, prim_ip): (IpAddr, IpAddr) = if v6 {
        (lab::PEER_V6.parse().unwrap(), lab::PRIM_V6.parse().unwrap())
    } else {
        (lab::PEER_V4.parse().unwrap(), lab::PRIM_V4.parse().unwrap())
    };
    let prefix_len = if v6 { 64 } else { 24 };
    let peer_addr = SocketAddr::new(peer_ip, BGP_PORT);
    let lab = Lab::new();
    let server = PeerServer::start(&lab.peer, peer_addr);
    // A capture on the peer's own link: what the neighbour sees.
    let wire = Capture::start(&lab.peer, "eth0", vec![prim_ip], false);

    // The standby prepares ahead of time (AF_PACKET open costs ~10 ms).
    let (announcer, mut addrs, stby_ifindex) = in_ns(&lab.stby, || {
        (
            Announcer::open("eth0").expect("announcer"),
            AddressControl::open().expect("rtnetlink"),
            takeover::interface_index("eth0").expect("ifindex"),
        )
    });

    // The primary's connection.
    let mut primary = in_ns(&lab.prim, || {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(peer_addr),
            socket2::Type::STREAM,
            None,
        )
        .expect("socket");
        s.bind(&SocketAddr::new(prim_ip, 0).into()).expect("bind");
        s.connect(&peer_addr.into()).expect("connect");
        TcpStream::from(s)
    });
    primary.write_all(b"primary-data-1;").expect("write");
    server.send.send(b"peer-data-1;".to_vec()).expect("send");
    assert_eq!(read_exact_timeout(&mut primary, 12), b"peer-data-1;");
    // Left unread on purpose: the peek must report it in the receive queue.
    server.send.send(b"peer-unread;".to_vec()).expect("send");
    wait_for("primary data at peer", WAIT, || {
        server.received() == b"primary-data-1;"
    });
    wait_for("unread bytes queued", WAIT, || {
        let mut b = [0u8; 32];
        primary.peek(&mut b).map(|n| n == 12).unwrap_or(false)
    });

    // Peek on a quiet link: no packet emitted.
    wire.wait_quiet(Duration::from_millis(300), WAIT);
    let before = wire.len();
    let state = in_ns(&lab.prim, || {
        takeover::peek_live_socket(primary.as_fd()).expect("peek")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(wire.len(), before, "the peek emitted a packet");
    assert_eq!(state.local, primary.local_addr().unwrap());
    assert_eq!(state.remote, peer_addr);
    assert_eq!(state.recv_queue, b"peer-unread;");
    assert!(state.send_queue.is_empty());
    assert_eq!(state.snd_una, state.snd_nxt);
    assert!(state.sack_permitted, "Linux to Linux negotiates SACK");
    assert!(
        state.timestamps.is_some(),
        "Linux to Linux negotiates timestamps"
    );
    assert!(
        state.window_scale.is_some(),
        "Linux to Linux negotiates window scaling"
    );
    // Cross-check the sequence numbers against the wire.
    let frames = wire.frames();
    let last_from_peer = frames
        .iter()
        .filter_map(|f| f.tcp())
        .rfind(|s| s.src == peer_addr)
        .map(|s| (s.seq.wrapping_add(s.payload.len() as u32), s.ack))
        .expect("segments from the peer");
    assert_eq!(
        last_from_peer.0, state.rcv_nxt.0,
        "rcv_nxt = peer's last seq + len"
    );
    assert_eq!(
        last_from_peer.1, state.snd_una.0,
        "snd_una = peer's last ACK"
    );
    let peer_mac: [u8; 6] = frames
        .iter()
        .find(|f| f.direction == Direction::Outgoing)
        .map(|f| f.data[6..12].try_into().unwrap())
        .expect("a frame sent by the peer");
    // The state survives a checkpoint round trip.
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(
        serde_json::from_str::<takeover::TcpRepairState>(&json).unwrap(),
        state
    );

    // The primary's box dies: its switch port goes down; it had written bytes that never
    // reached the peer (in its send queue, unacknowledged).
    lab.cut_primary();
    let t_cut = lab::unix_now();
    primary.write_all(b"in-flight;").expect("write in flight");
    let state = in_ns(&lab.prim, || {
        takeover::peek_live_socket(primary.as_fd()).expect("peek 2")
    });
    assert_eq!(state.send_queue, b"in-flight;");
    assert_eq!(state.write_seq, state.snd_una.wrapping_add(10));

    // Takeover on the standby.
    let mut standby = in_ns(&lab.stby, || {
        let repaired =
            takeover::rebuild_socket(&state, &RebuildOverrides::default()).expect("rebuild");
        addrs
            .add_address(stby_ifindex, prim_ip, prefix_len)
            .expect("add address");
        addrs
            .set_neighbour(stby_ifindex, peer_ip, peer_mac)
            .expect("neighbour");
        match prim_ip {
            IpAddr::V4(a) => announcer.gratuitous_arp(a).expect("garp"),
            IpAddr::V6(a) => announcer.unsolicited_na(a).expect("na"),
        }
        repaired.go_live().expect("go live")
    });
    standby.write_all(b"standby-data;").expect("standby write");

    wait_for("unbroken stream at peer", WAIT, || {
        server.received() == b"primary-data-1;in-flight;standby-data;"
    });
    server.send.send(b"peer-data-2;".to_vec()).expect("send");
    assert_eq!(read_exact_timeout(&mut standby, 12), b"peer-data-2;");
    assert_eq!(standby.local_addr().unwrap(), state.local);
    assert_eq!(standby.peer_addr().unwrap(), peer_addr);
    assert_eq!(
        server.accepts.load(Ordering::SeqCst),
        1,
        "the peer saw a new connection"
    );

    wire.wait_quiet(Duration::from_millis(200), WAIT);
    let frames = wire.frames();
    let segs: Vec<_> = frames
        .iter()
        .filter_map(|f| f.tcp().map(|s| (f, s)))
        .collect();
    let syns = segs
        .iter()
        .filter(|(_, s)| s.flags.has(TcpFlags::SYN))
        .count();
    assert_eq!(syns, 2, "exactly the original SYN and SYN-ACK");
    assert!(
        !segs
            .iter()
            .any(|(_, s)| s.flags.0 & (TcpFlags::FIN | TcpFlags::RST) != 0),
        "FIN or RST on the peer's link"
    );
    let stby_mac = announcer.mac();
    let first = segs
        .iter()
        .find(|(f, s)| {
            f.direction == Direction::Incoming && s.src.ip() == prim_ip && f.data[6..12] == stby_mac
        })
        .map(|(f, _)| f.timestamp)
        .expect("a segment from the standby");
    let ms = first.saturating_sub(t_cut).as_secs_f64() * 1000.0;
    println!(
        "takeover ({}): link cut -> first standby segment at the peer: {ms:.2} ms",
        if v6 { "IPv6" } else { "IPv4" }
    );
    drop(standby);
    drop(primary);
}

#[test]
fn plain_tcp_stream_moves_to_standby_v4() {
    if lab::require_root("plain_tcp_stream_moves_to_standby_v4") {
        run(false);
    }
}

#[test]
fn plain_tcp_stream_moves_to_standby_v6() {
    if lab::require_root("plain_tcp_stream_moves_to_standby_v6") {
        run(true);
    }
}
