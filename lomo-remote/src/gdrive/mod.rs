//! Google Drive v3 as a site, on hyper + rustls: folders as a tree under a
//! root folder, found by listing parents and comparing names exactly
//! (module `tree`); objects known by their Drive id, which every write takes
//! from the file resource Drive answers and checks (size, SHA-256); creates
//! that a retry cannot duplicate (module `api`); multipart uploads up to 5 MB
//! and resumable ones above, as Google's clients run them (module `resumable`);
//! ranged downloads, paged listings, `appProperties` metadata, token
//! refresh on expiry.

mod api;
mod memo;
mod oauth;
mod resumable;
mod tree;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use http::{Method, StatusCode};
use http_body_util::BodyDataStream;
use serde_json::{Value, json};

pub use oauth::{
    AuthError, OAuthClient, Pkce, SCOPE, SCOPE_FULL, SCOPE_READONLY, Token, loopback_flow,
    refresh_file,
};

use crate::backend::{
    Backend, ByteStream, Capabilities, ObjectInfo, Part, PendingUpload, PutOptions, PutResult,
    RestoreRequest, RestoreStatus,
};
use crate::error::{At, Op, Result};
use crate::http::{Collected, HttpClient};
use crate::meter::{Meter, Usage};
use crate::objstore::check_key;
use crate::open::SiteMemo;
use crate::retry::RetryPolicy;

const FOLDER: &str = "application/vnd.google-apps.folder";
const FILE_FIELDS: &str =
    "id,name,mimeType,parents,size,createdTime,modifiedTime,sha256Checksum,appProperties";
/// Larger objects go up as resumable uploads; Google documents multipart
/// for files of 5 MB or less.
pub const MULTIPART_MAX: usize = 5_000_000;
/// Chunk size of resumable uploads made by `put`.
const PUT_CHUNK: u64 = 32 * CHUNK_ALIGN;
/// Resumable chunks (all but the last) are multiples of this.
pub const CHUNK_ALIGN: u64 = 256 * 1024;

/// Access tokens, refreshed when they expire, written back to the token file.
#[derive(Debug)]
struct TokenSource {
    client: OAuthClient,
    token: tokio::sync::Mutex<Token>,
    path: Option<PathBuf>,
}

impl TokenSource {
    async fn access(&self, http: &HttpClient) -> std::result::Result<String, AuthError> {
        let mut t = self.token.lock().await;
        if t.expires_within(60) {
            *t = self.client.refresh(http, &t).await?;
            self.persist(&t)?;
        }
        Ok(t.access_token.clone())
    }

    /// After a 401 with `stale`: refresh unless another request already did.
    async fn refresh(&self, http: &HttpClient, stale: &str) -> std::result::Result<(), AuthError> {
        let mut t = self.token.lock().await;
        if t.access_token == stale {
            *t = self.client.refresh(http, &t).await?;
            self.persist(&t)?;
        }
        Ok(())
    }

    fn persist(&self, t: &Token) -> std::result::Result<(), AuthError> {
        match &self.path {
            Some(p) => t.save(p),
            None => Ok(()),
        }
    }
}

/// One file as `files.list`/`files.get` return it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DriveFile {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    parents: Vec<String>,
    size: Option<String>,
    created_time: Option<String>,
    modified_time: Option<String>,
    sha256_checksum: Option<String>,
    #[serde(default)]
    app_properties: BTreeMap<String, String>,
}

impl DriveFile {
    fn size(&self) -> Option<u64> {
        self.size.as_deref().and_then(|s| s.parse().ok())
    }

    fn info(&self, key: String) -> ObjectInfo {
        ObjectInfo {
            key,
            size: self.size().unwrap_or(0),
            modified: self
                .modified_time
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or(0, jiff::Timestamp::as_second),
            etag: Some(self.id.clone()),
            storage_class: None,
            sha256: self.sha256_checksum.as_deref().and_then(hex_to_b64),
            restore: Some(RestoreStatus::NotNeeded),
            metadata: self.app_properties.clone(),
            lock: None,
            version: None,
        }
    }
}

