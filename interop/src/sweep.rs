//! Removing stale lab namespaces by their project prefix.

use std::path::Path;

use crate::cmd;
use crate::error::{LabError, Result};

/// Checks a project prefix: 2 to 12 lowercase ASCII letters or digits, then `-`.
///
/// Errors: [`prefix_problem`]'s reason.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    match prefix_problem(prefix) {
        None => Ok(()),
        Some(detail) => Err(LabError::Topology {
            file: "<lab>".into(),
            detail,
        }),
    }
}

/// Why `prefix` is not a project prefix (2 to 12 lowercase ASCII letters or digits, then
/// `-`), in a line that says what to give instead; None when it is one.
pub fn prefix_problem(prefix: &str) -> Option<String> {
    let body = prefix.strip_suffix('-').unwrap_or("");
    let ok = (2..=12).contains(&body.len())
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rule = "a project prefix is 2-12 lowercase letters or digits followed by '-', e.g. us-";
    match (ok, prefix.is_empty()) {
        (true, _) => None,
        (false, true) => Some(format!("the project prefix is empty: {rule}")),
        (false, false) => Some(format!("{prefix:?} is not a project prefix: {rule}")),
    }
}

/// The PID of the process that created the lab namespace `name` under `prefix`
/// (`{prefix}{pid}{letters}-{node}`), or None if the name is not of that shape.
pub fn creator_pid(prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let after = &rest[digits.len()..];
    let letters: String = after
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    if digits.is_empty() || letters.is_empty() || !after[letters.len()..].starts_with('-') {
        return None;
    }
    digits.parse().ok()
}

/// The namespaces (by name) currently present whose name starts with `prefix`.
pub fn list_namespaces(prefix: &str) -> Result<Vec<String>> {
    let out = cmd::run("ip", &["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect())
}

/// The lab ids of labs left running on purpose by `interop lab up` (their state files in
/// `/run/interop`), which a sweep leaves alone unless told `all`.
fn persisted_labs(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/interop") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter_map(|v| v.get("lab_id").and_then(|i| i.as_str()).map(str::to_string))
        .filter(|id| id.starts_with(prefix))
        .collect()
}

/// Removes the namespaces under `prefix` whose creating process is gone (or, with `all`,
/// every namespace under `prefix`, live labs included), ending the processes still inside
/// them by PID first, and the matching `/tmp/{lab id}` work directories. Returns the names
/// removed. Namespaces of a live process, and labs left up by `interop lab up`, are left
/// alone unless `all`; names not of a lab's shape never match.
pub fn sweep(prefix: &str, all: bool) -> Result<Vec<String>> {
    validate_prefix(prefix)?;
    let kept = persisted_labs(prefix);
    let mut removed = Vec::new();
    for name in list_namespaces(prefix)? {
        if !all && kept.iter().any(|id| name.starts_with(&format!("{id}-"))) {
            continue;
        }
        let stale = match creator_pid(prefix, &name) {
            Some(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
            // Not of a lab's shape: someone else's namespace, never ours to remove.
            None => false,
        };
        if stale || (all && creator_pid(prefix, &name).is_some()) {
            remove_namespace(&name);
            removed.push(name);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/tmp") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !all && kept.contains(&name) {
                continue;
            }
            let Some(pid) = creator_pid(prefix, &format!("{name}-x")) else {
                continue;
            };
            if all || (pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(removed)
}

/// Ends (SIGKILL, by PID) every process inside namespace `name`, then deletes it. Errors
/// are ignored: this runs from drop and from the sweep, where nothing better can be done.
pub(crate) fn remove_namespace(name: &str) {
    for _ in 0..3 {
        let pids = cmd::run("ip", &["netns", "pids", name]).unwrap_or_default();
        let pids: Vec<i32> = pids.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: kill(2) on a PID the kernel just listed as living in our own lab
            // namespace, which only processes started by the lab enter.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = cmd::run("ip", &["netns", "del", name]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn creator_pid_parses_lab_names() {
        assert_eq!(creator_pid("uslab-", "uslab-4242b-frr"), Some(4242));
        assert_eq!(creator_pid("uslab-", "uslab-4242ba-switch"), Some(4242));
        assert_eq!(creator_pid("us-", "uslab-4242b-frr"), None);
        assert_eq!(creator_pid("uslab-", "uslab-frr"), None);
        assert_eq!(creator_pid("uslab-", "uslab-4242-frr"), None);
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(validate_prefix("us-").is_ok());
        assert!(validate_prefix("uslab-").is_ok());
        assert!(validate_prefix("us").is_err());
        assert!(validate_prefix("-").is_err());
        assert!(validate_prefix("Us-").is_err());
        assert_eq!(
            prefix_problem("").as_deref(),
            Some(
                "the project prefix is empty: a project prefix is 2-12 lowercase letters or \
                 digits followed by '-', e.g. us-"
            )
        );
        assert!(
            prefix_problem("us").is_some_and(|p| p.starts_with("\"us\" is not a project prefix"))
        );
        assert_eq!(prefix_problem("us-"), None);
    }
}
