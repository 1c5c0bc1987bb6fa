//! The passive monitor neighbour: listens, reaches Established with whoever connects, then
//! reads UPDATEs as fast as they come, counting distinct IPv4 prefixes (NLRI field, RFC 4271
//! section 4.3) and timestamping the first one and the one that completes the expected set.
//! It sends nothing but KEEPALIVEs.

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::speaker::{self, Identity, HEADER_LEN, KEEPALIVE_EVERY};
use crate::netns::Netns;

/// What the monitor saw so far (shared with the thread running it).
#[derive(Debug, Default)]
pub struct MonitorState {
    /// The distinct prefix count at which `last` is taken.
    pub expected: u64,
    /// When the session became Established.
    pub established: Mutex<Option<Instant>>,
    /// When the first prefix arrived.
    pub first: Mutex<Option<Instant>>,
    /// When the `expected`-th distinct prefix arrived.
    pub last: Mutex<Option<Instant>>,
    /// Distinct prefixes announced so far.
    pub distinct: AtomicU64,
    /// NLRI announced, duplicates included.
    pub announced: AtomicU64,
    /// Withdrawn routes received.
    pub withdrawn: AtomicU64,
    /// Set to end the monitor.
    pub stop: AtomicBool,
    /// Why the monitor stopped early, if it did.
    pub error: Mutex<Option<String>>,
}

impl MonitorState {
    fn get(m: &Mutex<Option<Instant>>) -> Option<Instant> {
        m.lock().ok().and_then(|g| *g)
    }

    fn set_once(m: &Mutex<Option<Instant>>, t: Instant) {
        if let Ok(mut g) = m.lock() {
            g.get_or_insert(t);
        }
    }

    /// When the session became Established, if it did.
    pub fn established_at(&self) -> Option<Instant> {
        Self::get(&self.established)
    }

    /// When the first prefix arrived.
    pub fn first_at(&self) -> Option<Instant> {
        Self::get(&self.first)
    }

    /// When the expected set was complete.
    pub fn last_at(&self) -> Option<Instant> {
        Self::get(&self.last)
    }

    /// The error that ended the monitor, if any.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|g| g.clone())
    }
}

/// A running monitor.
#[derive(Debug)]
pub struct Monitor {
    /// Its state.
    pub state: Arc<MonitorState>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Listens on `local` inside `ns` and serves one session in a thread, expecting
    /// `expected` distinct prefixes.
    pub fn start(
        ns: &Netns,
        local: SocketAddr,
        id: Identity,
        expected: u64,
        accept_timeout: Duration,
    ) -> anyhow::Result<Monitor> {
        let listener = ns
            .enter(|| TcpListener::bind(local))?
            .with_context(|| format!("binding the monitor to {local} in {}", ns.name()))?;
        let state = Arc::new(MonitorState {
            expected,
            ..MonitorState::default()
        });
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("bench-monitor".into())
            .spawn(move || {
                if let Err(e) = serve(&listener, id, &st, accept_timeout) {
                    if let Ok(mut g) = st.error.lock() {
                        *g = Some(format!("{e:#}"));
                    }
                }
            })
            .context("starting the monitor thread")?;
        Ok(Monitor {
            state,
            thread: Some(thread),
        })
    }

    /// Stops the monitor and waits for its thread.
    pub fn stop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    listener: &TcpListener,
    id: Identity,
    st: &MonitorState,
    accept_timeout: Duration,
) -> anyhow::Result<()> {
    let mut s = speaker::accept(listener, accept_timeout)?;
    let est = speaker::handshake(&mut s, id, Duration::from_secs(30))?;
    MonitorState::set_once(&st.established, est);
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut counter = Counter::new(st.expected);
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut end) = (0usize, 0usize);
    let mut last_keepalive = Instant::now();
    while !st.stop.load(Ordering::Relaxed) {
        if last_keepalive.elapsed() >= KEEPALIVE_EVERY {
            s.write_all(&speaker::keepalive())?;
            last_keepalive = Instant::now();
        }
        match s.read(&mut buf[end..]) {
            Ok(0) => bail!("the daemon closed the monitor session"),
            Ok(n) => end += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the monitor session"),
        }
        let now = Instant::now();
        while end - start >= HEADER_LEN {
            let len = usize::from(u16::from_be_bytes([buf[start + 16], buf[start + 17]]));
            if len < HEADER_LEN {
                bail!("the daemon sent a message of length {len}");
            }
            if end - start < len {
                break;
            }
            let msg = &buf[start..start + len];
            match msg[18] {
                2 => counter.update(&msg[HEADER_LEN..], st, now)?,
                3 => bail!(
                    "the daemon sent NOTIFICATION {}/{}",
                    msg.get(19).copied().unwrap_or(0),
                    msg.get(20).copied().unwrap_or(0)
                ),
                _ => {}
            }
            start += len;
        }
        if start == end {
            start = 0;
            end = 0;
        } else if buf.len() - end < 65_536 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
    }
    Ok(())
}

/// Distinct IPv4 prefixes of the NLRI fields seen: a bit per possible prefix of length 0
/// to 24 (4 MiB; one memory access each, the monitor must stay far cheaper than any
/// daemon), a hash set for the longer ones.
struct Counter {
    expected: u64,
    bits: Vec<u64>,
    long: HashSet<u64>,
}

