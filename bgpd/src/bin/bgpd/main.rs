//! `bgpd`: the understudy BGP speaker daemon.
//!
//! A thin tokio driver around the sans-IO [`bgpd::speaker::Speaker`]: it owns the sockets,
//! the clock and the kernel FIB, feeds the core its inputs and carries out its outputs
//! (DESIGN.md section 2). One task owns the speaker and receives everything through a
//! channel; connection readers and writers, the admin API and the FIB writer are tasks that
//! talk to it by messages.

mod admin;
mod core;
mod fibbridge;
mod fibconverge;
mod ha_primary;
mod ha_standby;
mod ha_status;
mod metrics;
mod net;
mod switchover;
mod takeover;
mod view;

use anyhow::{bail, Context};
use bgpd::config::Config;
use clap::Parser;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// understudy BGP speaker daemon.
///
/// Runs the BGP sessions of the TOML configuration FILE, serves the admin API (gRPC, used
/// by the `understudy` CLI and grpcurl), and optionally installs best paths into the
/// kernel FIB (`[fib] enabled = true`). SIGHUP re-reads the configuration without resetting
/// unchanged sessions; SIGTERM/SIGINT close every session with a Cease NOTIFICATION.
/// Log levels come from RUST_LOG (default `info`).
#[derive(Debug, Parser)]
#[command(
    name = "bgpd",
    version,
    override_usage = "bgpd --config FILE [OPTIONS]\n       bgpd --check-config FILE",
    after_help = "Examples:\n  bgpd --check-config /etc/understudy/bgpd.toml\n  \
                  bgpd --config /etc/understudy/bgpd.toml\n  \
                  RUST_LOG=debug bgpd --config bgpd.toml --metrics 127.0.0.1:9179\n\n\
                  bgpd/examples/bgpd.toml in the source shows every configuration field. An \
                  eBGP neighbour without an import and an export policy exchanges no routes \
                  (RFC 8212); --check-config warns about it. `understudy` (the admin CLI) \
                  talks to the running daemon."
)]
struct Args {
    /// The configuration file (TOML).
    #[arg(
        short,
        long,
        value_name = "FILE",
        required_unless_present = "check_config"
    )]
    config: Option<PathBuf>,
    /// Validate FILE and exit: 0 when it is valid, 1 when it is not, with one line per error
    /// and per warning naming the field, its value and its line (every error the checks
    /// find; a TOML syntax error stops the reading, so it comes alone). Starts nothing.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,
    /// Log one JSON object per line instead of text.
    #[arg(long)]
    log_json: bool,
    /// Serve the admin API on this address instead of the configuration's `admin_address`.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Serve Prometheus metrics over HTTP on this address (`/metrics`), overriding the
    /// configuration's `metrics_address`; off when neither is set.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Seed of the sessions' jitter RNG (default: from the router id, so a standby started
    /// with the same configuration draws the same jitter).
    #[arg(long)]
    seed: Option<u64>,
}

/// Reads and validates a configuration file.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    load_config_with_warnings(path).map(|(c, _)| c)
}

/// Reads and validates a configuration file; also returns its warnings in line order, one
/// line each (`FILE: FIELD = VALUE (line N): ...`). Errors: a [`ConfigFileErrors`] (with
/// the warnings too) when the file has errors.
pub fn load_config_with_warnings(path: &Path) -> anyhow::Result<(Config, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration {}", path.display()))?;
    let check = Config::check(&text);
    let file = path.display();
    let warnings = check
        .warnings
        .iter()
        .map(|w| (w.line, format!("{file}: {}", w.located())));
    match check.config {
        Some(config) => Ok((config, warnings.map(|(_, w)| w).collect())),
        None => {
            // One list in line order, errors and warnings alike (those of no line first).
            let mut findings: Vec<(Option<usize>, Finding)> = check
                .errors
                .iter()
                .map(|e| (e.line(), Finding::Error(format!("{file}: {e}"))))
                .chain(warnings.map(|(l, w)| (l, Finding::Warning(w))))
                .collect();
            findings.sort_by_key(|(line, _)| *line);
            Err(ConfigFileErrors {
                path: file.to_string(),
                findings: findings.into_iter().map(|(_, f)| f).collect(),
            }
            .into())
        }
    }
}

/// One line about a configuration file: `FILE: FIELD = VALUE (line N): message`.
#[derive(Debug)]
pub enum Finding {
    /// An error: the file is refused.
    Error(String),
    /// A warning: the file would run, but probably not as meant.
    Warning(String),
}

