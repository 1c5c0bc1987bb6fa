//! A long-running process started inside a namespace, ended by its PID when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::netns::Netns;

/// A child process running inside a namespace (started with `ip netns exec`, which execs
/// the program, so the PID is the program's own). Its stdout and stderr go to a log file.
/// It runs in its own process group, so a Ctrl-C at the terminal reaches only the lab
/// binary, which then ends it here. Dropping it sends SIGTERM to that PID, waits up to
/// two seconds, then SIGKILL, and reaps it.
#[derive(Debug)]
pub struct LabProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl LabProcess {
    /// Starts `program args` in `ns`, logging to `log`. `name` is for messages.
    pub fn spawn(
        ns: &Netns,
        name: &str,
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        log: &Path,
    ) -> Result<LabProcess> {
        let out = File::create(log).map_err(|e| LabError::io(log, e))?;
        LabProcess::spawn_to(ns, name, program, args, envs, log, out)
    }

    /// Like [`LabProcess::spawn`], appending to `log` instead of truncating it.
    pub fn spawn_appending(
        ns: &Netns,
        name: &str,
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        log: &Path,
    ) -> Result<LabProcess> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| LabError::io(log, e))?;
        LabProcess::spawn_to(ns, name, program, args, envs, log, out)
    }

    fn spawn_to(
        ns: &Netns,
        name: &str,
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        log: &Path,
        out: File,
    ) -> Result<LabProcess> {
        use std::os::unix::process::CommandExt;
        let err = out.try_clone().map_err(|e| LabError::io(log, e))?;
        let argv = ns.exec_args(program, args);
        let mut command = crate::cmd::command("ip");
        command
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // Run in the log's directory (the lab's), so a core file of a crashing daemon lands
        // there and goes with the lab.
        if let Some(dir) = log.parent() {
            command.current_dir(dir);
        }
        for (k, v) in envs {
            command.env(k, v);
        }
        let child = command.spawn().map_err(|source| LabError::Spawn {
            command: format!("ip {}", argv.join(" ")),
            error: source,
        })?;
        Ok(LabProcess {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// The process ID (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `max` bytes of the log, for error messages.
    pub fn log_tail(&self, max: usize) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(max);
        String::from_utf8_lossy(&text[start..]).trim().to_string()
    }

    /// `Err(LabError::Exited)` when the process has already exited, else `Ok(())`.
    pub fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(LabError::Exited {
                name: self.name.clone(),
                status: "stopped".into(),
                log: String::new(),
            });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(LabError::Exited {
                name: self.name.clone(),
                status: status.to_string(),
                log: self.log_tail(2000),
            }),
            Err(e) => Err(LabError::io(&self.log, e)),
        }
    }

    /// Sends `signal` to the process (by PID), if it still runs.
    pub fn signal(&mut self, signal: i32) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                if let Ok(pid) = i32::try_from(child.id()) {
                    // SAFETY: kill(2) with a PID of our own un-reaped child: the PID cannot
                    // have been reused while the child is not waited for.
                    unsafe {
                        libc::kill(pid, signal);
                    }
                }
            }
        }
    }

    /// Ends the process: SIGTERM, up to `grace` to exit, then SIGKILL; reaps it.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: as in `signal`, our own un-reaped child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Lets the process run on: this value no longer ends it when dropped.
    pub fn detach(mut self) {
        self.child = None;
    }

    /// Kills the process at once (SIGKILL, the way a box dies) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}
