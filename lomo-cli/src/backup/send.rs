//! Sending one archive to its archive sites at once: each site's copy is
//! a resumable multipart upload (sealed under that copy's own header, or
//! plain on an unencrypted site), all fed from one pass over the image —
//! the local image file, or the image generated from its files, whose
//! blocks are made once and shared while the sites' uploads progress
//! together.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use lomo_catalog::{Archive, ArchiveCopy, Catalog};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, PartSource, PutOptions, UploadState, Uploader};

use super::blocks::{BlockLedger, BlockPool, Producer, RemoteCopy, SharedImage};
use super::image::ImageSource;
use super::sealed::{ReadAt, SealedFile};
use crate::error::{CryptContext as _, Error, IoContext as _, Result, fail};
use crate::sites::{ARCHIVES_PREFIX, SiteConfig};

/// Part size of archive uploads unless told otherwise.
pub(crate) const DEFAULT_PART: u64 = 32 << 20;
/// Most parts an archive upload is cut into (a 5 GB image: 90 parts of
/// 54 MiB, 92 PUT-class requests with its create and complete).
const MAX_PARTS: u64 = 90;
/// Part buffers in memory at once, all sites together, stay under this.
const PART_MEMORY: u64 = 128 << 20;

/// How images go to the archive sites.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    /// Preferred part size of the multipart uploads.
    pub(crate) part_size: u64,
    /// Parts in flight per upload (`None`: what the memory bound allows).
    pub(crate) concurrency: Option<usize>,
    /// Keep each local image once every archive site has it.
    pub(crate) keep_iso: bool,
    /// Send again to sites that hold a copy already (never to append-only ones).
    pub(crate) force: bool,
    /// Storage class instead of each site's own.
    pub(crate) storage_class: Option<String>,
    /// Send to this archive site only (the others count as they are recorded).
    pub(crate) only_site: Option<String>,
    /// Block buffers shared by the images sent with these options.
    pub(crate) blocks: BlockPool,
}

impl Default for SendOptions {
    fn default() -> SendOptions {
        SendOptions {
            part_size: DEFAULT_PART,
            concurrency: None,
            keep_iso: false,
            force: false,
            storage_class: None,
            only_site: None,
            blocks: BlockPool::default(),
        }
    }
}

/// One site to send an archive to.
pub(crate) struct Target<'a> {
    pub(crate) cfg: &'a SiteConfig,
    pub(crate) site: Arc<dyn Backend>,
    pub(crate) opts: PutOptions,
    pub(crate) force: bool,
}

/// An image whose files changed since they were planned into it: it is
/// forgotten (when no site holds it) and planned again from the next scan.
fn stale(archive: &str, why: String) -> Error {
    Error::StaleImage {
        archive: archive.to_owned(),
        why,
        content: None,
    }
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
            Stored::Sealed(Box::new(
                SealedFile::with_header(key, header, plain, len)
                    .what(|| "the archive copy's recorded header".to_owned())?,
            ))
        })
    }

    fn len(&self) -> u64 {
        match self {
            Stored::Sealed(s) => s.len(),
            Stored::Plain(_, len) => *len,
        }
    }

    /// Where the plain image's BLAKE3 appears after a whole pass in order.
    fn hash_slot(&self) -> Option<Arc<OnceLock<[u8; 32]>>> {
        match self {
            Stored::Sealed(s) => Some(s.hash_slot()),
            Stored::Plain(..) => None,
        }
    }
}

impl<P: ReadAt> PartSource for Stored<P> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Stored::Sealed(s) => s.read_at(offset, buf),
            Stored::Plain(p, _) => p.read_exact_at(buf, offset),
        }
    }
}

/// The copy record of `archive` on `cfg`'s site: the existing one (reset
/// when sending again), or a new one with a fresh header (none on an
/// unencrypted site). `None`: the site holds it and is not to get it again.
fn copy_record(
    catalog: &mut Catalog,
    key: &MasterKey,
    archive: &Archive,
    cfg: &SiteConfig,
    force: bool,
) -> Result<Option<ArchiveCopy>> {
    let existing = catalog
        .archive_copies(archive.id)?
        .into_iter()
        .find(|c| c.site == cfg.name);
    if let Some(mut c) = existing {
        if c.done_at.is_some() {
            if !force {
                return Ok(None);
            }
            // Sent again under the same header, so the same bytes (every
            // block is proven identical to the first pass); the copy there
            // stays recorded until the new one completes.
            c.upload = None;
        }
        return Ok(Some(c));
    }
    // A site configured unencrypted gets the plain image, named as an ISO,
    // that mounts anywhere; its copy has no header.
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
        site: cfg.name.clone(),
        key: name,
        header,
        upload: None,
        size: None,
        sha256: None,
        done_at: None,
        etag: None,
        verified_at: None,
        parity: None,
    };
    catalog.save_archive_copy(&c)?;
    Ok(Some(c))
}

