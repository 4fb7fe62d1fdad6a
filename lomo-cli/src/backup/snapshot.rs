//! What a site needs for recovery from it alone: the key file (protected by
//! the passphrase) under `lomob/keys/`, and encrypted catalog snapshots
//! (with the sites as configured) under `lomob/catalog/`, each with a
//! sealed note of its time and hash (`snapmeta`), newest five kept. A site
//! that locks its archives also gets, after each new archive, locked
//! copies of both under dated names (`lomob/locked/`), never pruned: the
//! site alone then allows a recovery to the state of its newest archive,
//! whatever happens to the unlocked ones.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use lomo_catalog::KnownSite;
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, Uploader};
use serde::Serialize;

use super::sealed::SealedFile;
use crate::context::Context;
use crate::error::{IoContext as _, Result};
use crate::sites::{CATALOG_PREFIX, KEYS_PREFIX, LOCKED_PREFIX, SiteConfig};
use crate::snapmeta::{self, META_SUFFIX, SNAPSHOT_SUFFIX, SnapshotMeta};

/// Snapshots kept per site.
const KEEP: usize = 5;

/// What publishing the key file and a catalog snapshot did.
#[derive(Debug, Default, Clone, Serialize)]
#[non_exhaustive]
pub struct SnapshotReport {
    /// Sites that hold the key file and the new snapshot.
    pub sites: usize,
    /// Sites that also got a locked, dated copy of both this time (S3
    /// Object Lock sites, after a new archive).
    pub locked: Vec<String>,
    /// Why the others do not.
    pub problems: Vec<String>,
}

/// The sites as recorded for recovery (no credentials).
fn known(sites: &[SiteConfig]) -> Vec<KnownSite> {
    sites
        .iter()
        .map(|s| KnownSite {
            name: s.name.clone(),
            url: s.url.clone(),
            role: s.role.as_str().to_owned(),
            storage_class: s.storage_class.clone(),
            append_only: s.append_only,
            lock: s.lock.clone(),
            lock_mode: s.lock_mode.map(|m| m.to_string().to_lowercase()),
        })
        .collect()
}

impl Context {
    /// Sends the key file and a catalog snapshot to every configured site
    /// that answers; every backup reaches every site here, which is what
    /// records whether a site is online.
    pub(crate) fn publish(&mut self, key: &MasterKey) -> Result<SnapshotReport> {
        let sites = self.opts.sites.clone();
        self.catalog.set_known_sites(&known(&sites))?;
        let key_path = self.key_file().to_path_buf();
        let key_json = std::fs::read(&key_path).at("read", &key_path)?;
        let mut snap = self.db().as_os_str().to_owned();
        snap.push(".snapshot");
        let snap = std::path::PathBuf::from(snap);
        let _ = std::fs::remove_file(&snap);
        let now = jiff::Timestamp::now();
        self.catalog.set_snapshot_at(now.as_second())?;
        self.catalog.snapshot_to(&snap)?;
        let name = format!(
            "{CATALOG_PREFIX}/{}{SNAPSHOT_SUFFIX}",
            now.strftime("%Y%m%dT%H%M%SZ")
        );
        let meta = SnapshotMeta::of_file(&name, now.as_second(), &snap)?;
        let mut out = SnapshotReport::default();
        for cfg in &sites {
            let site = match self.open_site(cfg) {
                Ok(s) => s,
                Err(e) => {
                    self.record_contact(&cfg.name, Some(&e.to_string()));
                    out.problems
                        .push(format!("site {}: no catalog snapshot: {e}", cfg.name));
                    continue;
                }
            };
            let newest_archive = self.newest_archive_on(&cfg.name)?;
            let sent = Publish {
                site: &site,
                cfg,
                key,
                key_json: &key_json,
            }
            .send(self.rt(), &snap, &meta)
            .and_then(|()| {
                Publish {
                    site: &site,
                    cfg,
                    key,
                    key_json: &key_json,
                }
                .send_locked(self.rt(), &snap, &meta, newest_archive)
            });
            match sent {
                Ok(locked) => {
                    self.record_contact(&cfg.name, None);
                    out.sites += 1;
                    if locked {
                        out.locked.push(cfg.name.clone());
                    }
                }
                Err(e) => {
                    self.record_contact(&cfg.name, Some(&e.to_string()));
                    out.problems
                        .push(format!("site {}: no catalog snapshot: {e}", cfg.name));
                }
            }
            self.record_usage(&cfg.name, &site.usage());
        }
        let _ = std::fs::remove_file(&snap);
        Ok(out)
    }

    /// When the newest archive copy on `site` was completed, if any.
    fn newest_archive_on(&self, site: &str) -> Result<Option<i64>> {
        let mut newest = None;
        for a in self.catalog.archives()? {
            for c in self.catalog.archive_copies(a.id)? {
                if c.site == site {
                    newest = newest.max(c.done_at);
                }
            }
        }
        Ok(newest)
    }
}

