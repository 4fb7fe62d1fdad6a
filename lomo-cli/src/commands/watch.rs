//! `lomob watch [DIR...]`: the daemon (see [`lomob::Context::watch`]).
//! SIGTERM or Ctrl-C stops it between steps, leaving resumable state.
//! Foreground, logs on stderr: systemd-friendly (see
//! contrib/lomob-watch.service).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use lomob::units::{parse_duration, parse_size};
use lomob::{Round, WatchOptions};

use super::{Ctx, Open, Outcome};
use crate::cli::output::Out;

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Folders to watch [default: the config's roots, else the catalog's]
    #[arg(value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Quiet time after the last change before new files are staged (e.g. 30s, 1m, 1h)
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    stage_delay: Duration,
    /// Unarchived bytes that make an archive image
    #[arg(long, value_name = "SIZE", default_value = "5G", value_parser = parse_size)]
    pack_size: u64,
}

/// A flag set by SIGTERM or Ctrl-C.
fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        });
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

pub(crate) fn run(ctx: &Ctx, args: &WatchArgs) -> Result<Outcome> {
    let mut engine = ctx.engine(Open::BACKUP)?;
    let mut opts = WatchOptions::default();
    opts.roots.clone_from(&args.dirs);
    opts.stage_delay = args.stage_delay;
    opts.pack_size = args.pack_size;
    let stop = stop_on_signals();
    let json = ctx.global.json;
    engine.watch(&opts, &stop, |round| {
        let mut out = Out::new(json);
        let shown = match round {
            Round::Backup(r) => super::backup::render(&mut out, r),
            Round::Check(r) => super::check::render(&mut out, r),
            _ => Ok(()),
        };
        let _ = shown.and_then(|()| out.flush());
    })?;
    Ok(Outcome::Clean)
}
