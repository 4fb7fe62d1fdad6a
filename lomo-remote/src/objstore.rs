//! S3, GCS and Azure sites on object_store (plus [`S3Extra`] for what
//! object_store does not do on S3).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt as _,
    PutMultipartOptions, PutPayload,
};
use sha2::Digest as _;

use crate::azure::AzureExtra;
use crate::backend::{
    Backend, ByteStream, Capabilities, ObjectInfo, Part, PendingUpload, PutOptions, PutResult,
    RestoreRequest, RestoreStatus,
};
use crate::error::{At, Error, Op, Result};
use crate::http::error_chain;
use crate::meter::{Meter, Usage};
use crate::s3::S3Extra;

/// Which service an [`StoreBackend`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    S3,
    Gcs,
    Azure,
}

/// The requests a site makes itself, beside object_store's.
#[derive(Debug, Clone)]
pub(crate) enum Extra {
    /// None (GCS).
    None,
    /// Checksummed PUT and HEAD, restores, listings with classes.
    S3(Arc<S3Extra>),
    /// Tiers: set, rehydrate, listed.
    Azure(Arc<AzureExtra>),
}

impl Extra {
    fn s3(&self) -> Option<&Arc<S3Extra>> {
        match self {
            Extra::S3(s3) => Some(s3),
            _ => None,
        }
    }
}

/// A site on an object_store store.
pub(crate) struct StoreBackend {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) service: Service,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) multipart: Arc<dyn MultipartStore>,
    /// Site prefix, "" or without leading/trailing slash.
    pub(crate) prefix: String,
    pub(crate) default_class: Option<String>,
    pub(crate) extra: Extra,
    pub(crate) meter: Arc<Meter>,
}

impl fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreBackend")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("service", &self.service)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for StoreBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.url)
    }
}

/// Checks a site-relative key: `/`-separated names, none empty, `.` or
/// `..`, none with a control character, within the lengths every kind of
/// site takes. Any other character is allowed: keys other programs chose
/// (the Go tool's Drive tree, a user's ISO name) carry spaces, accents,
/// CJK and emoji. lomob's own keys use letters, digits and `- _ . ~ =`.
pub(crate) fn check_key(at: At<'_>, key: &str, allow_empty: bool) -> Result<()> {
    if key.is_empty() {
        return if allow_empty {
            Ok(())
        } else {
            Err(at.invalid_key("empty key"))
        };
    }
    if key.len() > MAX_KEY {
        return Err(at.invalid_key(format!(
            "{} bytes long (sites take at most {MAX_KEY})",
            key.len()
        )));
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(at.invalid_key("empty, `.` or `..` path segment"));
        }
        if seg.len() > MAX_SEGMENT {
            return Err(at.invalid_key(format!(
                "a name of {} bytes (folders hold at most {MAX_SEGMENT})",
                seg.len()
            )));
        }
        if let Some(c) = seg.chars().find(|c| c.is_control()) {
            return Err(at.invalid_key(format!("control character {c:?}")));
        }
    }
    Ok(())
}

/// The longest key every kind of site takes (S3's limit, in UTF-8 bytes).
pub(crate) const MAX_KEY: usize = 1024;
/// The longest name between slashes (a file name on Linux and macOS).
pub(crate) const MAX_SEGMENT: usize = 255;

/// What an Azure upload id carries after the store's own: the tier the
/// blob gets once its block list is committed.
const TIER_MARK: &str = "#tier=";

/// An upload id as (the store's id, the tier to set after the commit).
fn split_upload_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(TIER_MARK) {
        Some((id, tier)) => (id, Some(tier)),
        None => (id, None),
    }
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}/{key}"),
    }
}

/// SHA-256 of `data`, base64, as S3 reports checksums.
pub(crate) fn sha256_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(data))
}

impl StoreBackend {
    fn path(&self, at: At<'_>, key: &str) -> Result<Path> {
        check_key(at, key, false)?;
        Path::parse(join(&self.prefix, key)).map_err(|e| at.invalid_key(e.to_string()))
    }

