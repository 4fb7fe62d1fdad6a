//! A local folder site (NAS mount, removable disk) on object_store's
//! `LocalFileSystem` with fsync on, plus resumable multipart uploads that
//! write each part in place into one file.
//!
//! Pending uploads live in `ROOT/.lomob-uploads/ID/`: `meta` (key and part
//! size), `data` (parts written at `index × part_size`) and one
//! `part-INDEX` receipt per part, written after the part's bytes are synced.
//! Completing renames `data` onto the key: no second copy of the bytes.

use std::fmt;
use std::io::Write as _;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use crate::backend::{
    Backend, ByteStream, Capabilities, ObjectInfo, Part, PartStream, PendingUpload, PutOptions,
    PutResult, RestoreRequest, RestoreStatus,
};
use crate::error::{At, Error, Op, Result};
use crate::meter::{Meter, RequestClass, Usage};
use crate::objstore::{check_key, delete_quietly, map_err, meta_info};

/// Folder of pending multipart uploads, hidden from listings.
pub const UPLOADS_DIR: &str = ".lomob-uploads";

/// A local folder site.
#[derive(Debug)]
pub(crate) struct LocalBackend {
    name: String,
    root: PathBuf,
    store: LocalFileSystem,
    meter: Arc<Meter>,
}

impl fmt::Display for LocalBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.root.display())
    }
}

impl LocalBackend {
    /// Opens the folder, which must exist: a missing folder usually means
    /// an unmounted disk, and writing into the mount point would fill the
    /// wrong disk.
    pub(crate) fn open(name: &str, root: &FsPath, meter: Arc<Meter>) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::Config {
                site: name.to_owned(),
                reason: format!(
                    "folder {} does not exist or is not a folder (disk not mounted?)",
                    root.display()
                ),
            });
        }
        let store = LocalFileSystem::new_with_prefix(root)
            .map_err(|e| Error::Config {
                site: name.to_owned(),
                reason: format!("cannot use folder {}: {e}", root.display()),
            })?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(Self {
            name: name.to_owned(),
            root: root.to_owned(),
            store,
            meter,
        })
    }

    fn path(&self, at: At<'_>, key: &str) -> Result<Path> {
        check_key(at, key, false)?;
        if key.split('/').next() == Some(UPLOADS_DIR) {
            return Err(at.invalid_key(format!("{UPLOADS_DIR} is reserved")));
        }
        Path::parse(key).map_err(|e| at.invalid_key(e.to_string()))
    }

    fn upload_dir(&self, at: At<'_>, upload_id: &str) -> Result<PathBuf> {
        if upload_id.is_empty() || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(at.upload_gone(upload_id));
        }
        Ok(self.root.join(UPLOADS_DIR).join(upload_id))
    }

    fn io(&self, at: At<'_>, what: &str, e: &std::io::Error) -> Error {
        at.request(false, format!("{what}: {e}"))
    }

    async fn blocking<T: Send + 'static>(
        at: At<'_>,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| at.request(false, format!("worker failed: {e}")))?
    }
}

/// Bytes a folder site's read hands over at once: large positioned reads,
/// not 8 KiB pieces.
const READ_PIECE: u64 = 4 << 20;

/// `range` of `file` as a stream of positioned reads of up to
/// [`READ_PIECE`] bytes, each on a blocking thread.
fn read_stream(
    file: Arc<std::fs::File>,
    range: Range<u64>,
    (site, key): (String, String),
    meter: Arc<Meter>,
) -> ByteStream {
    futures::stream::unfold(range.start, move |pos| {
        let (file, meter, site, key) = (file.clone(), meter.clone(), site.clone(), key.clone());
        let end = range.end;
        async move {
            if pos >= end {
                return None;
            }
            let n = (end - pos).min(READ_PIECE) as usize;
            let read = tokio::task::spawn_blocking(move || {
                // Into spare capacity: no zeroing of the buffer first. The
                // file is this read's own, read in order.
                use std::io::{Read as _, Seek as _};
                let mut buf = Vec::with_capacity(n);
                let mut f = &*file;
                f.seek(std::io::SeekFrom::Start(pos))?;
                f.take(n as u64).read_to_end(&mut buf)?;
                if buf.len() != n {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file is shorter than it was",
                    ));
                }
                Ok(buf)
            })
            .await;
            let at = At::new(&site, Op::Get, &key);
            let item = match read {
                Ok(Ok(buf)) => {
                    meter.record_received(buf.len() as u64);
                    Ok(Bytes::from(buf))
                }
                Ok(Err(e)) => Err(at.request(false, format!("reading at {pos}: {e}"))),
                Err(e) => Err(at.request(false, format!("worker failed: {e}"))),
            };
            let next = if item.is_ok() { pos + n as u64 } else { end };
            Some((item, next))
        }
    })
    .boxed()
}

