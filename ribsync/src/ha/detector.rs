//! Failure detection of the primary, seen from a standby.

/// When the primary counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Milliseconds between the primary's heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Heartbeats missed before they count as stopped (default 3: 3 x 100 ms).
    pub missed_heartbeats: u32,
    /// Milliseconds without a frame from the primary on the mirror before its traffic
    /// counts as gone.
    pub mirror_silence_ms: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            heartbeat_interval_ms: 100,
            missed_heartbeats: 3,
            mirror_silence_ms: 300,
        }
    }
}

impl DetectorConfig {
    /// Milliseconds of heartbeat silence that count as "stopped".
    pub fn heartbeat_timeout_ms(&self) -> u64 {
        self.heartbeat_interval_ms * u64::from(self.missed_heartbeats)
    }
}

/// What the detector concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Heartbeats arrive.
    Alive,
    /// Heartbeats stopped but the primary still sends on the mirror: the checkpoint
    /// channel broke, the primary did not. Taking over now would make two writers.
    ChannelLost,
    /// Heartbeats stopped and the primary's traffic is gone from the mirror.
    Failed {
        /// When the failure became certain (the later of the two deadlines).
        declared_at_ms: u64,
    },
}

/// Heartbeat and mirror watch of the primary.
#[derive(Debug, Clone)]
pub struct FailureDetector {
    config: DetectorConfig,
    last_heartbeat_ms: u64,
    last_mirror_ms: Option<u64>,
}

impl FailureDetector {
    /// A detector started at `now_ms` (counts as a heartbeat: the primary was just
    /// reached).
    pub fn new(config: DetectorConfig, now_ms: u64) -> Self {
        FailureDetector {
            config,
            last_heartbeat_ms: now_ms,
            last_mirror_ms: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// A heartbeat (or any message) from the primary arrived.
    pub fn on_heartbeat(&mut self, now_ms: u64) {
        self.last_heartbeat_ms = self.last_heartbeat_ms.max(now_ms);
    }

    /// The tap last saw a frame sent by the primary at `seen_ms`.
    pub fn on_primary_frame(&mut self, seen_ms: u64) {
        self.last_mirror_ms = Some(self.last_mirror_ms.map_or(seen_ms, |t| t.max(seen_ms)));
    }

    /// When the last heartbeat (or any message) of the primary arrived.
    pub fn last_heartbeat_ms(&self) -> u64 {
        self.last_heartbeat_ms
    }

    /// The primary's last sign of life: a heartbeat, a message or a mirrored frame.
    pub fn last_sign_of_life_ms(&self) -> u64 {
        self.last_heartbeat_ms.max(self.last_mirror_ms.unwrap_or(0))
    }

    /// The verdict at `now_ms`.
    pub fn verdict(&self, now_ms: u64) -> Verdict {
        let hb_deadline = self.last_heartbeat_ms + self.config.heartbeat_timeout_ms();
        if now_ms < hb_deadline {
            return Verdict::Alive;
        }
        let mirror_deadline = self
            .last_mirror_ms
            .map_or(0, |t| t + self.config.mirror_silence_ms);
        if now_ms < mirror_deadline {
            return Verdict::ChannelLost;
        }
        Verdict::Failed {
            declared_at_ms: hb_deadline.max(mirror_deadline),
        }
    }

    /// When the verdict can next change without new input.
    pub fn next_deadline(&self, now_ms: u64) -> u64 {
        let hb_deadline = self.last_heartbeat_ms + self.config.heartbeat_timeout_ms();
        let mirror_deadline = self
            .last_mirror_ms
            .map_or(0, |t| t + self.config.mirror_silence_ms);
        [hb_deadline, mirror_deadline]
            .into_iter()
            .filter(|d| *d > now_ms)
            .min()
            .unwrap_or(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_signals_must_stop() {
        let mut d = FailureDetector::new(DetectorConfig::default(), 0);
        d.on_heartbeat(1000);
        d.on_primary_frame(1050);
        assert_eq!(d.verdict(1299), Verdict::Alive);
        // Heartbeats stopped at 1300, the mirror still saw the primary at 1050 + 300.
        assert_eq!(d.verdict(1300), Verdict::ChannelLost);
        assert_eq!(d.next_deadline(1300), 1350);
        assert_eq!(
            d.verdict(1350),
            Verdict::Failed {
                declared_at_ms: 1350
            }
        );
    }

    #[test]
    fn mirror_traffic_holds_off_takeover() {
        let mut d = FailureDetector::new(DetectorConfig::default(), 0);
        for t in (0..2000).step_by(50) {
            d.on_primary_frame(t);
        }
        assert_eq!(d.verdict(2000), Verdict::ChannelLost);
        assert_eq!(d.verdict(2249), Verdict::ChannelLost);
        assert_eq!(
            d.verdict(2250),
            Verdict::Failed {
                declared_at_ms: 2250
            }
        );
    }

    #[test]
    fn configurable_interval() {
        let cfg = DetectorConfig {
            heartbeat_interval_ms: 50,
            missed_heartbeats: 4,
            mirror_silence_ms: 100,
        };
        let d = FailureDetector::new(cfg, 10);
        assert_eq!(d.verdict(209), Verdict::Alive);
        assert_eq!(
            d.verdict(210),
            Verdict::Failed {
                declared_at_ms: 210
            }
        );
    }
}
