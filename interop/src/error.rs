//! The lab's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while building a lab, running a neighbour or querying it.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command could not be started at all (binary missing, fork failed).
    #[error("cannot run `{command}`: {error}")]
    Spawn {
        /// The command line, for the reader.
        command: String,
        /// The OS error (in the message, so not a `source`: `{:#}` would print it twice).
        error: std::io::Error,
    },
    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for the reader.
        command: String,
        /// The exit status as text.
        status: String,
        /// What the command wrote on stderr (trimmed).
        stderr: String,
    },
    /// A file or directory operation failed.
    #[error("{path}: {error}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error (in the message, so not a `source`: `{:#}` would print it twice).
        error: std::io::Error,
    },
    /// A socket or thread operation inside a namespace failed.
    #[error("in namespace {namespace}: {error}")]
    Namespace {
        /// The namespace name.
        namespace: String,
        /// The OS error (in the message, so not a `source`: `{:#}` would print it twice).
        error: std::io::Error,
    },
    /// A condition was not met before its deadline.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// A daemon's answer could not be understood.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was being parsed (e.g. "vtysh JSON").
        what: String,
        /// Why.
        detail: String,
    },
    /// A containerlab topology is invalid.
    #[error("topology {file}: {detail}")]
    Topology {
        /// The file (or "<string>").
        file: String,
        /// What is wrong, naming the field.
        detail: String,
    },
    /// A daemon process exited while it was expected to run.
    #[error("{name} exited early ({status}); log: {log}")]
    Exited {
        /// The process name.
        name: String,
        /// Its exit status as text.
        status: String,
        /// The tail of its log.
        log: String,
    },
    /// A program the lab needs is not there, or is not executable (checked before anything
    /// is built).
    #[error("{program}: not found or not executable; {needed_by}")]
    MissingProgram {
        /// The program as it would be run (a path, or a name looked up on `PATH`).
        program: String,
        /// Who needs it and how to get it (`node frr1 runs FRR: apt-get install frr`).
        needed_by: String,
    },
    /// The operation was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// A raw BGP exchange did not go as the test expected.
    #[error("raw peer: {0}")]
    RawPeer(String),
}

impl LabError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.into(),
            error: source,
        }
    }

    /// A parse error about `what`.
    pub fn parse(what: impl Into<String>, detail: impl ToString) -> Self {
        LabError::Parse {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// Result with [`LabError`].
pub type Result<T> = std::result::Result<T, LabError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The binaries print errors with `{:#}` (the message, then each source): an OS error
    /// in the message must not come again as a source.
    #[test]
    fn an_os_error_is_printed_once() {
        let missing = std::fs::File::open("/nonexistent/understudy-lab-file")
            .err()
            .map(|e| LabError::io("/nonexistent/understudy-lab-file", e));
        let Some(e) = missing else {
            panic!("the file exists")
        };
        let text = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(
            text,
            "/nonexistent/understudy-lab-file: No such file or directory (os error 2)"
        );
        let spawn = LabError::Spawn {
            command: "nope".into(),
            error: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::from(spawn)),
            "cannot run `nope`: No such file or directory (os error 2)"
        );
        let ns = LabError::Namespace {
            namespace: "x".into(),
            error: std::io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::from(ns)),
            "in namespace x: Operation not permitted (os error 1)"
        );
    }
}
