//! A local fake of the Google Drive v3 REST API subset lomob uses, plus
//! Google's OAuth 2.0 authorization and token endpoints, for tests. No
//! offline Drive server exists, so this is written from Google's
//! documentation and from what other clients met on the real service; it
//! is not Google's code. By default it behaves as Google does, including
//! the inconvenient parts ([`Quirks::google`]); each of those can be turned
//! off per test, and faults ([`Faults`]) are armed per test.
//!
//! Covered, as documented by Google:
//! - OAuth: `GET /auth` (consents at once and redirects to the loopback
//!   `redirect_uri` with `code` and `state`), `POST /token` with
//!   `authorization_code` (PKCE S256 `code_verifier` checked) and
//!   `refresh_token` grants; access tokens expire after `token_lifetime` and
//!   carry the consented scope. API calls without a valid bearer token get
//!   401 `authError`.
//! - Scopes: `drive.file` sees only files created by the same OAuth client
//!   (others are absent from lists and 404 by id); `drive.readonly` sees
//!   everything and may not write (403 `insufficientPermissions`); `drive`
//!   does both. Files a test seeds with [`State::seed`] belong to another
//!   app, as the Go lomo-backup's files do.
//! - `files.list` (`GET /drive/v3/files`): `q` with `and`-joined terms
//!   `'ID' in parents`, `name = '…'`/`!=`, `mimeType = '…'`/`!=`,
//!   `trashed = false`; `pageSize` (default 100, max 1000) and `pageToken`;
//!   the `fields` mask (without one, only `kind,id,name,mimeType`).
//!   `name =` ignores case, and a new file is missing from `name =` results
//!   until the search index catches up ([`Quirks`]); `in parents` listings
//!   are current.
//! - Several files and folders may have one name in one folder.
//! - `files.generateIds` (`count`, default 10, max 1000); `files.create` of
//!   metadata (folders) or with media takes such an `id`; a create with an
//!   `id` already used answers 409 (a retried create), one not generated 400.
//!   A create without a name makes "Untitled".
//! - `files.get` (metadata with `fields`, or `alt=media` with `Range`);
//!   `files.delete`; `about.get` `storageQuota`.
//! - Uploads: `uploadType=multipart` (multipart/related: JSON metadata, then
//!   the media) and `uploadType=resumable`: the initiating POST checks the
//!   quota against `X-Upload-Content-Length` and returns a session URI in
//!   `Location`; `PUT` chunks with `Content-Range: bytes a-b/total`
//!   (a non-final chunk that is not a multiple of 256 KiB is refused with
//!   400 and nothing of it kept), `bytes */total` to query (308 with
//!   `Range: bytes=0-N`, or 200 with the file when complete). Bytes
//!   received before a cut connection are kept in 256 KiB units. Sessions
//!   expire after `session_lifetime` (Google: a week), then answer 404.
//! - Files report `size`, `createdTime`, `modifiedTime`, `sha256Checksum`
//!   (hex) and `appProperties`.
//! - Errors in Google's JSON shape: 403 `storageQuotaExceeded` past `quota`,
//!   404 `notFound`, 400 for bad ranges.
//!
//! Failure injection ([`Faults`]): a queue of statuses for the next API
//! calls (429 `rateLimitExceeded`, 403 `userRateLimitExceeded`, 503
//! `backendError`); cutting the connection after N bytes of a resumable
//! chunk at a given upload offset; losing the answer to the next creates
//! (Drive acted, the client hears nothing); moving a session to a new URI
//! in a 308's `Location` (not documented by Google for Drive; the old URI
//! then answers 404); expiring every access token or session at once.
//!
//! Not covered: shared drives, trash, revisions, permissions, `files.update`,
//! `files.copy`, changes, export of Google Docs, quota per user/minute,
//! `contains` and the other query operators, the exact length of Google's
//! index lag (minutes have been seen; the fake uses a fixed one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
// A refusal is a whole HTTP answer, built once per request: size is no concern.
#![allow(clippy::result_large_err)]

mod query;
mod upload;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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
/// The scopes Google grants, as URLs.
pub const SCOPE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
pub const SCOPE_READONLY: &str = "https://www.googleapis.com/auth/drive.readonly";
pub const SCOPE_FULL: &str = "https://www.googleapis.com/auth/drive";
/// The app that owns files made by [`State::seed`] (another OAuth client).
pub const OTHER_APP: &str = "go-lomo-backup.apps.googleusercontent.com";

