//! Running short-lived commands (`ip`, `tc`, `vtysh`, `birdc`, `gobgp`) and checking them.

use std::process::{Command, Output, Stdio};

use crate::error::{LabError, Result};

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
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            command: render(program, args),
            source,
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
