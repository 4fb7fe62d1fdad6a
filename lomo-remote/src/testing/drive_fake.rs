//! A local fake of the Google Drive v3 REST API subset lomob uses, plus
//! Google's OAuth 2.0 authorization and token endpoints, for tests. No
//! offline Drive server exists, so this is written from Google's
//! documentation; it is not Google's code.
//!
//! Covered, as documented by Google:
//! - OAuth: `GET /auth` (consents at once and redirects to the loopback
//!   `redirect_uri` with `code` and `state`), `POST /token` with
//!   `authorization_code` (PKCE S256 `code_verifier` checked) and
//!   `refresh_token` grants; access tokens expire after `token_lifetime`.
//!   API calls without a valid bearer token get 401 `authError`.
//! - `files.list` (`GET /drive/v3/files`): `q` with `and`-joined terms
//!   `'ID' in parents`, `name = '…'`, `mimeType = '…'`/`!=`, `trashed = false`;
//!   `pageSize` (default 100, max 1000) and `pageToken`; the `fields` mask
//!   (without one, only `kind,id,name,mimeType` as Drive v3 does).
//! - `files.create` of metadata (`POST /drive/v3/files`), folders included;
//!   `files.get` (metadata with `fields`, or `alt=media` with `Range`);
//!   `files.delete`; `about.get` `storageQuota`.
//! - Uploads: `uploadType=multipart` (multipart/related: JSON metadata, then
//!   the media) and `uploadType=resumable`: the initiating POST returns a
//!   session URI in `Location`; `PUT` chunks with `Content-Range: bytes a-b/total`
//!   (non-final chunks a multiple of 256 KiB), `bytes */total` to query
//!   (308 with `Range: bytes=0-N`, or 200 with the file when complete).
//!   Bytes received before a cut connection are kept, as Drive keeps them.
//! - Files report `size`, `modifiedTime`, `sha256Checksum` (hex) and
//!   `appProperties`.
//! - Errors in Google's JSON shape: 403 `storageQuotaExceeded` past `quota`,
//!   404 `notFound`, 400 for bad ranges.
//!
//! Failure injection ([`Faults`]): a queue of statuses for the next API
//! calls (429 `rateLimitExceeded`, 403 `userRateLimitExceeded`, 503
//! `backendError`), cutting the connection after N bytes of a resumable
//! chunk at a given upload offset, expiring every access token at once,
//! and a storage quota.
//!
//! Not covered: shared drives, trash, revisions, permissions, `files.update`,
//! `files.copy`, changes, export of Google Docs, quota per user/minute.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};
use sha2::Digest as _;

pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
pub const ROOT_ID: &str = "root-0000";
const CHUNK_ALIGN: u64 = 256 * 1024;

/// Failure injection.
#[derive(Debug, Default)]
pub struct Faults {
    /// Statuses (429, 403, 503) answered to the next API calls, one each.
    pub fail_next: VecDeque<u16>,
    /// Cut the connection of the resumable chunk that reaches this byte
    /// offset of its upload (once), keeping what arrived before it.
    pub cut_at_offset: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct FakeFile {
    pub id: String,
    pub name: String,
    pub parents: Vec<String>,
    pub mime: String,
    pub data: Bytes,
    pub modified: String,
    pub app_properties: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Session {
    meta: Value,
    total: Option<u64>,
    data: Vec<u8>,
    done: Option<String>,
}

/// The fake's state, shared with the test.
#[derive(Debug)]
pub struct State {
    pub files: BTreeMap<String, FakeFile>,
    next_id: u64,
    sessions: HashMap<String, Session>,
    tokens: HashMap<String, Instant>,
    refresh_tokens: Vec<String>,
    codes: HashMap<String, (String, String)>,
    pub token_lifetime: Duration,
    pub quota: u64,
    pub faults: Faults,
    /// Method, path and query of every request.
    pub log: Vec<String>,
    pub client_id: String,
    pub client_secret: String,
}

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("f{:06}", self.next_id)
    }

    fn used(&self) -> u64 {
        self.files.values().map(|f| f.data.len() as u64).sum()
    }

