//! Resumable multipart uploads driven from a random-access source.
//!
//! [`UploadState`] is what a caller persists (after every part, through the
//! `on_part` callback) to resume an upload in another process: it sends
//! only the parts the state does not list as done.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use sha2::Digest as _;

use crate::backend::{Backend, Capabilities, Part, PartStream, PutOptions};
use crate::error::{At, Op, Result};
use crate::objstore::sha256_b64;

/// Default part size: 32 MiB (a 5 GB archive is ~150 PUT requests).
pub const DEFAULT_PART_SIZE: u64 = 32 << 20;
/// Default number of parts in flight.
pub const DEFAULT_CONCURRENCY: usize = 3;
/// Default piece of a part streamed to a site that writes parts as they
/// come: 4 MiB.
pub const DEFAULT_PIECE_SIZE: u64 = 4 << 20;
/// Pieces of a streamed part read ahead of the site.
const PIECES_AHEAD: usize = 2;

/// The persisted state of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadState {
    /// Object key.
    pub key: String,
    /// The site's upload id.
    pub upload_id: String,
    /// Total object size.
    pub size: u64,
    /// Size of every part but the last.
    pub part_size: u64,
    /// Parts the site has acknowledged, sorted by index.
    pub parts: Vec<Part>,
}

impl UploadState {
    /// Number of parts the object is cut into (at least one).
    pub fn part_count(&self) -> u32 {
        self.size.div_ceil(self.part_size).max(1) as u32
    }

    /// Byte range of part `index` in the object.
    pub fn part_range(&self, index: u32) -> Range<u64> {
        let start = u64::from(index) * self.part_size;
        start..(start + self.part_size).min(self.size)
    }

    /// Parts not yet acknowledged, in index order.
    pub fn missing(&self) -> Vec<u32> {
        let mut done = self.parts.iter().map(|p| p.index).peekable();
        let mut out = Vec::new();
        for i in 0..self.part_count() {
            while done.peek().is_some_and(|&d| d < i) {
                done.next();
            }
            if done.peek() != Some(&i) {
                out.push(i);
            }
        }
        out
    }

    /// The checksum S3 stores for the completed object: SHA-256 over the
    /// parts' SHA-256 digests, base64 (AWS appends `-N`).
    pub fn composite_sha256(&self) -> String {
        let mut h = sha2::Sha256::new();
        for p in &self.parts {
            if let Ok(d) = base64::engine::general_purpose::STANDARD.decode(&p.sha256) {
                h.update(d);
            }
        }
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    }

    fn record(&mut self, part: Part) {
        match self.parts.binary_search_by_key(&part.index, |p| p.index) {
            Ok(i) => self.parts[i] = part,
            Err(i) => self.parts.insert(i, part),
        }
    }
}

/// The part size to use for an object of `size` bytes: `preferred`, raised
/// to the site's minimum and so the object fits the site's part limit.
pub fn part_size_for(size: u64, preferred: u64, caps: &Capabilities) -> u64 {
    let fit = size.div_ceil(u64::from(caps.max_parts.max(1)));
    let size = preferred.max(caps.min_part_size).max(fit).max(1);
    size.next_multiple_of(caps.part_multiple.max(1))
}

/// Random-access bytes to upload.
pub trait PartSource: Send + 'static {
    /// Fills `buf` with the object's bytes starting at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl PartSource for std::fs::File {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

/// A [`PartSource`] over any `Read + Seek`.
#[derive(Debug)]
pub struct SeekSource<R>(pub R);

impl<R: Read + Seek + Send + 'static> PartSource for SeekSource<R> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.read_exact(buf)
    }
}

/// Spare piece buffers of one upload.
type Pool = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// A piece's buffer, back in its pool when the site lets go of it: each
/// piece after the first few is read into memory already mapped, no fresh
/// pages for the kernel to fault in and zero.
struct Pooled {
    buf: Vec<u8>,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Ok(mut spare) = self.pool.lock() {
            spare.push(std::mem::take(&mut self.buf));
        }
    }
}

