//! Lab test: peeking a socket whose queues are moving (the neighbour drains a large send
//! queue slowly while it streams data the application has not read) still yields a
//! consistent state: the queued bytes are exactly the stream bytes at the sequence
//! numbers reported, in both directions, peek after peek. Needs root; skipped otherwise.

#![allow(clippy::unwrap_used)]

mod lab;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lab::{in_ns, spawn_in, Capture, Lab};
use ribsync::takeover;
use ribsync::tap::TcpFlags;

const PEEKS: usize = 40;

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7) % 253) as u8 ^ seed).collect()
}

#[test]
fn peek_is_consistent_while_queues_move() {
    if !lab::require_root("peek_is_consistent_while_queues_move") {
        return;
    }
    let peer_ip: IpAddr = lab::PEER_V4.parse().unwrap();
    let prim_ip: IpAddr = lab::PRIM_V4.parse().unwrap();
    let peer_addr = SocketAddr::new(peer_ip, 179);
    let lab = Lab::new();
    let wire = Capture::start(&lab.peer, "eth0", vec![prim_ip], false);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = stop.clone();
    // The neighbour: reads slowly (4 KiB per ms) and sends its own pattern as fast as the
    // primary's window allows.
    let peer = spawn_in(&lab.peer, move || {
        // A small receive buffer keeps the window small, so the primary's send queue
        // drains at the pace of these reads.
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.set_recv_buffer_size(64 << 10).unwrap();
        l.bind(&peer_addr.into()).unwrap();
        l.listen(4).unwrap();
        let l = TcpListener::from(l);
        tx.send(()).unwrap();
        let (c, _) = l.accept().unwrap();
        let mut w = c.try_clone().unwrap();
        let s3 = s2.clone();
        let writer = std::thread::spawn(move || {
            let data = pattern(0x5a, 8 << 20);
            w.set_nonblocking(true).unwrap();
            let mut off = 0;
            while !s3.load(Ordering::SeqCst) && off < data.len() {
                match w.write(&data[off..(off + 4096).min(data.len())]) {
                    Ok(n) => off += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(_) => break,
                }
            }
        });
        let mut r = c;
        let mut buf = [0u8; 4096];
        let mut got = 0usize;
        while !s2.load(Ordering::SeqCst) {
            // (Non-blocking: the writer's clone shares the file description.)
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = writer.join();
        got
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();

    let mut primary = in_ns(&lab.prim, || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_send_buffer_size(4 << 20).unwrap();
        s.bind(&SocketAddr::new(prim_ip, 0).into()).unwrap();
        s.connect(&peer_addr.into()).unwrap();
        TcpStream::from(s)
    });
    // Fill the send queue without blocking: the application writes nothing after this,
    // as the peek requires.
    let out = pattern(0xa5, 4 << 20);
    primary.set_nonblocking(true).unwrap();
    let mut written = 0;
    while written < out.len() {
        match primary.write(&out[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(written > 64 << 10, "only {written} bytes queued");
    let local = primary.local_addr().unwrap();

    // The initial sequence numbers, from the handshake on the wire.
    lab::wait_for("handshake on the wire", Duration::from_secs(5), || {
        wire.frames()
            .iter()
            .filter_map(|f| f.tcp())
            .any(|s| s.flags.has(TcpFlags::SYN | TcpFlags::ACK))
    });
    let frames = wire.frames();
    let syns: Vec<_> = frames
        .iter()
        .filter_map(|f| f.tcp())
        .filter(|s| s.flags.has(TcpFlags::SYN))
        .collect();
    let iss = syns.iter().find(|s| s.src == local).unwrap().seq;
    let irs = syns.iter().find(|s| s.src == peer_addr).unwrap().seq;
    let incoming = pattern(0x5a, 8 << 20);

    let mut moved = (0u32, 0u32);
    let mut last = None;
    let mut read_total = 0usize;
    // Peek until both queues were seen moving between peeks (at least PEEKS peeks).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut peeks = 0;
    while peeks < PEEKS || moved.0 < 2 || moved.1 < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "queues did not move between peeks ({moved:?} in {peeks} peeks): the test proves nothing"
        );
        peeks += 1;
        let st = in_ns(&lab.prim, || {
            takeover::peek_live_socket(primary.as_fd()).unwrap()
        });
        // Send side: [snd_una, write_seq) is the written data at that offset.
        let una_off = st.snd_una.0.wrapping_sub(iss.wrapping_add(1)) as usize;
        assert_eq!(
            st.write_seq.0.wrapping_sub(iss.wrapping_add(1)) as usize,
            written
        );
        assert_eq!(una_off + st.send_queue.len(), written);
        assert!(
            st.send_queue == out[una_off..written],
            "send queue bytes at offset {una_off}"
        );
        assert!(!st.snd_una.is_after(st.snd_nxt) && !st.snd_nxt.is_after(st.write_seq));
        // Receive side: the unread bytes are the stream from what the application read
        // up to rcv_nxt.
        let rcv_off = st.rcv_nxt.0.wrapping_sub(irs.wrapping_add(1)) as usize;
        assert_eq!(rcv_off, read_total + st.recv_queue.len());
        assert!(
            st.recv_queue == incoming[read_total..rcv_off],
            "receive queue bytes"
        );
        if let Some((una, rcv)) = last {
            moved.0 += u32::from(st.snd_una != una);
            moved.1 += u32::from(st.rcv_nxt != rcv);
        }
        last = Some((st.snd_una, st.rcv_nxt));
        // Between peeks the application reads a little, which reopens the window.
        let mut buf = vec![0u8; 16 << 10];
        if let Ok(n) = primary.read(&mut buf) {
            assert!(buf[..n] == incoming[read_total..read_total + n]);
            read_total += n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "{peeks} consistent peeks; snd_una moved between {} of them, rcv_nxt between {}",
        moved.0, moved.1
    );
    stop.store(true, Ordering::SeqCst);
    let _ = primary.shutdown(std::net::Shutdown::Both);
    let _ = peer.join();
}