    /// Makes every access token invalid (as if an hour had passed).
    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
    }

    /// A refresh token and a valid access token, as after a consent.
    pub fn grant(&mut self) -> (String, String) {
        let refresh = format!("refresh-{}", self.refresh_tokens.len());
        self.refresh_tokens.push(refresh.clone());
        let access = self.new_access();
        (refresh, access)
    }

    fn new_access(&mut self) -> String {
        let t = format!("access-{}", rand::random::<u64>());
        self.tokens
            .insert(t.clone(), Instant::now() + self.token_lifetime);
        t
    }

    /// Path of a file from the root, e.g. `lomorage/lomob/staging/ab/cd`.
    pub fn path_of(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut cur = self.files.get(id);
        while let Some(f) = cur {
            parts.push(f.name.clone());
            cur = f.parents.first().and_then(|p| self.files.get(p));
        }
        parts.reverse();
        parts.join("/")
    }

    /// The file at `path` (folders from the root), if exactly one.
    pub fn find(&self, path: &str) -> Option<&FakeFile> {
        let mut parent = ROOT_ID.to_owned();
        let mut found = None;
        for name in path.split('/') {
            let f = self
                .files
                .values()
                .find(|f| f.name == name && f.parents.contains(&parent))?;
            parent = f.id.clone();
            found = Some(f);
        }
        found
    }
}