/// A part on its way: index, size, its pieces, and the permit that holds
/// its place among the parts in flight.
type Sending = (u32, u64, PartStream, tokio::sync::OwnedSemaphorePermit);

/// Reads the parts `ranges` of `source` in order on a blocking thread, in
/// pieces of `piece` bytes, with at most `in_flight` parts between the
/// reader and the site: a part is started only when a permit is free, and
/// its permit goes when the site has it.
fn read_parts<S: PartSource>(
    mut source: S,
    ranges: Vec<(u32, Range<u64>)>,
    piece: u64,
    in_flight: usize,
) -> (
    tokio::sync::mpsc::Receiver<Sending>,
    tokio::task::JoinHandle<()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let pool = Pool::default();
    let handle = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::mpsc::channel::<Sending>(1);
    let reader = tokio::task::spawn_blocking(move || {
        for (index, range) in ranges {
            let Ok(permit) = handle.block_on(permits.clone().acquire_owned()) else {
                return;
            };
            let (out, pieces) = tokio::sync::mpsc::channel(PIECES_AHEAD);
            let pieces = futures::stream::unfold(pieces, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            })
            .boxed();
            if tx
                .blocking_send((index, range.end - range.start, pieces, permit))
                .is_err()
                || !read_pieces(&mut source, range, piece, &pool, &out)
            {
                return;
            }
        }
    });
    (rx, reader)
}

/// Reads `range` of `source` into `out` in pieces of `piece` bytes; false
/// when a read failed (its error sent) or nobody listens any more.
fn read_pieces<S: PartSource>(
    source: &mut S,
    range: Range<u64>,
    piece: u64,
    pool: &Pool,
    out: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> bool {
    let mut pos = range.start;
    while pos < range.end {
        let n = (range.end - pos).min(piece) as usize;
        let mut buf = pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        buf.resize(n, 0);
        let item = source.read_at(pos, &mut buf).map(|()| {
            Bytes::from_owner(Pooled {
                buf,
                pool: pool.clone(),
            })
        });
        let failed = item.is_err();
        if out.blocking_send(item).is_err() || failed {
            return false;
        }
        pos += n as u64;
    }
    true
}

/// What [`Uploader::complete`] checked of the stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The stored object's ETag.
    pub etag: Option<String>,
    /// Size reported by the site (equal to the upload's size).
    pub size: u64,
    /// The site's stored SHA-256 checksum, when it reports one (checked).
    pub sha256: Option<String>,
}

/// Sends objects to one site, in parts.
#[derive(Debug, Clone)]
pub struct Uploader {
    backend: Arc<dyn Backend>,
    concurrency: usize,
    piece_size: u64,
}

