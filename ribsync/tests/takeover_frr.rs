//! Lab test, the real thing: an FRR neighbour holds a BGP session with a primary (the
//! `takeover_primary` example, a child process); the primary's TCP state is peeked into a
//! checkpoint, then its box dies (switch port down, process killed); the standby rebuilds
//! the socket from the checkpoint plus what its mirror port saw since, takes the address
//! over (GARP / unsolicited NA), sends KEEPALIVEs, and FRR keeps the session Established
//! with "Connections established 1; dropped 0" for longer than its hold time, with no
//! SYN/FIN/RST on its link. Needs root and FRR; skipped otherwise.

#![allow(clippy::unwrap_used)]

mod lab;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lab::{in_ns, wait_for, Capture, Lab};
use ribsync::takeover::{
    self, AddressControl, Announcer, RebuildOverrides, SeqNum, TcpRepairState,
};
use ribsync::tap::{Direction, TapFrame, TcpFlags};

const BGPD: &str = "/usr/lib/frr/bgpd";
const VTYSH: &str = "/usr/bin/vtysh";
const PEER_AS: u32 = 64500;
const OUR_AS: u32 = 64501;
const HOLD_S: u64 = 9;
const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

/// The example binary, built by `cargo test` (or `cargo build --example takeover_primary`).
fn primary_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe
        .parent()?
        .parent()?
        .join("examples")
        .join("takeover_primary");
    p.exists().then_some(p)
}

/// A scratch directory for FRR's config, vty socket and log; removed on drop.
struct FrrDir(PathBuf);

impl Drop for FrrDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn frr_config(peer_ip: IpAddr, prim_ip: IpAddr, md5: Option<&str>) -> String {
    let mut c = format!(
        "frr defaults traditional\nhostname ustk-peer\n!\nrouter bgp {PEER_AS}\n bgp router-id {}\n \
         no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor {prim_ip} remote-as {OUR_AS}\n \
         neighbor {prim_ip} timers 3 {HOLD_S}\n neighbor {prim_ip} passive\n",
        lab::PEER_V4
    );
    if let Some(key) = md5 {
        c.push_str(&format!(" neighbor {prim_ip} password {key}\n"));
    }
    if let (IpAddr::V6(_), IpAddr::V6(_)) = (peer_ip, prim_ip) {
        c.push_str(&format!(
            " address-family ipv6 unicast\n  neighbor {prim_ip} activate\n exit-address-family\n"
        ));
    }
    c.push_str("!\n");
    c
}

/// `show bgp neighbors ADDR json` for one neighbour.
fn frr_neighbour(dir: &Path, addr: IpAddr) -> Option<serde_json::Value> {
    let out = std::process::Command::new(VTYSH)
        .arg("--vty_socket")
        .arg(dir)
        .arg("-c")
        .arg(format!("show bgp neighbors {addr} json"))
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get(addr.to_string()).cloned()
}

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    state: String,
    established: u64,
    dropped: u64,
    up_ms: u64,
    keepalives_in: u64,
    notifications: u64,
    /// Accepted IPv4 unicast prefixes from this neighbour.
    prefixes_v4: u64,
}

fn seen(dir: &Path, addr: IpAddr) -> Option<Seen> {
    let n = frr_neighbour(dir, addr)?;
    let num = |k: &str| n.get(k).and_then(|v| v.as_u64());
    let stats = n.get("messageStats")?;
    let stat = |k: &str| stats.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    Some(Seen {
        state: n.get("bgpState")?.as_str()?.to_string(),
        established: num("connectionsEstablished")?,
        dropped: num("connectionsDropped")?,
        up_ms: num("bgpTimerUpMsec").unwrap_or(0),
        keepalives_in: stat("keepalivesRecv"),
        notifications: stat("notificationsSent") + stat("notificationsRecv"),
        prefixes_v4: n
            .pointer("/addressFamilyInfo/ipv4Unicast/acceptedPrefixCounter")
            .and_then(|v| v.as_u64())
            .unwrap_or(0),
    })
}

/// What the mirror saw after the checkpoint: the latest ACKs both ways, the primary's
/// latest TSval, and the neighbour's MAC.
struct MirrorView {
    peer_ack: Option<SeqNum>,
    primary_ack: Option<SeqNum>,
    primary_tsval: Option<u32>,
    peer_mac: Option<[u8; 6]>,
}

