//! Polling for a condition with a deadline (never sleep-and-hope).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};

/// How long a daemon (or tcpdump) may take to answer on its control interface after being
/// started: generous, as two loaded cores can stall a start for seconds.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Set by the binary's Ctrl-C handler; every poll loop gives up with
/// [`LabError::Interrupted`] once it is set, so guards run and the lab is removed.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once Ctrl-C was pressed (see [`INTERRUPTED`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Watches the lab until `until` (checking for Ctrl-C every 50 ms): a scenario's "nothing
/// happens for a while" step.
///
/// # Errors
/// [`LabError::Interrupted`] on Ctrl-C.
pub fn watch_until(until: Instant) -> Result<()> {
    while Instant::now() < until {
        if interrupted() {
            return Err(LabError::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A takeover time for people: `12.3 ms`, or when the log gave none (its `takeover_ms`
/// missing) `an unmeasured time`, never a made-up figure.
pub fn ms_text(ms: Option<f64>) -> String {
    ms.map_or_else(|| "an unmeasured time".into(), |m| format!("{m:.1} ms"))
}

/// A duration for people: seconds with one decimal (`12.0 s`), not `Debug`'s `12s` or
/// `1.018671571s`.
pub fn secs_text(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// [`watch_until`] `d` from now.
///
/// # Errors
/// [`LabError::Interrupted`] on Ctrl-C.
pub fn watch(d: Duration) -> Result<()> {
    watch_until(Instant::now() + d)
}

/// Calls `probe` every `interval` until it returns `Ok(Some(v))` (then `Ok(v)`), until
/// `timeout` has passed ([`LabError::Timeout`] naming `what`, with the last probe error if
/// any), or until Ctrl-C. Probe errors are treated as "not yet" (a daemon that is still
/// starting refuses its control socket), and the last one is reported on timeout.
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut last_err: Option<String> = None;
    loop {
        if interrupted() {
            return Err(LabError::Interrupted);
        }
        match probe() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e @ LabError::Exited { .. }) => return Err(e),
            Err(e) => last_err = Some(e.to_string()),
        }
        if start.elapsed() >= timeout {
            let what = match last_err {
                Some(e) => format!("{what} (last error: {e})"),
                None => what.to_string(),
            };
            return Err(LabError::Timeout {
                what,
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_takeover_time_the_log_did_not_give_is_said_to_be_unmeasured() {
        assert_eq!(ms_text(Some(9.24)), "9.2 ms");
        assert_eq!(ms_text(None), "an unmeasured time");
    }

    #[test]
    fn durations_read_as_seconds() {
        assert_eq!(secs_text(Duration::from_secs(12)), "12.0 s");
        assert_eq!(secs_text(Duration::from_nanos(1_018_671_571)), "1.0 s");
        assert_eq!(secs_text(Duration::ZERO), "0.0 s");
    }
}
