//! The planned switchover scenario of `interop demo --switchover` and
//! `interop/tests/failover_switchover_lab.rs` (issue 7): once the standby is in lockstep,
//! `understudy switchover` on the primary hands every session to the standby (the old
//! primary then follows it as a standby); once the old primary is in lockstep again,
//! `understudy switchover` on the new primary gives the role back (failback). The demo
//! around it shows what the neighbours saw and the ping stream's loss.
//!
//! [`Refused`] is the error path: `understudy switchover` with no synchronised standby
//! fails with one line and changes nothing. [`RejoinAfterFailover`] is failback after an
//! unplanned failover: the killed primary comes back as a standby and takes the role back.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::demo::{DemoLab, Scenario, ScenarioOutcome};
use crate::error::{LabError, Result};
use crate::failover::{find, wait_lockstep_of, SYNCHRONISED, TAKEOVER_COMPLETE};
use crate::poll::{poll_until, watch};
use crate::process::LabProcess;
use crate::speaker::{field_f64, sibling_binary, LabSpeaker, CONFIG_NAMES};

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
/// `follower` to report its takeover and both to show their new roles. The command is given
/// once `leader` shows every session protected (it refuses a standby that could not take
/// every session over).
fn switch(lab: &mut DemoLab<'_>, leader: &str, follower: &str) -> Result<SwitchStep> {
    let timeout = lab.timeout;
    let from = find(lab.speakers, leader)?.node.clone();
    let to = find(lab.speakers, follower)?.node.clone();
    poll_until(
        &format!("{from} to show every session protected by its standby"),
        timeout,
        Duration::from_millis(100),
        || {
            let h = find(lab.speakers, leader)?.ha_status()?;
            let flows = h["flows"].as_array().cloned().unwrap_or_default();
            Ok((!flows.is_empty() && flows.iter().all(|f| f["protected"] == true)).then_some(()))
        },
    )?;
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
        "switchover {from} -> {to}: {}; {to} took over in {} ({:.0} ms from the command)",
        reply["message"].as_str().unwrap_or(""),
        crate::poll::ms_text(takeover_ms),
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
                "{}; watched {} after",
                self.steps
                    .iter()
                    .map(|s| format!(
                        "{} -> {} in {}",
                        s.from,
                        s.to,
                        crate::poll::ms_text(s.takeover_ms)
                    ))
                    .collect::<Vec<_>>()
                    .join(", then "),
                crate::poll::secs_text(self.watch)
            ),
            ..ScenarioOutcome::default()
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
            ..ScenarioOutcome::default()
        })
    }
}

/// Failback after an unplanned failover: the primary's box dies (links cut, bgpd killed),
/// the standby takes over; the box comes back as after a power cycle
/// ([`RunningTopology::reboot_node`]: a fresh namespace, so none of the dead bgpd's
/// sockets, whose FINs would otherwise reach the neighbours when the links return), without
/// the service addresses (`fenced_addresses`, which a fenced box must not hold); then its
/// bgpd is started with `rejoin_config` (`role = "standby"`, `primary` the new primary's
/// endpoint); once it is in lockstep, `understudy switchover` on the new primary gives it
/// the role back.
///
/// [`RunningTopology::reboot_node`]: crate::topology::instantiate::RunningTopology::reboot_node
#[derive(Debug, Clone, Default)]
pub struct RejoinAfterFailover {
    /// The old primary's configuration as a standby.
    pub rejoin_config: std::path::PathBuf,
    /// The addresses removed from the rebooted box before its links come back
    /// (`ADDR/LEN`, device), as `ip addr del` takes them.
    pub fenced_addresses: Vec<(String, String)>,
    /// How long to watch at the end.
    pub watch: Duration,
    /// The failover's `takeover_ms` (standby's own measure).
    pub failover_ms: Option<f64>,
    /// TCP sockets on port 179 in the rebooted box before its bgpd started (`ss -tan`
    /// lines; a rebooted box has none).
    pub sockets_after_reboot: Vec<String>,
    /// What bgpd said when started first with the box's old configuration (`role =
    /// "primary"`, the topology's bind) while the other node is primary: it must refuse
    /// and exit (None: it did not exit within the timeout and was killed).
    pub old_config_refusal: Option<String>,
    /// `understudy ha --json` of the rejoined node and of the new primary once in lockstep.
    pub ha_rejoined: Option<(Value, Value)>,
    /// The failback.
    pub failback: Option<SwitchStep>,
}

impl Scenario for RejoinAfterFailover {
    fn name(&self) -> &str {
        "unplanned failover, the old primary reboots and rejoins as a standby, failback by switchover"
    }

    fn wants_standby(&self) -> bool {
        true
    }