fn mirror_view(frames: &[TapFrame], state: &TcpRepairState) -> MirrorView {
    let mut v = MirrorView {
        peer_ack: None,
        primary_ack: None,
        primary_tsval: None,
        peer_mac: None,
    };
    for f in frames {
        let Some(s) = f.tcp() else { continue };
        if !s.flags.has(TcpFlags::ACK) {
            continue;
        }
        if s.src == state.remote && s.dst == state.local {
            v.peer_ack = Some(SeqNum(s.ack));
            v.peer_mac = Some(f.data[6..12].try_into().unwrap());
        } else if s.src == state.local && s.dst == state.remote {
            v.primary_ack = Some(SeqNum(s.ack));
            if let Some((tsval, _)) = s.timestamps {
                v.primary_tsval = Some(tsval);
            }
        }
    }
    v
}

/// RFC 4271 section 4.3 UPDATE for one IPv4 prefix: ORIGIN IGP, AS_PATH (4-octet)
/// [OUR_AS], NEXT_HOP `next_hop` (test-only encoding, independent of the project's codec).
fn update_v4(next_hop: Ipv4Addr, prefix: Ipv4Addr, len: u8) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1];
    attrs.extend_from_slice(&OUR_AS.to_be_bytes());
    attrs.extend_from_slice(&[0x40, 3, 4]);
    attrs.extend_from_slice(&next_hop.octets());
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.push(len);
    body.extend_from_slice(&prefix.octets()[..usize::from(len).div_ceil(8)]);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&body);
    m
}

/// Host route number `i` of the primary's UPDATE stream (as the example numbers them).
fn host_route(i: u32) -> Ipv4Addr {
    if i < 256 {
        Ipv4Addr::new(198, 51, 100, i as u8)
    } else {
        Ipv4Addr::new(203, 0, 113, (i - 256) as u8)
    }
}

/// Waits for the next line of the primary starting with `prefix`; `WAL <hex>` lines on
/// the way are appended to `wal` (a `STATE` line restarts it: the write-ahead after the
/// checkpoint is what counts).
fn expect_line(rx: &mpsc::Receiver<String>, prefix: &str, wal: &mut Vec<u8>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("waiting for {prefix}: {e}"));
        if let Some(h) = line.strip_prefix("WAL ") {
            wal.extend_from_slice(&hex::decode(h).unwrap());
            continue;
        }
        if line.starts_with("STATE ") {
            wal.clear();
        }
        if line.starts_with(prefix) {
            return line;
        }
    }
}

/// Offsets (from the start of `stream`) where whole BGP messages end.
fn message_ends(stream: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut off = 0;
    while off + 19 <= stream.len() {
        let len = usize::from(u16::from_be_bytes([stream[off + 16], stream[off + 17]]));
        off += len;
        ends.push(off);
    }
    ends
}

/// Length of the second half of the last message in `wal` (the example writes each
/// UPDATE as `len / 2` bytes, then the rest).
fn wal_tail_half(wal: &[u8]) -> usize {
    let ends = message_ends(wal);
    let start = ends.iter().rev().nth(1).copied().unwrap_or(0);
    let len = wal.len() - start;
    len - len / 2
}

/// How the primary dies.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    /// Idle at the checkpoint: peek with writes frozen, then the box dies.
    Quiet,
    /// Checkpoint, then a stream of UPDATEs (write-ahead logged); the box dies in the middle
    /// of UPDATE number `pause_at` of `count`.
    MidUpdate { count: u32, pause_at: u32 },
}

