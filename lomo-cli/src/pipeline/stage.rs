//! Staging: each content the catalog has and a staging site lacks goes
//! there as one encrypted object, named by a keyed hash, checked after the
//! upload and only then recorded.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use lomo_catalog::{Catalog, StagedCopy};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PutOptions, Uploader};

use super::keys::Names;
use super::sealed::SealedFile;

/// Objects up to this size are sealed in memory and sent in one PUT.
const ONE_PUT: u64 = 32 << 20;

/// Metadata key holding the first 6 hex digits of the plaintext BLAKE3 (the
/// seed's listing shows them; the full hash is never stored on a site).
pub(crate) const PLAIN_PREFIX_KEY: &str = "plain";

/// Where staged objects live on a site.
pub(crate) const STAGING_PREFIX: &str = "lomob/staging";

/// What staging to one site did.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
    /// Files that could not be staged (changed since the scan, unreadable).
    pub(crate) skipped: Vec<(PathBuf, String)>,
    /// Why the site was given up on (offline, full, denied), if it was.
    pub(crate) site_error: Option<String>,
}

/// Stages what `site` lacks. Per-file problems are collected; a site-level
/// failure stops this site and is returned in [`Staged::site_error`].
pub(crate) fn stage_site(
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    key: &MasterKey,
    names: &Names,
    site_name: &str,
    site: &Arc<dyn Backend>,
    progress: bool,
) -> anyhow::Result<Staged> {
    let mut out = Staged::default();
    // Uploads a killed run left behind (the backup lock says no other run is
    // going): abort them, so no site keeps paying for orphaned parts.
    match rt.block_on(site.list_uploads(STAGING_PREFIX)) {
        Ok(pending) => {
            for u in pending {
                tracing::info!(site = site_name, key = %u.key, "aborting an upload a killed run left");
                if let Err(e) = rt.block_on(site.abort_upload(&u.key, &u.upload_id)) {
                    out.site_error = Some(e.to_string());
                    return Ok(out);
                }
            }
        }
        Err(lomo_remote::Error::Unsupported { .. }) => {}
        Err(e) => {
            out.site_error = Some(e.to_string());
            return Ok(out);
        }
    }
    let todo = catalog.to_stage(site_name)?;
    let total: u64 = todo.iter().map(|t| t.file.size).sum();
    let bar = crate::progress::bytes_bar(&format!("staging to {site_name}"), total, progress);
    let up = Uploader::new(site.clone());
    for item in todo {
        let Some(hash) = item.file.hash else { continue };
        let path = item.file.path.clone();
        let object = names.staged(&hash);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                out.skipped.push((path, format!("cannot open: {e}")));
                continue;
            }
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        if len != item.file.size {
            out.skipped.push((
                path,
                "changed since the scan (size differs); the next backup picks it up".into(),
            ));
            continue;
        }
        let plain_prefix = crate::output::hex(&hash[..3]);
        let opts = PutOptions::default().with_metadata(PLAIN_PREFIX_KEY, plain_prefix);
        let mut sealed = SealedFile::new(key, file, len);
        let sealed_len = sealed.len();
        let result = if sealed_len <= ONE_PUT {
            let bytes = match sealed.read_all() {
                Ok(b) => b,
                Err(e) => {
                    out.skipped.push((path, format!("cannot read: {e}")));
                    continue;
                }
            };
            if sealed.plain_hash() != Some(hash) {
                out.skipped.push((
                    path,
                    "changed since the scan; the next backup picks it up".into(),
                ));
                continue;
            }
            rt.block_on(up.put(&object, Bytes::from(bytes), &opts))
        } else {
            let check = sealed.hash_slot();
            let r = rt.block_on(up.upload(&object, sealed_len, sealed, ONE_PUT, &opts, |_| Ok(())));
            if r.is_ok() && check.get() != Some(&hash) {
                // The file changed while it was read: the object is not that content.
                let _ = rt.block_on(site.delete(&object));
                out.skipped.push((
                    path,
                    "changed while being staged; the next backup picks it up".into(),
                ));
                continue;
            }
            r
        };
        match result {
            Ok(v) => {
                catalog.record_staged(&StagedCopy {
                    content_id: item.content_id,
                    site: site_name.to_owned(),
                    key: object,
                    size: v.size,
                    sha256: v.sha256,
                    staged_at: lomo_catalog::unix_now(),
                })?;
                out.objects += 1;
                out.bytes += v.size;
                bar.inc(item.file.size);
            }
            Err(lomo_remote::Error::Source { source, .. }) => {
                out.skipped.push((path, format!("cannot read: {source}")));
            }
            Err(e) => {
                out.site_error = Some(e.to_string());
                break;
            }
        }
    }
    bar.finish_and_clear();
    Ok(out)
}