/// The running fake, stopped on drop.
pub struct DriveFake {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DriveFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DriveFake {
    /// Starts on a free 127.0.0.1 port, inside the current tokio runtime.
    pub async fn start() -> DriveFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            files: BTreeMap::new(),
            next_id: 0,
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: Vec::new(),
            codes: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            quota: 15_000_000_000,
            faults: Faults::default(),
            log: Vec::new(),
            client_id: "lomob-test.apps.googleusercontent.com".into(),
            client_secret: "test-secret".into(),
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { handle(req, st, port).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        DriveFake { port, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A credentials file as Google's console issues it for a desktop app.
    pub fn credentials_json(&self) -> String {
        let st = self.state.lock().unwrap();
        json!({"installed": {
            "client_id": st.client_id,
            "project_id": "lomob-test",
            "auth_uri": format!("{}/auth", self.url()),
            "token_uri": format!("{}/token", self.url()),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": st.client_secret,
            "redirect_uris": ["http://localhost"],
        }})
        .to_string()
    }

    /// A token file for an already consented user (Go oauth2 token format).
    pub fn token_json(&self) -> String {
        let (refresh, access) = self.state.lock().unwrap().grant();
        let expiry = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
        json!({"access_token": access, "token_type": "Bearer", "refresh_token": refresh, "expiry": expiry.to_string()})
            .to_string()
    }
}

type Resp = Response<Full<Bytes>>;

fn json_resp(status: StatusCode, v: &Value) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap()
}

fn error(status: u16, reason: &str, message: &str) -> Resp {
    json_resp(
        StatusCode::from_u16(status).unwrap(),
        &json!({"error": {"code": status, "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}]}}),
    )
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn file_json(st: &State, f: &FakeFile) -> Value {
    let sha = hex(&sha2::Sha256::digest(&f.data));
    let mut v = json!({
        "kind": "drive#file", "id": f.id, "name": f.name, "mimeType": f.mime,
        "parents": f.parents, "modifiedTime": f.modified,
        "appProperties": f.app_properties,
    });
    if f.mime != FOLDER_MIME {
        v["size"] = json!(f.data.len().to_string());
        v["sha256Checksum"] = json!(sha);
    }
    let _ = st;
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Applies a Drive `fields` mask (top level, and `files(…)` inside).
fn mask(v: &Value, fields: &str) -> Value {
    let mut out = serde_json::Map::new();
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in fields.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&fields[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&fields[start..]);
    for item in items {
        let item = item.trim();
        if item == "*" {
            return v.clone();
        }
        if let Some((name, inner)) = item.split_once('(') {
            let inner = inner.trim_end_matches(')');
            if let Some(Value::Array(a)) = v.get(name) {
                out.insert(
                    name.into(),
                    Value::Array(a.iter().map(|x| mask(x, inner)).collect()),
                );
            }
        } else if let Some(x) = v.get(item) {
            out.insert(item.into(), x.clone());
        }
    }
    Value::Object(out)
}

/// One `q` term.
fn matches(f: &FakeFile, q: &str) -> bool {
    split_and(q).iter().all(|t| term(f, t.trim()))
}

fn split_and(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        if c == '\'' {
            in_quote = !in_quote;
        }
        cur.push(c);
        if !in_quote && cur.ends_with(" and ") {
            out.push(cur[..cur.len() - 5].to_owned());
            cur.clear();
        }
    }
    out.push(cur);
    out
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("\\'", "'").replace("\\\\", "\\"))
}

fn term(f: &FakeFile, t: &str) -> bool {
    if let Some(id) = t.strip_suffix(" in parents").and_then(unquote) {
        let id = if id == "root" { ROOT_ID.to_owned() } else { id };
        return f.parents.contains(&id);
    }
    if t.replace(' ', "") == "trashed=false" {
        return true;
    }
    for (field, value) in [("name", &f.name), ("mimeType", &f.mime)] {
        let rest = t.strip_prefix(field).map(str::trim_start);
        if let Some(r) = rest {
            if let Some(v) = r.strip_prefix("!=").and_then(unquote) {
                return *value != v;
            }
            if let Some(v) = r.strip_prefix('=').and_then(unquote) {
                return *value == v;
            }
        }
    }
    panic!("drive fake: unsupported query term {t:?}");
}

async fn handle(
    req: Request<Incoming>,
    st: Arc<Mutex<State>>,
    port: u16,
) -> Result<Resp, std::io::Error> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    st.lock()
        .unwrap()
        .log
        .push(format!("{method} {}", req.uri()));
    if path == "/auth" {
        return Ok(auth(&req, &st));
    }
    if path == "/token" {
        let body = req
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        return Ok(token(&body, &st));
    }
    // Bearer token.
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    {
        let mut s = st.lock().unwrap();
        let valid = bearer
            .as_ref()
            .and_then(|t| s.tokens.get(t))
            .is_some_and(|exp| *exp > Instant::now());
        if !valid {
            return Ok(error(401, "authError", "Invalid Credentials"));
        }
        if let Some(code) = s.faults.fail_next.pop_front() {
            return Ok(match code {
                429 => error(429, "rateLimitExceeded", "Rate Limit Exceeded"),
                403 => error(403, "userRateLimitExceeded", "User Rate Limit Exceeded"),
                c => error(c, "backendError", "Backend Error"),
            });
        }
    }
    let q = query(&req);
    let resp = match (method.as_str(), path.as_str()) {
        ("GET", "/drive/v3/about") => {
            let s = st.lock().unwrap();
            let v = json!({"kind": "drive#about", "storageQuota": {
                "limit": s.quota.to_string(), "usage": s.used().to_string(),
                "usageInDrive": s.used().to_string(), "usageInDriveTrash": "0"}});
            json_resp(
                StatusCode::OK,
                &mask(&v, q.get("fields").map_or("kind", String::as_str)),
            )
        }
        ("GET", "/drive/v3/files") => list(&q, &st),
        ("POST", "/drive/v3/files") => {
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            let meta: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
            let mut s = st.lock().unwrap();
            let f = create(&mut s, &meta, Bytes::new());
            json_resp(
                StatusCode::OK,
                &mask(
                    &file_json(&s, &f),
                    q.get("fields")
                        .map_or("kind,id,name,mimeType", String::as_str),
                ),
            )
        }
        ("POST", "/upload/drive/v3/files") => match q.get("uploadType").map(String::as_str) {
            Some("multipart") => multipart(req, &q, &st).await?,
            Some("resumable") => {
                let len = req
                    .headers()
                    .get("x-upload-content-length")
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map_err(std::io::Error::other)?
                    .to_bytes();
                let meta: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
                let id = format!("s{}", rand::random::<u64>());
                st.lock().unwrap().sessions.insert(
                    id.clone(),
                    Session {
                        meta,
                        total: len,
                        data: Vec::new(),
                        done: None,
                    },
                );
                Response::builder()
                    .status(200)
                    .header("location", format!("http://127.0.0.1:{port}/upload/drive/v3/files?uploadType=resumable&upload_id={id}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            }
            _ => error(400, "badRequest", "invalid uploadType"),
        },
        ("PUT", "/upload/drive/v3/files") => chunk(req, &q, &st).await?,
        ("DELETE", "/upload/drive/v3/files") => {
            let gone = q
                .get("upload_id")
                .and_then(|id| st.lock().unwrap().sessions.remove(id));
            let status = if gone.is_some() { 204 } else { 404 };
            Response::builder()
                .status(status)
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        (m, p) if p.starts_with("/drive/v3/files/") => {
            let id = p.trim_start_matches("/drive/v3/files/").to_owned();
            let mut s = st.lock().unwrap();
            let Some(f) = s.files.get(&id).cloned() else {
                return Ok(error(404, "notFound", &format!("File not found: {id}.")));
            };
            match m {
                "DELETE" => {
                    s.files.remove(&id);
                    let children: Vec<String> = s
                        .files
                        .values()
                        .filter(|c| c.parents.contains(&id))
                        .map(|c| c.id.clone())
                        .collect();
                    for c in children {
                        s.files.remove(&c);
                    }
                    Response::builder()
                        .status(204)
                        .body(Full::new(Bytes::new()))
                        .unwrap()
                }
                "GET" if q.get("alt").map(String::as_str) == Some("media") => media(&req, &f),
                "GET" => json_resp(
                    StatusCode::OK,
                    &mask(
                        &file_json(&s, &f),
                        q.get("fields")
                            .map_or("kind,id,name,mimeType", String::as_str),
                    ),
                ),
                _ => error(405, "badRequest", "method not supported by the fake"),
            }
        }
        _ => error(404, "notFound", "no such endpoint in the Drive fake"),
    };
    Ok(resp)
}

fn auth(req: &Request<Incoming>, st: &Arc<Mutex<State>>) -> Resp {
    let q = query(req);
    let (Some(redirect), Some(challenge)) = (q.get("redirect_uri"), q.get("code_challenge")) else {
        return error(
            400,
            "invalid_request",
            "redirect_uri and code_challenge are required",
        );
    };
    if q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return error(
            400,
            "invalid_request",
            "response_type=code and code_challenge_method=S256 expected",
        );
    }
    let code = format!("code-{}", rand::random::<u64>());
    st.lock()
        .unwrap()
        .codes
        .insert(code.clone(), (challenge.clone(), redirect.clone()));
    let state = q.get("state").cloned().unwrap_or_default();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let loc = format!(
        "{redirect}{sep}state={}&code={code}&scope={}",
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(q.get("scope").map_or("", String::as_str).as_bytes())
            .collect::<String>()
    );
    Response::builder()
        .status(302)
        .header("location", loc)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn token(body: &[u8], st: &Arc<Mutex<State>>) -> Resp {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut s = st.lock().unwrap();
    if form.get("client_id") != Some(&s.client_id)
        || form.get("client_secret") != Some(&s.client_secret)
    {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client", "error_description": "Unauthorized"}),
        );
    }
    let bad = |d: &str| {
        json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_grant", "error_description": d}),
        )
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((challenge, redirect)) = form.get("code").and_then(|c| s.codes.remove(c))
            else {
                return bad("Malformed auth code.");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if computed != challenge {
                return bad("Invalid code verifier.");
            }
            if form.get("redirect_uri") != Some(&redirect) {
                return bad("redirect_uri_mismatch");
            }
            let (refresh, access) = s.grant();
            json_resp(
                StatusCode::OK,
                &json!({"access_token": access, "expires_in": s.token_lifetime.as_secs(),
                "refresh_token": refresh, "scope": "https://www.googleapis.com/auth/drive.file", "token_type": "Bearer"}),
            )
        }
        Some("refresh_token") => {
            if !form
                .get("refresh_token")
                .is_some_and(|r| s.refresh_tokens.contains(r))
            {
                return bad("Token has been expired or revoked.");
            }
            let access = s.new_access();
            json_resp(
                StatusCode::OK,
                &json!({"access_token": access, "expires_in": s.token_lifetime.as_secs(),
                "scope": "https://www.googleapis.com/auth/drive.file", "token_type": "Bearer"}),
            )
        }
        _ => bad("unsupported grant_type"),
    }
}

fn list(q: &HashMap<String, String>, st: &Arc<Mutex<State>>) -> Resp {
    let s = st.lock().unwrap();
    let filter = q.get("q").cloned().unwrap_or_default();
    let page: usize = q
        .get("pageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let skip: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix("page-")?.parse().ok())
        .unwrap_or(0);
    let all: Vec<&FakeFile> = s
        .files
        .values()
        .filter(|f| filter.is_empty() || matches(f, &filter))
        .collect();
    let files: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(page)
        .map(|f| file_json(&s, f))
        .collect();
    let mut v = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": files});
    if skip + page < all.len() {
        v["nextPageToken"] = json!(format!("page-{}", skip + page));
    }
    let fields = q.get("fields").map_or(
        "kind,incompleteSearch,files(kind,id,name,mimeType)",
        String::as_str,
    );
    json_resp(StatusCode::OK, &mask(&v, fields))
}

fn create(s: &mut State, meta: &Value, data: Bytes) -> FakeFile {
    let id = s.id();
    let parents = meta["parents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    p.as_str().map(|p| {
                        if p == "root" {
                            ROOT_ID.to_owned()
                        } else {
                            p.to_owned()
                        }
                    })
                })
                .collect()
        })
        .unwrap_or_else(|| vec![ROOT_ID.to_owned()]);
    let app_properties = meta["appProperties"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let f = FakeFile {
        id: id.clone(),
        name: meta["name"].as_str().unwrap_or("Untitled").to_owned(),
        parents,
        mime: meta["mimeType"]
            .as_str()
            .unwrap_or("application/octet-stream")
            .to_owned(),
        data,
        modified: jiff::Timestamp::now().to_string(),
        app_properties,
    };
    s.files.insert(id, f.clone());
    f
}

fn over_quota(s: &State, more: u64) -> Option<Resp> {
    (s.used() + more > s.quota).then(|| {
        error(
            403,
            "storageQuotaExceeded",
            "The user's Drive storage quota has been exceeded.",
        )
    })
}

async fn multipart(
    req: Request<Incoming>,
    q: &HashMap<String, String>,
    st: &Arc<Mutex<State>>,
) -> Result<Resp, std::io::Error> {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Some(boundary) = ct
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_owned())
    else {
        return Ok(error(
            400,
            "badRequest",
            "multipart/related with a boundary expected",
        ));
    };
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let delim = format!("--{boundary}");
    let parts: Vec<&[u8]> = split_bytes(&body, delim.as_bytes());
    // parts[0] is the preamble; then metadata, media, and the closing "--".
    let part_body = |p: &[u8]| -> Option<Vec<u8>> {
        let i = p.windows(4).position(|w| w == b"\r\n\r\n")?;
        let b = &p[i + 4..];
        Some(b.strip_suffix(b"\r\n").unwrap_or(b).to_vec())
    };
    let (Some(meta), Some(media)) = (
        parts.get(1).and_then(|p| part_body(p)),
        parts.get(2).and_then(|p| part_body(p)),
    ) else {
        return Ok(error(
            400,
            "badRequest",
            "metadata and media parts expected",
        ));
    };
    let meta: Value = serde_json::from_slice(&meta).unwrap_or(json!({}));
    let mut s = st.lock().unwrap();
    if let Some(r) = over_quota(&s, media.len() as u64) {
        return Ok(r);
    }
    let f = create(&mut s, &meta, Bytes::from(media));
    Ok(json_resp(
        StatusCode::OK,
        &mask(
            &file_json(&s, &f),
            q.get("fields")
                .map_or("kind,id,name,mimeType", String::as_str),
        ),
    ))
}

fn split_bytes<'a>(hay: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delim.len() <= hay.len() {
        if &hay[i..i + delim.len()] == delim {
            out.push(&hay[start..i]);
            i += delim.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&hay[start..]);
    out
}

async fn chunk(
    req: Request<Incoming>,
    q: &HashMap<String, String>,
    st: &Arc<Mutex<State>>,
) -> Result<Resp, std::io::Error> {
    let Some(sid) = q.get("upload_id").cloned() else {
        return Ok(error(400, "badRequest", "upload_id missing"));
    };
    let range = req
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // "bytes a-b/total", "bytes */total", "bytes a-b/*"
    let Some(spec) = range.strip_prefix("bytes ") else {
        return Ok(error(400, "badRequest", "Content-Range expected"));
    };
    let (span, total) = spec.split_once('/').unwrap_or((spec, "*"));
    let total: Option<u64> = total.parse().ok();
    let start: Option<u64> = span.split_once('-').and_then(|(a, _)| a.parse().ok());
    {
        let mut s = st.lock().unwrap();
        let Some(sess) = s.sessions.get_mut(&sid) else {
            return Ok(error(404, "notFound", "upload session not found"));
        };
        if total.is_some() {
            sess.total = total;
        }
        if let Some(id) = sess.done.clone() {
            let f = s.files.get(&id).cloned().unwrap();
            return Ok(json_resp(StatusCode::OK, &file_json(&s, &f)));
        }
        if start.is_none() {
            return Ok(status_308(sess.data.len() as u64));
        }
    }
    let start = start.unwrap_or(0);
    let cut = {
        let mut s = st.lock().unwrap();
        match s.faults.cut_at_offset {
            Some(at) if at >= start && at < start + body_len(&req) => {
                s.faults.cut_at_offset = None;
                Some(at - start)
            }
            _ => None,
        }
    };
    let mut body = req.into_body();
    let mut got: u64 = 0;
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        if let Some(d) = frame.data_ref() {
            buf.extend_from_slice(d);
            got += d.len() as u64;
            if cut.is_some_and(|c| got >= c) {
                // Keep what arrived (Drive does), then drop the connection.
                let keep = buf.len() as u64 - (buf.len() as u64 % CHUNK_ALIGN);
                let mut s = st.lock().unwrap();
                if let Some(sess) = s.sessions.get_mut(&sid)
                    && start == sess.data.len() as u64
                {
                    sess.data.extend_from_slice(&buf[..keep as usize]);
                }
                return Err(std::io::Error::other("connection cut by the fake"));
            }
        }
    }
    let mut s = st.lock().unwrap();
    let sess_total;
    let have;
    {
        let sess = s.sessions.get_mut(&sid).unwrap();
        let cur = sess.data.len() as u64;
        if start > cur {
            return Ok(error(
                400,
                "badRequest",
                &format!("chunk starts at {start}, {cur} bytes received"),
            ));
        }
        let skip = (cur - start) as usize;
        if skip < buf.len() {
            sess.data.extend_from_slice(&buf[skip..]);
        }
        sess_total = sess.total;
        have = sess.data.len() as u64;
        let last = sess_total == Some(have);
        if !last && !(buf.len() as u64).is_multiple_of(CHUNK_ALIGN) {
            return Ok(error(
                400,
                "badRequest",
                "non-final chunks must be a multiple of 256 KiB",
            ));
        }
    }
    if sess_total == Some(have) {
        if let Some(r) = over_quota(&s, have) {
            return Ok(r);
        }
        let sess = s.sessions.get_mut(&sid).unwrap();
        let meta = sess.meta.clone();
        let data = Bytes::from(std::mem::take(&mut sess.data));
        let f = create(&mut s, &meta, data);
        s.sessions.get_mut(&sid).unwrap().done = Some(f.id.clone());
        let fields = q
            .get("fields")
            .map_or("kind,id,name,mimeType", String::as_str)
            .to_owned();
        return Ok(json_resp(
            StatusCode::OK,
            &mask(&file_json(&s, &f), &fields),
        ));
    }
    Ok(status_308(have))
}

fn body_len(req: &Request<Incoming>) -> u64 {
    req.headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

fn status_308(have: u64) -> Resp {
    let mut b = Response::builder().status(308);
    if have > 0 {
        b = b.header("range", format!("bytes=0-{}", have - 1));
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

fn media(req: &Request<Incoming>, f: &FakeFile) -> Resp {
    let len = f.data.len() as u64;
    let range = req
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
            let a: u64 = a.parse().ok()?;
            let b: u64 = if b.is_empty() {
                len.saturating_sub(1)
            } else {
                b.parse().ok()?
            };
            Some((a, b.min(len.saturating_sub(1))))
        });
    match range {
        Some((a, b)) if a < len && a <= b => Response::builder()
            .status(206)
            .header("content-range", format!("bytes {a}-{b}/{len}"))
            .body(Full::new(f.data.slice(a as usize..=b as usize)))
            .unwrap(),
        Some(_) => error(
            416,
            "requestedRangeNotSatisfiable",
            "Request range not satisfiable",
        ),
        None => Response::builder()
            .status(200)
            .body(Full::new(f.data.clone()))
            .unwrap(),
    }
}
