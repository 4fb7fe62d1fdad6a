//! `lomob watch [DIR...]`: the daemon. Watches the roots (inotify via the
//! notify crate), and once changes have settled for `--stage-delay` runs a
//! backup that rescans only the folders events named (then packs when the
//! pack size is reached, stages, publishes a catalog snapshot); a full
//! reconciling backup runs on the `[schedule] full_rescan` period to catch
//! missed events; the staging and archive checks run on theirs (daily and
//! monthly by default), their last runs read from the catalog so restarts
//! neither repeat nor skip them. SIGTERM or Ctrl-C stops it between steps,
//! leaving resumable state. Foreground, logs on stderr: systemd-friendly
//! (see contrib/lomob-watch.service).

use std::collections::HashSet;
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
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = crate::units::parse_duration)]
    stage_delay: Duration,
    /// Unarchived bytes that make an archive image
    #[arg(long, value_name = "SIZE", default_value = "5G", value_parser = parse_size)]
    pack_size: u64,
}

/// More changed folders than this and the daemon rescans the roots whole.
const MAX_CHANGED_DIRS: usize = 1000;

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
    // Events carry absolute paths; the roots are compared with them.
    let dirs: Vec<PathBuf> = dirs
        .iter()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let schedule = ctx.config.schedule.resolved()?;
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
    let run_backup = |why: &str, changed: Option<Vec<PathBuf>>| {
        log(&format!("backup ({why})"));
        match backup::run(ctx, &backup_args.with_changed(changed)) {
            Ok(Outcome::Clean) => log("backup done"),
            Ok(Outcome::Problems) => log("backup done, with problems (see above)"),
            Err(e) => log(&format!("backup failed: {e:#}")),
        }
    };
    run_backup("start: catching up", None);
    let mut last_full = Instant::now();
    let mut last_change: Option<Instant> = None;
    // Folders whose entries changed since the last backup; `None` after an
    // overflow (too many to be worth listing): then everything is rescanned.
    let mut changed: Option<HashSet<PathBuf>> = Some(HashSet::new());
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
                    if ev.need_rescan() {
                        changed = None;
                    }
                    if let Some(set) = changed.as_mut() {
                        // A file's folder, or a folder's parent: created,
                        // removed and renamed entries are seen from there.
                        set.extend(
                            ev.paths
                                .iter()
                                .filter_map(|p| p.parent().map(PathBuf::from)),
                        );
                        if set.len() > MAX_CHANGED_DIRS {
                            changed = None;
                        }
                    }
                }
            }
            Ok(Err(e)) => {
                log(&format!("watch error: {e}; rescanning everything"));
                last_change = Some(Instant::now());
                changed = None;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if last_change.is_some_and(|t| t.elapsed() >= args.stage_delay) {
            last_change = None;
            let folders = changed
                .replace(HashSet::new())
                .map(|set| set.into_iter().collect::<Vec<_>>());
            let why = match &folders {
                Some(f) => format!("files changed in {} folder(s)", f.len()),
                None => "files changed: full rescan".to_owned(),
            };
            run_backup(&why, folders);
        } else if schedule
            .full_rescan
            .is_some_and(|every| last_full.elapsed() >= every)
        {
            last_full = Instant::now();
            run_backup("scheduled reconciling rescan", None);
        }
        for (kind, every, staging) in [
            ("staging", schedule.staging_check, true),
            ("archives", schedule.archive_check, false),
        ] {
            let Some(every) = every else { continue };
            let due = since_check(ctx, kind)
                .is_none_or(|s| s >= i64::try_from(every.as_secs()).unwrap_or(i64::MAX));
            if due && !stop.load(Ordering::SeqCst) {
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
