//! `lomob watch [DIR...]`: the daemon. Watches the roots (inotify via the
//! notify crate), and once changes have settled for `--stage-delay` runs a
//! backup (a rescan that reads only what changed, packing when the pack size
//! is reached, staging, a catalog snapshot); a full reconciling backup runs
//! daily to catch missed events; the staging check runs daily and the
//! archive check monthly, their last runs read from the catalog so restarts
//! neither repeat nor skip them. SIGTERM or Ctrl-C stops it between steps,
//! leaving resumable state. Foreground, logs on stderr: systemd-friendly
//! (see contrib/lomob-watch.service).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use notify::{RecursiveMode, Watcher as _};

use super::{Ctx, Outcome, backup, check};
use crate::units::parse_size;

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Folders to watch [default: the config's roots]
    #[arg(value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Quiet time after the last change before new files are staged (e.g. 30s, 1m, 1h)
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    stage_delay: Duration,
    /// Unarchived bytes that make an archive image
    #[arg(long, value_name = "SIZE", default_value = "5G", value_parser = parse_size)]
    pack_size: u64,
}

/// `90s`, `5m`, `2h`, `1d`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (90s, 5m, 2h, 1d)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (s, m, h, d)")),
    };
    Ok(Duration::from_secs(secs))
}

const DAY: i64 = 86_400;

fn log(msg: &str) {
    eprintln!(
        "{} lomob watch: {msg}",
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
    );
}

/// Seconds since the last check of `kind` on any site (None: never).
fn since_check(ctx: &Ctx, kind: &str) -> Option<i64> {
    let catalog = ctx.existing_catalog().ok()?;
    let sites = crate::sites::configured_or_default(ctx, false).ok()?;
    sites
        .iter()
        .filter_map(|s| catalog.last_check(kind, &s.name).ok().flatten())
        .map(|c| lomo_catalog::unix_now() - c.finished_at)
        .min()
}

pub(crate) fn run(ctx: &Ctx, args: &WatchArgs) -> Result<Outcome> {
    let dirs = if args.dirs.is_empty() {
        ctx.config.roots.clone()
    } else {
        args.dirs.clone()
    };
    if dirs.is_empty() {
        bail!("no folder to watch: name one or add roots to the config (`lomob init DIR`)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
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
            stop.store(true, Ordering::SeqCst);
        });
    }
    // What lomob itself writes must not wake it up.
    let mut own: Vec<PathBuf> = Vec::new();
    let db = std::path::absolute(ctx.db_path())?;
    let db_name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for s in crate::sites::configured_or_default(ctx, false)? {
        if let Ok(url) = s.url.parse::<lomo_remote::SiteUrl>()
            && let lomo_remote::Location::Local { path } = url.location()
        {
            own.push(path.clone());
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |ev| {
        let _ = tx.send(ev);
    })
    .context("cannot watch for file changes")?;
    for d in &dirs {
        watcher
            .watch(d, RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {}", d.display()))?;
    }
    log(&format!(
        "watching {} folder(s); new files are staged {:?} after changes settle",
        dirs.len(),
        args.stage_delay
    ));
    let backup_args = backup::BackupArgs::new(dirs.clone(), args.pack_size);
    let run_backup = |why: &str| {
        log(&format!("backup ({why})"));
        match backup::run(ctx, &backup_args) {
            Ok(Outcome::Clean) => log("backup done"),
            Ok(Outcome::Problems) => log("backup done, with problems (see above)"),
            Err(e) => log(&format!("backup failed: {e:#}")),
        }
    };
    run_backup("start: catching up");
    let mut last_full = Instant::now();
    let mut last_change: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Ok(ev)) => {
                let ours = ev.paths.iter().all(|p| {
                    own.iter().any(|o| p.starts_with(o))
                        || p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(&db_name))
                });
                if !ours && !matches!(ev.kind, notify::EventKind::Access(_)) {
                    last_change = Some(Instant::now());
                }
            }
            Ok(Err(e)) => log(&format!(
                "watch error: {e}; the daily full backup catches up"
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if last_change.is_some_and(|t| t.elapsed() >= args.stage_delay) {
            last_change = None;
            run_backup("files changed");
        } else if last_full.elapsed() >= Duration::from_secs(DAY as u64) {
            last_full = Instant::now();
            run_backup("daily reconciling rescan");
        }
        for (kind, every, staging) in [("staging", DAY, true), ("archives", 30 * DAY, false)] {
            if since_check(ctx, kind).is_none_or(|s| s >= every) && !stop.load(Ordering::SeqCst) {
                log(&format!("{kind} check (scheduled)"));
                match check::run(ctx, &check::CheckArgs::scheduled(staging, !staging)) {
                    Ok(Outcome::Clean) => log(&format!("{kind} check: all good")),
                    Ok(Outcome::Problems) => {
                        log(&format!("{kind} check found differences (alerted)"));
                    }
                    Err(e) => log(&format!("{kind} check: {e:#}")),
                }
            }
        }
    }
    log("stopped");
    Ok(Outcome::Clean)
}
