//! Packing: full ISO images of the unarchived files, each sealed with a
//! persisted header and sent as a resumable multipart upload to every
//! archive site; once every archive site holds a verified copy, the staged
//! copies of its contents are deleted and the local image goes.
//!
//! The image is built in a work folder beside the catalog first (it needs
//! the pack size in free disk); streaming it without a local copy is not
//! done yet.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use lomo_catalog::{ArchiveCopy, Catalog};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PutOptions, UploadState, Uploader};

use super::sealed::SealedFile;
use crate::commands::Ctx;
use crate::config::{Role, SiteConfig};
use crate::sites;

/// Part size of archive uploads unless told otherwise.
pub(crate) const DEFAULT_PART: u64 = 32 << 20;

/// What packing did.
#[derive(Debug, Default)]
pub(crate) struct Packed {
    pub(crate) images: usize,
    pub(crate) copies: usize,
    pub(crate) bytes: u64,
    pub(crate) released: usize,
    pub(crate) notes: Vec<String>,
}

/// The work folder for images: `<catalog>.pack/` beside the catalog.
pub(crate) fn work_dir(ctx: &Ctx) -> PathBuf {
    let mut name = ctx.db_path().into_os_string();
    name.push(".pack");
    PathBuf::from(name)
}

/// How images go to the archive sites.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    /// Preferred part size of the multipart uploads.
    pub(crate) part_size: u64,
    /// Parts in flight per upload (`None`: the uploader's default).
    pub(crate) concurrency: Option<usize>,
    /// Keep each local image once every archive site has it.
    pub(crate) keep_iso: bool,
    /// Send again to sites that hold a copy already (never to append-only ones).
    pub(crate) force: bool,
    /// Storage class instead of each site's own.
    pub(crate) storage_class: Option<String>,
    /// Send to this archive site only (the others count as they are recorded).
    pub(crate) only_site: Option<String>,
}

/// Packs what fills whole images, sends every image still in the work
/// folder to the archive sites, and releases what is fully archived.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    key: &MasterKey,
    all_sites: &[SiteConfig],
    pack_size: u64,
    send: &SendOptions,
    progress: bool,
) -> Result<Packed> {
    let work = work_dir(ctx);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let work = std::fs::canonicalize(&work)?;
    let images =
        crate::commands::iso_create::create_images(ctx, pack_size, &work, None, progress, true)?
            .len();
    let mut out = send_images(ctx, rt, catalog, key, all_sites, send, |image| {
        image.starts_with(&work)
    })?;
    out.images = images;
    Ok(out)
}

/// Sends the local images `pick` selects (by path) to every archive site
/// that lacks them, resuming recorded uploads; then, for each image every
/// archive site holds, deletes the staged copies of its contents (not on
/// append-only sites) and, unless kept, the local image.
pub(crate) fn send_images(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    key: &MasterKey,
    all_sites: &[SiteConfig],
    send: &SendOptions,
    pick: impl Fn(&Path) -> bool,
) -> Result<Packed> {
    let mut out = Packed::default();
    let archive_sites: Vec<&SiteConfig> = all_sites
        .iter()
        .filter(|s| matches!(s.role, Role::Archive | Role::Both))
        .collect();
    let recorded = recorded_uploads(catalog)?;
    let mut opened: HashMap<String, Option<Arc<dyn Backend>>> = HashMap::new();
    let mut open = |cfg: &SiteConfig, notes: &mut Vec<String>| -> Option<Arc<dyn Backend>> {
        opened
            .entry(cfg.name.clone())
            .or_insert_with(|| match sites::open(ctx, cfg) {
                Ok(s) => {
                    if let Err(e) = abort_orphans(rt, &recorded, &s, &cfg.name) {
                        tracing::warn!(site = %cfg.name, "cannot list pending uploads: {e}");
                    }
                    Some(s)
                }
                Err(e) => {
                    eprintln!(
                        "lomob: warning: site {} skipped: {e:#}; it catches up on a later run",
                        cfg.name
                    );
                    notes.push(format!("site {} skipped: {e:#}", cfg.name));
                    None
                }
            })
            .clone()
    };
    for archive in catalog.archives()? {
        let Some(image) = archive.location.clone().filter(|l| pick(l)) else {
            continue;
        };
        let mut all_done = !archive_sites.is_empty();
        for cfg in &archive_sites {
            if send.only_site.as_ref().is_some_and(|n| *n != cfg.name) {
                let held = catalog
                    .archive_copies(archive.id)?
                    .iter()
                    .any(|c| c.site == cfg.name && c.done_at.is_some());
                all_done &= held;
                continue;
            }
            let Some(site) = open(cfg, &mut out.notes) else {
                all_done = false;
                continue;
            };
            // The site's storage class (e.g. DEEP_ARCHIVE) applies to archives only.
            let class = send
                .storage_class
                .clone()
                .or_else(|| cfg.storage_class.clone());
            let opts = PutOptions::default().with_storage_class(class);
            let force = send.force && !cfg.append_only;
            match send_copy(
                rt,
                catalog,
                key,
                &site,
                &cfg.name,
                &opts,
                archive.id,
                &archive.name,
                &image,
                send,
                force,
            ) {
                Ok(Some(bytes)) => {
                    out.copies += 1;
                    out.bytes += bytes;
                }
                Ok(None) => {}
                Err(e) => {
                    all_done = false;
                    eprintln!(
                        "lomob: warning: archive {} to site {}: {e:#}",
                        archive.name, cfg.name
                    );
                    out.notes.push(format!(
                        "archive {} to site {}: {e:#}",
                        archive.name, cfg.name
                    ));
                }
            }
        }
        if !all_done {
            continue;
        }
        // Every archive site has it: the staged copies and the local image go.
        for hash in catalog.archive_contents(archive.id)? {
            for copy in catalog.staged_copies(&hash)? {
                let Some(cfg) = all_sites.iter().find(|s| s.name == copy.site) else {
                    continue;
                };
                if cfg.append_only {
                    continue;
                }
                let Some(site) = open(cfg, &mut out.notes) else {
                    continue;
                };
                match rt.block_on(site.delete(&copy.key)) {
                    Ok(()) => {
                        catalog.remove_staged(copy.content_id, &copy.site)?;
                        out.released += 1;
                    }
                    Err(e) => out.notes.push(format!(
                        "site {}: cannot delete staged {}: {e}",
                        copy.site, copy.key
                    )),
                }
            }
        }
        if !send.keep_iso {
            std::fs::remove_file(&image)
                .with_context(|| format!("cannot remove {}", image.display()))?;
            catalog.set_archive_location(archive.id, None)?;
        }
    }
    // Once per site: a handle's usage is everything it did, not the last step.
    for (name, site) in &opened {
        if let Some(site) = site {
            sites::record_usage(ctx, name, &site.usage());
        }
    }
    Ok(out)
}