/// Site, key and upload id of a part being written.
type PartAt = (String, String, String);

fn at_part((site, key, _): &PartAt, index: u32, e: &std::io::Error) -> Error {
    At::new(site, Op::PutPart, key).request(false, format!("writing part {index}: {e}"))
}

/// The upload's data file, open for writing, and where part `index` of
/// `size` bytes starts in it.
fn open_part(
    owned: &PartAt,
    dir: &FsPath,
    index: u32,
    size: u64,
) -> Result<(Arc<std::fs::File>, u64)> {
    let (site, key, id) = owned;
    let at = At::new(site, Op::PutPart, key);
    let meta = read_meta(dir).map_err(|_| at.upload_gone(id))?;
    if meta.key != *key {
        return Err(at.upload_gone(id));
    }
    if size > meta.part_size {
        return Err(at.request(
            false,
            format!(
                "part of {size} bytes exceeds the part size {}",
                meta.part_size
            ),
        ));
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("data"))
        .map_err(|_| at.upload_gone(id))?;
    Ok((Arc::new(file), u64::from(index) * meta.part_size))
}

/// Syncs part `index`'s bytes, then writes its receipt.
fn seal_part(
    owned: &PartAt,
    dir: &FsPath,
    file: &std::fs::File,
    index: u32,
    size: u64,
) -> Result<Part> {
    let fail = |e: std::io::Error| at_part(owned, index, &e);
    file.sync_data().map_err(fail)?;
    let part = Part {
        index,
        size,
        receipt: format!("local-{index}"),
        // A folder keeps no checksum to compare with: skip the hashing.
        sha256: String::new(),
    };
    let json = serde_json::to_vec(&part)
        .map_err(std::io::Error::other)
        .map_err(fail)?;
    write_synced(&dir.join(format!("part-{index}")), &json).map_err(fail)?;
    Ok(part)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    key: String,
    part_size: u64,
}

fn read_meta(dir: &FsPath) -> std::io::Result<Meta> {
    let text = std::fs::read(dir.join("meta"))?;
    serde_json::from_slice(&text).map_err(std::io::Error::other)
}

/// Writes `bytes` to `path` via a synced temporary file and a rename.
fn write_synced(path: &FsPath, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(FsPath::new(".")))
}

