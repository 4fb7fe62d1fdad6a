//! The daemon: watches the roots (inotify via the notify crate), and once
//! changes have settled for the stage delay runs a backup that rescans only
//! the folders events named (then packs when the pack size is reached,
//! stages, publishes a catalog snapshot); a full reconciling backup runs on
//! the schedule's `full_rescan` period to catch missed events; the staging
//! and archive checks run on theirs, their last runs read from the catalog
//! so restarts neither repeat nor skip them. Setting the stop flag ends it
//! between steps, leaving resumable state.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

use crate::backup::{BackupOptions, BackupReport};
use crate::check::{CheckKind, CheckOptions, CheckReport};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::progress::Event;

/// More changed folders than this and the daemon rescans the roots whole.
const MAX_CHANGED_DIRS: usize = 1000;

/// How the daemon runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Folders to watch; empty: the configured roots, else the catalog's.
    pub roots: Vec<PathBuf>,
    /// Quiet time after the last change before new files are staged.
    pub stage_delay: Duration,
    /// Unarchived bytes that make an archive image.
    pub pack_size: u64,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            roots: Vec::new(),
            stage_delay: Duration::from_secs(60),
            pack_size: BackupOptions::default().pack_size,
        }
    }
}

/// What one round of the daemon did, for its caller to show.
#[derive(Debug)]
#[non_exhaustive]
pub enum Round<'a> {
    /// A backup finished.
    Backup(&'a BackupReport),
    /// A scheduled check finished.
    Check(&'a CheckReport),
}

/// Folders whose entries changed since the last backup; `None` after an
/// overflow (too many to be worth listing): then everything is rescanned.
struct Changes {
    folders: Option<HashSet<PathBuf>>,
    last: Option<Instant>,
}

impl Changes {
    fn note(&mut self, ev: &notify::Event) {
        self.last = Some(Instant::now());
        if ev.need_rescan() {
            self.folders = None;
        }
        if let Some(set) = self.folders.as_mut() {
            // A file's folder, or a folder's parent: created, removed and
            // renamed entries are seen from there.
            set.extend(
                ev.paths
                    .iter()
                    .filter_map(|p| p.parent().map(PathBuf::from)),
            );
            if set.len() > MAX_CHANGED_DIRS {
                self.folders = None;
            }
        }
    }

    fn overflow(&mut self) {
        self.last = Some(Instant::now());
        self.folders = None;
    }

    /// The folders to rescan once the changes have been quiet for `delay`.
    fn settled(&mut self, delay: Duration) -> Option<Option<Vec<PathBuf>>> {
        if self.last.is_none_or(|t| t.elapsed() < delay) {
            return None;
        }
        self.last = None;
        Some(
            self.folders
                .replace(HashSet::new())
                .map(|set| set.into_iter().collect()),
        )
    }
}

impl Context {
    /// Runs the daemon until `stop` is set, handing each round's report to
    /// `on_round`.
    pub fn watch(
        &mut self,
        opts: &WatchOptions,
        stop: &AtomicBool,
        mut on_round: impl FnMut(Round<'_>),
    ) -> Result<()> {
        let roots = self.watch_roots(opts)?;
        let own = self.own_paths();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |ev| {
            let _ = tx.send(ev);
        })
        .map_err(|e| Error::failed(format!("cannot watch for file changes: {e}")))?;
        for d in &roots {
            watcher
                .watch(d, RecursiveMode::Recursive)
                .map_err(|e| Error::failed(format!("cannot watch {}: {e}", d.display())))?;
        }
        self.log(format!(
            "watching {} folder(s); new files are staged {:?} after changes settle",
            roots.len(),
            opts.stage_delay
        ));
        let backup = BackupOptions {
            roots,
            pack_size: opts.pack_size,
            ..BackupOptions::default()
        };
        self.watch_backup(&backup, "start: catching up", None, &mut on_round);
        let mut last_full = Instant::now();
        let mut changes = Changes {
            folders: Some(HashSet::new()),
            last: None,
        };
        while !stop.load(Ordering::SeqCst) {
            if !receive(&rx, &own, &mut changes, |m| self.log(m)) {
                break;
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Some(folders) = changes.settled(opts.stage_delay) {
                let why = match &folders {
                    Some(f) => format!("files changed in {} folder(s)", f.len()),
                    None => "files changed: full rescan".to_owned(),
                };
                self.watch_backup(&backup, &why, folders, &mut on_round);
            } else if self
                .opts
                .schedule
                .full_rescan
                .is_some_and(|every| last_full.elapsed() >= every)
            {
                last_full = Instant::now();
                self.watch_backup(&backup, "scheduled reconciling rescan", None, &mut on_round);
            }
            self.scheduled_checks(stop, &mut on_round);
        }
        self.log("stopped");
        Ok(())
    }

    fn log(&self, msg: impl Into<String>) {
        self.progress.event(&Event::Watch(msg.into()));
    }

    fn watch_roots(&self, opts: &WatchOptions) -> Result<Vec<PathBuf>> {
        let roots = if opts.roots.is_empty() {
            self.default_roots()?
        } else {
            opts.roots.clone()
        };
        if roots.is_empty() {
            return Err(Error::invalid(
                "no folder to watch: name one or add roots to the config (`lomob init DIR`)",
            ));
        }
        // Events carry absolute paths; the roots are compared with them.
        Ok(roots
            .iter()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
            .collect())
    }

    /// What lomob itself writes must not wake it up: its local sites, and
    /// the catalog's files (`<db>*`).
    fn own_paths(&self) -> Own {
        let mut sites = Vec::new();
        for s in &self.opts.sites {
            if let Ok(url) = s.url.parse::<lomo_remote::SiteUrl>()
                && let lomo_remote::Location::Local { path } = url.location()
            {
                sites.push(path.clone());
            }
        }
        let db_name = std::path::absolute(self.db())
            .ok()
            .and_then(|db| db.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Own { sites, db_name }
    }

    fn watch_backup(
        &mut self,
        opts: &BackupOptions,
        why: &str,
        changed: Option<Vec<PathBuf>>,
        on_round: &mut impl FnMut(Round<'_>),
    ) {
        self.log(format!("backup ({why})"));
        let opts = BackupOptions {
            changed,
            ..opts.clone()
        };
        match self.backup(&opts) {
            Ok(r) => {
                on_round(Round::Backup(&r));
                match &r.stopped {
                    Some(why) => self.log(format!("backup failed: {why}")),
                    None if r.needs_attention() => {
                        self.log("backup done, with problems (see above)");
                    }
                    None => self.log("backup done"),
                }
            }
            Err(e) => self.log(format!("backup failed: {e}")),
        }
    }

    /// Seconds since the last check of `kind` on any configured site
    /// (`None`: never).
    fn since_check(&self, kind: CheckKind) -> Option<i64> {
        self.opts
            .sites
            .iter()
            .filter_map(|s| self.catalog.last_check(kind.name(), &s.name).ok().flatten())
            .map(|c| lomo_catalog::unix_now() - c.finished_at)
            .min()
    }

    fn scheduled_checks(&mut self, stop: &AtomicBool, on_round: &mut impl FnMut(Round<'_>)) {
        let schedule = self.opts.schedule;
        for (kind, every) in [
            (CheckKind::Staging, schedule.staging_check),
            (CheckKind::Archives, schedule.archive_check),
        ] {
            let Some(every) = every else { continue };
            let due = self
                .since_check(kind)
                .is_none_or(|s| s >= i64::try_from(every.as_secs()).unwrap_or(i64::MAX));
            if !due || stop.load(Ordering::SeqCst) {
                continue;
            }
            let name = kind.name();
            self.log(format!("{name} check (scheduled)"));
            match self.check(&CheckOptions::scheduled(kind)) {
                Ok(r) => {
                    on_round(Round::Check(&r));
                    match (r.error(), r.differences()) {
                        (Some(e), _) => self.log(format!("{name} check: {e}")),
                        (None, 0) => self.log(format!("{name} check: all good")),
                        (None, _) => {
                            self.log(format!("{name} check found differences (alerted)"));
                            if !self.auto_repair() {
                                self.extend_locks(&r);
                            }
                        }
                    }
                }
                Err(e) => self.log(format!("{name} check: {e}")),
            }
        }
    }
}

impl Context {
    /// With `[repair] auto`, repairs what a check found (and says so).
    fn auto_repair(&mut self) -> bool {
        if !self.opts.repair_auto {
            return false;
        }
        self.log("repair (scheduled: the check found differences)");
        match self.repair(&crate::RepairOptions::default()) {
            Ok(r) => {
                let done = r
                    .actions
                    .iter()
                    .filter(|a| a.outcome == crate::RepairOutcome::Repaired)
                    .count();
                self.log(format!(
                    "repair: {done} of {} object(s) repaired",
                    r.actions.len()
                ));
            }
            Err(e) => self.log(format!("repair: {e}")),
        }
        true
    }

    /// Without `[repair] auto`, still extends the Object Lock retention of
    /// archives the check found missing, short or running out: it only
    /// strengthens what protects them, so photos stay locked for as long
    /// as `watch` runs.
    fn extend_locks(&mut self, report: &crate::CheckReport) {
        let locks = report.kinds.iter().flat_map(|k| &k.sites).flat_map(|s| {
            s.findings
                .iter()
                .filter(|f| f.kind == "lock")
                .map(|f| (s.site.clone(), f.clone()))
        });
        for (site, f) in locks.collect::<Vec<_>>() {
            let outcome = match self.repair_lock(&site, &f, false) {
                Ok(Some(a)) => match a.outcome {
                    crate::RepairOutcome::Failed { error } => format!("failed: {error}"),
                    _ => "extended".to_owned(),
                },
                Ok(None) => continue,
                Err(e) => format!("failed: {e}"),
            };
            self.log(format!("lock {site}: {}: {outcome}", f.key));
        }
    }
}

/// lomob's own files.
struct Own {
    sites: Vec<PathBuf>,
    db_name: String,
}

impl Own {
    fn contains(&self, ev: &notify::Event) -> bool {
        ev.paths.iter().all(|p| {
            self.sites.iter().any(|o| p.starts_with(o))
                || p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&self.db_name))
        })
    }
}

/// Waits up to half a second for a file event and notes it; false when the
/// watcher is gone.
fn receive(
    rx: &Receiver<notify::Result<notify::Event>>,
    own: &Own,
    changes: &mut Changes,
    log: impl Fn(String),
) -> bool {
    match rx.recv_timeout(Duration::from_millis(500)) {
        Ok(Ok(ev)) => {
            if !own.contains(&ev) && !matches!(ev.kind, notify::EventKind::Access(_)) {
                changes.note(&ev);
            }
            true
        }
        Ok(Err(e)) => {
            log(format!("watch error: {e}; rescanning everything"));
            changes.overflow();
            true
        }
        Err(RecvTimeoutError::Timeout) => true,
        Err(RecvTimeoutError::Disconnected) => false,
    }
}
