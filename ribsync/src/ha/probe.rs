//! The split-brain probe, started during the detection window (issue 7, "Detection and
//! selection"; note3: the probe cost up to 50 ms of every takeover when it started only at
//! the declaration).
//!
//! Before a takeover the driver checks that the primary is really gone (bgpd: a TCP
//! connection to its session address on the BGP port). Once the primary's heartbeats have
//! been silent for a while (`after_ms`, less than the detection time), the controller asks
//! for that probe at once, so its answer is ready when the failure is declared. A "gone"
//! answer counts only if no sign of the primary's life (heartbeat, message or mirrored
//! frame) came after the probe started; otherwise (or when the primary answered, or no
//! answer came) the fencing step probes again itself: a primary that answers means no
//! takeover, as before.

/// Where the early probe stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// None asked for since the last heartbeat.
    Idle,
    /// Asked for at `since_ms` (driver clock), no answer yet.
    Running { since_ms: u64 },
    /// Answered: `gone` when the primary did not accept the connection.
    Done { since_ms: u64, gone: bool },
}

/// What the early probe says at the declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeAnswer {
    /// The primary was gone after its last sign of life: no need to probe again.
    Gone,
    /// Asked for after the last sign of life, no answer yet: wait for it.
    Pending,
    /// Not asked for, answered by the primary, or older than a sign of life: probe again.
    Unknown,
}

/// The early split-brain probe of one silence of the primary.
#[derive(Debug, Clone)]
pub(crate) struct EarlyProbe {
    after_ms: Option<u64>,
    state: State,
}

impl EarlyProbe {
    /// A probe asked for after `after_ms` of heartbeat silence (`None`: never early).
    pub(crate) fn new(after_ms: Option<u64>) -> Self {
        EarlyProbe {
            after_ms,
            state: State::Idle,
        }
    }

    /// True when the probe should start now: heartbeats silent since `last_heartbeat_ms`
    /// for at least `after_ms`, and none asked for in this silence yet.
    pub(crate) fn due(&mut self, now_ms: u64, last_heartbeat_ms: u64) -> bool {
        let Some(after) = self.after_ms else {
            return false;
        };
        if self.state != State::Idle || now_ms < last_heartbeat_ms + after {
            return false;
        }
        self.state = State::Running { since_ms: now_ms };
        true
    }

    /// When the probe falls due without new input (heartbeats silent since
    /// `last_heartbeat_ms`), if it has not been asked for in this silence.
    pub(crate) fn next_due(&self, last_heartbeat_ms: u64) -> Option<u64> {
        let after = self.after_ms?;
        (self.state == State::Idle).then_some(last_heartbeat_ms + after)
    }

    /// A heartbeat (or any message) of the primary stamped `at_ms`: a probe asked for
    /// before it belongs to a silence that ended; the next silence gets its own.
    pub(crate) fn on_heartbeat(&mut self, at_ms: u64) {
        let since = match self.state {
            State::Idle => return,
            State::Running { since_ms } | State::Done { since_ms, .. } => since_ms,
        };
        if at_ms > since {
            self.state = State::Idle;
        }
    }

    /// The driver's answer: `answered` when the primary accepted the connection.
    pub(crate) fn result(&mut self, answered: bool) {
        if let State::Running { since_ms } = self.state {
            self.state = State::Done {
                since_ms,
                gone: !answered,
            };
        }
    }

    /// What the probe says, given the primary's last sign of life at `life_ms` (heartbeat,
    /// message or mirrored frame).
    pub(crate) fn answer(&self, life_ms: u64) -> ProbeAnswer {
        match self.state {
            State::Done {
                since_ms,
                gone: true,
            } if since_ms >= life_ms => ProbeAnswer::Gone,
            State::Running { since_ms } if since_ms >= life_ms => ProbeAnswer::Pending,
            _ => ProbeAnswer::Unknown,
        }
    }

    /// Forget this silence (a new primary was attached).
    pub(crate) fn reset(&mut self) {
        self.state = State::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asked_once_per_silence_after_the_delay() {
        let mut p = EarlyProbe::new(Some(150));
        assert_eq!(p.next_due(100), Some(250));
        assert!(!p.due(249, 100));
        assert!(p.due(250, 100));
        assert!(!p.due(260, 100), "once per silence");
        assert_eq!(p.next_due(100), None);
        assert_eq!(p.answer(100), ProbeAnswer::Pending);
        p.result(false);
        assert_eq!(p.answer(100), ProbeAnswer::Gone);
        // A heartbeat after the probe started: the primary lives, a new silence starts.
        p.on_heartbeat(300);
        assert_eq!(p.answer(300), ProbeAnswer::Unknown);
        assert!(!p.due(449, 300));
        assert!(p.due(450, 300));
    }

    #[test]
    fn a_sign_of_life_after_the_probe_voids_a_gone() {
        let mut p = EarlyProbe::new(Some(150));
        assert!(p.due(250, 100));
        p.result(false);
        // A mirrored frame at 260, after the probe started at 250.
        assert_eq!(p.answer(260), ProbeAnswer::Unknown);
        // A stale heartbeat stamp read late does not end the silence.
        p.on_heartbeat(100);
        assert_eq!(p.answer(100), ProbeAnswer::Gone);
    }

    #[test]
    fn an_answering_primary_is_never_gone() {
        let mut p = EarlyProbe::new(Some(150));
        assert!(p.due(250, 100));
        p.result(true);
        assert_eq!(p.answer(100), ProbeAnswer::Unknown);
    }

    #[test]
    fn never_early_without_a_delay() {
        let mut p = EarlyProbe::new(None);
        assert!(!p.due(10_000, 0));
        assert_eq!(p.answer(0), ProbeAnswer::Unknown);
    }
}
