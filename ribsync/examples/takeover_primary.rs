//! A throwaway "primary" for the takeover lab test: a minimal, test-only BGP speaker (not
//! the project's codec or FSM) that opens a session to a neighbour, sends KEEPALIVEs every
//! second, reads and discards what the neighbour sends, and on the stdin command `peek`
//! stops writing and prints the socket's [`ribsync::takeover::TcpRepairState`] as one JSON
//! line (`STATE {...}`), as a real primary would put it in a checkpoint. The command
//! `announce A.B.C.D/LEN` sends an UPDATE for that prefix (IPv4 sessions); `checkpoint`
//! prints the state without freezing; `stream COUNT PAUSE_AT` sends COUNT one-route
//! UPDATEs, each in two writes, stalling in the middle of message PAUSE_AT. Every message
//! is printed as `WAL <hex>` before it is written (the egress write-ahead).
//!
//! Usage: `takeover_primary LOCAL_IP PEER_IP ASN HOLD_TIME_S ROUTER_ID [MD5_KEY]`
//! Prints `ESTABLISHED` once the neighbour's OPEN and first KEEPALIVE arrived.

use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

const MARKER: [u8; 16] = [0xff; 16];
const OPEN: u8 = 1;
const UPDATE: u8 = 2;
const KEEPALIVE: u8 = 4;

/// RFC 4271 section 4.3 UPDATE announcing one IPv4 prefix: ORIGIN IGP, AS_PATH one
/// AS_SEQUENCE of `asn` (4-octet, RFC 6793 negotiated), NEXT_HOP `next_hop`.
fn update_v4(asn: u32, next_hop: Ipv4Addr, prefix: Ipv4Addr, len: u8) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0];
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]);
    attrs.extend_from_slice(&asn.to_be_bytes());
    attrs.extend_from_slice(&[0x40, 3, 4]);
    attrs.extend_from_slice(&next_hop.octets());
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.push(len);
    body.extend_from_slice(&prefix.octets()[..usize::from(len).div_ceil(8)]);
    message(UPDATE, &body)
}

/// RFC 4271 section 4.2 OPEN with Capabilities (RFC 5492): Multiprotocol (RFC 4760) for
/// the session's family and 4-octet AS numbers (RFC 6793).
fn open_message(asn: u32, hold_s: u16, router_id: Ipv4Addr, v6: bool) -> Vec<u8> {
    let mut caps = Vec::new();
    caps.extend_from_slice(&[1, 4, 0, 1, 0, 1]); // MP: IPv4 unicast
    if v6 {
        caps.extend_from_slice(&[1, 4, 0, 2, 0, 1]); // MP: IPv6 unicast
    }
    caps.extend_from_slice(&[65, 4]);
    caps.extend_from_slice(&asn.to_be_bytes());
    let mut body = vec![4u8];
    let my_as = u16::try_from(asn).unwrap_or(23456); // AS_TRANS
    body.extend_from_slice(&my_as.to_be_bytes());
    body.extend_from_slice(&hold_s.to_be_bytes());
    body.extend_from_slice(&router_id.octets());
    body.push(caps.len() as u8 + 2);
    body.push(2); // Capabilities
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    message(OPEN, &body)
}

fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = MARKER.to_vec();
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    m
}

