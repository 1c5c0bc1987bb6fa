//! A raw BGP test peer: a TCP connection opened inside a lab namespace that sends exactly
//! the bytes a test gives it and reads the other side's messages, framed by the BGP header
//! (RFC 4271 section 4.1), recording every NOTIFICATION received.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Marker (16 octets of 0xff)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! It interprets nothing beyond the header: tests build their OPEN, UPDATE or malformed
//! messages as hex, so the peer can send what a correct speaker never would.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::netns::Netns;
use crate::poll::interrupted;

/// BGP header length: marker, length, type (RFC 4271 section 4.1).
pub const HEADER_LEN: usize = 19;
/// Largest message length any framing accepts (RFC 8654 extended messages).
pub const MAX_MESSAGE_LEN: usize = 65535;

/// BGP message types (RFC 4271 section 4.1, RFC 2918).
pub mod msg_type {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 5;
}

/// The 19 bytes of a KEEPALIVE (RFC 4271 section 4.4: a header only).
pub fn keepalive_bytes() -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&[0x00, 0x13, msg_type::KEEPALIVE]);
    v
}

/// Decodes hex with any whitespace in it (`"ffff ffff\n0013 04"`).
pub fn from_hex(text: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(compact).map_err(|e| LabError::parse("hex message", e))
}

/// A raw peer's connection.
#[derive(Debug)]
pub struct RawPeer {
    stream: TcpStream,
    buf: Vec<u8>,
    received: Vec<Vec<u8>>,
    notifications: Vec<Vec<u8>>,
    eof: bool,
}

/// A listening raw peer (for a neighbour that connects to us).
#[derive(Debug)]
pub struct RawListener {
    listener: TcpListener,
}

