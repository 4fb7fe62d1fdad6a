//! `lomob backup [DIR...]`: scan; pack the files that fill whole images and
//! send them to every archive site, releasing their staged copies; stage
//! the rest to every staging site; publish the key file and a catalog
//! snapshot to every site.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use lomob::units::parse_size;
use lomob::{BackupOptions, BackupReport, PackReport, StagingReport};
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, human_bytes};

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Folders to back up [default: the config's roots, else the catalog's]
    #[arg(value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Unarchived bytes that make an archive image
    #[arg(long, value_name = "SIZE", default_value = "5G", value_parser = parse_size)]
    pack_size: u64,
    /// Part size of archive uploads (raised to the site's minimum, 5 MiB on
    /// S3, and so that an image needs at most 90 parts)
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = parse_size)]
    part_size: u64,
    /// Keep the local image of each archive (in `<catalog>.pack/`) after upload
    #[arg(long)]
    keep_iso: bool,
    /// Scan, then say what would be packed and staged; upload and record
    /// nothing
    #[arg(long)]
    dry_run: bool,
    /// The many files deleted or changed in this root are right: back it up
    /// again (a mass change holds a root's backups until accepted)
    #[arg(long, value_name = "ROOT")]
    accept_changes: Vec<PathBuf>,
}

pub(crate) fn run(ctx: &Ctx, args: &BackupArgs) -> Result<Outcome> {
    let mut engine = ctx.engine(Open::BACKUP)?;
    let mut opts = BackupOptions::of(&args.dirs).pack_size(args.pack_size);
    opts.part_size = args.part_size;
    opts.keep_iso = args.keep_iso;
    opts.accept_changes.clone_from(&args.accept_changes);
    opts.dry_run = args.dry_run;
    let report = engine.backup(&opts)?;
    let mut out = Out::new(ctx.global.json);
    render(&mut out, &report)?;
    out.flush()?;
    if let Some(why) = &report.stopped {
        bail!("{why}");
    }
    Ok(Outcome::from_attention(report.needs_attention()))
}

/// A backup's lines: the scan's, the archives', each staging site's, the snapshot's.
pub(crate) fn render(out: &mut Out, r: &BackupReport) -> std::io::Result<()> {
    super::scan::render(out, &r.scan)?;
    if let Some(p) = &r.plan {
        plan_lines(out, p)?;
    }
    if let Some(p) = &r.archives {
        archives_line(out, p)?;
    }
    for s in &r.staging {
        staging_line(out, s)?;
    }
    if let Some(s) = &r.snapshot {
        snapshot_line(out, s)?;
    }
    Ok(())
}

/// What `backup --dry-run` found to do.
fn plan_lines(out: &mut Out, p: &lomob::BackupPlan) -> std::io::Result<()> {
    if !p.archive_sites.is_empty() {
        out.record_or_line(
            &json!({"would_pack": p.images, "files": p.image_files, "bytes": p.image_bytes,
                    "sites": p.archive_sites, "waiting": p.waiting_files}),
            &format!(
                "would pack about {} image(s) of {} files ({}) for {}; {} file(s) wait for a fuller image",
                p.images,
                p.image_files,
                human_bytes(p.image_bytes),
                p.archive_sites.join(", "),
                p.waiting_files
            ),
        )?;
    }
    for s in &p.staging {
        out.record_or_line(
            &json!({"site": s.site, "would_stage": s.files, "bytes": s.bytes}),
            &format!(
                "{}: would stage {} file(s) ({})",
                s.site,
                s.files,
                human_bytes(s.bytes)
            ),
        )?;
    }
    out.record_or_line(
        &json!({"dry_run": true}),
        "nothing was uploaded or recorded (--dry-run)",
    )
}

/// `catalog snapshot and key file on N site(s)`, and where locked copies went.
pub(crate) fn snapshot_line(out: &mut Out, s: &lomob::SnapshotReport) -> std::io::Result<()> {
    let mut line = format!("catalog snapshot and key file on {} site(s)", s.sites);
    if !s.locked.is_empty() {
        line.push_str(&format!(
            "; locked, dated copies (for recovery from a locked site alone) on {}",
            s.locked.join(", ")
        ));
    }
    out.record_or_line(
        &json!({"catalog_snapshots": s.sites, "locked_copies": s.locked}),
        &line,
    )
}

/// `archives: N new images, …`.
pub(crate) fn archives_line(out: &mut Out, p: &PackReport) -> std::io::Result<()> {
    out.record_or_line(
        &json!({"packed": p.images, "archive_copies": p.copies, "bytes": p.bytes, "staged_released": p.released}),
        &format!(
            "archives: {} new images, {} copies sent ({}), {} staged copies released",
            p.images,
            p.copies,
            human_bytes(p.bytes),
            p.released
        ),
    )
}

/// One staging site's line.
pub(crate) fn staging_line(out: &mut Out, r: &StagingReport) -> std::io::Result<()> {
    if let Some(e) = &r.offline {
        return out.record_or_line(
            &json!({"site": r.site, "offline": e}),
            &format!("{}: offline, skipped", r.site),
        );
    }
    out.record_or_line(
        &json!({"site": r.site, "staged": r.staged, "bytes": r.bytes,
                "skipped": r.skipped.len(), "left": r.left, "error": r.error}),
        &format!(
            "{}: staged {} objects ({}), {} skipped, {} left{}",
            r.site,
            r.staged,
            human_bytes(r.bytes),
            r.skipped.len(),
            r.left,
            r.error
                .as_ref()
                .map(|e| format!(" — stopped: {e}"))
                .unwrap_or_default()
        ),
    )
}
