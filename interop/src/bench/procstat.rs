//! What `/proc` tells about the daemon under test: CPU time (`utime` + `stime` of
//! `/proc/PID/stat`, all threads), memory (`VmHWM`, `VmRSS` of `/proc/PID/status`), the
//! kernel FIB's prefix count in its namespace (`/proc/PID/net/fib_triestat`), and pinning
//! every thread to one core (`sched_setaffinity(2)`).

use anyhow::{bail, Context as _};

/// CPU seconds (user + system) used so far by the processes `pids`, all their threads.
pub fn cpu_seconds(pids: &[u32]) -> anyhow::Result<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let mut total = 0u64;
    for pid in pids {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        total += parse_stat_ticks(&text).with_context(|| format!("parsing {path}"))?;
    }
    Ok(total as f64 / ticks)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line; the command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last ')'.
fn parse_stat_ticks(text: &str) -> anyhow::Result<u64> {
    let after = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("no ')' in stat")?;
    let f: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime 15.
    let (Some(u), Some(s)) = (f.get(11), f.get(12)) else {
        bail!("stat has {} fields after the name", f.len());
    };
    Ok(u.parse::<u64>()? + s.parse::<u64>()?)
}

/// The sum over `pids` of one `/proc/PID/status` field given in kB (`VmHWM`, `VmRSS`), in
/// bytes.
pub fn status_bytes(pids: &[u32], field: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    for pid in pids {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        total +=
            parse_status_kb(&text, field).with_context(|| format!("{field} in {path}"))? * 1024;
    }
    Ok(total)
}

fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Prefixes in the main routing table of `pid`'s network namespace (the `Main:` section of
/// `/proc/PID/net/fib_triestat`; cheap, unlike listing a million routes).
pub fn fib_prefixes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/net/fib_triestat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_triestat(&text).with_context(|| format!("no Main: Prefixes in {path}"))
}

fn parse_triestat(text: &str) -> Option<u64> {
    let mut in_main = false;
    for l in text.lines() {
        let t = l.trim();
        if !l.starts_with(char::is_whitespace) {
            in_main = t.starts_with("Main:");
            continue;
        }
        if in_main {
            if let Some(v) = t.strip_prefix("Prefixes:") {
                return v.trim().parse().ok();
            }
        }
    }
    None
}

/// Pins every thread of every process in `pids` to CPU `cpu`. Threads created later inherit
/// the mask of their creator.
pub fn pin(pids: &[u32], cpu: usize) -> anyhow::Result<()> {
    anyhow::ensure!(cpu < libc::CPU_SETSIZE as usize, "CPU {cpu} out of range");
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set. CPU_SET writes the bit of
    // `cpu`, which is within the set's size (checked above).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    for pid in pids {
        let dir = format!("/proc/{pid}/task");
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
            let Ok(e) = e else { continue };
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            // SAFETY: sched_setaffinity reads `set` for the given size; a thread that has
            // exited meanwhile gives ESRCH, which is ignored.
            let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::ESRCH) {
                    return Err(err).with_context(|| format!("pinning thread {tid} to CPU {cpu}"));
                }
            }
        }
    }
    Ok(())
}

/// Online CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_after_odd_names() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 3 0 99 1000 50";
        assert_eq!(parse_stat_ticks(line).unwrap(), 22);
    }

    #[test]
    fn status_fields_in_kb() {
        let t = "Name:\tbird\nVmPeak:\t  9000 kB\nVmHWM:\t  1234 kB\nVmRSS:\t  1000 kB\n";
        assert_eq!(parse_status_kb(t, "VmHWM"), Some(1234));
        assert_eq!(parse_status_kb(t, "VmRSS"), Some(1000));
        assert_eq!(parse_status_kb(t, "VmSwap"), None);
    }

    #[test]
    fn triestat_main_prefixes() {
        let t = "Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.\nMain:\n\tAver depth:     2.00\n\tLeaves:         3\n\tPrefixes:       4\nLocal:\n\tPrefixes:       9\n";
        assert_eq!(parse_triestat(t), Some(4));
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(cpu_seconds(&[me]).unwrap() >= 0.0);
        assert!(status_bytes(&[me], "VmHWM").unwrap() > 0);
    }
}
