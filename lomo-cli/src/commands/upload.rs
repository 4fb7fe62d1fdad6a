//! `lomob upload iso|files`: the seed's step-by-step commands on the
//! backup's machinery (see [`lomob::Context::upload_iso`] and
//! [`lomob::Context::upload_files`]).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use lomob::UploadIsoOptions;
use lomob::units::parse_size;
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, human_bytes};

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
    let mut engine = ctx.engine(Open::UPLOAD)?;
    let mut out = Out::new(ctx.global.json);
    let (attention, snapshot) = match cmd {
        UploadCommand::Iso(a) => {
            let mut opts = UploadIsoOptions::default();
            opts.images.clone_from(&a.images);
            opts.part_size = a.part_size;
            opts.threads = a.threads;
            opts.storage_class.clone_from(&a.storage_class);
            opts.site.clone_from(&a.site);
            opts.force = a.force;
            let r = engine.upload_iso(&opts)?;
            let p = &r.archives;
            out.record_or_line(
                &json!({"archive_copies": p.copies, "bytes": p.bytes, "staged_released": p.released}),
                &format!(
                    "{} copies sent ({}), {} staged copies released",
                    p.copies,
                    human_bytes(p.bytes),
                    p.released
                ),
            )?;
            (!p.problems.is_empty(), r.snapshot)
        }
        UploadCommand::Files(a) => {
            let r = engine.upload_files(a.site.as_deref())?;
            let mut attention = false;
            for s in &r.staging {
                super::backup::staging_line(&mut out, s)?;
                attention |= s.needs_attention();
            }
            (attention, r.snapshot)
        }
    };
    super::backup::snapshot_line(&mut out, &snapshot)?;
    out.flush()?;
    Ok(Outcome::from_attention(
        attention || !snapshot.problems.is_empty(),
    ))
}
