//! The smallest BGP speaker the benchmark needs (RFC 4271 sections 4 and 8): one OPEN with
//! 4-octet AS and IPv4 unicast, the KEEPALIVE exchange up to Established, then the caller
//! owns the stream. Blocking I/O on plain `std` sockets, so it costs next to nothing.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bgpd::wire::{
    encode_message, AfiSafi, Asn, Capability, HoldTime, Message, Open, RouterId, SessionContext,
};

use crate::poll::interrupted;

/// BGP header length (RFC 4271 section 4.1).
pub const HEADER_LEN: usize = 19;

/// The Hold Time both our speakers propose: long, so neither has to send KEEPALIVEs while it
/// is busy writing or reading a table (the daemons are configured to match).
pub const HOLD_TIME_SECS: u16 = 600;

/// How often our speakers send a KEEPALIVE (well within any negotiated Hold Time of 60 s
/// or more).
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(20);

/// Identity of one of our speakers.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// Our AS.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
}

/// The 19 octets of a KEEPALIVE (RFC 4271 section 4.4).
pub fn keepalive() -> [u8; HEADER_LEN] {
    let mut k = [0xff; HEADER_LEN];
    k[16] = 0;
    k[17] = HEADER_LEN as u8;
    k[18] = 4;
    k
}

fn open_bytes(id: Identity) -> anyhow::Result<Vec<u8>> {
    let hold = HoldTime::new(HOLD_TIME_SECS).context("hold time")?;
    let open = Open::new(
        Asn(id.asn),
        hold,
        RouterId(id.router_id),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::FourOctetAs(Asn(id.asn)),
        ],
    );
    Ok(encode_message(
        &Message::Open(open),
        &SessionContext::new(),
    )?)
}

/// Reads one whole message (header included) from `s` into a new vector, waiting up to
/// `deadline`. `s` must have a read timeout set so Ctrl-C and the deadline are noticed.
fn read_message(s: &mut TcpStream, deadline: Instant) -> anyhow::Result<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    read_exact_until(s, &mut header, deadline)?;
    if header[..16] != [0xff; 16] {
        bail!("the peer sent a message without the marker");
    }
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    if len < HEADER_LEN {
        bail!("the peer sent a message of length {len}");
    }
    let mut msg = header.to_vec();
    msg.resize(len, 0);
    read_exact_until(s, &mut msg[HEADER_LEN..], deadline)?;
    Ok(msg)
}

fn read_exact_until(
    s: &mut TcpStream,
    mut buf: &mut [u8],
    deadline: Instant,
) -> anyhow::Result<()> {
    while !buf.is_empty() {
        if interrupted() {
            bail!("interrupted");
        }
        if Instant::now() >= deadline {
            bail!("timed out waiting for the peer's message");
        }
        match s.read(buf) {
            Ok(0) => bail!("the peer closed the connection"),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading from the peer"),
        }
    }
    Ok(())
}

/// Sends our OPEN, then answers the peer's OPEN with a KEEPALIVE and waits for its
/// KEEPALIVE: returns the instant the session became Established (RFC 4271 section 8.2.2,
/// OpenConfirm + KeepAliveMsg). A NOTIFICATION or anything unexpected is an error.
pub fn handshake(s: &mut TcpStream, id: Identity, timeout: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + timeout;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.set_nodelay(true)?;
    s.write_all(&open_bytes(id)?)?;
    let mut got_open = false;
    loop {
        let m = read_message(s, deadline)?;
        match m[18] {
            1 if !got_open => {
                got_open = true;
                s.write_all(&keepalive())?;
            }
            4 if got_open => return Ok(Instant::now()),
            3 => bail!(
                "the peer sent NOTIFICATION {}/{}",
                m.get(19).copied().unwrap_or(0),
                m.get(20).copied().unwrap_or(0)
            ),
            t => bail!("unexpected message type {t} before Established"),
        }
    }
}

/// Connects to `remote` (retrying refused connections until `timeout`) from the calling
/// thread's network namespace.
pub fn connect(remote: SocketAddr, timeout: Duration) -> anyhow::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&remote, Duration::from_secs(2)) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if interrupted() {
                    bail!("interrupted");
                }
                if Instant::now() >= deadline {
                    return Err(e).with_context(|| format!("connecting to {remote}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Accepts one connection on `listener` within `timeout` (the listener is set non-blocking).
pub fn accept(listener: &TcpListener, timeout: Duration) -> anyhow::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    listener.set_nonblocking(true)?;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if interrupted() {
                    bail!("interrupted");
                }
                if Instant::now() >= deadline {
                    bail!("no BGP connection within {timeout:?}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("accepting a BGP connection"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn two_speakers_reach_established() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut s = accept(&l, Duration::from_secs(5)).unwrap();
            let id = Identity {
                asn: 64_800,
                router_id: Ipv4Addr::new(192, 0, 2, 2),
            };
            handshake(&mut s, id, Duration::from_secs(5)).unwrap()
        });
        let mut c = connect(addr, Duration::from_secs(5)).unwrap();
        let id = Identity {
            asn: 64_700,
            router_id: Ipv4Addr::new(192, 0, 2, 1),
        };
        let a = handshake(&mut c, id, Duration::from_secs(5)).unwrap();
        let b = t.join().unwrap();
        assert!(a.elapsed() < Duration::from_secs(5) && b.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn keepalive_is_a_bare_header() {
        let k = keepalive();
        assert_eq!(&k[..16], &[0xff; 16]);
        assert_eq!(&k[16..], &[0, 19, 4]);
    }
}