/// Aborts multipart uploads of archives on `site` that the catalog does
/// not know: a run killed after the site created an upload but before the
/// catalog recorded it. (The backup lock says no other run is going.)
fn abort_orphans(
    rt: &tokio::runtime::Runtime,
    recorded: &HashSet<(String, String)>,
    site: &Arc<dyn Backend>,
    site_name: &str,
) -> Result<()> {
    let pending = match rt.block_on(site.list_uploads(ARCHIVES_PREFIX)) {
        Ok(p) => p,
        Err(lomo_remote::Error::Unsupported { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for u in pending {
        if recorded.contains(&(site_name.to_owned(), u.upload_id.clone())) {
            continue;
        }
        tracing::info!(site = site_name, key = %u.key, "aborting an upload a killed run left");
        rt.block_on(site.abort_upload(&u.key, &u.upload_id))?;
    }
    Ok(())
}

/// (site, upload id) of every archive upload the catalog is resuming.
fn recorded_uploads(catalog: &Catalog) -> Result<HashSet<(String, String)>> {
    let mut known = HashSet::new();
    for archive in catalog.archives()? {
        for c in catalog.archive_copies(archive.id)? {
            if let Some(state) = c
                .upload
                .as_deref()
                .and_then(|j| serde_json::from_str::<UploadState>(j).ok())
            {
                known.insert((c.site, state.upload_id));
            }
        }
    }
    Ok(known)
}

/// Where archives live on a site.
pub(crate) const ARCHIVES_PREFIX: &str = "lomob/archives";

/// Sends one archive to one site, resuming a recorded upload. Returns the
/// bytes stored, or `None` when the site had it already.
#[allow(clippy::too_many_arguments)]
fn send_copy(
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    key: &MasterKey,
    site: &Arc<dyn Backend>,
    site_name: &str,
    opts: &PutOptions,
    archive_id: i64,
    name: &str,
    image: &Path,
    send: &SendOptions,
    force: bool,
) -> Result<Option<u64>> {
    let mut existing = catalog
        .archive_copies(archive_id)?
        .into_iter()
        .find(|c| c.site == site_name);
    if let Some(c) = existing.as_mut().filter(|c| c.done_at.is_some()) {
        if !force {
            return Ok(None);
        }
        // Sent again (same header, so the same bytes); recorded once complete.
        c.done_at = None;
        c.upload = None;
    }
    let file =
        std::fs::File::open(image).with_context(|| format!("cannot open {}", image.display()))?;
    let len = file.metadata()?.len();
    let mut copy = match existing {
        Some(c) => c,
        None => {
            let fresh = SealedFile::new(key, file.try_clone()?, len);
            let c = ArchiveCopy {
                archive_id,
                site: site_name.to_owned(),
                key: format!("{ARCHIVES_PREFIX}/{name}.lomo"),
                header: fresh.header_bytes().to_vec(),
                upload: None,
                size: None,
                sha256: None,
                done_at: None,
            };
            catalog.save_archive_copy(&c)?;
            c
        }
    };
    let sealed = SealedFile::with_header(key, &copy.header, file, len)?;
    let total = sealed.len();
    let mut up = Uploader::new(site.clone());
    if let Some(n) = send.concurrency {
        up = up.with_concurrency(n);
    }
    let resumed: Option<UploadState> = copy
        .upload
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    let mut state = match resumed {
        Some(s) if s.size == total => s,
        _ => {
            let s = rt.block_on(up.start(&copy.key, total, send.part_size, opts))?;
            copy.upload = Some(serde_json::to_string(&s)?);
            catalog.save_archive_copy(&copy)?;
            s
        }
    };
    let mut persist = copy.clone();
    let sent = rt.block_on(up.send_parts(&mut state, sealed, |s| {
        persist.upload = serde_json::to_string(s).ok();
        catalog
            .save_archive_copy(&persist)
            .map_err(std::io::Error::other)
    }));
    match sent {
        Ok(()) => {}
        Err(lomo_remote::Error::UploadGone { .. }) => {
            // The site dropped the upload (expired): start over next run.
            copy.upload = None;
            catalog.save_archive_copy(&copy)?;
            anyhow::bail!("the site no longer knows the upload; it starts over on the next run");
        }
        Err(e) => return Err(e.into()),
    }
    let v = rt.block_on(up.complete(&state))?;
    copy.upload = None;
    copy.size = Some(v.size);
    copy.sha256 = v.sha256;
    copy.done_at = Some(lomo_catalog::unix_now());
    catalog.save_archive_copy(&copy)?;
    Ok(Some(v.size))
}
