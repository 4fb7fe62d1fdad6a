//! Packing: full ISO images of the unarchived files, each sealed with a
//! persisted header and sent as a resumable multipart upload to every
//! archive site; once every archive site holds a verified copy, the staged
//! copies of its contents are deleted and the local image goes.
//!
//! Images are not written locally: each is generated from the files it
//! holds as its parts are sent (see `image`), once for all archive sites,
//! so no free disk is needed and a resumed upload regenerates the same
//! bytes. `--keep-iso` builds the image in a work folder beside the
//! catalog first, as `lomob iso create` does, and keeps it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lomo_catalog::{Archive, Catalog};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, UploadState};
use serde::Serialize;

use super::plan::PlanOptions;
use super::send::{Job, SendOptions, Target, send_archive};
use crate::context::Context;
use crate::error::{Error, IoContext as _, Result};
use crate::progress::{Event, Progress};
use crate::sites::{ARCHIVES_PREFIX, SiteConfig};

/// The catalog's page cache while images are sent (KiB): an image of
/// 200,000 files needs the memory more than the lookups made meanwhile.
const SENDING_CACHE_KIB: u32 = 4_000;

/// What packing and sending archives did.
#[derive(Debug, Default, Clone, Serialize)]
#[non_exhaustive]
pub struct PackReport {
    /// Images planned now.
    pub images: usize,
    /// Archive copies sent and verified now.
    pub copies: usize,
    /// Their stored bytes.
    pub bytes: u64,
    /// Staged copies released because every archive site holds their archive.
    pub released: usize,
    /// What went wrong (sites skipped, uploads that failed, images planned again).
    pub problems: Vec<String>,
}

impl Context {
    /// The work folder for images: `<catalog>.pack/` beside the catalog.
    pub fn work_dir(&self) -> PathBuf {
        let mut name = self.db().as_os_str().to_owned();
        name.push(".pack");
        PathBuf::from(name)
    }

    /// Packs what fills whole images, sends every image of the backup's
    /// (its work folder's, and streamed ones) to the archive sites, and
    /// releases what is fully archived.
    pub(crate) fn pack(
        &mut self,
        key: &MasterKey,
        pack_size: u64,
        send: &SendOptions,
    ) -> Result<PackReport> {
        let work = self.work_dir();
        std::fs::create_dir_all(&work).at("create", &work)?;
        let work = std::fs::canonicalize(&work).at("read", &work)?;
        let images = self
            .plan_images(&PlanOptions {
                max_size: pack_size,
                store: work.clone(),
                name: None,
                full_only: true,
                write: send.keep_iso,
            })?
            .len();
        // Not the images `lomob iso create` left elsewhere for `upload iso`.
        let mut out = self.send_images(key, send, |a| {
            a.location.as_ref().is_none_or(|l| l.starts_with(&work))
        })?;
        out.images = images;
        Ok(out)
    }

    /// Sends the archives `pick` selects to every archive site that lacks
    /// them, resuming recorded uploads; then, for each image every archive
    /// site holds, deletes the staged copies of its contents (not on
    /// append-only sites) and, unless kept, the local image.
    pub(crate) fn send_images(
        &mut self,
        key: &MasterKey,
        send: &SendOptions,
        pick: impl Fn(&Archive) -> bool,
    ) -> Result<PackReport> {
        let sites = self.opts.sites.clone();
        let recorded = recorded_uploads(&self.catalog)?;
        self.catalog.set_cache_kib(SENDING_CACHE_KIB)?;
        let work = self.work_dir();
        let mut sender = Sender {
            rt: &self.rt,
            catalog: &mut self.catalog,
            key,
            sites: &sites,
            send,
            progress: self.progress.as_ref(),
            work,
            cache: SiteCache {
                opened: HashMap::new(),
                recorded,
            },
            out: PackReport::default(),
        };
        let sent = sender
            .catalog
            .archives()
            .map_err(Error::from)
            .and_then(|archives| {
                archives
                    .iter()
                    .filter(|a| pick(a))
                    .try_for_each(|a| sender.archive(a))
            });
        let Sender { cache, out, .. } = sender;
        // back for what follows (a watch runs its next scan on it), also
        // when sending failed
        self.catalog.set_cache_kib(lomo_catalog::CACHE_KIB)?;
        sent?;
        // Once per site: a handle's usage is everything it did, not the last step.
        for (name, site) in cache.opened {
            if let Some(site) = site {
                self.record_usage(&name, &site.usage());
            }
        }
        Ok(out)
    }
}

