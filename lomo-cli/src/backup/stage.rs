//! Staging: each content the catalog has and a staging site lacks goes
//! there as one encrypted object, named by a keyed hash, checked after the
//! upload and only then recorded.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use lomo_catalog::{Catalog, StagedCopy, ToStage};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PutOptions, Uploader};
use serde::Serialize;

use super::sealed::SealedFile;
use crate::error::Result;
use crate::keys::Names;
use crate::progress::{Bar, Progress, Task, TaskKind};
use crate::sites::STAGING_PREFIX;

/// Part size of big objects' multipart uploads.
const ONE_PUT: u64 = 32 << 20;
/// Objects up to this size are sealed in memory and sent in one PUT, several
/// at a time (at most `SMALL_IN_FLIGHT × SMALL` bytes in memory).
const SMALL: u64 = 8 << 20;
/// Small objects sent at once.
const SMALL_IN_FLIGHT: usize = 8;

/// What staging to one site did.
#[derive(Debug, Default, Clone, Serialize)]
#[non_exhaustive]
pub struct StagingReport {
    /// The site.
    pub site: String,
    /// Objects staged now.
    pub staged: u64,
    /// Their stored bytes.
    pub bytes: u64,
    /// Files that could not be staged (changed since the scan, unreadable), and why.
    pub skipped: Vec<(PathBuf, String)>,
    /// Contents still waiting for this site.
    pub left: usize,
    /// Why the site was given up on (offline, full, denied), if it was.
    pub error: Option<String>,
    /// Why the site could not be opened at all (an unmounted disk).
    pub offline: Option<String>,
}

impl StagingReport {
    /// Whether something here needs attention.
    pub fn needs_attention(&self) -> bool {
        !self.skipped.is_empty() || self.error.is_some() || self.offline.is_some()
    }
}

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

/// What staging needs besides the catalog: the key, the names it gives,
/// how objects are written, and where progress goes.
pub(crate) struct Stager<'a> {
    pub(crate) key: &'a MasterKey,
    pub(crate) names: &'a Names,
    pub(crate) opts: PutOptions,
    pub(crate) progress: &'a dyn Progress,
}

type Sent = (ToStage, String, lomo_remote::Result<lomo_remote::Verified>);

impl Stager<'_> {
    /// Opens and checks a file; small ones are sealed in memory and their
    /// plaintext hash checked against the catalog's.
    fn prepare(&self, item: ToStage) -> Prepared {
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
        let object = self.names.staged(&hash);
        // No metadata about the plaintext: with the exact size, even a few
        // bits of its hash would let the provider confirm a known photo.
        let opts = self.opts.clone();
        let mut sealed = SealedFile::new(self.key, file, len);
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

    /// Stages what `site` lacks. Per-file problems are collected; a
    /// site-level failure stops this site and is returned in
    /// [`StagingReport::error`].
    pub(crate) fn stage_site(
        &self,
        rt: &tokio::runtime::Runtime,
        catalog: &mut Catalog,
        site_name: &str,
        site: &Arc<dyn Backend>,
    ) -> Result<StagingReport> {
        let mut out = StagingReport {
            site: site_name.to_owned(),
            ..StagingReport::default()
        };
        if let Err(e) = rt.block_on(abort_left_uploads(site, site_name)) {
            out.error = Some(e.to_string());
            return Ok(out);
        }
        let todo = catalog.to_stage(site_name)?;
        self.stage_items(rt, catalog, (site_name, site), todo, &mut out)?;
        out.left = catalog.to_stage_count(site_name)?;
        Ok(out)
    }

    /// Stages `todo` (also contents staged already: a repair replaces them).
    pub(crate) fn stage_items(
        &self,
        rt: &tokio::runtime::Runtime,
        catalog: &mut Catalog,
        (site_name, site): (&str, &Arc<dyn Backend>),
        todo: Vec<ToStage>,
        out: &mut StagingReport,
    ) -> Result<()> {
        let total: u64 = todo.iter().map(|t| t.file.size).sum();
        let label = format!("staging to {site_name}");
        let bar = self.progress.start(&Task {
            kind: TaskKind::Stage,
            label: &label,
            total: Some(total),
        });
        let mut run = Run {
            catalog,
            site_name,
            bar: bar.as_ref(),
            out,
        };
        rt.block_on(self.send_all(&mut run, site, todo))?;
        bar.finish();
        Ok(())
    }

    /// Small objects go up several at a time (requests are latency-bound);
    /// big ones one by one, each as a multipart upload.
    async fn send_all(
        &self,
        run: &mut Run<'_>,
        site: &Arc<dyn Backend>,
        todo: Vec<ToStage>,
    ) -> Result<()> {
        let up = crate::sites::uploader(site);
        let mut in_flight = FuturesUnordered::new();
        for item in todo {
            if run.out.error.is_some() {
                break;
            }
            match self.prepare(item) {
                Prepared::Skip(path, why) => run.out.skipped.push((path, why)),
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
                            run.finish(done)?;
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
                        run.finish(done)?;
                    }
                    if run.out.error.is_some() {
                        break;
                    }
                    send_big(run, &up, site, (item, object, sealed, opts)).await?;
                }
            }
        }
        while let Some(done) = in_flight.next().await {
            run.finish(done)?;
        }
        Ok(())
    }
}

