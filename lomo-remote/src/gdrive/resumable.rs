//! Resumable uploads as Google's client libraries run them: the session
//! is started with the size (Drive checks the quota then), chunks are
//! multiples of 256 KiB, and after any failure the session is asked what
//! it holds (`Content-Range: bytes */N`) before anything is resent. A 308
//! that names a new session URI moves the upload there; 404/410 (a session
//! expired, after about a week) means starting over.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use super::api::{enc, forbidden, rate_limited, reason};
use super::{DriveFile, FILE_FIELDS, Inner};
use crate::backend::Part;
use crate::error::{At, Error, Result};
use crate::http::{Collected, HttpFailure};
use crate::objstore::sha256_b64;

/// A resumable upload session, as the upload id callers persist.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Session {
    /// Session URI.
    pub(super) u: String,
    /// Part size.
    pub(super) p: u64,
    /// Total size.
    pub(super) n: u64,
    /// The file id reserved for it (sessions of older versions have none).
    #[serde(default)]
    pub(super) i: Option<String>,
}

impl Session {
    pub(super) fn parse(at: At<'_>, upload_id: &str) -> Result<Session> {
        serde_json::from_str(upload_id).map_err(|_| at.upload_gone(upload_id))
    }
}

/// Where a session stands: bytes received, or the file it made.
pub(super) enum Progress {
    Received(u64),
    Done(Box<DriveFile>),
}

impl Inner {
    /// Starts a session for `total` bytes named `name` in folder `parent`.
    pub(super) async fn begin(
        &self,
        at: At<'_>,
        parent: &str,
        name: &str,
        metadata: &std::collections::BTreeMap<String, String>,
        (part, total): (u64, u64),
    ) -> Result<String> {
        let id = self.reserve_id(at).await?;
        let meta = Bytes::from(
            json!({"id": id, "name": name, "parents": [parent], "appProperties": metadata})
                .to_string(),
        );
        let url = format!(
            "{}/upload/drive/v3/files?uploadType=resumable&fields={}",
            self.api,
            enc(FILE_FIELDS)
        );
        let r = self
            .call(at, |t| {
                let mut req = self.req(
                    Method::POST,
                    &url,
                    t,
                    meta.clone(),
                    Some("application/json; charset=UTF-8"),
                );
                let h = req.headers_mut();
                h.insert(
                    "x-upload-content-type",
                    http::HeaderValue::from_static("application/octet-stream"),
                );
                if let Ok(v) = http::HeaderValue::from_str(&total.to_string()) {
                    h.insert("x-upload-content-length", v);
                }
                req
            })
            .await?;
        if !r.status.is_success() {
            return Err(Self::fail(at, &r));
        }
        let u = r
            .header("location")
            .ok_or_else(|| at.request(false, "no session URI in the answer"))?;
        serde_json::to_string(&Session {
            u,
            p: part,
            n: total,
            i: Some(id),
        })
        .map_err(|e| at.request(false, e.to_string()))
    }

    /// The URI the session lives at now (a 308 may have moved it).
    pub(super) fn session_uri(&self, s: &Session) -> String {
        let moved = self
            .moved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        moved.get(&s.u).cloned().unwrap_or_else(|| s.u.clone())
    }

    /// Reads an answer on a session: a 308 naming a new URI moves it.
    fn progress(&self, at: At<'_>, s: &Session, r: &Collected) -> Result<Progress> {
        match r.status.as_u16() {
            308 => {
                if let Some(to) = r.header("location") {
                    tracing::debug!(from = %s.u, %to, "resumable session moved");
                    self.moved
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(s.u.clone(), to);
                }
                Ok(Progress::Received(received(&r.headers)))
            }
            200 | 201 => serde_json::from_slice(&r.body)
                .map(|f| Progress::Done(Box::new(f)))
                .map_err(|e| at.request(false, format!("unreadable upload answer: {e}"))),
            404 | 410 => Err(at.upload_gone("(resumable session expired)")),
            _ => Err(Self::fail(at, r)),
        }
    }

    /// Asks the session what it holds.
    pub(super) async fn session_status(&self, at: At<'_>, s: &Session) -> Result<Progress> {
        let range = format!("bytes */{}", s.n);
        let r = self
            .call(at, |t| {
                let mut req = self.req(Method::PUT, &self.session_uri(s), t, Bytes::new(), None);
                if let Ok(v) = http::HeaderValue::from_str(&range) {
                    req.headers_mut().insert("content-range", v);
                }
                req
            })
            .await?;
        self.progress(at, s, &r)
    }

