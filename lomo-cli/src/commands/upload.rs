//! `lomob upload iso|files`: the seed's step-by-step commands on the
//! backup's machinery. `upload iso` sends images made by `lomob iso create`
//! to the archive sites (sealed, resumable multipart, verified, staged
//! copies released once every archive site has an image); `upload files`
//! stages what is not yet on the staging sites, without scanning or
//! packing. Both end with a catalog snapshot on every site, as `backup`
//! does.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Ctx, Outcome, backup};
use crate::config::Role;
use crate::output::Out;
use crate::pipeline::keys::{Names, unlock_or_create};
use crate::pipeline::pack::send_images;
use crate::pipeline::send::{DEFAULT_PART, SendOptions};
use crate::sites;
use crate::units::{human_bytes, parse_size};

#[derive(Debug, Subcommand)]
pub(crate) enum UploadCommand {
    /// Send ISO images recorded by `lomob iso create` to the archive sites
    Iso(IsoArgs),
    /// Stage the catalog's files that are not on the staging sites yet
    Files(FilesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct IsoArgs {
    /// Images to send, by path or name [default: every recorded image with a local file]
    #[arg(value_name = "FILE")]
    images: Vec<PathBuf>,
    /// Part size of the multipart upload
    #[arg(short = 'p', long, value_name = "SIZE", value_parser = parse_size)]
    part_size: Option<u64>,
    /// Parts in flight at once
    #[arg(short = 'n', long, value_name = "THREADS")]
    threads: Option<usize>,
    /// Storage class instead of each site's own (e.g. DEEP_ARCHIVE)
    #[arg(long, value_name = "CLASS")]
    storage_class: Option<String>,
    /// Send only to this archive site
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Send again to sites that have a copy already (never to append-only sites)
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FilesArgs {
    /// Stage only to this site
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, cmd: &UploadCommand) -> Result<Outcome> {
    let _lock = super::backup::backup_lock(ctx)?;
    let mut catalog = ctx.existing_catalog()?;
    let key = unlock_or_create(ctx)?;
    let rt = sites::runtime()?;
    let all_sites = sites::configured_or_default(ctx, true)?;
    let mut out = Out::new(ctx.global.json);
    let mut notes = Vec::new();
    match cmd {
        UploadCommand::Iso(args) => {
            if let Some(n) = &args.site
                && !all_sites
                    .iter()
                    .any(|s| s.name == *n && matches!(s.role, Role::Archive | Role::Both))
            {
                bail!("no archive site named {n} (`lomob site list`)");
            }
            if args.threads == Some(0) {
                bail!("--threads must be at least 1");
            }
            let archives = catalog.archives()?;
            let mut wanted = Vec::new();
            for f in &args.images {
                let canon = std::fs::canonicalize(f).ok();
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                let Some(a) = archives.iter().find(|a| {
                    (canon.is_some() && a.location == canon) || Some(&a.name) == name.as_ref()
                }) else {
                    bail!(
                        "{} is not an image in the catalog (make images with `lomob iso create`)",
                        f.display()
                    );
                };
                let Some(loc) = a.location.clone().filter(|l| l.exists()) else {
                    bail!(
                        "{}: its local file is gone ({}); only images on this disk can be sent",
                        a.name,
                        a.location
                            .as_ref()
                            .map_or("never kept".into(), |l| l.display().to_string())
                    );
                };
                wanted.push(loc);
            }
            let send = SendOptions {
                part_size: args.part_size.unwrap_or(DEFAULT_PART),
                concurrency: args.threads,
                keep_iso: true, // the user's images: never deleted here
                force: args.force,
                storage_class: args.storage_class.clone(),
                only_site: args.site.clone(),
            };
            let p = send_images(ctx, &rt, &mut catalog, &key, &all_sites, &send, |a| {
                a.location.as_ref().is_some_and(|image| {
                    image.exists() && (wanted.is_empty() || wanted.iter().any(|w| w == image))
                })
            })?;
            for n in &p.notes {
                eprintln!("lomob: warning: {n}");
            }
            notes.extend(p.notes);
            out.record_or_line(
                &json!({"archive_copies": p.copies, "bytes": p.bytes, "staged_released": p.released}),
                &format!(
                    "{} copies sent ({}), {} staged copies released",
                    p.copies,
                    human_bytes(p.bytes),
                    p.released
                ),
            )?;
        }
        UploadCommand::Files(args) => {
            let names = Names::new(&key);
            let mut any = false;
            for cfg in all_sites
                .iter()
                .filter(|s| matches!(s.role, Role::Staging | Role::Both))
                .filter(|s| args.site.as_ref().is_none_or(|n| *n == s.name))
            {
                any = true;
                backup::stage_to(
                    ctx,
                    &rt,
                    &mut catalog,
                    &key,
                    &names,
                    cfg,
                    &mut out,
                    &mut notes,
                )?;
            }
            if !any {
                bail!(
                    "no staging site{} (`lomob site list`)",
                    args.site
                        .as_ref()
                        .map(|n| format!(" named {n}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    backup::publish_snapshot(
        ctx,
        &rt,
        &mut catalog,
        &key,
        &all_sites,
        &mut out,
        &mut notes,
    )?;
    out.flush()?;
    Ok(if notes.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
