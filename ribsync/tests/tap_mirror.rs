//! Lab test of the mirror tap: a 4 MiB transfer from the primary to the neighbour on port
//! 179, read on the standby's mirror port through the TPACKET_V3 ring and with recvmsg;
//! every payload byte is accounted for (GSO super-frames larger than the MTU parsed by
//! their IP length), nothing dropped. Needs root; skipped otherwise.

#![allow(clippy::unwrap_used)]

mod lab;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use lab::{in_ns, spawn_in, Capture, Lab};

const BYTES: usize = 4 << 20;

fn run(ring: bool) {
    let peer_ip: IpAddr = lab::PEER_V4.parse().unwrap();
    let prim_ip: IpAddr = lab::PRIM_V4.parse().unwrap();
    let peer_addr = SocketAddr::new(peer_ip, 179);
    let lab = Lab::new();
    let mirror = Capture::start_with(&lab.stby, "mon0", vec![prim_ip], true, ring);
    let (tx, rx) = std::sync::mpsc::channel();
    let server = spawn_in(&lab.peer, move || {
        let l = TcpListener::bind(peer_addr).unwrap();
        tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut total = 0;
        let mut buf = vec![0u8; 65536];
        while total < BYTES {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut client = in_ns(&lab.prim, || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::new(prim_ip, 0).into()).unwrap();
        s.connect(&peer_addr.into()).unwrap();
        TcpStream::from(s)
    });
    let data: Vec<u8> = (0..BYTES).map(|i| (i % 251) as u8).collect();
    client.write_all(&data).unwrap();
    assert_eq!(server.join().unwrap(), BYTES);
    mirror.wait_quiet(Duration::from_millis(300), Duration::from_secs(20));

    // Reassemble the primary's stream from the mirror by sequence number.
    let frames = mirror.frames();
    let local = client.local_addr().unwrap();
    let mut isn = None;
    let mut by_seq: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut largest = 0;
    for f in &frames {
        let Some(s) = f.tcp() else { continue };
        if s.src != local {
            continue;
        }
        if s.flags.has(ribsync::tap::TcpFlags::SYN) {
            isn = Some(s.seq);
        }
        if !s.payload.is_empty() {
            largest = largest.max(f.data.len());
            by_seq.insert(s.seq.wrapping_sub(isn.unwrap()), s.payload.to_vec());
        }
    }
    let mut stream = Vec::with_capacity(BYTES);
    for (off, payload) in by_seq {
        let off = off as usize - 1;
        if off + payload.len() <= stream.len() {
            continue; // retransmission
        }
        assert!(
            off <= stream.len(),
            "gap in the mirrored stream at {}",
            stream.len()
        );
        stream.extend_from_slice(&payload[stream.len() - off..]);
    }
    assert_eq!(stream.len(), BYTES, "mirrored payload bytes");
    assert!(stream == data, "mirrored bytes differ from what was sent");
    assert!(
        largest > 1514,
        "no GSO super-frame seen (largest frame {largest} bytes)"
    );
    assert_eq!(mirror.drops(), 0, "the tap dropped frames");
    println!(
        "tap ({}): {} frames, largest {largest} bytes, {BYTES} payload bytes reassembled",
        if ring { "TPACKET_V3 ring" } else { "recvmsg" },
        frames.len()
    );
}

#[test]
fn mirror_tap_ring_sees_every_byte() {
    if lab::require_root("mirror_tap_ring_sees_every_byte") {
        run(true);
    }
}

#[test]
fn mirror_tap_recvmsg_sees_every_byte() {
    if lab::require_root("mirror_tap_recvmsg_sees_every_byte") {
        run(false);
    }
}
