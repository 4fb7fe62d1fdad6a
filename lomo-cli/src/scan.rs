//! Scanning roots into the catalog: the first step of a backup, and
//! `lomob scan` on its own.

use std::path::{Path, PathBuf};

use lomo_catalog::{IssueKind, ScanOptions, ScanReport};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::progress::ScanBar;

/// What to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanRunOptions {
    /// The roots; empty: the configured roots, else the catalog's.
    pub roots: Vec<PathBuf>,
    /// Only these folders of the roots changed (the watch daemon's events):
    /// rescan just them. `None` scans every root whole.
    pub changed: Option<Vec<PathBuf>>,
    /// Ignore lists and threads instead of the context's.
    pub options: Option<ScanOptions>,
}

/// A root that could not be scanned.
#[derive(Debug, Clone)]
pub struct RootFailure {
    /// The root as named.
    pub root: PathBuf,
    /// Why.
    pub error: String,
}

/// What a scan of the roots found.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ScanRun {
    /// One report per root scanned.
    pub reports: Vec<ScanReport>,
    /// Roots that could not be scanned at all (missing, unreadable): the
    /// others were scanned.
    pub failed: Vec<RootFailure>,
    /// How many roots were asked for.
    pub roots: usize,
}

impl ScanRun {
    /// Whether some entry had to be skipped (unreadable, changing).
    pub fn skipped_entries(&self) -> bool {
        self.reports.iter().any(|r| !r.issues.is_empty())
    }
}

impl serde::Serialize for ScanRun {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let failed: Vec<Value> = self
            .failed
            .iter()
            .map(|f| json!({"root": f.root.display().to_string(), "error": f.error}))
            .collect();
        json!({
            "roots": self.reports.iter().map(report_json).collect::<Vec<_>>(),
            "failed": failed,
        })
        .serialize(s)
    }
}

/// The stable name of a kind of scan issue.
pub fn issue_kind_name(k: IssueKind) -> &'static str {
    match k {
        IssueKind::ReadDir => "read_dir",
        IssueKind::Stat => "stat",
        IssueKind::Read => "read",
        IssueKind::Changed => "changed",
        IssueKind::ReadLink => "read_link",
        _ => "other",
    }
}

/// A path for JSON: its text, plus its exact bytes in hex when it is not UTF-8.
pub fn json_path(p: &Path) -> (String, Option<String>) {
    match p.to_str() {
        Some(s) => (s.to_string(), None),
        None => (
            p.to_string_lossy().into_owned(),
            Some(crate::units::hex(&crate::units::path_bytes(p))),
        ),
    }
}

/// One root's scan report as JSON (what `lomob scan --json` prints).
pub fn report_json(r: &ScanReport) -> Value {
    let issues: Vec<Value> = r
        .issues
        .iter()
        .map(|i| {
            let (path, raw) = json_path(&i.path);
            let mut v =
                json!({"path": path, "kind": issue_kind_name(i.kind), "message": i.message});
            if let Some(raw) = raw {
                v["path_hex"] = raw.into();
            }
            v
        })
        .collect();
    json!({
        "root": json_path(&r.root).0,
        "new": r.new,
        "changed": r.changed,
        "moved": r.moved,
        "deleted": r.deleted,
        "unchanged": r.unchanged,
        "skipped": r.skipped,
        "errors": r.issues.len(),
        "dirs": r.dirs,
        "files_hashed": r.files_hashed,
        "bytes_hashed": r.bytes_hashed,
        "seconds": r.elapsed.as_secs_f64(),
        "issues": issues,
    })
}

/// The folders of `changed` inside the root `dir` (by absolute path, or
/// canonical path when the root is reached through a symlink).
fn changed_in(dir: &Path, changed: &[PathBuf]) -> Vec<PathBuf> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| abs.clone());
    changed
        .iter()
        .filter(|c| c.starts_with(&abs) || c.starts_with(&canon))
        .cloned()
        .collect()
}

impl Context {
    /// Scans the roots into the catalog. A root that cannot be scanned is
    /// reported in [`ScanRun::failed`]; the others are scanned anyway (a
    /// missing disk must not stop the rest).
    pub fn scan(&mut self, opts: &ScanRunOptions) -> Result<ScanRun> {
        let roots = if opts.roots.is_empty() {
            self.default_roots()?
        } else {
            opts.roots.clone()
        };
        if roots.is_empty() {
            return Err(Error::invalid(
                "no folder to scan: name one (`lomob scan ~/Pictures`) or add roots to the config (`lomob init DIR`)",
            ));
        }
        let options = opts
            .options
            .clone()
            .unwrap_or_else(|| self.opts.scan.clone());
        let mut run = ScanRun {
            roots: roots.len(),
            ..ScanRun::default()
        };
        for dir in &roots {
            let under = match &opts.changed {
                Some(changed) => {
                    let under = changed_in(dir, changed);
                    if under.is_empty() {
                        continue; // nothing changed under this root
                    }
                    under
                }
                None => Vec::new(),
            };
            let bar = ScanBar::new(self.progress.as_ref(), &dir.display().to_string());
            let result = self.catalog.scan_under(dir, &under, &options, &bar);
            bar.finish();
            match result {
                Ok(report) => run.reports.push(report),
                Err(e) => run.failed.push(RootFailure {
                    root: dir.clone(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(run)
    }
}
