//! `interop bench`: how fast understudy's bgpd, BIRD, FRR and GoBGP take a full table, in
//! the same lab and the same way.
//!
//! ```text
//!  feeder ns              dut ns                         monitor ns
//!  192.0.2.1 ---- eth0 192.0.2.10  [daemon]  198.51.100.10 eth1 ---- 198.51.100.2
//!  (AS 64700, active)              (AS 65010)                   (AS 64800, passive)
//! ```
//!
//! The feeder ([`feeder`]) pre-encodes every UPDATE ([`feed`]) before the clock starts and
//! writes them as fast as the socket takes them; time zero is its session's Established.
//! Measured per daemon: seconds until its own Loc-RIB count holds every prefix (polled with
//! a deadline, no faster than [`dut::Dut::poll_interval`]), until the monitor ([`monitor`])
//! has seen the last prefix, and until the kernel FIB holds them (when the daemon installs);
//! CPU seconds and peak RSS of its processes ([`procstat`]). Each daemon runs free, pinned to
//! one core, and installing into the kernel. The feeder is first calibrated alone against
//! the monitor: it must be at least [`CALIBRATION_MARGIN`] times faster than the fastest
//! daemon, or the table says the harness was measured.

pub mod dut;
pub mod feed;
pub mod feeder;
pub mod monitor;
pub mod procstat;
pub mod report;
pub mod speaker;
pub mod takeover;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::lab::Lab;
use crate::poll::interrupted;
use dut::{plan, DaemonKind, DutSetup};
use feed::Feed;
use feeder::Feeder;
use monitor::Monitor;
use speaker::Identity;

/// How much faster than the fastest daemon the feeder alone must be.
pub const CALIBRATION_MARGIN: f64 = 3.0;

/// How the daemon under test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Mode {
    /// Every thread pinned to one core (the last one).
    pub pinned: bool,
    /// Routes installed into the kernel.
    pub kernel: bool,
}

impl Mode {
    /// Free: no pinning, no kernel.
    pub const FREE: Mode = Mode {
        pinned: false,
        kernel: false,
    };
    /// Pinned to one core, no kernel.
    pub const PINNED: Mode = Mode {
        pinned: true,
        kernel: false,
    };
    /// Free, installing into the kernel.
    pub const KERNEL: Mode = Mode {
        pinned: false,
        kernel: true,
    };

    /// A short label for the table.
    pub fn label(self) -> &'static str {
        match (self.pinned, self.kernel) {
            (false, false) => "free",
            (true, false) => "1 core",
            (false, true) => "kernel",
            (true, true) => "kernel, 1 core",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Generated prefixes (0: no generated feed).
    pub prefixes: usize,
    /// The MRT RIB dump to feed as well (None: none).
    pub mrt: Option<PathBuf>,
    /// Daemons, in table order.
    pub daemons: Vec<DaemonKind>,
    /// The modes each daemon runs in.
    pub modes: Vec<Mode>,
    /// Runs per measurement (the table shows medians).
    pub runs: usize,
    /// Namespace project prefix.
    pub ns_prefix: String,
    /// How long one run may take from Established (None: 60 s + 1 s per 5,000 prefixes).
    pub timeout: Option<Duration>,
}

impl BenchOptions {
    fn timeout_for(&self, prefixes: u64) -> Duration {
        self.timeout
            .unwrap_or_else(|| Duration::from_secs(60 + prefixes / 5_000))
    }
}

/// One run of one daemon (or of the calibration, `daemon` None) on one feed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measurement {
    /// Seconds from Established until the daemon's Loc-RIB held every prefix.
    pub rib_s: Option<f64>,
    /// Seconds from Established until the monitor had the first prefix.
    pub monitor_first_s: Option<f64>,
    /// Seconds from Established until the monitor had every prefix.
    pub monitor_s: Option<f64>,
    /// Seconds from Established until the kernel FIB held every prefix.
    pub kernel_s: Option<f64>,
    /// Seconds from Established until the feeder had written the whole feed.
    pub written_s: Option<f64>,
    /// CPU seconds of the daemon's processes from Established to the end of the run.
    pub cpu_s: Option<f64>,
    /// Peak resident memory of the daemon's processes (VmHWM summed), bytes.
    pub peak_rss: Option<u64>,
    /// Resident memory before the feed (VmRSS summed), bytes.
    pub rss_before: Option<u64>,
    /// Last Loc-RIB count read.
    pub rib_count: u64,
    /// Distinct prefixes the monitor received.
    pub monitor_count: u64,
    /// Prefixes added to the kernel FIB.
    pub kernel_count: Option<u64>,
    /// Why the run is incomplete, if it is.
    pub error: Option<String>,
}

