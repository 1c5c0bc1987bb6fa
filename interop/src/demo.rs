//! `interop demo`: bring a containerlab topology up (its neighbours optionally fed a real
//! routing table from an MRT RIB dump, its understudy speakers started), wait for every
//! neighbour session and for the prefix counts to settle, take a "before" picture, run a
//! [`Scenario`] (observe; or [`crate::failover::Failover`]: kill the primary the way a box
//! dies and let the standby take over) with a ping stream through the router and a capture
//! on every neighbour's link, take an "after" picture, and report what the neighbours saw.
//! The lab is always removed at the end (guards; Ctrl-C sets [`crate::poll::INTERRUPTED`],
//! which every wait honours).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnetwork::Ipv4Network;
use serde::Serialize;

use crate::capture::{analyze, tally_updates, Capture};
use crate::error::{LabError, Result};
use crate::feed;
use crate::neighbor::{NeighborKind, SessionState};
use crate::poll::poll_until;
use crate::process::LabProcess;
use crate::speaker::{start_speakers, LabSpeaker};
use crate::topology::instantiate::{up_with, RunningTopology};
use crate::topology::{Node, Topology};

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
    /// The MRT RIB dump whose prefixes the neighbours with an `understudy.feed` label
    /// originate (None: no feed).
    pub mrt: Option<PathBuf>,
    /// Feed only the first this many prefixes of the dump (in address order).
    pub mrt_limit: Option<usize>,
    /// The `bgpd` binary for the topology's understudy nodes.
    pub bgpd: Option<PathBuf>,
    /// Compare every neighbour's Adj-RIB-In (the prefixes it holds from each session)
    /// before and after the scenario.
    pub compare_routes: bool,
}

/// What a scenario reports.
#[derive(Debug, Clone, Default)]
pub struct ScenarioOutcome {
    /// Failure declared -> every session live on the standby, as the standby measured it
    /// (None: no takeover happened).
    pub takeover: Option<Duration>,
    /// A one-line description for the reader.
    pub summary: String,
    /// When the failure was injected (the wire report counts the UPDATEs sent from then
    /// on; None: from the start of the scenario).
    pub failed_at: Option<SystemTime>,
    /// Sessions the standby took over, and sessions it could not (None: no takeover).
    pub sessions: Option<(u64, u64)>,
}

/// The live lab a scenario acts on.
pub struct DemoLab<'a> {
    /// The topology, its namespaces and neighbour daemons.
    pub rt: &'a mut RunningTopology,
    /// The understudy speakers started, primaries first.
    pub speakers: &'a mut Vec<LabSpeaker>,
    /// How long to wait for something to happen.
    pub timeout: Duration,
    /// Human-readable steps.
    pub progress: &'a mut dyn FnMut(&str),
}

impl std::fmt::Debug for DemoLab<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoLab")
            .field("rt", &self.rt)
            .field("speakers", &self.speakers)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The part of the demo between the "before" and "after" pictures.
pub trait Scenario {
    /// A short name.
    fn name(&self) -> &str;
    /// Whether the topology's standby speakers must run.
    fn wants_standby(&self) -> bool {
        false
    }
    /// Runs against the live lab (the ping stream and the captures are running meanwhile).
    fn run(&mut self, lab: &mut DemoLab<'_>) -> Result<ScenarioOutcome>;
}

/// No failure: watch the lab for a while.
#[derive(Debug, Clone)]
pub struct Observe(pub Duration);

impl Scenario for Observe {
    fn name(&self) -> &str {
        "observe"
    }

