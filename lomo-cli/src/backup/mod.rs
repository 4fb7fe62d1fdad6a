//! The backup: scan → pack → send → stage → publish.
//!
//! [`Context::backup`] scans the roots; plans the unarchived files that
//! fill whole images and sends each image, generated from its files as its
//! parts go, to every archive site at once (`pack`, `plan`, `image`,
//! `send`, `sealed`); releases the staged copies of what every archive
//! site holds; stages the rest to every staging site (`stage`); and puts
//! the key file and an encrypted catalog snapshot on every site
//! (`snapshot`). Problems that leave the work resumable (a site offline, a
//! file changed under it) are reported, not raised; the next run catches
//! up without resending what a site acknowledged.

mod blocks;
pub(crate) use blocks::BLOCK;
mod changes;
mod dryrun;
mod image;
mod pack;
mod plan;
mod sealed;
mod send;
mod snapshot;
mod stage;

use std::path::PathBuf;

use lomo_crypt::MasterKey;
use serde::Serialize;
use serde_json::json;

pub(crate) use blocks::RemoteCopy;
pub use dryrun::{BackupPlan, StagingPlan};
pub use pack::PackReport;
pub use plan::{PlanOptions, PlannedImage};
pub(crate) use send::{DEFAULT_PART, Job, SendOptions, Target, archive_part_size, send_archive};
pub use snapshot::SnapshotReport;
pub(crate) use stage::Stager;
pub use stage::StagingReport;

use crate::alert::Alert;
use crate::context::Context;
use crate::error::{Error, IoContext as _, Result};
use crate::keys::Names;
use crate::scan::{ScanRun, ScanRunOptions};
use crate::sites::SiteConfig;

/// How to back up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackupOptions {
    /// Folders to back up; empty: the configured roots, else the catalog's.
    pub roots: Vec<PathBuf>,
    /// Unarchived bytes that make an archive image (default 5 GB).
    pub pack_size: u64,
    /// Preferred part size of archive uploads (raised to the site's
    /// minimum, and so that an image needs at most 90 parts).
    pub part_size: u64,
    /// Keep the local image of each archive in `<catalog>.pack/`.
    pub keep_iso: bool,
    /// Only these folders changed (the watch daemon): rescan just them.
    pub changed: Option<Vec<PathBuf>>,
    /// Roots whose mass change (many files deleted or changed) the owner
    /// accepts: they are backed up again.
    pub accept_changes: Vec<PathBuf>,
    /// Scan and plan only: say what would be packed and staged, record and
    /// upload nothing (the catalog learns the scan, as `lomob scan` does).
    pub dry_run: bool,
}

impl Default for BackupOptions {
    fn default() -> BackupOptions {
        BackupOptions {
            roots: Vec::new(),
            pack_size: 5_000_000_000,
            part_size: DEFAULT_PART,
            keep_iso: false,
            changed: None,
            accept_changes: Vec::new(),
            dry_run: false,
        }
    }
}

impl BackupOptions {
    /// A backup of `roots` with the default settings.
    pub fn of(roots: impl IntoIterator<Item = impl Into<PathBuf>>) -> BackupOptions {
        BackupOptions {
            roots: roots.into_iter().map(Into::into).collect(),
            ..BackupOptions::default()
        }
    }

    /// The same backup with another pack size.
    pub fn pack_size(mut self, bytes: u64) -> BackupOptions {
        self.pack_size = bytes;
        self
    }
}

/// What a backup did.
#[derive(Debug, Default, Serialize)]
#[non_exhaustive]
pub struct BackupReport {
    /// The scan of the roots.
    pub scan: ScanRun,
    /// Packing and sending archives (none without an archive site).
    pub archives: Option<PackReport>,
    /// Staging, one report per staging site.
    pub staging: Vec<StagingReport>,
    /// The key file and catalog snapshot on the sites.
    pub snapshot: Option<SnapshotReport>,
    /// With [`BackupOptions::dry_run`]: what the backup would do.
    pub plan: Option<BackupPlan>,
    /// Why the backup stopped before sending anything, if it did.
    pub stopped: Option<String>,
    /// Everything that needs attention, in plain words.
    pub problems: Vec<String>,
}

impl BackupReport {
    /// Whether something needs attention (exit code 1 for the CLI).
    pub fn needs_attention(&self) -> bool {
        self.stopped.is_some() || !self.problems.is_empty()
    }
}