fn hex_to_b64(h: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

/// Fuzz hook: panicking on a broken invariant is its job.
#[allow(clippy::panic, clippy::manual_assert)]
pub(crate) fn fuzz_json(data: &[u8]) {
    if let Ok(page) = serde_json::from_slice::<ListPage>(data) {
        for f in page.files {
            let _ = f.info(f.name.clone());
        }
    }
    if let Ok(f) = serde_json::from_slice::<DriveFile>(data) {
        let _ = f.info(String::new());
    }
    let _ = api::reason(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = OAuthClient::from_json(text);
        let _ = serde_json::from_str::<resumable::Session>(text);
    }
    if let Ok(t) = serde_json::from_slice::<Token>(data) {
        let _ = t.expires_within(0);
        let again: Token = serde_json::from_str(&serde_json::to_string(&t).unwrap_or_default())
            .unwrap_or_else(|e| panic!("a token that parsed does not write back: {e}"));
        assert!(
            again.access_token == t.access_token
                && again.refresh_token == t.refresh_token
                && again.expiry == t.expiry
        );
    }
}

/// How to reach Drive.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// API base, default `https://www.googleapis.com`.
    pub endpoint: String,
    /// Folder path under My Drive.
    pub folder: String,
    /// OAuth client (from the credentials JSON).
    pub client: OAuthClient,
    /// The current token.
    pub token: Token,
    /// Where refreshed tokens are written.
    pub token_path: Option<PathBuf>,
}

struct Inner {
    name: String,
    api: String,
    root: Vec<String>,
    http: HttpClient,
    auth: TokenSource,
    tree: tokio::sync::Mutex<tree::Tree>,
    /// Ids reserved with `files.generateIds`, not used yet.
    ids: tokio::sync::Mutex<Vec<String>>,
    /// Held while folders are made.
    mkdir: tokio::sync::Mutex<()>,
    /// Session URIs a 308 moved: first URI → current one.
    moved: std::sync::Mutex<HashMap<String, String>>,
    /// Ids known from earlier runs and this one.
    ids_of: memo::Remembered,
    memo: Option<Arc<dyn SiteMemo>>,
    meter: Arc<Meter>,
    retry: RetryPolicy,
}

/// A Google Drive folder as a site.
#[derive(Clone)]
pub(crate) struct DriveBackend {
    inner: Arc<Inner>,
}

impl fmt::Debug for DriveBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriveBackend")
            .field("name", &self.inner.name)
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for DriveBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (gdrive://{})",
            self.inner.name,
            self.inner.root.join("/")
        )
    }
}

impl DriveBackend {
    pub(crate) fn new(
        name: &str,
        cfg: DriveConfig,
        meter: Arc<Meter>,
        (retry, memo): (RetryPolicy, Option<Arc<dyn SiteMemo>>),
    ) -> Self {
        let http = HttpClient::new(meter.clone(), retry);
        let ids_of = memo
            .as_deref()
            .map(memo::Remembered::load)
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                api: cfg.endpoint.trim_end_matches('/').to_owned(),
                root: cfg
                    .folder
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                http,
                auth: TokenSource {
                    client: cfg.client,
                    token: tokio::sync::Mutex::new(cfg.token),
                    path: cfg.token_path,
                },
                tree: tokio::sync::Mutex::new(tree::Tree::default()),
                ids: tokio::sync::Mutex::new(Vec::new()),
                mkdir: tokio::sync::Mutex::new(()),
                moved: std::sync::Mutex::new(HashMap::new()),
                ids_of,
                memo,
                meter,
                retry,
            }),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(m) = &self.memo {
            self.ids_of.save(m.as_ref());
        }
    }
}

impl Inner {
    /// `key` from My Drive down (memo entries name whole paths, so that a
    /// site pointed at another folder never reads the old one's ids).
    fn whole_key(&self, key: &str) -> String {
        let mut p = self.root.join("/");
        p.push('/');
        p.push_str(key);
        p
    }