/// Site handles opened once per run; opening a site also aborts the
/// archive uploads a killed run left there.
struct SiteCache {
    opened: HashMap<String, Option<Arc<dyn Backend>>>,
    recorded: HashSet<(String, String)>,
}

impl SiteCache {
    fn get(
        &mut self,
        rt: &tokio::runtime::Runtime,
        cfg: &SiteConfig,
        progress: &dyn Progress,
        problems: &mut Vec<String>,
    ) -> Option<Arc<dyn Backend>> {
        let recorded = &self.recorded;
        self.opened
            .entry(cfg.name.clone())
            .or_insert_with(|| match crate::sites::open(cfg, Default::default()) {
                Ok(s) => {
                    if let Err(e) = abort_orphans(rt, recorded, &s, &cfg.name) {
                        tracing::warn!(site = %cfg.name, "cannot list pending uploads: {e}");
                    }
                    Some(s)
                }
                Err(e) => {
                    progress.event(&Event::Warning(format!(
                        "site {} skipped: {e}; it catches up on a later run",
                        cfg.name
                    )));
                    problems.push(format!("site {} skipped: {e}", cfg.name));
                    None
                }
            })
            .clone()
    }
}

/// One run of sending archives.
struct Sender<'a> {
    rt: &'a tokio::runtime::Runtime,
    catalog: &'a mut Catalog,
    key: &'a MasterKey,
    sites: &'a [SiteConfig],
    send: &'a SendOptions,
    progress: &'a dyn Progress,
    /// Where temporary files go (parity being computed).
    work: PathBuf,
    cache: SiteCache,
    out: PackReport,
}

impl<'a> Sender<'a> {
    fn problem(&mut self, msg: String) {
        self.progress.event(&Event::Warning(msg.clone()));
        self.out.problems.push(msg);
    }

