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
use std::time::{Duration, Instant};

use lab::{in_ns, spawn_in, wait_for, Capture, Lab};
use ribsync::takeover::{self, AddressControl, Announcer, RebuildOverrides};
use ribsync::tap::{Direction, TcpFlags};

const BGP_PORT: u16 = 179;
const WAIT: Duration = Duration::from_secs(10);

/// How the neighbour's end of the connection is opened.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    /// Listen on this address; the primary connects.
    Listen(SocketAddr),
    /// Connect from `from` to the primary's listener at `to`.
    Connect { from: IpAddr, to: SocketAddr },
}

/// The neighbour: one end of the connection; records every byte received, writes on
/// request, counts connections and notices a close or reset.
struct PeerServer {
    received: Arc<Mutex<Vec<u8>>>,
    accepts: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
    send: mpsc::Sender<Vec<u8>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeerServer {
    fn start(ns: &str, endpoint: Endpoint) -> PeerServer {
        let received = Arc::new(Mutex::new(Vec::new()));
        let accepts = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (send, rx) = mpsc::channel::<Vec<u8>>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (r, a, s, cl) = (
            received.clone(),
            accepts.clone(),
            stop.clone(),
            closed.clone(),
        );
        let thread = spawn_in(ns, move || {
            let mut listener = None;
            let mut connected = None;
            match endpoint {
                Endpoint::Listen(addr) => {
                    let l = TcpListener::bind(addr).expect("bind peer listener");
                    l.set_nonblocking(true).expect("nonblocking");
                    listener = Some(l);
                }
                Endpoint::Connect { from, to } => {
                    let sock = socket2::Socket::new(
                        socket2::Domain::for_address(to),
                        socket2::Type::STREAM,
                        None,
                    )
                    .expect("socket");
                    sock.bind(&SocketAddr::new(from, 0).into()).expect("bind");
                    sock.connect(&to.into()).expect("connect to the primary");
                    connected = Some(TcpStream::from(sock));
                }
            }
            ready_tx.send(()).expect("ready");
            let mut conn: Option<TcpStream> = None;
            let mut readers = Vec::new();
            while !s.load(Ordering::SeqCst) {
                let next = match (&listener, connected.take()) {
                    (_, Some(c)) => Some(c),
                    (Some(l), None) => l.accept().ok().map(|(c, _)| c),
                    (None, None) => None,
                };
                if let Some(c) = next {
                    a.fetch_add(1, Ordering::SeqCst);
                    c.set_nonblocking(false).expect("blocking");
                    let mut rd = c.try_clone().expect("clone");
                    let (r2, cl2, s2) = (r.clone(), cl.clone(), s.clone());
                    readers.push(std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            match rd.read(&mut buf) {
                                Ok(n) if n > 0 => {
                                    r2.lock().expect("lock").extend_from_slice(&buf[..n])
                                }
                                _ => {
                                    if !s2.load(Ordering::SeqCst) {
                                        cl2.store(true, Ordering::SeqCst);
                                    }
                                    break;
                                }
                            }
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
            closed,
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

fn run(v6: bool, primary_listens: bool, planned: bool) {
    let (peer_ip, prim_ip): (IpAddr, IpAddr) = if v6 {
        (lab::PEER_V6.parse().unwrap(), lab::PRIM_V6.parse().unwrap())
    } else {
        (lab::PEER_V4.parse().unwrap(), lab::PRIM_V4.parse().unwrap())
    };
    let prefix_len = if v6 { 64 } else { 24 };
    let peer_addr = SocketAddr::new(peer_ip, BGP_PORT);
    let lab = Lab::new();
    let primary_listener = primary_listens.then(|| {
        in_ns(&lab.prim, || {
            TcpListener::bind(SocketAddr::new(prim_ip, BGP_PORT)).expect("primary listener")
        })
    });
    let endpoint = match primary_listens {
        false => Endpoint::Listen(peer_addr),
        true => Endpoint::Connect {
            from: peer_ip,
            to: SocketAddr::new(prim_ip, BGP_PORT),
        },
    };
    // The standby already listens on the BGP port (wildcard), as a standby speaker does.
    let standby_listener = in_ns(&lab.stby, || {
        let any: IpAddr = if v6 {
            "::".parse().unwrap()
        } else {
            "0.0.0.0".parse().unwrap()
        };
        TcpListener::bind(SocketAddr::new(any, BGP_PORT)).expect("standby listener")
    });
    let wire_filter = vec![prim_ip];
    // A capture on the peer's own link: what the neighbour sees.
    let wire = Capture::start(&lab.peer, "eth0", wire_filter, false);
    let server = PeerServer::start(&lab.peer, endpoint);

    // The standby prepares ahead of time (AF_PACKET open costs ~10 ms).
    let (announcer, mut addrs, stby_ifindex) = in_ns(&lab.stby, || {
        (
            Announcer::open("eth0").expect("announcer"),
            AddressControl::open().expect("rtnetlink"),
            takeover::interface_index("eth0").expect("ifindex"),
        )
    });

    // The primary's connection.
    let mut primary = match &primary_listener {
        Some(l) => l.accept().expect("primary accept").0,
        None => in_ns(&lab.prim, || {
            let s = socket2::Socket::new(
                socket2::Domain::for_address(peer_addr),
                socket2::Type::STREAM,
                None,
            )
            .expect("socket");
            s.bind(&SocketAddr::new(prim_ip, 0).into()).expect("bind");
            s.connect(&peer_addr.into()).expect("connect");
            TcpStream::from(s)
        }),
    };
    // The neighbour's side of the 4-tuple (its ephemeral port when it connected).
    let peer_addr = primary.peer_addr().unwrap();
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

    let (state, t_cut, _dead_primary) = if planned {
        // Planned switchover: the primary writes its last bytes, drops the session
        // address (segments for it are no longer delivered, so never answered with RST),
        // peeks and closes its socket silently.
        primary.write_all(b"in-flight;").expect("write");
        let t_cut = lab::unix_now();
        let state = in_ns(&lab.prim, || {
            let ifindex = takeover::interface_index("eth0").expect("ifindex");
            AddressControl::open()
                .expect("rtnetlink")
                .del_address(ifindex, prim_ip, prefix_len)
                .expect("del address");
            takeover::peek_live_socket(primary.as_fd()).expect("peek 2")
        });
        takeover::close_silently(primary.into()).expect("close silently");
        (state, t_cut, None)
    } else {
        // The primary's box dies: its switch port goes down; it had written bytes that
        // never reached the peer (in its send queue, unacknowledged).
        lab.cut_primary();
        let t_cut = lab::unix_now();
        primary.write_all(b"in-flight;").expect("write in flight");
        let state = in_ns(&lab.prim, || {
            takeover::peek_live_socket(primary.as_fd()).expect("peek 2")
        });
        assert_eq!(state.send_queue, b"in-flight;");
        assert_eq!(state.write_seq, state.snd_una.wrapping_add(10));
        (state, t_cut, Some(primary))
    };

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
    // Once it has taken over, the standby listens for new sessions on the session address
    // and the BGP port (as bgpd does, SO_REUSEADDR) while the taken-over session lives.
    // The wildcard listener goes first (Linux refuses a specific bind beside a wildcard
    // listener); a child process of a parallel test may hold a copy of its descriptor
    // until its exec, so the bind is polled with a deadline.
    drop(standby_listener);
    in_ns(&lab.stby, || {
        let at = SocketAddr::new(state.local.ip(), BGP_PORT);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let listener = socket2::Socket::new(
                socket2::Domain::for_address(at),
                socket2::Type::STREAM,
                None,
            )
            .expect("socket");
            listener.set_reuse_address(true).expect("SO_REUSEADDR");
            match listener.bind(&at.into()).and_then(|()| listener.listen(16)) {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("no listener on {at} beside the taken-over session: {e}"),
            }
        }
    });
    assert_eq!(standby.peer_addr().unwrap(), peer_addr);
    assert_eq!(
        server.accepts.load(Ordering::SeqCst),
        1,
        "the peer saw a new connection"
    );
    assert!(
        !server.closed.load(Ordering::SeqCst),
        "the peer's connection was closed or reset"
    );

    wire.wait_quiet(Duration::from_millis(200), WAIT);
    let frames = wire.frames();
    // The kernel filter kept only BGP-port TCP of the session address (ARP, NA and the
    // rest of the link's traffic never reached the tap), and the tap lost nothing.
    assert!(
        frames.iter().all(|f| f.tcp().is_some_and(|s| {
            (s.src.ip() == prim_ip || s.dst.ip() == prim_ip)
                && (s.src.port() == BGP_PORT || s.dst.port() == BGP_PORT)
        })),
        "a frame outside the filter reached the tap"
    );
    assert_eq!(wire.drops(), 0, "the tap dropped frames");
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
        "takeover ({}, primary {}): link cut -> first standby segment at the peer: {ms:.2} ms",
        if v6 { "IPv6" } else { "IPv4" },
        if primary_listens {
            "accepted"
        } else {
            "connected"
        }
    );
    if planned {
        println!("  (planned switchover: address removed, peeked, closed silently)");
    }
    drop(standby);
}

#[test]
fn plain_tcp_stream_moves_to_standby_v4() {
    if lab::require_root("plain_tcp_stream_moves_to_standby_v4") {
        run(false, false, false);
    }
}

#[test]
fn plain_tcp_stream_moves_to_standby_v6() {
    if lab::require_root("plain_tcp_stream_moves_to_standby_v6") {
        run(true, false, false);
    }
}

#[test]
fn accepted_tcp_stream_moves_to_standby_v4() {
    if lab::require_root("accepted_tcp_stream_moves_to_standby_v4") {
        run(false, true, false);
    }
}

#[test]
fn accepted_tcp_stream_moves_to_standby_v6() {
    if lab::require_root("accepted_tcp_stream_moves_to_standby_v6") {
        run(true, true, false);
    }
}

#[test]
fn planned_switchover_moves_tcp_stream_v4() {
    if lab::require_root("planned_switchover_moves_tcp_stream_v4") {
        run(false, true, true);
    }
}

#[test]
fn planned_switchover_moves_tcp_stream_v6() {
    if lab::require_root("planned_switchover_moves_tcp_stream_v6") {
        run(true, false, true);
    }
}

/// `close_silently` puts nothing on the wire, where an ordinary close sends a FIN (the
/// control, which shows the capture would see one).
#[test]
fn close_silently_emits_no_fin_or_rst() {
    if !lab::require_root("close_silently_emits_no_fin_or_rst") {
        return;
    }
    let peer_ip: IpAddr = lab::PEER_V4.parse().unwrap();
    let prim_ip: IpAddr = lab::PRIM_V4.parse().unwrap();
    let peer_addr = SocketAddr::new(peer_ip, BGP_PORT);
    let lab = Lab::new();
    let wire = Capture::start(&lab.peer, "eth0", vec![prim_ip], false);
    let server = PeerServer::start(&lab.peer, Endpoint::Listen(peer_addr));
    let connect = || {
        in_ns(&lab.prim, || {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            s.bind(&SocketAddr::new(prim_ip, 0).into()).expect("bind");
            s.connect(&peer_addr.into()).expect("connect");
            TcpStream::from(s)
        })
    };
    let fins = |wire: &Capture, port: u16| {
        wire.frames()
            .iter()
            .filter_map(|f| f.tcp().map(|s| (s.src.port(), s.flags)))
            .filter(|(p, fl)| *p == port && fl.0 & (TcpFlags::FIN | TcpFlags::RST) != 0)
            .count()
    };
    let (silent, control) = (connect(), connect());
    let (silent_port, control_port) = (
        silent.local_addr().unwrap().port(),
        control.local_addr().unwrap().port(),
    );
    wait_for("both accepted", WAIT, || {
        server.accepts.load(Ordering::SeqCst) == 2
    });
    wire.wait_quiet(Duration::from_millis(200), WAIT);

    in_ns(&lab.prim, || {
        takeover::close_silently(silent.into()).expect("close silently")
    });
    drop(control);
    wait_for("the control's FIN", WAIT, || fins(&wire, control_port) > 0);
    wire.wait_quiet(Duration::from_millis(300), WAIT);
    assert_eq!(
        fins(&wire, silent_port),
        0,
        "close_silently sent a FIN or RST"
    );
}