impl Measurement {
    /// Bytes of resident memory the table added, per prefix.
    pub fn bytes_per_route(&self, prefixes: u64) -> Option<f64> {
        let (peak, before) = (self.peak_rss?, self.rss_before?);
        (prefixes > 0).then(|| peak.saturating_sub(before) as f64 / prefixes as f64)
    }
}

/// The measurements of one daemon in one mode on one feed.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The daemon.
    pub daemon: DaemonKind,
    /// The mode.
    pub mode: Mode,
    /// The median of the runs (field by field).
    pub median: Measurement,
    /// Every run.
    pub runs: Vec<Measurement>,
}

/// Everything measured on one feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedResult {
    /// The feed's name.
    pub feed: String,
    /// Distinct prefixes.
    pub prefixes: u64,
    /// Distinct attribute sets.
    pub attribute_sets: usize,
    /// UPDATE messages.
    pub messages: usize,
    /// Bytes of UPDATEs.
    pub bytes: usize,
    /// The feeder straight into the monitor (median of the runs).
    pub calibration: Measurement,
    /// One row per daemon and mode.
    pub rows: Vec<Row>,
}

impl FeedResult {
    /// The fastest daemon time of the table (Loc-RIB or monitor, any mode).
    pub fn fastest_daemon_s(&self) -> Option<f64> {
        self.rows
            .iter()
            .flat_map(|r| [r.median.rib_s, r.median.monitor_s])
            .flatten()
            .min_by(f64::total_cmp)
    }

    /// How many times faster than the fastest daemon the harness alone is.
    pub fn calibration_margin(&self) -> Option<f64> {
        let h = self.calibration.monitor_s?;
        Some(self.fastest_daemon_s()? / h.max(1e-6))
    }
}

/// The whole benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Online CPUs.
    pub cpus: usize,
    /// `/proc/loadavg` at the start.
    pub load_before: String,
    /// `/proc/loadavg` at the end.
    pub load_after: String,
    /// Runs per measurement.
    pub runs: usize,
    /// Per feed.
    pub feeds: Vec<FeedResult>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs the benchmark; `progress` gets one line per step.
pub fn run(opts: &BenchOptions, progress: &mut dyn FnMut(&str)) -> anyhow::Result<BenchResult> {
    anyhow::ensure!(opts.runs >= 1, "--runs must be at least 1");
    // Every daemon's programs, before the feeds are encoded and a lab is built.
    let kernel = opts.modes.iter().any(|m| m.kernel);
    for &d in &opts.daemons {
        d.neighbor_kind()
            .check_installed(kernel, &format!("the bench ({d} under test)"))?;
    }
    let removed = crate::sweep::sweep(&opts.ns_prefix, false)?;
    if !removed.is_empty() {
        progress(&format!("removed {} stale namespace(s)", removed.len()));
    }
    let load_before = loadavg();
    let mut feeds = Vec::new();
    if opts.prefixes > 0 {
        progress(&format!("encoding {} generated prefixes", opts.prefixes));
        feeds.push(Feed::generated(
            opts.prefixes,
            plan::FEEDER_AS,
            plan::FEEDER,
        )?);
    }
    if let Some(path) = &opts.mrt {
        progress(&format!("encoding the IPv4 table of {}", path.display()));
        feeds.push(Feed::from_mrt(path, plan::FEEDER_AS, plan::FEEDER)?);
    }
    let mut out = Vec::new();
    for feed in feeds {
        out.push(run_feed(opts, feed, progress)?);
    }
    Ok(BenchResult {
        cpus: procstat::cpus(),
        load_before,
        load_after: loadavg(),
        runs: opts.runs,
        feeds: out,
    })
}