fn sync_dir(dir: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            multipart: true,
            min_part_size: 1,
            max_parts: u32::MAX,
            storage_classes: false,
            restore: false,
            stored_checksum: false,
            range_reads: true,
            metered: false,
            part_multiple: 1,
            sequential_parts: false,
            composite_checksum: false,
            set_class: false,
            object_lock: false,
            streamed_parts: true,
        }
    }

    async fn put(&self, key: &str, data: Bytes, _opts: &PutOptions) -> Result<PutResult> {
        let at = At::new(&self.name, Op::Put, key);
        let path = self.path(at, key)?;
        self.meter.record(RequestClass::A, data.len() as u64, 0);
        let r = self
            .store
            .put(&path, PutPayload::from(data))
            .await
            .map_err(|e| map_err(at, e))?;
        Ok(PutResult { etag: r.e_tag })
    }

    async fn create_upload(&self, key: &str, opts: &PutOptions) -> Result<String> {
        let at = At::new(&self.name, Op::CreateUpload, key);
        self.path(at, key)?;
        let part_size = opts
            .part_size
            .filter(|&s| s > 0)
            .ok_or_else(|| at.unsupported("multipart uploads without a part size"))?;
        self.meter.record(RequestClass::A, 0, 0);
        let id: String = (0..16)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let dir = self.root.join(UPLOADS_DIR).join(&id);
        let meta = serde_json::to_vec(&Meta {
            key: key.to_owned(),
            part_size,
        })
        .map_err(|e| at.request(false, e.to_string()))?;
        let owned_at = (self.name.clone(), key.to_owned());
        Self::blocking(at, move || {
            let at = At::new(&owned_at.0, Op::CreateUpload, &owned_at.1);
            let fail =
                |e: std::io::Error| at.request(false, format!("creating upload folder: {e}"));
            std::fs::create_dir_all(&dir).map_err(fail)?;
            std::fs::File::create(dir.join("data")).map_err(fail)?;
            write_synced(&dir.join("meta"), &meta).map_err(fail)?;
            Ok(())
        })
        .await?;
        Ok(id)
    }

    async fn put_part(&self, key: &str, upload_id: &str, index: u32, data: Bytes) -> Result<Part> {
        let size = data.len() as u64;
        let data = futures::stream::once(async { Ok(data) }).boxed();
        self.put_part_stream(key, upload_id, index, size, data)
            .await
    }

    /// Each piece is written in place as it comes; the part is synced
    /// before its receipt is written.
    async fn put_part_stream(
        &self,
        key: &str,
        upload_id: &str,
        index: u32,
        size: u64,
        mut data: PartStream,
    ) -> Result<Part> {
        let at = At::new(&self.name, Op::PutPart, key);
        self.path(at, key)?;
        let dir = self.upload_dir(at, upload_id)?;
        self.meter.record(RequestClass::A, size, 0);
        let owned = Arc::new((self.name.clone(), key.to_owned(), upload_id.to_owned()));
        let (file, start) = {
            let (owned, dir) = (owned.clone(), dir.clone());
            Self::blocking(at, move || open_part(&owned, &dir, index, size)).await?
        };
        let mut written = 0u64;
        while let Some(piece) = data.next().await {
            let piece = piece.map_err(|e| at.source(e))?;
            let offset = start + written;
            written += piece.len() as u64;
            if written > size {
                return Err(at.source(crate::backend::wrong_size(size, written)));
            }
            let (file, owned) = (file.clone(), owned.clone());
            Self::blocking(at, move || {
                file.write_all_at(&piece, offset)
                    .map_err(|e| at_part(&owned, index, &e))
            })
            .await?;
        }
        if written != size {
            return Err(at.source(crate::backend::wrong_size(size, written)));
        }
        Self::blocking(at, move || seal_part(&owned, &dir, &file, index, size)).await
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[Part],
    ) -> Result<PutResult> {
        let at = At::new(&self.name, Op::CompleteUpload, key);
        let target = self.root.join(self.path(at, key)?.as_ref());
        let dir = self.upload_dir(at, upload_id)?;
        self.meter.record(RequestClass::A, 0, 0);
        let (site, k, id, parts) = (
            self.name.clone(),
            key.to_owned(),
            upload_id.to_owned(),
            parts.to_vec(),
        );
        Self::blocking(at, move || {
            let at = At::new(&site, Op::CompleteUpload, &k);
            let meta = read_meta(&dir).map_err(|_| at.upload_gone(&id))?;
            let mut total = 0u64;
            for (i, p) in parts.iter().enumerate() {
                let stored: Part = std::fs::read(dir.join(format!("part-{}", p.index)))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| at.integrity(format!("part {} was never stored", p.index)))?;
                if p.index as usize != i || stored != *p {
                    return Err(
                        at.integrity(format!("part {} does not match what was stored", p.index))
                    );
                }
                if i + 1 < parts.len() && p.size != meta.part_size {
                    return Err(
                        at.integrity(format!("part {} is short ({} bytes)", p.index, p.size))
                    );
                }
                total += p.size;
            }
            let fail = |e: std::io::Error| at.request(false, format!("completing: {e}"));
            let data = dir.join("data");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&data)
                .map_err(fail)?;
            f.set_len(total).map_err(fail)?;
            f.sync_all().map_err(fail)?;
            drop(f);
            let parent = target.parent().unwrap_or(FsPath::new("/")).to_owned();
            std::fs::create_dir_all(&parent).map_err(fail)?;
            std::fs::rename(&data, &target).map_err(fail)?;
            sync_dir(&parent).map_err(fail)?;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(PutResult { etag: None })
        })
        .await
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        let at = At::new(&self.name, Op::AbortUpload, key);
        let dir = self.upload_dir(at, upload_id)?;
        self.meter.record(RequestClass::Free, 0, 0);
        // A part still being written (its sender gave up, its thread did
        // not) can add a file while the folder is removed: try again.
        let mut tries = 0;
        loop {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => return Err(self.io(at, "removing the upload", &e)),
            }
        }
    }

    async fn list_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        let at = At::new(&self.name, Op::ListUploads, prefix);
        check_key(at, prefix, true)?;
        self.meter.record(RequestClass::A, 0, 0);
        let dir = self.root.join(UPLOADS_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(at, "listing uploads", &e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if let Ok(meta) = read_meta(&e.path()) {
                let under = prefix.is_empty()
                    || meta.key == prefix
                    || meta.key.starts_with(&format!("{prefix}/"));
                if under {
                    out.push(PendingUpload {
                        key: meta.key,
                        upload_id: id,
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        Ok(out)
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream> {
        let at = At::new(&self.name, Op::Get, key);
        self.path(at, key)?;
        self.meter.record(RequestClass::B, 0, 0);
        let file = self.root.join(key);
        let (name, k) = (self.name.clone(), key.to_owned());
        let opened = Self::blocking(at, move || {
            let at = At::new(&name, Op::Get, &k);
            let f = std::fs::File::open(&file).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => at.not_found(),
                _ => at.request(false, format!("cannot open {}: {e}", file.display())),
            })?;
            let len = f
                .metadata()
                .map_err(|e| at.request(false, format!("cannot stat {}: {e}", file.display())))?
                .len();
            Ok((f, len))
        })
        .await?;
        let (file, len) = opened;
        let range = range.unwrap_or(0..len);
        if range.start > range.end || range.end > len {
            return Err(at.request(
                false,
                format!("range {range:?} is outside the object's {len} bytes"),
            ));
        }
        Ok(read_stream(
            Arc::new(file),
            range,
            (self.name.clone(), key.to_owned()),
            self.meter.clone(),
        ))
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let at = At::new(&self.name, Op::Head, key);
        let path = self.path(at, key)?;
        self.meter.record(RequestClass::B, 0, 0);
        let m = self.store.head(&path).await.map_err(|e| map_err(at, e))?;
        Ok(meta_info(key.to_owned(), m, Some(RestoreStatus::NotNeeded)))
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo>> {
        let at = At::new(&self.name, Op::List, prefix);
        if let Err(e) = check_key(at, prefix, true) {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        self.meter.record(RequestClass::A, 0, 0);
        let (name, listed) = (self.name.clone(), prefix.to_owned());
        let p = (!prefix.is_empty()).then(|| Path::from(prefix));
        self.store
            .list(p.as_ref())
            .filter_map(move |r| {
                let item = match r {
                    Ok(m) if m.location.as_ref().split('/').next() == Some(UPLOADS_DIR) => None,
                    Ok(m) => Some(Ok(meta_info(m.location.as_ref().to_owned(), m, None))),
                    Err(e) => Some(Err(map_err(At::new(&name, Op::List, &listed), e))),
                };
                futures::future::ready(item)
            })
            .boxed()
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let at = At::new(&self.name, Op::Delete, key);
        let path = self.path(at, key)?;
        self.meter.record(RequestClass::Free, 0, 0);
        delete_quietly(&self.store, at, &path).await
    }

    async fn restore(&self, key: &str, _request: RestoreRequest) -> Result<RestoreStatus> {
        self.head(key).await?;
        Ok(RestoreStatus::NotNeeded)
    }

    fn usage(&self) -> Usage {
        self.meter.usage()
    }
}
