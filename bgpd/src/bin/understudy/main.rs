//! `understudy`: the admin CLI of understudy.
//!
//! Subcommands live in their own modules; `decode` needs no daemon, the others talk to
//! bgpd's admin gRPC API (proto/admin.proto) at `--admin` (default `$UNDERSTUDY_ADMIN`,
//! else 127.0.0.1:50051). Output: human tables, or with `--json` one JSON document per
//! answer; `rib --json` and `watch --json` print JSON lines (one object per route or event).

mod admin;
mod client;
mod decode;

use std::net::IpAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The understudy admin CLI.
#[derive(Debug, Parser)]
#[command(name = "understudy", version, about = "understudy admin CLI")]
struct Cli {
    /// The bgpd admin API address (host:port).
    #[arg(long, global = true, env = "UNDERSTUDY_ADMIN", default_value = client::DEFAULT_ADMIN)]
    admin: String,
    /// Machine-readable output: one JSON document (JSON lines for `rib` and `watch`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode BGP messages from hex, an MRT file or a packet capture, one JSON object per
    /// message (no daemon needed).
    Decode(decode::DecodeArgs),
    /// Version, role, router id and table sizes of the daemon.
    Info,
    /// Every configured neighbour with its state and counters.
    Neighbors,
    /// One neighbour in detail (negotiated capabilities, counters, last error).
    Neighbor {
        /// The neighbour's address.
        address: IpAddr,
    },
    /// Routes of the Loc-RIB, or of a neighbour's Adj-RIB-In (--in) or Adj-RIB-Out (--out).
    /// `--json` prints JSON lines: one object per route.
    Rib(admin::RibArgs),
    /// Add or delete an originated route.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Reset a neighbour: hard (default) or soft in (ROUTE-REFRESH) or soft out (resend).
    Reset {
        /// The neighbour's address.
        address: IpAddr,
        /// Soft reset instead of closing the session.
        #[arg(long)]
        soft: Option<admin::Soft>,
    },
    /// ManualStart of a neighbour's session.
    Enable {
        /// The neighbour's address.
        address: IpAddr,
    },
    /// ManualStop of a neighbour's session (Cease / Administrative Shutdown).
    Disable {
        /// The neighbour's address.
        address: IpAddr,
        /// Shutdown communication (RFC 9003).
        #[arg(long)]
        message: Option<String>,
    },
    /// Print session and RIB events as they happen (until interrupted).
    Watch,
    /// Re-read the daemon's configuration file (as SIGHUP does).
    Reload,
}

#[derive(Debug, Subcommand)]
enum RouteCommand {
    /// Originate a prefix (ORIGIN IGP, next hop self unless given).
    Add(admin::RouteAddArgs),
    /// Stop originating a prefix.
    Del {
        /// The prefix, e.g. 203.0.113.0/24.
        prefix: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line, as for every other error: clap's first line names the problem.
            let text = e.to_string();
            // clap's first paragraph (up to the blank line before `Usage:`) joined into one
            // line: it names the problem and the argument concerned.
            let lines: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let joined = lines.join(" ");
            let first = if joined.is_empty() {
                "invalid arguments"
            } else {
                joined.as_str()
            };
            eprintln!(
                "understudy: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let request = match cli.command {
        Command::Decode(args) => {
            return finish(decode::run(&args));
        }
        Command::Info => admin::Request::Info,
        Command::Neighbors => admin::Request::Neighbors,
        Command::Neighbor { address } => admin::Request::Neighbor(address),
        Command::Rib(args) => admin::Request::Rib(args),
        Command::Route(RouteCommand::Add(args)) => admin::Request::RouteAdd(args),
        Command::Route(RouteCommand::Del { prefix }) => admin::Request::RouteDel(prefix),
        Command::Reset { address, soft } => admin::Request::Reset(address, soft),
        Command::Enable { address } => admin::Request::Enable(address),
        Command::Disable { address, message } => admin::Request::Disable(address, message),
        Command::Watch => admin::Request::Watch,
        Command::Reload => admin::Request::Reload,
    };
    finish(admin::run(&cli.admin, cli.json, request))
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("understudy: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