impl Context {
    /// Holds `<catalog>.backup-lock` while the returned file lives: two
    /// backups into one catalog would stage the same contents twice. The
    /// OS drops it if the process dies.
    pub fn backup_lock(&self) -> Result<std::fs::File> {
        let mut name = self.db().as_os_str().to_owned();
        name.push(".backup-lock");
        let path = PathBuf::from(name);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at("open", &path)?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy { lock: path }),
            Err(std::fs::TryLockError::Error(e)) => Err(e).at("lock", &path),
        }
    }

    /// Backs up: scan, pack full images to the archive sites, stage the
    /// rest, publish the key file and a catalog snapshot. The owner is
    /// alerted when it failed or needs attention.
    pub fn backup(&mut self, opts: &BackupOptions) -> Result<BackupReport> {
        let mut report = BackupReport::default();
        let r = self.backup_steps(opts, &mut report);
        let (subject, text) = match (&r, &report.stopped) {
            (Ok(()), None) if report.problems.is_empty() => return Ok(report),
            (Ok(()), None) => (
                "lomob: the backup finished with problems".to_owned(),
                report.problems.join("\n"),
            ),
            (Ok(()), Some(why)) => (
                format!("lomob: the backup failed: {why}"),
                format!("{why}\n\n{}", report.problems.join("\n")),
            ),
            (Err(e), _) => (
                format!("lomob: the backup failed: {e}"),
                format!("{e}\n\n{}", report.problems.join("\n")),
            ),
        };
        self.notify(&Alert {
            kind: "backup",
            subject,
            text,
            details: json!({"problems": report.problems}),
        });
        r.map(|()| report)
    }

    fn backup_steps(&mut self, opts: &BackupOptions, report: &mut BackupReport) -> Result<()> {
        let _lock = self.backup_lock()?;
        if opts.dry_run {
            if self.scan_step(opts, report)? {
                report.plan = Some(self.plan_backup(opts.pack_size)?);
            }
            return Ok(());
        }
        let key = self.key_or_create()?;
        if !self.scan_step(opts, report)? {
            return Ok(());
        }
        let sites = self.opts.sites.clone();
        // Full images first, so staging carries only the remainder.
        if sites.iter().any(|s| s.role.archives()) {
            let send = SendOptions {
                part_size: opts.part_size,
                keep_iso: opts.keep_iso,
                ..SendOptions::default()
            };
            let p = self.pack(&key, opts.pack_size, &send)?;
            report.problems.extend(p.problems.iter().cloned());
            report.archives = Some(p);
        }
        let names = Names::new(&key);
        for cfg in sites.iter().filter(|s| s.role.stages()) {
            let r = self.stage_to(&key, &names, cfg)?;
            report.problems.extend(staging_problems(&r));
            report.staging.push(r);
        }
        // Last: what recovery from any one site needs.
        let snap = self.publish_snapshot(&key)?;
        report.problems.extend(snap.problems.iter().cloned());
        report.snapshot = Some(snap);
        for name in self.alert_offline()? {
            report
                .problems
                .push(format!("site {name} has been unreachable too long"));
        }
        Ok(())
    }

    /// Scans the roots; false when the backup must stop (folders unreadable).
    fn scan_step(&mut self, opts: &BackupOptions, report: &mut BackupReport) -> Result<bool> {
        report.scan = self.scan(&ScanRunOptions {
            roots: opts.roots.clone(),
            changed: opts.changed.clone(),
            options: None,
        })?;
        if !report.scan.failed.is_empty() {
            let why = format!(
                "{} of {} folders could not be scanned",
                report.scan.failed.len(),
                report.scan.roots
            );
            report.stopped = Some(why);
            return Ok(false);
        }
        if report.scan.skipped_entries() {
            report
                .problems
                .push("the scan reported unreadable or changing files (see `lomob scan`)".into());
        }
        for held in self.review_changes(&report.scan.reports, &opts.accept_changes)? {
            self.warn(held.clone());
            report.problems.push(held);
        }
        Ok(true)
    }

    /// Stages what `cfg`'s site lacks, warning about what was skipped.
    pub(crate) fn stage_to(
        &mut self,
        key: &MasterKey,
        names: &Names,
        cfg: &SiteConfig,
    ) -> Result<StagingReport> {
        let site = match self.open_site(cfg) {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!(
                    "site {} skipped: {e}; it catches up on a later run",
                    cfg.name
                ));
                return Ok(StagingReport {
                    site: cfg.name.clone(),
                    offline: Some(e.to_string()),
                    left: self.catalog.to_stage_count(&cfg.name)?,
                    ..StagingReport::default()
                });
            }
        };
        let stager = stage::Stager {
            key,
            names,
            opts: cfg.hot_options(),
            progress: self.progress.as_ref(),
        };
        let r = stager.stage_site(&self.rt, &mut self.catalog, &cfg.name, &site)?;
        self.record_usage(&cfg.name, &site.usage());
        for (path, why) in &r.skipped {
            self.warn(format!("{}: {why}", path.display()));
        }
        if let Some(e) = &r.error {
            self.warn(format!(
                "site {} stopped: {e}; it catches up on a later run",
                cfg.name
            ));
        }
        Ok(r)
    }

    /// Puts the key file and a catalog snapshot on every site, warning
    /// about the sites that did not get them.
    pub(crate) fn publish_snapshot(&mut self, key: &MasterKey) -> Result<SnapshotReport> {
        let r = self.publish(key)?;
        for p in &r.problems {
            self.warn(p.clone());
        }
        Ok(r)
    }
}

/// A staging report's problems in the words of the backup's summary.
pub(crate) fn staging_problems(r: &StagingReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = &r.offline {
        out.push(format!("site {} skipped: {e}", r.site));
    }
    for (path, why) in &r.skipped {
        out.push(format!("{}: {why}", path.display()));
    }
    if let Some(e) = &r.error {
        out.push(format!("site {} stopped: {e}", r.site));
    }
    out
}
