//! Time on the replicated clock.
//!
//! The core never reads a clock: every input carries `now` as a [`Millis`], milliseconds on a
//! clock whose base is carried in checkpoints, so that a primary and a standby fed the same
//! inputs compute the same deadlines. Timers are absolute deadlines (`Millis`), spans are
//! [`std::time::Duration`]s truncated to whole milliseconds.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// An instant: milliseconds since the replicated clock's epoch. Serialisable and totally
/// ordered; arithmetic saturates instead of overflowing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// The clock's epoch.
    pub const ZERO: Millis = Millis(0);
    /// The far future: a deadline that never comes.
    pub const MAX: Millis = Millis(u64::MAX);

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Millis(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The span from `earlier` to `self`; zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `self + millis`, saturating at [`Millis::MAX`].
    pub const fn plus_millis(self, millis: u64) -> Millis {
        Millis(self.0.saturating_add(millis))
    }

    /// `self + secs` seconds, saturating at [`Millis::MAX`].
    pub const fn plus_secs(self, secs: u64) -> Millis {
        self.plus_millis(secs.saturating_mul(1000))
    }
}

impl Add<Duration> for Millis {
    type Output = Millis;
    /// Adds a span truncated to whole milliseconds, saturating.
    fn add(self, rhs: Duration) -> Millis {
        self.plus_millis(u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX))
    }
}

impl Sub<Millis> for Millis {
    type Output = Duration;
    /// The span between two instants, zero when `rhs` is later (see [`Millis::saturating_since`]).
    fn sub(self, rhs: Millis) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for Millis {
    /// `12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_orders() {
        let t = Millis::from_secs(3);
        assert_eq!(t, Millis(3000));
        assert_eq!(t + Duration::from_millis(1500), Millis(4500));
        assert_eq!(Millis(4500) - t, Duration::from_millis(1500));
        assert_eq!(t - Millis(4500), Duration::ZERO);
        assert_eq!(Millis::MAX.plus_secs(5), Millis::MAX);
        assert_eq!(Millis(1).plus_secs(2), Millis(2001));
        assert!(Millis(1) < Millis(2));
        assert_eq!(Millis(12_345).to_string(), "12.345s");
    }
}
