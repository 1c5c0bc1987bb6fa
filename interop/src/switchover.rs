//! The planned switchover scenario of `interop demo --switchover` and
//! `interop/tests/failover_switchover_lab.rs` (issue 7): once the standby is in lockstep,
//! `understudy switchover` on the primary hands every session to the standby (the old
//! primary then follows it as a standby); once the old primary is in lockstep again,
//! `understudy switchover` on the new primary gives the role back (failback). The demo
//! around it shows what the neighbours saw and the ping stream's loss.
//!
//! [`Refused`] is the error path: `understudy switchover` with no synchronised standby
//! fails with one line and changes nothing.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::demo::{DemoLab, Scenario, ScenarioOutcome};
use crate::error::{LabError, Result};
use crate::failover::{find, wait_lockstep_of, SYNCHRONISED, TAKEOVER_COMPLETE};
use crate::poll::{poll_until, watch};
use crate::speaker::{field_f64, sibling_binary, LabSpeaker};

/// One switchover as the lab saw it.
#[derive(Debug, Clone)]
pub struct SwitchStep {
    /// The node that was primary (its name).
    pub from: String,
    /// The node that took over.
    pub to: String,
    /// `understudy --json switchover` on `from`.
    pub reply: Value,
    /// The new primary's `takeover_ms` (handover received -> every session live).
    pub takeover_ms: Option<f64>,
    /// `understudy ha --json` of `from` and of `to` once `to` reported its takeover.
    pub ha_after: (Value, Value),
    /// Wall time from the command to the new primary's `ha: takeover complete`.
    pub wall: Duration,
}

/// Switch over to the standby, then (with `failback`) back.
#[derive(Debug, Clone, Default)]
pub struct Switchover {
    /// Whether to switch back once the old primary is in lockstep again.
    pub failback: bool,
    /// How long to watch at the end (longer than the neighbours' hold time shows the
    /// sessions survive).
    pub watch: Duration,
    /// What happened, in order (read it after the run).
    pub steps: Vec<SwitchStep>,
}

/// Runs `understudy --json ARGS` against `speaker`: its stdout, or its stderr as the error.
fn cli(speaker: &LabSpeaker, args: &[&str]) -> Result<std::result::Result<String, String>> {
    let cli = sibling_binary("understudy").ok_or_else(|| LabError::Topology {
        file: "<lab>".into(),
        detail:
            "the understudy CLI is missing next to this executable (cargo build --release -p bgpd)"
                .into(),
    })?;
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = speaker.ns.exec_output(&cli.to_string_lossy(), &full)?;
    Ok(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    })
}

/// `understudy switchover` on the node labelled `leader`, then waits for the node labelled
/// `follower` to report its takeover and both to show their new roles.
fn switch(lab: &mut DemoLab<'_>, leader: &str, follower: &str) -> Result<SwitchStep> {
    let timeout = lab.timeout;
    let from = find(lab.speakers, leader)?.node.clone();
    let to = find(lab.speakers, follower)?.node.clone();
    let t0 = Instant::now();
    let reply =
        cli(find(lab.speakers, leader)?, &["switchover"])?.map_err(|stderr| LabError::Command {
            command: format!("understudy switchover (on {from})"),
            status: "refused".into(),
            stderr,
        })?;
    let reply: Value =
        serde_json::from_str(&reply).map_err(|e| LabError::parse("understudy switchover", e))?;
    let done = find(lab.speakers, follower)?.wait_log(TAKEOVER_COMPLETE, timeout)?;
    let wall = t0.elapsed();
    let takeover_ms = field_f64(&done, "takeover_ms");
    let ha_after = poll_until(
        &format!("{from} to report standby and {to} primary"),
        timeout,
        Duration::from_millis(100),
        || {
            let a = find(lab.speakers, leader)?.ha_status()?;
            let b = find(lab.speakers, follower)?.ha_status()?;
            Ok((a["role"] == "standby" && b["role"] == "primary").then_some((a, b)))
        },
    )?;
    (lab.progress)(&format!(
        "switchover {from} -> {to}: {} ; {to} took over in {} ms ({:.0} ms from the command)",
        reply["message"].as_str().unwrap_or(""),
        takeover_ms.map_or("?".into(), |m| format!("{m:.1}")),
        wall.as_secs_f64() * 1000.0
    ));
    Ok(SwitchStep {
        from,
        to,
        reply,
        takeover_ms,
        ha_after,
        wall,
    })
}

