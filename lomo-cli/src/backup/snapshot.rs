//! What a site needs for recovery from it alone: the key file (protected by
//! the passphrase) under `lomob/keys/`, and encrypted catalog snapshots
//! (with the sites as configured) under `lomob/catalog/`, newest five kept.

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
        self.catalog.snapshot_to(&snap)?;
        let name = format!(
            "{CATALOG_PREFIX}/{}.db.lomo",
            jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
        );
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
            .send(self.rt(), &snap, &name);
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
    fn send(&self, rt: &tokio::runtime::Runtime, snap: &Path, name: &str) -> Result<()> {
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
        if !self.cfg.append_only {
            self.prune(rt)?;
        }
        Ok(())
    }

    /// Keeps the newest [`KEEP`] snapshots.
    fn prune(&self, rt: &tokio::runtime::Runtime) -> Result<()> {
        let mut old: Vec<String> = rt
            .block_on(futures::TryStreamExt::try_collect::<Vec<_>>(
                self.site.list(CATALOG_PREFIX),
            ))?
            .into_iter()
            .map(|o| o.key)
            .filter(|k| k.ends_with(".db.lomo"))
            .collect();
        old.sort();
        let drop = old.len().saturating_sub(KEEP);
        for k in &old[..drop] {
            rt.block_on(self.site.delete(k))?;
        }
        Ok(())
    }
}