    fn run(&mut self, _lab: &mut DemoLab<'_>) -> Result<ScenarioOutcome> {
        crate::poll::watch(self.0)?;
        Ok(ScenarioOutcome {
            takeover: None,
            summary: format!(
                "observed {}, no failure injected",
                crate::poll::secs_text(self.0)
            ),
            ..ScenarioOutcome::default()
        })
    }
}

/// What one neighbour's link showed during the scenario (a capture of its BGP traffic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WireReport {
    /// OPEN messages either way (a new session).
    pub opens: u64,
    /// NOTIFICATION messages either way.
    pub notifications: u64,
    /// TCP SYN segments (a new connection).
    pub syns: u64,
    /// TCP FIN or RST segments (a connection closed).
    pub fins_rsts: u64,
    /// UPDATEs the router sent the neighbour after the failure (or during the scenario
    /// without one).
    pub updates_after: u64,
    /// Prefixes those UPDATEs withdrew.
    pub withdrawn_after: u64,
    /// Prefixes those UPDATEs announced.
    pub announced_after: u64,
    /// Prefixes withdrawn and then announced again by those UPDATEs: a route flap the
    /// neighbour saw, whatever its Adj-RIB-In looks like afterwards.
    pub flapped_after: u64,
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
    /// Established sessions dropped during the scenario: the daemon's own counter when it
    /// has one, else 1 when a session's uptime did not run on through the scenario.
    pub connections_dropped: Option<u64>,
    /// NOTIFICATIONs during the scenario: the daemon's counters, or the capture when the
    /// daemon keeps none (the larger of the two when both tell).
    pub notifications: Option<u64>,
    /// Prefixes received, all sessions, before.
    pub prefixes_before: Option<u64>,
    /// Prefixes received, all sessions, after.
    pub prefixes_after: Option<u64>,
    /// Every session's uptime ran on through the scenario (None: the daemon does not tell).
    pub uptime_unbroken: Option<bool>,
    /// What the neighbour's link showed during the scenario (None: no capture).
    pub wire: Option<WireReport>,
    /// The prefixes the neighbour holds from its sessions are the same after the scenario
    /// as before (None: not compared).
    pub routes_unchanged: Option<bool>,
    /// Every session's state after the scenario.
    pub sessions: Vec<SessionState>,
}

/// The demo's result.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Topology name.
    pub topology: String,
    /// Scenario summary.
    pub scenario: String,
    /// Prefixes fed to the neighbours from the MRT dump (0: no feed).
    pub fed_prefixes: usize,
    /// Per neighbour.
    pub neighbors: Vec<NeighborReport>,
    /// Takeover time in ms (None without a takeover).
    pub takeover_ms: Option<f64>,
    /// Ping stream outage in ms: the time without replies beyond the interval, from the
    /// reply timestamps (lost echoes x interval when there are none); None without a ping
    /// stream.
    pub dataplane_loss_ms: Option<f64>,
    /// Echo requests sent by the ping stream.
    pub pings_sent: Option<u64>,
    /// Echo replies received.
    pub pings_received: Option<u64>,
    /// Sessions the standby took over, and sessions it could not (None: no takeover).
    pub sessions: Option<(u64, u64)>,
}

/// The keys of one neighbour in [`DemoReport::summary_json`].
#[derive(Debug, Clone, Serialize)]
struct NeighborSummary<'a> {
    name: &'a str,
    kind: NeighborKind,
    established_before: bool,
    established_after: bool,
    connections_dropped: Option<u64>,
    notifications: Option<u64>,
    prefixes_before: Option<u64>,
    prefixes_after: Option<u64>,
    uptime_unbroken: Option<bool>,
    adj_rib_in_unchanged: Option<bool>,
    updates_after: Option<u64>,
    withdrawn_after: Option<u64>,
    announced_after: Option<u64>,
    flapped_after: Option<u64>,
}

/// The object `interop demo --json` prints as its last line (issue 7).
#[derive(Debug, Clone, Serialize)]
struct Summary<'a> {
    neighbors: Vec<NeighborSummary<'a>>,
    takeover_ms: Option<f64>,
    dataplane_loss_ms: Option<f64>,
    ping_sent: Option<u64>,
    ping_received: Option<u64>,
    sessions_taken_over: Option<u64>,
    sessions_failed: Option<u64>,
}

