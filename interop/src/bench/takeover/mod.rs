//! `interop takeover-bench`: how long understudy's takeover takes with 1, 10 and 100
//! neighbour sessions and a full table, what the data plane loses, and, in the same run, what
//! a neighbour pays without understudy (Graceful Restart, FRR re-learning the table).
//! Issue 7's benchmark.
//!
//! Per row (a number of sessions), in a lab of its own ([`plan`] has the picture): the
//! feeder ([`crate::bench::feeder`]) writes the pre-encoded table (generated as for
//! `interop bench`, plus the server's prefix) to the primary; FRR (from two sessions on)
//! receives the whole table from the router; the other sessions are [`peers`], one thread
//! each, that only keep their session up. Once the primary holds the table, every session is
//! Established, the standby (started late by default) reports itself synchronised with the
//! primary's Loc-RIB digest and every flow protected, and both kernel FIBs hold the table, a
//! ping stream runs client -> server through the router and tcpdump captures what the router
//! sends to the neighbours. Then the primary is cut off at once, every frame to or from it
//! dropped at the switch ([`lab::RouterLab::cut_primary`]), and its bgpd killed. Measured:
//! - per session, the capture time of the first segment the router's address sent after
//!   the cut ([`wire::after_failure`]), against the standby's `ha: primary declared failed`
//!   log time and against the cut;
//! - the standby's own `takeover_ms` (`ha: takeover complete`) and phase timings;
//! - the ping stream's outage ([`crate::demo::ping_outage`]);
//! - whether every session survived (no SYN/FIN/RST from the router, the keepalive peers
//!   never closed, FRR's session never dropped and kept its prefixes).
//!
//! The baseline ([`gr`]): the same feeder and FRR with a plain bgpd (no HA) and Graceful
//! Restart (RFC 4724) towards FRR; bgpd is killed and started again, and the time until FRR
//! holds the whole table fresh again (End-of-RIB received, every prefix) is measured.

pub mod gr;
pub mod lab;
pub mod peers;
pub mod plan;
pub mod report;
pub mod row;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use crate::bench::feed::{feeder_context, Feed};
use crate::poll::interrupted;
use bgpd::wire::{
    encode_message, AfiSafi, AsPath, Asn, AttributeValue, Ipv4Prefix, Message, Nlri, Origin,
    UpdateBuilder,
};

/// What to run.
#[derive(Debug, Clone)]
pub struct TakeoverBenchOptions {
    /// Session counts, one row each.
    pub sessions: Vec<usize>,
    /// Generated prefixes in the table.
    pub routes: usize,
    /// Namespace project prefix.
    pub ns_prefix: String,
    /// How long each wait may take (sessions, table, lockstep).
    pub timeout: Duration,
    /// Start the standby once the primary holds the table (true), or with the primary,
    /// following the table's ingest on the mirror (false).
    pub late_standby: bool,
    /// How long to watch the sessions after the takeover (longer than FRR's 9 s Hold Time
    /// shows its session survived).
    pub watch: Duration,
    /// Run the Graceful Restart baseline.
    pub graceful_restart: bool,
}

/// One session's first segment after the failure.
#[derive(Debug, Clone, Serialize)]
pub struct SessionTiming {
    /// The neighbour's address.
    pub peer: std::net::IpAddr,
    /// feeder, frr or keepalive.
    pub kind: &'static str,
    /// ms from the standby's declaration to the first segment (None: no segment seen).
    pub from_declaration_ms: Option<f64>,
    /// ms from the failure (the primary cut off) to the first segment.
    pub from_failure_ms: Option<f64>,
    /// ms from the declaration to the neighbour reading the standby's first message off its
    /// socket (keepalive peers only): the application's cross-check of the capture.
    pub read_from_declaration_ms: Option<f64>,
    /// Segments the router sent after the failure.
    pub segments: u64,
    /// Of them SYN, FIN or RST.
    pub syn_fin_rst: u64,
}