/// One site's share of publishing.
struct Publish<'a> {
    site: &'a Arc<dyn Backend>,
    cfg: &'a SiteConfig,
    key: &'a MasterKey,
    key_json: &'a [u8],
}

impl Publish<'_> {
    /// The key file (once), the snapshot, then its sealed note.
    fn send(&self, rt: &tokio::runtime::Runtime, snap: &Path, meta: &SnapshotMeta) -> Result<()> {
        let name = meta.snapshot.as_str();
        let key_object = format!("{KEYS_PREFIX}/{}.json", self.key.id());
        let hot = self.cfg.hot_options();
        if rt.block_on(self.site.head(&key_object)).is_err() {
            rt.block_on(Uploader::new(self.site.clone()).put(
                &key_object,
                Bytes::from(self.key_json.to_vec()),
                &hot,
            ))?;
        }
        let file = std::fs::File::open(snap).at("open", snap)?;
        let len = file.metadata().at("read", snap)?.len();
        let sealed = SealedFile::new(self.key, file, len);
        let total = sealed.len();
        rt.block_on(crate::sites::uploader(self.site).upload(
            name,
            total,
            sealed,
            32 << 20,
            &hot,
            |_| Ok(()),
        ))?;
        rt.block_on(Uploader::new(self.site.clone()).put(
            &format!("{name}{META_SUFFIX}"),
            Bytes::from(meta.seal(self.key)),
            &hot,
        ))?;
        if !self.cfg.append_only {
            self.prune(rt)?;
        }
        Ok(())
    }

    /// On a site that locks its archives: when its newest archive is newer
    /// than its newest locked snapshot (by the dated name), the key file,
    /// the snapshot and its note again under `lomob/locked/`, each written
    /// locked as an archive is and its retention checked.
    fn send_locked(
        &self,
        rt: &tokio::runtime::Runtime,
        snap: &Path,
        meta: &SnapshotMeta,
        newest_archive: Option<i64>,
    ) -> Result<bool> {
        let (Some(lock), Some(archived)) = (self.cfg.archive_lock(), newest_archive) else {
            return Ok(false);
        };
        let folder = format!("{LOCKED_PREFIX}/catalog");
        let listed = crate::sites::list_objects(rt, self.site, &folder)?;
        let newest_locked = listed
            .iter()
            .filter_map(|o| snapmeta::stamp_of(&o.key))
            .max();
        if newest_locked.is_some_and(|t| t >= archived) {
            return Ok(false);
        }
        let stamp = meta
            .snapshot
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(SNAPSHOT_SUFFIX);
        let name = format!("{folder}/{stamp}{SNAPSHOT_SUFFIX}");
        let key_object = format!("{LOCKED_PREFIX}/keys/{}-{stamp}.json", self.key.id());
        let opts = self.cfg.hot_options().with_lock(Some(lock));
        let up = crate::sites::uploader(self.site);
        rt.block_on(up.put(&key_object, Bytes::from(self.key_json.to_vec()), &opts))?;
        let file = std::fs::File::open(snap).at("open", snap)?;
        let len = file.metadata().at("read", snap)?.len();
        let sealed = SealedFile::new(self.key, file, len);
        rt.block_on(up.upload(&name, sealed.len(), sealed, 32 << 20, &opts, |_| Ok(())))?;
        let mut note = meta.clone();
        note.snapshot.clone_from(&name);
        let note_key = format!("{name}{META_SUFFIX}");
        rt.block_on(up.put(&note_key, Bytes::from(note.seal(self.key)), &opts))?;
        for k in [&key_object, &name, &note_key] {
            rt.block_on(crate::sites::lock::ensure(self.site, k, lock))?;
        }
        Ok(true)
    }

    /// Keeps the newest [`KEEP`] snapshots by their notes' time. Objects
    /// without a valid note go only once [`KEEP`] vouched ones are there:
    /// a planted name never pushes a real snapshot out.
    fn prune(&self, rt: &tokio::runtime::Runtime) -> Result<()> {
        let listing = rt.block_on(snapmeta::list(self.site, self.key))?;
        let mut doomed: Vec<String> = Vec::new();
        for m in listing.authentic.iter().skip(KEEP) {
            doomed.push(m.snapshot.clone());
            doomed.push(format!("{}{META_SUFFIX}", m.snapshot));
        }
        if listing.authentic.len() >= KEEP {
            doomed.extend(listing.unvouched);
            doomed.extend(listing.rejected.into_iter().map(|(k, _)| k));
        }
        for k in &doomed {
            rt.block_on(self.site.delete(k))?;
        }
        Ok(())
    }
}