    /// The folder new files at `key` go to (made if missing), the files at
    /// `key` now (replaced once the new one is in), and the file name.
    async fn target<'k>(&self, at: At<'_>, key: &'k str) -> Result<(String, Vec<String>, &'k str)> {
        let (dirs, name) = split(key);
        let folders = self.dir_ids(at, &dirs, true).await?;
        let old = self.named(at, &folders, name).await?;
        let parent = folders.first().cloned().ok_or_else(|| at.not_found())?;
        Ok((parent, old.into_iter().map(|(_, f)| f.id).collect(), name))
    }

    /// After a write made `f` in `parent`: record it, drop what it replaced.
    async fn replaced(
        &self,
        at: At<'_>,
        (key, parent): (&str, &str),
        f: DriveFile,
        old: Vec<String>,
    ) -> Result<()> {
        let new = f.id.clone();
        self.ids_of.set_file(&self.whole_key(key), &new);
        self.tree.lock().await.add(parent, f);
        let old: Vec<String> = old.into_iter().filter(|id| *id != new).collect();
        self.delete_ids(at, &old).await
    }

    /// One multipart request: metadata and media (objects up to 5 MB).
    async fn put_multipart(
        &self,
        at: At<'_>,
        (parent, name): (&str, &str),
        data: &Bytes,
        opts: &PutOptions,
    ) -> Result<DriveFile> {
        let id = self.reserve_id(at).await?;
        let meta =
            json!({"id": id, "name": name, "parents": [parent], "appProperties": opts.metadata});
        let (ctype, body) = multipart_body(&meta, data);
        let url = format!(
            "{}/upload/drive/v3/files?uploadType=multipart&fields={}",
            self.api,
            api::enc(FILE_FIELDS)
        );
        let r = self
            .call(at, |t| {
                self.req(Method::POST, &url, t, body.clone(), Some(&ctype))
            })
            .await?;
        self.created(at, &id, &r).await
    }

    /// A resumable session run to its end in one go (objects over 5 MB).
    async fn put_resumable(
        &self,
        at: At<'_>,
        (parent, name): (&str, &str),
        data: &Bytes,
        opts: &PutOptions,
    ) -> Result<DriveFile> {
        let total = data.len() as u64;
        let upload = self
            .begin(at, parent, name, &opts.metadata, (PUT_CHUNK, total))
            .await?;
        for (i, from) in (0..total).step_by(PUT_CHUNK as usize).enumerate() {
            let to = (from + PUT_CHUNK).min(total);
            let index = u32::try_from(i).map_err(|_| at.unsupported("objects this large"))?;
            self.send_part(at, &upload, index, data.slice(from as usize..to as usize))
                .await?;
        }
        self.finish(at, &upload).await
    }

    /// The newest file at `key`, from the folders remembered or listed, or
    /// from a walk down from My Drive when they hold none (they may be gone).
    async fn current(&self, at: At<'_>, key: &str) -> Result<DriveFile> {
        let mut found = self.resolve_remembered(at, key).await?;
        if found.is_empty() {
            found = self.resolve_fresh(at, key).await?;
        }
        self.first(at, key, found)
    }

    /// The file at `key` after Drive answered 404 to `stale`, its id: this
    /// process's listings if they know another, else a fresh walk.
    async fn relook(&self, at: At<'_>, key: &str, stale: &str) -> Result<DriveFile> {
        self.ids_of.forget_file(&self.whole_key(key));
        let mut found = self.resolve(at, key).await?;
        found.retain(|(_, f)| f.id != stale);
        if found.is_empty() {
            found = self.resolve_fresh(at, key).await?;
        }
        self.first(at, key, found)
    }

    fn first(&self, at: At<'_>, key: &str, found: Vec<(String, DriveFile)>) -> Result<DriveFile> {
        let f = found
            .into_iter()
            .next()
            .map(|(_, f)| f)
            .ok_or_else(|| at.not_found())?;
        self.ids_of.set_file(&self.whole_key(key), &f.id);
        Ok(f)
    }
}

/// Checks that Drive stored what was sent: its size and SHA-256.
fn stored_as_sent(at: At<'_>, f: &DriveFile, data: &[u8]) -> Result<()> {
    let want = crate::objstore::sha256_b64(data);
    let got = f.sha256_checksum.as_deref().and_then(hex_to_b64);
    if f.size() != Some(data.len() as u64) || got.as_deref().is_some_and(|g| g != want) {
        return Err(at.integrity(format!(
            "Drive stored {} bytes (SHA-256 {}) for {} sent",
            f.size().map_or_else(|| "?".to_owned(), |n| n.to_string()),
            got.unwrap_or_default(),
            data.len()
        )));
    }
    Ok(())
}