impl DemoReport {
    /// The one-line JSON object of issue 7:
    /// `{"neighbors":[{"name","kind","established_before","established_after",
    /// "connections_dropped","notifications","prefixes_before","prefixes_after", ...}],
    /// "takeover_ms","dataplane_loss_ms", ...}`, with these keys added per neighbour:
    /// `uptime_unbroken`, `adj_rib_in_unchanged`, `updates_after`, `withdrawn_after`,
    /// `announced_after`, `flapped_after` (see [`WireReport`]), and at the top:
    /// `ping_sent`, `ping_received`, `sessions_taken_over`, `sessions_failed`
    /// (null when not known).
    pub fn summary_json(&self) -> String {
        let s = Summary {
            neighbors: self
                .neighbors
                .iter()
                .map(|n| NeighborSummary {
                    name: &n.name,
                    kind: n.kind,
                    established_before: n.established_before,
                    established_after: n.established_after,
                    connections_dropped: n.connections_dropped,
                    notifications: n.notifications,
                    prefixes_before: n.prefixes_before,
                    prefixes_after: n.prefixes_after,
                    uptime_unbroken: n.uptime_unbroken,
                    adj_rib_in_unchanged: n.routes_unchanged,
                    updates_after: n.wire.map(|w| w.updates_after),
                    withdrawn_after: n.wire.map(|w| w.withdrawn_after),
                    announced_after: n.wire.map(|w| w.announced_after),
                    flapped_after: n.wire.map(|w| w.flapped_after),
                })
                .collect(),
            takeover_ms: self.takeover_ms.map(|ms| rounded(ms, 100.0)),
            dataplane_loss_ms: self.dataplane_loss_ms.map(|ms| rounded(ms, 10.0)),
            ping_sent: self.pings_sent,
            ping_received: self.pings_received,
            sessions_taken_over: self.sessions.map(|s| s.0),
            sessions_failed: self.sessions.map(|s| s.1),
        };
        serde_json::to_string(&s).unwrap_or_default()
    }
}

/// `ms` rounded to 1/`per_ms` of a millisecond (`per_ms` 10.0: 282.00911 -> 282.0): the
/// ping stream's 10 ms interval and the log's timestamps make finer digits noise.
fn rounded(ms: f64, per_ms: f64) -> f64 {
    (ms * per_ms).round() / per_ms
}

fn sum(list: &[SessionState], f: impl Fn(&SessionState) -> Option<u64>) -> Option<u64> {
    list.iter()
        .map(f)
        .try_fold(0u64, |acc, v| v.map(|v| acc + v))
}

fn delta(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    Some(after?.saturating_sub(before?))
}

/// Whether every session's uptime ran on across `elapsed` (a second of slack for the
/// daemons' rounding): `None` when some uptime is unknown or the sessions differ.
pub fn uptime_unbroken(
    before: &[SessionState],
    after: &[SessionState],
    elapsed: Duration,
) -> Option<bool> {
    if before.len() != after.len() || before.is_empty() {
        return None;
    }
    let mut ok = true;
    for b in before {
        let a = after.iter().find(|a| a.peer == b.peer)?;
        let (ub, ua) = (b.uptime?, a.uptime?);
        ok &= a.established && ua + Duration::from_secs(1) >= ub + elapsed;
    }
    Some(ok)
}

/// The feed of the topology's neighbours: node name -> its share of the table.
fn plan_feed(
    nodes: &[Node],
    prefixes: &[Ipv4Network],
    limit: Option<usize>,
) -> Result<BTreeMap<String, Vec<Ipv4Network>>> {
    let mut out = BTreeMap::new();
    for n in nodes {
        let Some(label) = n.def.labels.get("understudy.feed") else {
            continue;
        };
        let bad = || LabError::Topology {
            file: "<topology>".into(),
            detail: format!(
                "topology.nodes.{}.labels.understudy.feed: {label:?} is not I/N",
                n.name
            ),
        };
        let (i, count) = label.split_once('/').ok_or_else(bad)?;
        let (i, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            count.trim().parse().map_err(|_| bad())?,
        );
        if i >= count {
            return Err(bad());
        }
        let shares = feed::split(prefixes, count, limit);
        out.insert(n.name.clone(), shares[i].clone());
    }
    Ok(out)
}

fn feed_config(
    kind: NeighborKind,
    node: &str,
    share: &[Ipv4Network],
    text: String,
) -> Result<String> {
    match kind {
        NeighborKind::Frr => feed::frr_insert(&text, &feed::frr_networks(share)).ok_or_else(|| {
            LabError::Topology {
                file: "<topology>".into(),
                detail: format!("node {node}: the FRR configuration has no `address-family ipv4 unicast` block to feed"),
            }
        }),
        NeighborKind::Bird => Ok(format!("{text}\n{}", feed::bird_static("feed", share))),
        other => Err(LabError::Topology {
            file: "<topology>".into(),
            detail: format!("node {node}: feeding a {other} neighbour is not supported"),
        }),
    }
}

