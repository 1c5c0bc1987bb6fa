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

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// The understudy admin CLI: ask a running bgpd about its neighbours and routes, change
/// originated routes, reset or stop sessions; or decode BGP messages offline.
///
/// Every subcommand but `decode` talks to bgpd's admin API (gRPC) at --admin, which is
/// bgpd's `admin_address` (default 127.0.0.1:50051). Output is a human table; --json gives
/// one JSON document, or JSON lines for `rib` and `watch`. Errors are one line on stderr
/// and a non-zero exit status.
#[derive(Debug, Parser)]
#[command(
    name = "understudy",
    version,
    after_help = "Examples:\n  understudy neighbors\n  understudy neighbor 192.0.2.2\n  \
                  understudy rib --in 192.0.2.2 203.0.113.0/24\n  \
                  understudy route add 198.51.100.0/24\n  \
                  understudy route add 2001:db8:1::/48 --next-hop 2001:db8::1\n  \
                  understudy reset 192.0.2.2 --soft in\n  \
                  understudy --json rib | jq .prefix\n  \
                  understudy decode --hex ffffffffffffffffffffffffffffffff001304\n\n\
                  Exit status: 0 success; 1 a failure at run time (the daemon unreachable, a \
                  request refused in the daemon's current state, an unreadable file); 2 bad \
                  usage or bad input (an unknown flag, a malformed address, prefix or hex, a \
                  prefix or next hop bgpd refuses, a `reload` of a configuration file with \
                  errors: bgpd keeps its old configuration); 3 no such neighbour, or a \
                  `route del` of a prefix not originated here; 141 when the reader of the \
                  output goes away."
)]
struct Cli {
    /// The bgpd admin API address, HOST:PORT (`[IPV6]:PORT`): bgpd's admin_address. The
    /// port is required (bgpd's default is 50051); a host name must resolve.
    #[arg(
        long,
        global = true,
        env = "UNDERSTUDY_ADMIN",
        default_value = client::DEFAULT_ADMIN,
        value_name = "HOST:PORT"
    )]
    admin: String,
    /// Machine-readable output: one JSON document (JSON lines for `rib` and `watch`).
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    tls: client::TlsArgs,
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
    /// `--json` prints JSON lines: one object per route, whose `neighbor` is null for a
    /// route originated here (the table says `local`) and `next_hop` null for next hop self
    /// (bgpd's own address on each session; the table says `self`).
    Rib(admin::RibArgs),
    /// Add or delete an originated route.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Reset a neighbour: hard (default: close and reopen the session) or soft, which keeps
    /// the session (in: ask for its routes again with ROUTE-REFRESH; out: send ours again).
    /// A soft reset needs the session Established.
    Reset {
        /// The neighbour's address.
        address: IpAddr,
        /// Soft reset instead of closing the session.
        #[arg(long)]
        soft: Option<admin::Soft>,
    },
    /// Start a neighbour's session (RFC 4271 ManualStart): bgpd connects, or waits for the
    /// neighbour when it is passive. Undoes `disable`.
    Enable {
        /// The neighbour's address.
        address: IpAddr,
    },
    /// Stop a neighbour's session (RFC 4271 ManualStop): bgpd sends a Cease NOTIFICATION
    /// (Administrative Shutdown, RFC 4486) and keeps the session down until `enable`.
    Disable {
        /// The neighbour's address.
        address: IpAddr,
        /// A text for the neighbour's operator, sent in the Cease NOTIFICATION as its
        /// Shutdown Communication (RFC 8203, RFC 9003: UTF-8, at most 255 octets); routers
        /// log it.
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Print events as they happen, until interrupted: session state changes, sessions
    /// Established or down (with the reason), NOTIFICATIONs, End-of-RIB, route refresh,
    /// neighbours added or removed, and RIB notices (no policy under RFC 8212, a route not
    /// advertised, a kernel FIB refusal). Route changes one by one are not streamed: `rib`
    /// shows the tables.
    Watch,
    /// Re-read the daemon's configuration file (as SIGHUP does).
    Reload,
    /// Non-stop routing: this node's HA role, its standbys (sync state, lag, digests,
    /// write-ahead latency) and whether each session is protected. `--json`: a follower's
    /// `primary`, `connected` and `synchronised` are null on a primary or standalone node,
    /// which follows nobody; a primary's standbys are in `standbys`.
    Ha,
    /// Planned switchover, run on the primary: hands every session to a synchronised
    /// standby with no loss (the neighbours see nothing), then this node follows it as a
    /// standby. Refused, with nothing changed, when this node is not the primary or no
    /// standby is synchronised. Failback: run it again on the new primary.
    Switchover {
        /// The standby to hand over to ([ha] node_id); default: the highest priority, then
        /// the lowest node_id, among the synchronised standbys.
        #[arg(long, value_name = "NODE_ID")]
        to: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum RouteCommand {
    /// Originate a prefix (ORIGIN IGP, next hop self unless given).
    Add(admin::RouteAddArgs),
    /// Stop originating a prefix.
    Del {
        /// The prefix as it was added, e.g. 203.0.113.0/24.
        prefix: String,
    },
}

/// The command line: [`Cli`], with `decode`'s help leaving out the global flags of the
/// admin API (--admin, --json, --tls-*), which `decode` accepts but does not use (it needs
/// no daemon and always prints JSON).
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // Built first, so the global flags have been copied into every subcommand.
    cmd.build();
    cmd.mut_subcommand("decode", |sc| {
        sc.mut_args(|a| if a.is_global_set() { a.hide(true) } else { a })
    })
}

fn main() -> ExitCode {
    // `understudy ha | head -3`: a reader that goes away ends us quietly (exit status 141,
    // as a shell reports a command ended by SIGPIPE) instead of `println!` panicking on
    // EPIPE. SIGPIPE itself stays ignored (Rust's default): a daemon that closes the admin
    // connection (a TLS server refusing plain gRPC) must give an error line, not kill us.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let parsed = command().try_get_matches().and_then(|m| {
        // Where the admin address came from, for an error about it.
        let from = match m.value_source("admin") {
            Some(clap::parser::ValueSource::EnvVariable) => "UNDERSTUDY_ADMIN",
            _ => "--admin",
        };
        Cli::from_arg_matches(&m).map(|cli| (cli, from))
    });
    let (cli, admin_from) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                // No subcommand: the help, on stderr, then the error line every failure
                // ends with, and a usage failure (a script that forgot the subcommand must
                // not see success).
                let _ = e.print();
                eprintln!("{NO_COMMAND}");
                return ExitCode::from(EXIT_BAD_INPUT);
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
                "understudy: error: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(EXIT_BAD_INPUT);
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
        Command::Ha => admin::Request::Ha,
        Command::Switchover { to } => admin::Request::Switchover(to),
    };
    finish(admin::run(
        &cli.admin, admin_from, &cli.tls, cli.json, request,
    ))
}

/// Input refused after the command line was parsed: a prefix or address bgpd refuses,
/// hex that is no message. Exit status 2, as clap gives for a malformed argument; every
/// other failure (the daemon unreachable or refusing in its current state, a file that
/// cannot be read) exits 1.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The last line of `understudy` run without a command (after the help).
const NO_COMMAND: &str = "understudy: error: no command given: name one of the commands \
                          above, e.g. `understudy neighbors` (see --help)";

/// Exit status of bad usage or bad input (as clap's).
const EXIT_BAD_INPUT: u8 = 2;

/// What the command names is not in the daemon: no such neighbour (`neighbor`, `reset`,
/// `enable`, `disable`, `rib --in/--out`), a route not originated here (`route del`).
/// Exit status 3.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// Exit status of [`NotFound`].
const EXIT_NOT_FOUND: u8 = 3;

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("understudy: error: {e:#}");
            if e.chain().any(|c| c.is::<BadInput>()) {
                ExitCode::from(EXIT_BAD_INPUT)
            } else if e.chain().any(|c| c.is::<NotFound>()) {
                ExitCode::from(EXIT_NOT_FOUND)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