/// One big object as a multipart upload; an object whose file changed
/// while it was read is deleted again, not recorded.
async fn send_big(
    run: &mut Run<'_>,
    up: &Uploader,
    site: &Arc<dyn Backend>,
    (item, object, sealed, opts): (ToStage, String, SealedFile, PutOptions),
) -> Result<()> {
    let Some(hash) = item.file.hash else {
        return Ok(());
    };
    let check = sealed.hash_slot();
    let len = sealed.len();
    let r = up
        .upload(&object, len, sealed, ONE_PUT, &opts, |_| Ok(()))
        .await;
    if r.is_ok() && check.get() != Some(&hash) {
        let _ = site.delete(&object).await;
        run.out.skipped.push((
            item.file.path.clone(),
            "changed while being staged; the next backup picks it up".into(),
        ));
        return Ok(());
    }
    run.finish(Ok((item, object, r)))
}

/// Uploads a killed run left behind (the backup lock says no other run is
/// going): aborted, so no site keeps paying for orphaned parts.
async fn abort_left_uploads(site: &Arc<dyn Backend>, site_name: &str) -> lomo_remote::Result<()> {
    let pending = match site.list_uploads(STAGING_PREFIX).await {
        Ok(p) => p,
        Err(lomo_remote::Error::Unsupported { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    for u in pending {
        tracing::info!(site = site_name, key = %u.key, "aborting an upload a killed run left");
        site.abort_upload(&u.key, &u.upload_id).await?;
    }
    Ok(())
}

/// One site's staging run in progress.
struct Run<'a> {
    catalog: &'a mut Catalog,
    site_name: &'a str,
    bar: &'a dyn Bar,
    out: &'a mut StagingReport,
}

impl Run<'_> {
    /// Records a finished upload, or notes why it failed.
    fn finish(&mut self, done: std::result::Result<Sent, tokio::task::JoinError>) -> Result<()> {
        let (item, object, result) = match done {
            Ok(d) => d,
            Err(e) => {
                self.out.error = Some(format!("upload task failed: {e}"));
                return Ok(());
            }
        };
        match result {
            Ok(v) => {
                self.catalog.record_staged(&StagedCopy {
                    content_id: item.content_id,
                    site: self.site_name.to_owned(),
                    key: object,
                    size: v.size,
                    sha256: v.sha256,
                    staged_at: lomo_catalog::unix_now(),
                    etag: v.etag,
                })?;
                self.out.staged += 1;
                self.out.bytes += v.size;
                self.bar.inc(item.file.size);
            }
            Err(lomo_remote::Error::Source { source, .. }) => {
                self.out
                    .skipped
                    .push((item.file.path, format!("cannot read: {source}")));
            }
            Err(e) => {
                // The first site-level error stops the site; later ones are the same story.
                if self.out.error.is_none() {
                    self.out.error = Some(e.to_string());
                }
            }
        }
        Ok(())
    }
}
