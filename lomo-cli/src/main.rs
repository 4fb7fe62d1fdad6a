//! `lomob`: the command-line front end of the lomob workspace.
//!
//! Exit codes: 0 all good (also when stdout is closed early, as by `head`),
//! 1 the work was done but found problems (e.g. unreadable files), 2 error.
#![forbid(unsafe_code)]

mod alerts;
mod commands;
mod config;
mod fsutil;
mod output;
mod pipeline;
mod progress;
mod secrets;
mod sites;
mod units;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    init_tracing(cli.global.verbose, cli.global.quiet);
    match commands::run(cli) {
        Ok(commands::Outcome::Clean) => ExitCode::SUCCESS,
        Ok(commands::Outcome::Problems) => ExitCode::from(1),
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lomob: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr; `LOMOB_LOG` (an `EnvFilter` string) beats `-v`/`-q`.
fn init_tracing(verbose: u8, quiet: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("LOMOB_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