/// One row: a takeover with this many sessions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TakeoverRow {
    /// Neighbour sessions.
    pub sessions: usize,
    /// Prefixes in the router's Loc-RIB before the failure.
    pub loc_rib_routes: u64,
    /// ms from the failure to the standby's declaration (its log line).
    pub declared_after_failure_ms: Option<f64>,
    /// ms from the declaration to the first session's first segment.
    pub first_session_ms: Option<f64>,
    /// ms from the declaration to the median session's first segment.
    pub median_session_ms: Option<f64>,
    /// ms from the declaration to the last session's first segment (target: 50 at 100
    /// sessions).
    pub last_session_ms: Option<f64>,
    /// ms from the failure to the last session's first segment (target: 350).
    pub failure_to_last_ms: Option<f64>,
    /// The standby's own figure: declaration -> every session live (`ha: takeover complete`).
    pub standby_takeover_ms: Option<f64>,
    /// The standby's takeover phases (ms from the start of the rebuild), if logged.
    pub phases: Option<serde_json::Value>,
    /// Ping stream outage, ms.
    pub dataplane_loss_ms: Option<f64>,
    /// Sessions whose first segment after the failure was captured.
    pub sessions_with_segment: usize,
    /// Sessions still up at the end (no SYN/FIN/RST, no close, FRR never dropped).
    pub sessions_survived: usize,
    /// The standby still reported itself synchronised just before the failure.
    pub synchronised_at_failure: Option<bool>,
    /// ms the `tc` cut took (the failure is timed at its start).
    pub cut_ms: f64,
    /// Frames from the router that the neighbours' captures did not keep (tcpdump's count;
    /// None when it gave none): a first segment among them reads as one that came late.
    pub capture_dropped: Option<u64>,
    /// ms from the primary holding the table to the standby in lockstep.
    pub lockstep_s: Option<f64>,
    /// `/proc/loadavg` just before the failure.
    pub load: String,
    /// Every session.
    pub per_session: Vec<SessionTiming>,
    /// Why the row is incomplete, if it is.
    pub error: Option<String>,
}

/// The baseline: FRR re-learning the table after the router restarted with Graceful
/// Restart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GrBaseline {
    /// Prefixes FRR holds from the router.
    pub prefixes: u64,
    /// s from the failure (bgpd killed) to FRR's session Established again.
    pub reestablished_s: Option<f64>,
    /// s from the failure until FRR held the whole table fresh again (End-of-RIB received
    /// and every prefix).
    pub relearn_s: Option<f64>,
    /// The fewest prefixes FRR counted from the router while it restarted (FRR's count,
    /// which it resets while the session is down even when it keeps the routes stale).
    pub min_prefixes_during: Option<u64>,
    /// Whether FRR kept the server's route (as a stale path) on every probe while the
    /// session was down (None: never probed while down).
    pub route_kept_while_down: Option<bool>,
    /// Why it is incomplete, if it is.
    pub error: Option<String>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct TakeoverBenchResult {
    /// Online CPUs.
    pub cpus: usize,
    /// `/proc/loadavg` at the start.
    pub load_before: String,
    /// `/proc/loadavg` at the end.
    pub load_after: String,
    /// Prefixes in the table (generated, plus the server's).
    pub routes: u64,
    /// The standby joined after the table was loaded.
    pub late_standby: bool,
    /// One per session count.
    pub rows: Vec<TakeoverRow>,
    /// The Graceful Restart baseline (None: not run).
    pub graceful_restart: Option<GrBaseline>,
}

