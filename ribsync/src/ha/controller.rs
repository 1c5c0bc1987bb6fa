//! A standby's role through a failure of the primary: detect, fence, elect, take over or
//! re-attach (issue 7, "Detection and selection").

use std::collections::{BTreeSet, VecDeque};

use super::detector::{DetectorConfig, FailureDetector, Verdict};
use super::election::{elect, Candidate, RosterEntry};
use super::probe::{EarlyProbe, ProbeAnswer};
use super::{NodeId, Priority};

/// The role of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaRole {
    /// Holds the sessions.
    Primary,
    /// Follows a primary.
    Standby {
        /// Whether it reports `synchronised`.
        synchronised: bool,
        /// Heartbeats stopped but the mirror still shows the primary: no takeover.
        channel_lost: bool,
    },
    /// Elected; the fencing command runs.
    Fencing,
    /// Elected (and fenced): the sessions are being taken over.
    TakingOver,
    /// Another standby was elected; this one re-attaches to it.
    AwaitingPrimary {
        /// The elected standby.
        winner: NodeId,
    },
    /// Will not take over (fencing failed, or no standby was synchronised).
    Halted {
        /// Why.
        reason: String,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaAction {
    /// The primary's heartbeats stopped (the failure is not declared yet): probe it now
    /// (bgpd: a connection to its session address) and report with
    /// [`HaController::probe_result`], so the answer is ready at the declaration. Only with
    /// [`HaConfig::probe_after_ms`] and fencing.
    Probe,
    /// Run the fencing step (check the primary is gone, then the configured command) and
    /// report with [`HaController::fencing_result`].
    RunFencing {
        /// The early probe ([`HaAction::Probe`]) found the primary gone after its last sign
        /// of life: the check need not run again. False: check it now.
        primary_gone: bool,
    },
    /// Take over every protected session, then report with
    /// [`HaController::takeover_done`].
    TakeOver {
        /// When the primary was declared failed.
        declared_at_ms: u64,
    },
    /// Attach as a standby to the new primary, then report with
    /// [`HaController::attached`].
    AttachTo {
        /// The new primary.
        node: NodeId,
        /// Its checkpoint endpoint (host:port).
        endpoint: String,
    },
}

/// Configuration of the HA controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// This node.
    pub node: NodeId,
    /// Its election priority.
    pub priority: Priority,
    /// Failure detection.
    pub detector: DetectorConfig,
    /// Whether a fencing command runs before takeover.
    pub fencing: bool,
    /// Milliseconds to wait for the elected standby to accept us before electing again
    /// without it.
    pub reattach_timeout_ms: u64,
    /// Milliseconds of heartbeat silence after which [`HaAction::Probe`] asks for the
    /// split-brain probe, ahead of the declaration (`None`: the fencing step probes).
    pub probe_after_ms: Option<u64>,
}

impl HaConfig {
    /// Defaults for `node` (priority 0, 3 x 100 ms detection, no fencing, 2 s re-attach).
    pub fn new(node: NodeId) -> Self {
        HaConfig {
            node,
            priority: Priority(0),
            detector: DetectorConfig::default(),
            fencing: false,
            reattach_timeout_ms: 2000,
            probe_after_ms: None,
        }
    }
}

/// The standby-side HA state machine.
#[derive(Debug)]
pub struct HaController {
    config: HaConfig,
    role: HaRole,
    detector: FailureDetector,
    roster: Vec<RosterEntry>,
    synchronised: bool,
    excluded: BTreeSet<NodeId>,
    await_deadline_ms: u64,
    declared_at_ms: u64,
    actions: VecDeque<HaAction>,
    /// The split-brain probe of the current silence of the primary.
    probe: EarlyProbe,
    /// Elected, fencing waits for the early probe's answer until then.
    fencing_waits_until_ms: Option<u64>,
}

impl HaController {
    /// A standby attached to its primary at `now_ms`.
    pub fn new(config: HaConfig, now_ms: u64) -> Self {
        let detector = FailureDetector::new(config.detector, now_ms);
        HaController {
            role: HaRole::Standby {
                synchronised: false,
                channel_lost: false,
            },
            detector,
            roster: Vec::new(),
            synchronised: false,
            excluded: BTreeSet::new(),
            await_deadline_ms: 0,
            declared_at_ms: 0,
            actions: VecDeque::new(),
            probe: EarlyProbe::new(config.probe_after_ms),
            fencing_waits_until_ms: None,
            config,
        }
    }

