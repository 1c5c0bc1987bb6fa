//! `interop demo`: bring a containerlab topology up, wait for every neighbour session,
//! take a "before" picture, run a [`Scenario`] (today: observe; later: kill the primary and
//! let the standby take over) with a ping stream through the router, take an "after"
//! picture, and report what the neighbours saw. The lab is always removed at the end
//! (guards; Ctrl-C sets [`crate::poll::INTERRUPTED`], which every wait honours).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{LabError, Result};
use crate::neighbor::{NeighborKind, SessionState};
use crate::poll::{interrupted, poll_until};
use crate::process::LabProcess;
use crate::topology::instantiate::{up, RunningTopology};
use crate::topology::Topology;

/// Interval of the ping stream (its loss is counted in these steps).
pub const PING_INTERVAL: Duration = Duration::from_millis(10);

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The containerlab topology file.
    pub topology: PathBuf,
    /// Namespace project prefix.
    pub prefix: String,
    /// How long to wait for sessions and routes.
    pub timeout: Duration,
}

/// What a scenario reports.
#[derive(Debug, Clone, Default)]
pub struct ScenarioOutcome {
    /// Failure declared -> first segment from the standby (None: no takeover happened).
    pub takeover: Option<Duration>,
    /// A one-line description for the reader.
    pub summary: String,
}

/// The part of the demo between the "before" and "after" pictures. The failover scenario
/// (primary killed, standby takes over) implements this on top of the same lab.
pub trait Scenario {
    /// A short name.
    fn name(&self) -> &str;
    /// Runs against the live lab (the ping stream is running meanwhile).
    fn run(&mut self, lab: &mut RunningTopology) -> Result<ScenarioOutcome>;
}

/// No failure: watch the lab for a while (what the demo does until the speaker exists).
#[derive(Debug, Clone)]
pub struct Observe(pub Duration);

impl Scenario for Observe {
    fn name(&self) -> &str {
        "observe"
    }

