//! One row of the takeover benchmark: a lab with `n` sessions, the failure, and what the
//! neighbours' captures, the standby's log and the ping stream show (see [`super`]).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::lab::{RouterBgpd, RouterLab};
use super::peers::KeepalivePeers;
use super::plan::{self, Role, Sessions};
use super::wire::{after_failure, event_time, AfterFailure};
use super::{loadavg, SessionTiming, TakeoverBenchOptions, TakeoverRow};
use crate::bench::procstat;
use crate::capture::Capture;
use crate::demo::{parse_ping_stream, ping_outage, PING_INTERVAL};
use crate::failover::TAKEOVER_COMPLETE;
use crate::neighbor::frr::Frr;
use crate::neighbor::Neighbor as _;
use crate::poll::{poll_until, watch_until};
use crate::process::LabProcess;

/// The standby's log line when it declares the primary failed.
pub const DECLARED: &str = "ha: primary declared failed";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Signed ms from `a` to `b` (both since the Unix epoch).
fn ms_between(a: Duration, b: Duration) -> f64 {
    if b >= a {
        ms(b - a)
    } else {
        -ms(a - b)
    }
}

/// Kernel FIB prefixes (main table) of the namespace of process `pid`.
fn fib(pid: u32) -> u64 {
    procstat::fib_prefixes(pid).unwrap_or(0)
}

/// Waits until the standby follows the primary in lockstep: still a standby, synchronised,
/// connected, the same Loc-RIB (routes and digest) for a second, and every one of `flows`
/// sessions protected.
fn wait_lockstep(
    primary: &RouterBgpd,
    standby: &RouterBgpd,
    flows: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut since: Option<(Instant, String)> = None;
    poll_until(
        "the standby to be in lockstep (synchronised, same Loc-RIB digest, every flow protected)",
        timeout,
        Duration::from_millis(250),
        || {
            let s = standby.cli(&["ha"])?;
            let role = s["role"].as_str().unwrap_or("");
            if role == "primary" {
                return Err(crate::LabError::Exited {
                    name: "the standby".into(),
                    status: "took over before the primary failed (split brain)".into(),
                    log: String::new(),
                });
            }
            let p = primary.cli(&["ha"])?;
            let digest = s["loc_rib_digest"].as_str().unwrap_or("").to_string();
            let protected = s["flows"]
                .as_array()
                .map(|f| f.iter().filter(|f| f["protected"] == true).count())
                .unwrap_or(0);
            let ok = role == "standby"
                && s["synchronised"] == true
                && s["connected"] == true
                && !digest.is_empty()
                && p["loc_rib_digest"].as_str() == Some(digest.as_str())
                && p["loc_rib_routes"] == s["loc_rib_routes"]
                && protected == flows;
            if !ok {
                since = None;
                return Ok(None);
            }
            match &since {
                Some((t, d)) if *d == digest && t.elapsed() >= Duration::from_secs(1) => {
                    Ok(Some(()))
                }
                Some((_, d)) if *d == digest => Ok(None),
                _ => {
                    since = Some((Instant::now(), digest));
                    Ok(None)
                }
            }
        },
    )?;
    Ok(())
}

