//! The `interop takeover-bench` command line: options to
//! [`interop::bench::takeover::TakeoverBenchOptions`], progress on stderr, the table (or
//! `--json`) on stdout. understudy's `bgpd` and `understudy` are taken from `$US_BIN_DIR`,
//! else from beside this binary (`target/release/`), else `PATH`.

use std::time::Duration;

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
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = crate::cli_values::seconds)]
    watch: Duration,
    /// Skip the Graceful Restart baseline (FRR re-learning the table).
    #[arg(long)]
    no_gr: bool,
    /// Seconds each wait may take (sessions, table, lockstep, FRR re-learning), above 0.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = crate::cli_values::timeout)]
    timeout: Duration,
    /// Namespace project prefix.
    #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX, value_parser = crate::cli_values::project_prefix)]
    prefix: String,
    /// Print the result as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// Runs `interop takeover-bench`.
pub fn run(a: TakeoverBenchArgs) -> anyhow::Result<()> {
    let opts = TakeoverBenchOptions {
        sessions: a.sessions,
        routes: a.routes,
        ns_prefix: a.prefix,
        timeout: a.timeout,
        late_standby: !a.early_standby,
        watch: a.watch,
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
