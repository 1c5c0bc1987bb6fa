//! The takeover benchmark's table.

use std::fmt::Write as _;

use super::{TakeoverBenchResult, TakeoverRow};

fn f1(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

/// ms from the declaration to the last keepalive peer reading its first message (None
/// when any of them did not).
fn last_read(r: &TakeoverRow) -> Option<f64> {
    let reads: Vec<Option<f64>> = r
        .per_session
        .iter()
        .filter(|s| s.kind == "keepalive")
        .map(|s| s.read_from_declaration_ms)
        .collect();
    if reads.is_empty() || reads.iter().any(Option::is_none) {
        return None;
    }
    reads.into_iter().flatten().max_by(f64::total_cmp)
}

/// One progress line for a finished row.
pub fn row_line(r: &TakeoverRow) -> String {
    format!(
        "  {} sessions: declared {} ms after the failure; first segment per session {} / {} / {} ms (first/median/last) after the declaration, last {} ms after the failure; standby takeover_ms {}; data-plane loss {} ms; {}/{} survived; cut off in {:.1} ms; capture dropped {} frames; last keepalive peer read its first message {} ms after the declaration{}",
        r.sessions,
        f1(r.declared_after_failure_ms),
        f1(r.first_session_ms),
        f1(r.median_session_ms),
        f1(r.last_session_ms),
        f1(r.failure_to_last_ms),
        f1(r.standby_takeover_ms),
        f1(r.dataplane_loss_ms),
        r.sessions_survived,
        r.sessions,
        r.cut_ms,
        r.capture_dropped
            .map_or_else(|| "an unknown number of".into(), |n| n.to_string()),
        f1(last_read(r)),
        r.error
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )
}

/// The table: one row per session count, the Graceful Restart baseline in its own column
/// (the same for every row: one neighbour re-learning the table).
pub fn render(res: &TakeoverBenchResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "takeover with a {}-route table ({} CPUs, load {} -> {}, standby joined {})",
        res.routes,
        res.cpus,
        res.load_before,
        res.load_after,
        if res.late_standby {
            "after the table was loaded"
        } else {
            "with the primary"
        }
    );
    let gr = res
        .graceful_restart
        .as_ref()
        .and_then(|g| g.relearn_s)
        .map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "-".into());
    let _ = writeln!(
        s,
        "{:>8} | {:>14} | {:>14} | {:>13} | {:>13} | {:>10} | {:>8} | {:>12}",
        "sessions",
        "decl->last ms",
        "fail->last ms",
        "fail->decl ms",
        "standby ms",
        "loss ms",
        "survived",
        "GR relearn s"
    );
    for r in &res.rows {
        let _ = writeln!(
            s,
            "{:>8} | {:>14} | {:>14} | {:>13} | {:>13} | {:>10} | {:>8} | {:>12}",
            r.sessions,
            f1(r.last_session_ms),
            f1(r.failure_to_last_ms),
            f1(r.declared_after_failure_ms),
            f1(r.standby_takeover_ms),
            f1(r.dataplane_loss_ms),
            format!("{}/{}", r.sessions_survived, r.sessions),
            gr
        );
    }
    for r in res.rows.iter().filter(|r| r.error.is_some()) {
        let _ = writeln!(
            s,
            "{} sessions: {}",
            r.sessions,
            r.error.as_deref().unwrap_or_default()
        );
    }
    if let Some(g) = &res.graceful_restart {
        let _ = writeln!(
            s,
            "Graceful Restart baseline: bgpd (no HA) killed and restarted; FRR Established again after {} s, the whole table ({} prefixes) fresh again after {} s; the server's route kept while the session was down: {}{}",
            g.reestablished_s
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into()),
            g.prefixes,
            g.relearn_s
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into()),
            match g.route_kept_while_down {
                Some(true) => "yes (stale)",
                Some(false) => "NO",
                None => "-",
            },
            g.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        s,
        "targets: decl->last <= 50 ms with 100 sessions; fail->last <= 350 ms with default detection (3 x 100 ms)"
    );
    s
}