    /// What to strip from full keys to make them site-relative.
    fn strip_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    fn attributes(&self, opts: &PutOptions) -> Attributes {
        let mut attrs = Attributes::new();
        if let Some(class) = opts.storage_class.as_ref().or(self.default_class.as_ref()) {
            attrs.insert(Attribute::StorageClass, class.clone().into());
        }
        for (k, v) in &opts.metadata {
            attrs.insert(Attribute::Metadata(k.clone().into()), v.clone().into());
        }
        attrs
    }
}

/// An object_store entry as [`ObjectInfo`] under a site-relative `key`.
pub(crate) fn meta_info(
    key: String,
    m: object_store::ObjectMeta,
    restore: Option<RestoreStatus>,
) -> ObjectInfo {
    ObjectInfo {
        key,
        size: m.size,
        modified: m.last_modified.timestamp(),
        etag: m.e_tag,
        storage_class: None,
        sha256: None,
        restore,
        metadata: Default::default(),
        lock: None,
        version: None,
    }
}

/// Reads `path` (or a range of it) as a stream whose errors name the site and key.
pub(crate) async fn get_stream(
    store: &dyn ObjectStore,
    site: &str,
    key: &str,
    path: &Path,
    range: Option<Range<u64>>,
) -> Result<ByteStream> {
    let opts = GetOptions {
        range: range.map(GetRange::Bounded),
        ..Default::default()
    };
    let r = store
        .get_opts(path, opts)
        .await
        .map_err(|e| map_err(At::new(site, Op::Get, key), e))?;
    let (site, key) = (site.to_owned(), key.to_owned());
    Ok(r.into_stream()
        .map(move |c| c.map_err(|e| map_err(At::new(&site, Op::Get, &key), e)))
        .boxed())
}

/// Deletes `path`; a missing object is no error.
pub(crate) async fn delete_quietly(store: &dyn ObjectStore, at: At<'_>, path: &Path) -> Result<()> {
    match store.delete(path).await {
        Ok(()) => Ok(()),
        Err(e) => match map_err(at, e) {
            Error::NotFound { .. } => Ok(()),
            other => Err(other),
        },
    }
}

/// Maps an object_store error to ours.
pub(crate) fn map_err(at: At<'_>, e: object_store::Error) -> Error {
    let text = error_chain(&e);
    if text.contains("InvalidObjectState") || text.contains("BlobArchived") {
        return at.not_restored();
    }
    match e {
        object_store::Error::NotFound { .. } => at.not_found(),
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => at.denied(text),
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            at.unsupported(text)
        }
        other => {
            let transient = is_transient(&other, &text);
            at.request(transient, text)
        }
    }
}

fn is_transient(e: &(dyn std::error::Error + 'static), text: &str) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<object_store::client::HttpError>()
            .is_some()
        {
            return true;
        }
        cur = c.source();
    }
    text.contains("status code: 5")
        || text.contains("status code: 429")
        || text.contains("SlowDown")
        || text.contains("Throttl")
}

/// A listing by hand, one page at a time (S3's ListObjectsV2 and Azure's
/// List Blobs keep the storage class that object_store's listings drop).
#[async_trait::async_trait]
pub(crate) trait Pages: Send + Sync {
    /// The page after `token` (the first without) of the objects under
    /// `folder` (full keys, `p/`), their keys without `strip`; and the
    /// next page's token.
    async fn page(
        &self,
        at: At<'_>,
        folder: &str,
        strip: &str,
        token: Option<&str>,
    ) -> Result<(Vec<ObjectInfo>, Option<String>)>;
}

