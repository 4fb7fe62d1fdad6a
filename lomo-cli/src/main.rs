//! `lomob`: the command line over the lomob engine (the `lomob` library).
//!
//! Exit codes: 0 all good (also when stdout is closed early, as by `head`),
//! 1 the work was done but found problems (e.g. unreadable files), 2 error.
#![forbid(unsafe_code)]

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not the system's malloc: it gives back what a backup frees
/// between images (glibc kept ~130 MB of a million-file backup's peak in
/// its arenas; see benches/million-figures.sh).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = commands::Cli::parse();
    init_tracing(args.global.verbose, args.global.quiet);
    match commands::run(args) {
        Ok(commands::Outcome::Clean) => ExitCode::SUCCESS,
        Ok(commands::Outcome::Problems) => ExitCode::from(1),
        Err(e) if cli::output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lomob: error: {}", cli::output::error_line(&e));
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
