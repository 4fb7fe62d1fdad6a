//! Google Drive v3 as a site, on hyper + rustls: folders as a tree under a
//! root folder, multipart uploads for small objects, resumable uploads
//! (one chunk per part) that survive dropped connections and restarted
//! processes, ranged downloads, paged listings, `appProperties` metadata and
//! Drive's `sha256Checksum`, token refresh on expiry.

mod oauth;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyDataStream, Full};
use serde_json::{Value, json};

pub use oauth::{AuthError, OAuthClient, Pkce, SCOPE, Token, loopback_flow, refresh_file};

use crate::backend::{
    Backend, ByteStream, Capabilities, ObjectInfo, Part, PendingUpload, PutOptions, PutResult,
    RestoreRequest, RestoreStatus,
};
use crate::error::{At, Error, Op, Result};
use crate::http::{Collected, HttpClient, HttpFailure};
use crate::meter::{Meter, Usage};
use crate::objstore::{check_key, sha256_b64};
use crate::retry::RetryPolicy;

const FOLDER: &str = "application/vnd.google-apps.folder";
const FILE_FIELDS: &str = "id,name,mimeType,size,modifiedTime,sha256Checksum,appProperties";
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
    size: Option<String>,
    modified_time: Option<String>,
    sha256_checksum: Option<String>,
    #[serde(default)]
    app_properties: BTreeMap<String, String>,
}

