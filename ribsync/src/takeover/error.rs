//! Errors of the takeover module.

use std::io;

/// What went wrong while peeking, rebuilding or announcing a session.
#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    /// A system call failed; `op` names the step (e.g. `"setsockopt(TCP_REPAIR_WINDOW)"`).
    /// `EPERM` usually means a missing CAP_NET_ADMIN or a step done in the wrong state.
    #[error("{op}: {error}")]
    Sys {
        /// The step that failed.
        op: &'static str,
        /// The OS error (in the message, so not a `source`: anyhow's `{:#}` would print it
        /// twice).
        error: io::Error,
    },
    /// The socket to peek is not an established TCP connection (`tcpi_state`).
    #[error("socket is not an ESTABLISHED TCP connection (tcpi_state {0})")]
    NotEstablished(u8),
    /// The queues kept changing while being peeked (traffic during the peek).
    #[error("socket queues kept changing during the peek ({attempts} attempts)")]
    Unstable {
        /// How many consistent reads were attempted.
        attempts: u32,
    },
    /// Local and remote addresses are of different families, or not IP.
    #[error("address family mismatch: local {local}, remote {remote}")]
    FamilyMismatch {
        /// Local address.
        local: String,
        /// Remote address.
        remote: String,
    },
    /// The state to rebuild is internally inconsistent.
    #[error("invalid TCP repair state: {0}")]
    InvalidState(&'static str),
    /// A TCP-MD5 key (RFC 2385) longer than the kernel's `TCP_MD5SIG_MAXKEYLEN` (80 bytes).
    #[error("TCP-MD5 key is {len} bytes, the kernel takes at most 80 (TCP_MD5SIG_MAXKEYLEN)")]
    Md5KeyTooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// The kernel answered a netlink request with an error.
    #[error("netlink {op}: {error}")]
    Netlink {
        /// The request (e.g. `"RTM_NEWADDR"`).
        op: &'static str,
        /// The error the kernel returned (in the message, so not a `source`).
        error: io::Error,
    },
}

impl TakeoverError {
    pub(crate) fn sys(op: &'static str) -> impl FnOnce(io::Error) -> TakeoverError {
        move |error| TakeoverError::Sys { op, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OS error is in the message and is not also the source: a caller printing the
    /// chain (anyhow's `{:#}`) shows it once.
    #[test]
    fn an_os_error_is_in_the_message_not_the_chain() {
        let sys =
            TakeoverError::sys("setsockopt(TCP_REPAIR)")(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(
            sys.to_string(),
            "setsockopt(TCP_REPAIR): Operation not permitted (os error 1)"
        );
        assert!(std::error::Error::source(&sys).is_none());
        let nl = TakeoverError::Netlink {
            op: "RTM_NEWADDR",
            error: io::Error::from_raw_os_error(libc::EEXIST),
        };
        assert_eq!(
            nl.to_string(),
            "netlink RTM_NEWADDR: File exists (os error 17)"
        );
        assert!(std::error::Error::source(&nl).is_none());
    }
}