impl Uploader {
    /// An uploader with [`DEFAULT_CONCURRENCY`] parts in flight.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            concurrency: DEFAULT_CONCURRENCY,
            piece_size: DEFAULT_PIECE_SIZE,
        }
    }

    /// Sets the number of parts in flight (memory: at most `n` parts).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets the bytes read and handed over at once to a site that writes
    /// parts as they come ([`Capabilities::streamed_parts`]); other sites
    /// get each part whole.
    pub fn with_piece_size(mut self, n: u64) -> Self {
        self.piece_size = n.max(1);
        self
    }

    /// Starts a multipart upload of `size` bytes.
    pub async fn start(
        &self,
        key: &str,
        size: u64,
        part_size: u64,
        opts: &PutOptions,
    ) -> Result<UploadState> {
        let caps = self.backend.capabilities();
        let part_size = part_size_for(size, part_size, &caps);
        let mut opts = opts.clone().with_part_size(part_size);
        opts.size = Some(size);
        let upload_id = self.backend.create_upload(key, &opts).await?;
        Ok(UploadState {
            key: key.to_owned(),
            upload_id,
            size,
            part_size,
            parts: Vec::new(),
        })
    }

    /// Sends every part `state` lacks, reading it from `source`, and calls
    /// `on_part` after each acknowledged part so the caller can persist the
    /// state. Parts are read in order by one blocking thread while up to
    /// the concurrency limit are in flight; to a site with
    /// [`Capabilities::streamed_parts`] each part goes in pieces as it is
    /// read, so memory holds a few pieces, not whole parts.
    pub async fn send_parts<S, F>(
        &self,
        state: &mut UploadState,
        source: S,
        mut on_part: F,
    ) -> Result<()>
    where
        S: PartSource,
        F: FnMut(&UploadState) -> std::io::Result<()>,
    {
        let missing = state.missing();
        if missing.is_empty() {
            return Ok(());
        }
        let key = state.key.clone();
        let ranges: Vec<(u32, Range<u64>)> =
            missing.iter().map(|&i| (i, state.part_range(i))).collect();
        let caps = self.backend.capabilities();
        let concurrency = if caps.sequential_parts {
            1
        } else {
            self.concurrency
        };
        // A site that writes pieces as they come gets small ones, else
        // each part is one piece.
        let piece = if caps.streamed_parts {
            self.piece_size
        } else {
            state.part_size
        };
        let (rx, reader) = read_parts(source, ranges, piece, concurrency);
        let backend = self.backend.clone();
        let upload_id = state.upload_id.clone();
        let mut sends = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .map(|(index, size, pieces, permit)| {
            let (backend, key, upload_id) = (backend.clone(), key.clone(), upload_id.clone());
            async move {
                let stored = backend
                    .put_part_stream(&key, &upload_id, index, size, pieces)
                    .await;
                drop(permit);
                stored
            }
        })
        .buffer_unordered(concurrency)
        .boxed();
        let site = self.backend.name().to_owned();
        while let Some(part) = sends.next().await {
            let part = part?;
            tracing::debug!(key = %state.key, part = part.index, "part stored");
            state.record(part);
            on_part(state).map_err(|e| {
                At::new(&site, Op::PutPart, &state.key).source(std::io::Error::new(
                    e.kind(),
                    format!("persisting the upload state: {e}"),
                ))
            })?;
        }
        drop(sends);
        let _ = reader.await;
        Ok(())
    }

    /// Completes the upload and checks the stored object: its size, and
    /// its checksum where the site keeps one. If the site no longer knows
    /// the upload because an earlier completion went through (the answer
    /// was lost, or the process died), the stored object is checked instead.
    pub async fn complete(&self, state: &UploadState) -> Result<Verified> {
        let at = At::new(self.backend.name(), Op::CompleteUpload, &state.key);
        let missing = state.missing();
        if !missing.is_empty() {
            return Err(at.integrity(format!(
                "{} of {} parts not uploaded (first: {})",
                missing.len(),
                state.part_count(),
                missing[0]
            )));
        }
        for p in &state.parts {
            let want = state.part_range(p.index);
            if p.size != want.end - want.start {
                return Err(at.integrity(format!(
                    "part {} has {} bytes, expected {}",
                    p.index,
                    p.size,
                    want.end - want.start
                )));
            }
        }
        // Sites that keep a whole-object checksum of a multipart upload
        // (Drive) are checked by size: the parts' digests do not give it.
        let composite = state.composite_sha256();
        let expected = self
            .backend
            .capabilities()
            .composite_checksum
            .then_some(composite.as_str());
        match self
            .backend
            .complete_upload(&state.key, &state.upload_id, &state.parts)
            .await
        {
            Ok(_) => self.verify(&state.key, state.size, expected).await,
            // An earlier completion may have gone through (its answer lost,
            // or the process died): S3 then no longer knows the upload, Azure
            // refuses the block list. The stored object decides.
            Err(e) if !e.is_transient() => {
                tracing::info!(key = %state.key, error = %e, "completion refused; checking the stored object");
                match self.verify(&state.key, state.size, expected).await {
                    Ok(v) => Ok(v),
                    Err(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Aborts the upload (parts are freed on the site).
    pub async fn abort(&self, state: &UploadState) -> Result<()> {
        self.backend
            .abort_upload(&state.key, &state.upload_id)
            .await
    }

    /// Uploads `source` (`size` bytes) as `key`: one PUT when it fits in a
    /// part, else a multipart upload. `on_part` is called as in
    /// [`Self::send_parts`] (and never for a single PUT).
    pub async fn upload<S, F>(
        &self,
        key: &str,
        size: u64,
        mut source: S,
        part_size: u64,
        opts: &PutOptions,
        on_part: F,
    ) -> Result<Verified>
    where
        S: PartSource,
        F: FnMut(&UploadState) -> std::io::Result<()>,
    {
        if size <= part_size {
            let at = At::new(self.backend.name(), Op::Put, key);
            let data = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; size as usize];
                source.read_at(0, &mut buf).map(|()| Bytes::from(buf))
            })
            .await
            .map_err(|e| at.request(false, e.to_string()))?
            .map_err(|e| at.source(e))?;
            return self.put(key, data, opts).await;
        }
        let mut state = self.start(key, size, part_size, opts).await?;
        self.send_parts(&mut state, source, on_part).await?;
        self.complete(&state).await
    }

    /// One PUT of `data`, then the same check as [`Self::complete`].
    pub async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<Verified> {
        let sha = sha256_b64(&data);
        let size = data.len() as u64;
        self.backend.put(key, data, opts).await?;
        self.verify(key, size, Some(&sha)).await
    }

    async fn verify(&self, key: &str, size: u64, sha256: Option<&str>) -> Result<Verified> {
        let info = self.backend.head(key).await?;
        let at = At::new(self.backend.name(), Op::Head, key);
        if info.size != size {
            return Err(at.integrity(format!("stored {} bytes, sent {size}", info.size)));
        }
        if let (Some(stored), Some(sha256)) = (&info.sha256, sha256) {
            let base = stored.split('-').next().unwrap_or(stored);
            if base != sha256 {
                return Err(at.integrity(format!("stored SHA-256 {stored}, sent {sha256}")));
            }
        }
        Ok(Verified {
            etag: info.etag,
            size: info.size,
            sha256: info.sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(size: u64, part: u64, done: &[u32]) -> UploadState {
        UploadState {
            key: "k".into(),
            upload_id: "u".into(),
            size,
            part_size: part,
            parts: done
                .iter()
                .map(|&index| Part {
                    index,
                    size: 0,
                    receipt: String::new(),
                    sha256: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn parts_and_missing() {
        let s = state(25, 10, &[0, 2]);
        assert_eq!(s.part_count(), 3);
        assert_eq!(s.part_range(2), 20..25);
        assert_eq!(s.missing(), vec![1]);
        assert_eq!(state(0, 10, &[]).part_count(), 1);
        assert_eq!(state(30, 10, &[]).missing(), vec![0, 1, 2]);
    }

    #[test]
    fn part_size_respects_limits() {
        let caps = Capabilities {
            multipart: true,
            min_part_size: 5 << 20,
            max_parts: 10_000,
            storage_classes: true,
            restore: true,
            stored_checksum: true,
            range_reads: true,
            metered: true,
            part_multiple: 1,
            sequential_parts: false,
            composite_checksum: true,
            set_class: false,
            object_lock: false,
            streamed_parts: false,
        };
        assert_eq!(part_size_for(1 << 30, 1 << 20, &caps), 5 << 20);
        assert_eq!(
            part_size_for(1 << 40, 32 << 20, &caps),
            (1u64 << 40).div_ceil(10_000)
        );
    }

    #[test]
    fn composite_checksum_matches_s3() {
        // Known value from moto for parts "a"*5 MiB and "b"*10.
        let a = sha256_b64(&vec![b'a'; 5 << 20]);
        let b = sha256_b64(b"bbbbbbbbbb");
        let mut s = state(0, 1, &[]);
        s.parts = vec![
            Part {
                index: 0,
                size: 0,
                receipt: String::new(),
                sha256: a,
            },
            Part {
                index: 1,
                size: 0,
                receipt: String::new(),
                sha256: b,
            },
        ];
        assert_eq!(
            s.composite_sha256(),
            "zTBnwsNWVkdz0PwZObp0pDCxhYpP8sndExucneRKiO0="
        );
    }
}