fn run(v6: bool, md5: Option<&str>, failure: Failure) {
    let Some(primary_bin) = primary_binary() else {
        panic!("examples/takeover_primary not built: run `cargo test -p ribsync` (builds examples) or `cargo build -p ribsync --example takeover_primary` first");
    };
    let (peer_ip, prim_ip): (IpAddr, IpAddr) = if v6 {
        (lab::PEER_V6.parse().unwrap(), lab::PRIM_V6.parse().unwrap())
    } else {
        (lab::PEER_V4.parse().unwrap(), lab::PRIM_V4.parse().unwrap())
    };
    let prefix_len = if v6 { 64 } else { 24 };
    let mut lab = Lab::new();
    let dir = FrrDir(std::env::temp_dir().join(format!("{}-frr", lab.peer)));
    std::fs::create_dir_all(&dir.0).unwrap();
    let conf = dir.0.join("bgpd.conf");
    std::fs::write(&conf, frr_config(peer_ip, prim_ip, md5)).unwrap();
    let (conf_s, dir_s) = (conf.display().to_string(), dir.0.display().to_string());
    let pid_s = dir.0.join("bgpd.pid").display().to_string();
    let log_s = format!("file:{}", dir.0.join("bgpd.log").display());
    let peer_ns = lab.peer.clone();
    lab.spawn(
        &peer_ns,
        BGPD,
        &[
            "-Z",
            "-S",
            "-n",
            "-f",
            &conf_s,
            "-i",
            &pid_s,
            "--vty_socket",
            &dir_s,
            "-P",
            "0",
            "--log",
            &log_s,
        ],
        false,
    );
    wait_for("FRR vty socket", Duration::from_secs(20), || {
        dir.0.join("bgpd.vty").exists()
    });
    wait_for("FRR answers", Duration::from_secs(20), || {
        seen(&dir.0, prim_ip).is_some()
    });

    // Captures: the neighbour's own link, and the standby's mirror port.
    // (The wire capture reads with recvmsg, the mirror through the TPACKET_V3 ring: both
    // tap paths are exercised.)
    let wire = Capture::start_with(&lab.peer, "eth0", vec![prim_ip], false, false);
    let mirror = Capture::start(&lab.stby, "mon0", vec![prim_ip], true);
    // The standby prepares ahead of time.
    let (announcer, mut addrs, stby_ifindex) = in_ns(&lab.stby, || {
        (
            Announcer::open("eth0").unwrap(),
            AddressControl::open().unwrap(),
            takeover::interface_index("eth0").unwrap(),
        )
    });

    // The primary.
    let prim_ns = lab.prim.clone();
    let mut args = vec![
        prim_ip.to_string(),
        peer_ip.to_string(),
        OUR_AS.to_string(),
        HOLD_S.to_string(),
        lab::PRIM_V4.to_string(),
    ];
    args.extend(md5.map(str::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = lab.spawn(&prim_ns, &primary_bin.display().to_string(), &args, true);
    let primary_pid = child.id();
    let mut primary_in = child.stdin.take().unwrap();
    let primary_out = BufReader::new(child.stdout.take().unwrap());
    let (line_tx, line_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in primary_out.lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut wal = Vec::new();
    expect_line(&line_rx, "ESTABLISHED", &mut wal);
    wait_for("FRR Established", Duration::from_secs(10), || {
        seen(&dir.0, prim_ip).is_some_and(|s| s.state == "Established")
    });
    if !v6 {
        primary_in.write_all(b"announce 198.51.100.0/24\n").unwrap();
        expect_line(&line_rx, "ANNOUNCED", &mut wal);
        wait_for(
            "FRR accepted the primary's route",
            Duration::from_secs(10),
            || seen(&dir.0, prim_ip).is_some_and(|s| s.prefixes_v4 == 1),
        );
    }
    // Let KEEPALIVEs flow both ways for a while.
    std::thread::sleep(Duration::from_secs(4));

    // Checkpoint: the primary peeks its socket (frozen, or carrying on).
    let command: &[u8] = match failure {
        Failure::Quiet => b"peek\n",
        Failure::MidUpdate { .. } => b"checkpoint\n",
    };
    primary_in.write_all(command).unwrap();
    let line = expect_line(&line_rx, "STATE ", &mut wal);
    let json = line.strip_prefix("STATE ").expect("STATE line");
    let state: TcpRepairState = serde_json::from_str(json).unwrap();
    assert_eq!(state.remote, SocketAddr::new(peer_ip, 179));
    assert_eq!(state.local.ip(), prim_ip);
    println!("checkpointed TCP state: {json}");
    if let Failure::MidUpdate { count, pause_at } = failure {
        primary_in
            .write_all(format!("stream {count} {pause_at}\n").as_bytes())
            .unwrap();
        expect_line(&line_rx, &format!("HALF {pause_at}"), &mut wal);
        // The first half of the UPDATE is on the wire and the neighbour acknowledged it.
        let first_half_end = state.send_queue.len() + wal.len() - wal_tail_half(&wal);
        wait_for("first half acknowledged", Duration::from_secs(5), || {
            mirror_view(&mirror.frames(), &state)
                .peer_ack
                .is_some_and(|a| a.distance_from(state.snd_una) as usize == first_half_end)
        });
    }

    // The primary's box dies: port down first, then the process.
    let before = seen(&dir.0, prim_ip).unwrap();
    lab.cut_primary();
    let t_cut = lab::unix_now();
    let cut_at = Instant::now();
    lab.kill(primary_pid);
    // Everything the primary wrote ahead before it died.
    while let Ok(line) = line_rx.recv_timeout(Duration::from_secs(5)) {
        if let Some(h) = line.strip_prefix("WAL ") {
            wal.extend_from_slice(&hex::decode(h).unwrap());
        }
    }

    // Takeover: checkpoint + mirror (+ write-ahead).
    let view = mirror_view(&mirror.frames(), &state);
    if let Failure::MidUpdate { .. } = failure {
        // FRR sent KEEPALIVEs after the checkpoint and the primary acknowledged them: the
        // receive side must start after them (from the mirror), not at the checkpoint.
        assert!(
            view.primary_ack.is_some_and(|a| a.is_after(state.rcv_nxt)),
            "expected neighbour bytes acknowledged after the checkpoint"
        );
    }
    let snd_una = view
        .peer_ack
        .map_or(state.snd_una, |a| state.snd_una.later(a));
    let mut unacked = None;
    let mut resume_at = 0;
    if let Failure::MidUpdate { count, pause_at } = failure {
        // The byte stream from the checkpoint's snd_una: its send queue, then the WAL.
        let full: Vec<u8> = state.send_queue.iter().chain(wal.iter()).copied().collect();
        let skip = snd_una.distance_from(state.snd_una) as usize;
        assert!(
            skip <= full.len(),
            "the neighbour acknowledged bytes never written"
        );
        let ends = message_ends(&full);
        assert_eq!(
            ends.last(),
            Some(&full.len()),
            "the write-ahead holds whole messages"
        );
        assert!(
            !ends.contains(&skip),
            "the neighbour's ACK is not inside an UPDATE: {skip} of {ends:?}"
        );
        println!(
            "mid-UPDATE: neighbour acknowledged {skip} of {} bytes written after the checkpoint; {} to resend",
            full.len(),
            full.len() - skip
        );
        unacked = Some(full[skip..].to_vec());
        resume_at = pause_at + 1;
        assert!(resume_at <= count);
    }
    let overrides = RebuildOverrides {
        rcv_nxt: view.primary_ack,
        snd_una: Some(snd_una),
        unacked,
        last_tsval_seen: view.primary_tsval,
        md5_key: md5.map(|k| k.as_bytes().to_vec()),
        ..RebuildOverrides::default()
    };
    let peer_mac = view.peer_mac.expect("the mirror saw the neighbour");
    let standby: TcpStream = in_ns(&lab.stby, || {
        let repaired = takeover::rebuild_socket(&state, &overrides).unwrap();
        addrs
            .add_address(stby_ifindex, prim_ip, prefix_len)
            .unwrap();
        addrs
            .set_neighbour(stby_ifindex, peer_ip, peer_mac)
            .unwrap();
        match prim_ip {
            IpAddr::V4(a) => announcer.gratuitous_arp(a).unwrap(),
            IpAddr::V6(a) => announcer.unsolicited_na(a).unwrap(),
        }
        let mut s = repaired.go_live().unwrap();
        s.write_all(&KEEPALIVE).unwrap();
        s
    });
    let takeover_done = cut_at.elapsed();
    if let IpAddr::V4(nh) = prim_ip {
        // The rest of the primary's stream, then a new route of the standby's own: FRR
        // must accept them on the same session.
        let mut w = standby.try_clone().unwrap();
        if let Failure::MidUpdate { count, .. } = failure {
            for i in resume_at..count {
                w.write_all(&update_v4(nh, host_route(i), 32)).unwrap();
            }
        }
        w.write_all(&update_v4(nh, Ipv4Addr::new(203, 0, 113, 0), 24))
            .unwrap();
    }

    // The standby carries on: KEEPALIVE every second, read and discard.
    let stop = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(AtomicBool::new(false));
    let mut w = standby.try_clone().unwrap();
    let (s1, b1) = (stop.clone(), broken.clone());
    let ka = std::thread::spawn(move || {
        while !s1.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(1));
            if w.write_all(&KEEPALIVE).is_err() {
                b1.store(true, Ordering::SeqCst);
                return;
            }
        }
    });
    // The standby's receive side starts at the primary's last ACK (a message boundary):
    // what FRR sends from then on must parse as whole KEEPALIVEs.
    let mut r = standby.try_clone().unwrap();
    let b2 = broken.clone();
    let keepalives_from_frr = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let misframed = Arc::new(AtomicBool::new(false));
    let (k2, m2) = (keepalives_from_frr.clone(), misframed.clone());
    let rd = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => {
                    b2.store(true, Ordering::SeqCst);
                    return;
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            while pending.len() >= 19 {
                let len = usize::from(u16::from_be_bytes([pending[16], pending[17]]));
                if pending[..16] != [0xff; 16] || len < 19 {
                    m2.store(true, Ordering::SeqCst);
                    return;
                }
                if pending.len() < len {
                    break;
                }
                if pending[18] == 4 && len == 19 {
                    k2.fetch_add(1, Ordering::SeqCst);
                }
                pending.drain(..len);
            }
        }
    });

    // Longer than the hold time: FRR must still be in the same session.
    let watch_until = Instant::now() + Duration::from_secs(HOLD_S + 3);
    let mut last = before.clone();
    while Instant::now() < watch_until {
        std::thread::sleep(Duration::from_millis(500));
        let now = seen(&dir.0, prim_ip).expect("FRR answers");
        assert_eq!(now.state, "Established", "FRR left Established: {now:?}");
        assert_eq!(
            (now.established, now.dropped),
            (1, 0),
            "FRR saw a new connection: {now:?}"
        );
        assert!(
            now.up_ms >= last.up_ms,
            "uptime went back: {last:?} -> {now:?}"
        );
        assert_eq!(now.notifications, 0);
        assert!(!broken.load(Ordering::SeqCst), "standby socket broke");
        assert!(
            !misframed.load(Ordering::SeqCst),
            "the standby's receive stream is not at a message boundary"
        );
        last = now;
    }
    assert!(
        last.up_ms >= before.up_ms + (HOLD_S + 2) * 1000,
        "uptime not continued: {before:?} -> {last:?}"
    );
    if !v6 {
        let streamed = match failure {
            Failure::Quiet => 0,
            Failure::MidUpdate { count, pause_at } => {
                assert_eq!(before.prefixes_v4, 1 + u64::from(pause_at));
                u64::from(count)
            }
        };
        assert_eq!(
            last.prefixes_v4,
            2 + streamed,
            "the primary's routes kept, the cut-off UPDATE completed, the standby's accepted"
        );
    }
    // FRR sends a KEEPALIVE every hold time / 3 = 3 s; 12 s watched.
    let from_frr = keepalives_from_frr.load(Ordering::SeqCst);
    assert!(
        from_frr >= 3,
        "the standby received {from_frr} KEEPALIVEs from FRR"
    );
    assert!(
        last.keepalives_in >= before.keepalives_in + HOLD_S,
        "FRR did not receive the standby's KEEPALIVEs: {before:?} -> {last:?}"
    );

    // What the neighbour saw on its link.
    let frames = wire.frames();
    assert_eq!(
        (wire.drops(), mirror.drops()),
        (0, 0),
        "a tap dropped frames"
    );
    let segs: Vec<_> = frames
        .iter()
        .filter_map(|f| f.tcp().map(|s| (f, s)))
        .collect();
    let syns = segs
        .iter()
        .filter(|(_, s)| s.flags.has(TcpFlags::SYN))
        .count();
    assert_eq!(syns, 2, "only the original SYN and SYN-ACK");
    assert!(
        !segs
            .iter()
            .any(|(_, s)| s.flags.0 & (TcpFlags::FIN | TcpFlags::RST) != 0),
        "FIN or RST on the neighbour's link"
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
        "FRR takeover ({}): link cut -> first standby segment at the neighbour: {ms:.2} ms \
         (takeover call sequence incl. process kill {:.2} ms); FRR after {} s: {last:?}",
        if v6 { "IPv6" } else { "IPv4" },
        takeover_done.as_secs_f64() * 1000.0,
        HOLD_S + 3
    );

    stop.store(true, Ordering::SeqCst);
    let _ = standby.shutdown(std::net::Shutdown::Both);
    let _ = ka.join();
    let _ = rd.join();
}

fn frr_available(test: &str) -> bool {
    if !lab::require_root(test) {
        return false;
    }
    let ok = Path::new(BGPD).exists() && Path::new(VTYSH).exists();
    if !ok {
        eprintln!("SKIPPED {test}: FRR not installed ({BGPD}, {VTYSH})");
    }
    ok
}

#[test]
fn frr_session_survives_takeover_v4() {
    if frr_available("frr_session_survives_takeover_v4") {
        run(false, None, Failure::Quiet);
    }
}

#[test]
fn frr_session_survives_takeover_v6() {
    if frr_available("frr_session_survives_takeover_v6") {
        run(true, None, Failure::Quiet);
    }
}

#[test]
fn frr_md5_session_survives_takeover_v4() {
    if frr_available("frr_md5_session_survives_takeover_v4") {
        run(false, Some("ustk-md5-secret"), Failure::Quiet);
    }
}

#[test]
fn frr_session_survives_takeover_mid_update_v4() {
    if frr_available("frr_session_survives_takeover_mid_update_v4") {
        run(
            false,
            None,
            Failure::MidUpdate {
                count: 300,
                pause_at: 150,
            },
        );
    }
}
