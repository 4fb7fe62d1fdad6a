//! Creating files: metadata-only creates, `uploadType=multipart`,
//! `uploadType=resumable` sessions and their chunks, and `alt=media` reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::query::mask;
use super::{FakeFile, ROOT_ID, Resp, Session, State, error, file_json, json_resp};

const CHUNK_ALIGN: u64 = 256 * 1024;

/// Whether Drive would refuse to create a file with `meta`'s `id`: one
/// in use is a 409 (a retried create, Google's documented answer), one not
/// handed out by `generateIds` a 400.
pub(super) fn refuse_id(s: &State, meta: &Value) -> Option<Resp> {
    let id = meta["id"].as_str()?;
    if s.files.contains_key(id) {
        return Some(error(
            409,
            "duplicate",
            "A file already exists with the provided ID.",
        ));
    }
    if !s.reserved.contains(id) {
        return Some(error(
            400,
            "fileIdNotUsable",
            "The provided file ID is not usable.",
        ));
    }
    None
}

/// Creates a file from metadata (its `id` checked by [`refuse_id`] first).
pub(super) fn create(
    s: &mut State,
    meta: &Value,
    data: Bytes,
    app: &str,
) -> Result<FakeFile, Resp> {
    if let Some(r) = refuse_id(s, meta) {
        return Err(r);
    }
    let id = match meta["id"].as_str() {
        Some(id) => {
            s.reserved.remove(id);
            id.to_owned()
        }
        None => s.id(),
    };
    let parents = meta["parents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|p| {
                    if p == "root" {
                        ROOT_ID.to_owned()
                    } else {
                        p.to_owned()
                    }
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
    let now = jiff::Timestamp::now().to_string();
    let f = FakeFile {
        id: id.clone(),
        // Google names a file created without a name "Untitled".
        name: meta["name"].as_str().unwrap_or("Untitled").to_owned(),
        parents,
        mime: meta["mimeType"]
            .as_str()
            .unwrap_or("application/octet-stream")
            .to_owned(),
        data,
        modified: now.clone(),
        created: now,
        created_at: Instant::now(),
        app: app.to_owned(),
        app_properties,
    };
    s.files.insert(id, f.clone());
    Ok(f)
}

/// The answer to a create: the file through the `fields` mask, or nothing
/// at all (the connection cut after Drive acted) when an answer is to be lost.
pub(super) fn created(
    s: &mut State,
    f: &FakeFile,
    q: &HashMap<String, String>,
) -> Result<Resp, std::io::Error> {
    if s.faults.lose_answers > 0 {
        s.faults.lose_answers -= 1;
        return Err(std::io::Error::other(
            "answer lost by the fake after the create",
        ));
    }
    let fields = q
        .get("fields")
        .map_or("kind,id,name,mimeType", String::as_str);
    Ok(json_resp(StatusCode::OK, &mask(&file_json(f), fields)))
}

pub(super) fn over_quota(s: &State, more: u64) -> Option<Resp> {
    (s.used() + more > s.quota).then(|| {
        error(
            403,
            "storageQuotaExceeded",
            "The user's Drive storage quota has been exceeded.",
        )
    })
}

async fn body(req: Request<Incoming>) -> Result<Bytes, std::io::Error> {
    Ok(req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes())
}

/// `POST /drive/v3/files`: a metadata-only create (folders).
pub(super) async fn metadata(
    req: Request<Incoming>,
    q: &HashMap<String, String>,
    st: &Arc<Mutex<State>>,
    app: &str,
) -> Result<Resp, std::io::Error> {
    let meta: Value = serde_json::from_slice(&body(req).await?).unwrap_or(json!({}));
    let mut s = st.lock().unwrap();
    match create(&mut s, &meta, Bytes::new(), app) {
        Ok(f) => created(&mut s, &f, q),
        Err(r) => Ok(r),
    }
}

/// `uploadType=multipart`: JSON metadata, then the media.
pub(super) async fn multipart(
    req: Request<Incoming>,
    q: &HashMap<String, String>,
    st: &Arc<Mutex<State>>,
    app: &str,
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
    let body = body(req).await?;
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
    s.multipart_sizes.push(media.len() as u64);
    if let Some(r) = over_quota(&s, media.len() as u64) {
        return Ok(r);
    }
    match create(&mut s, &meta, Bytes::from(media), app) {
        Ok(f) => created(&mut s, &f, q),
        Err(r) => Ok(r),
    }
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

/// `uploadType=resumable` initiation: the quota and the reserved id are
/// checked now, as Drive checks them at session start; the session URI
/// comes back in `Location`.
pub(super) async fn start_session(
    req: Request<Incoming>,
    st: &Arc<Mutex<State>>,
    port: u16,
    app: &str,
) -> Result<Resp, std::io::Error> {
    let len: Option<u64> = req
        .headers()
        .get("x-upload-content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let meta: Value = serde_json::from_slice(&body(req).await?).unwrap_or(json!({}));
    let mut s = st.lock().unwrap();
    if let Some(r) = over_quota(&s, len.unwrap_or(0)).or_else(|| refuse_id(&s, &meta)) {
        return Ok(r);
    }
    let id = format!("s{}", rand::random::<u64>());
    s.sessions.insert(
        id.clone(),
        Session {
            meta,
            total: len,
            data: Vec::new(),
            done: None,
            started: Instant::now(),
            app: app.to_owned(),
        },
    );
    Ok(Response::builder()
        .status(200)
        .header("location", session_url(port, &id))
        .body(Full::new(Bytes::new()))
        .unwrap())
}

fn session_url(port: u16, id: &str) -> String {
    format!("http://127.0.0.1:{port}/upload/drive/v3/files?uploadType=resumable&upload_id={id}")
}

/// The live session `sid`, or Drive's 404 for one that expired or moved.
fn live(s: &mut State, sid: &str) -> Result<(), Resp> {
    let gone = || error(404, "notFound", "upload session not found or expired");
    if s.moved.contains(sid) {
        return Err(gone());
    }
    let lifetime = s.quirks.session_lifetime;
    match s.sessions.get(sid) {
        None => Err(gone()),
        Some(sess) if sess.started.elapsed() > lifetime => {
            s.sessions.remove(sid);
            Err(gone())
        }
        Some(_) => Ok(()),
    }
}

/// `PUT` on a session URI: a chunk (`bytes a-b/total`) or a status query
/// (`bytes */total`).
pub(super) async fn chunk(
    req: Request<Incoming>,
    q: &HashMap<String, String>,
    st: &Arc<Mutex<State>>,
    port: u16,
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
        if let Err(r) = live(&mut s, &sid) {
            return Ok(r);
        }
        let sess = s.sessions.get_mut(&sid).unwrap();
        if total.is_some() {
            sess.total = total;
        }
        if let Some(id) = sess.done.clone() {
            let f = s.files.get(&id).cloned().unwrap();
            return Ok(json_resp(StatusCode::OK, &file_json(&f)));
        }
        if start.is_none() {
            let have = sess.data.len() as u64;
            return Ok(incomplete(&mut s, &sid, have, port));
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
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        if let Some(d) = frame.data_ref() {
            buf.extend_from_slice(d);
            if cut.is_some_and(|c| buf.len() as u64 >= c) {
                // Keep what arrived (Drive does, in 256 KiB units), then drop the connection.
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
    if let Err(r) = live(&mut s, &sid) {
        return Ok(r);
    }
    let sess = s.sessions.get_mut(&sid).unwrap();
    let cur = sess.data.len() as u64;
    if start > cur {
        return Ok(error(
            400,
            "badRequest",
            &format!("chunk starts at {start}, {cur} bytes received"),
        ));
    }
    let end = start + buf.len() as u64;
    if sess.total != Some(end) && !(buf.len() as u64).is_multiple_of(CHUNK_ALIGN) {
        // Refused whole: nothing of it is stored.
        return Ok(error(
            400,
            "badRequest",
            "non-final chunks must be a multiple of 256 KiB",
        ));
    }
    let skip = (cur - start) as usize;
    if skip < buf.len() {
        sess.data.extend_from_slice(&buf[skip..]);
    }
    let have = sess.data.len() as u64;
    if sess.total != Some(have) {
        return Ok(incomplete(&mut s, &sid, have, port));
    }
    if let Some(r) = over_quota(&s, have) {
        return Ok(r);
    }
    let sess = s.sessions.get_mut(&sid).unwrap();
    let (meta, app) = (sess.meta.clone(), sess.app.clone());
    let data = Bytes::from(std::mem::take(&mut sess.data));
    let f = match create(&mut s, &meta, data, &app) {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    s.sessions.get_mut(&sid).unwrap().done = Some(f.id.clone());
    created(&mut s, &f, q)
}

fn body_len(req: &Request<Incoming>) -> u64 {
    req.headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// 308 with what the session holds; moved to a new URI (given in
/// `Location`, the old one then 404) when that fault is armed.
fn incomplete(s: &mut State, sid: &str, have: u64, port: u16) -> Resp {
    let mut b = Response::builder().status(308);
    if have > 0 {
        b = b.header("range", format!("bytes=0-{}", have - 1));
    }
    if std::mem::take(&mut s.faults.move_session)
        && let Some(sess) = s.sessions.remove(sid)
    {
        let new = format!("s{}", rand::random::<u64>());
        s.sessions.insert(new.clone(), sess);
        s.moved.insert(sid.to_owned());
        b = b.header("location", session_url(port, &new));
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

/// `alt=media`, with `Range`.
pub(super) fn media(req: &Request<Incoming>, f: &FakeFile) -> Resp {
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