fn run_feed(
    opts: &BenchOptions,
    feed: Feed,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<FeedResult> {
    let bytes = Arc::new(feed.bytes);
    let n = feed.prefixes;
    progress(&format!(
        "feed {}: {n} prefixes, {} attribute sets, {} UPDATEs, {} bytes",
        feed.name,
        feed.attribute_sets,
        feed.messages,
        bytes.len()
    ));
    let mut cal = Vec::new();
    for i in 0..opts.runs {
        let m = calibrate(opts, &bytes, n)?;
        progress(&format!(
            "  calibration {}/{}: feeder -> monitor {} (feed written at {})",
            i + 1,
            opts.runs,
            report::secs(m.monitor_s),
            report::secs(m.written_s)
        ));
        cal.push(m);
    }
    let mut rows = Vec::new();
    for &daemon in &opts.daemons {
        for &mode in &opts.modes {
            if mode.kernel && !daemon.has_kernel_fib() {
                continue;
            }
            let mut runs = Vec::new();
            for i in 0..opts.runs {
                // One daemon failing (to start, say) leaves its row incomplete, not the table.
                let m = match measure(opts, daemon, mode, &bytes, n) {
                    Ok(m) => m,
                    Err(e) if interrupted() => return Err(e),
                    Err(e) => Measurement {
                        error: Some(format!("{e:#}")),
                        ..Measurement::default()
                    },
                };
                progress(&format!(
                    "  {daemon} {} {}/{}: Loc-RIB {} monitor {} kernel {} CPU {}{}",
                    mode.label(),
                    i + 1,
                    opts.runs,
                    report::secs(m.rib_s),
                    report::secs(m.monitor_s),
                    report::secs(m.kernel_s),
                    report::secs(m.cpu_s),
                    m.error
                        .as_ref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
                runs.push(m);
            }
            rows.push(Row {
                daemon,
                mode,
                median: median(&runs),
                runs,
            });
        }
    }
    Ok(FeedResult {
        feed: feed.name,
        prefixes: n,
        attribute_sets: feed.attribute_sets,
        messages: feed.messages,
        bytes: bytes.len(),
        calibration: median(&cal),
        rows,
    })
}

fn sock(addr: std::net::Ipv4Addr) -> SocketAddr {
    SocketAddr::from((addr, 179))
}

/// `addr/24`, the lab links' subnet.
fn net(addr: std::net::Ipv4Addr) -> anyhow::Result<ipnetwork::IpNetwork> {
    Ok(ipnetwork::IpNetwork::V4(ipnetwork::Ipv4Network::new(
        addr, 24,
    )?))
}

const FEEDER_ID: Identity = Identity {
    asn: plan::FEEDER_AS,
    router_id: plan::FEEDER,
};

const MONITOR_ID: Identity = Identity {
    asn: plan::MONITOR_AS,
    router_id: plan::MONITOR,
};

/// The feeder straight into the monitor, in a lab of two namespaces.
fn calibrate(opts: &BenchOptions, bytes: &Arc<Vec<u8>>, n: u64) -> anyhow::Result<Measurement> {
    let mut lab = Lab::new(&opts.ns_prefix)?;
    let f = lab.add_namespace("feed")?;
    let m = lab.add_namespace("mon")?;
    lab.add_veth(&f, "eth0", &m, "eth0")?;
    lab.add_address(&f, "eth0", net(plan::FEEDER)?)?;
    lab.add_address(&m, "eth0", net(plan::DUT_FEED)?)?;
    let mut monitor = Monitor::start(
        &m,
        sock(plan::DUT_FEED),
        MONITOR_ID,
        n,
        Duration::from_secs(30),
    )?;
    let mut feeder = Feeder::start(
        &f,
        sock(plan::DUT_FEED),
        FEEDER_ID,
        bytes.clone(),
        Duration::from_secs(30),
    )?;
    let t0 = feeder.wait_established(Duration::from_secs(40))?;
    let deadline = t0 + opts.timeout_for(n);
    let mut out = Measurement::default();
    loop {
        if interrupted() {
            bail!("interrupted");
        }
        if let Some(e) = monitor.state.error() {
            out.error = Some(format!("monitor: {e}"));
            break;
        }
        if monitor.state.last_at().is_some() {
            break;
        }
        if Instant::now() >= deadline {
            out.error = Some("timed out".into());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let written = feeder.stop()?;
    monitor.stop();
    let st = &monitor.state;
    out.monitor_s = st.last_at().map(|t| since(t0, t));
    out.monitor_first_s = st.first_at().map(|t| since(t0, t));
    out.written_s = written.map(|t| since(t0, t));
    out.monitor_count = st.distinct.load(std::sync::atomic::Ordering::Relaxed);
    drop(lab);
    Ok(out)
}

fn since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64()
}

/// One run of `daemon` in `mode`.
fn measure(
    opts: &BenchOptions,
    daemon: DaemonKind,
    mode: Mode,
    bytes: &Arc<Vec<u8>>,
    n: u64,
) -> anyhow::Result<Measurement> {
    let mut lab = Lab::new(&opts.ns_prefix)?;
    let f = lab.add_namespace("feed")?;
    let d = lab.add_namespace("dut")?;
    let m = lab.add_namespace("mon")?;
    lab.add_veth(&f, "eth0", &d, "eth0")?;
    lab.add_veth(&d, "eth1", &m, "eth0")?;
    lab.add_address(&f, "eth0", net(plan::FEEDER)?)?;
    lab.add_address(&d, "eth0", net(plan::DUT_FEED)?)?;
    lab.add_address(&d, "eth1", net(plan::DUT_MONITOR)?)?;
    lab.add_address(&m, "eth0", net(plan::MONITOR)?)?;
    let mut monitor = Monitor::start(
        &m,
        sock(plan::MONITOR),
        MONITOR_ID,
        n,
        Duration::from_secs(60),
    )?;
    let setup = DutSetup {
        ns: d.clone(),
        dir: lab.subdir("dut")?,
        kernel: mode.kernel,
    };
    let mut dut = dut::start(daemon, &setup).with_context(|| format!("starting {daemon}"))?;
    crate::poll::poll_until(
        &format!("{daemon}'s session with the monitor"),
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            if let Some(e) = monitor.state.error() {
                return Err(crate::LabError::parse("monitor", e));
            }
            if let Err(e) = dut.check_running() {
                return Err(crate::LabError::parse(daemon.to_string(), format!("{e:#}")));
            }
            Ok(monitor.state.established_at().map(|_| ()))
        },
    )?;
    let pids = dut.pids();
    anyhow::ensure!(
        !pids.is_empty() && pids.iter().all(|p| *p != 0),
        "{daemon} has no PID"
    );
    if mode.pinned {
        procstat::pin(&pids, procstat::cpus().saturating_sub(1))?;
    }
    let mut out = Measurement {
        rss_before: Some(procstat::status_bytes(&pids, "VmRSS")?),
        ..Measurement::default()
    };
    let cpu0 = procstat::cpu_seconds(&pids)?;
    let fib0 = if mode.kernel {
        Some(procstat::fib_prefixes(pids[0])?)
    } else {
        None
    };
    let mut feeder = Feeder::start(
        &f,
        sock(plan::DUT_FEED),
        FEEDER_ID,
        bytes.clone(),
        Duration::from_secs(30),
    )?;
    let t0 = feeder.wait_established(Duration::from_secs(40))?;
    let deadline = t0 + opts.timeout_for(n);
    let (mut rib_at, mut kernel_at) = (None, None);
    let (mut next_rib, mut next_kernel) = (t0, t0);
    loop {
        if interrupted() {
            bail!("interrupted");
        }
        let now = Instant::now();
        if rib_at.is_none() && now >= next_rib {
            match dut.loc_rib_count() {
                Ok(c) => {
                    out.rib_count = c;
                    if c >= n {
                        rib_at = Some(Instant::now());
                    }
                }
                Err(e) => out.error = Some(format!("Loc-RIB count: {e:#}")),
            }
            next_rib = Instant::now() + dut.poll_interval();
        }
        if let (Some(base), None) = (fib0, kernel_at) {
            if now >= next_kernel {
                let c = procstat::fib_prefixes(pids[0])?.saturating_sub(base);
                out.kernel_count = Some(c);
                if c >= n {
                    kernel_at = Some(Instant::now());
                }
                next_kernel = Instant::now() + Duration::from_millis(200);
            }
        }
        if let Some(e) = monitor.state.error() {
            out.error = Some(format!("monitor: {e}"));
            break;
        }
        if let Err(e) = dut.check_running() {
            out.error = Some(format!("{e:#}"));
            break;
        }
        let monitor_done = monitor.state.last_at().is_some();
        if rib_at.is_some() && monitor_done && (fib0.is_none() || kernel_at.is_some()) {
            out.error = None;
            break;
        }
        if now >= deadline {
            out.error = Some(format!("timed out after {:?}", opts.timeout_for(n)));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    out.cpu_s = procstat::cpu_seconds(&pids).ok().map(|c| c - cpu0);
    out.peak_rss = procstat::status_bytes(&pids, "VmHWM").ok();
    let written = feeder.stop()?;
    monitor.stop();
    let st = &monitor.state;
    out.rib_s = rib_at.map(|t| since(t0, t));
    out.kernel_s = kernel_at.map(|t| since(t0, t));
    out.monitor_s = st.last_at().map(|t| since(t0, t));
    out.monitor_first_s = st.first_at().map(|t| since(t0, t));
    out.written_s = written.map(|t| since(t0, t));
    out.monitor_count = st.distinct.load(std::sync::atomic::Ordering::Relaxed);
    drop(dut);
    drop(lab);
    Ok(out)
}

/// The median of `v` (the mean of the middle two for an even count); None when empty.
pub(crate) fn median_of(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let k = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[k]
    } else {
        (v[k - 1] + v[k]) / 2.0
    })
}

/// The field-by-field median of `runs` (counts and errors from the last run).
fn median(runs: &[Measurement]) -> Measurement {
    let f = |g: fn(&Measurement) -> Option<f64>| median_of(runs.iter().filter_map(g).collect());
    let last = runs.last().cloned().unwrap_or_default();
    Measurement {
        rib_s: f(|m| m.rib_s),
        monitor_first_s: f(|m| m.monitor_first_s),
        monitor_s: f(|m| m.monitor_s),
        kernel_s: f(|m| m.kernel_s),
        written_s: f(|m| m.written_s),
        cpu_s: f(|m| m.cpu_s),
        peak_rss: f(|m| m.peak_rss.map(|v| v as f64)).map(|v| v as u64),
        rss_before: f(|m| m.rss_before.map(|v| v as f64)).map(|v| v as u64),
        error: runs.iter().find_map(|m| m.error.clone()),
        ..last
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median_of(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_of(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median_of(vec![]), None);
        let runs = [
            Measurement {
                rib_s: Some(1.0),
                ..Measurement::default()
            },
            Measurement {
                rib_s: Some(3.0),
                error: Some("x".into()),
                ..Measurement::default()
            },
            Measurement::default(),
        ];
        let m = median(&runs);
        assert_eq!(m.rib_s, Some(2.0));
        assert_eq!(m.error.as_deref(), Some("x"));
    }

    #[test]
    fn lab_networks_are_slash_24() {
        assert_eq!(net(plan::DUT_FEED).unwrap().to_string(), "192.0.2.10/24");
    }
}
