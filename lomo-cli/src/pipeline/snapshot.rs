//! What a site needs for recovery from it alone: the key file (protected by
//! the passphrase) under `lomob/keys/`, and encrypted catalog snapshots
//! (with the sites as configured) under `lomob/catalog/`, newest five kept.

use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use lomo_catalog::{Catalog, KnownSite};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PutOptions, Uploader};

use super::sealed::SealedFile;
use crate::commands::Ctx;
use crate::config::SiteConfig;
use crate::sites;

/// Snapshots kept per site.
const KEEP: usize = 5;
/// Where snapshots live on a site.
pub(crate) const CATALOG_PREFIX: &str = "lomob/catalog";
/// Where key files live on a site.
pub(crate) const KEYS_PREFIX: &str = "lomob/keys";

/// Sends the key file and a catalog snapshot to every reachable site;
/// returns the sites done and notes about the others.
pub(crate) fn publish(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    key: &MasterKey,
    all_sites: &[SiteConfig],
) -> Result<(usize, Vec<String>)> {
    catalog.set_known_sites(
        &all_sites
            .iter()
            .map(|s| KnownSite {
                name: s.name.clone(),
                url: s.url.clone(),
                role: s.role.as_str().to_owned(),
                storage_class: s.storage_class.clone(),
                append_only: s.append_only,
            })
            .collect::<Vec<_>>(),
    )?;
    let key_path = super::keys::key_file_path(ctx)?;
    let key_json =
        std::fs::read(&key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
    let mut snap = ctx.db_path().into_os_string();
    snap.push(".snapshot");
    let snap = std::path::PathBuf::from(snap);
    let _ = std::fs::remove_file(&snap);
    catalog.snapshot_to(&snap)?;
    let name = format!(
        "{CATALOG_PREFIX}/{}.db.lomo",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    );
    let mut done = 0;
    let mut notes = Vec::new();
    for cfg in all_sites {
        // Every backup reaches every site here: what says whether it is online.
        let site = match sites::open(ctx, cfg) {
            Ok(s) => s,
            Err(e) => {
                sites::record_contact(catalog, &cfg.name, Some(&format!("{e:#}")));
                notes.push(format!("site {}: no catalog snapshot: {e:#}", cfg.name));
                continue;
            }
        };
        match send(rt, &site, cfg, key, &key_json, &snap, &name) {
            Ok(()) => {
                sites::record_contact(catalog, &cfg.name, None);
                done += 1;
            }
            Err(e) => {
                sites::record_contact(catalog, &cfg.name, Some(&format!("{e:#}")));
                notes.push(format!("site {}: no catalog snapshot: {e:#}", cfg.name));
            }
        }
        sites::record_usage(ctx, &cfg.name, &site.usage());
    }
    let _ = std::fs::remove_file(&snap);
    Ok((done, notes))
}

fn send(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    cfg: &SiteConfig,
    key: &MasterKey,
    key_json: &[u8],
    snap: &std::path::Path,
    name: &str,
) -> Result<()> {
    let key_object = format!("{KEYS_PREFIX}/{}.json", key.id());
    if rt.block_on(site.head(&key_object)).is_err() {
        rt.block_on(Uploader::new(site.clone()).put(
            &key_object,
            Bytes::from(key_json.to_vec()),
            &hot(cfg),
        ))?;
    }
    let file = std::fs::File::open(snap)?;
    let len = file.metadata()?.len();
    let sealed = SealedFile::new(key, file, len);
    let total = sealed.len();
    rt.block_on(Uploader::new(site.clone()).upload(
        name,
        total,
        sealed,
        32 << 20,
        &hot(cfg),
        |_| Ok(()),
    ))?;
    if !cfg.append_only {
        let mut old: Vec<String> = rt
            .block_on(futures::TryStreamExt::try_collect::<Vec<_>>(
                site.list(CATALOG_PREFIX),
            ))?
            .into_iter()
            .map(|o| o.key)
            .filter(|k| k.ends_with(".db.lomo"))
            .collect();
        old.sort();
        let drop = old.len().saturating_sub(KEEP);
        for k in &old[..drop] {
            rt.block_on(site.delete(k))?;
        }
    }
    Ok(())
}

/// Snapshots and keys stay in a hot class even at a cold site.
fn hot(cfg: &SiteConfig) -> PutOptions {
    let s3 = cfg.url.starts_with("s3://");
    PutOptions::default().with_storage_class(s3.then(|| "STANDARD".to_owned()))
}