/// Waits until every neighbour has all its sessions Established and its prefix counts have
/// held still for a second; returns each neighbour's sessions.
fn settle(
    rt: &mut RunningTopology,
    timeout: Duration,
    min_prefixes: &BTreeMap<String, u64>,
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
        let min = min_prefixes.get(name).copied().unwrap_or(1);
        let what = format!("the prefix counts of {name} to settle (at least {min})");
        let s = poll_until(&what, timeout, Duration::from_millis(200), || {
            let s = n.sessions()?;
            let count = sum(&s, |x| x.prefixes_received);
            match last {
                Some((c, since))
                    if c == count
                        && since.elapsed() >= Duration::from_secs(1)
                        && count.unwrap_or(0) >= min =>
                {
                    return Ok(Some(s))
                }
                Some((c, _)) if c == count => {}
                _ => last = Some((count, Instant::now())),
            }
            Ok(None)
        })?;
        progress(&format!(
            "{name}: {} prefixes received",
            sum(&s, |x| x.prefixes_received).unwrap_or(0)
        ));
        out.push(s);
    }
    Ok(out)
}

fn snapshot(rt: &mut RunningTopology) -> Result<Vec<Vec<SessionState>>> {
    rt.neighbors.iter_mut().map(|(_, n)| n.sessions()).collect()
}

/// Per neighbour, the prefixes it holds from each of its sessions.
type RouteSets = Vec<BTreeMap<IpAddr, std::collections::BTreeSet<ipnetwork::IpNetwork>>>;

fn route_sets(rt: &mut RunningTopology, sessions: &[Vec<SessionState>]) -> Result<RouteSets> {
    let mut out = Vec::new();
    for ((_, n), list) in rt.neighbors.iter_mut().zip(sessions) {
        let mut m = BTreeMap::new();
        for peer in list.iter().filter_map(|s| s.peer) {
            m.insert(peer, n.routes_received(peer)?);
        }
        out.push(m);
    }
    Ok(out)
}

/// The ping stream of the topology: the first node with label `understudy.ping: ADDR`.
fn ping_stream_spec(rt: &RunningTopology) -> Option<(String, IpAddr)> {
    rt.nodes.iter().find_map(|n| {
        let target = n.def.labels.get("understudy.ping")?.parse().ok()?;
        Some((n.name.clone(), target))
    })
}

/// The data-plane outage of a ping stream run with `-D` (each reply line starts with its
/// Unix time in brackets): for every run of missing `icmp_seq` numbers, the time between the
/// replies around it less one `interval`, summed; echoes missing after the last reply (the
/// stream stopped inside the outage, as with `--watch 0`) count one `interval` each, the last
/// request, in flight when the stream was stopped, excepted (so a lower bound). `None`
/// without timestamps.
pub fn ping_outage(text: &str, interval: Duration) -> Option<Duration> {
    let replies: Vec<(u64, f64)> = text
        .lines()
        .filter_map(|l| {
            let t: f64 = l.strip_prefix('[')?.split(']').next()?.parse().ok()?;
            let seq: u64 = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("icmp_seq="))?
                .parse()
                .ok()?;
            Some((seq, t))
        })
        .collect();
    if replies.is_empty() {
        return None;
    }
    let iv = interval.as_secs_f64();
    let lost: f64 = replies
        .windows(2)
        .filter(|w| w[1].0 > w[0].0 + 1)
        .map(|w| (w[1].1 - w[0].1 - iv).max(0.0))
        .sum();
    let last_reply = replies.last().map_or(0, |r| r.0);
    let trailing = parse_ping_stream(text).map_or(0, |(sent, _, _)| {
        sent.saturating_sub(last_reply).saturating_sub(1)
    });
    Some(Duration::from_secs_f64(lost + trailing as f64 * iv))
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

/// The interface of `node` on its first link (where its BGP traffic passes).
fn first_iface(rt: &RunningTopology, node: &str) -> Option<String> {
    let links = rt.topology.links().ok()?;
    links
        .into_iter()
        .flat_map(|l| l.into_iter())
        .find(|e| e.node == node)
        .map(|e| e.iface)
}