    /// One PUT of `body` at `from` (no retry: the caller asks what arrived).
    async fn send_chunk(
        &self,
        token: &str,
        s: &Session,
        body: Bytes,
        (from, end): (u64, u64),
    ) -> std::result::Result<Collected, HttpFailure> {
        let mut req = self.req(
            Method::PUT,
            &self.session_uri(s),
            token,
            body,
            Some("application/octet-stream"),
        );
        if let Ok(v) = http::HeaderValue::from_str(&format!("bytes {from}-{}/{}", end - 1, s.n)) {
            req.headers_mut().insert("content-range", v);
        }
        let resp = self.http.send_once(req).await?;
        let (parts, body) = resp.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .map(http_body_util::Collected::to_bytes)
            .map_err(|e| HttpFailure::Transport(e.to_string()))?;
        Ok(Collected {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Sends part `index` of the upload; after a failure, resends only what
    /// the session does not hold.
    pub(super) async fn send_part(
        &self,
        at: At<'_>,
        upload_id: &str,
        index: u32,
        data: Bytes,
    ) -> Result<Part> {
        let sess = Session::parse(at, upload_id)?;
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
        let (mut from, mut failures, mut refreshed) = (start, 0u32, false);
        loop {
            let token = self.token(at).await?;
            let body = data.slice((from - start) as usize..);
            let failure = match self.send_chunk(&token, &sess, body, (from, end)).await {
                Ok(r) if r.status == StatusCode::UNAUTHORIZED && !refreshed => {
                    refreshed = true;
                    self.refresh(at, &token).await?;
                    continue;
                }
                Ok(r) if r.status == StatusCode::FORBIDDEN => {
                    let (why, msg) = reason(&r.body);
                    if why == "storageQuotaExceeded" {
                        return Err(self.full(at).await);
                    }
                    if !rate_limited(&why) {
                        return Err(forbidden(at, &why, &msg));
                    }
                    HttpFailure::Transport(format!("rate limited: {msg}"))
                }
                Ok(r) => match self.progress(at, &sess, &r) {
                    Ok(Progress::Done(_)) => return Ok(part),
                    Ok(Progress::Received(got)) if got >= end => return Ok(part),
                    Ok(Progress::Received(got)) if got > from => {
                        from = got;
                        continue;
                    }
                    Ok(Progress::Received(got)) => HttpFailure::Transport(format!(
                        "Drive kept {got} bytes of a chunk ending at {end}"
                    )),
                    Err(Error::UploadGone { .. }) => return Err(at.upload_gone(upload_id)),
                    Err(e) => return Err(e),
                },
                Err(f) => f,
            };
            failures += 1;
            if failures > self.retry.max_retries {
                return Err(at.request(true, failure));
            }
            tracing::debug!(part = index, error = %failure, "chunk failed; asking Drive what it has");
            tokio::time::sleep(self.retry.backoff(failures)).await;
            match self.session_status(at, &sess).await {
                Ok(Progress::Done(_)) => return Ok(part),
                Ok(Progress::Received(got)) if got >= end => return Ok(part),
                Ok(Progress::Received(got)) if got < start => {
                    return Err(at.integrity(format!("Drive has {got} bytes, but part {index} starts at {start}: an earlier part was lost")));
                }
                Ok(Progress::Received(got)) => from = got,
                Err(Error::UploadGone { .. }) => return Err(at.upload_gone(upload_id)),
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The file a finished session made, checked against the session: its
    /// reserved id and its size.
    pub(super) async fn finish(&self, at: At<'_>, upload_id: &str) -> Result<DriveFile> {
        let sess = Session::parse(at, upload_id)?;
        match self.session_status(at, &sess).await {
            Ok(Progress::Done(f)) => {
                let f = *f;
                if sess.i.as_ref().is_some_and(|i| *i != f.id) {
                    return Err(at.integrity(format!(
                        "the session made {} instead of the reserved id",
                        f.id
                    )));
                }
                if f.size() != Some(sess.n) {
                    return Err(at.integrity(format!(
                        "Drive stored {} bytes of {}",
                        f.size().map_or_else(|| "?".to_owned(), |n| n.to_string()),
                        sess.n
                    )));
                }
                Ok(f)
            }
            Ok(Progress::Received(got)) => {
                Err(at.integrity(format!("Drive has {got} of {} bytes", sess.n)))
            }
            Err(Error::UploadGone { .. }) => Err(at.upload_gone(upload_id)),
            Err(e) => Err(e),
        }
    }
}

fn received(h: &http::HeaderMap) -> u64 {
    h.get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes=0-"))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |last| last + 1)
}