    fn run(&mut self, lab: &mut DemoLab<'_>) -> Result<ScenarioOutcome> {
        let timeout = lab.timeout;
        find(lab.speakers, "standby")?.wait_log(SYNCHRONISED, timeout)?;
        lockstep(lab, "primary", "standby")?;
        // The box dies.
        let node = find(lab.speakers, "primary")?.node.clone();
        let failed_at = std::time::SystemTime::now();
        lab.rt.cut_links(&node)?;
        find(lab.speakers, "primary")?.process.kill();
        let done = find(lab.speakers, "standby")?.wait_log(TAKEOVER_COMPLETE, timeout)?;
        self.failover_ms = field_f64(&done, "takeover_ms");
        (lab.progress)(&format!(
            "{node} died; the standby took over in {}",
            crate::poll::ms_text(self.failover_ms)
        ));
        // It boots again: a fresh kernel (namespace), links still cut.
        let cut = lab.rt.reboot_node(&node)?;
        let ns = find(lab.speakers, "primary")?.ns.clone();
        for (addr, dev) in &self.fenced_addresses {
            ns.exec("ip", &["addr", "del", addr, "dev", dev])?;
        }
        self.sockets_after_reboot = ns
            .exec("ss", &["-Htan", "( sport = :179 or dport = :179 )"])?
            .lines()
            .map(str::to_string)
            .collect();
        lab.rt.restore_links(&cut)?;
        (lab.progress)(&format!(
            "{node} rebooted (fresh namespace, {} TCP sockets on port 179), links back, without {:?}",
            self.sockets_after_reboot.len(),
            self.fenced_addresses
                .iter()
                .map(|(a, _)| a.as_str())
                .collect::<Vec<_>>()
        ));
        let bgpd = sibling_binary("bgpd").ok_or_else(|| LabError::Topology {
            file: "<lab>".into(),
            detail: "bgpd is missing next to this executable".into(),
        })?;
        // An operator's likely first move: the box's unchanged configuration, as primary.
        // It must not take the sessions the other node holds.
        let old_conf = lab
            .rt
            .nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| lab.rt.topology.bind_source(n, CONFIG_NAMES))
            .ok_or_else(|| LabError::Topology {
                file: lab.rt.topology.name.clone(),
                detail: format!("{node} binds no bgpd configuration"),
            })?;
        let old_conf = old_conf.to_string_lossy().into_owned();
        let mut attempt = LabProcess::spawn(
            &ns,
            &format!("bgpd on {node} (old configuration)"),
            &bgpd.to_string_lossy(),
            &["--config", &old_conf],
            &[("RUST_LOG", "info")],
            &lab.rt.lab.subdir(&node)?.join("bgpd-old-config.log"),
        )?;
        let exited = poll_until(
            &format!("bgpd on {node} with its old primary configuration to refuse and exit"),
            timeout,
            Duration::from_millis(50),
            || Ok(attempt.check_running().is_err().then_some(())),
        );
        self.old_config_refusal = match exited {
            Ok(()) => attempt
                .log_tail(2000)
                .lines()
                .rev()
                .find(|l| l.starts_with("bgpd: "))
                .map(str::to_string),
            Err(LabError::Timeout { .. }) => None,
            Err(e) => return Err(e),
        };
        attempt.kill();
        (lab.progress)(&format!(
            "{node} started with its old configuration ({old_conf}): {}",
            self.old_config_refusal
                .as_deref()
                .unwrap_or("did not refuse (killed)")
        ));
        let log = lab.rt.lab.subdir(&node)?.join("bgpd-rejoin.log");
        let conf = self.rejoin_config.to_string_lossy().into_owned();
        let process = LabProcess::spawn(
            &ns,
            &format!("bgpd on {node} (rejoined)"),
            &bgpd.to_string_lossy(),
            &["--config", &conf, "--log-json"],
            &[("RUST_LOG", "info")],
            &log,
        )?;
        find(lab.speakers, "primary")?.process = process;
        (lab.progress)(&format!("{node} back as a standby ({conf})"));
        find(lab.speakers, "primary")?.wait_log(SYNCHRONISED, timeout)?;
        lockstep(lab, "standby", "primary")?;
        self.ha_rejoined = Some((
            find(lab.speakers, "primary")?.ha_status()?,
            find(lab.speakers, "standby")?.ha_status()?,
        ));
        let step = switch(lab, "standby", "primary")?;
        self.failback = Some(step);
        lockstep(lab, "primary", "standby")?;
        watch(self.watch)?;
        Ok(ScenarioOutcome {
            takeover: self
                .failback
                .as_ref()
                .and_then(|s| s.takeover_ms)
                .map(|m| Duration::from_secs_f64(m / 1000.0)),
            summary: format!(
                "failover in {}, failback by switchover in {}; watched {} after",
                crate::poll::ms_text(self.failover_ms),
                crate::poll::ms_text(self.failback.as_ref().and_then(|s| s.takeover_ms)),
                crate::poll::secs_text(self.watch)
            ),
            failed_at: Some(failed_at),
            ..ScenarioOutcome::default()
        })
    }
}
