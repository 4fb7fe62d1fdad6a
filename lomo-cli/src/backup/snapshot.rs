//! What a site needs for recovery from it alone: the key file (protected by
//! the passphrase) under `lomob/keys/`, and encrypted catalog snapshots
//! (with the sites as configured) under `lomob/catalog/`, each with a
//! sealed note of its time and hash (`snapmeta`), newest five kept.

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
use crate::sites::{CATALOG_PREFIX, KEYS_PREFIX, SiteConfig};
use crate::snapmeta::{self, META_SUFFIX, SNAPSHOT_SUFFIX, SnapshotMeta};

/// Snapshots kept per site.
const KEEP: usize = 5;

/// What publishing the key file and a catalog snapshot did.
#[derive(Debug, Default, Clone, Serialize)]
#[non_exhaustive]
pub struct SnapshotReport {
    /// Sites that hold the key file and the new snapshot.
    pub sites: usize,
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
            let sent = Publish {
                site: &site,
                cfg,
                key,
                key_json: &key_json,
            }
            .send(self.rt(), &snap, &meta);
            match sent {
                Ok(()) => {
                    self.record_contact(&cfg.name, None);
                    out.sites += 1;
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
        rt.block_on(Uploader::new(self.site.clone()).upload(
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