impl DriveFile {
    fn info(&self, key: String) -> ObjectInfo {
        ObjectInfo {
            key,
            size: self
                .size
                .as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            modified: self
                .modified_time
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or(0, jiff::Timestamp::as_second),
            etag: None,
            storage_class: None,
            sha256: self.sha256_checksum.as_deref().and_then(hex_to_b64),
            restore: Some(RestoreStatus::NotNeeded),
            metadata: self.app_properties.clone(),
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
    let _ = reason(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = OAuthClient::from_json(text);
        let _ = serde_json::from_str::<Session>(text);
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

/// A resumable upload session, as the upload id callers persist.
#[derive(serde::Serialize, serde::Deserialize)]
struct Session {
    /// Session URI.
    u: String,
    /// Part size.
    p: u64,
    /// Total size.
    n: u64,
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
    folders: tokio::sync::Mutex<HashMap<String, String>>,
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

fn q_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

fn reason(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let e = &v["error"];
    (
        e["errors"][0]["reason"].as_str().unwrap_or("").to_owned(),
        e["message"].as_str().unwrap_or("").to_owned(),
    )
}

fn human(n: u64) -> String {
    format!("{:.1} GB", n as f64 / 1e9)
}

impl DriveBackend {
    pub(crate) fn new(name: &str, cfg: DriveConfig, meter: Arc<Meter>, retry: RetryPolicy) -> Self {
        let http = HttpClient::new(meter.clone(), retry);
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
                folders: tokio::sync::Mutex::new(HashMap::new()),
                meter,
                retry,
            }),
        }
    }
}

impl Inner {
    fn auth_err(at: At<'_>, e: AuthError) -> Error {
        match e {
            AuthError::Network(m) => at.request(true, m),
            other => at.denied(other.to_string()),
        }
    }

    /// A current access token (refreshed first when it is about to expire).
    async fn token(&self, at: At<'_>) -> Result<String> {
        self.auth
            .access(&self.http)
            .await
            .map_err(|e| Self::auth_err(at, e))
    }

    /// Refreshes after a 401 answered to `stale`.
    async fn refresh(&self, at: At<'_>, stale: &str) -> Result<()> {
        self.auth
            .refresh(&self.http, stale)
            .await
            .map_err(|e| Self::auth_err(at, e))
    }

    /// One API call with the bearer token: 5xx/429/transport retried by the
    /// client, 401 answered by one refresh, 403 rate limits backed off,
    /// 403 storageQuotaExceeded turned into [`Error::Full`].
    async fn call<F>(&self, at: At<'_>, make: F) -> Result<Collected>
    where
        F: Fn(&str) -> Request<Full<Bytes>>,
    {
        let mut refreshed = false;
        let mut limited = 0u32;
        loop {
            let token = self.token(at).await?;
            let r = self
                .http
                .send_collect(|| make(&token))
                .await
                .map_err(|e| at.request(true, e))?;
            match r.status {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    refreshed = true;
                    self.refresh(at, &token).await?;
                }
                StatusCode::FORBIDDEN => {
                    let (why, msg) = reason(&r.body);
                    match why.as_str() {
                        "userRateLimitExceeded" | "rateLimitExceeded"
                            if limited < self.retry.max_retries =>
                        {
                            limited += 1;
                            tokio::time::sleep(self.retry.backoff(limited)).await;
                        }
                        "storageQuotaExceeded" => return Err(self.full(at).await),
                        _ => return Err(at.denied(format!("{why}: {msg}"))),
                    }
                }
                _ => return Ok(r),
            }
        }
    }

    /// The "Drive is full" error, with how full it is (one `about.get`).
    async fn full(&self, at: At<'_>) -> Error {
        let url = format!("{}/drive/v3/about?fields=storageQuota", self.api);
        let about = match self.auth.access(&self.http).await {
            Ok(token) => self
                .http
                .send_collect(|| self.req(Method::GET, &url, &token, Bytes::new(), None))
                .await
                .ok()
                .filter(|r| r.status.is_success()),
            Err(_) => None,
        };
        let detail =
            match about.map(|r| serde_json::from_slice::<Value>(&r.body).unwrap_or_default()) {
                Some(v) => {
                    let n = |k: &str| {
                        v["storageQuota"][k]
                            .as_str()
                            .and_then(|s| s.parse::<u64>().ok())
                    };
                    match (n("usage"), n("limit")) {
                        (Some(u), Some(l)) => {
                            format!("Google Drive is full ({} of {} used)", human(u), human(l))
                        }
                        (Some(u), None) => format!("Google Drive is full ({} used)", human(u)),
                        _ => "Google Drive is full".to_owned(),
                    }
                }
                None => "Google Drive is full".to_owned(),
            };
        at.full(format!(
            "{detail}; free space in Drive, or pack staged files into archives sooner (a smaller pack size)"
        ))
    }

    fn req(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: Bytes,
        ctype: Option<&str>,
    ) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", format!("Bearer {token}"));
        if let Some(c) = ctype {
            b = b.header("content-type", c);
        }
        b.body(Full::new(body))
            .unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
    }

    fn fail(at: At<'_>, r: &Collected) -> Error {
        let (why, msg) = reason(&r.body);
        match r.status {
            StatusCode::NOT_FOUND => at.not_found(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                at.denied(format!("{} {why}: {msg}", r.status))
            }
            s => at.request(false, format!("{s} {why}: {msg}")),
        }
    }

    /// Files (or folders) named `name` in folder `parent`, newest first.
    async fn children(
        &self,
        at: At<'_>,
        parent: &str,
        name: Option<&str>,
        folders: Option<bool>,
    ) -> Result<Vec<DriveFile>> {
        let mut q = format!("'{}' in parents and trashed = false", q_escape(parent));
        if let Some(n) = name {
            q = format!("name = '{}' and {q}", q_escape(n));
        }
        match folders {
            Some(true) => q.push_str(&format!(" and mimeType = '{FOLDER}'")),
            Some(false) => q.push_str(&format!(" and mimeType != '{FOLDER}'")),
            None => {}
        }
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/drive/v3/files?pageSize=1000&fields={}&q={}",
                self.api,
                enc(&format!("nextPageToken,files({FILE_FIELDS})")),
                enc(&q)
            );
            if let Some(p) = &page {
                url.push_str(&format!("&pageToken={}", enc(p)));
            }
            let r = self
                .call(at, |t| self.req(Method::GET, &url, t, Bytes::new(), None))
                .await?;
            if !r.status.is_success() {
                return Err(Self::fail(at, &r));
            }
            let v: ListPage = serde_json::from_slice(&r.body)
                .map_err(|e| at.request(false, format!("unreadable files.list answer: {e}")))?;
            out.extend(v.files);
            match v.next_page_token {
                Some(p) => page = Some(p),
                None => break,
            }
        }
        out.sort_by(|a, b| b.modified_time.cmp(&a.modified_time));
        Ok(out)
    }

    /// The folder id of `dirs` under the site root, created if asked.
    async fn dir_id(&self, at: At<'_>, dirs: &[&str], create: bool) -> Result<Option<String>> {
        let mut cache = self.folders.lock().await;
        let mut parent = "root".to_owned();
        let mut path = String::new();
        for name in self
            .root
            .iter()
            .map(String::as_str)
            .chain(dirs.iter().copied())
        {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(name);
            if let Some(id) = cache.get(&path) {
                parent = id.clone();
                continue;
            }
            let found = self.children(at, &parent, Some(name), Some(true)).await?;
            let id = match found.last() {
                // The oldest, should two have been made.
                Some(f) => f.id.clone(),
                None if create => {
                    let body = Bytes::from(
                        json!({"name": name, "mimeType": FOLDER, "parents": [parent]}).to_string(),
                    );
                    let url = format!("{}/drive/v3/files?fields=id", self.api);
                    let r = self
                        .call(at, |t| {
                            self.req(
                                Method::POST,
                                &url,
                                t,
                                body.clone(),
                                Some("application/json"),
                            )
                        })
                        .await?;
                    if !r.status.is_success() {
                        return Err(Self::fail(at, &r));
                    }
                    let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                    v["id"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| at.request(false, "folder created without an id"))?
                }
                None => return Ok(None),
            };
            cache.insert(path.clone(), id.clone());
            parent = id;
        }
        Ok(Some(parent))
    }

    /// The newest file at `key`, and its duplicates.
    async fn resolve(&self, at: At<'_>, key: &str) -> Result<(String, Vec<DriveFile>)> {
        let (dirs, name) = split(key);
        let Some(parent) = self.dir_id(at, &dirs, false).await? else {
            return Err(at.not_found());
        };
        let files = self.children(at, &parent, Some(name), Some(false)).await?;
        if files.is_empty() {
            return Err(at.not_found());
        }
        Ok((parent, files))
    }

    async fn delete_ids(&self, at: At<'_>, ids: impl Iterator<Item = &str>) -> Result<()> {
        for id in ids {
            let url = format!("{}/drive/v3/files/{id}", self.api);
            let r = self
                .call(at, |t| {
                    self.req(Method::DELETE, &url, t, Bytes::new(), None)
                })
                .await?;
            if !(r.status.is_success() || r.status == StatusCode::NOT_FOUND) {
                return Err(Self::fail(at, &r));
            }
        }
        Ok(())
    }

    /// Where a resumable session stands: bytes received, or the finished file.
    async fn session_status(
        &self,
        at: At<'_>,
        s: &Session,
    ) -> Result<std::result::Result<u64, DriveFile>> {
        let range = format!("bytes */{}", s.n);
        let r = self
            .call(at, |t| {
                let mut req = self.req(Method::PUT, &s.u, t, Bytes::new(), None);
                if let Ok(v) = http::HeaderValue::from_str(&range) {
                    req.headers_mut().insert("content-range", v);
                }
                req
            })
            .await?;
        interpret(at, &r)
    }
}

