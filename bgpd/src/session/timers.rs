//! The seeded random number generator behind the RFC 4271 section 10 timer jitter.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state, one multiply-xorshift per draw. Its
/// state is part of the session state, so a restored session draws the same jitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `base` multiplied by a factor uniformly drawn from 0.75 to 1.0, in whole milliseconds.
    ///
    /// RFC 4271 section 10: "the base value of the ... timer is multiplied by a random factor
    /// uniformly distributed in the range from 0.75 to 1.0".
    pub fn jitter(&mut self, base: Duration) -> Duration {
        let ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX / 1000);
        let per_mille = 750 + self.next_u64() % 251;
        Duration::from_millis(ms.saturating_mul(per_mille) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range_and_is_reproducible() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let base = Duration::from_secs(30);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2000 {
            let j = a.jitter(base);
            assert_eq!(j, b.jitter(base));
            assert!(j >= Duration::from_millis(22_500) && j <= base, "{j:?}");
            seen_low |= j < Duration::from_millis(23_500);
            seen_high |= j > Duration::from_millis(29_000);
        }
        assert!(seen_low && seen_high);
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }
}
