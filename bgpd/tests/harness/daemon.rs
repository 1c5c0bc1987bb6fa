//! A real bgpd started from a configuration file, for the tests of the built binaries
//! (`cli_*.rs`): a loopback port to give it, a temporary directory for its files, and the
//! daemon itself, killed and reaped when dropped (also on panic).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// A fresh directory `understudy-TAG-PID` under the temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates the directory.
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("understudy-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the test directory");
        TempDir(d)
    }

    /// Writes `text` to the file `name` in the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write a test file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The built bgpd running `--config FILE`; killed and reaped when dropped, also on panic.
/// Declare it after the [`TempDir`] holding its files, so that it ends first.
#[derive(Debug)]
pub struct Daemon(pub Child);

impl Daemon {
    /// Starts bgpd on `config`: its stdout discarded, its stderr to `stderr` (a log file,
    /// or `Stdio::null()`), with the variables of `env` set (e.g. `RUST_LOG`).
    pub fn start(config: &Path, stderr: impl Into<Stdio>, env: &[(&str, &str)]) -> Daemon {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bgpd"));
        c.arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            c.env(k, v);
        }
        Daemon(c.spawn().expect("start bgpd"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
