//! Lab test of the mirror tap: a 4 MiB transfer from the primary to the neighbour on port
//! 179, read on the standby's mirror port through the TPACKET_V3 ring and with recvmsg;
//! every payload byte is accounted for (GSO super-frames larger than the MTU parsed by
//! their IP length). Needs root; skipped otherwise.
//!
//! The ring (the tap's default) must see every byte with no drop. The `recvmsg` path (one
//! system call per frame, a fallback) can fall behind when the machine is loaded: there the
//! test asserts what is honest: every byte is seen, or each missing byte is covered by
//! frames the kernel reports dropped, by the tap (`PACKET_STATISTICS` tp_drops) or by the
//! mirror link; a gap with no reported drop fails.

#![allow(clippy::unwrap_used)]

mod lab;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use lab::{in_ns, spawn_in, Capture, Lab};

const BYTES: usize = 4 << 20;

/// Largest TCP payload one mirrored frame can carry (a 64 KiB GSO super-frame).
const MAX_FRAME_PAYLOAD: usize = 65_535;

fn run(ring: bool) {
    let peer_ip: IpAddr = lab::PEER_V4.parse().unwrap();
    let prim_ip: IpAddr = lab::PRIM_V4.parse().unwrap();
    let peer_addr = SocketAddr::new(peer_ip, 179);
    let lab = Lab::new();
    let link_drops = || lab::link_drops(&lab.sw, "sw-mon") + lab::link_drops(&lab.stby, "mon0");
    let link_drops0 = link_drops();
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
    let tap_drops = mirror.drops();
    let link_drops = link_drops() - link_drops0;

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
            // A retransmission may start at the same sequence number with less (or more)
            // data than the first transmission: keep the longest.
            let off = s.seq.wrapping_sub(isn.unwrap());
            let e = by_seq.entry(off).or_default();
            if s.payload.len() > e.len() {
                *e = s.payload.to_vec();
            }
        }
    }
    // Reassemble; every gap is counted and the bytes around it compared with what was sent.
    let mut pos = 0usize;
    let mut missing = 0usize;
    let mut gaps = Vec::new();
    for (off, payload) in by_seq {
        let off = off as usize - 1;
        if off + payload.len() <= pos {
            continue; // retransmission
        }
        if off > pos {
            gaps.push((pos, off - pos));
            missing += off - pos;
            pos = off;
        }
        let new = &payload[pos - off..];
        let end = (pos + new.len()).min(BYTES);
        assert!(
            new[..end - pos] == data[pos..end],
            "mirrored bytes at {pos} differ from what was sent"
        );
        pos += new.len();
    }
    if pos < BYTES {
        gaps.push((pos, BYTES - pos));
        missing += BYTES - pos;
    }
    let mode = if ring { "TPACKET_V3 ring" } else { "recvmsg" };
    println!(
        "tap ({mode}): {} frames, largest {largest} bytes, {} of {BYTES} payload bytes seen; \
         kernel-reported drops: tap {tap_drops}, mirror link {link_drops}; gaps {gaps:?}",
        frames.len(),
        BYTES - missing
    );
    assert!(
        largest > 1514,
        "no GSO super-frame seen (largest frame {largest} bytes)"
    );
    if ring {
        assert_eq!(missing, 0, "gaps in the mirrored stream: {gaps:?}");
        assert_eq!(tap_drops, 0, "the tap dropped frames");
        return;
    }
    // recvmsg: bytes seen + what the kernel says it dropped account for everything.
    let dropped = tap_drops + link_drops;
    assert!(
        missing == 0 || dropped > 0,
        "{missing} bytes missing ({gaps:?}) but the kernel reports no drop: a real loss"
    );
    assert!(
        missing <= dropped as usize * MAX_FRAME_PAYLOAD,
        "{missing} bytes missing, more than {dropped} dropped frames can carry"
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