/// `/proc/loadavg`'s three load figures.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The feed: `routes` generated prefixes from the feeder, then the server's prefix.
pub fn table(routes: usize) -> anyhow::Result<(Arc<Vec<u8>>, u64)> {
    let mut feed = Feed::generated(routes, plan::FEEDER_AS, plan::FEEDER)?;
    let ctx = feeder_context();
    let attrs = bgpd::wire::builder::attributes([
        AttributeValue::Origin(Origin::Igp),
        AttributeValue::AsPath(AsPath::sequence([Asn(plan::FEEDER_AS)])),
        AttributeValue::NextHop(plan::FEEDER),
    ]);
    let (addr, len) = plan::SERVER_NET;
    let prefix = Ipv4Prefix::new(addr, len).context("the server's prefix")?;
    for u in UpdateBuilder::new(&ctx)
        .announce(AfiSafi::IPV4_UNICAST, &attrs, None, &[Nlri::new(prefix)])
        .context("encoding the server's UPDATE")?
    {
        feed.bytes
            .extend_from_slice(&encode_message(&Message::Update(u), &ctx)?);
    }
    Ok((Arc::new(feed.bytes), feed.prefixes + 1))
}

/// Runs the benchmark; `progress` gets one line per step.
pub fn run(
    opts: &TakeoverBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<TakeoverBenchResult> {
    anyhow::ensure!(!opts.sessions.is_empty(), "no session count given");
    for &n in &opts.sessions {
        anyhow::ensure!(
            (1..=plan::MAX_SESSIONS).contains(&n),
            "{n} sessions: the lab holds 1 to {}",
            plan::MAX_SESSIONS
        );
    }
    // The programs, before the table is encoded and a lab is built: understudy's bgpd and
    // CLI, and FRR (neighbours from 2 sessions on, and the Graceful Restart baseline).
    crate::neighbor::NeighborKind::Understudy.check_installed(false, "the takeover bench")?;
    if opts.graceful_restart || opts.sessions.iter().any(|&n| n >= 2) {
        crate::neighbor::NeighborKind::Frr.check_installed(false, "the takeover bench")?;
    }
    let removed = crate::sweep::sweep(&opts.ns_prefix, false)?;
    if !removed.is_empty() {
        progress(&format!("removed {} stale namespace(s)", removed.len()));
    }
    let load_before = loadavg();
    progress(&format!("encoding {} generated prefixes", opts.routes));
    let (bytes, prefixes) = table(opts.routes)?;
    progress(&format!(
        "table: {prefixes} prefixes, {} bytes of UPDATEs",
        bytes.len()
    ));
    let mut rows = Vec::new();
    for &n in &opts.sessions {
        progress(&format!("== {n} session(s)"));
        let r = match row::run(opts, n, &bytes, prefixes, progress) {
            Ok(r) => r,
            Err(e) if interrupted() => return Err(e),
            Err(e) => TakeoverRow {
                sessions: n,
                error: Some(format!("{e:#}")),
                ..TakeoverRow::default()
            },
        };
        progress(&report::row_line(&r));
        rows.push(r);
    }
    let graceful_restart = if opts.graceful_restart {
        progress("== baseline: Graceful Restart, FRR re-learns the table");
        let g = match gr::run(opts, &bytes, prefixes, progress) {
            Ok(g) => g,
            Err(e) if interrupted() => return Err(e),
            Err(e) => GrBaseline {
                prefixes,
                error: Some(format!("{e:#}")),
                ..GrBaseline::default()
            },
        };
        Some(g)
    } else {
        None
    };
    Ok(TakeoverBenchResult {
        cpus: crate::bench::procstat::cpus(),
        load_before,
        load_after: loadavg(),
        routes: prefixes,
        late_standby: opts.late_standby,
        rows,
        graceful_restart,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_table_ends_with_the_servers_prefix() {
        let (bytes, n) = table(1_000).unwrap();
        assert_eq!(n, 1_001);
        let ctx = feeder_context();
        let mut rest = &bytes[..];
        let mut last = None;
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            last = bgpd::wire::decode_message(&rest[..len], &ctx).message;
            rest = &rest[len..];
        }
        let Some(Message::Update(u)) = last else {
            panic!("no UPDATE at the end")
        };
        let (addr, len) = plan::SERVER_NET;
        assert_eq!(u.nlri, vec![Nlri::new(Ipv4Prefix::new(addr, len).unwrap())]);
    }
}
