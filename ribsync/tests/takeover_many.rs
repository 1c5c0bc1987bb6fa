//! Lab test: 100 TCP sessions move to the standby at once with [`takeover::take_over`];
//! every one continues (its echo comes back over the same connection), the neighbour
//! accepted no new connection and saw no FIN/RST; prints the time from the link cut to
//! the last session's first segment. Needs root; skipped otherwise.

#![allow(clippy::unwrap_used)]

mod lab;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lab::{in_ns, spawn_in, wait_for, Capture, Lab};
use ribsync::takeover::{
    self, AddressControl, AddressPlan, Announcer, RebuildOverrides, SessionPlan,
};
use ribsync::tap::{Direction, TcpFlags};

const SESSIONS: usize = 100;
const WAIT: Duration = Duration::from_secs(20);

/// An echo server on port 179 counting accepted connections and closed ones.
fn echo_server(
    ns: &str,
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_in(ns, move || {
        let l = TcpListener::bind(addr).expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        tx.send(()).expect("ready");
        while !stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((mut c, _)) => {
                    accepts.fetch_add(1, Ordering::SeqCst);
                    c.set_nonblocking(false).expect("blocking");
                    let (closed, stop) = (closed.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 1024];
                        loop {
                            match c.read(&mut buf) {
                                Ok(n) if n > 0 => {
                                    if c.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                _ => break,
                            }
                        }
                        if !stop.load(Ordering::SeqCst) {
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    rx.recv_timeout(WAIT).expect("echo server did not start");
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn hundred_sessions_move_at_once_v4() {
    if !lab::require_root("hundred_sessions_move_at_once_v4") {
        return;
    }
    let peer_ip: IpAddr = lab::PEER_V4.parse().unwrap();
    let prim_ip: IpAddr = lab::PRIM_V4.parse().unwrap();
    let peer_addr = SocketAddr::new(peer_ip, 179);
    let lab = Lab::new();
    let (accepts, closed, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    echo_server(
        &lab.peer,
        peer_addr,
        accepts.clone(),
        closed.clone(),
        stop.clone(),
    );
    let wire = Capture::start(&lab.peer, "eth0", vec![prim_ip], false);
    let (announcer, mut control, ifindex) = in_ns(&lab.stby, || {
        (
            Announcer::open("eth0").unwrap(),
            AddressControl::open().unwrap(),
            takeover::interface_index("eth0").unwrap(),
        )
    });

    let mut primaries: Vec<TcpStream> = in_ns(&lab.prim, || {
        (0..SESSIONS)
            .map(|_| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                s.bind(&SocketAddr::new(prim_ip, 0).into()).unwrap();
                s.connect(&peer_addr.into()).unwrap();
                TcpStream::from(s)
            })
            .collect()
    });
    for (i, p) in primaries.iter_mut().enumerate() {
        let msg = format!("hello-{i:03};");
        p.write_all(msg.as_bytes()).unwrap();
        assert_eq!(read_n(p, msg.len()), msg.as_bytes());
    }
    wait_for("all accepted", WAIT, || {
        accepts.load(Ordering::SeqCst) == SESSIONS
    });
    wire.wait_quiet(Duration::from_millis(300), WAIT);
    let states: Vec<_> = in_ns(&lab.prim, || {
        primaries
            .iter()
            .map(|p| takeover::peek_live_socket(p.as_fd()).unwrap())
            .collect()
    });
    let peer_mac: [u8; 6] = wire
        .frames()
        .iter()
        .find(|f| f.direction == Direction::Outgoing)
        .map(|f| f.data[6..12].try_into().unwrap())
        .unwrap();

    lab.cut_primary();
    let t_cut = lab::unix_now();
    let plans: Vec<SessionPlan> = states
        .iter()
        .enumerate()
        .map(|(i, state)| SessionPlan {
            state: state.clone(),
            overrides: RebuildOverrides::default(),
            first_message: format!("resumed-{i:03};").into_bytes(),
        })
        .collect();
    let addresses = [AddressPlan {
        ifindex,
        addr: prim_ip,
        prefix_len: 24,
        neighbours: vec![(peer_ip, peer_mac)],
    }];
    let outcome = in_ns(&lab.stby, || {
        takeover::take_over(
            &plans,
            &addresses,
            &mut control,
            std::slice::from_ref(&announcer),
        )
        .unwrap()
    });
    let mut standbys: Vec<TcpStream> = outcome.sessions.into_iter().map(|s| s.unwrap()).collect();
    for (i, s) in standbys.iter_mut().enumerate() {
        let msg = format!("resumed-{i:03};");
        assert_eq!(
            read_n(s, msg.len()),
            msg.as_bytes(),
            "session {i} did not continue"
        );
        assert_eq!(s.local_addr().unwrap(), states[i].local);
    }
    assert_eq!(
        accepts.load(Ordering::SeqCst),
        SESSIONS,
        "the neighbour accepted a new connection"
    );
    assert_eq!(
        closed.load(Ordering::SeqCst),
        0,
        "a connection was closed or reset"
    );

    wire.wait_quiet(Duration::from_millis(200), WAIT);
    let frames = wire.frames();
    let stby_mac = announcer.mac();
    let mut first_by_port = BTreeMap::new();
    let mut syns = 0;
    for f in &frames {
        let Some(s) = f.tcp() else { continue };
        assert_eq!(
            s.flags.0 & (TcpFlags::FIN | TcpFlags::RST),
            0,
            "FIN or RST on the wire"
        );
        if s.flags.has(TcpFlags::SYN) {
            syns += 1;
        }
        if f.direction == Direction::Incoming && s.src.ip() == prim_ip && f.data[6..12] == stby_mac
        {
            first_by_port.entry(s.src.port()).or_insert(f.timestamp);
        }
    }
    assert_eq!(syns, 2 * SESSIONS, "only the original handshakes");
    assert_eq!(
        first_by_port.len(),
        SESSIONS,
        "every session sent from the standby"
    );
    let last_first = first_by_port.values().max().unwrap();
    let first_first = first_by_port.values().min().unwrap();
    println!(
        "{SESSIONS} sessions: link cut -> first session's first standby segment {:.2} ms, last session's {:.2} ms; \
         take_over phases {:?}",
        first_first.saturating_sub(t_cut).as_secs_f64() * 1000.0,
        last_first.saturating_sub(t_cut).as_secs_f64() * 1000.0,
        outcome.timings
    );
    stop.store(true, Ordering::SeqCst);
    drop(standbys);
    drop(primaries);
}
