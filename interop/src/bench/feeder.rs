//! The feeder: our raw speaker that connects to the daemon under test, reaches Established,
//! and writes the pre-encoded feed as fast as the socket takes it. What the daemon sends
//! back is read and dropped by a second thread, so the daemon never blocks on us.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::speaker::{self, Identity, KEEPALIVE_EVERY};
use crate::netns::Netns;

/// A running feeder.
#[derive(Debug)]
pub struct Feeder {
    stop: Arc<AtomicBool>,
    established: mpsc::Receiver<anyhow::Result<Instant>>,
    thread: Option<JoinHandle<anyhow::Result<Option<Instant>>>>,
}

impl Feeder {
    /// Connects from `ns` to `remote` (retrying until `connect_timeout`) and, once
    /// Established, writes `feed`; then keeps the session up with KEEPALIVEs until stopped.
    pub fn start(
        ns: &Netns,
        remote: SocketAddr,
        id: Identity,
        feed: Arc<Vec<u8>>,
        connect_timeout: Duration,
    ) -> anyhow::Result<Feeder> {
        Feeder::start_with_keepalive(ns, remote, id, feed, connect_timeout, KEEPALIVE_EVERY)
    }

    /// Like [`Feeder::start`], sending a KEEPALIVE every `keepalive` once the feed is
    /// written (RFC 4271 section 4.4: at most one a second).
    pub fn start_with_keepalive(
        ns: &Netns,
        remote: SocketAddr,
        id: Identity,
        feed: Arc<Vec<u8>>,
        connect_timeout: Duration,
        keepalive: Duration,
    ) -> anyhow::Result<Feeder> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let ns = ns.clone();
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-feeder".into())
            .spawn(move || {
                let stream = ns
                    .enter(|| speaker::connect(remote, connect_timeout))
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r);
                let mut s = match stream {
                    Ok(s) => s,
                    Err(e) => {
                        let msg = format!("{e:#}");
                        let _ = tx.send(Err(e));
                        bail!("{msg}");
                    }
                };
                let est = match speaker::handshake(&mut s, id, Duration::from_secs(30)) {
                    Ok(t) => t,
                    Err(e) => {
                        let msg = format!("{e:#}");
                        let _ = tx.send(Err(e));
                        bail!("{msg}");
                    }
                };
                let _ = tx.send(Ok(est));
                run(s, &feed, &st, keepalive)
            })
            .context("starting the feeder thread")?;
        Ok(Feeder {
            stop,
            established: rx,
            thread: Some(thread),
        })
    }

    /// Waits up to `timeout` for the session to become Established; returns that instant.
    pub fn wait_established(&self, timeout: Duration) -> anyhow::Result<Instant> {
        match self.established.recv_timeout(timeout) {
            Ok(r) => r.context("feeder session"),
            Err(_) => bail!("the feeder session was not Established within {timeout:?}"),
        }
    }

    /// Stops the feeder; returns when it finished writing the feed (None if it never did).
    pub fn stop(&mut self) -> anyhow::Result<Option<Instant>> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the feeder thread panicked"))?,
            None => Ok(None),
        }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn run(
    mut s: TcpStream,
    feed: &[u8],
    stop: &AtomicBool,
    keepalive: Duration,
) -> anyhow::Result<Option<Instant>> {
    let mut drain = s.try_clone().context("cloning the feeder socket")?;
    drain.set_read_timeout(Some(Duration::from_millis(200)))?;
    let drained = Arc::new(AtomicBool::new(false));
    let done = drained.clone();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !done.load(Ordering::Relaxed) {
                match drain.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        let r = write_feed(&mut s, feed, stop, keepalive);
        drained.store(true, Ordering::SeqCst);
        let _ = s.shutdown(std::net::Shutdown::Both);
        r
    })
}

fn write_feed(
    s: &mut TcpStream,
    feed: &[u8],
    stop: &AtomicBool,
    keepalive: Duration,
) -> anyhow::Result<Option<Instant>> {
    s.set_write_timeout(Some(Duration::from_millis(200)))?;
    let mut off = 0;
    while off < feed.len() {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match s.write(&feed[off..]) {
            Ok(0) => bail!("the daemon closed the feeder session"),
            Ok(n) => off += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("writing the feed"),
        }
    }
    let written = Instant::now();
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if last.elapsed() >= keepalive {
            s.write_all(&speaker::keepalive())
                .context("sending a KEEPALIVE")?;
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Some(written))
}
