//! The async face of the writer for the daemon: a [`Fib`] on its own thread, driven
//! through a channel; route change notifications and the adopt deadline are handled
//! on that thread, their results sent on an event channel.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::fib::{Fib, Reconciled};
use crate::outcome::{FibError, RouteResult};
use crate::route::RouteUpdate;

type Reply<T> = oneshot::Sender<Result<T, FibError>>;

#[derive(Debug)]
enum Command {
    Apply(Vec<RouteUpdate>, Reply<Vec<RouteResult>>),
    Adopt(Option<Duration>, Reply<usize>),
    Converged(Reply<Vec<RouteResult>>),
    Reconcile(Vec<RouteUpdate>, Reply<Reconciled>),
    Reserve(usize, usize, Reply<()>),
    Stop,
}

/// An eventfd that wakes the writer thread when a command is queued.
#[derive(Debug)]
struct Wake(OwnedFd);

impl Wake {
    fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd has no pointer arguments; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe {
            libc::write(
                self.0.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            );
        }
    }

    fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64; non-blocking.
        unsafe {
            libc::read(
                self.0.as_raw_fd(),
                &mut v as *mut u64 as *mut libc::c_void,
                8,
            );
        }
    }
}

/// A [`Fib`] running on a dedicated thread, with an async API.
///
/// Unsolicited results (routes re-resolved after a route change, stale routes
/// deleted when the adopt deadline passes) arrive on the event receiver returned by
/// [`FibService::spawn`]. Dropping the service stops the thread; routes stay in the
/// kernel (never flushed).
#[derive(Debug)]
pub struct FibService {
    commands: mpsc::Sender<Command>,
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl FibService {
    /// Moves `fib` onto its own thread.
    ///
    /// Errors: eventfd(2) or thread creation failures.
    pub fn spawn(fib: Fib) -> std::io::Result<(Self, tmpsc::UnboundedReceiver<Vec<RouteResult>>)> {
        let (commands, rx) = mpsc::channel();
        let (events_tx, events) = tmpsc::unbounded_channel();
        let wake = Arc::new(Wake::new()?);
        let w = Arc::clone(&wake);
        let thread = std::thread::Builder::new()
            .name("fib".into())
            .spawn(move || run(fib, rx, &w, events_tx))?;
        Ok((
            Self {
                commands,
                wake,
                thread: Some(thread),
            },
            events,
        ))
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, FibError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || FibError::Io(std::io::Error::other("fib thread stopped"));
        self.commands.send(make(tx)).map_err(|_| stopped())?;
        self.wake.ring();
        rx.await.map_err(|_| stopped())?
    }

    /// [`Fib::apply`] on the writer thread.
    pub async fn apply(&self, updates: Vec<RouteUpdate>) -> Result<Vec<RouteResult>, FibError> {
        self.call(|r| Command::Apply(updates, r)).await
    }

    /// [`Fib::adopt`]; stale routes are deleted after `timeout` unless
    /// [`FibService::converged`] comes first.
    pub async fn adopt(&self, timeout: Option<Duration>) -> Result<usize, FibError> {
        self.call(|r| Command::Adopt(timeout, r)).await
    }

    /// [`Fib::converged`].
    pub async fn converged(&self) -> Result<Vec<RouteResult>, FibError> {
        self.call(Command::Converged).await
    }

    /// [`Fib::reserve`].
    pub async fn reserve(&self, v4: usize, v6: usize) -> Result<(), FibError> {
        self.call(|r| Command::Reserve(v4, v6, r)).await
    }

    /// [`Fib::reconcile`].
    pub async fn reconcile(&self, desired: Vec<RouteUpdate>) -> Result<Reconciled, FibError> {
        self.call(|r| Command::Reconcile(desired, r)).await
    }
}

impl Drop for FibService {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        self.wake.ring();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn poll2(a: RawFd, b: RawFd, timeout: Option<Duration>) {
    let mut fds = [
        libc::pollfd {
            fd: a,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = timeout.map_or(-1, |t| {
        libc::c_int::try_from(t.as_millis().saturating_add(1)).unwrap_or(libc::c_int::MAX)
    });
    // SAFETY: fds is an array of two valid pollfd for the duration of the call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), 2, ms);
    }
}

fn run(
    mut fib: Fib,
    commands: mpsc::Receiver<Command>,
    wake: &Wake,
    events: tmpsc::UnboundedSender<Vec<RouteResult>>,
) {
    let mut deadline: Option<Instant> = None;
    loop {
        loop {
            match commands.try_recv() {
                Ok(Command::Apply(u, r)) => {
                    let _ = r.send(fib.apply(&u));
                }
                Ok(Command::Adopt(t, r)) => {
                    deadline = t.map(|t| Instant::now() + t);
                    let _ = r.send(fib.adopt(deadline));
                }
                Ok(Command::Converged(r)) => {
                    deadline = None;
                    let _ = r.send(fib.converged());
                }
                Ok(Command::Reserve(v4, v6, r)) => {
                    fib.reserve(v4, v6);
                    let _ = r.send(Ok(()));
                }
                Ok(Command::Reconcile(d, r)) => {
                    deadline = None;
                    let _ = r.send(fib.reconcile(&d));
                }
                Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if let Ok(results) = fib.refresh_next_hops() {
            if !results.is_empty() {
                let _ = events.send(results);
            }
        }
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                deadline = None;
                if let Ok(results) = fib.tick(now) {
                    if !results.is_empty() {
                        let _ = events.send(results);
                    }
                }
            }
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        poll2(wake.0.as_raw_fd(), fib.watch_fd(), timeout);
        wake.clear();
    }
}
