//! Running short-lived commands (`ip`, `tc`, `vtysh`, `birdc`, `gobgp`) and checking them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{LabError, Result};

/// Where the lab's tools live on Debian (`ip`, `tc`, `sysctl`, `bird`, `birdc`, `exabgp` are
/// in sbin), searched after `PATH`, which may lack them in a minimal environment.
const SYSTEM_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// `PATH` with the system directories appended: given to every command the lab starts, so
/// that `ip netns exec NS bird` and `exec:` lines find their programs too.
pub fn search_path() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in SYSTEM_DIRS {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| OsString::from("/usr/sbin:/usr/bin:/sbin:/bin"))
}

/// Whether `path` is a regular file (after symlinks) with an execute permission bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where `program` runs from: itself when it names a path (contains a `/`), else the first
/// executable file of that name in [`search_path`]. None when that is no executable file.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(&search_path())
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// A command for `program`, looked up in [`search_path`], with that `PATH` in its environment.
pub fn command(program: &str) -> Command {
    let path = search_path();
    let resolved = find_program(program).unwrap_or_else(|| PathBuf::from(program));
    let mut c = Command::new(resolved);
    c.env("PATH", path);
    c
}

/// Renders a command line for messages.
pub(crate) fn render(program: &str, args: &[&str]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        if a.contains(' ') || a.is_empty() {
            s.push('\'');
            s.push_str(a);
            s.push('\'');
        } else {
            s.push_str(a);
        }
    }
    s
}

/// Runs `program args`, returns its stdout; a non-zero exit is [`LabError::Command`].
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = run_output(program, args)?;
    check(program, args, out)
}

/// Runs `program args` and returns the raw output, whatever the exit status.
pub fn run_output(program: &str, args: &[&str]) -> Result<Output> {
    command(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            command: render(program, args),
            error: source,
        })
}

/// Turns an [`Output`] into stdout or a [`LabError::Command`].
pub(crate) fn check(program: &str, args: &[&str], out: Output) -> Result<String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: render(program, args),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
