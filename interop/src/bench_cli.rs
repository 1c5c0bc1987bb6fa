//! The `interop bench` command line: options to [`interop::bench::BenchOptions`], progress
//! on stderr, the table (or `--json`) on stdout. understudy's `bgpd` and `understudy` are
//! taken from `$US_BIN_DIR`, else from beside this binary (`target/release/`), else `PATH`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use interop::bench::dut::DaemonKind;
use interop::bench::{self, BenchOptions, Mode};

/// `interop bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Generated IPv4 prefixes (Internet-like, 300,000 attribute sets per million); 0 for
    /// none. Default 1,000,000 (100,000 with --quick).
    #[arg(long)]
    prefixes: Option<usize>,
    /// An MRT RIB dump (TABLE_DUMP / TABLE_DUMP_V2) to feed as well. Default: the largest
    /// RIB dump under shared/data (none with --quick).
    #[arg(long)]
    mrt: Option<PathBuf>,
    /// Do not feed an MRT dump.
    #[arg(long, conflicts_with = "mrt")]
    no_mrt: bool,
    /// Daemons, comma-separated.
    #[arg(long, default_value = "bgpd,bird,frr,gobgp", value_delimiter = ',')]
    daemons: Vec<DaemonKind>,
    /// Runs per measurement (at least 1); the table shows medians.
    #[arg(long, default_value = "1", value_parser = crate::cli_values::at_least_one)]
    runs: usize,
    /// Quick look: 100,000 prefixes, free mode only, no MRT dump (unless given).
    #[arg(long)]
    quick: bool,
    /// Modes, comma-separated: free, pinned (one core), kernel (routes into the kernel FIB).
    #[arg(long, value_delimiter = ',')]
    modes: Vec<String>,
    /// Seconds one run may take from Established, above 0 (default 60 + 1 per 5,000
    /// prefixes).
    #[arg(long, value_name = "SECS", value_parser = crate::cli_values::timeout)]
    timeout: Option<Duration>,
    /// Namespace project prefix.
    #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX, value_parser = crate::cli_values::project_prefix)]
    prefix: String,
    /// Print the result as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

fn mode(s: &str) -> anyhow::Result<Mode> {
    Ok(match s.trim() {
        "free" => Mode::FREE,
        "pinned" | "1core" => Mode::PINNED,
        "kernel" => Mode::KERNEL,
        other => anyhow::bail!("unknown mode {other:?} (free, pinned, kernel)"),
    })
}

/// The default RIB dump: the largest under shared/data beside the repository.
fn default_dump() -> Option<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mrt");
    [here, PathBuf::from("/work/shared/data/mrt")]
        .iter()
        .find_map(|d| bench::feed::largest_rib_dump(d))
}

/// Runs `interop bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let modes = if !a.modes.is_empty() {
        a.modes
            .iter()
            .map(|m| mode(m))
            .collect::<anyhow::Result<_>>()?
    } else if a.quick {
        vec![Mode::FREE]
    } else {
        vec![Mode::FREE, Mode::PINNED, Mode::KERNEL]
    };
    let mrt = if a.no_mrt {
        None
    } else if a.mrt.is_some() {
        a.mrt
    } else if a.quick {
        None
    } else {
        Some(default_dump().context("no RIB dump under shared/data/mrt; give --mrt or --no-mrt")?)
    };
    let prefixes = a
        .prefixes
        .unwrap_or(if a.quick { 100_000 } else { 1_000_000 });
    anyhow::ensure!(
        prefixes > 0 || mrt.is_some(),
        "nothing to feed: --prefixes 0 and no MRT dump (give --prefixes N or --mrt FILE)"
    );
    let opts = BenchOptions {
        prefixes,
        mrt,
        daemons: a.daemons,
        modes,
        runs: a.runs,
        ns_prefix: a.prefix,
        timeout: a.timeout,
    };
    let result = bench::run(&opts, &mut |line| eprintln!("{line}"))?;
    if a.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print!("{}", bench::report::render(&result));
    }
    Ok(())
}
