//! The site trait and the types it speaks.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::ops::Range;

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::error::{At, Op, Result};
use crate::lock::{BucketLock, ObjectLock};
use crate::meter::Usage;

/// A stream of object bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A part's bytes in order, as its source produces them (see
/// [`Backend::put_part_stream`]).
pub type PartStream = BoxStream<'static, std::io::Result<Bytes>>;

/// One storage site: a bucket prefix, a container, a folder.
///
/// Keys are relative to the site's prefix and use `/` as separator. All
/// methods retry transient failures (timeouts, resets, 5xx, throttling)
/// with bounded, jittered exponential backoff before returning an error.
/// Use it as `Arc<dyn Backend>`; [`crate::open`] builds one from a URL.
#[async_trait::async_trait]
pub trait Backend: Debug + Display + Send + Sync + 'static {
    /// The site's name, as used in error messages.
    fn name(&self) -> &str;

    /// What this site can do.
    fn capabilities(&self) -> Capabilities;

    /// Stores `data` as the object `key`, replacing any object of that key.
    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<PutResult>;

    /// Starts a multipart upload of `key`, returning its upload id.
    async fn create_upload(&self, key: &str, opts: &PutOptions) -> Result<String>;

    /// Uploads part `index` (0-based) of an upload. Parts may be sent in any
    /// order and concurrently; sending a part again replaces it. All parts
    /// but the last must be the upload's part size.
    async fn put_part(&self, key: &str, upload_id: &str, index: u32, data: Bytes) -> Result<Part>;

    /// Uploads part `index` as [`Backend::put_part`] does, from `data`,
    /// which must yield exactly `size` bytes. The default gathers them and
    /// calls `put_part`; a site with [`Capabilities::streamed_parts`]
    /// writes each piece as it comes, so the part is never whole in
    /// memory. An error from `data` fails the part as
    /// [`crate::Error::Source`], and so do too many or too few bytes.
    async fn put_part_stream(
        &self,
        key: &str,
        upload_id: &str,
        index: u32,
        size: u64,
        data: PartStream,
    ) -> Result<Part> {
        let at = At::new(self.name(), Op::PutPart, key);
        let data = gather(at, size, data).await?;
        self.put_part(key, upload_id, index, data).await
    }

    /// Completes an upload from its parts, in index order.
    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[Part],
    ) -> Result<PutResult>;

    /// Aborts an upload and frees its parts. Aborting an upload that no
    /// longer exists succeeds.
    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()>;

    /// Lists uploads started and not completed or aborted, under the folder `prefix`.
    async fn list_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>>;

    /// Reads an object, whole or the byte `range` of it.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream>;

    /// An object's metadata; with [`Capabilities::stored_checksum`] it
    /// includes the checksum the site keeps, and for cold objects the
    /// storage class and restore status.
    async fn head(&self, key: &str) -> Result<ObjectInfo>;

    /// Lists the objects under the folder `prefix` (whole `/`-separated
    /// segments: `a/b` lists `a/b/…`, not `a/bc`; `""` for all), streamed
    /// page by page.
    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo>>;

    /// Deletes an object. Deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Asks for a temporary readable copy of a cold object and returns its
    /// status. Objects that need no restore report [`RestoreStatus::NotNeeded`].
    async fn restore(&self, key: &str, request: RestoreRequest) -> Result<RestoreStatus>;

    /// Moves a stored object to storage class `class` in place (Azure's
    /// Set Blob Tier: an archive rehydrated for a restore goes back to the
    /// Archive tier). Sites that cannot answer [`crate::Error::Unsupported`].
    async fn set_storage_class(&self, key: &str, class: &str) -> Result<()> {
        let _ = class;
        Err(At::new(self.name(), Op::SetClass, key)
            .unsupported("changing the storage class of a stored object"))
    }

    /// What the bucket's Object Lock configuration says (S3's
    /// GetObjectLockConfiguration). Sites without Object Lock answer
    /// [`crate::Error::Unsupported`].
    async fn object_lock(&self) -> Result<BucketLock> {
        Err(At::new(self.name(), Op::Head, "").unsupported("Object Lock"))
    }

    /// Sets the retention of the current version of `key` (S3's
    /// PutObjectRetention). S3 lets anyone extend a retention; shortening
    /// a COMPLIANCE one is refused, a GOVERNANCE one needs the bypass
    /// permission (never asked for here). Sites without Object Lock answer
    /// [`crate::Error::Unsupported`].
    async fn set_retention(&self, key: &str, lock: ObjectLock) -> Result<()> {
        let _ = lock;
        Err(At::new(self.name(), Op::SetRetention, key).unsupported("Object Lock"))
    }

    /// Brings back `key` where a plain DELETE only hid it: on a versioned
    /// bucket (S3 Object Lock) the delete markers above its newest real
    /// version are removed, by their version ids. `Ok(true)` when the
    /// object is visible again, `Ok(false)` when it was not hidden or no
    /// version is left behind the markers.
    /// Sites without versions answer [`crate::Error::Unsupported`].
    async fn undelete(&self, key: &str) -> Result<bool> {
        Err(At::new(self.name(), Op::Delete, key).unsupported("bringing back a hidden object"))
    }

    /// Keys under `prefix` that a delete marker hides while a real version
    /// stays behind it (see [`Backend::undelete`]). Sites without versions
    /// answer [`crate::Error::Unsupported`].
    async fn hidden(&self, prefix: &str) -> Result<Vec<String>> {
        Err(At::new(self.name(), Op::List, prefix).unsupported("listing hidden objects"))
    }

    /// Requests made and bytes moved since the site was opened.
    fn usage(&self) -> Usage;
}