/// Failure injection, armed per test.
#[derive(Debug, Default)]
pub struct Faults {
    /// Statuses (429, 403, 503) answered to the next API calls, one each.
    pub fail_next: VecDeque<u16>,
    /// Cut the connection of the resumable chunk that reaches this byte
    /// offset of its upload (once), keeping what arrived before it.
    pub cut_at_offset: Option<u64>,
    /// The next this many creates (folder, multipart, last chunk) are done,
    /// then the connection is cut before the answer.
    pub lose_answers: u32,
    /// The next 308 moves its session to a new URI (given in `Location`).
    pub move_session: bool,
}

/// Google's inconvenient behaviour, on by default.
#[derive(Debug, Clone)]
pub struct Quirks {
    /// `name = '…'` matches without regard to case.
    pub names_ignore_case: bool,
    /// How long a new file is missing from `name =` results.
    pub name_index_lag: Duration,
    /// How long a resumable session lives.
    pub session_lifetime: Duration,
}

impl Quirks {
    /// As Google behaves (the index lag shortened to a minute).
    pub fn google() -> Self {
        Self {
            names_ignore_case: true,
            name_index_lag: Duration::from_secs(60),
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// The kind fake of before: exact, current names.
    pub fn kind() -> Self {
        Self {
            names_ignore_case: false,
            name_index_lag: Duration::ZERO,
            ..Self::google()
        }
    }
}

impl Default for Quirks {
    fn default() -> Self {
        Self::google()
    }
}

#[derive(Debug, Clone)]
pub struct FakeFile {
    pub id: String,
    pub name: String,
    pub parents: Vec<String>,
    pub mime: String,
    pub data: Bytes,
    pub modified: String,
    pub created: String,
    /// When the search index learns of it.
    pub created_at: Instant,
    /// The OAuth client that created it.
    pub app: String,
    pub app_properties: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Session {
    meta: Value,
    total: Option<u64>,
    data: Vec<u8>,
    done: Option<String>,
    started: Instant,
    app: String,
}

/// The fake's state, shared with the test.
#[derive(Debug)]
pub struct State {
    pub files: BTreeMap<String, FakeFile>,
    next_id: u64,
    sessions: HashMap<String, Session>,
    /// Session ids moved to a new URI (they answer 404).
    moved: HashSet<String>,
    /// Ids handed out by `generateIds`, not used yet.
    reserved: HashSet<String>,
    /// Access token → (expiry, scope).
    tokens: HashMap<String, (Instant, String)>,
    /// Refresh token → scope.
    refresh_tokens: HashMap<String, String>,
    codes: HashMap<String, (String, String, String)>,
    pub token_lifetime: Duration,
    pub quota: u64,
    pub faults: Faults,
    pub quirks: Quirks,
    /// Method, path and query of every request.
    pub log: Vec<String>,
    /// Media sizes of every multipart upload.
    pub multipart_sizes: Vec<u64>,
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

    /// Revokes every refresh token and access token (the user removed
    /// the app's access in their Google account).
    pub fn revoke_all(&mut self) {
        self.tokens.clear();
        self.refresh_tokens.clear();
    }

    /// Makes every resumable session expire (as if a week had passed).
    pub fn expire_sessions(&mut self) {
        self.sessions.clear();
    }

    /// A refresh token and a valid access token for `drive.file`, as after
    /// a consent.
    pub fn grant(&mut self) -> (String, String) {
        self.grant_scope(SCOPE_FILE)
    }

    /// A refresh token and an access token for `scope`.
    pub fn grant_scope(&mut self, scope: &str) -> (String, String) {
        let refresh = format!("refresh-{}", self.refresh_tokens.len());
        self.refresh_tokens
            .insert(refresh.clone(), scope.to_owned());
        let access = self.new_access(scope);
        (refresh, access)
    }

    fn new_access(&mut self, scope: &str) -> String {
        let t = format!("access-{}", rand::random::<u64>());
        self.tokens.insert(
            t.clone(),
            (Instant::now() + self.token_lifetime, scope.to_owned()),
        );
        t
    }

    /// Whether a token with `scope` sees `f`.
    fn visible(&self, f: &FakeFile, scope: &str) -> bool {
        scope
            .split(' ')
            .any(|s| s == SCOPE_FULL || s == SCOPE_READONLY)
            || f.app == self.client_id
    }

    /// A file (`data`) or folder (`None`) made by another app under
    /// `parent` (an id or "root"), long enough ago to be indexed; `name`
    /// None makes "Untitled", as Drive names a create without one.
    pub fn seed(&mut self, parent: &str, name: Option<&str>, data: Option<Bytes>) -> String {
        self.seed_as(OTHER_APP, parent, name, data)
    }

    /// As [`State::seed`], made by lomob's own OAuth client (as an earlier
    /// lomob, or an earlier client version, left it).
    pub fn seed_own(&mut self, parent: &str, name: Option<&str>, data: Option<Bytes>) -> String {
        let app = self.client_id.clone();
        self.seed_as(&app, parent, name, data)
    }

    fn seed_as(
        &mut self,
        app: &str,
        parent: &str,
        name: Option<&str>,
        data: Option<Bytes>,
    ) -> String {
        let mut meta = json!({"parents": [parent]});
        if let Some(n) = name {
            meta["name"] = json!(n);
        }
        if data.is_none() {
            meta["mimeType"] = json!(FOLDER_MIME);
        }
        let mut f = upload::create(self, &meta, data.unwrap_or_default(), app).unwrap();
        f.created_at = Instant::now()
            .checked_sub(Duration::from_secs(86_400))
            .unwrap_or(f.created_at);
        self.files.insert(f.id.clone(), f.clone());
        f.id
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

    /// Every file at `path` (folders from the root, names exact).
    pub fn find_all(&self, path: &str) -> Vec<&FakeFile> {
        let mut parents = vec![ROOT_ID.to_owned()];
        let mut found = Vec::new();
        for name in path.split('/') {
            found = self
                .files
                .values()
                .filter(|f| f.name == name && f.parents.iter().any(|p| parents.contains(p)))
                .collect();
            parents = found.iter().map(|f| f.id.clone()).collect();
        }
        found
    }

    /// The file at `path`, if exactly one.
    pub fn find(&self, path: &str) -> Option<&FakeFile> {
        match self.find_all(path).as_slice() {
            [one] => Some(one),
            _ => None,
        }
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
            moved: HashSet::new(),
            reserved: HashSet::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            quota: 15_000_000_000,
            faults: Faults::default(),
            quirks: Quirks::google(),
            log: Vec::new(),
            multipart_sizes: Vec::new(),
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

    /// A token file for an already consented user (Go oauth2 token format),
    /// scope `drive.file`.
    pub fn token_json(&self) -> String {
        self.token_json_scope(SCOPE_FILE)
    }

    /// A token file for a consent to `scope`.
    pub fn token_json_scope(&self, scope: &str) -> String {
        let (refresh, access) = self.state.lock().unwrap().grant_scope(scope);
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

fn file_json(f: &FakeFile) -> Value {
    let mut v = json!({
        "kind": "drive#file", "id": f.id, "name": f.name, "mimeType": f.mime,
        "parents": f.parents, "createdTime": f.created, "modifiedTime": f.modified,
        "appProperties": f.app_properties,
    });
    if f.mime != FOLDER_MIME {
        v["size"] = json!(f.data.len().to_string());
        v["sha256Checksum"] = json!(hex(&sha2::Sha256::digest(&f.data)));
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The bearer token's scope, or the 401 Google answers.
fn authorize(req: &Request<Incoming>, st: &Arc<Mutex<State>>) -> Result<String, Resp> {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let mut s = st.lock().unwrap();
    let Some(scope) = bearer
        .and_then(|t| s.tokens.get(t))
        .filter(|(exp, _)| *exp > Instant::now())
        .map(|(_, scope)| scope.clone())
    else {
        return Err(error(401, "authError", "Invalid Credentials"));
    };
    if let Some(code) = s.faults.fail_next.pop_front() {
        return Err(match code {
            429 => error(429, "rateLimitExceeded", "Rate Limit Exceeded"),
            403 => error(403, "userRateLimitExceeded", "User Rate Limit Exceeded"),
            c => error(c, "backendError", "Backend Error"),
        });
    }
    let writes = req.method() != http::Method::GET;
    let may_write = scope.split(' ').any(|s| s == SCOPE_FULL || s == SCOPE_FILE);
    if writes && !may_write {
        return Err(error(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        ));
    }
    Ok(scope)
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
    let scope = match authorize(&req, &st) {
        Ok(s) => s,
        Err(r) => return Ok(r),
    };
    let app = st.lock().unwrap().client_id.clone();
    let q = query(&req);
    let resp = match (method.as_str(), path.as_str()) {
        ("GET", "/drive/v3/about") => {
            let s = st.lock().unwrap();
            let v = json!({"kind": "drive#about", "storageQuota": {
                "limit": s.quota.to_string(), "usage": s.used().to_string(),
                "usageInDrive": s.used().to_string(), "usageInDriveTrash": "0"}});
            json_resp(
                StatusCode::OK,
                &query::mask(&v, q.get("fields").map_or("kind", String::as_str)),
            )
        }
        ("GET", "/drive/v3/files") => query::list(&q, &st, &scope),
        ("GET", "/drive/v3/files/generateIds") => generate_ids(&q, &st),
        ("POST", "/drive/v3/files") => upload::metadata(req, &q, &st, &app).await?,
        ("POST", "/upload/drive/v3/files") => match q.get("uploadType").map(String::as_str) {
            Some("multipart") => upload::multipart(req, &q, &st, &app).await?,
            Some("resumable") => upload::start_session(req, &st, port, &app).await?,
            _ => error(400, "badRequest", "invalid uploadType"),
        },
        ("PUT", "/upload/drive/v3/files") => upload::chunk(req, &q, &st, port).await?,
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
            by_id(m, &id, &req, &q, &st, &scope)
        }
        _ => error(404, "notFound", "no such endpoint in the Drive fake"),
    };
    Ok(resp)
}

/// `files.generateIds`: ids a later create may take.
fn generate_ids(q: &HashMap<String, String>, st: &Arc<Mutex<State>>) -> Resp {
    let count: usize = q
        .get("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(10)
        .clamp(1, 1000);
    let mut s = st.lock().unwrap();
    let ids: Vec<String> = (0..count)
        .map(|_| format!("1g{:031x}", rand::random::<u128>() >> 4))
        .collect();
    s.reserved.extend(ids.iter().cloned());
    json_resp(
        StatusCode::OK,
        &json!({"kind": "drive#generatedIds", "space": "drive", "ids": ids}),
    )
}

/// `files.get` (metadata or `alt=media`) and `files.delete`.
fn by_id(
    method: &str,
    id: &str,
    req: &Request<Incoming>,
    q: &HashMap<String, String>,
    st: &Arc<Mutex<State>>,
    scope: &str,
) -> Resp {
    let mut s = st.lock().unwrap();
    let Some(f) = s.files.get(id).filter(|f| s.visible(f, scope)).cloned() else {
        return error(404, "notFound", &format!("File not found: {id}."));
    };
    match method {
        "DELETE" => {
            s.files.remove(id);
            let children: Vec<String> = s
                .files
                .values()
                .filter(|c| c.parents.iter().any(|p| p == id))
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
        "GET" if q.get("alt").map(String::as_str) == Some("media") => upload::media(req, &f),
        "GET" => json_resp(
            StatusCode::OK,
            &query::mask(
                &file_json(&f),
                q.get("fields")
                    .map_or("kind,id,name,mimeType", String::as_str),
            ),
        ),
        _ => error(405, "badRequest", "method not supported by the fake"),
    }
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
    let scope = q.get("scope").cloned().unwrap_or_default();
    st.lock()
        .unwrap()
        .codes
        .insert(code.clone(), (challenge.clone(), redirect.clone(), scope));
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
            let Some((challenge, redirect, scope)) =
                form.get("code").and_then(|c| s.codes.remove(c))
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
            let (refresh, access) = s.grant_scope(&scope);
            json_resp(
                StatusCode::OK,
                &json!({"access_token": access, "expires_in": s.token_lifetime.as_secs(),
                "refresh_token": refresh, "scope": scope, "token_type": "Bearer"}),
            )
        }
        Some("refresh_token") => {
            let Some(scope) = form
                .get("refresh_token")
                .and_then(|r| s.refresh_tokens.get(r))
                .cloned()
            else {
                return bad("Token has been expired or revoked.");
            };
            let access = s.new_access(&scope);
            json_resp(
                StatusCode::OK,
                &json!({"access_token": access, "expires_in": s.token_lifetime.as_secs(),
                "scope": scope, "token_type": "Bearer"}),
            )
        }
        _ => bad("unsupported grant_type"),
    }
}