    /// A node that starts as the primary.
    pub fn new_primary(config: HaConfig, now_ms: u64) -> Self {
        let mut c = HaController::new(config, now_ms);
        c.role = HaRole::Primary;
        c
    }

    /// The current role.
    pub fn role(&self) -> &HaRole {
        &self.role
    }

    /// The last roster the primary sent.
    pub fn roster(&self) -> &[RosterEntry] {
        &self.roster
    }

    /// A heartbeat from the primary, with its roster.
    pub fn on_primary_heartbeat(&mut self, now_ms: u64, roster: Vec<RosterEntry>) {
        self.detector.on_heartbeat(now_ms);
        self.probe.on_heartbeat(now_ms);
        self.roster = roster;
    }

    /// A message from the primary (of any kind) arrived at `at_ms`: it is alive then,
    /// whatever the driver has yet to process.
    pub fn on_primary_alive(&mut self, at_ms: u64) {
        self.detector.on_heartbeat(at_ms);
        self.probe.on_heartbeat(at_ms);
    }

    /// The tap last saw a frame from the primary at `seen_ms`.
    pub fn on_primary_frame(&mut self, seen_ms: u64) {
        self.detector.on_primary_frame(seen_ms);
    }

    /// The checkpoint engine's sync state changed.
    pub fn set_synchronised(&mut self, synchronised: bool) {
        self.synchronised = synchronised;
        if let HaRole::Standby { channel_lost, .. } = self.role {
            self.role = HaRole::Standby {
                synchronised,
                channel_lost,
            };
        }
    }

    /// Advance to `now_ms`.
    pub fn tick(&mut self, now_ms: u64) {
        if matches!(self.role, HaRole::Standby { .. })
            && self.config.fencing
            && self.probe.due(now_ms, self.detector.last_heartbeat_ms())
        {
            self.actions.push_back(HaAction::Probe);
        }
        match self.role.clone() {
            // The early probe never answered: the fencing step probes itself.
            HaRole::Fencing
                if self
                    .fencing_waits_until_ms
                    .is_some_and(|until| now_ms >= until) =>
            {
                self.run_fencing(false);
            }
            HaRole::Standby { synchronised, .. } => match self.detector.verdict(now_ms) {
                Verdict::Alive => {
                    self.role = HaRole::Standby {
                        synchronised,
                        channel_lost: false,
                    }
                }
                Verdict::ChannelLost => {
                    self.role = HaRole::Standby {
                        synchronised,
                        channel_lost: true,
                    }
                }
                Verdict::Failed { declared_at_ms } => {
                    self.declared_at_ms = declared_at_ms;
                    self.elect(now_ms);
                }
            },
            HaRole::AwaitingPrimary { winner } if now_ms >= self.await_deadline_ms => {
                // The elected standby never took us: elect again without it.
                self.excluded.insert(winner);
                self.elect(now_ms);
            }
            _ => {}
        }
    }

    fn elect(&mut self, now_ms: u64) {
        let mut candidates: Vec<Candidate> = self
            .roster
            .iter()
            .filter(|e| e.node != self.config.node)
            .map(RosterEntry::candidate)
            .collect();
        candidates.push(Candidate {
            node: self.config.node,
            priority: self.config.priority,
            synchronised: self.synchronised,
        });
        candidates.retain(|c| !self.excluded.contains(&c.node));
        match elect(&candidates) {
            Some(node) if node == self.config.node => {
                if self.config.fencing {
                    self.role = HaRole::Fencing;
                    match self.probe.answer(self.detector.last_sign_of_life_ms()) {
                        ProbeAnswer::Gone => self.run_fencing(true),
                        ProbeAnswer::Unknown => self.run_fencing(false),
                        // Due within the probe's own time-out; bounded here too.
                        ProbeAnswer::Pending => {
                            self.fencing_waits_until_ms =
                                Some(now_ms + self.config.detector.heartbeat_interval_ms);
                        }
                    }
                } else {
                    self.role = HaRole::TakingOver;
                    self.actions.push_back(HaAction::TakeOver {
                        declared_at_ms: self.declared_at_ms,
                    });
                }
            }
            Some(node) => {
                let endpoint = self
                    .roster
                    .iter()
                    .find(|e| e.node == node)
                    .map(|e| e.endpoint.clone())
                    .unwrap_or_default();
                self.role = HaRole::AwaitingPrimary { winner: node };
                self.await_deadline_ms = now_ms + self.config.reattach_timeout_ms;
                self.actions
                    .push_back(HaAction::AttachTo { node, endpoint });
            }
            None => {
                self.role = HaRole::Halted {
                    reason: "primary failed and no standby is synchronised".into(),
                };
            }
        }
    }