/// Runs one row with `n` sessions.
pub fn run(
    opts: &TakeoverBenchOptions,
    n: usize,
    bytes: &Arc<Vec<u8>>,
    prefixes: u64,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<TakeoverRow> {
    let sessions = Sessions::of(n);
    let timeout = opts.timeout;
    let lab = RouterLab::build(&opts.ns_prefix, sessions, true)?;
    let standby_ns = lab.standby.clone().context("no standby namespace")?;
    let client_ns = lab.client.clone().context("no client namespace")?;
    progress(&format!(
        "  lab {}: feeder, {}{} keepalive peers",
        lab.lab.id(),
        if sessions.frr { "FRR, " } else { "" },
        sessions.keepalive
    ));
    let mut primary = RouterBgpd::start(
        &lab.primary,
        lab.dir("primary")?,
        "primary",
        sessions,
        Role::Primary,
        true,
    )?;
    let mut standby = None;
    if !opts.late_standby {
        standby = Some(RouterBgpd::start(
            &standby_ns,
            lab.dir("standby")?,
            "standby",
            sessions,
            Role::Standby,
            true,
        )?);
    }
    let peer_list: Vec<_> = (0..sessions.keepalive).map(plan::keepalive_peer).collect();
    let peers = KeepalivePeers::start(&lab.peers, &peer_list)?;
    let mut frr = match &lab.frr {
        Some(ns) => Some(Frr::start_with_config(
            ns,
            &lab.dir("frr")?,
            "frr",
            &plan::frr_config(false),
            false,
        )?),
        None => None,
    };
    let mut feeder = lab.start_feeder(bytes, timeout)?;
    let t0 = feeder.wait_established(timeout)?;
    progress("  feeder Established, writing the table");
    poll_until(
        "the primary's Loc-RIB to hold the table",
        timeout,
        Duration::from_millis(250),
        || {
            primary.process.check_running()?;
            Ok((primary.loc_rib_routes()? >= prefixes).then_some(()))
        },
    )?;
    let loaded = Instant::now();
    progress(&format!(
        "  primary: {prefixes} routes in Loc-RIB {:.1} s after Established",
        t0.elapsed().as_secs_f64()
    ));
    poll_until(
        "every keepalive peer to be Established",
        timeout,
        Duration::from_millis(100),
        || {
            if let Some((a, why)) = peers.first_ended() {
                return Err(crate::LabError::RawPeer(format!("peer {a}: {why}")));
            }
            Ok((peers.established() == sessions.keepalive).then_some(()))
        },
    )?;
    if let Some(f) = frr.as_mut() {
        poll_until(
            "FRR to hold the whole table from the router",
            timeout,
            Duration::from_millis(500),
            || {
                let s = f.session(IpAddr::V4(plan::ROUTER))?;
                Ok((s.established && s.prefixes_received.unwrap_or(0) >= prefixes).then_some(()))
            },
        )?;
        progress("  FRR holds the table");
    }
    let standby = match standby.take() {
        Some(s) => s,
        None => RouterBgpd::start(
            &standby_ns,
            lab.dir("standby")?,
            "standby",
            sessions,
            Role::Standby,
            true,
        )?,
    };
    let lockstep_started = Instant::now();
    wait_lockstep(&primary, &standby, sessions.total(), timeout)?;
    let lockstep_s = loaded.elapsed().as_secs_f64();
    progress(&format!(
        "  standby in lockstep ({:.1} s after it started or the table was in)",
        lockstep_started.elapsed().as_secs_f64().min(lockstep_s)
    ));
    let (ppid, spid) = (primary.process.pid(), standby.process.pid());
    poll_until(
        "both kernel FIBs to hold the table",
        timeout,
        Duration::from_millis(250),
        || Ok((fib(ppid) >= prefixes && fib(spid) >= prefixes).then_some(())),
    )?;
    progress("  both kernel FIBs hold the table");

    poll_until(
        "the server to answer the client through the router",
        timeout,
        Duration::from_millis(100),
        || Ok(client_ns.ping(IpAddr::V4(plan::SERVER), 1)?.then_some(())),
    )?;
    let interval = format!("{:.3}", PING_INTERVAL.as_secs_f64());
    let ping_log = lab.lab.workdir().join("ping-stream.log");
    let mut ping = LabProcess::spawn(
        &client_ns,
        "ping-stream",
        "ping",
        &["-n", "-D", "-i", &interval, &plan::SERVER.to_string()],
        &[],
        &ping_log,
    )?;
    let filter = format!("tcp and src host {}", plan::ROUTER);
    let mut captures = vec![(
        "peers",
        Capture::start(&lab.peers, "eth0", &filter, lab.lab.workdir(), "wire-peers")?,
    )];
    if let Some(ns) = &lab.frr {
        captures.push((
            "frr",
            Capture::start(ns, "eth0", &filter, lab.lab.workdir(), "wire-frr")?,
        ));
    }
    let frr_before = match frr.as_mut() {
        Some(f) => Some(f.session(IpAddr::V4(plan::ROUTER))?),
        None => None,
    };
    // A steady stream before the failure.
    std::thread::sleep(Duration::from_millis(500));
    let load = loadavg();
    let synchronised_at_failure = standby
        .cli(&["ha"])
        .ok()
        .map(|s| s["synchronised"] == true && s["role"] == "standby");
    peers.mark();
    let cut = lab.cut_primary()?;
    primary.process.kill();
    progress(&format!(
        "  primary died: cut off ({:.1} ms), bgpd killed",
        ms_between(cut.at, cut.done)
    ));
    let mut standby = standby;
    let done = poll_until(
        "the standby to log ha: takeover complete",
        timeout,
        Duration::from_millis(20),
        || {
            standby.process.check_running()?;
            Ok(standby.find_log(TAKEOVER_COMPLETE))
        },
    )?;
    // Every keepalive peer reads a KEEPALIVE from the standby at once; then watch.
    let _ = poll_until(
        "every keepalive peer to hear from the standby",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            Ok(peers
                .states
                .iter()
                .all(|s| s.after_mark.load(Ordering::SeqCst) > 0)
                .then_some(()))
        },
    );
    watch_until(cut.instant + opts.watch)?;

    ping.signal(libc::SIGINT);
    let _ = poll_until(
        "the ping stream to stop",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || Ok(ping.check_running().is_err().then_some(())),
    );
    let ping_text = std::fs::read_to_string(&ping_log).unwrap_or_default();
    let dataplane_loss_ms = ping_outage(&ping_text, PING_INTERVAL).map(ms).or_else(|| {
        parse_ping_stream(&ping_text).map(|(_, _, lost)| lost as f64 * ms(PING_INTERVAL))
    });
    let mut seen = std::collections::BTreeMap::new();
    let mut capture_dropped = Some(0);
    for (_, c) in captures {
        let captured = c.finish()?;
        capture_dropped = capture_dropped.zip(captured.dropped).map(|(a, b)| a + b);
        seen.extend(after_failure(
            &captured.file,
            IpAddr::V4(plan::ROUTER),
            cut.done,
        )?);
    }
    let frr_after = match frr.as_mut() {
        Some(f) => Some(f.session(IpAddr::V4(plan::ROUTER))?),
        None => None,
    };

    let declared = standby.find_log(DECLARED).as_ref().and_then(event_time);
    let phases = standby
        .find_log("takeover phases")
        .map(|e| e["fields"].clone());
    let standby_takeover_ms = crate::speaker::field_f64(&done, "takeover_ms");

    let mut per_session = Vec::new();
    let mut survived: usize = 0;
    let mut timing = |peer: IpAddr, kind: &'static str, up: bool, read: Option<Duration>| {
        let w: AfterFailure = seen.get(&peer).copied().unwrap_or_default();
        if up && w.syn_fin_rst == 0 {
            survived += 1;
        }
        per_session.push(SessionTiming {
            peer,
            kind,
            from_declaration_ms: w.first.zip(declared).map(|(f, d)| ms_between(d, f)),
            from_failure_ms: w.first.map(|f| ms_between(cut.at, f)),
            read_from_declaration_ms: read.zip(declared).map(|(r, d)| ms_between(d, r)),
            segments: w.segments,
            syn_fin_rst: w.syn_fin_rst,
        });
    };
    // The feeder's session: its thread ends only on an error, seen on stop.
    timing(IpAddr::V4(plan::FEEDER), "feeder", true, None);
    if let (Some(b), Some(a)) = (&frr_before, &frr_after) {
        let up = a.established
            && a.established_count == b.established_count
            && a.dropped_count == b.dropped_count
            && a.prefixes_received == b.prefixes_received;
        timing(IpAddr::V4(plan::FRR), "frr", up, None);
    }
    for s in &peers.states {
        let read = s
            .first_after_mark()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        timing(
            IpAddr::V4(s.address),
            "keepalive",
            s.ended().is_none(),
            read,
        );
    }
    let feeder_ok = feeder.stop().is_ok();
    if !feeder_ok {
        survived = survived.saturating_sub(1);
    }
    let from_decl: Vec<f64> = per_session
        .iter()
        .filter_map(|s| s.from_declaration_ms)
        .collect();
    let from_fail: Vec<f64> = per_session
        .iter()
        .filter_map(|s| s.from_failure_ms)
        .collect();
    let with_segment = from_fail.len();
    let all_seen = with_segment == per_session.len();
    let row = TakeoverRow {
        sessions: sessions.total(),
        loc_rib_routes: prefixes,
        declared_after_failure_ms: declared.map(|d| ms_between(cut.at, d)),
        first_session_ms: from_decl.iter().copied().min_by(f64::total_cmp),
        median_session_ms: crate::bench::median_of(from_decl.clone()),
        last_session_ms: if all_seen {
            from_decl.iter().copied().max_by(f64::total_cmp)
        } else {
            None
        },
        failure_to_last_ms: if all_seen {
            from_fail.iter().copied().max_by(f64::total_cmp)
        } else {
            None
        },
        standby_takeover_ms,
        phases,
        dataplane_loss_ms,
        sessions_with_segment: with_segment,
        sessions_survived: survived,
        synchronised_at_failure,
        cut_ms: ms_between(cut.at, cut.done),
        capture_dropped,
        lockstep_s: Some(lockstep_s),
        load,
        error: (!all_seen || survived != per_session.len()).then(|| {
            let missing: Vec<String> = per_session
                .iter()
                .filter(|s| s.from_failure_ms.is_none())
                .take(5)
                .map(|s| format!("{} ({})", s.peer, s.kind))
                .collect();
            let unsync = if synchronised_at_failure == Some(false) {
                "the standby was NOT synchronised just before the failure; "
            } else {
                ""
            };
            format!(
                "{unsync}{} of {} sessions sent a segment after the failure (none on {}), {} survived (logs: {})",
                with_segment,
                per_session.len(),
                missing.join(", "),
                survived,
                lab.lab.workdir().display()
            )
        }),
        per_session,
    };
    drop(peers);
    drop(frr);
    drop(standby);
    drop(lab);
    Ok(row)
}