    fn run(&mut self, _lab: &mut RunningTopology) -> Result<ScenarioOutcome> {
        let end = Instant::now() + self.0;
        while Instant::now() < end {
            if interrupted() {
                return Err(LabError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(ScenarioOutcome {
            takeover: None,
            summary: format!("observed {:?}, no failure injected", self.0),
        })
    }
}

/// One neighbour daemon in the report (its sessions summed).
#[derive(Debug, Clone, Serialize)]
pub struct NeighborReport {
    /// Node name.
    pub name: String,
    /// Implementation.
    pub kind: NeighborKind,
    /// Every session Established before the scenario.
    pub established_before: bool,
    /// Every session Established after it.
    pub established_after: bool,
    /// Established sessions dropped during the scenario (None: the daemon does not tell).
    pub connections_dropped: Option<u64>,
    /// NOTIFICATIONs sent or received during the scenario (None: the daemon does not tell).
    pub notifications: Option<u64>,
    /// Prefixes received, all sessions, before.
    pub prefixes_before: Option<u64>,
    /// Prefixes received, all sessions, after.
    pub prefixes_after: Option<u64>,
    /// Every session's state after the scenario.
    pub sessions: Vec<SessionState>,
}

/// The demo's result; with `--json` the binary prints it as its last line.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Topology name.
    pub topology: String,
    /// Scenario summary.
    pub scenario: String,
    /// Per neighbour.
    pub neighbors: Vec<NeighborReport>,
    /// Takeover time in ms (None without a takeover).
    pub takeover_ms: Option<f64>,
    /// Ping stream loss in ms (lost echoes x interval); None without a ping stream.
    pub dataplane_loss_ms: Option<f64>,
    /// Echo requests sent by the ping stream.
    pub pings_sent: Option<u64>,
    /// Echo replies received.
    pub pings_received: Option<u64>,
}

fn sum(list: &[SessionState], f: impl Fn(&SessionState) -> Option<u64>) -> Option<u64> {
    list.iter()
        .map(f)
        .try_fold(0u64, |acc, v| v.map(|v| acc + v))
}

fn delta(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    Some(after?.saturating_sub(before?))
}

/// Waits until every neighbour has all its sessions Established and its prefix counts have
/// held still for a second; returns each neighbour's sessions.
fn settle(
    rt: &mut RunningTopology,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Vec<SessionState>>> {
    let mut out = Vec::new();
    for (name, n) in rt.neighbors.iter_mut() {
        let what = format!("every session of {name} to be Established");
        poll_until(&what, timeout, Duration::from_millis(100), || {
            let s = n.sessions()?;
            Ok((!s.is_empty() && s.iter().all(|s| s.established)).then_some(()))
        })?;
        progress(&format!("{name}: all sessions Established"));
    }
    for (name, n) in rt.neighbors.iter_mut() {
        let mut last: Option<(Option<u64>, Instant)> = None;
        let what = format!("the prefix counts of {name} to settle");
        let s = poll_until(&what, timeout, Duration::from_millis(200), || {
            let s = n.sessions()?;
            let count = sum(&s, |x| x.prefixes_received);
            match last {
                Some((c, since))
                    if c == count
                        && since.elapsed() >= Duration::from_secs(1)
                        && count.unwrap_or(0) > 0 =>
                {
                    return Ok(Some(s))
                }
                Some((c, _)) if c == count => {}
                _ => last = Some((count, Instant::now())),
            }
            Ok(None)
        })?;
        out.push(s);
    }
    Ok(out)
}

fn snapshot(rt: &mut RunningTopology) -> Result<Vec<Vec<SessionState>>> {
    rt.neighbors.iter_mut().map(|(_, n)| n.sessions()).collect()
}

/// The ping stream of the topology: the first node with label `understudy.ping: ADDR`.
fn ping_stream_spec(rt: &RunningTopology) -> Option<(String, IpAddr)> {
    rt.nodes.iter().find_map(|n| {
        let target = n.def.labels.get("understudy.ping")?.parse().ok()?;
        Some((n.name.clone(), target))
    })
}

/// Reads a ping stream's output (`ping -n`, one line per reply, then the summary
/// "N packets transmitted, M received"): returns (sent, received, lost). The last echo
/// request, still in flight when the stream was stopped, is not counted as lost.
pub fn parse_ping_stream(text: &str) -> Option<(u64, u64, u64)> {
    let line = text.lines().find(|l| l.contains("packets transmitted"))?;
    let mut parts = line.split(',');
    let sent: u64 = parts.next()?.split_whitespace().next()?.parse().ok()?;
    let received: u64 = parts.next()?.split_whitespace().next()?.parse().ok()?;
    let last = format!("icmp_seq={sent} ");
    let in_flight = u64::from(sent > received && !text.contains(&last));
    Some((
        sent,
        received,
        sent.saturating_sub(received).saturating_sub(in_flight),
    ))
}

/// Runs the demo with `scenario`; `progress` receives human-readable steps.
pub fn run(
    opts: &DemoOptions,
    scenario: &mut dyn Scenario,
    progress: &mut dyn FnMut(&str),
) -> Result<DemoReport> {
    let topology = Topology::from_file(&opts.topology)?;
    progress(&format!(
        "bringing up {} from {}",
        topology.name,
        opts.topology.display()
    ));
    let mut rt = up(&topology, &opts.prefix, true)?;
    progress(&format!(
        "lab {} up: {} namespaces, {} neighbours",
        rt.lab.id(),
        rt.lab.namespaces().len(),
        rt.neighbors.len()
    ));
    let before = settle(&mut rt, opts.timeout, progress)?;

    let mut stream: Option<LabProcess> = None;
    if let Some((node, target)) = ping_stream_spec(&rt) {
        let ns = rt.ns(&node)?.clone();
        poll_until(
            &format!("{target} to answer pings from {node}"),
            opts.timeout,
            Duration::from_millis(100),
            || Ok(ns.ping(target, 1)?.then_some(())),
        )?;
        let log = rt.lab.workdir().join("ping-stream.log");
        let interval = format!("{:.3}", PING_INTERVAL.as_secs_f64());
        let p = LabProcess::spawn(
            &ns,
            "ping-stream",
            "ping",
            &["-n", "-i", &interval, &target.to_string()],
            &[],
            &log,
        )?;
        progress(&format!(
            "ping stream {node} -> {target} every {PING_INTERVAL:?}"
        ));
        stream = Some(p);
    }

    progress(&format!("scenario: {}", scenario.name()));
    let outcome = scenario.run(&mut rt)?;
    progress(&outcome.summary);

    let mut pings = None;
    if let Some(mut p) = stream.take() {
        p.signal(libc::SIGINT);
        let _ = poll_until(
            "the ping stream to stop",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || Ok(p.check_running().is_err().then_some(())),
        );
        pings = parse_ping_stream(&std::fs::read_to_string(p.log_path()).unwrap_or_default());
    }
    let after = snapshot(&mut rt)?;

    let mut neighbors = Vec::new();
    for (((name, n), b), a) in rt.neighbors.iter().zip(&before).zip(after) {
        let notes = |l: &[SessionState]| {
            Some(sum(l, |s| s.notifications_received)? + sum(l, |s| s.notifications_sent)?)
        };
        neighbors.push(NeighborReport {
            name: name.clone(),
            kind: n.kind(),
            established_before: !b.is_empty() && b.iter().all(|s| s.established),
            established_after: !a.is_empty() && a.iter().all(|s| s.established),
            connections_dropped: delta(sum(b, |s| s.dropped_count), sum(&a, |s| s.dropped_count)),
            notifications: delta(notes(b), notes(&a)),
            prefixes_before: sum(b, |s| s.prefixes_received),
            prefixes_after: sum(&a, |s| s.prefixes_received),
            sessions: a,
        });
    }
    let report = DemoReport {
        topology: topology.name.clone(),
        scenario: outcome.summary,
        neighbors,
        takeover_ms: outcome.takeover.map(|d| d.as_secs_f64() * 1000.0),
        dataplane_loss_ms: pings
            .map(|(_, _, lost)| lost as f64 * PING_INTERVAL.as_secs_f64() * 1000.0),
        pings_sent: pings.map(|p| p.0),
        pings_received: pings.map(|p| p.1),
    };
    progress(&format!("tearing down lab {}", rt.lab.id()));
    drop(rt);
    Ok(report)
}

/// A human table of the report.
pub fn render(report: &DemoReport) -> String {
    use std::fmt::Write as _;
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<7} {:>11} {:>10} {:>8} {:>13} {:>10} {:>9}",
        "neighbour",
        "kind",
        "established",
        "(after)",
        "dropped",
        "notifications",
        "prefixes",
        "(after)"
    );
    for n in &report.neighbors {
        let _ = writeln!(
            s,
            "{:<10} {:<7} {:>11} {:>10} {:>8} {:>13} {:>10} {:>9}",
            n.name,
            n.kind.to_string(),
            n.established_before,
            n.established_after,
            opt(n.connections_dropped),
            opt(n.notifications),
            opt(n.prefixes_before),
            opt(n.prefixes_after)
        );
        for sess in &n.sessions {
            let up = sess
                .uptime
                .map(|u| format!("up {:.0} s", u.as_secs_f64()))
                .unwrap_or_default();
            let peer = sess.peer.map(|p| p.to_string()).unwrap_or_default();
            let _ = writeln!(s, "    {peer:<16} {:<12} {up}", sess.state);
        }
    }
    let _ = writeln!(s, "scenario: {}", report.scenario);
    match report.takeover_ms {
        Some(ms) => {
            let _ = writeln!(s, "takeover: {ms:.1} ms");
        }
        None => {
            let _ = writeln!(s, "takeover: none");
        }
    }
    match (
        report.pings_sent,
        report.pings_received,
        report.dataplane_loss_ms,
    ) {
        (Some(tx), Some(rx), Some(ms)) => {
            let _ = writeln!(
                s,
                "ping stream: {rx}/{tx} replies, data-plane loss {ms:.0} ms"
            );
        }
        _ => {
            let _ = writeln!(s, "ping stream: none");
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ping_stream_is_parsed() {
        let head = "PING 203.0.113.10 (203.0.113.10) 56(84) bytes of data.\n64 bytes from 203.0.113.10: icmp_seq=1 ttl=63 time=0.1 ms\n64 bytes from 203.0.113.10: icmp_seq=3 ttl=63 time=0.1 ms\n";
        let tail = "\n--- 203.0.113.10 ping statistics ---\n4 packets transmitted, 2 received, 50% packet loss, time 30ms\n";
        // seq 2 lost, seq 4 in flight when stopped.
        assert_eq!(parse_ping_stream(&format!("{head}{tail}")), Some((4, 2, 1)));
        let with4 = format!(
            "{head}64 bytes from 203.0.113.10: icmp_seq=4 ttl=63 time=0.1 ms\n{}",
            tail.replace("2 received", "3 received")
        );
        assert_eq!(parse_ping_stream(&with4), Some((4, 3, 1)));
        assert_eq!(parse_ping_stream("nothing"), None);
    }

    #[test]
    fn sums_need_every_value() {
        let a = SessionState {
            prefixes_received: Some(2),
            ..SessionState::default()
        };
        let b = SessionState {
            prefixes_received: Some(3),
            ..SessionState::default()
        };
        assert_eq!(sum(&[a.clone(), b], |s| s.prefixes_received), Some(5));
        assert_eq!(
            sum(&[a, SessionState::default()], |s| s.prefixes_received),
            None
        );
        assert_eq!(delta(Some(1), Some(3)), Some(2));
        assert_eq!(delta(None, Some(3)), None);
    }
}