fn split(key: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = key.split('/').collect();
    let name = parts.pop().unwrap_or("");
    (parts, name)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    next_page_token: Option<String>,
    #[serde(default)]
    files: Vec<DriveFile>,
}

fn multipart_body(meta: &Value, data: &[u8]) -> (String, Bytes) {
    let boundary = format!("lomob-{:016x}", rand::random::<u64>());
    let mut b = Vec::with_capacity(data.len() + 512);
    b.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/related; boundary={boundary}"),
        Bytes::from(b),
    )
}

#[async_trait::async_trait]
impl Backend for DriveBackend {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            multipart: true,
            min_part_size: CHUNK_ALIGN,
            max_parts: u32::MAX,
            storage_classes: false,
            restore: false,
            stored_checksum: true,
            range_reads: true,
            metered: false,
            part_multiple: CHUNK_ALIGN,
            sequential_parts: true,
            composite_checksum: false,
            set_class: false,
            object_lock: false,
            streamed_parts: false,
        }
    }

    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<PutResult> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::Put, key);
        check_key(at, key, false)?;
        let (parent, old, name) = s.target(at, key).await?;
        let f = if data.len() <= MULTIPART_MAX {
            s.put_multipart(at, (&parent, name), &data, opts).await?
        } else {
            s.put_resumable(at, (&parent, name), &data, opts).await?
        };
        stored_as_sent(at, &f, &data)?;
        s.replaced(at, (key, &parent), f, old).await?;
        Ok(PutResult { etag: None })
    }

    async fn create_upload(&self, key: &str, opts: &PutOptions) -> Result<String> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::CreateUpload, key);
        check_key(at, key, false)?;
        let (Some(part), Some(total)) = (opts.part_size, opts.size) else {
            return Err(at.unsupported("resumable uploads without a part size and total size"));
        };
        if part == 0 || part % CHUNK_ALIGN != 0 {
            return Err(at.unsupported("part sizes that are not a multiple of 256 KiB"));
        }
        let (dirs, name) = split(key);
        let folders = s.dir_ids(at, &dirs, true).await?;
        let parent = folders.first().ok_or_else(|| at.not_found())?;
        s.begin(at, parent, name, &opts.metadata, (part, total))
            .await
    }

    async fn put_part(&self, key: &str, upload_id: &str, index: u32, data: Bytes) -> Result<Part> {
        let at = At::new(&self.inner.name, Op::PutPart, key);
        self.inner.send_part(at, upload_id, index, data).await
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        _parts: &[Part],
    ) -> Result<PutResult> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::CompleteUpload, key);
        let f = s.finish(at, upload_id).await?;
        let (parent, old, _) = s.target(at, key).await?;
        let parent = f.parents.first().cloned().unwrap_or(parent);
        s.replaced(at, (key, &parent), f, old).await?;
        Ok(PutResult { etag: None })
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::AbortUpload, key);
        let Ok(sess) = resumable::Session::parse(at, upload_id) else {
            return Ok(());
        };
        // Drive drops unfinished sessions after a week; DELETE ends one now.
        let r = s
            .call_plain(at, Method::DELETE, &s.session_uri(&sess))
            .await?;
        if r.status.is_server_error() {
            return Err(Inner::fail(at, &r));
        }
        Ok(())
    }

    async fn list_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        let at = At::new(&self.inner.name, Op::ListUploads, prefix);
        Err(at.unsupported("listing resumable sessions (Drive drops them after a week)"))
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::Get, key);
        check_key(at, key, false)?;
        let mut id = match s.ids_of.file(&s.whole_key(key)) {
            Some(id) => id,
            None => s.current(at, key).await?.id,
        };
        if range.as_ref().is_some_and(|r| r.start >= r.end) {
            return Ok(futures::stream::empty().boxed());
        }
        let (mut refreshed, mut fresh) = (false, false);
        loop {
            let url = format!("{}/drive/v3/files/{}?alt=media", s.api, api::enc(&id));
            let token = s.token(at).await?;
            let resp = s
                .http
                .send(|| {
                    let mut req = s.req(Method::GET, &url, &token, Bytes::new(), None);
                    if let Some(r) = &range
                        && let Ok(v) =
                            http::HeaderValue::from_str(&format!("bytes={}-{}", r.start, r.end - 1))
                    {
                        req.headers_mut().insert("range", v);
                    }
                    req
                })
                .await
                .map_err(|e| at.request(true, e))?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                s.refresh(at, &token).await?;
                continue;
            }
            if status == StatusCode::NOT_FOUND && !fresh {
                // Deleted or replaced by another writer since it was listed.
                fresh = true;
                id = s.relook(at, key, &id).await?.id;
                continue;
            }
            if !status.is_success() {
                let (parts, body) = resp.into_parts();
                let body = http_body_util::BodyExt::collect(body)
                    .await
                    .map(http_body_util::Collected::to_bytes)
                    .unwrap_or_default();
                return Err(Inner::fail(
                    at,
                    &Collected {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    },
                ));
            }
            if range.is_some() && status != StatusCode::PARTIAL_CONTENT {
                return Err(at.request(false, "Drive ignored the byte range"));
            }
            let (name, key) = (s.name.clone(), key.to_owned());
            return Ok(BodyDataStream::new(resp.into_body())
                .map(move |c| {
                    c.map_err(|e| At::new(&name, Op::Get, &key).request(true, e.to_string()))
                })
                .boxed());
        }
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::Head, key);
        check_key(at, key, false)?;
        Ok(s.current(at, key).await?.info(key.to_owned()))
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo>> {
        let inner = self.inner.clone();
        let prefix = prefix.trim_matches('/').to_owned();
        struct St {
            inner: Arc<Inner>,
            prefix: String,
            started: bool,
            queue: VecDeque<(String, String)>,
            buf: VecDeque<ObjectInfo>,
        }
        let st = St {
            inner,
            prefix,
            started: false,
            queue: VecDeque::new(),
            buf: VecDeque::new(),
        };
        futures::stream::unfold(Some(st), |st| async move {
            let mut st = st?;
            loop {
                if let Some(o) = st.buf.pop_front() {
                    return Some((Ok(o), Some(st)));
                }
                let s = st.inner.clone();
                let at = At::new(&s.name, Op::List, &st.prefix);
                if !st.started {
                    st.started = true;
                    if let Err(e) = check_key(at, &st.prefix, true) {
                        return Some((Err(e), None));
                    }
                    let dirs: Vec<&str> = st.prefix.split('/').filter(|p| !p.is_empty()).collect();
                    match s.dir_ids(at, &dirs, false).await {
                        // Every folder at the path: duplicates are read as one.
                        Ok(ids) => st
                            .queue
                            .extend(ids.into_iter().map(|id| (id, st.prefix.clone()))),
                        Err(e) => return Some((Err(e), None)),
                    }
                }
                let (id, path) = st.queue.pop_front()?;
                let files = match s.list_folder(at, &id).await {
                    Ok(f) => f,
                    Err(e) => return Some((Err(e), None)),
                };
                for f in files {
                    let p = if path.is_empty() {
                        f.name.clone()
                    } else {
                        format!("{path}/{}", f.name)
                    };
                    if f.mime_type == FOLDER {
                        st.queue.push_back((f.id.clone(), p));
                    } else {
                        st.buf.push_back(f.info(p));
                    }
                }
            }
        })
        .boxed()
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::Delete, key);
        check_key(at, key, false)?;
        let ids: Vec<String> = s
            .resolve(at, key)
            .await?
            .into_iter()
            .map(|(_, f)| f.id)
            .collect();
        s.ids_of.forget_file(&s.whole_key(key));
        s.delete_ids(at, &ids).await
    }

    async fn restore(&self, key: &str, _request: RestoreRequest) -> Result<RestoreStatus> {
        self.head(key).await?;
        Ok(RestoreStatus::NotNeeded)
    }

    fn usage(&self) -> Usage {
        self.inner.meter.usage()
    }
}