fn lockstep(lab: &mut DemoLab<'_>, leader: &str, follower: &str) -> Result<()> {
    let (routes, digest) = wait_lockstep_of(lab.speakers, leader, follower, lab.timeout)?;
    let (l, f) = (
        find(lab.speakers, leader)?.node.clone(),
        find(lab.speakers, follower)?.node.clone(),
    );
    (lab.progress)(&format!(
        "{f} in lockstep with {l}: {routes} Loc-RIB routes, digest {}",
        &digest[..digest.len().min(16)]
    ));
    Ok(())
}

impl Scenario for Switchover {
    fn name(&self) -> &str {
        if self.failback {
            "planned switchover and failback (understudy switchover, twice)"
        } else {
            "planned switchover (understudy switchover)"
        }
    }

    fn wants_standby(&self) -> bool {
        true
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> Result<ScenarioOutcome> {
        let timeout = lab.timeout;
        find(lab.speakers, "standby")?.wait_log(SYNCHRONISED, timeout)?;
        lockstep(lab, "primary", "standby")?;
        let step = switch(lab, "primary", "standby")?;
        self.steps.push(step);
        // The old primary follows the new one and catches up.
        find(lab.speakers, "primary")?.wait_log(SYNCHRONISED, timeout)?;
        lockstep(lab, "standby", "primary")?;
        if self.failback {
            let step = switch(lab, "standby", "primary")?;
            self.steps.push(step);
            lockstep(lab, "primary", "standby")?;
        }
        watch(self.watch)?;
        let last = self.steps.last().and_then(|s| s.takeover_ms);
        Ok(ScenarioOutcome {
            takeover: last.map(|m| Duration::from_secs_f64(m / 1000.0)),
            summary: format!(
                "{}; watched {:?} after",
                self.steps
                    .iter()
                    .map(|s| format!(
                        "{} -> {} in {} ms",
                        s.from,
                        s.to,
                        s.takeover_ms.map_or("?".into(), |m| format!("{m:.1}"))
                    ))
                    .collect::<Vec<_>>()
                    .join(", then "),
                self.watch
            ),
        })
    }
}

/// The error path: no standby runs, `understudy switchover` on the primary must fail with
/// one line and change nothing (the node stays primary).
#[derive(Debug, Clone, Default)]
pub struct Refused {
    /// What `understudy switchover` wrote on stderr (None: it succeeded).
    pub error: Option<String>,
    /// `understudy ha --json` of the primary before and after.
    pub ha: Option<(Value, Value)>,
}

impl Scenario for Refused {
    fn name(&self) -> &str {
        "switchover without a synchronised standby (refused)"
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> Result<ScenarioOutcome> {
        let primary = find(lab.speakers, "primary")?;
        let before = primary.ha_status()?;
        self.error = cli(primary, &["switchover"])?.err();
        // A refusal is immediate; anything it set off would show within this.
        watch(Duration::from_secs(3))?;
        let after = find(lab.speakers, "primary")?.ha_status()?;
        self.ha = Some((before, after));
        (lab.progress)(&format!(
            "understudy switchover: {}",
            self.error.as_deref().unwrap_or("(succeeded)")
        ));
        Ok(ScenarioOutcome {
            takeover: None,
            summary: "switchover refused, nothing changed".into(),
        })
    }
}