/// What a site supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Multipart uploads can be resumed across processes.
    pub multipart: bool,
    /// Smallest part size (all parts but the last).
    pub min_part_size: u64,
    /// Largest number of parts in one upload.
    pub max_parts: u32,
    /// Storage classes can be chosen per object.
    pub storage_classes: bool,
    /// Cold objects need a restore before they can be read.
    pub restore: bool,
    /// HEAD reports a checksum (SHA-256) the site computed or verified at upload.
    pub stored_checksum: bool,
    /// Byte-range reads.
    pub range_reads: bool,
    /// Requests cost money (so checks should prefer metadata).
    pub metered: bool,
    /// Part sizes must be a multiple of this (1: any).
    pub part_multiple: u64,
    /// Parts must be sent one at a time, in order (Google Drive).
    pub sequential_parts: bool,
    /// The stored checksum of a multipart object is S3's checksum of the
    /// parts' checksums (else: of the whole object).
    pub composite_checksum: bool,
    /// [`Backend::set_storage_class`] works (Azure's Set Blob Tier).
    pub set_class: bool,
    /// Objects can carry an Object Lock retention ([`PutOptions::lock`],
    /// [`Backend::object_lock`], [`Backend::set_retention`]): S3.
    pub object_lock: bool,
    /// [`Backend::put_part_stream`] writes pieces as they come (a folder):
    /// uploads feed it small pieces instead of whole parts.
    pub streamed_parts: bool,
}

/// The `size` bytes of `data` as one buffer (no copy when `data` is one
/// piece).
async fn gather(at: At<'_>, size: u64, mut data: PartStream) -> Result<Bytes> {
    use futures::StreamExt as _;
    let mut pieces = Vec::new();
    let mut got = 0u64;
    while let Some(piece) = data.next().await {
        let piece = piece.map_err(|e| at.source(e))?;
        got += piece.len() as u64;
        if got > size {
            return Err(at.source(wrong_size(size, got)));
        }
        pieces.push(piece);
    }
    if got != size {
        return Err(at.source(wrong_size(size, got)));
    }
    if pieces.len() == 1 {
        return Ok(pieces.swap_remove(0));
    }
    let mut all = bytes::BytesMut::with_capacity(size as usize);
    for piece in pieces {
        all.extend_from_slice(&piece);
    }
    Ok(all.freeze())
}

/// The error of a part stream that gave `got` bytes (so far, when more)
/// for a part of `size`.
pub(crate) fn wrong_size(size: u64, got: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the part's source gave {got} bytes for a part of {size}"),
    )
}

/// Options for [`Backend::put`] and [`Backend::create_upload`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PutOptions {
    /// Storage class, e.g. `DEEP_ARCHIVE` (S3), `ARCHIVE` (GCS), `Archive`
    /// (Azure). `None` uses the site's default.
    pub storage_class: Option<String>,
    /// Part size the upload will use (sites that write parts in place use it).
    pub part_size: Option<u64>,
    /// Total size of a multipart upload (sites that need it up front).
    pub size: Option<u64>,
    /// Small key/value metadata stored with the object (S3 `x-amz-meta-*`,
    /// Drive `appProperties`), e.g. content hashes so checks need no download.
    pub metadata: BTreeMap<String, String>,
    /// Object Lock retention to write the object with (S3, on a bucket
    /// with Object Lock enabled; the write sends the checksum S3 requires).
    pub lock: Option<ObjectLock>,
}

