//! `interop`: the understudy lab's command line.
//!
//! - `interop sweep [--prefix P] [--all]`: remove stale lab namespaces under a prefix.
//! - `interop lab up FILE` / `interop lab down FILE`: run a containerlab topology in
//!   network namespaces and leave it running, or remove it.
//! - `interop demo [--json] [--observe SECS] [--mrt FILE] [--mrt-limit N]`: the demo lab
//!   (FRR and BIRD fed a real table, the understudy primary and standby; the primary dies
//!   and the standby takes over, or with `--observe` nothing fails, or with `--switchover`
//!   `understudy switchover` hands the sessions to the standby and back), always cleaned up
//!   (also on Ctrl-C).
//! - `interop bench [--prefixes N] [--mrt FILE] [--daemons LIST] [--runs N] [--quick] [--json]`:
//!   bgpd, BIRD, FRR and GoBGP taking a full table, one table with the ratios.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use interop::demo::{self, DemoOptions, Observe};
use interop::failover::Failover;
use interop::topology::instantiate;
use interop::topology::Topology;

mod bench_cli;
mod cli_values;
mod takeover_bench_cli;

#[derive(Debug, Parser)]
#[command(
    name = "interop",
    about = "understudy's lab: namespaces, containerlab topologies, real BGP neighbours, the demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Remove stale lab namespaces (whose creating process is gone) under a prefix.
    Sweep {
        /// Namespace project prefix.
        #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX, value_parser = crate::cli_values::project_prefix)]
        prefix: String,
        /// Also remove labs whose creator still runs.
        #[arg(long)]
        all: bool,
    },
    /// Run the session cases (shared/cases/sessions.json) with the raw peer against
    /// understudy's bgpd (or FRR, --against frr) and print what it did next to the RFC
    /// outcome, PASS or FAIL per case and a summary. Exits 1 when a case fails or an id is
    /// not in the file.
    Cases {
        /// The case file (default: shared/cases/sessions.json beside the repository).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Only these case ids.
        ids: Vec<String>,
        /// Namespace project prefix.
        #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX, value_parser = crate::cli_values::project_prefix)]
        prefix: String,
        /// The speaker under test: understudy's bgpd (found beside this binary, or
        /// $US_BIN_DIR) or FRR.
        #[arg(long, value_enum, default_value = "understudy")]
        against: CasesAgainst,
    },
    /// Bring a containerlab topology up or down.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
    /// The demo: FRR and BIRD neighbours of the understudy speaker, fed a real routing table;
    /// their sessions, prefixes and a ping stream before and after the scenario.
    Demo {
        /// The containerlab topology [default: topologies/demo.clab.yml, or
        /// topologies/switchover.clab.yml with --switchover; looked up in ./interop/ (the
        /// root of a clone), ./, then the source tree interop was built from].
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Namespace project prefix.
        #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX, value_parser = crate::cli_values::project_prefix)]
        prefix: String,
        /// Instead of the failover, only watch the lab for this many seconds between the
        /// pictures (no failure).
        #[arg(long, value_name = "SECS", value_parser = cli_values::seconds)]
        observe: Option<Duration>,
        /// Instead of the failover, a planned switchover and failback: `understudy
        /// switchover` on the primary, then on the new primary once the old one follows in
        /// lockstep. With the default topology, topologies/switchover.clab.yml is used (both
        /// nodes have a mirror port there).
        #[arg(long, conflicts_with = "observe")]
        switchover: bool,
        /// Seconds to watch after the takeover (longer than the neighbours' hold time, 9 s).
        #[arg(long, value_name = "SECS", default_value = "12", value_parser = cli_values::seconds)]
        watch: Duration,
        /// The MRT RIB dump whose prefixes FRR and BIRD originate ("none": no table)
        /// [default: data/mrt/bgpdump/bview.20020722.2337.gz of the shared folder:
        /// $US_SHARED_DIR, else ../shared beside the repository, else /work/shared].
        #[arg(long, value_name = "FILE")]
        mrt: Option<String>,
        /// Feed only the first N prefixes of the dump (0, the default: the whole table,
        /// 112,988 prefixes of the default dump, half from each neighbour; about 1-2 minutes
        /// on a loaded 2-core machine). A slice such as 2000 gives a quicker run.
        #[arg(long, value_name = "N", default_value_t = 0)]
        mrt_limit: usize,
        /// The bgpd binary (default: next to this executable).
        #[arg(long)]
        bgpd: Option<PathBuf>,
        /// Seconds to wait for sessions and routes (above 0).
        #[arg(long, value_name = "SECS", default_value = "60", value_parser = cli_values::timeout)]
        timeout: Duration,
        /// Print the report on stderr and, on stdout, only one JSON object on one line.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark: a pre-encoded full table fed to bgpd, BIRD, FRR and GoBGP in turn.
    Bench(bench_cli::BenchArgs),
    /// Benchmark: the standby's takeover with 1, 10 and 100 sessions and a full table, the
    /// data-plane loss, and FRR re-learning the table after a Graceful Restart.
    TakeoverBench(takeover_bench_cli::TakeoverBenchArgs),
}