    fn run_fencing(&mut self, primary_gone: bool) {
        self.fencing_waits_until_ms = None;
        self.actions
            .push_back(HaAction::RunFencing { primary_gone });
    }

    /// The early probe ([`HaAction::Probe`]) finished: `answered` when the primary accepted
    /// the connection. When the fencing step waits for it, it runs now.
    pub fn probe_result(&mut self, answered: bool) {
        self.probe.result(answered);
        if self.role == HaRole::Fencing && self.fencing_waits_until_ms.is_some() {
            let gone = self.probe.answer(self.detector.last_sign_of_life_ms()) == ProbeAnswer::Gone;
            self.run_fencing(gone);
        }
    }

    /// Planned switchover: the primary stepped down and handed its sessions to `target`
    /// (checkpoint endpoint `endpoint`). The target takes over at once (no detection; no
    /// fencing, the primary stopped itself); any other standby attaches to the target.
    /// Ignored unless this node is a standby.
    pub fn on_handover(&mut self, now_ms: u64, target: NodeId, endpoint: String) {
        if !matches!(self.role, HaRole::Standby { .. }) {
            return;
        }
        self.declared_at_ms = now_ms;
        if target == self.config.node {
            self.role = HaRole::TakingOver;
            self.actions.push_back(HaAction::TakeOver {
                declared_at_ms: now_ms,
            });
        } else {
            self.role = HaRole::AwaitingPrimary { winner: target };
            self.await_deadline_ms = now_ms + self.config.reattach_timeout_ms;
            self.actions.push_back(HaAction::AttachTo {
                node: target,
                endpoint,
            });
        }
    }

    /// The fencing step finished: `Ok` when the old primary is fenced, `Err(why)` when it
    /// is not (the fencing command failed, or the primary still answers). A failed fence
    /// means no takeover (the old primary may still write): the node halts with
    /// `"{why}: no takeover"` as its reason.
    pub fn fencing_result(&mut self, outcome: Result<(), String>) {
        if self.role != HaRole::Fencing {
            return;
        }
        match outcome {
            Ok(()) => {
                self.role = HaRole::TakingOver;
                self.actions.push_back(HaAction::TakeOver {
                    declared_at_ms: self.declared_at_ms,
                });
            }
            Err(why) => {
                self.role = HaRole::Halted {
                    reason: format!("{why}: no takeover"),
                };
            }
        }
    }

    /// Every protected session was taken over: this node is the primary.
    pub fn takeover_done(&mut self) {
        if self.role == HaRole::TakingOver {
            self.role = HaRole::Primary;
        }
    }

    /// The takeover failed (`reason`: e.g. the session addresses could not be added): this
    /// node holds no session and is not the primary; it halts with the reason, as
    /// `understudy ha` shows it.
    pub fn takeover_failed(&mut self, reason: &str) {
        if self.role == HaRole::TakingOver {
            self.role = HaRole::Halted {
                reason: format!("takeover failed: {reason}"),
            };
        }
    }

