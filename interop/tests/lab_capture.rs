//! Lab test: a capture on a neighbour's link shows the BGP messages and TCP control
//! segments of its session (run as root): what failover tests check on the wire.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use interop::capture::{analyze, Capture};
use interop::neighbor::bird::Bird;
use interop::neighbor::frr::Frr;
use interop::poll::poll_until;
use interop::rawpeer::msg_type;
use interop::{BgpConfig, Neighbor, PeerConfig};

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn capture_shows_birds_cease_notification_and_fin_but_no_open() {
    let (lab, frr_ns, _b) = two_hosts("frr", "bird");
    let frr_cfg = BgpConfig::new(65001, A4.parse().unwrap())
        .peer(PeerConfig::new(ip(B4), 65002).local(ip(A4)));
    let bird_cfg = BgpConfig::new(65002, B4.parse().unwrap())
        .peer(PeerConfig::new(ip(A4), 65001).local(ip(B4)).passive())
        .network("203.0.113.0/24".parse().unwrap());
    let mut frr = Frr::start(&lab, "frr", &frr_cfg).unwrap();
    let mut bird = Bird::start(&lab, "bird", &bird_cfg).unwrap();
    frr.wait_established(ip(B4), TIMEOUT).unwrap();
    frr.wait_routes(ip(B4), &["203.0.113.0/24".parse().unwrap()], TIMEOUT)
        .unwrap();

    let cap = Capture::start(&frr_ns, "eth0", "tcp port 179", lab.workdir(), "frr-eth0").unwrap();
    bird.stop();
    poll_until(
        "FRR to see the session down",
        TIMEOUT,
        Duration::from_millis(50),
        || Ok((!frr.session(ip(B4))?.established).then_some(())),
    )
    .unwrap();
    let summary = analyze(&cap.stop().unwrap()).unwrap();

    assert!(
        summary.opens().is_empty(),
        "no OPEN after the capture started: {:?}",
        summary.opens()
    );
    let notes = summary.notifications();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].src.ip(), ip(B4));
    assert_eq!(notes[0].dst.ip(), ip(A4));
    assert_eq!(
        notes[0].bytes[19],
        6,
        "Cease (RFC 4486): {}",
        hex::encode(&notes[0].bytes)
    );
    assert!(
        summary.fin.iter().any(|(src, _)| src.ip() == ip(B4)),
        "BIRD closed with a FIN: {:?}",
        summary.fin
    );
    assert_eq!(summary.gaps, 0);
    assert!(summary
        .messages
        .iter()
        .all(|m| m.kind() != msg_type::UPDATE || m.src.ip() == ip(B4) || m.src.ip() == ip(A4)));
}

/// Frames of `path` (a pcap tcpdump may still be writing) sent to UDP port 9; a record
/// cut off at the end counts as not there yet.
fn udp_frames(path: &std::path::Path) -> usize {
    let Ok(file) = std::fs::File::open(path) else {
        return 0;
    };
    let Ok(mut reader) = ribsync::capture::PcapReader::new(file) else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(frame)) = reader.next_frame() {
        if frame.data.len() >= 14 + 20 + 8 && frame.data[14 + 9] == 17 {
            n += 1;
        }
    }
    n
}

/// A burst of frames within a few milliseconds is captured whole, and the capture says so.
/// A takeover writes its first segments on 100 sessions (about 200 frames) within 4 ms;
/// with tcpdump's default 2 MiB ring (whole frames on a veth with offloads: about 32 slots)
/// the capture kept about 34 of them, and the takeover bench read the lost ones as segments
/// lost on the wire (issue 7).
#[test]
fn a_burst_of_frames_is_captured_whole() {
    const BURST: usize = 500;
    let (lab, a, b) = two_hosts("burst-a", "burst-b");
    let cap = Capture::start(&b, "eth0", "udp port 9", lab.workdir(), "burst").unwrap();
    let file = lab.workdir().join("burst.pcap");
    a.enter(|| {
        let s = std::net::UdpSocket::bind((ip(A4), 0)).unwrap();
        for i in 0..BURST {
            s.send_to(&[i as u8; 64], (ip(B4), 9)).unwrap();
        }
    })
    .unwrap();
    // Everything the ring kept is in the file within the deadline; what it dropped never is.
    let _ = poll_until(
        "the capture to hold the burst",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || Ok((udp_frames(&file) >= BURST).then_some(())),
    );
    let captured = cap.finish().unwrap();
    assert_eq!(
        udp_frames(&captured.file),
        BURST,
        "frames of the burst in the capture"
    );
    assert_eq!(captured.dropped, Some(0), "tcpdump's own count");
}
