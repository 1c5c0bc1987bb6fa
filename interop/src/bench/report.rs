//! The benchmark's table: one per feed, a row per daemon and mode, each figure next to its
//! ratio against bgpd in the same mode (above 1: bgpd is faster or smaller).

use std::fmt::Write as _;

use super::dut::DaemonKind;
use super::{BenchResult, FeedResult, Measurement, Row, CALIBRATION_MARGIN};

/// Seconds with two decimals, or "–".
pub fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.2}")).unwrap_or_else(|| "–".into())
}

fn ratio(v: Option<f64>, base: Option<f64>) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{:.2}", v / b),
        _ => "–".into(),
    }
}

fn mib(v: Option<u64>) -> String {
    v.map(|b| format!("{:.0}", b as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "–".into())
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The rows' figures as table cells, in column order, with ratios against `base`.
fn cells(row: &Row, base: Option<&Measurement>, prefixes: u64) -> Vec<String> {
    let m = &row.median;
    let b = |g: fn(&Measurement) -> Option<f64>| base.and_then(g);
    let bpr = m.bytes_per_route(prefixes);
    let base_bpr = base.and_then(|b| b.bytes_per_route(prefixes));
    let counts = format!(
        "{}/{}/{}",
        thousands(m.rib_count),
        thousands(m.monitor_count),
        m.kernel_count.map(thousands).unwrap_or_else(|| "–".into())
    );
    vec![
        row.daemon.to_string(),
        row.mode.label().to_string(),
        secs(m.rib_s),
        ratio(m.rib_s, b(|x| x.rib_s)),
        secs(m.monitor_s),
        ratio(m.monitor_s, b(|x| x.monitor_s)),
        secs(m.kernel_s),
        ratio(m.kernel_s, b(|x| x.kernel_s)),
        secs(m.cpu_s),
        ratio(m.cpu_s, b(|x| x.cpu_s)),
        mib(m.peak_rss),
        bpr.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into()),
        ratio(bpr, base_bpr),
        counts,
        m.error.clone().unwrap_or_default(),
    ]
}

const HEADER: [&str; 15] = [
    "daemon",
    "mode",
    "Loc-RIB s",
    "×bgpd",
    "monitor s",
    "×bgpd",
    "kernel s",
    "×bgpd",
    "CPU s",
    "×bgpd",
    "peak RSS MiB",
    "B/route",
    "×bgpd",
    "counts RIB/mon/kernel",
    "note",
];

/// One feed's table (Markdown).
pub fn render_feed(f: &FeedResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "feed {}: {} prefixes, {} attribute sets, {} UPDATEs ({:.1} MB), pre-encoded",
        f.feed,
        thousands(f.prefixes),
        thousands(f.attribute_sets as u64),
        thousands(f.messages as u64),
        f.bytes as f64 / 1e6
    );
    let cal = &f.calibration;
    let rate = cal
        .monitor_s
        .filter(|s| *s > 0.0)
        .map(|s| format!(" ({:.2} M prefixes/s)", f.prefixes as f64 / s / 1e6))
        .unwrap_or_default();
    let verdict = match f.calibration_margin() {
        Some(m) if m >= CALIBRATION_MARGIN => {
            format!("{m:.1}x faster than the fastest daemon: OK")
        }
        Some(m) => format!(
            "only {m:.1}x faster than the fastest daemon (< {CALIBRATION_MARGIN}x): times near {} s measure the harness, not the daemon",
            secs(f.fastest_daemon_s())
        ),
        None => "no daemon time to compare with".into(),
    };
    let _ = writeln!(
        s,
        "calibration: feeder -> monitor alone {} s{rate}, {verdict}{}",
        secs(cal.monitor_s),
        cal.error
            .as_ref()
            .map(|e| format!(" [{e}]"))
            .unwrap_or_default()
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "| {} |", HEADER.join(" | "));
    let _ = writeln!(s, "|{}", HEADER.iter().map(|_| "---|").collect::<String>());
    for row in &f.rows {
        let base = f
            .rows
            .iter()
            .find(|r| r.daemon == DaemonKind::Bgpd && r.mode == row.mode)
            .map(|r| &r.median);
        let _ = writeln!(s, "| {} |", cells(row, base, f.prefixes).join(" | "));
    }
    s
}

/// The whole report.
pub fn render(r: &BenchResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "interop bench: {} CPUs, load average {} before, {} after; medians of {} run(s); times in seconds from the feeder's Established",
        r.cpus, r.load_before, r.load_after, r.runs
    );
    for f in &r.feeds {
        let _ = writeln!(s);
        s.push_str(&render_feed(f));
    }
    s
}

/// Whether every row of every feed completed: Loc-RIB, monitor and (where measured) kernel
/// counts reached the feed's prefix count with no error.
pub fn complete(r: &BenchResult) -> bool {
    r.feeds.iter().all(|f| {
        f.calibration.monitor_count == f.prefixes
            && f.rows.iter().all(|row| {
                let m = &row.median;
                m.error.is_none()
                    && m.rib_s.is_some()
                    && m.monitor_s.is_some()
                    && m.rib_count >= f.prefixes
                    && m.monitor_count == f.prefixes
                    && (!row.mode.kernel || m.kernel_count.is_some_and(|k| k >= f.prefixes))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(secs(Some(1.234)), "1.23");
        assert_eq!(secs(None), "–");
        assert_eq!(ratio(Some(3.0), Some(1.5)), "2.00");
        assert_eq!(ratio(Some(3.0), None), "–");
    }
}
