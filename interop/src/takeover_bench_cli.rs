//! The `interop takeover-bench` command line: options to
//! [`interop::bench::takeover::TakeoverBenchOptions`], progress on stderr, the table (or
//! `--json`) on stdout. understudy's `bgpd` and `understudy` are taken from `$US_BIN_DIR`,
//! else from beside this binary (`target/release/`), else `PATH`.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use interop::bench::takeover::{self, TakeoverBenchOptions};

/// `interop takeover-bench` options.
#[derive(Debug, Args)]
pub struct TakeoverBenchArgs {
    /// Neighbour sessions per row, comma-separated (the feeder, FRR from 2 on, keepalive
    /// peers for the rest; at most 200).
    #[arg(long, default_value = "1,10,100", value_delimiter = ',')]
    sessions: Vec<usize>,
    /// Generated IPv4 prefixes in the table (Internet-like, as `interop bench`).
    #[arg(long, default_value_t = 1_000_000)]
    routes: usize,
    /// Start the standby with the primary, following the table's ingest on the mirror
    /// (default: once the primary holds the table, a late standby).
    #[arg(long)]
    early_standby: bool,
    /// Seconds to watch the sessions after the failure (FRR's Hold Time is 9 s).
    #[arg(long, default_value_t = 10.0)]
    watch: f64,
    /// Skip the Graceful Restart baseline (FRR re-learning the table).
    #[arg(long)]
    no_gr: bool,
    /// Seconds each wait may take (sessions, table, lockstep, FRR re-learning).
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// Namespace project prefix.
    #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX)]
    prefix: String,
    /// Print the result as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).with_context(|| format!("{what} {v}"))
}

/// Runs `interop takeover-bench`.
pub fn run(a: TakeoverBenchArgs) -> anyhow::Result<()> {
    let opts = TakeoverBenchOptions {
        sessions: a.sessions,
        routes: a.routes,
        ns_prefix: a.prefix,
        timeout: secs(a.timeout, "--timeout")?,
        late_standby: !a.early_standby,
        watch: secs(a.watch, "--watch")?,
        graceful_restart: !a.no_gr,
    };
    let result = takeover::run(&opts, &mut |line| eprintln!("{line}"))?;
    if a.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print!("{}", takeover::report::render(&result));
    }
    Ok(())
}