/// The demo topology `name` (`demo.clab.yml`, `switchover.clab.yml`) when no `--topology`
/// is given, relative to `cwd` when found there: `interop/topologies/NAME` (`cargo run`
/// from the root of a clone), `topologies/NAME` (from `interop/`), else the source tree
/// this crate was built from.
///
/// # Errors
/// [`LabError::Topology`] when none of these exists.
pub fn find_topology(name: &str, cwd: &Path) -> Result<PathBuf> {
    let relative = [
        Path::new("interop/topologies").join(name),
        Path::new("topologies").join(name),
    ];
    if let Some(p) = relative.iter().find(|p| cwd.join(p).is_file()) {
        return Ok(if cwd == Path::new(".") {
            p.clone()
        } else {
            cwd.join(p)
        });
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(name);
    if built.is_file() {
        return Ok(built);
    }
    Err(LabError::Topology {
        file: format!("topologies/{name}"),
        detail: format!(
            "not found in {}/interop/, {}/ or {}; give --topology FILE",
            cwd.display(),
            cwd.display(),
            built
                .parent()
                .and_then(Path::parent)
                .unwrap_or(&built)
                .display()
        ),
    })
}

/// The `bgpd` the understudy nodes run: `given` (`--bgpd`), else the one beside this
/// executable; it must be an executable file.
///
/// # Errors
/// [`LabError::MissingProgram`] naming the path (or `bgpd`) and how to get one.
fn speaker_binary(given: Option<&Path>) -> Result<PathBuf> {
    let missing = |program: String, how: &str| LabError::MissingProgram {
        program,
        needed_by: format!("the understudy nodes run it ({how})"),
    };
    match given {
        Some(p) if crate::cmd::is_executable(p) => Ok(p.to_path_buf()),
        Some(p) => Err(missing(p.display().to_string(), "--bgpd")),
        None => crate::speaker::sibling_binary("bgpd")
            .filter(|p| crate::cmd::is_executable(p))
            .ok_or_else(|| {
                missing(
                    "bgpd".into(),
                    "not beside this executable: build it with `cargo build -p bgpd`, or give \
                     --bgpd PATH",
                )
            }),
    }
}

/// Runs the demo with `scenario`; `progress` receives human-readable steps.
pub fn run(
    opts: &DemoOptions,
    scenario: &mut dyn Scenario,
    progress: &mut dyn FnMut(&str),
) -> Result<DemoReport> {
    let topology = Topology::from_file(&opts.topology)?;
    let nodes = topology.nodes()?;
    // Every program is checked before anything is read or built.
    let bgpd = if nodes
        .iter()
        .any(|n| n.role == crate::topology::Role::Understudy)
    {
        let bgpd = speaker_binary(opts.bgpd.as_deref())?;
        if scenario.wants_standby() {
            // The scenario asks the speakers their HA state with the CLI.
            crate::speaker::sibling_binary("understudy")
                .filter(|p| crate::cmd::is_executable(p))
                .ok_or_else(|| LabError::MissingProgram {
                    program: "understudy".into(),
                    needed_by: "the demo asks the understudy nodes their HA state with this CLI; \
                                it is not beside this executable: build it with `cargo build -p \
                                bgpd`"
                        .into(),
                })?;
        }
        Some(bgpd)
    } else {
        None
    };
    crate::topology::instantiate::check_programs(&nodes)?;
    let prefixes = match &opts.mrt {
        Some(path) => {
            let p = feed::table_prefixes(path)?;
            progress(&format!(
                "{}: {} unique IPv4 prefixes{}",
                path.display(),
                p.len(),
                opts.mrt_limit
                    .map(|l| format!(", feeding the first {}", l.min(p.len())))
                    .unwrap_or_default()
            ));
            p
        }
        None => Vec::new(),
    };
    let shares = plan_feed(&nodes, &prefixes, opts.mrt_limit)?;
    let fed_prefixes: usize = shares.values().map(Vec::len).sum();
    // A neighbour receives (at least) every other neighbour's share through the speaker.
    let min_prefixes: BTreeMap<String, u64> = shares
        .keys()
        .map(|n| {
            let others: usize = shares
                .iter()
                .filter(|(m, _)| *m != n)
                .map(|(_, v)| v.len())
                .sum();
            (n.clone(), others.max(1) as u64)
        })
        .collect();
    progress(&format!(
        "bringing up {} from {}",
        topology.name,
        opts.topology.display()
    ));
    let mut rewrite = |node: &Node, kind: NeighborKind, text: String| -> Result<String> {
        match shares.get(&node.name) {
            Some(share) if !share.is_empty() => feed_config(kind, &node.name, share, text),
            _ => Ok(text),
        }
    };
    let mut rt = up_with(&topology, &opts.prefix, true, &mut rewrite)?;
    progress(&format!(
        "lab {} up: {} namespaces, {} neighbours",
        rt.lab.id(),
        rt.lab.namespaces().len(),
        rt.neighbors.len()
    ));
    let mut speakers = if let Some(bgpd) = &bgpd {
        let s = start_speakers(&rt, bgpd, scenario.wants_standby())?;
        progress(&format!(
            "understudy bgpd started on {}",
            s.iter()
                .map(|s| s.node.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s
    } else {
        Vec::new()
    };
    let before = settle(&mut rt, opts.timeout, &min_prefixes, progress)?;
    let routes_before = if opts.compare_routes {
        Some(route_sets(&mut rt, &before)?)
    } else {
        None
    };

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
            &["-n", "-D", "-i", &interval, &target.to_string()],
            &[],
            &log,
        )?;
        progress(&format!(
            "ping stream {node} -> {target} every {} ms",
            PING_INTERVAL.as_millis()
        ));
        stream = Some(p);
    }
    let mut captures = Vec::new();
    for (name, _) in &rt.neighbors {
        if let Some(iface) = first_iface(&rt, name) {
            let ns = rt.ns(name)?;
            let c = Capture::start(
                ns,
                &iface,
                &crate::capture::own_bgp_frames(ns, &iface)?,
                rt.lab.workdir(),
                &format!("wire-{name}"),
            )?;
            captures.push((name.clone(), c));
        }
    }

    progress(&format!("scenario: {}", scenario.name()));
    let started = Instant::now();
    let started_wall = SystemTime::now();
    let outcome = {
        let mut lab = DemoLab {
            rt: &mut rt,
            speakers: &mut speakers,
            timeout: opts.timeout,
            progress,
        };
        scenario.run(&mut lab)?
    };
    progress(&outcome.summary);

    let mut pings = None;
    let mut outage = None;
    if let Some(mut p) = stream.take() {
        p.signal(libc::SIGINT);
        let _ = poll_until(
            "the ping stream to stop",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || Ok(p.check_running().is_err().then_some(())),
        );
        let text = std::fs::read_to_string(p.log_path()).unwrap_or_default();
        pings = parse_ping_stream(&text);
        outage = ping_outage(&text, PING_INTERVAL);
    }
    let after = snapshot(&mut rt)?;
    let elapsed = started.elapsed();
    let routes_after = match routes_before {
        Some(_) => Some(route_sets(&mut rt, &after)?),
        None => None,
    };
    let mut wires = BTreeMap::new();
    // The UPDATEs the router sent from the failure on (the neighbours' clocks are this
    // host's: the captures' timestamps compare with it).
    let since = outcome
        .failed_at
        .unwrap_or(started_wall)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // The router as each session of a neighbour sees it.
    let routers: BTreeMap<&str, std::collections::BTreeSet<IpAddr>> = rt
        .neighbors
        .iter()
        .zip(&after)
        .map(|((name, _), list)| (name.as_str(), list.iter().filter_map(|s| s.peer).collect()))
        .collect();
    for (name, c) in captures {
        let file = c.stop()?;
        let w = analyze(&file)?;
        let mut report = WireReport {
            opens: w.opens().len() as u64,
            notifications: w.notifications().len() as u64,
            syns: w.syn.len() as u64,
            fins_rsts: (w.fin.len() + w.rst.len()) as u64,
            ..WireReport::default()
        };
        for router in routers.get(name.as_str()).into_iter().flatten() {
            let t = tally_updates(&w, *router, since);
            report.updates_after += t.updates;
            report.withdrawn_after += t.withdrawn;
            report.announced_after += t.announced;
            report.flapped_after += t.flapped.len() as u64;
        }
        wires.insert(name, report);
    }

    let mut neighbors = Vec::new();
    for (i, (((name, n), b), a)) in rt.neighbors.iter().zip(&before).zip(after).enumerate() {
        let routes_unchanged = match (&routes_before, &routes_after) {
            (Some(rb), Some(ra)) => Some(rb.get(i) == ra.get(i)),
            _ => None,
        };
        let notes = |l: &[SessionState]| {
            Some(sum(l, |s| s.notifications_received)? + sum(l, |s| s.notifications_sent)?)
        };
        let wire = wires.get(name).copied();
        let unbroken = uptime_unbroken(b, &a, elapsed);
        let counted = delta(notes(b), notes(&a));
        let notifications = match (counted, wire) {
            (Some(c), Some(w)) => Some(c.max(w.notifications)),
            (c, w) => c.or(w.map(|w| w.notifications)),
        };
        neighbors.push(NeighborReport {
            name: name.clone(),
            kind: n.kind(),
            established_before: !b.is_empty() && b.iter().all(|s| s.established),
            established_after: !a.is_empty() && a.iter().all(|s| s.established),
            connections_dropped: delta(sum(b, |s| s.dropped_count), sum(&a, |s| s.dropped_count))
                .or(unbroken.map(|u| u64::from(!u))),
            notifications,
            prefixes_before: sum(b, |s| s.prefixes_received),
            prefixes_after: sum(&a, |s| s.prefixes_received),
            uptime_unbroken: unbroken,
            wire,
            routes_unchanged,
            sessions: a,
        });
    }
    let report = DemoReport {
        topology: topology.name.clone(),
        scenario: outcome.summary,
        fed_prefixes,
        neighbors,
        takeover_ms: outcome.takeover.map(|d| d.as_secs_f64() * 1000.0),
        dataplane_loss_ms: outage.map(|d| d.as_secs_f64() * 1000.0).or_else(|| {
            pings.map(|(_, _, lost)| lost as f64 * PING_INTERVAL.as_secs_f64() * 1000.0)
        }),
        pings_sent: pings.map(|p| p.0),
        pings_received: pings.map(|p| p.1),
        sessions: outcome.sessions,
    };
    progress(&format!("tearing down lab {}", rt.lab.id()));
    drop(speakers);
    drop(rt);
    Ok(report)
}

/// What `interop demo` prints once the run is over, as (stdout, stderr): the report for a
/// person ([`render`]) on stdout; with `json`, that report on stderr (with the progress
/// lines) and on stdout only the object of [`DemoReport::summary_json`], its one line, so
/// that `interop demo --json | jq` reads the object and the terminal still shows the report.
pub fn final_output(report: &DemoReport, json: bool) -> (String, String) {
    if json {
        (format!("{}\n", report.summary_json()), render(report))
    } else {
        (render(report), String::new())
    }
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
        let yn = |b: Option<bool>| match b {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        let wire = n
            .wire
            .map(|w| {
                format!(
                    "; on the wire: {} OPEN, {} NOTIFICATION, {} SYN, {} FIN/RST",
                    w.opens, w.notifications, w.syns, w.fins_rsts
                )
            })
            .unwrap_or_default();
        let updates = n
            .wire
            .map(|w| {
                format!(
                    "\n    UPDATEs from the router after the failure: {} ({} prefixes withdrawn, {} announced); {}",
                    w.updates_after,
                    w.withdrawn_after,
                    w.announced_after,
                    match w.flapped_after {
                        0 => "no prefix flapped".to_string(),
                        f => format!("{f} prefixes FLAPPED (withdrawn, then announced again)"),
                    }
                )
            })
            .unwrap_or_default();
        let rib = match n.routes_unchanged {
            Some(true) => "; Adj-RIB-In unchanged",
            Some(false) => "; Adj-RIB-In CHANGED",
            None => "",
        };
        let _ = writeln!(
            s,
            "    uptime unbroken: {}{wire}{rib}{updates}",
            yn(n.uptime_unbroken)
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
    if report.fed_prefixes > 0 {
        let _ = writeln!(
            s,
            "table fed by the neighbours: {} prefixes",
            report.fed_prefixes
        );
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
                "ping stream: {rx}/{tx} replies, data-plane loss {ms:.1} ms"
            );
        }
        _ => {
            let _ = writeln!(s, "ping stream: none");
        }
    }
    if let Some((taken, failed)) = report.sessions {
        let _ = writeln!(s, "sessions taken over: {taken} ({failed} failed)");
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_gives_the_object_alone_on_stdout_and_the_report_on_stderr_as_the_readme_says() {
        let report = DemoReport {
            topology: "t".into(),
            scenario: "s".into(),
            fed_prefixes: 2000,
            neighbors: Vec::new(),
            takeover_ms: Some(2.5),
            dataplane_loss_ms: Some(250.0),
            pings_sent: Some(3000),
            pings_received: Some(2975),
            sessions: Some((2, 0)),
        };
        let (out, err) = final_output(&report, true);
        assert_eq!(out.lines().count(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["takeover_ms"].to_string(), "2.5");
        assert_eq!(err, render(&report));
        assert!(err.contains("takeover"), "{err}");
        // Without --json: the report alone, on stdout.
        assert_eq!(
            final_output(&report, false),
            (render(&report), String::new())
        );
        // The README promises exactly this.
        let readme = include_str!("../../README.md")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            readme.contains(
                "with `--json` the progress lines and that report go to stderr, and stdout gets \
                 only one JSON object, on one line:"
            ),
            "README"
        );
    }

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
    fn outage_is_the_time_without_replies() {
        let iv = Duration::from_millis(10);
        // A late reply (seq 3, 40 ms) is no loss; seq 4..=29 missing is.
        let text = "PING x\n[100.000] 64 bytes from x: icmp_seq=1 ttl=63\n[100.010] 64 bytes from x: icmp_seq=2 ttl=63\n\
                    [100.050] 64 bytes from x: icmp_seq=3 ttl=63\n\
                    [100.370] 64 bytes from x: icmp_seq=30 ttl=63\n[100.381] 64 bytes from x: icmp_seq=31 ttl=63\n";
        let d = ping_outage(text, iv).unwrap();
        assert!((d.as_secs_f64() - 0.310).abs() < 1e-6, "{d:?}");
        assert_eq!(ping_outage("64 bytes from x: icmp_seq=1", iv), None);
    }

    #[test]
    fn missing_replies_at_the_end_of_the_stream_are_an_outage() {
        let iv = Duration::from_millis(10);
        let replies = "PING x\n[100.000] 64 bytes from x: icmp_seq=1 ttl=63\n[100.010] 64 bytes from x: icmp_seq=2 ttl=63\n";
        // 8 sent, 2 answered: seq 3..=7 lost (5 intervals), seq 8 in flight.
        let text = format!(
            "{replies}\n--- x ping statistics ---\n8 packets transmitted, 2 received, 75% packet loss, time 70ms\n"
        );
        let d = ping_outage(&text, iv).unwrap();
        assert!((d.as_secs_f64() - 0.050).abs() < 1e-6, "{d:?}");
        // Every request answered but the one in flight: no outage.
        let text = format!(
            "{replies}\n--- x ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss, time 20ms\n"
        );
        assert_eq!(ping_outage(&text, iv), Some(Duration::ZERO));
    }

    #[test]
    fn the_summary_rounds_the_loss_and_the_takeover_time() {
        let report = DemoReport {
            topology: "t".into(),
            scenario: "s".into(),
            fed_prefixes: 0,
            neighbors: Vec::new(),
            takeover_ms: Some(1.734_999_7),
            dataplane_loss_ms: Some(282.009_114_999_999_95),
            pings_sent: Some(3000),
            pings_received: Some(2972),
            sessions: Some((2, 0)),
        };
        let v: serde_json::Value = serde_json::from_str(&report.summary_json()).unwrap();
        assert_eq!(v["dataplane_loss_ms"].to_string(), "282.0");
        assert_eq!(v["takeover_ms"].to_string(), "1.73");
        let v: serde_json::Value = serde_json::from_str(
            &DemoReport {
                dataplane_loss_ms: Some(326.04),
                takeover_ms: Some(2.5),
                ..report.clone()
            }
            .summary_json(),
        )
        .unwrap();
        assert_eq!(v["dataplane_loss_ms"].to_string(), "326.0");
        assert_eq!(v["takeover_ms"].to_string(), "2.5");
        let text = render(&DemoReport {
            dataplane_loss_ms: Some(282.349),
            ..report
        });
        assert!(text.contains("data-plane loss 282.3 ms"), "{text}");
        assert!(text.contains("takeover: 1.7 ms"), "{text}");
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
