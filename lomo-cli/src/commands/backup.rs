//! `lomob backup [DIR...]`: scan; pack the files that fill whole images and
//! send them to every archive site, releasing their staged copies; stage
//! the rest to every staging site; publish the key file and a catalog
//! snapshot to every site.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::{Ctx, Outcome, scan};
use crate::config::Role;
use crate::output::Out;
use crate::pipeline::keys::{Names, unlock_or_create};
use crate::pipeline::stage::stage_site;
use crate::sites;
use crate::units::{human_bytes, parse_size};

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Folders to back up [default: the config's roots]
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
    /// Only these folders changed (the watch daemon): rescan just them.
    #[arg(skip)]
    changed: Option<Vec<PathBuf>>,
}

/// Holds `<catalog>.backup-lock` for the whole run: two backups into one
/// catalog would stage the same contents twice. The OS drops it if the
/// process dies.
pub(crate) fn backup_lock(ctx: &Ctx) -> Result<std::fs::File> {
    let mut name = ctx.db_path().into_os_string();
    name.push(".backup-lock");
    let path = std::path::PathBuf::from(name);
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!(
                "another lomob backup is running on this catalog (lock {})",
                path.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

impl BackupArgs {
    /// A backup of `dirs` with this pack size.
    pub(crate) fn new(dirs: Vec<PathBuf>, pack_size: u64) -> BackupArgs {
        BackupArgs {
            dirs,
            pack_size,
            part_size: crate::pipeline::send::DEFAULT_PART,
            keep_iso: false,
            changed: None,
        }
    }

    /// The same backup rescanning only `changed` folders (`None`: all).
    pub(crate) fn with_changed(&self, changed: Option<Vec<PathBuf>>) -> BackupArgs {
        BackupArgs {
            dirs: self.dirs.clone(),
            pack_size: self.pack_size,
            part_size: self.part_size,
            keep_iso: self.keep_iso,
            changed,
        }
    }
}

pub(crate) fn run(ctx: &Ctx, args: &BackupArgs) -> Result<Outcome> {
    let mut notes = Vec::new();
    let r = run_inner(ctx, args, &mut notes);
    let (subject, text) = match &r {
        Ok(Outcome::Clean) => return r,
        Ok(Outcome::Problems) => (
            "lomob: the backup finished with problems".to_owned(),
            notes.join("\n"),
        ),
        Err(e) => (
            format!("lomob: the backup failed: {e}"),
            format!("{e:#}\n\n{}", notes.join("\n")),
        ),
    };
    crate::alerts::notify(
        ctx,
        &crate::alerts::Alert {
            kind: "backup",
            subject,
            text,
            details: json!({"problems": notes}),
        },
    );
    r
}

fn run_inner(ctx: &Ctx, args: &BackupArgs, notes: &mut Vec<String>) -> Result<Outcome> {
    let _lock = backup_lock(ctx)?;
    let key = unlock_or_create(ctx)?;
    let names = Names::new(&key);
    let scanned = scan::run(
        ctx,
        &scan::ScanArgs::of(args.dirs.clone()).changed(args.changed.clone()),
    )?;
    let mut problems = scanned == Outcome::Problems;
    if problems {
        notes.push("the scan reported unreadable or changing files (see `lomob scan`)".into());
    }
    let mut catalog = ctx.open_catalog()?;
    let rt = sites::runtime()?;
    let mut out = Out::new(ctx.global.json);
    let all_sites = sites::configured_or_default(ctx, true)?;
    let all_sites_copy = all_sites.clone();
    // Full images first, so staging carries only the remainder.
    if all_sites
        .iter()
        .any(|s| matches!(s.role, Role::Archive | Role::Both))
    {
        let p = crate::pipeline::pack::pack(
            ctx,
            &rt,
            &mut catalog,
            &key,
            &all_sites,
            args.pack_size,
            &crate::pipeline::send::SendOptions {
                part_size: args.part_size,
                concurrency: None,
                keep_iso: args.keep_iso,
                force: false,
                storage_class: None,
                only_site: None,
            },
            !ctx.global.no_progress,
        )?;
        problems |= !p.notes.is_empty();
        notes.extend(p.notes.iter().cloned());
        out.record_or_line(
            &json!({"packed": p.images, "archive_copies": p.copies, "bytes": p.bytes, "staged_released": p.released}),
            &format!("archives: {} new images, {} copies sent ({}), {} staged copies released", p.images, p.copies, human_bytes(p.bytes), p.released),
        )?;
    }
    for cfg in all_sites
        .iter()
        .filter(|s| matches!(s.role, Role::Staging | Role::Both))
    {
        problems |= stage_to(ctx, &rt, &mut catalog, &key, &names, cfg, &mut out, notes)?;
    }
    // Last: what recovery from any one site needs.
    problems |= publish_snapshot(
        ctx,
        &rt,
        &mut catalog,
        &key,
        &all_sites_copy,
        &mut out,
        notes,
    )?;
    for name in sites::alert_offline(ctx, &catalog)? {
        notes.push(format!("site {name} has been unreachable too long"));
    }
    out.flush()?;
    Ok(if problems {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// Stages what `cfg`'s site lacks, warning about what was skipped and
/// reporting the site's line; true when something needs attention (the
/// site offline or stopped, files skipped), with the reasons in `notes`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stage_to(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    catalog: &mut lomo_catalog::Catalog,
    key: &lomo_crypt::MasterKey,
    names: &Names,
    cfg: &crate::config::SiteConfig,
    out: &mut Out,
    notes: &mut Vec<String>,
) -> Result<bool> {
    let site = match sites::open(ctx, cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "lomob: warning: site {} skipped: {e:#}; it catches up on a later run",
                cfg.name
            );
            notes.push(format!("site {} skipped: {e:#}", cfg.name));
            out.record_or_line(
                &json!({"site": cfg.name, "offline": format!("{e:#}")}),
                &format!("{}: offline, skipped", cfg.name),
            )?;
            return Ok(true);
        }
    };
    let r = stage_site(
        rt,
        catalog,
        key,
        names,
        &cfg.name,
        &site,
        !ctx.global.no_progress,
    )?;
    sites::record_usage(ctx, &cfg.name, &site.usage());
    for (path, why) in &r.skipped {
        eprintln!("lomob: warning: {}: {why}", path.display());
        notes.push(format!("{}: {why}", path.display()));
    }
    if let Some(e) = &r.site_error {
        eprintln!(
            "lomob: warning: site {} stopped: {e}; it catches up on a later run",
            cfg.name
        );
        notes.push(format!("site {} stopped: {e}", cfg.name));
    }
    let left = catalog.to_stage(&cfg.name)?.len();
    out.record_or_line(
        &json!({"site": cfg.name, "staged": r.objects, "bytes": r.bytes,
                "skipped": r.skipped.len(), "left": left, "error": r.site_error}),
        &format!(
            "{}: staged {} objects ({}), {} skipped, {} left{}",
            cfg.name,
            r.objects,
            human_bytes(r.bytes),
            r.skipped.len(),
            left,
            r.site_error
                .as_ref()
                .map(|e| format!(" — stopped: {e}"))
                .unwrap_or_default()
        ),
    )?;
    Ok(!r.skipped.is_empty() || r.site_error.is_some())
}

/// Puts the key file and a catalog snapshot on every site and reports it;
/// true when a site did not get them (the reasons in `notes`).
pub(crate) fn publish_snapshot(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    catalog: &mut lomo_catalog::Catalog,
    key: &lomo_crypt::MasterKey,
    all_sites: &[crate::config::SiteConfig],
    out: &mut Out,
    notes: &mut Vec<String>,
) -> Result<bool> {
    let (snapshots, snap_notes) =
        crate::pipeline::snapshot::publish(ctx, rt, catalog, key, all_sites)?;
    for n in &snap_notes {
        eprintln!("lomob: warning: {n}");
    }
    let problems = !snap_notes.is_empty();
    notes.extend(snap_notes);
    out.record_or_line(
        &json!({"catalog_snapshots": snapshots}),
        &format!("catalog snapshot and key file on {snapshots} site(s)"),
    )?;
    Ok(problems)
}