/// The errors of a configuration file (at least one) and its warnings, in line order, each
/// a line `FILE: FIELD = VALUE (line N): message`; `--check-config` and a start on the file
/// show them all. As one line (a reload's answer): the first error, and how many more
/// there are.
#[derive(Debug)]
pub struct ConfigFileErrors {
    /// The file as given.
    pub path: String,
    /// Errors and warnings, in line order.
    pub findings: Vec<Finding>,
}

impl ConfigFileErrors {
    /// The error lines.
    fn errors(&self) -> Vec<&str> {
        self.findings
            .iter()
            .filter_map(|f| match f {
                Finding::Error(e) => Some(e.as_str()),
                Finding::Warning(_) => None,
            })
            .collect()
    }
}

impl std::fmt::Display for ConfigFileErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errors = self.errors();
        f.write_str(errors.first().copied().unwrap_or_default())?;
        match errors.len() {
            0 | 1 => Ok(()),
            n => write!(
                f,
                " (and {} more error{}: `bgpd --check-config {}` lists them all)",
                n - 1,
                if n == 2 { "" } else { "s" },
                self.path
            ),
        }
    }
}

impl std::error::Error for ConfigFileErrors {}

/// `e` as lines, each `error: ...` or `warning: ...`: each error and warning of a
/// configuration file on its own line, anything else on one line with its causes.
fn error_lines(e: &anyhow::Error) -> Vec<String> {
    match e.downcast_ref::<ConfigFileErrors>() {
        Some(c) => c
            .findings
            .iter()
            .map(|f| match f {
                Finding::Error(e) => format!("error: {e}"),
                Finding::Warning(w) => format!("warning: {w}"),
            })
            .collect(),
        None => vec![format!("error: {e:#}")],
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: a file, a pipe or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The command line, or the exit status after clap's help or version, or its error in one
/// line in the form of every other error (`bgpd: error: ...`), exit status 2.
fn parse_args() -> Result<Args, std::process::ExitCode> {
    use clap::error::ErrorKind;
    Args::try_parse().map_err(|e| {
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        // clap's first paragraph (up to the blank line before `Usage:`) in one line.
        let text = e.to_string();
        let lines: Vec<&str> = text
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        let joined = lines.join(" ");
        eprintln!(
            "bgpd: error: {} (usage: bgpd --config FILE, or bgpd --check-config FILE; see \
             --help)",
            joined.trim_start_matches("error: ")
        );
        std::process::ExitCode::from(2)
    })
}

/// Allocations from this size up get their own mapping, returned to the kernel when freed.
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// Gives the memory of large buffers back when they are freed. glibc raises its mmap
/// threshold each time a mapped buffer is freed (up to 32 MiB), after which the big
/// transient buffers of a full table (queues, pieces of FIB changes, hash tables that
/// grew) come from the heap and stay resident once freed. A fixed threshold keeps them
/// mapped: with the kernel FIB and a million routes this lowered the peak RSS by 7 % (one
/// measurement per setting: 423 -> 393 MiB, `GLIBC_TUNABLES=glibc.malloc.mmap_threshold`).
fn keep_large_buffers_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

fn main() -> std::process::ExitCode {
    keep_large_buffers_mapped();
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Some(path) = &args.check_config {
        return match load_config_with_warnings(path) {
            Ok((_, warnings)) => {
                for w in &warnings {
                    eprintln!("bgpd: warning: {w}");
                }
                println!("{}: configuration is valid", path.display());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                for line in error_lines(&e) {
                    eprintln!("bgpd: {line}");
                }
                std::process::ExitCode::FAILURE
            }
        };
    }
    init_logging(args.log_json);
    let json_log = args.log_json;
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line on stderr; a JSON log gets it as a record too (a text log would only
            // repeat the line, as it goes to stderr as well).
            for line in error_lines(&e) {
                if json_log {
                    match line.strip_prefix("warning: ") {
                        Some(w) => tracing::warn!("{w}"),
                        None => tracing::error!("{}", line.trim_start_matches("error: ")),
                    }
                }
                eprintln!("bgpd: {line}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let Some(path) = args.config.clone() else {
        bail!("--config FILE is required");
    };
    let (config, warnings) = load_config_with_warnings(&path)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let metrics = args.metrics.or(config.metrics_address);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(core::run(core::Options {
        config_path: path,
        config,
        admin: args.admin,
        metrics,
        seed: args.seed,
    }))
}
