//! Drive v3 requests: the authorized call with its retries, errors in
//! Google's shape, folder listings by parent, files by id, and creates
//! that a retry cannot duplicate (ids reserved with `files.generateIds`).

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use super::{DriveFile, FILE_FIELDS, FOLDER, Inner, ListPage};
use crate::error::{At, Error, Result};
use crate::gdrive::oauth::AuthError;
use crate::http::Collected;

/// Ids fetched per `files.generateIds` call.
const IDS_PER_CALL: usize = 100;

pub(super) fn reason(body: &[u8]) -> (String, String) {
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

pub(super) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn q_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The 403 reasons that mean "wait and try again".
pub(super) fn rate_limited(why: &str) -> bool {
    matches!(why, "userRateLimitExceeded" | "rateLimitExceeded")
}

/// A 403 that is not a rate limit, in words a user can act on.
pub(super) fn forbidden(at: At<'_>, why: &str, msg: &str) -> Error {
    if why == "insufficientPermissions" {
        return at.denied(format!(
            "{why}: {msg} (the token was signed in with a scope that cannot do this; \
             run `lomob util gcloud-auth` again with the default scope)"
        ));
    }
    at.denied(format!("{why}: {msg}"))
}

impl Inner {
    fn auth_err(at: At<'_>, e: AuthError) -> Error {
        match e {
            AuthError::Network(m) => at.request(true, m),
            other => at.denied(other.to_string()),
        }
    }

    /// A current access token (refreshed first when it is about to expire).
    pub(super) async fn token(&self, at: At<'_>) -> Result<String> {
        self.auth
            .access(&self.http)
            .await
            .map_err(|e| Self::auth_err(at, e))
    }

    /// Refreshes after a 401 answered to `stale`.
    pub(super) async fn refresh(&self, at: At<'_>, stale: &str) -> Result<()> {
        self.auth
            .refresh(&self.http, stale)
            .await
            .map_err(|e| Self::auth_err(at, e))
    }

    /// One API call with the bearer token: 5xx/429/transport retried by the
    /// client, 401 answered by one refresh, 403 rate limits backed off,
    /// 403 storageQuotaExceeded turned into [`Error::Full`].
    pub(super) async fn call<F>(&self, at: At<'_>, make: F) -> Result<Collected>
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
                    if rate_limited(&why) && limited < self.retry.max_retries {
                        limited += 1;
                        tokio::time::sleep(self.retry.backoff(limited)).await;
                    } else if why == "storageQuotaExceeded" {
                        return Err(self.full(at).await);
                    } else {
                        return Err(forbidden(at, &why, &msg));
                    }
                }
                _ => return Ok(r),
            }
        }
    }

    /// A GET or DELETE without a body.
    pub(super) async fn call_plain(
        &self,
        at: At<'_>,
        method: Method,
        url: &str,
    ) -> Result<Collected> {
        self.call(at, |t| self.req(method.clone(), url, t, Bytes::new(), None))
            .await
    }

    /// The "Drive is full" error, with how full it is (one `about.get`).
    pub(super) async fn full(&self, at: At<'_>) -> Error {
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
        let v = about.map(|r| serde_json::from_slice::<Value>(&r.body).unwrap_or_default());
        let n = |k: &str| {
            v.as_ref()?["storageQuota"][k]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
        };
        let detail = match (n("usage"), n("limit")) {
            (Some(u), Some(l)) => {
                format!("Google Drive is full ({} of {} used)", human(u), human(l))
            }
            (Some(u), None) => format!("Google Drive is full ({} used)", human(u)),
            _ => "Google Drive is full".to_owned(),
        };
        at.full(format!(
            "{detail}; free space in Drive, or pack staged files into archives sooner (a smaller pack size)"
        ))
    }

    pub(super) fn req(
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

    pub(super) fn fail(at: At<'_>, r: &Collected) -> Error {
        let (why, msg) = reason(&r.body);
        match r.status {
            StatusCode::NOT_FOUND => at.not_found(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                at.denied(format!("{} {why}: {msg}", r.status))
            }
            s => at.request(false, format!("{s} {why}: {msg}")),
        }
    }

    /// Everything in folder `parent` (files and folders), from a listing by
    /// parent: current, unlike `name =` searches, which lag and ignore case.
    pub(super) async fn list_folder(&self, at: At<'_>, parent: &str) -> Result<Vec<DriveFile>> {
        let q = format!("'{}' in parents and trashed = false", q_escape(parent));
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
            let r = self.call_plain(at, Method::GET, &url).await?;
            if !r.status.is_success() {
                return Err(Self::fail(at, &r));
            }
            let v: ListPage = serde_json::from_slice(&r.body)
                .map_err(|e| at.request(false, format!("unreadable files.list answer: {e}")))?;
            out.extend(v.files);
            match v.next_page_token {
                Some(p) => page = Some(p),
                None => return Ok(out),
            }
        }
    }

    /// The file with `id`, or NotFound.
    pub(super) async fn file(&self, at: At<'_>, id: &str) -> Result<DriveFile> {
        let url = format!(
            "{}/drive/v3/files/{}?fields={}",
            self.api,
            enc(id),
            enc(FILE_FIELDS)
        );
        let r = self.call_plain(at, Method::GET, &url).await?;
        if !r.status.is_success() {
            return Err(Self::fail(at, &r));
        }
        serde_json::from_slice(&r.body)
            .map_err(|e| at.request(false, format!("unreadable files.get answer: {e}")))
    }

    /// An id no file has yet, from `files.generateIds` (fetched in batches).
    pub(super) async fn reserve_id(&self, at: At<'_>) -> Result<String> {
        let mut pool = self.ids.lock().await;
        if let Some(id) = pool.pop() {
            return Ok(id);
        }
        let url = format!(
            "{}/drive/v3/files/generateIds?count={IDS_PER_CALL}&space=drive&type=files",
            self.api
        );
        let r = self.call_plain(at, Method::GET, &url).await?;
        if !r.status.is_success() {
            return Err(Self::fail(at, &r));
        }
        let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        pool.extend(
            v["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned),
        );
        pool.pop()
            .ok_or_else(|| at.request(false, "files.generateIds answered no ids"))
    }

    /// The answer to a create sent with a reserved `id`: the file it made.
    /// A 409 means an earlier attempt made it (its answer was lost): the
    /// file is read back by id.
    pub(super) async fn created(&self, at: At<'_>, id: &str, r: &Collected) -> Result<DriveFile> {
        if r.status == StatusCode::CONFLICT {
            tracing::debug!(id, "create answered 409: an earlier attempt made it");
            return self.file(at, id).await;
        }
        if !r.status.is_success() {
            return Err(Self::fail(at, r));
        }
        let f: DriveFile = serde_json::from_slice(&r.body)
            .map_err(|e| at.request(false, format!("unreadable create answer: {e}")))?;
        if f.id != id {
            return Err(at.integrity(format!(
                "Drive made {} instead of the reserved id {id}",
                f.id
            )));
        }
        Ok(f)
    }

    /// Creates folder `name` in `parent`, once however often it is retried.
    pub(super) async fn create_folder(
        &self,
        at: At<'_>,
        parent: &str,
        name: &str,
    ) -> Result<DriveFile> {
        let id = self.reserve_id(at).await?;
        let body = Bytes::from(
            json!({"id": id, "name": name, "mimeType": FOLDER, "parents": [parent]}).to_string(),
        );
        let url = format!("{}/drive/v3/files?fields={}", self.api, enc(FILE_FIELDS));
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
        self.created(at, &id, &r).await
    }

    /// Deletes files by id (gone already is fine).
    pub(super) async fn delete_ids(&self, at: At<'_>, ids: &[String]) -> Result<()> {
        for id in ids {
            let url = format!("{}/drive/v3/files/{}", self.api, enc(id));
            let r = self.call_plain(at, Method::DELETE, &url).await?;
            if !(r.status.is_success() || r.status == StatusCode::NOT_FOUND) {
                return Err(Self::fail(at, &r));
            }
        }
        self.tree.lock().await.forget(ids);
        Ok(())
    }
}
