//! `lomob scan DIR...`

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use lomo_catalog::{IssueKind, ScanOptions, ScanReport};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::output::{Out, json_path};
use crate::progress::ScanBar;
use crate::units::human_bytes;

#[derive(Debug, Default, Args)]
pub(crate) struct ScanArgs {
    /// Folders to scan [default: the config's roots]
    #[arg(value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// File names to skip, comma-separated globs [default: .DS_Store,._.DS_Store,Thumbs.db]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    ignore_files: Option<Vec<String>>,
    /// Directory names to skip with their contents [default: .idea,.git,.github]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    ignore_dirs: Option<Vec<String>>,
    /// Worker threads [default: one per CPU]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Only these folders of the roots changed (the watch daemon's events);
    /// `None` scans every root whole.
    #[arg(skip)]
    changed: Option<Vec<PathBuf>>,
}

impl ScanArgs {
    /// Scan `dirs` with the config's settings.
    pub(crate) fn of(dirs: Vec<PathBuf>) -> ScanArgs {
        ScanArgs {
            dirs,
            ..ScanArgs::default()
        }
    }

    /// Rescan only `changed` folders (and below) of `dirs`.
    pub(crate) fn changed(mut self, changed: Option<Vec<PathBuf>>) -> ScanArgs {
        self.changed = changed;
        self
    }
}

/// The folders of `changed` inside the root `dir` (by absolute path, or
/// canonical path when the root is reached through a symlink).
fn changed_in(dir: &std::path::Path, changed: &[PathBuf]) -> Vec<PathBuf> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| abs.clone());
    changed
        .iter()
        .filter(|c| c.starts_with(&abs) || c.starts_with(&canon))
        .cloned()
        .collect()
}

pub(crate) fn run(ctx: &Ctx, args: &ScanArgs) -> Result<Outcome> {
    let dirs = if args.dirs.is_empty() {
        ctx.config.roots.clone()
    } else {
        args.dirs.clone()
    };
    if dirs.is_empty() {
        bail!(
            "no folder to scan: name one (`lomob scan ~/Pictures`) or add roots to the config (`lomob init DIR`)"
        );
    }
    let defaults = ScanOptions::default();
    let cfg = &ctx.config.scan;
    let options = ScanOptions {
        ignore_files: args
            .ignore_files
            .clone()
            .or_else(|| cfg.ignore_files.clone())
            .unwrap_or(defaults.ignore_files),
        ignore_dirs: args
            .ignore_dirs
            .clone()
            .or_else(|| cfg.ignore_dirs.clone())
            .unwrap_or(defaults.ignore_dirs),
        threads: args.threads.or(cfg.threads).unwrap_or(0),
    };

    let mut catalog = ctx.open_catalog()?;
    let mut out = Out::new(ctx.global.json);
    let mut problems = false;
    let mut failed = 0;
    for dir in &dirs {
        let under = match &args.changed {
            Some(changed) => {
                let under = changed_in(dir, changed);
                if under.is_empty() {
                    continue; // nothing changed under this root
                }
                under
            }
            None => Vec::new(),
        };
        let bar = ScanBar::new(&dir.display().to_string(), !ctx.global.no_progress);
        let result = catalog.scan_under(dir, &under, &options, &bar);
        bar.finish();
        match result {
            Ok(report) => {
                problems |= !report.issues.is_empty();
                print_report(&mut out, &report)?;
                out.flush()?;
            }
            Err(e) => {
                // Go on with the other roots; a missing disk must not stop the rest.
                eprintln!("lomob: error: {e}");
                failed += 1;
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} of {} folders could not be scanned", dirs.len());
    }
    Ok(if problems {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn kind_name(k: IssueKind) -> &'static str {
    match k {
        IssueKind::ReadDir => "read_dir",
        IssueKind::Stat => "stat",
        IssueKind::Read => "read",
        IssueKind::Changed => "changed",
        IssueKind::ReadLink => "read_link",
        _ => "other",
    }
}

fn print_report(out: &mut Out, r: &ScanReport) -> std::io::Result<()> {
    let secs = r.elapsed.as_secs_f64();
    if out.json() {
        let issues: Vec<_> = r
            .issues
            .iter()
            .map(|i| {
                let (path, raw) = json_path(&i.path);
                let mut v = json!({"path": path, "kind": kind_name(i.kind), "message": i.message});
                if let Some(raw) = raw {
                    v["path_hex"] = raw.into();
                }
                v
            })
            .collect();
        return out.record(&json!({
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
            "seconds": secs,
            "issues": issues,
        }));
    }
    let rate = if secs > 0.0 {
        format!(
            " ({}/s)",
            human_bytes((r.bytes_hashed as f64 / secs) as u64)
        )
    } else {
        String::new()
    };
    out.line(&format!(
        "{}: {} new, {} changed, {} moved, {} deleted, {} unchanged, {} errors · hashed {} files, {} in {secs:.2} s{rate}",
        r.root.display(),
        r.new,
        r.changed,
        r.moved,
        r.deleted,
        r.unchanged,
        r.issues.len(),
        r.files_hashed,
        human_bytes(r.bytes_hashed),
    ))
}