#[derive(Debug, Subcommand)]
enum LabAction {
    /// Create the namespaces, links and daemons of FILE and leave them running.
    Up {
        /// The containerlab topology file.
        file: PathBuf,
        /// Namespace project prefix.
        #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX, value_parser = crate::cli_values::project_prefix)]
        prefix: String,
        /// Do not start the neighbour daemons.
        #[arg(long)]
        no_daemons: bool,
    },
    /// Remove what `lab up FILE` created.
    Down {
        /// The containerlab topology file.
        file: PathBuf,
        /// Namespace project prefix.
        #[arg(long, default_value = interop::DEFAULT_PROJECT_PREFIX, value_parser = crate::cli_values::project_prefix)]
        prefix: String,
    },
}

/// The signal that stopped the run (SIGINT, SIGTERM or SIGHUP; 0 while none came).
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// Ctrl-C, SIGTERM and SIGHUP: every wait in the library gives up
/// ([`interop::poll::INTERRUPTED`]), the guards remove the lab, and the run exits with
/// 128 + the signal's number, as shells report a command a signal ended.
fn install_stop_handlers() -> anyhow::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the action only stores into two atomics, which is async-signal-safe; it
        // allocates nothing and takes no lock.
        unsafe {
            signal_hook_registry::register(signal, move || {
                let _ = STOPPED_BY.compare_exchange(0, signal, SeqCst, SeqCst);
                interop::poll::INTERRUPTED.store(true, SeqCst);
            })
        }
        .with_context(|| format!("installing the handler of signal {signal}"))?;
    }
    Ok(())
}

/// The exit status of a run a signal stopped: 128 + its number (130 for Ctrl-C, 143 for
/// SIGTERM, 129 for SIGHUP).
fn stopped_exit(signal: i32) -> ExitCode {
    u8::try_from(128 + signal).map_or(ExitCode::FAILURE, ExitCode::from)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop: {e:#}");
            match STOPPED_BY.load(SeqCst) {
                // Interrupted (the lab is cleaned up by then).
                0 => ExitCode::FAILURE,
                signal => stopped_exit(signal),
            }
        }
    }
}