/// A listing read page by page: `page(token)` gives one page's objects
/// and the token of the next, none after the last.
fn paged<F, Fut>(page: F) -> BoxStream<'static, Result<ObjectInfo>>
where
    F: Fn(Option<String>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(Vec<ObjectInfo>, Option<String>)>> + Send + 'static,
{
    futures::stream::unfold(Some(None::<String>), move |token| {
        let next = token.map(&page);
        async move {
            match next?.await {
                Ok((items, next)) => Some((Ok(items), next.map(Some))),
                Err(e) => Some((Err(e), None)),
            }
        }
    })
    .map(|page| match page {
        Ok(items) => futures::stream::iter(items.into_iter().map(Ok)).boxed(),
        Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
    })
    .flatten()
    .boxed()
}

#[async_trait::async_trait]
impl Backend for StoreBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        let (min_part_size, max_parts) = match self.service {
            Service::S3 | Service::Gcs => (5 << 20, 10_000),
            Service::Azure => (1, 50_000),
        };
        let no_cold = self.extra.s3().is_some_and(|s| s.no_cold_classes());
        Capabilities {
            multipart: true,
            min_part_size,
            max_parts,
            // until a server says it has no cold classes (RestoreObject: 501)
            storage_classes: !no_cold,
            restore: match &self.extra {
                Extra::S3(_) => !no_cold,
                Extra::Azure(_) => true,
                Extra::None => false,
            },
            stored_checksum: self.service == Service::S3,
            range_reads: true,
            metered: true,
            part_multiple: 1,
            sequential_parts: false,
            composite_checksum: self.service == Service::S3,
            set_class: matches!(self.extra, Extra::Azure(_)),
            object_lock: self.service == Service::S3,
            streamed_parts: false,
        }
    }

    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<PutResult> {
        let at = At::new(&self.name, Op::Put, key);
        let path = self.path(at, key)?;
        if let Some(s3) = self.extra.s3() {
            let class = opts.storage_class.as_ref().or(self.default_class.as_ref());
            let replaced = s3.replaceable(at, path.as_ref()).await?;
            let etag = s3
                .put(at, path.as_ref(), data, class.map(String::as_str), opts)
                .await?;
            if let crate::s3lock::Current::Version(old) = replaced {
                s3.delete_version(At::new(&self.name, Op::Delete, key), path.as_ref(), &old)
                    .await?;
            }
            return Ok(PutResult { etag });
        }
        if opts.lock.is_some() {
            return Err(at.unsupported("Object Lock retention"));
        }
        let put = object_store::PutOptions {
            attributes: self.attributes(opts),
            ..Default::default()
        };
        let r = self
            .store
            .put_opts(&path, PutPayload::from(data), put)
            .await
            .map_err(|e| map_err(at, e))?;
        Ok(PutResult { etag: r.e_tag })
    }

    async fn create_upload(&self, key: &str, opts: &PutOptions) -> Result<String> {
        let at = At::new(&self.name, Op::CreateUpload, key);
        let path = self.path(at, key)?;
        if let Some(s3) = self.extra.s3() {
            s3.replaceable(at, path.as_ref()).await?;
            if let Some(lock) = &opts.lock {
                let class = opts.storage_class.as_ref().or(self.default_class.as_ref());
                return s3
                    .create_upload(at, path.as_ref(), class.map(String::as_str), opts, lock)
                    .await;
            }
        } else if opts.lock.is_some() {
            return Err(at.unsupported("Object Lock retention"));
        }
        let mut attributes = self.attributes(opts);
        let mut tier = None;
        if self.service == Service::Azure {
            // object_store does not send the tier with the block list: it
            // is set once the blob exists, from the upload id, which keeps
            // it for a resume in another process.
            tier = attributes.remove(&Attribute::StorageClass);
        }
        let o = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let id = self
            .multipart
            .create_multipart_opts(&path, o)
            .await
            .map_err(|e| map_err(at, e))?;
        Ok(match tier {
            Some(t) => format!("{id}{TIER_MARK}{}", t.as_ref()),
            None => id,
        })
    }

    async fn put_part(&self, key: &str, upload_id: &str, index: u32, data: Bytes) -> Result<Part> {
        let at = At::new(&self.name, Op::PutPart, key);
        let path = self.path(at, key)?;
        let size = data.len() as u64;
        let sha256 = sha256_b64(&data);
        let (id, _) = split_upload_id(upload_id);
        let id = id.to_owned();
        let part = self
            .multipart
            .put_part(&path, &id, index as usize, PutPayload::from(data))
            .await
            .map_err(|e| match map_err(at, e) {
                Error::NotFound { .. } => at.upload_gone(upload_id),
                other => other,
            })?;
        Ok(Part {
            index,
            size,
            receipt: part.content_id,
            sha256,
        })
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[Part],
    ) -> Result<PutResult> {
        let at = At::new(&self.name, Op::CompleteUpload, key);
        let path = self.path(at, key)?;
        let ids = parts
            .iter()
            .map(|p| PartId {
                content_id: p.receipt.clone(),
            })
            .collect();
        let (id, tier) = split_upload_id(upload_id);
        let id = id.to_owned();
        let r = self
            .multipart
            .complete_multipart(&path, &id, ids)
            .await
            .map_err(|e| match map_err(at, e) {
                Error::NotFound { .. } => at.upload_gone(upload_id),
                other => other,
            })?;
        if let (Extra::Azure(az), Some(tier)) = (&self.extra, tier) {
            az.set_tier(at, path.as_ref(), tier, None).await?;
        }
        Ok(PutResult { etag: r.e_tag })
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        let at = At::new(&self.name, Op::AbortUpload, key);
        let path = self.path(at, key)?;
        let (id, _) = split_upload_id(upload_id);
        let id = id.to_owned();
        match self.multipart.abort_multipart(&path, &id).await {
            Ok(()) => Ok(()),
            Err(e) => match map_err(at, e) {
                Error::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn list_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        let at = At::new(&self.name, Op::ListUploads, prefix);
        check_key(at, prefix, true)?;
        match (self.extra.s3(), self.service) {
            (Some(s3), _) => {
                let full = join(&self.prefix, prefix);
                s3.list_uploads(at, &full, &self.strip_prefix()).await
            }
            // Azure keeps uncommitted blocks, not upload objects, and drops
            // them after seven days: there is nothing to list or leak.
            (None, Service::Azure) => Ok(Vec::new()),
            _ => Err(at.unsupported("listing multipart uploads")),
        }
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream> {
        let at = At::new(&self.name, Op::Get, key);
        let path = self.path(at, key)?;
        get_stream(self.store.as_ref(), &self.name, key, &path, range).await
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let at = At::new(&self.name, Op::Head, key);
        let path = self.path(at, key)?;
        match &self.extra {
            Extra::S3(s3) => s3.head(at, path.as_ref()).await,
            Extra::Azure(az) => az.head(at, path.as_ref()).await,
            Extra::None => {
                let m = self.store.head(&path).await.map_err(|e| map_err(at, e))?;
                // GCS archive classes are readable online.
                let restore = (self.service == Service::Gcs).then_some(RestoreStatus::NotNeeded);
                Ok(meta_info(key.to_owned(), m, restore))
            }
        }
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo>> {
        let at = At::new(&self.name, Op::List, prefix);
        if let Err(e) = check_key(at, prefix, true) {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        let full = join(&self.prefix, prefix);
        let (name, strip, listed) = (self.name.clone(), self.strip_prefix(), prefix.to_owned());
        // By hand where object_store drops the storage class or tier.
        let folder = if full.is_empty() {
            String::new()
        } else {
            format!("{full}/")
        };
        let pages: Option<Arc<dyn Pages>> = match self.extra.clone() {
            Extra::S3(s3) => Some(s3),
            Extra::Azure(az) => Some(az),
            Extra::None => None,
        };
        if let Some(pages) = pages {
            return paged(move |token| {
                let (pages, folder, strip, name, listed) = (
                    pages.clone(),
                    folder.clone(),
                    strip.clone(),
                    name.clone(),
                    listed.clone(),
                );
                async move {
                    let at = At::new(&name, Op::List, &listed);
                    pages.page(at, &folder, &strip, token.as_deref()).await
                }
            });
        }
        let list_prefix = (!full.is_empty()).then(|| Path::from(full.as_str()));
        self.store
            .list(list_prefix.as_ref())
            .map(move |r| match r {
                Ok(m) => {
                    let loc = m.location.as_ref();
                    let key = loc.strip_prefix(strip.as_str()).unwrap_or(loc).to_owned();
                    Ok(meta_info(key, m, None))
                }
                Err(e) => Err(map_err(At::new(&name, Op::List, &listed), e)),
            })
            .boxed()
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let at = At::new(&self.name, Op::Delete, key);
        let path = self.path(at, key)?;
        if let Some(s3) = self.extra.s3().filter(|s| s.guards_locks()) {
            use crate::s3lock::Current;
            return match s3.replaceable(at, path.as_ref()).await? {
                Current::Version(v) => s3.delete_version(at, path.as_ref(), &v).await,
                // Nothing to delete: a DELETE would only leave a marker.
                Current::Absent => Ok(()),
                Current::Unknown => delete_quietly(self.store.as_ref(), at, &path).await,
            };
        }
        delete_quietly(self.store.as_ref(), at, &path).await
    }

    async fn restore(&self, key: &str, request: RestoreRequest) -> Result<RestoreStatus> {
        let at = At::new(&self.name, Op::Restore, key);
        let path = self.path(at, key)?;
        match &self.extra {
            Extra::S3(s3) => s3.restore(at, path.as_ref(), request).await,
            Extra::Azure(az) => az.restore(at, path.as_ref(), request).await,
            Extra::None => {
                self.head(key).await?;
                Ok(RestoreStatus::NotNeeded)
            }
        }
    }

    async fn set_storage_class(&self, key: &str, class: &str) -> Result<()> {
        let at = At::new(&self.name, Op::SetClass, key);
        let path = self.path(at, key)?;
        match &self.extra {
            Extra::Azure(az) => az
                .set_tier(at, path.as_ref(), class, None)
                .await
                .map(|_| ()),
            _ => Err(at.unsupported("changing the storage class of a stored object")),
        }
    }

    async fn object_lock(&self) -> Result<crate::lock::BucketLock> {
        let at = At::new(&self.name, Op::Head, "");
        match self.extra.s3() {
            Some(s3) => s3.object_lock(at).await,
            None => Err(at.unsupported("Object Lock")),
        }
    }

    async fn set_retention(&self, key: &str, lock: crate::lock::ObjectLock) -> Result<()> {
        let at = At::new(&self.name, Op::SetRetention, key);
        let path = self.path(at, key)?;
        match self.extra.s3() {
            Some(s3) => s3.put_retention(at, path.as_ref(), lock).await,
            None => Err(at.unsupported("Object Lock")),
        }
    }

    async fn undelete(&self, key: &str) -> Result<bool> {
        let at = At::new(&self.name, Op::Delete, key);
        let path = self.path(at, key)?;
        match self.extra.s3() {
            Some(s3) => s3.undelete(at, path.as_ref()).await,
            None => Err(at.unsupported("bringing back a hidden object")),
        }
    }

    async fn hidden(&self, prefix: &str) -> Result<Vec<String>> {
        let at = At::new(&self.name, Op::List, prefix);
        check_key(at, prefix, true)?;
        match self.extra.s3() {
            Some(s3) => {
                let full = join(&self.prefix, prefix);
                crate::s3hidden::hidden_keys(s3, at, &full, &self.strip_prefix()).await
            }
            None => Err(at.unsupported("listing hidden objects")),
        }
    }

    fn usage(&self) -> Usage {
        self.meter.usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let at = At::new("s", Op::Put, "");
        assert!(check_key(at, "lomob/staging/ab/abcdef", false).is_ok());
        assert!(check_key(at, "", false).is_err());
        assert!(check_key(at, "", true).is_ok());
        assert!(check_key(at, "a//b", false).is_err());
        assert!(check_key(at, "a/../b", false).is_err());
        assert!(check_key(at, "Été 2024/写真 🎉 (1).jpg", false).is_ok());
        let e = check_key(at, "a\nb", false).unwrap_err().to_string();
        assert!(e.contains("control character '\\n'"), "{e}");
        let e = check_key(at, &"é".repeat(128), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("256 bytes"), "{e}");
        let deep = vec!["abcdefgh"; 120].join("/");
        assert!(
            check_key(at, &deep, false)
                .unwrap_err()
                .to_string()
                .contains("1079 bytes")
        );
        assert_eq!(join("", "k"), "k");
        assert_eq!(join("p", "k"), "p/k");
        assert_eq!(join("p", ""), "p");
    }
}