/// Longest prefix length kept in the bitmap.
const BITMAP_MAX_LEN: u32 = 24;

impl Counter {
    fn new(expected: u64) -> Self {
        Counter {
            expected,
            bits: vec![0; (1usize << (BITMAP_MAX_LEN + 1)) / 64],
            long: HashSet::new(),
        }
    }

    /// Marks `key` (`address << 8 | length`) seen; true if it was not.
    fn insert(&mut self, key: u64) -> bool {
        let len = (key & 0xff) as u32;
        if len > BITMAP_MAX_LEN {
            return self.long.insert(key);
        }
        let addr = (key >> 8) as u32;
        let index = if len == 0 {
            0
        } else {
            ((1usize << len) - 1) + (addr >> (32 - len)) as usize
        };
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        new
    }

    /// Counts the NLRI and withdrawn routes of one UPDATE body (after the header).
    fn update(&mut self, body: &[u8], st: &MonitorState, now: Instant) -> anyhow::Result<()> {
        let wlen = usize::from(u16::from_be_bytes(
            body.get(..2).context("short UPDATE")?.try_into()?,
        ));
        let withdrawn = body.get(2..2 + wlen).context("short UPDATE")?;
        st.withdrawn
            .fetch_add(walk(withdrawn, |_| {})?, Ordering::Relaxed);
        let at = 2 + wlen;
        let alen = usize::from(u16::from_be_bytes(
            body.get(at..at + 2).context("short UPDATE")?.try_into()?,
        ));
        let nlri = body.get(at + 2 + alen..).context("short UPDATE")?;
        let mut new = 0u64;
        let n = walk(nlri, |key| {
            if self.insert(key) {
                new += 1;
            }
        })?;
        st.announced.fetch_add(n, Ordering::Relaxed);
        if n > 0 {
            MonitorState::set_once(&st.first, now);
        }
        if new > 0 {
            let total = st.distinct.fetch_add(new, Ordering::Relaxed) + new;
            if total >= self.expected {
                MonitorState::set_once(&st.last, now);
            }
        }
        Ok(())
    }
}

/// Walks IPv4 prefixes encoded as (length, prefix octets) (RFC 4271 section 4.3); calls `f`
/// with `address << 8 | length` for each; returns how many.
fn walk(mut b: &[u8], mut f: impl FnMut(u64)) -> anyhow::Result<u64> {
    let mut n = 0;
    while let Some((&len, rest)) = b.split_first() {
        if len > 32 {
            bail!("prefix length {len} in IPv4 NLRI");
        }
        let octets = usize::from(len).div_ceil(8);
        let Some(p) = rest.get(..octets) else {
            bail!("truncated NLRI");
        };
        let mut a = [0u8; 4];
        a[..octets].copy_from_slice(p);
        f(u64::from(u32::from_be_bytes(a)) << 8 | u64::from(len));
        n += 1;
        b = &rest[octets..];
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn walk_reads_prefixes() {
        // 10.0.0.0/8, 192.0.2.0/24, 0.0.0.0/0
        let b = [8, 10, 24, 192, 0, 2, 0];
        let mut keys = Vec::new();
        assert_eq!(walk(&b, |k| keys.push(k)).unwrap(), 3);
        assert_eq!(keys, vec![0x0a_0000_0008, 0xc0_0002_0018, 0]);
        assert!(walk(&[24, 192, 0], |_| {}).is_err());
        assert!(walk(&[33, 1, 1, 1, 1, 1], |_| {}).is_err());
    }

    #[test]
    fn counter_tells_every_length_apart() {
        let mut c = Counter::new(0);
        for len in 0..=32u64 {
            let key = (0xc000_0200u64 >> (32 - len.max(1)) << (32 - len.max(1))) << 8 | len;
            assert!(c.insert(key), "/{len} first");
            assert!(!c.insert(key), "/{len} again");
        }
        // 10.0.0.0/8 and 11.0.0.0/8 differ; 0.0.0.0/0 was seen above.
        assert!(c.insert(0x0a00_0000 << 8 | 8));
        assert!(c.insert(0x0b00_0000 << 8 | 8));
        assert!(!c.insert(0));
    }

    #[test]
    fn counter_completes_on_distinct_prefixes() {
        let st = MonitorState {
            expected: 2,
            ..MonitorState::default()
        };
        let mut c = Counter::new(2);
        // No withdrawn, no attributes, NLRI 198.51.100.0/24 twice.
        let body = [0, 0, 0, 0, 24, 198, 51, 100, 24, 198, 51, 100];
        let t = Instant::now();
        c.update(&body, &st, t).unwrap();
        assert_eq!(st.distinct.load(Ordering::Relaxed), 1);
        assert_eq!(st.announced.load(Ordering::Relaxed), 2);
        assert!(st.last_at().is_none());
        assert_eq!(st.first_at(), Some(t));
        let body = [0, 0, 0, 0, 24, 203, 0, 113];
        c.update(&body, &st, t).unwrap();
        assert_eq!(st.last_at(), Some(t));
    }
}