impl PutOptions {
    /// Options with a storage class.
    pub fn with_storage_class(mut self, class: Option<String>) -> Self {
        self.storage_class = class;
        self
    }

    /// Options with a part size.
    pub fn with_part_size(mut self, size: u64) -> Self {
        self.part_size = Some(size);
        self
    }

    /// Options with the total size of a multipart upload.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Options with an Object Lock retention.
    pub fn with_lock(mut self, lock: Option<ObjectLock>) -> Self {
        self.lock = lock;
        self
    }

    /// Options with one more metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A completed part, as the caller persists it to resume an upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// 0-based part index.
    pub index: u32,
    /// Bytes in the part.
    pub size: u64,
    /// The site's receipt for the part (ETag or similar), opaque.
    pub receipt: String,
    /// SHA-256 of the part, base64 (as S3 reports checksums).
    pub sha256: String,
}

/// What a finished put reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutResult {
    /// The object's ETag, if the site has one.
    pub etag: Option<String>,
}

/// A multipart upload found on the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the site's prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, seconds since the Unix epoch.
    pub modified: i64,
    /// ETag, if the site has one.
    pub etag: Option<String>,
    /// Storage class, where the site says it (S3 omits it for STANDARD).
    pub storage_class: Option<String>,
    /// Stored SHA-256 checksum, base64; for multipart objects on S3 the
    /// checksum of the parts' checksums, with a `-N` suffix on AWS.
    pub sha256: Option<String>,
    /// Restore status, where the site reports one (HEAD on cold objects).
    pub restore: Option<RestoreStatus>,
    /// Metadata stored with the object, where the site returns it (HEAD on
    /// S3; HEAD and listings on Drive).
    pub metadata: BTreeMap<String, String>,
    /// The Object Lock retention of this version (HEAD on S3).
    pub lock: Option<ObjectLock>,
    /// The version id, on a versioned bucket (HEAD on S3).
    pub version: Option<String>,
}

/// Retrieval tier of a restore from a cold storage class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestoreTier {
    /// Cheapest, slowest (Deep Archive: within 48 hours).
    #[default]
    Bulk,
    /// Deep Archive: within 12 hours.
    Standard,
    /// Fastest (not available for Deep Archive).
    Expedited,
}

impl RestoreTier {
    /// S3's name for the tier.
    pub fn as_s3(self) -> &'static str {
        match self {
            RestoreTier::Bulk => "Bulk",
            RestoreTier::Standard => "Standard",
            RestoreTier::Expedited => "Expedited",
        }
    }
}

impl std::str::FromStr for RestoreTier {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "bulk" => Ok(Self::Bulk),
            "standard" => Ok(Self::Standard),
            "expedited" => Ok(Self::Expedited),
            _ => Err(format!(
                "unknown restore tier {s:?} (bulk, standard, expedited)"
            )),
        }
    }
}

/// A request for a temporary readable copy of a cold object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreRequest {
    /// Days the restored copy stays readable.
    pub days: u32,
    /// Retrieval tier.
    pub tier: RestoreTier,
}

impl Default for RestoreRequest {
    fn default() -> Self {
        Self {
            days: 7,
            tier: RestoreTier::Bulk,
        }
    }
}

/// Whether a cold object can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreStatus {
    /// The object is readable as it is (hot storage class).
    NotNeeded,
    /// Cold and no restore requested.
    NotRequested,
    /// A restore is running.
    InProgress,
    /// A restored copy is readable until `expires` (as the site wrote it).
    Ready {
        /// Expiry of the restored copy, e.g. an HTTP date.
        expires: Option<String>,
    },
}

impl Display for RestoreStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreStatus::NotNeeded => f.write_str("readable"),
            RestoreStatus::NotRequested => f.write_str("cold, not restored"),
            RestoreStatus::InProgress => f.write_str("restore in progress"),
            RestoreStatus::Ready { expires: Some(e) } => write!(f, "restored until {e}"),
            RestoreStatus::Ready { expires: None } => f.write_str("restored"),
        }
    }
}