/// The speaker `interop cases` runs the cases against.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CasesAgainst {
    /// understudy's bgpd.
    Understudy,
    /// FRR bgpd (without zebra).
    Frr,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    install_stop_handlers()?;
    match cli.command {
        Command::Sweep { prefix, all } => {
            let removed = interop::sweep::sweep(&prefix, all)?;
            for n in &removed {
                println!("removed {n}");
            }
            println!("{} namespace(s) removed under {prefix}", removed.len());
        }
        Command::Cases {
            file,
            ids,
            prefix,
            against,
        } => {
            let path = match file {
                Some(p) => p,
                None => interop::cases::default_path()
                    .context("shared/cases/sessions.json not found; give --file")?,
            };
            let cases = interop::cases::CaseFile::load(&path)?;
            let selected = interop::cases::verdict::select(&cases, &ids)?;
            let expect = interop::cases::verdict::expectations();
            let run = match against {
                CasesAgainst::Understudy => interop::cases::run_against_bgpd,
                CasesAgainst::Frr => interop::cases::run_against_frr,
            };
            let mut failed = Vec::new();
            for case in &selected {
                let sent: Vec<Vec<u8>> = case
                    .messages
                    .iter()
                    .filter_map(|m| interop::rawpeer::from_hex(m).ok())
                    .collect();
                let (seen, verdict) = match run(&cases, case, &prefix) {
                    Ok(o) => {
                        let verdict = match expect.get(case.id.as_str()) {
                            Some(e) => interop::cases::verdict::check(&case.id, &sent, e, &o),
                            None => Err(format!("{}: no RFC outcome known for it", case.id)),
                        };
                        (o.summary(), verdict)
                    }
                    Err(interop::LabError::Interrupted) => anyhow::bail!("interrupted"),
                    Err(e) => (format!("error: {e}"), Err(format!("{}: {e}", case.id))),
                };
                println!(
                    "{:<6} {} {}\n       {:<7} {seen}\n       expect: {}",
                    case.id,
                    if verdict.is_ok() { "PASS" } else { "FAIL" },
                    case.title,
                    format!("{against:?}:"),
                    case.expect
                );
                if let Err(why) = verdict {
                    println!("       why:    {why}");
                    failed.push(case.id.clone());
                }
            }
            println!(
                "cases: {} passed, {} failed",
                selected.len() - failed.len(),
                failed.len()
            );
            if !failed.is_empty() {
                anyhow::bail!(
                    "{} of {} cases differ from the RFC outcome: {}",
                    failed.len(),
                    selected.len(),
                    failed.join(" ")
                );
            }
        }
        Command::Lab {
            action:
                LabAction::Up {
                    file,
                    prefix,
                    no_daemons,
                },
        } => {
            let t = Topology::from_file(&file)?;
            let state = instantiate::state_file(&prefix, &t.name);
            if state.exists() {
                anyhow::bail!(
                    "lab {} is already up under {prefix} ({}); `interop lab down {}` first",
                    t.name,
                    state.display(),
                    file.display()
                );
            }
            let rt = instantiate::up(&t, &prefix, !no_daemons)?;
            let daemons: Vec<String> = rt
                .neighbors
                .iter()
                .map(|(n, d)| format!("{n} ({})", d.kind()))
                .collect();
            let state = rt.persist(&prefix)?;
            println!("lab {} ({}) is up", state.topology, state.lab_id);
            for ns in &state.namespaces {
                println!("  ip netns exec {ns} ...");
            }
            if !daemons.is_empty() {
                println!(
                    "daemons: {} (files and logs in {})",
                    daemons.join(", "),
                    state.workdir.display()
                );
            }
            // The prefix the lab was brought up under is needed to find it again.
            let with_prefix = if prefix == interop::DEFAULT_PROJECT_PREFIX {
                String::new()
            } else {
                format!("--prefix {prefix} ")
            };
            println!(
                "remove it with: interop lab down {with_prefix}{}",
                file.display()
            );
        }
        Command::Lab {
            action: LabAction::Down { file, prefix },
        } => {
            let t = Topology::from_file(&file)?;
            let state = instantiate::down(&prefix, &t.name).with_context(|| {
                format!(
                    "no lab {} is up under {prefix} (or its state is unreadable)",
                    t.name
                )
            })?;
            println!(
                "lab {} ({}) removed: {} namespaces",
                state.topology,
                state.lab_id,
                state.namespaces.len()
            );
        }
        Command::Demo {
            topology,
            prefix,
            observe,
            switchover,
            watch,
            mrt,
            mrt_limit,
            bgpd,
            timeout,
            json,
        } => {
            let topology = match topology {
                Some(t) => t,
                None => {
                    let name = if switchover {
                        "switchover.clab.yml"
                    } else {
                        "demo.clab.yml"
                    };
                    demo::find_topology(name, Path::new("."))?
                }
            };
            let opts = DemoOptions {
                topology,
                prefix,
                timeout,
                mrt: match mrt.as_deref() {
                    Some("none") => None,
                    Some(file) => Some(PathBuf::from(file)),
                    None => Some(interop::feed::default_mrt(
                        std::env::var_os("US_SHARED_DIR").as_deref().map(Path::new),
                        Path::new("."),
                    )?),
                },
                mrt_limit: (mrt_limit > 0).then_some(mrt_limit),
                bgpd,
                compare_routes: true,
            };
            let mut observe_scenario = Observe(observe.unwrap_or_default());
            let mut failover_scenario = Failover { watch };
            let mut switchover_scenario = interop::switchover::Switchover {
                failback: true,
                watch,
                steps: Vec::new(),
            };
            let scenario: &mut dyn demo::Scenario = if observe.is_some() {
                &mut observe_scenario
            } else if switchover {
                &mut switchover_scenario
            } else {
                &mut failover_scenario
            };
            let mut progress = |line: &str| {
                if json {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            };
            let report = demo::run(&opts, scenario, &mut progress)?;
            let (out, err) = demo::final_output(&report, json);
            eprint!("{err}");
            print!("{out}");
        }
        Command::Bench(args) => bench_cli::run(args)?,
        Command::TakeoverBench(args) => takeover_bench_cli::run(args)?,
    }
    Ok(())
}
