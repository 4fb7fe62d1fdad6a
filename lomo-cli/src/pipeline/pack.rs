//! Packing: full ISO images of the unarchived files, each sealed with a
//! persisted header and sent as a resumable multipart upload to every
//! archive site; once every archive site holds a verified copy, the staged
//! copies of its contents are deleted and the local image goes.
//!
//! Images are not written locally: each is generated from the files it
//! holds as its parts are sent (see `image`), once per archive site, so no
//! free disk is needed and a resumed upload regenerates the same bytes.
//! `--keep-iso` builds the image in a work folder beside the catalog
//! first, as `lomob iso create` does, and keeps it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use lomo_catalog::Catalog;
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PutOptions, UploadState};

use super::image::Stale;
use super::send::{SendOptions, StaleImage, Target, send_archive};
use crate::commands::Ctx;
use crate::config::{Role, SiteConfig};
use crate::sites;

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
    // Images are generated on the fly as they are sent (no local copy),
    // unless a local copy is to be kept.
    let images = crate::commands::iso_create::create_images(
        ctx,
        pack_size,
        &work,
        None,
        progress,
        true,
        send.keep_iso,
    )?
    .len();
    // The backup's images: its own work folder's, and streamed ones (not
    // the images `lomob iso create` left elsewhere for `upload iso`).
    let mut out = send_images(ctx, rt, catalog, key, all_sites, send, |a| {
        a.location.as_ref().is_none_or(|l| l.starts_with(&work))
    })?;
    out.images = images;
    Ok(out)
}

/// Sends the archives `pick` selects to every archive site
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
    pick: impl Fn(&lomo_catalog::Archive) -> bool,
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
    'archives: for archive in catalog.archives()? {
        if !pick(&archive) {
            continue;
        }
        let image = archive.location.clone().filter(|l| l.exists());
        let mut all_done = !archive_sites.is_empty();
        let mut targets = Vec::new();
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
            targets.push(Target {
                cfg,
                site,
                opts: PutOptions::default().with_storage_class(class),
                force: send.force && !cfg.append_only,
            });
        }
        match send_archive(rt, catalog, key, &archive, image.as_deref(), &targets, send) {
            Ok(results) => {
                for (t, r) in targets.iter().zip(results) {
                    match r {
                        Ok(Some(bytes)) => {
                            out.copies += 1;
                            out.bytes += bytes;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            all_done = false;
                            eprintln!(
                                "lomob: warning: archive {} to site {}: {e:#}",
                                archive.name, t.cfg.name
                            );
                            out.notes.push(format!(
                                "archive {} to site {}: {e:#}",
                                archive.name, t.cfg.name
                            ));
                        }
                    }
                }
            }
            Err(e) if e.downcast_ref::<StaleImage>().is_some() => {
                // Its files changed before every site had it: the uploads
                // begun go, and it is planned again.
                if let Some(StaleImage(Stale {
                    content: Some(h), ..
                })) = e.downcast_ref::<StaleImage>()
                {
                    catalog.mark_for_rehash(h)?;
                }
                for c in catalog.archive_copies(archive.id)? {
                    let state = c
                        .upload
                        .as_deref()
                        .and_then(|j| serde_json::from_str::<UploadState>(j).ok());
                    let handle = targets.iter().find(|t| t.cfg.name == c.site);
                    if let (Some(state), Some(t)) = (state, handle) {
                        let _ = rt.block_on(t.site.abort_upload(&state.key, &state.upload_id));
                    }
                }
                let forgotten = catalog.forget_archive(archive.id)?;
                let what = if forgotten {
                    "it is planned again from the next scan"
                } else {
                    "sites lacking it cannot get it any more"
                };
                eprintln!("lomob: warning: archive {}: {e:#}; {what}", archive.name);
                out.notes
                    .push(format!("archive {}: {e:#}; {what}", archive.name));
                continue 'archives;
            }
            Err(e) => {
                all_done = false;
                eprintln!("lomob: warning: archive {}: {e:#}", archive.name);
                out.notes.push(format!("archive {}: {e:#}", archive.name));
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
        if let Some(image) = image.filter(|_| !send.keep_iso) {
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
