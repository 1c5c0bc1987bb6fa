//! `understudy`: the admin CLI of understudy.
//!
//! Subcommands live in their own modules; `decode` needs no daemon.

mod decode;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The understudy admin CLI.
#[derive(Debug, Parser)]
#[command(name = "understudy", version, about = "understudy admin CLI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode BGP messages from hex, an MRT file or a packet capture, one JSON object per
    /// message (no daemon needed).
    Decode(decode::DecodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("understudy: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
