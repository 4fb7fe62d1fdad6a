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
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use lomo_catalog::{ArchiveCopy, Catalog};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PutOptions, UploadState, Uploader};

use super::image::{ImageSource, Stale};
use super::sealed::{ReadAt, SealedFile};
use crate::commands::Ctx;
use crate::config::{Role, SiteConfig};
use crate::sites;

/// Part size of archive uploads unless told otherwise.
pub(crate) const DEFAULT_PART: u64 = 32 << 20;
/// Most parts an archive upload is cut into (a 5 GB image: 90 parts of
/// 54 MiB, 92 PUT-class requests with its create and complete).
const MAX_PARTS: u64 = 90;
/// Part buffers in memory at once stay under this (parts in flight × size).
const PART_MEMORY: u64 = 192 << 20;

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
                cfg,
                &opts,
                &archive,
                image.as_deref(),
                send,
                force,
            ) {
                Ok(Some(bytes)) => {
                    out.copies += 1;
                    out.bytes += bytes;
                }
                Ok(None) => {}
                Err(e) if e.downcast_ref::<StaleImage>().is_some() => {
                    // Its files changed before every site had it: the
                    // uploads begun go, and it is planned again.
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
                        let handle = all_sites
                            .iter()
                            .find(|s| s.name == c.site)
                            .and_then(|cfg| open(cfg, &mut Vec::new()));
                        if let (Some(state), Some(site)) = (state, handle) {
                            let _ = rt.block_on(site.abort_upload(&state.key, &state.upload_id));
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

/// An image whose files changed since they were planned into it: it is
/// forgotten (when no site holds it) and planned again from the next scan.
#[derive(Debug)]
struct StaleImage(Stale);

impl StaleImage {
    fn error(why: String) -> anyhow::Error {
        anyhow::Error::new(StaleImage(Stale { why, content: None }))
    }
}

impl std::fmt::Display for StaleImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.why)
    }
}

impl std::error::Error for StaleImage {}

/// Sends one archive to one site, resuming a recorded upload: from the
/// local image file when there is one, else generated on the fly from the
/// files it holds. Returns the bytes stored, or `None` when the site had
/// it already.
#[allow(clippy::too_many_arguments)]
fn send_copy(
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    key: &MasterKey,
    site: &Arc<dyn Backend>,
    cfg: &SiteConfig,
    opts: &PutOptions,
    archive: &lomo_catalog::Archive,
    image: Option<&Path>,
    send: &SendOptions,
    force: bool,
) -> Result<Option<u64>> {
    let site_name = cfg.name.as_str();
    let mut existing = catalog
        .archive_copies(archive.id)?
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
    let copy = match existing {
        Some(c) => c,
        None => {
            // A site configured unencrypted gets the plain image, named as
            // an ISO, that mounts anywhere; its copy has no header.
            let (name, header) = if cfg.encrypt {
                (
                    format!("{ARCHIVES_PREFIX}/{}.lomo", archive.name),
                    super::sealed::fresh_header(key).to_vec(),
                )
            } else {
                (format!("{ARCHIVES_PREFIX}/{}", archive.name), Vec::new())
            };
            let c = ArchiveCopy {
                archive_id: archive.id,
                site: site_name.to_owned(),
                key: name,
                header,
                upload: None,
                size: None,
                sha256: None,
                done_at: None,
            };
            catalog.save_archive_copy(&c)?;
            c
        }
    };
    if let Some(path) = image {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.metadata()?.len();
        let stored = Stored::new(key, &copy.header, file, len)?;
        return upload_copy(rt, catalog, site, opts, archive, copy, stored, send);
    }
    let entries = catalog.archive_entries(archive.id)?;
    let source = ImageSource::new(&archive.name, entries)
        .map_err(|e| StaleImage::error(format!("{e:#}")))?;
    if source.len() != archive.size {
        return Err(StaleImage::error(format!(
            "image {} would be {} bytes, {} recorded",
            archive.name,
            source.len(),
            archive.size
        )));
    }
    let stale = source.stale();
    let len = source.len();
    let stored = Stored::new(key, &copy.header, source, len)?;
    let sent = upload_copy(rt, catalog, site, opts, archive, copy, stored, send);
    if sent.is_err()
        && let Some(why) = stale
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    {
        return Err(anyhow::Error::new(StaleImage(why)));
    }
    sent
}

/// An archive's bytes as one site stores them: sealed under the copy's
/// header, or plain when the copy has none (an unencrypted site).
enum Stored<P> {
    Sealed(Box<SealedFile<P>>),
    Plain(P, u64),
}

impl<P: ReadAt> Stored<P> {
    fn new(key: &MasterKey, header: &[u8], plain: P, len: u64) -> Result<Stored<P>> {
        Ok(if header.is_empty() {
            Stored::Plain(plain, len)
        } else {
            Stored::Sealed(Box::new(SealedFile::with_header(key, header, plain, len)?))
        })
    }

    fn len(&self) -> u64 {
        match self {
            Stored::Sealed(s) => s.len(),
            Stored::Plain(_, len) => *len,
        }
    }

    /// Where the plain image's BLAKE3 appears after a whole pass in order.
    fn hash_slot(&self) -> Option<Arc<std::sync::OnceLock<[u8; 32]>>> {
        match self {
            Stored::Sealed(s) => Some(s.hash_slot()),
            Stored::Plain(..) => None,
        }
    }
}

impl<P: ReadAt> lomo_remote::PartSource for Stored<P> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Stored::Sealed(s) => s.read_at(offset, buf),
            Stored::Plain(p, _) => p.read_exact_at(buf, offset),
        }
    }
}

/// The multipart upload of one archive copy, resumed from its recorded
/// state; records the copy once the site verified it.
#[allow(clippy::too_many_arguments)]
fn upload_copy<P: ReadAt>(
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    site: &Arc<dyn Backend>,
    opts: &PutOptions,
    archive: &lomo_catalog::Archive,
    mut copy: ArchiveCopy,
    stored: Stored<P>,
    send: &SendOptions,
) -> Result<Option<u64>> {
    let total = stored.len();
    let hash = stored.hash_slot();
    // Big images get bigger parts, so one costs at most MAX_PARTS + 2
    // PUT-class requests; parts in flight keep their buffers under
    // PART_MEMORY.
    let part_size = send
        .part_size
        .max(total.div_ceil(MAX_PARTS).next_multiple_of(1 << 20));
    let concurrency = send
        .concurrency
        .unwrap_or_else(|| usize::try_from((PART_MEMORY / part_size).clamp(1, 4)).unwrap_or(1));
    let up = Uploader::new(site.clone()).with_concurrency(concurrency);
    let resumed: Option<UploadState> = copy
        .upload
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    let mut state = match resumed {
        Some(s) if s.size == total => s,
        _ => {
            let s = rt.block_on(up.start(&copy.key, total, part_size, opts))?;
            copy.upload = Some(serde_json::to_string(&s)?);
            catalog.save_archive_copy(&copy)?;
            s
        }
    };
    let mut persist = copy.clone();
    let sent = rt.block_on(up.send_parts(&mut state, stored, |s| {
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
    // A first whole pass over the image gives its BLAKE3.
    if archive.blake3 == [0; 32]
        && let Some(h) = hash.as_ref().and_then(|h| h.get())
    {
        catalog.set_archive_hash(archive.id, h)?;
    }
    Ok(Some(v.size))
}