/// One archive to send: the archive, its local image file if one is
/// kept, and the sites that are to hold it.
pub(crate) struct Job<'a, 't> {
    pub(crate) archive: &'a Archive,
    pub(crate) image: Option<&'a Path>,
    pub(crate) targets: &'a [Target<'t>],
    /// Read the image from another site's copy instead (a repair).
    pub(crate) from: Option<RemoteCopy>,
}

/// An archive's plain bytes for its uploads: one shared image, every
/// block proven identical to the first pass (see `blocks`).
struct Feed {
    shared: SharedImage,
    len: u64,
}

impl Feed {
    fn open(catalog: &Catalog, job: Job<'_, '_>, readers: usize, pool: &BlockPool) -> Result<Feed> {
        let archive = job.archive;
        let ledger = BlockLedger::open(catalog.path(), archive.id)?;
        let producer = match (job.from, job.image) {
            (Some(remote), _) => Producer::Remote(Box::new(remote)),
            (None, Some(path)) => local_image(archive, path, &ledger)?,
            (None, None) => {
                let entries = catalog.archive_entries(archive.id)?;
                let source = ImageSource::new(&archive.name, entries)
                    .map_err(|e| stale(&archive.name, e.to_string()))?;
                Producer::Generated(Box::new(source))
            }
        };
        let shared = SharedImage::new(producer, readers, Some(ledger))
            .named(&archive.name)
            .pooled(pool);
        let len = shared.len();
        if len != archive.size {
            return Err(stale(
                &archive.name,
                format!(
                    "image {} would be {len} bytes, {} recorded",
                    archive.name, archive.size
                ),
            ));
        }
        Ok(Feed { shared, len })
    }
}

/// A local image file, proven to be the image recorded: before its first
/// pass records any block, its whole BLAKE3 must equal the one `lomob iso
/// create` recorded.
fn local_image(archive: &Archive, path: &Path, ledger: &BlockLedger) -> Result<Producer> {
    let file = std::fs::File::open(path).at("open", path)?;
    let len = file.metadata().at("read", path)?.len();
    let changed = || {
        Error::failed(format!(
            "the local image {} changed since it was recorded: it is not sent (the copies on the sites are kept); remove it and run `lomob iso create` again for its files",
            path.display()
        ))
    };
    if len != archive.size {
        return Err(changed());
    }
    if archive.blake3 != [0; 32] && !ledger.complete(len) {
        let mut h = blake3::Hasher::new();
        h.update_reader(&file).at("read", path)?;
        if *h.finalize().as_bytes() != archive.blake3 {
            return Err(changed());
        }
    }
    Ok(Producer::File { file, len })
}

/// Sends `job.archive` to every target lacking it, all at once, from one
/// pass over its plain bytes. Returns per target (in order) the bytes
/// stored, `None` when the site had it, or why it failed; an
/// [`Error::StaleImage`] when the image can no longer be generated as
/// recorded (every target then failed).
pub(crate) fn send_archive(
    rt: &tokio::runtime::Runtime,
    catalog: &mut Catalog,
    key: &MasterKey,
    job: Job<'_, '_>,
    send: &SendOptions,
) -> Result<Vec<Result<Option<u64>>>> {
    let mut records = Vec::with_capacity(job.targets.len());
    for t in job.targets {
        records.push(copy_record(catalog, key, job.archive, t.cfg, t.force)?);
    }
    let busy = records.iter().filter(|r| r.is_some()).count() as u64;
    if busy == 0 {
        return Ok(job.targets.iter().map(|_| Ok(None)).collect());
    }
    let (archive, targets) = (job.archive, job.targets);
    let feed = Feed::open(catalog, job, busy as usize, &send.blocks)?;
    let catalog = Mutex::new(catalog);
    let mut uploads = Vec::new();
    for (t, record) in targets.iter().zip(records) {
        uploads.push(match record {
            None => None,
            Some(copy) => {
                let stored = Stored::new(key, &copy.header, feed.shared.clone(), feed.len)?;
                let (up, part_size) = uploader(t, stored.len(), send, busy);
                Some(send_parts(&catalog, up, t, copy, (stored, part_size)))
            }
        });
    }
    // Every site's parts first; no copy is completed while another site's
    // parts may still find a file changed, so a stale image is held by no
    // site and can be planned again.
    let sent: Vec<Option<Result<Sent>>> = rt.block_on(futures::future::join_all(
        uploads.into_iter().map(|j| async move {
            match j {
                Some(f) => Some(f.await),
                None => None,
            }
        }),
    ));
    if let Some(s) = feed.shared.stale() {
        return Err(Error::StaleImage {
            archive: archive.name.clone(),
            why: s.why,
            content: s.content,
        });
    }
    let catalog = &catalog;
    Ok(rt.block_on(futures::future::join_all(sent.into_iter().map(
        |r| async move {
            match r {
                None => Ok(None),
                Some(Ok(sent)) => complete(catalog, archive, sent).await,
                Some(Err(e)) => Err(e),
            }
        },
    ))))
}

