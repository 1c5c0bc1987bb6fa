//! Cheap neighbour sessions for the takeover benchmark: one thread per session, each a
//! passive BGP speaker listening on its own address in the peers' namespace. The router
//! connects to it; it answers the OPEN (RFC 4271 section 8.2.2), then only reads what the
//! router sends and sends a KEEPALIVE every [`KEEPALIVE_EVERY`] (as FRR does with the lab's
//! `timers 3 9`; the Hold Time negotiated is the router's 90 s). It records whether the
//! session stayed up (no NOTIFICATION, no close) and, once marked, when it read its first
//! message after the mark (a cross-check of the capture, at application level).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use crate::bench::speaker::{self, Identity};
use crate::netns::Netns;
use crate::rawpeer::{msg_type, split_frame};

/// How often each peer sends a KEEPALIVE (RFC 4271 section 4.4: not more often than once a
/// second).
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(3);

/// What one session's thread knows, shared with the bench.
#[derive(Debug)]
pub struct PeerState {
    /// The peer's own address (the router's neighbour address).
    pub address: Ipv4Addr,
    /// The session reached Established.
    pub established: AtomicBool,
    /// Messages read from the router.
    pub messages: AtomicU64,
    /// KEEPALIVEs sent to the router.
    pub keepalives_sent: AtomicU64,
    /// Messages read after the mark.
    pub after_mark: AtomicU64,
    /// When the first message after the mark was read.
    pub first_after_mark: Mutex<Option<SystemTime>>,
    /// Why the session ended (a NOTIFICATION, a close, an I/O error), if it did.
    pub ended: Mutex<Option<String>>,
}

impl PeerState {
    fn new(address: Ipv4Addr) -> Self {
        PeerState {
            address,
            established: AtomicBool::new(false),
            messages: AtomicU64::new(0),
            keepalives_sent: AtomicU64::new(0),
            after_mark: AtomicU64::new(0),
            first_after_mark: Mutex::new(None),
            ended: Mutex::new(None),
        }
    }

    /// Why the session ended, if it did.
    pub fn ended(&self) -> Option<String> {
        self.ended.lock().ok().and_then(|g| g.clone())
    }

    /// When the first message after the mark was read.
    pub fn first_after_mark(&self) -> Option<SystemTime> {
        self.first_after_mark.lock().ok().and_then(|g| *g)
    }

    fn end(&self, why: String) {
        if let Ok(mut g) = self.ended.lock() {
            g.get_or_insert(why);
        }
    }
}

/// The running sessions.
#[derive(Debug)]
pub struct KeepalivePeers {
    stop: Arc<AtomicBool>,
    mark: Arc<AtomicBool>,
    /// Per session, in address order.
    pub states: Vec<Arc<PeerState>>,
    threads: Vec<JoinHandle<()>>,
}

impl KeepalivePeers {
    /// Listens on `addr:179` in `ns` for each of `peers` (address, AS) and serves one
    /// session on each; `router` is the router's AS as the peers' OPEN does not check it.
    ///
    /// # Errors
    /// When a listener cannot be bound (the address is missing in `ns`).
    pub fn start(ns: &Netns, peers: &[(Ipv4Addr, u32)]) -> anyhow::Result<KeepalivePeers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mark = Arc::new(AtomicBool::new(false));
        let mut states = Vec::new();
        let mut threads = Vec::new();
        for &(address, asn) in peers {
            let sock = SocketAddr::from((address, 179));
            let listener = ns
                .enter(|| TcpListener::bind(sock))
                .map_err(anyhow::Error::from)?
                .with_context(|| format!("listening on {sock} in {}", ns.name()))?;
            let state = Arc::new(PeerState::new(address));
            states.push(state.clone());
            let (stop, mark) = (stop.clone(), mark.clone());
            let id = Identity {
                asn,
                router_id: address,
            };
            let t = std::thread::Builder::new()
                .name(format!("peer-{address}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    if let Err(e) = serve(&listener, id, &state, &stop, &mark) {
                        if !stop.load(Ordering::SeqCst) {
                            state.end(format!("{e:#}"));
                        }
                    }
                })
                .context("starting a peer thread")?;
            threads.push(t);
        }
        Ok(KeepalivePeers {
            stop,
            mark,
            states,
            threads,
        })
    }

    /// Sessions Established so far.
    pub fn established(&self) -> usize {
        self.states
            .iter()
            .filter(|s| s.established.load(Ordering::SeqCst))
            .count()
    }

    /// The first session that ended, with why.
    pub fn first_ended(&self) -> Option<(Ipv4Addr, String)> {
        self.states
            .iter()
            .find_map(|s| s.ended().map(|w| (s.address, w)))
    }

    /// KEEPALIVEs each session has sent so far.
    pub fn keepalives_sent(&self) -> Vec<u64> {
        self.states
            .iter()
            .map(|s| s.keepalives_sent.load(Ordering::SeqCst))
            .collect()
    }

    /// From now on, every session records its first message read.
    pub fn mark(&self) {
        self.mark.store(true, Ordering::SeqCst);
    }

    /// Stops every session (sockets closed by the threads).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for KeepalivePeers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    listener: &TcpListener,
    id: Identity,
    state: &PeerState,
    stop: &AtomicBool,
    mark: &AtomicBool,
) -> anyhow::Result<()> {
    // Wait for the router's connection as long as the bench runs.
    listener.set_nonblocking(true)?;
    let mut s = loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e).context("accepting the router's connection"),
        }
    };
    s.set_nonblocking(false)?;
    speaker::handshake(&mut s, id, Duration::from_secs(60))?;
    state.established.store(true, Ordering::SeqCst);
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut last_sent = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if last_sent.elapsed() >= KEEPALIVE_EVERY {
            s.write_all(&speaker::keepalive())
                .context("sending a KEEPALIVE")?;
            state.keepalives_sent.fetch_add(1, Ordering::SeqCst);
            last_sent = Instant::now();
        }
        match s.read(&mut chunk) {
            Ok(0) => anyhow::bail!("the router closed the session"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading from the router"),
        }
        let now = SystemTime::now();
        while let Some(m) = split_frame(&mut buf)? {
            state.messages.fetch_add(1, Ordering::Relaxed);
            if mark.load(Ordering::SeqCst) && state.after_mark.fetch_add(1, Ordering::SeqCst) == 0 {
                if let Ok(mut g) = state.first_after_mark.lock() {
                    *g = Some(now);
                }
            }
            if m.get(18) == Some(&msg_type::NOTIFICATION) {
                anyhow::bail!(
                    "the router sent NOTIFICATION {}/{}",
                    m.get(19).copied().unwrap_or(0),
                    m.get(20).copied().unwrap_or(0)
                );
            }
        }
    }
    Ok(())
}