/// Reads one whole BGP message; returns its type.
fn read_message(s: &mut TcpStream) -> Result<u8, Error> {
    let mut hdr = [0u8; 19];
    s.read_exact(&mut hdr)?;
    let len = usize::from(u16::from_be_bytes([hdr[16], hdr[17]]));
    if !(19..=4096).contains(&len) {
        return Err("bad BGP message length".into());
    }
    let mut body = vec![0u8; len - 19];
    s.read_exact(&mut body)?;
    Ok(hdr[18])
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 && args.len() != 7 {
        return Err(
            "usage: takeover_primary LOCAL_IP PEER_IP ASN HOLD_TIME_S ROUTER_ID [MD5_KEY]".into(),
        );
    }
    let local: IpAddr = args[1].parse()?;
    let peer: IpAddr = args[2].parse()?;
    let asn: u32 = args[3].parse()?;
    let hold: u16 = args[4].parse()?;
    let router_id: Ipv4Addr = args[5].parse()?;

    let peer_addr = SocketAddr::new(peer, 179);
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(peer_addr),
        socket2::Type::STREAM,
        None,
    )?;
    if let Some(key) = args.get(6) {
        ribsync::takeover::set_md5_key(sock.as_fd(), peer, key.as_bytes())?;
    }
    sock.bind(&SocketAddr::new(local, 0).into())?;
    sock.connect_timeout(&peer_addr.into(), Duration::from_secs(10))?;
    let stream: TcpStream = sock.into();
    stream.set_nodelay(true)?;
    let writer = Arc::new(Mutex::new(stream.try_clone()?));

    send(&writer, &open_message(asn, hold, router_id, peer.is_ipv6()))?;
    let mut reader = stream.try_clone()?;
    if read_message(&mut reader)? != OPEN {
        return Err("expected OPEN".into());
    }
    send(&writer, &message(KEEPALIVE, &[]))?;
    if read_message(&mut reader)? != KEEPALIVE {
        return Err("expected KEEPALIVE".into());
    }
    println!("ESTABLISHED");

    // Read and discard everything from now on.
    std::thread::spawn(move || while read_message(&mut reader).is_ok() {});
    let w = writer.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if send(&w, &message(KEEPALIVE, &[])).is_err() {
            return;
        }
    });

    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["announce", prefix] => {
                let (addr, len) = prefix.split_once('/').ok_or("announce A.B.C.D/LEN")?;
                let IpAddr::V4(next_hop) = local else {
                    return Err("announce needs an IPv4 session".into());
                };
                send(
                    &writer,
                    &update_v4(asn, next_hop, addr.parse()?, len.parse()?),
                )?;
                println!("ANNOUNCED");
            }
            ["stream", count, pause_at] => {
                let IpAddr::V4(next_hop) = local else {
                    return Err("stream needs an IPv4 session".into());
                };
                let (count, pause_at): (u32, u32) = (count.parse()?, pause_at.parse()?);
                let w = writer.clone();
                std::thread::spawn(move || stream_updates(&w, asn, next_hop, count, pause_at));
            }
            ["checkpoint"] => {
                // Under the writer lock: no write interleaves with the peek, and every
                // WAL line printed after STATE is a byte written after the checkpoint.
                let guard = writer.lock().map_err(|_| "lock")?;
                let state = ribsync::takeover::peek_live_socket(guard.as_fd())?;
                println!("STATE {}", serde_json::to_string(&state)?);
            }
            ["peek"] => {
                // Freeze: hold the writer lock for good, so nothing is written during or
                // after the peek; the state then describes the socket until the box dies.
                let guard = writer.lock().map_err(|_| "lock")?;
                let state = ribsync::takeover::peek_live_socket(guard.as_fd())?;
                println!("STATE {}", serde_json::to_string(&state)?);
                std::mem::forget(guard);
            }
            _ => return Err(format!("unknown command {line:?}").into()),
        }
    }
    Ok(())
}

/// The egress write-ahead: every message is printed (`WAL <hex>`, line-buffered, so it
/// leaves the process before the socket write starts) and then written.
fn send(writer: &Mutex<TcpStream>, msg: &[u8]) -> Result<(), Error> {
    let mut s = writer.lock().map_err(|_| "lock")?;
    println!("WAL {}", hex::encode(msg));
    s.write_all(msg)?;
    Ok(())
}

/// Host routes 198.51.100.0/32 upward, then 203.0.113.0/32 upward: prefix number `i`.
fn host_route(i: u32) -> Ipv4Addr {
    if i < 256 {
        Ipv4Addr::new(198, 51, 100, i as u8)
    } else {
        Ipv4Addr::new(203, 0, 113, (i - 256) as u8)
    }
}

/// Sends `count` UPDATEs, one host route each, every message in two halves; after the
/// first half of message `pause_at` it prints `HALF <n>` and stalls 5 s, so the box can
/// die in the middle of an UPDATE.
fn stream_updates(
    writer: &Mutex<TcpStream>,
    asn: u32,
    next_hop: Ipv4Addr,
    count: u32,
    pause_at: u32,
) {
    for i in 0..count.min(512) {
        let msg = update_v4(asn, next_hop, host_route(i), 32);
        let Ok(mut s) = writer.lock() else { return };
        println!("WAL {}", hex::encode(&msg));
        let (a, b) = msg.split_at(msg.len() / 2);
        if s.write_all(a).is_err() {
            return;
        }
        if i == pause_at {
            println!("HALF {i}");
            std::thread::sleep(Duration::from_secs(5));
        }
        if s.write_all(b).is_err() {
            return;
        }
        drop(s);
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("STREAMED");
}
