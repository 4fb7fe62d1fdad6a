//! Staging: each content the catalog has and a staging site lacks goes
//! there as one encrypted object, named by a keyed hash, checked after the
//! upload and only then recorded.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use lomo_catalog::{Catalog, StagedCopy, ToStage};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PutOptions, Uploader};

use super::keys::Names;
use super::sealed::SealedFile;

/// Part size of big objects' multipart uploads.
const ONE_PUT: u64 = 32 << 20;
/// Objects up to this size are sealed in memory and sent in one PUT, several
/// at a time (at most `SMALL_IN_FLIGHT × SMALL` bytes in memory).
const SMALL: u64 = 8 << 20;

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

/// Small objects sent at once.
const SMALL_IN_FLIGHT: usize = 8;

/// One content, ready to send (or why not). One exists at a time, so the
/// variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    Skip(PathBuf, String),
    Small {
        item: ToStage,
        object: String,
        bytes: Bytes,
        opts: PutOptions,
    },
    Big {
        item: ToStage,
        object: String,
        sealed: SealedFile,
        opts: PutOptions,
    },
}

/// Opens and checks a file; small ones are sealed in memory and their
/// plaintext hash checked against the catalog's.
fn prepare(key: &MasterKey, names: &Names, item: ToStage) -> Prepared {
    let Some(hash) = item.file.hash else {
        return Prepared::Skip(item.file.path.clone(), "no content hash".into());
    };
    let path = item.file.path.clone();
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => return Prepared::Skip(path, format!("cannot open: {e}")),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    if len != item.file.size {
        return Prepared::Skip(
            path,
            "changed since the scan (size differs); the next backup picks it up".into(),
        );
    }
    let object = names.staged(&hash);
    let opts =
        PutOptions::default().with_metadata(PLAIN_PREFIX_KEY, crate::output::hex(&hash[..3]));
    let mut sealed = SealedFile::new(key, file, len);
    if sealed.len() > SMALL {
        return Prepared::Big {
            item,
            object,
            sealed,
            opts,
        };
    }
    match sealed.read_all() {
        Err(e) => Prepared::Skip(path, format!("cannot read: {e}")),
        Ok(_) if sealed.plain_hash() != Some(hash) => Prepared::Skip(
            path,
            "changed since the scan; the next backup picks it up".into(),
        ),
        Ok(b) => Prepared::Small {
            item,
            object,
            bytes: Bytes::from(b),
            opts,
        },
    }
}

type Sent = (ToStage, String, lomo_remote::Result<lomo_remote::Verified>);

/// Records a finished upload, or notes why it failed.
fn finish(
    catalog: &mut Catalog,
    site_name: &str,
    bar: &indicatif::ProgressBar,
    out: &mut Staged,
    done: Result<Sent, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    let (item, object, result) = match done {
        Ok(d) => d,
        Err(e) => {
            out.site_error = Some(format!("upload task failed: {e}"));
            return Ok(());
        }
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
            out.skipped
                .push((item.file.path, format!("cannot read: {source}")));
        }
        Err(e) => {
            // The first site-level error stops the site; later ones are the same story.
            if out.site_error.is_none() {
                out.site_error = Some(e.to_string());
            }
        }
    }
    Ok(())
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
    rt.block_on(async {
        // Small objects go up several at a time (requests are latency-bound);
        // big ones one by one, each as a multipart upload.
        let mut in_flight = futures::stream::FuturesUnordered::new();
        for item in todo {
            if out.site_error.is_some() {
                break;
            }
            match prepare(key, names, item) {
                Prepared::Skip(path, why) => out.skipped.push((path, why)),
                Prepared::Small {
                    item,
                    object,
                    bytes,
                    opts,
                } => {
                    let up = up.clone();
                    in_flight.push(tokio::spawn(async move {
                        let r = up.put(&object, bytes, &opts).await;
                        (item, object, r)
                    }));
                    while in_flight.len() >= SMALL_IN_FLIGHT {
                        if let Some(done) = in_flight.next().await {
                            finish(catalog, site_name, &bar, &mut out, done)?;
                        }
                    }
                }
                Prepared::Big {
                    item,
                    object,
                    sealed,
                    opts,
                } => {
                    while let Some(done) = in_flight.next().await {
                        finish(catalog, site_name, &bar, &mut out, done)?;
                    }
                    if out.site_error.is_some() {
                        break;
                    }
                    let Some(hash) = item.file.hash else { continue };
                    let check = sealed.hash_slot();
                    let len = sealed.len();
                    let r = up
                        .upload(&object, len, sealed, ONE_PUT, &opts, |_| Ok(()))
                        .await;
                    if r.is_ok() && check.get() != Some(&hash) {
                        // The file changed while it was read: the object is not that content.
                        let _ = site.delete(&object).await;
                        out.skipped.push((
                            item.file.path.clone(),
                            "changed while being staged; the next backup picks it up".into(),
                        ));
                        continue;
                    }
                    finish(catalog, site_name, &bar, &mut out, Ok((item, object, r)))?;
                }
            }
        }
        while let Some(done) = in_flight.next().await {
            finish(catalog, site_name, &bar, &mut out, done)?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    bar.finish_and_clear();
    Ok(out)
}