    /// Sends one archive where it is missing; releases its staged copies
    /// once every archive site holds it.
    fn archive(&mut self, archive: &Archive) -> Result<()> {
        let image = archive.location.clone().filter(|l| l.exists());
        let (targets, mut all_done) = self.targets(archive)?;
        let job = Job {
            archive,
            image: image.as_deref(),
            targets: &targets,
            from: None,
        };
        let sent = send_archive(self.rt, self.catalog, self.key, job, self.send);
        match sent {
            Ok(results) => {
                for (t, r) in targets.iter().zip(results) {
                    match r {
                        Ok(Some(bytes)) => {
                            self.out.copies += 1;
                            self.out.bytes += bytes;
                            if let Err(e) = self.add_parity(t, archive) {
                                self.problem(format!(
                                    "archive {} on site {}: no parity: {e}",
                                    archive.name, t.cfg.name
                                ));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            all_done = false;
                            self.problem(format!(
                                "archive {} to site {}: {e}",
                                archive.name, t.cfg.name
                            ));
                        }
                    }
                }
            }
            Err(Error::StaleImage { why, .. }) if image.is_some() => {
                // A local image that no longer holds the recorded bytes is
                // not sent, and not forgotten: its copies on the sites stay.
                self.abort_uploads(archive, &targets)?;
                self.problem(format!(
                    "archive {}: {why}: the local image changed since it was recorded; it is not sent (the copies on the sites are kept)",
                    archive.name
                ));
                return Ok(());
            }
            Err(Error::StaleImage { why, content, .. }) => {
                return self.replan(archive, &targets, &why, content);
            }
            Err(e) => {
                all_done = false;
                self.problem(format!("archive {}: {e}", archive.name));
            }
        }
        if all_done {
            self.release(archive, image)?;
        }
        Ok(())
    }

    /// The sites to send `archive` to, and whether every archive site
    /// could hold it after this run (false when one is skipped).
    fn targets(&mut self, archive: &Archive) -> Result<(Vec<Target<'a>>, bool)> {
        let sites: &'a [SiteConfig] = self.sites;
        let mut all_done = sites.iter().any(|s| s.role.archives());
        let mut targets = Vec::new();
        let copies = self.catalog.archive_copies(archive.id)?;
        for cfg in sites.iter().filter(|s| s.role.archives()) {
            if self.send.only_site.as_ref().is_some_and(|n| *n != cfg.name) {
                all_done &= copies
                    .iter()
                    .any(|c| c.site == cfg.name && c.done_at.is_some());
                continue;
            }
            let Some(site) = self
                .cache
                .get(self.rt, cfg, self.progress, &mut self.out.problems)
            else {
                all_done = false;
                continue;
            };
            // The site's storage class (e.g. DEEP_ARCHIVE) applies to archives only.
            targets.push(Target {
                cfg,
                site,
                opts: cfg.archive_options(self.send.storage_class.clone()),
                force: self.send.force && !cfg.append_only,
            });
        }
        Ok((targets, all_done))
    }

    /// Its files changed before every site had it: the uploads begun go,
    /// and it is planned again.
    fn replan(
        &mut self,
        archive: &Archive,
        targets: &[Target<'_>],
        why: &str,
        content: Option<[u8; 32]>,
    ) -> Result<()> {
        if let Some(h) = content {
            self.catalog.mark_for_rehash(&h)?;
        }
        self.abort_uploads(archive, targets)?;
        let what = if self.catalog.forget_archive(archive.id)? {
            "it is planned again from the next scan"
        } else {
            "sites lacking it cannot get it any more"
        };
        self.problem(format!("archive {}: {why}; {what}", archive.name));
        Ok(())
    }

    /// Parity beside a copy just stored, on a site configured for it.
    fn add_parity(&mut self, t: &Target<'_>, archive: &Archive) -> Result<()> {
        let Some(share) = t.cfg.parity_share()? else {
            return Ok(());
        };
        let Some(mut copy) = self
            .catalog
            .archive_copies(archive.id)?
            .into_iter()
            .find(|c| c.site == t.cfg.name)
        else {
            return Ok(());
        };
        std::fs::create_dir_all(&self.work).at("create", &self.work)?;
        let key = crate::parity::store(self.rt, &t.site, (&copy, archive.size), share, &self.work)?;
        copy.parity = Some(key);
        self.catalog.save_archive_copy(&copy)?;
        Ok(())
    }

    /// Aborts the uploads of `archive` begun on the targets, forgetting them.
    fn abort_uploads(&mut self, archive: &Archive, targets: &[Target<'_>]) -> Result<()> {
        for mut c in self.catalog.archive_copies(archive.id)? {
            let state = c
                .upload
                .as_deref()
                .and_then(|j| serde_json::from_str::<UploadState>(j).ok());
            let handle = targets.iter().find(|t| t.cfg.name == c.site);
            if let (Some(state), Some(t)) = (state, handle) {
                let _ = self
                    .rt
                    .block_on(t.site.abort_upload(&state.key, &state.upload_id));
                c.upload = None;
                self.catalog.save_archive_copy(&c)?;
            }
        }
        Ok(())
    }

    /// Every archive site has it: the staged copies and the local image go.
    fn release(&mut self, archive: &Archive, image: Option<PathBuf>) -> Result<()> {
        for hash in self.catalog.archive_contents(archive.id)? {
            for copy in self.catalog.staged_copies(&hash)? {
                let Some(cfg) = self.sites.iter().find(|s| s.name == copy.site) else {
                    continue;
                };
                if cfg.append_only {
                    continue;
                }
                let Some(site) =
                    self.cache
                        .get(self.rt, cfg, self.progress, &mut self.out.problems)
                else {
                    continue;
                };
                match self.rt.block_on(site.delete(&copy.key)) {
                    Ok(()) => {
                        self.catalog.remove_staged(copy.content_id, &copy.site)?;
                        self.out.released += 1;
                    }
                    Err(e) => self.out.problems.push(format!(
                        "site {}: cannot delete staged {}: {e}",
                        copy.site, copy.key
                    )),
                }
            }
        }
        if let Some(image) = image.filter(|_| !self.send.keep_iso) {
            if !is_image_of(&image, archive) {
                self.problem(format!(
                    "archive {}: not removing {}: not a plain path to a file named {} (the catalog's record of it is odd)",
                    archive.name,
                    image.display(),
                    archive.name
                ));
                return Ok(());
            }
            std::fs::remove_file(&image).at("remove", &image)?;
            self.catalog.set_archive_location(archive.id, None)?;
        }
        Ok(())
    }
}

/// Whether `image` is a plain path (absolute, no `..`, no symlink on the
/// way: what canonicalising gives back) to a file named as `archive`: only
/// such a file is removed once archived.
fn is_image_of(image: &Path, archive: &Archive) -> bool {
    let canonical = std::fs::canonicalize(image).ok();
    canonical.as_deref() == Some(image)
        && image.file_name().and_then(|n| n.to_str()) == Some(archive.name.as_str())
        && std::fs::symlink_metadata(image).is_ok_and(|m| m.is_file())
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
