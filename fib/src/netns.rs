//! Running code inside another network namespace.
//!
//! A netlink socket belongs to the namespace of the thread that created it, for its
//! whole life. So a writer bound to a namespace is made by opening its sockets on a
//! short-lived thread that has entered the namespace with setns(2); the sockets can
//! then be used from any thread.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::outcome::FibError;

/// Runs `f` on a new thread that has entered the network namespace at `path` (for
/// example `/run/netns/NAME`), and returns its result. The calling thread's
/// namespace is not changed.
///
/// Errors: [`FibError::Netns`] when the file cannot be opened or entered.
pub fn in_netns<T, F>(path: &Path, f: F) -> Result<T, FibError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let err = |source| FibError::Netns {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: the fd is valid for the call (file is alive); CLONE_NEWNET only
            // changes this thread's network namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(err(std::io::Error::last_os_error()));
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
