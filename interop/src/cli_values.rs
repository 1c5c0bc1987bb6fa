//! Parsers of the command line's numbers (clap `value_parser`s): a value that cannot work is
//! refused with a reason before anything is built.

use std::time::Duration;

/// The longest duration an option takes, in seconds (a day): a deadline `now + duration`
/// must stay representable.
const MAX_SECS: f64 = 86_400.0;

/// Seconds, possibly fractional, from 0 to a day (`--watch`, `--observe`).
pub fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!(
            "{s} is not a duration: give seconds from 0 to {MAX_SECS}"
        ));
    }
    if v > MAX_SECS {
        return Err(format!("{s} s is more than a day ({MAX_SECS} s)"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// A timeout in seconds: above 0 (every wait would give up at once), at most a day.
pub fn timeout(s: &str) -> Result<Duration, String> {
    let d = seconds(s)?;
    if d.is_zero() {
        return Err(
            "a timeout of 0 s cannot work: every wait would give up at once (give seconds \
             above 0, e.g. 60)"
                .into(),
        );
    }
    Ok(d)
}

/// A count that must be at least 1 (`--runs`).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// A namespace project prefix (`--prefix`), checked as the lab checks it
/// ([`interop::sweep::prefix_problem`]) before anything runs.
pub fn project_prefix(s: &str) -> Result<String, String> {
    match interop::sweep::prefix_problem(s) {
        None => Ok(s.to_string()),
        Some(why) => Err(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_that_cannot_work_are_refused() {
        assert_eq!(timeout("60"), Ok(Duration::from_secs(60)));
        assert_eq!(timeout("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "0.0", "-1", "nan", "inf", "1e30", "x", ""] {
            assert!(timeout(bad).is_err(), "{bad}");
        }
        assert!(timeout("0").is_err_and(|e| e.contains("cannot work")));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        assert_eq!(seconds("86400"), Ok(Duration::from_secs(86_400)));
        for bad in ["-0.1", "nan", "86401", "1e19"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err());
        assert!(at_least_one("-1").is_err());
    }
}