impl RawListener {
    /// Listens on `local` inside `ns`.
    pub fn bind(ns: &Netns, local: SocketAddr) -> Result<RawListener> {
        let listener =
            ns.enter(|| TcpListener::bind(local))?
                .map_err(|source| LabError::Namespace {
                    namespace: ns.name().to_string(),
                    error: source,
                })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| LabError::RawPeer(e.to_string()))?;
        Ok(RawListener { listener })
    }

    /// Waits up to `timeout` for one connection.
    pub fn accept(&self, timeout: Duration) -> Result<RawPeer> {
        let start = Instant::now();
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream
                        .set_nonblocking(false)
                        .map_err(|e| LabError::RawPeer(e.to_string()))?;
                    return Ok(RawPeer::from_stream(stream));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(LabError::RawPeer(format!("accept: {e}"))),
            }
            if interrupted() {
                return Err(LabError::Interrupted);
            }
            if start.elapsed() >= timeout {
                return Err(LabError::Timeout {
                    what: "a connection to the raw peer".into(),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl RawPeer {
    fn from_stream(stream: TcpStream) -> RawPeer {
        let _ = stream.set_nodelay(true);
        RawPeer {
            stream,
            buf: Vec::new(),
            received: Vec::new(),
            notifications: Vec::new(),
            eof: false,
        }
    }

    /// Connects from inside `ns` to `remote`, retrying (the neighbour may not listen yet)
    /// until `timeout`.
    pub fn connect(ns: &Netns, remote: SocketAddr, timeout: Duration) -> Result<RawPeer> {
        let start = Instant::now();
        loop {
            let attempt =
                ns.enter(|| TcpStream::connect_timeout(&remote, Duration::from_secs(1)))?;
            match attempt {
                Ok(stream) => return Ok(RawPeer::from_stream(stream)),
                Err(e) => {
                    if interrupted() {
                        return Err(LabError::Interrupted);
                    }
                    if start.elapsed() >= timeout {
                        return Err(LabError::Timeout {
                            what: format!("raw peer connect to {remote} (last error: {e})"),
                            waited: start.elapsed(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// The connection's local address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.stream
            .local_addr()
            .map_err(|e| LabError::RawPeer(e.to_string()))
    }

    /// Sends `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream
            .write_all(bytes)
            .map_err(|e| LabError::RawPeer(format!("send: {e}")))
    }

    /// Sends the bytes written as hex (whitespace ignored).
    pub fn send_hex(&mut self, text: &str) -> Result<()> {
        let bytes = from_hex(text)?;
        self.send(&bytes)
    }

    /// Sends a KEEPALIVE.
    pub fn send_keepalive(&mut self) -> Result<()> {
        self.send(&keepalive_bytes())
    }

    /// Reads the next whole message (header included) within `timeout`. Ok(None) when the
    /// other side closed the connection. A bad marker or length is an error (the framing is
    /// lost), not a panic.
    pub fn read_message(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(msg) = self.take_frame()? {
                if msg[18] == msg_type::NOTIFICATION {
                    self.notifications.push(msg.clone());
                }
                self.received.push(msg.clone());
                return Ok(Some(msg));
            }
            if self.eof {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LabError::Timeout {
                    what: "a BGP message from the neighbour".into(),
                    waited: timeout,
                });
            }
            let wait = (deadline - now)
                .min(Duration::from_millis(200))
                .max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(wait))
                .map_err(|e| LabError::RawPeer(e.to_string()))?;
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if interrupted() {
                        return Err(LabError::Interrupted);
                    }
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => self.eof = true,
                Err(e) => return Err(LabError::RawPeer(format!("read: {e}"))),
            }
        }
    }

    /// Reads messages until one of type `ty` arrives (earlier ones are kept in
    /// [`RawPeer::received`]); an error if the connection closes or `timeout` passes first.
    pub fn expect_type(&mut self, ty: u8, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_message(left)? {
                Some(m) if m[18] == ty => return Ok(m),
                Some(m) if m[18] == msg_type::NOTIFICATION => {
                    return Err(LabError::RawPeer(format!(
                        "NOTIFICATION while waiting for type {ty}: {}",
                        hex::encode(&m)
                    )))
                }
                Some(_) => {}
                None => {
                    return Err(LabError::RawPeer(format!(
                        "connection closed while waiting for type {ty}"
                    )))
                }
            }
        }
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> &[Vec<u8>] {
        &self.received
    }

    /// Every NOTIFICATION received so far (whole messages, header included).
    pub fn notifications(&self) -> &[Vec<u8>] {
        &self.notifications
    }

    /// True once the other side closed the connection.
    pub fn closed(&self) -> bool {
        self.eof
    }

    /// Splits one whole message off the front of the buffer, if there is one.
    fn take_frame(&mut self) -> Result<Option<Vec<u8>>> {
        split_frame(&mut self.buf)
    }
}

/// Takes one whole BGP message off the front of `buf`, checking marker and length
/// (RFC 4271 section 4.1: length at least 19, here at most 65535).
pub fn split_frame(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[..16].iter().any(|b| *b != 0xff) {
        return Err(LabError::RawPeer(format!(
            "bad marker: {}",
            hex::encode(&buf[..16])
        )));
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(LabError::RawPeer(format!("bad message length {len}")));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let rest = buf.split_off(len);
    Ok(Some(std::mem::replace(buf, rest)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_at_their_length() {
        let mut buf = keepalive_bytes();
        buf.extend_from_slice(&keepalive_bytes()[..10]);
        let first = split_frame(&mut buf).unwrap().unwrap();
        assert_eq!(first, keepalive_bytes());
        assert_eq!(buf.len(), 10);
        assert_eq!(split_frame(&mut buf).unwrap(), None);
    }

    #[test]
    fn bad_marker_and_length_are_errors() {
        let mut bad = keepalive_bytes();
        bad[3] = 0;
        assert!(split_frame(&mut bad).is_err());
        let mut short = keepalive_bytes();
        short[17] = 18;
        assert!(split_frame(&mut short).is_err());
    }

    #[test]
    fn hex_ignores_whitespace() {
        assert_eq!(
            from_hex("ff ff\n00 13\t04").unwrap(),
            vec![0xff, 0xff, 0, 0x13, 4]
        );
        assert!(from_hex("f").is_err());
    }
}