/// 308 → bytes received; 200/201 → the file; else an error.
fn interpret(at: At<'_>, r: &Collected) -> Result<std::result::Result<u64, DriveFile>> {
    match r.status.as_u16() {
        308 => Ok(Ok(received(&r.headers))),
        200 | 201 => serde_json::from_slice(&r.body)
            .map(Err)
            .map_err(|e| at.request(false, format!("unreadable upload answer: {e}"))),
        404 | 410 => Err(at.upload_gone("(resumable session)")),
        _ => Err(Inner::fail(at, r)),
    }
}

fn received(h: &http::HeaderMap) -> u64 {
    h.get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes=0-"))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |last| last + 1)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
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
        }
    }

    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<PutResult> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::Put, key);
        check_key(at, key, false)?;
        let (dirs, name) = split(key);
        let parent = s
            .dir_id(at, &dirs, true)
            .await?
            .ok_or_else(|| at.not_found())?;
        let old = s.children(at, &parent, Some(name), Some(false)).await?;
        let meta = json!({"name": name, "parents": [parent], "appProperties": opts.metadata});
        let (ctype, body) = multipart_body(&meta, &data);
        let url = format!(
            "{}/upload/drive/v3/files?uploadType=multipart&fields=id,size,sha256Checksum",
            s.api
        );
        let r = s
            .call(at, |t| {
                s.req(Method::POST, &url, t, body.clone(), Some(&ctype))
            })
            .await?;
        if !r.status.is_success() {
            return Err(Inner::fail(at, &r));
        }
        s.delete_ids(at, old.iter().map(|f| f.id.as_str())).await?;
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
        let parent = s
            .dir_id(at, &dirs, true)
            .await?
            .ok_or_else(|| at.not_found())?;
        let meta = Bytes::from(
            json!({"name": name, "parents": [parent], "appProperties": opts.metadata}).to_string(),
        );
        let url = format!(
            "{}/upload/drive/v3/files?uploadType=resumable&fields=id,size,sha256Checksum",
            s.api
        );
        let r = s
            .call(at, |t| {
                let mut req = s.req(
                    Method::POST,
                    &url,
                    t,
                    meta.clone(),
                    Some("application/json; charset=UTF-8"),
                );
                req.headers_mut().insert(
                    "x-upload-content-type",
                    http::HeaderValue::from_static("application/octet-stream"),
                );
                if let Ok(v) = http::HeaderValue::from_str(&total.to_string()) {
                    req.headers_mut().insert("x-upload-content-length", v);
                }
                req
            })
            .await?;
        if !r.status.is_success() {
            return Err(Inner::fail(at, &r));
        }
        let u = r
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| at.request(false, "no session URI in the answer"))?
            .to_owned();
        serde_json::to_string(&Session {
            u,
            p: part,
            n: total,
        })
        .map_err(|e| at.request(false, e.to_string()))
    }

    async fn put_part(&self, key: &str, upload_id: &str, index: u32, data: Bytes) -> Result<Part> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::PutPart, key);
        let sess: Session =
            serde_json::from_str(upload_id).map_err(|_| at.upload_gone(upload_id))?;
        let start = u64::from(index) * sess.p;
        let end = start + data.len() as u64;
        let part = Part {
            index,
            size: data.len() as u64,
            receipt: format!("drive-{index}"),
            sha256: sha256_b64(&data),
        };
        if end > sess.n || (end < sess.n && data.len() as u64 != sess.p) {
            return Err(at.integrity(format!(
                "part {index} ({} bytes) does not fit the upload",
                data.len()
            )));
        }
        let mut from = start;
        let mut failures = 0u32;
        let mut refreshed = false;
        loop {
            let token = s.token(at).await?;
            let body = data.slice((from - start) as usize..);
            let mut req = s.req(
                Method::PUT,
                &sess.u,
                &token,
                body,
                Some("application/octet-stream"),
            );
            if let Ok(v) =
                http::HeaderValue::from_str(&format!("bytes {from}-{}/{}", end - 1, sess.n))
            {
                req.headers_mut().insert("content-range", v);
            }
            let outcome = match s.http.send_once(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = http_body_util::BodyExt::collect(body)
                        .await
                        .map(http_body_util::Collected::to_bytes);
                    match body {
                        Ok(body) => Ok(Collected {
                            status: parts.status,
                            headers: parts.headers,
                            body,
                        }),
                        Err(e) => Err(HttpFailure::Transport(e.to_string())),
                    }
                }
                Err(e) => Err(e),
            };
            let failure = match outcome {
                Ok(r) if r.status == StatusCode::UNAUTHORIZED && !refreshed => {
                    refreshed = true;
                    s.refresh(at, &token).await?;
                    continue;
                }
                Ok(r) if r.status == StatusCode::FORBIDDEN => {
                    let (why, msg) = reason(&r.body);
                    match why.as_str() {
                        "storageQuotaExceeded" => return Err(s.full(at).await),
                        "userRateLimitExceeded" | "rateLimitExceeded" => {
                            HttpFailure::Transport(format!("rate limited: {msg}"))
                        }
                        _ => return Err(at.denied(format!("{why}: {msg}"))),
                    }
                }
                Ok(r) => match interpret(at, &r) {
                    Ok(Err(_file)) => return Ok(part),
                    Ok(Ok(got)) if got >= end => return Ok(part),
                    Ok(Ok(got)) if got > from => {
                        from = got;
                        continue;
                    }
                    Ok(Ok(got)) => HttpFailure::Transport(format!(
                        "Drive kept {got} bytes of a chunk ending at {end}"
                    )),
                    Err(Error::UploadGone { .. }) => return Err(at.upload_gone(upload_id)),
                    Err(e) => return Err(e),
                },
                Err(f) => f,
            };
            failures += 1;
            if failures > s.retry.max_retries {
                return Err(at.request(true, failure));
            }
            tracing::debug!(key, part = index, error = %failure, "chunk failed; asking Drive what it has");
            tokio::time::sleep(s.retry.backoff(failures)).await;
            match s.session_status(at, &sess).await {
                Ok(Err(_file)) => return Ok(part),
                Ok(Ok(got)) if got >= end => return Ok(part),
                Ok(Ok(got)) if got < start => {
                    return Err(at.integrity(format!("Drive has {got} bytes, but part {index} starts at {start}: an earlier part was lost")));
                }
                Ok(Ok(got)) => from = got,
                Err(Error::UploadGone { .. }) => return Err(at.upload_gone(upload_id)),
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        _parts: &[Part],
    ) -> Result<PutResult> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::CompleteUpload, key);
        let sess: Session =
            serde_json::from_str(upload_id).map_err(|_| at.upload_gone(upload_id))?;
        match s.session_status(at, &sess).await {
            Ok(Err(file)) => {
                // Replace: remove older files of the same name.
                if let Ok((_, files)) = s.resolve(at, key).await {
                    s.delete_ids(
                        at,
                        files
                            .iter()
                            .map(|f| f.id.as_str())
                            .filter(|id| *id != file.id),
                    )
                    .await?;
                }
                Ok(PutResult { etag: None })
            }
            Ok(Ok(got)) => Err(at.integrity(format!("Drive has {got} of {} bytes", sess.n))),
            Err(Error::UploadGone { .. }) => Err(at.upload_gone(upload_id)),
            Err(e) => Err(e),
        }
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::AbortUpload, key);
        let Ok(sess) = serde_json::from_str::<Session>(upload_id) else {
            return Ok(());
        };
        // Drive drops unfinished sessions after a week; DELETE ends one now.
        let r = s
            .call(at, |t| {
                s.req(Method::DELETE, &sess.u, t, Bytes::new(), None)
            })
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
        let (_, files) = s.resolve(at, key).await?;
        if range.as_ref().is_some_and(|r| r.start >= r.end) {
            return Ok(futures::stream::empty().boxed());
        }
        let url = format!("{}/drive/v3/files/{}?alt=media", s.api, files[0].id);
        let mut refreshed = false;
        loop {
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
        let (_, files) = s.resolve(at, key).await?;
        Ok(files[0].info(key.to_owned()))
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo>> {
        let inner = self.inner.clone();
        let prefix = prefix.trim_matches('/').to_owned();
        struct St {
            inner: Arc<Inner>,
            prefix: String,
            started: bool,
            queue: VecDeque<(String, String)>,
            page: Option<(String, String, Option<String>)>,
            buf: VecDeque<ObjectInfo>,
        }
        let st = St {
            inner,
            prefix,
            started: false,
            queue: VecDeque::new(),
            page: None,
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
                    match s.dir_id(at, &dirs, false).await {
                        Ok(Some(id)) => st.queue.push_back((id, st.prefix.clone())),
                        Ok(None) => return None,
                        Err(e) => return Some((Err(e), None)),
                    }
                }
                let (id, path, token) = match st.page.take() {
                    Some(p) => p,
                    None => match st.queue.pop_front() {
                        Some((id, path)) => (id, path, None),
                        None => return None,
                    },
                };
                let mut url = format!(
                    "{}/drive/v3/files?pageSize=1000&fields={}&q={}",
                    s.api,
                    enc(&format!("nextPageToken,files({FILE_FIELDS})")),
                    enc(&format!(
                        "'{}' in parents and trashed = false",
                        q_escape(&id)
                    ))
                );
                if let Some(t) = &token {
                    url.push_str(&format!("&pageToken={}", enc(t)));
                }
                let r = match s
                    .call(at, |t| s.req(Method::GET, &url, t, Bytes::new(), None))
                    .await
                {
                    Ok(r) if r.status.is_success() => r,
                    Ok(r) => return Some((Err(Inner::fail(at, &r)), None)),
                    Err(e) => return Some((Err(e), None)),
                };
                let page: ListPage = match serde_json::from_slice(&r.body) {
                    Ok(p) => p,
                    Err(e) => {
                        return Some((
                            Err(at.request(false, format!("unreadable files.list answer: {e}"))),
                            None,
                        ));
                    }
                };
                for f in page.files {
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
                if let Some(t) = page.next_page_token {
                    st.page = Some((id, path, Some(t)));
                }
            }
        })
        .boxed()
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let s = &self.inner;
        let at = At::new(&s.name, Op::Delete, key);
        check_key(at, key, false)?;
        match s.resolve(at, key).await {
            Ok((_, files)) => s.delete_ids(at, files.iter().map(|f| f.id.as_str())).await,
            Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn restore(&self, key: &str, _request: RestoreRequest) -> Result<RestoreStatus> {
        self.head(key).await?;
        Ok(RestoreStatus::NotNeeded)
    }

    fn usage(&self) -> Usage {
        self.inner.meter.usage()
    }
}
