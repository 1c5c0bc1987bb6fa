//! The failover scenario of `interop demo` (issue 7): once the standby reports
//! `ha: synchronised`, the primary's box dies the way a box dies (every link cut first, so
//! no FIN or RST escapes, then its bgpd killed by PID), the standby declares it failed and
//! takes the sessions over (`ha: takeover complete`, with its own `takeover_ms`), and the
//! lab is watched for longer than the neighbours' hold time while the ping stream runs.

use std::time::{Duration, Instant};

use crate::demo::{DemoLab, Scenario, ScenarioOutcome};
use crate::error::{LabError, Result};
use crate::poll::{poll_until, watch};
use crate::speaker::{field_f64, LabSpeaker};

/// The standby's log line once it follows the primary in lockstep.
pub const SYNCHRONISED: &str = "ha: synchronised";
/// The standby's log line once every protected session is live on it.
pub const TAKEOVER_COMPLETE: &str = "ha: takeover complete";

/// Kill the primary, let the standby take over, watch.
#[derive(Debug, Clone)]
pub struct Failover {
    /// How long to watch after the takeover (longer than the neighbours' hold time shows
    /// the sessions survive).
    pub watch: Duration,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            watch: Duration::from_secs(12),
        }
    }
}

/// The understudy speaker labelled `understudy.ha: ROLE`.
///
/// # Errors
/// A topology error when there is none.
pub fn find<'a>(speakers: &'a mut [LabSpeaker], role: &str) -> Result<&'a mut LabSpeaker> {
    speakers
        .iter_mut()
        .find(|s| s.ha.as_deref() == Some(role))
        .ok_or_else(|| LabError::Topology {
            file: "<topology>".into(),
            detail: format!("the failover needs an understudy node labelled understudy.ha: {role}"),
        })
}

/// Waits until the standby reports itself synchronised and connected, still a standby,
/// with the primary's Loc-RIB (same route count and digest) for a second; returns them.
///
/// # Errors
/// On timeout, or when the standby took over already (split brain).
pub fn wait_lockstep(speakers: &mut [LabSpeaker], timeout: Duration) -> Result<(u64, String)> {
    wait_lockstep_of(speakers, "primary", "standby", timeout)
}

/// [`wait_lockstep`] between the nodes labelled `understudy.ha: LEADER` (the primary now)
/// and `understudy.ha: FOLLOWER` (its standby now): after a switchover the labels name the
/// roles the nodes started in.
///
/// # Errors
/// A timeout, or the follower reporting itself primary (split brain).
pub fn wait_lockstep_of(
    speakers: &mut [LabSpeaker],
    leader: &str,
    follower: &str,
    timeout: Duration,
) -> Result<(u64, String)> {
    let mut since: Option<(Instant, String)> = None;
    poll_until(
        "the standby to be in lockstep with the primary (understudy ha: synchronised, same Loc-RIB digest)",
        timeout,
        Duration::from_millis(200),
        || {
            let p = find(speakers, leader)?.ha_status()?;
            let s = find(speakers, follower)?.ha_status()?;
            let role = s["role"].as_str().unwrap_or("");
            if role == "primary" {
                return Err(LabError::Topology {
                    file: "<lab>".into(),
                    detail: "the standby took over before the primary failed (split brain): see its log".into(),
                });
            }
            let digest = s["loc_rib_digest"].as_str().unwrap_or("").to_string();
            let ok = role == "standby"
                && s["synchronised"] == true
                && s["connected"] == true
                && !digest.is_empty()
                && p["loc_rib_digest"].as_str() == Some(digest.as_str())
                && p["loc_rib_routes"] == s["loc_rib_routes"];
            if !ok {
                since = None;
                return Ok(None);
            }
            match &since {
                Some((t, d)) if *d == digest && t.elapsed() >= Duration::from_secs(1) => {
                    Ok(Some((s["loc_rib_routes"].as_u64().unwrap_or(0), digest)))
                }
                Some((_, d)) if *d == digest => Ok(None),
                _ => {
                    since = Some((Instant::now(), digest));
                    Ok(None)
                }
            }
        },
    )
}

impl Scenario for Failover {
    fn name(&self) -> &str {
        "failover (the primary dies, the standby takes over)"
    }

    fn wants_standby(&self) -> bool {
        true
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> Result<ScenarioOutcome> {
        let timeout = lab.timeout;
        find(lab.speakers, "standby")?.wait_log(SYNCHRONISED, timeout)?;
        let (routes, digest) = wait_lockstep(lab.speakers, timeout)?;
        (lab.progress)(&format!(
            "standby in lockstep with the primary: {routes} Loc-RIB routes, digest {}",
            &digest[..digest.len().min(16)]
        ));

        let primary_node = find(lab.speakers, "primary")?.node.clone();
        let failed_at = std::time::SystemTime::now();
        let cut = lab.rt.cut_links(&primary_node)?;
        let cut_at = Instant::now();
        let primary = find(lab.speakers, "primary")?;
        let pid = primary.process.pid();
        primary.process.kill();
        (lab.progress)(&format!(
            "{primary_node} died: {} links cut, bgpd (pid {pid}) killed",
            cut.len()
        ));

        let standby = find(lab.speakers, "standby")?;
        let done = standby.wait_log(TAKEOVER_COMPLETE, timeout)?;
        let seen_after = cut_at.elapsed();
        let takeover_ms = field_f64(&done, "takeover_ms");
        let sessions = field_f64(&done, "sessions").unwrap_or(0.0);
        let failed = field_f64(&done, "failed").unwrap_or(0.0);
        (lab.progress)(&format!(
            "standby: takeover complete, {sessions} sessions ({failed} failed), takeover {}; seen {:.0} ms after the links were cut",
            crate::poll::ms_text(takeover_ms),
            seen_after.as_secs_f64() * 1000.0
        ));

        watch(self.watch)?;
        Ok(ScenarioOutcome {
            takeover: takeover_ms.map(|m| Duration::from_secs_f64(m / 1000.0)),
            summary: format!(
                "primary killed; standby took over {sessions} sessions ({failed} failed); watched {} after",
                crate::poll::secs_text(self.watch)
            ),
            failed_at: Some(failed_at),
            sessions: Some((sessions as u64, failed as u64)),
        })
    }
}