    /// Attached to the new primary at `now_ms`: a standby again, not yet synchronised.
    pub fn attached(&mut self, now_ms: u64) {
        if let HaRole::AwaitingPrimary { .. } = self.role {
            self.detector = FailureDetector::new(self.config.detector, now_ms);
            self.probe.reset();
            self.excluded.clear();
            self.synchronised = false;
            self.roster.clear();
            self.role = HaRole::Standby {
                synchronised: false,
                channel_lost: false,
            };
        }
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<HaAction> {
        self.actions.pop_front()
    }

    /// When [`HaController::tick`] should next run without new input.
    pub fn poll_timeout(&self, now_ms: u64) -> Option<u64> {
        match self.role {
            HaRole::Standby { .. } => {
                let detector = self.detector.next_deadline(now_ms);
                let probe = self
                    .probe
                    .next_due(self.detector.last_heartbeat_ms())
                    .filter(|t| *t > now_ms && self.config.fencing);
                Some(probe.map_or(detector, |p| p.min(detector)))
            }
            HaRole::AwaitingPrimary { .. } => Some(self.await_deadline_ms),
            HaRole::Fencing => self.fencing_waits_until_ms,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(node: u32, priority: u8, synchronised: bool) -> RosterEntry {
        RosterEntry {
            node: NodeId(node),
            priority: Priority(priority),
            synchronised,
            endpoint: format!("192.0.2.{node}:50051"),
        }
    }

    fn roster() -> Vec<RosterEntry> {
        vec![entry(1, 10, true), entry(2, 20, true), entry(3, 20, true)]
    }

    fn standby(node: u32, priority: u8, fencing: bool) -> HaController {
        let mut cfg = HaConfig::new(NodeId(node));
        cfg.priority = Priority(priority);
        cfg.fencing = fencing;
        let mut c = HaController::new(cfg, 0);
        c.set_synchronised(true);
        c.on_primary_heartbeat(100, roster());
        c
    }

    #[test]
    fn a_message_counts_from_its_arrival_not_from_when_the_driver_reads_it() {
        // The primary's message arrived at 380; the driver, busy feeding the mirror, gets
        // to its verdicts only at 600: still alive (380 + 3 x 100 = 680).
        let mut c = standby(2, 20, false);
        c.on_primary_alive(380);
        c.tick(600);
        assert_eq!(c.poll_action(), None);
        assert!(matches!(c.role(), HaRole::Standby { .. }));
        // An older stamp read late does not move the deadline back.
        c.on_primary_alive(200);
        c.tick(679);
        assert_eq!(c.poll_action(), None);
        c.tick(680);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::TakeOver {
                declared_at_ms: 680
            })
        );
    }

    #[test]
    fn winner_takes_over_after_heartbeats_and_mirror_stop() {
        let mut c = standby(2, 20, false);
        c.on_primary_frame(150);
        c.tick(399);
        assert_eq!(c.poll_action(), None);
        c.tick(400); // heartbeats stopped at 400, mirror at 450
        assert_eq!(
            c.role(),
            &HaRole::Standby {
                synchronised: true,
                channel_lost: true
            }
        );
        assert_eq!(c.poll_action(), None);
        c.tick(450);
        assert_eq!(c.role(), &HaRole::TakingOver);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::TakeOver {
                declared_at_ms: 450
            })
        );
        c.takeover_done();
        assert_eq!(c.role(), &HaRole::Primary);
    }

    #[test]
    fn split_brain_guard_when_primary_still_on_mirror() {
        let mut c = standby(2, 20, false);
        for t in (100..5000).step_by(100) {
            c.on_primary_frame(t);
            c.tick(t);
        }
        assert!(matches!(
            c.role(),
            HaRole::Standby {
                channel_lost: true,
                ..
            }
        ));
        assert_eq!(c.poll_action(), None);
    }

    #[test]
    fn loser_reattaches_to_winner_and_reelects_if_it_never_answers() {
        let mut c = standby(3, 20, false);
        c.tick(400);
        assert_eq!(c.role(), &HaRole::AwaitingPrimary { winner: NodeId(2) });
        assert_eq!(
            c.poll_action(),
            Some(HaAction::AttachTo {
                node: NodeId(2),
                endpoint: "192.0.2.2:50051".into()
            })
        );
        // Node 2 never accepts: after the re-attach timeout node 3 is the best left.
        c.tick(2399);
        assert_eq!(c.poll_action(), None);
        c.tick(2400);
        assert_eq!(c.role(), &HaRole::TakingOver);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::TakeOver {
                declared_at_ms: 400
            })
        );
    }

    #[test]
    fn attached_loser_is_a_standby_again() {
        let mut c = standby(1, 10, false);
        c.tick(400);
        assert_eq!(c.role(), &HaRole::AwaitingPrimary { winner: NodeId(2) });
        c.attached(420);
        assert_eq!(
            c.role(),
            &HaRole::Standby {
                synchronised: false,
                channel_lost: false
            }
        );
        c.tick(700);
        assert!(matches!(c.role(), HaRole::Standby { .. }));
        c.tick(720);
        // Not synchronised and the roster is empty: nobody can take over.
        assert!(matches!(c.role(), HaRole::Halted { .. }));
    }

    #[test]
    fn handover_target_takes_over_at_once_others_follow_it() {
        let mut target = standby(3, 20, true);
        target.on_handover(150, NodeId(3), "192.0.2.3:50051".into());
        assert_eq!(
            target.role(),
            &HaRole::TakingOver,
            "no fencing: the primary stepped down"
        );
        assert_eq!(
            target.poll_action(),
            Some(HaAction::TakeOver {
                declared_at_ms: 150
            })
        );
        target.takeover_done();
        assert_eq!(target.role(), &HaRole::Primary);
        // A second handover (or one for a primary) changes nothing.
        target.on_handover(200, NodeId(2), "x".into());
        assert_eq!(target.role(), &HaRole::Primary);
        assert_eq!(target.poll_action(), None);

        let mut other = standby(2, 20, false);
        other.on_handover(150, NodeId(3), "192.0.2.3:50051".into());
        assert_eq!(other.role(), &HaRole::AwaitingPrimary { winner: NodeId(3) });
        assert_eq!(
            other.poll_action(),
            Some(HaAction::AttachTo {
                node: NodeId(3),
                endpoint: "192.0.2.3:50051".into()
            })
        );
    }

    /// Fencing with the early probe after 150 ms of heartbeat silence; last heartbeat at
    /// 100, so the probe falls due at 250 and the failure is declared at 400.
    fn probing_standby() -> HaController {
        let mut cfg = HaConfig::new(NodeId(2));
        cfg.priority = Priority(20);
        cfg.fencing = true;
        cfg.probe_after_ms = Some(150);
        let mut c = HaController::new(cfg, 0);
        c.set_synchronised(true);
        c.on_primary_heartbeat(100, roster());
        c
    }

    #[test]
    fn the_probe_starts_when_heartbeats_stop_and_is_answered_by_the_declaration() {
        let mut c = probing_standby();
        assert_eq!(c.poll_timeout(120), Some(250));
        c.tick(249);
        assert_eq!(c.poll_action(), None);
        c.tick(250);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        assert!(
            matches!(c.role(), HaRole::Standby { .. }),
            "nothing declared yet"
        );
        c.probe_result(false);
        c.tick(399);
        assert_eq!(c.poll_action(), None);
        c.tick(400);
        assert_eq!(c.role(), &HaRole::Fencing);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing { primary_gone: true })
        );
        c.fencing_result(Ok(()));
        assert_eq!(
            c.poll_action(),
            Some(HaAction::TakeOver {
                declared_at_ms: 400
            })
        );
    }

    /// bgpd's defaults (3 x 100 ms, mirror silence 300 ms, fencing with the early probe at
    /// 150 ms): a primary that dies right after its heartbeat and a mirrored frame at 1,000
    /// is declared at 1,300 to the millisecond, and the driver is woken for exactly then.
    /// The takeover bench's declarations came 0-2 ms after this deadline; what it showed
    /// beyond 300 ms after the failure was its own cut (issue 7).
    #[test]
    fn with_the_default_detection_the_declaration_comes_300_ms_after_the_last_sign_of_life() {
        let mut cfg = HaConfig::new(NodeId(2));
        cfg.priority = Priority(20);
        cfg.fencing = true;
        cfg.probe_after_ms = Some(150);
        let mut c = HaController::new(cfg, 0);
        c.set_synchronised(true);
        c.on_primary_heartbeat(1000, roster());
        c.on_primary_frame(1000);
        assert_eq!(c.poll_timeout(1000), Some(1150), "the probe first");
        c.tick(1150);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        // The primary's box is gone: the connection attempt times out (50 ms).
        c.probe_result(false);
        assert_eq!(c.poll_timeout(1200), Some(1300), "woken at the deadline");
        c.tick(1299);
        assert_eq!(c.poll_action(), None);
        assert!(matches!(c.role(), HaRole::Standby { .. }));
        c.tick(1300);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing { primary_gone: true }),
            "no second probe: the answer is in"
        );
        c.fencing_result(Ok(()));
        assert_eq!(
            c.poll_action(),
            Some(HaAction::TakeOver {
                declared_at_ms: 1300
            })
        );

        // Its last heartbeat at 1,000 but a mirrored frame at 1,040 (it died between two
        // heartbeats): 1,340, the mirror's silence.
        let mut c = probing_standby();
        c.on_primary_heartbeat(1000, roster());
        c.on_primary_frame(1040);
        c.tick(1150);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        c.probe_result(false);
        assert_eq!(c.poll_timeout(1300), Some(1340));
        c.tick(1339);
        assert_eq!(c.poll_action(), None);
        c.tick(1340);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing { primary_gone: true })
        );
    }

    #[test]
    fn a_probe_still_running_at_the_declaration_is_waited_for() {
        let mut c = probing_standby();
        c.tick(250);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        c.tick(400);
        assert_eq!(c.role(), &HaRole::Fencing);
        assert_eq!(c.poll_action(), None, "waits for the probe's answer");
        assert_eq!(c.poll_timeout(400), Some(500));
        c.probe_result(false);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing { primary_gone: true })
        );

        // No answer within a heartbeat interval: the fencing step probes itself.
        let mut c = probing_standby();
        c.tick(250);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        c.tick(400);
        c.tick(499);
        assert_eq!(c.poll_action(), None);
        c.tick(500);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing {
                primary_gone: false
            })
        );
        // A late answer changes nothing.
        c.probe_result(false);
        assert_eq!(c.poll_action(), None);
    }

    #[test]
    fn a_primary_that_answered_or_showed_life_after_the_probe_is_probed_again() {
        let mut c = probing_standby();
        c.tick(250);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        c.probe_result(true);
        c.tick(400);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing {
                primary_gone: false
            })
        );

        // Gone at the probe, but a frame from the primary on the mirror after it started.
        let mut c = probing_standby();
        c.tick(250);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        c.probe_result(false);
        c.on_primary_frame(260);
        c.tick(400);
        assert_eq!(c.poll_action(), None, "the mirror still shows the primary");
        c.tick(560);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing {
                primary_gone: false
            })
        );
    }

    #[test]
    fn each_silence_of_the_heartbeats_gets_its_own_probe() {
        let mut c = probing_standby();
        c.tick(250);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        c.tick(260);
        assert_eq!(c.poll_action(), None, "once per silence");
        c.probe_result(true);
        // The heartbeats come back: no declaration; the next silence probes again.
        c.on_primary_heartbeat(270, roster());
        c.tick(419);
        assert_eq!(c.poll_action(), None);
        c.tick(420);
        assert_eq!(c.poll_action(), Some(HaAction::Probe));
        c.probe_result(false);
        c.tick(570);
        assert_eq!(
            c.poll_action(),
            Some(HaAction::RunFencing { primary_gone: true })
        );
    }

    #[test]
    fn no_early_probe_without_fencing_or_a_delay() {
        let mut c = standby(2, 20, true);
        c.tick(250);
        assert_eq!(c.poll_action(), None);
        let mut cfg = HaConfig::new(NodeId(2));
        cfg.probe_after_ms = Some(150);
        let mut c = HaController::new(cfg, 0);
        c.set_synchronised(true);
        c.on_primary_heartbeat(100, roster());
        c.tick(250);
        assert_eq!(c.poll_action(), None);
    }

    #[test]
    fn fencing_gates_takeover() {
        let mut ok = standby(2, 20, true);
        ok.tick(400);
        assert_eq!(ok.role(), &HaRole::Fencing);
        assert_eq!(
            ok.poll_action(),
            Some(HaAction::RunFencing {
                primary_gone: false
            })
        );
        ok.fencing_result(Ok(()));
        assert_eq!(
            ok.poll_action(),
            Some(HaAction::TakeOver {
                declared_at_ms: 400
            })
        );

        let mut failed = standby(2, 20, true);
        failed.tick(400);
        assert_eq!(
            failed.poll_action(),
            Some(HaAction::RunFencing {
                primary_gone: false
            })
        );
        failed.fencing_result(Err("the primary still answers on 192.0.2.1:179".into()));
        assert_eq!(
            failed.role(),
            &HaRole::Halted {
                reason: "the primary still answers on 192.0.2.1:179: no takeover".into()
            }
        );
        assert_eq!(failed.poll_action(), None);
    }

    #[test]
    fn unsynchronised_standby_never_takes_over() {
        let mut c = standby(2, 20, false);
        c.set_synchronised(false);
        // The roster says node 2 is synchronised, but its own engine says otherwise, and
        // its own view wins: node 3 is elected.
        c.tick(400);
        assert_eq!(c.role(), &HaRole::AwaitingPrimary { winner: NodeId(3) });
    }

    #[test]
    fn a_failed_takeover_halts_with_its_reason() {
        let mut c = standby(2, 20, false);
        c.tick(400);
        assert_eq!(c.role(), &HaRole::TakingOver);
        assert!(matches!(c.poll_action(), Some(HaAction::TakeOver { .. })));
        c.takeover_failed("cannot add 192.0.2.1/24: Operation not permitted");
        assert_eq!(
            c.role(),
            &HaRole::Halted {
                reason: "takeover failed: cannot add 192.0.2.1/24: Operation not permitted".into()
            }
        );
        // Late reports change nothing: not the primary.
        c.takeover_done();
        assert!(matches!(c.role(), HaRole::Halted { .. }));
        assert_eq!(c.poll_action(), None);
    }
}