/// The uploader and part size of one site's copy of `total` bytes: big
/// images get bigger parts, so one costs at most MAX_PARTS + 2 PUT-class
/// requests; all `busy` sites' parts in flight stay under PART_MEMORY, and
/// a folder site at most two ([`crate::sites::parts_in_flight`]).
fn uploader(t: &Target<'_>, total: u64, send: &SendOptions, busy: u64) -> (Uploader, u64) {
    let part_size = archive_part_size(total, send.part_size);
    let by_memory = usize::try_from((PART_MEMORY / busy / part_size).clamp(1, 4)).unwrap_or(1);
    let concurrency = send
        .concurrency
        .unwrap_or_else(|| crate::sites::parts_in_flight(t.site.as_ref(), by_memory));
    (
        Uploader::new(t.site.clone()).with_concurrency(concurrency),
        part_size,
    )
}

/// The part size of an archive upload of `total` stored bytes: the
/// preferred size, raised so the upload needs at most [`MAX_PARTS`] parts.
pub(crate) fn archive_part_size(total: u64, preferred: u64) -> u64 {
    preferred.max(total.div_ceil(MAX_PARTS).next_multiple_of(1 << 20))
}

/// A copy whose parts are all on its site, to be completed.
struct Sent {
    up: Uploader,
    copy: ArchiveCopy,
    state: UploadState,
    hash: Option<Arc<OnceLock<[u8; 32]>>>,
    /// The site, and the Object Lock the copy must hold once complete.
    lock: Option<(Arc<dyn Backend>, lomo_remote::ObjectLock)>,
}

/// One site's parts of one copy, resumed from its recorded state.
async fn send_parts<P: ReadAt>(
    catalog: &Mutex<&mut Catalog>,
    up: Uploader,
    t: &Target<'_>,
    mut copy: ArchiveCopy,
    (stored, part_size): (Stored<P>, u64),
) -> Result<Sent> {
    let lock = || {
        catalog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let total = stored.len();
    let hash = stored.hash_slot();
    let resumed: Option<UploadState> = copy
        .upload
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    let mut state = match resumed {
        Some(s) if s.size == total => s,
        _ => {
            let s = up.start(&copy.key, total, part_size, &t.opts).await?;
            copy.upload = Some(serde_json::to_string(&s)?);
            lock().save_archive_copy(&copy)?;
            s
        }
    };
    let mut persist = copy.clone();
    let sent = up
        .send_parts(&mut state, stored, |s| {
            persist.upload = serde_json::to_string(s).ok();
            lock()
                .save_archive_copy(&persist)
                .map_err(std::io::Error::other)
        })
        .await;
    match sent {
        Ok(()) => Ok(Sent {
            up,
            copy,
            state,
            hash,
            lock: t.opts.lock.map(|l| (t.site.clone(), l)),
        }),
        Err(lomo_remote::Error::UploadGone { .. }) => {
            // The site dropped the upload (expired): start over next run.
            copy.upload = None;
            lock().save_archive_copy(&copy)?;
            fail!("the site no longer knows the upload; it starts over on the next run")
        }
        Err(e) => Err(e.into()),
    }
}

/// Completes a copy whose parts are all sent and records it once the site
/// verified it.
async fn complete(
    catalog: &Mutex<&mut Catalog>,
    archive: &Archive,
    sent: Sent,
) -> Result<Option<u64>> {
    let Sent {
        up,
        mut copy,
        state,
        hash,
        lock,
    } = sent;
    let v = up.complete(&state).await?;
    if let Some((site, want)) = lock {
        crate::sites::lock::ensure(&site, &copy.key, want).await?;
    }
    copy.upload = None;
    copy.size = Some(v.size);
    copy.sha256 = v.sha256;
    copy.etag = v.etag;
    copy.verified_at = None;
    copy.done_at = Some(lomo_catalog::unix_now());
    let mut c = catalog
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    c.save_archive_copy(&copy)?;
    // A first whole pass over the image gives its BLAKE3.
    if archive.blake3 == [0; 32]
        && let Some(h) = hash.as_ref().and_then(|h| h.get())
    {
        c.set_archive_hash(archive.id, h)?;
    }
    Ok(Some(v.size))
}
