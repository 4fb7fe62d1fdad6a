//! The S3 requests object_store does not make, signed with SigV4 and sent
//! on [`crate::http::HttpClient`]: HEAD with checksum mode (stored SHA-256,
//! storage class, restore status), RestoreObject and ListMultipartUploads.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;

use crate::backend::{ObjectInfo, PendingUpload, RestoreRequest, RestoreStatus};
use crate::error::{At, Error, Result};
use crate::http::{Collected, HttpClient};
use crate::objstore::Pages;

/// Cold storage classes whose objects must be restored before a GET.
pub(crate) fn is_cold_class(class: &str) -> bool {
    matches!(class, "GLACIER" | "DEEP_ARCHIVE")
}

type Creds = Arc<dyn CredentialProvider<Credential = AwsCredential>>;

/// Signed access to one bucket.
#[derive(Debug)]
pub(crate) struct S3Extra {
    http: HttpClient,
    /// `{endpoint}/{bucket}` without a trailing slash.
    bucket_url: String,
    region: String,
    creds: Creds,
    /// The server answered RestoreObject with 501 Not Implemented: it has
    /// no cold classes (Garage, MinIO).
    no_cold_classes: std::sync::atomic::AtomicBool,
    /// The bucket has Object Lock: writes and deletes check first.
    guard_locks: bool,
}

impl S3Extra {
    pub(crate) fn new(
        http: HttpClient,
        endpoint: Option<&str>,
        bucket: &str,
        region: &str,
        creds: Creds,
    ) -> Self {
        let base = match endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        Self {
            http,
            bucket_url: format!("{base}/{bucket}"),
            region: region.to_owned(),
            creds,
            no_cold_classes: std::sync::atomic::AtomicBool::new(false),
            guard_locks: false,
        }
    }

    /// The same access, checking each replacement and delete against the
    /// object's Object Lock retention first (see `replaceable`).
    pub(crate) fn guarding_locks(mut self, on: bool) -> Self {
        self.guard_locks = on;
        self
    }

    /// Whether writes and deletes check the object's retention first.
    pub(crate) fn guards_locks(&self) -> bool {
        self.guard_locks
    }

    /// `{endpoint}/{bucket}`.
    pub(crate) fn bucket_url(&self) -> &str {
        &self.bucket_url
    }

    /// Whether the server said it has no cold classes (see `restore`).
    pub(crate) fn no_cold_classes(&self) -> bool {
        self.no_cold_classes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// HEAD with `x-amz-checksum-mode: ENABLED`. `full_key` includes the
    /// site prefix; `key` (site-relative) goes into the result and errors.
    pub(crate) async fn head(&self, at: At<'_>, full_key: &str) -> Result<ObjectInfo> {
        let url = format!("{}/{}", self.bucket_url, encode_path(full_key));
        let r = self
            .call(
                at,
                Method::HEAD,
                &url,
                &[("x-amz-checksum-mode", "ENABLED")],
                Bytes::new(),
            )
            .await?;
        match r.status {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => return Err(at.not_found()),
            _ => return Err(status_error(at, &r)),
        }
        let h = |name: &str| r.header(name);
        let storage_class = h("x-amz-storage-class");
        let restore = match h("x-amz-restore") {
            Some(v) => Some(parse_restore_header(&v)),
            None if storage_class.as_deref().is_some_and(is_cold_class) => {
                Some(RestoreStatus::NotRequested)
            }
            None => Some(RestoreStatus::NotNeeded),
        };
        Ok(ObjectInfo {
            key: at.key.to_owned(),
            size: h("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_default(),
            modified: h("last-modified")
                .and_then(|v| httpdate::parse_http_date(&v).ok())
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64),
            etag: h("etag"),
            storage_class,
            sha256: h("x-amz-checksum-sha256"),
            restore,
            metadata: r.metadata("x-amz-meta-"),
            lock: crate::s3lock::head_lock(
                h("x-amz-object-lock-mode").as_deref(),
                h("x-amz-object-lock-retain-until-date").as_deref(),
            ),
            version: h("x-amz-version-id").filter(|v| v != "null"),
        })
    }

    /// PUT of a whole object with its SHA-256 checksum, which S3 keeps and
    /// reports on HEAD (and requires of a write with an Object Lock
    /// retention). Sent here rather than through object_store so the
    /// `x-amz-sdk-checksum-algorithm` header is signed along with it (some
    /// S3 implementations store the checksum only when it is present).
    pub(crate) async fn put(
        &self,
        at: At<'_>,
        full_key: &str,
        data: Bytes,
        storage_class: Option<&str>,
        opts: &crate::backend::PutOptions,
    ) -> Result<Option<String>> {
        let metadata = &opts.metadata;
        let url = format!("{}/{}", self.bucket_url, encode_path(full_key));
        let sha = crate::objstore::sha256_b64(&data);
        let mut headers = vec![
            ("x-amz-checksum-sha256", sha.as_str()),
            ("x-amz-sdk-checksum-algorithm", "SHA256"),
            ("content-type", "application/octet-stream"),
        ];
        if let Some(class) = storage_class {
            headers.push(("x-amz-storage-class", class));
        }
        let meta: Vec<(String, &str)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.as_str()))
            .collect();
        headers.extend(meta.iter().map(|(k, v)| (k.as_str(), *v)));
        let lock = opts.lock.as_ref().map(crate::s3lock::lock_headers);
        headers.extend(lock.iter().flatten().map(|(k, v)| (*k, v.as_str())));
        let r = self.call(at, Method::PUT, &url, &headers, data).await?;
        if !r.status.is_success() {
            return Err(status_error(at, &r));
        }
        Ok(r.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    /// POST `?restore`.
    pub(crate) async fn restore(
        &self,
        at: At<'_>,
        full_key: &str,
        req: RestoreRequest,
    ) -> Result<RestoreStatus> {
        let url = format!("{}/{}?restore", self.bucket_url, encode_path(full_key));
        let body = format!(
            "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>{}</Days>\
             <GlacierJobParameters><Tier>{}</Tier></GlacierJobParameters></RestoreRequest>",
            req.days.max(1),
            req.tier.as_s3()
        );
        let r = self
            .call(
                at,
                Method::POST,
                &url,
                &[("content-type", "application/xml")],
                body.into(),
            )
            .await?;
        let code = error_code(&r.body);
        match (r.status, code.as_deref()) {
            (StatusCode::ACCEPTED, _) => Ok(RestoreStatus::InProgress),
            // Already restored: S3 extends the expiry and answers 200.
            (StatusCode::OK, _) => self.head(at, full_key).await.map(|i| match i.restore {
                Some(s @ RestoreStatus::Ready { .. }) => s,
                _ => RestoreStatus::Ready { expires: None },
            }),
            (StatusCode::CONFLICT, _) => Ok(RestoreStatus::InProgress),
            (StatusCode::NOT_FOUND, _) => Err(at.not_found()),
            // Not an archived object: it can be read as it is.
            (StatusCode::FORBIDDEN, Some("InvalidObjectState")) => Ok(RestoreStatus::NotNeeded),
            // A store without cold classes (Garage, MinIO): every object it
            // holds is readable; a missing one is still missing.
            (StatusCode::NOT_IMPLEMENTED, _) => {
                self.no_cold_classes
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.head(at, full_key)
                    .await
                    .map(|_| RestoreStatus::NotNeeded)
            }
            _ => Err(status_error(at, &r)),
        }
    }

    /// GET `?uploads&prefix=…`, all pages. Keys come back with the site
    /// prefix; `strip` removes it.
    pub(crate) async fn list_uploads(
        &self,
        at: At<'_>,
        full_prefix: &str,
        strip: &str,
    ) -> Result<Vec<PendingUpload>> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = format!(
                "{}?uploads&prefix={}",
                self.bucket_url,
                encode_query(full_prefix)
            );
            if let Some((k, u)) = &markers {
                url.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    encode_query(k),
                    encode_query(u)
                ));
            }
            let r = self.call(at, Method::GET, &url, &[], Bytes::new()).await?;
            if !r.status.is_success() {
                return Err(status_error(at, &r));
            }
            let page: ListUploads = quick_xml::de::from_reader(r.body.as_ref()).map_err(|e| {
                at.request(
                    false,
                    format!("unreadable ListMultipartUploads answer: {e}"),
                )
            })?;
            for u in page.uploads {
                let key = u.key.strip_prefix(strip).unwrap_or(&u.key).to_owned();
                out.push(PendingUpload {
                    key,
                    upload_id: u.upload_id,
                });
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (Some(true), Some(k), Some(u)) => markers = Some((k, u)),
                _ => break,
            }
        }
        Ok(out)
    }

    pub(crate) async fn call(
        &self,
        at: At<'_>,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Collected> {
        let cred = self
            .creds
            .get_credential()
            .await
            .map_err(|e| at.denied(format!("no usable credentials: {e}")))?;
        self.http
            .send_signed(at, || {
                let mut b = Request::builder().method(method.clone()).uri(url);
                for (k, v) in headers {
                    b = b.header(*k, *v);
                }
                let mut req = b.body(Full::new(body.clone())).map_err(|e| e.to_string())?;
                self.sign(&mut req, &body, &cred)?;
                Ok(req)
            })
            .await
    }

    fn sign(
        &self,
        req: &mut Request<Full<Bytes>>,
        body: &[u8],
        cred: &AwsCredential,
    ) -> std::result::Result<(), String> {
        sign_at(req, body, cred, &self.region, SystemTime::now())
    }
}

#[async_trait::async_trait]
impl Pages for S3Extra {
    /// One page of ListObjectsV2 under `full_prefix` (a folder: `p/`),
    /// with storage classes. Keys lose `strip`.
    async fn page(
        &self,
        at: At<'_>,
        full_prefix: &str,
        strip: &str,
        token: Option<&str>,
    ) -> Result<(Vec<ObjectInfo>, Option<String>)> {
        let mut url = format!("{}?list-type=2", self.bucket_url);
        if !full_prefix.is_empty() {
            url.push_str(&format!("&prefix={}", encode_query(full_prefix)));
        }
        if let Some(t) = token {
            url.push_str(&format!("&continuation-token={}", encode_query(t)));
        }
        let r = self.call(at, Method::GET, &url, &[], Bytes::new()).await?;
        if !r.status.is_success() {
            return Err(status_error(at, &r));
        }
        let page: ListObjects = quick_xml::de::from_reader(r.body.as_ref())
            .map_err(|e| at.request(false, format!("unreadable ListObjectsV2 answer: {e}")))?;
        let items = page
            .contents
            .into_iter()
            .map(|c| ObjectInfo {
                key: c.key.strip_prefix(strip).unwrap_or(&c.key).to_owned(),
                size: c.size,
                modified: c
                    .last_modified
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map_or(0, jiff::Timestamp::as_second),
                etag: c.e_tag,
                // S3 lists STANDARD objects as STANDARD; HEAD omits it.
                storage_class: c.storage_class,
                sha256: None,
                restore: None,
                metadata: Default::default(),
                lock: None,
                version: None,
            })
            .collect();
        let next = match (page.is_truncated, page.next_continuation_token) {
            (Some(true), Some(t)) => Some(t),
            _ => None,
        };
        Ok((items, next))
    }
}

/// Signs `req` (SigV4 for S3, `x-amz-content-sha256` of `body`) as of
/// `time`: every request lomob makes itself is signed here.
pub(crate) fn sign_at(
    req: &mut Request<Full<Bytes>>,
    body: &[u8],
    cred: &AwsCredential,
    region: &str,
    time: SystemTime,
) -> std::result::Result<(), String> {
    let identity = aws_credential_types::Credentials::new(
        cred.key_id.clone(),
        cred.secret_key.clone(),
        cred.token.clone(),
        None,
        "lomob",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

/// The headers lomob's signer adds to a request (Authorization,
/// x-amz-date, x-amz-content-sha256, and x-amz-security-token with a
/// session token), for comparing with an independent signer.
#[cfg(any(test, feature = "test-util"))]
pub fn signed_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    region: &str,
    (key_id, secret, token): (&str, &str, Option<&str>),
    time: SystemTime,
) -> std::result::Result<Vec<(String, String)>, String> {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| e.to_string())?;
    let cred = AwsCredential {
        key_id: key_id.to_owned(),
        secret_key: secret.to_owned(),
        token: token.map(str::to_owned),
    };
    sign_at(&mut req, body, &cred, region, time)?;
    Ok(req
        .headers()
        .iter()
        .filter(|(k, _)| {
            !headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case(k.as_str()))
        })
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

pub(crate) fn fuzz_xml(data: &[u8]) {
    let _ = error_code(data);
    let _ = quick_xml::de::from_reader::<_, ListUploads>(data);
    let _ = quick_xml::de::from_reader::<_, ListObjects>(data);
    crate::s3lock::fuzz_xml(data);
    let _ = crate::s3hidden::parse_versions(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_restore_header(s);
    }
}

/// Parses `x-amz-restore: ongoing-request="false", expiry-date="…"`.
pub(crate) fn parse_restore_header(v: &str) -> RestoreStatus {
    if v.contains("ongoing-request=\"true\"") {
        return RestoreStatus::InProgress;
    }
    let expires = v
        .split_once("expiry-date=\"")
        .and_then(|(_, rest)| rest.split_once('"').map(|(date, _)| date.to_owned()));
    RestoreStatus::Ready { expires }
}

/// The `<Code>` of an S3 error body.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    quick_xml::de::from_reader::<_, ErrorBody>(body)
        .ok()
        .map(|e| e.code)
}

pub(crate) fn status_error(at: At<'_>, r: &Collected) -> Error {
    let code = error_code(&r.body).unwrap_or_default();
    let msg = format!("{} {}", r.status, code);
    match r.status {
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => at.denied(msg),
        _ => at.request(false, msg),
    }
}

/// A key as a URL path: each segment percent-encoded (RFC 3986 unreserved
/// characters kept), the slashes between them kept. S3 and Azure sign and
/// resolve exactly this form, so a key with spaces or non-ASCII works.
pub(crate) fn encode_path(key: &str) -> String {
    key.split('/')
        .map(encode_query)
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(rename = "Code")]
    code: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUploads {
    is_truncated: Option<bool>,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload", default)]
    uploads: Vec<UploadEntry>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListObjects {
    is_truncated: Option<bool>,
    next_continuation_token: Option<String>,
    #[serde(default)]
    contents: Vec<ListEntry>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntry {
    key: String,
    last_modified: Option<String>,
    #[serde(rename = "ETag")]
    e_tag: Option<String>,
    size: u64,
    storage_class: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_header() {
        assert_eq!(
            parse_restore_header("ongoing-request=\"true\""),
            RestoreStatus::InProgress
        );
        assert_eq!(
            parse_restore_header(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
            ),
            RestoreStatus::Ready {
                expires: Some("Fri, 21 Dec 2012 00:00:00 GMT".into())
            }
        );
    }

    #[test]
    fn error_codes() {
        let b = b"<?xml version=\"1.0\"?><Error><Code>InvalidObjectState</Code><Message>m</Message></Error>";
        assert_eq!(error_code(b).as_deref(), Some("InvalidObjectState"));
        assert_eq!(error_code(b"garbage"), None);
    }

    #[test]
    fn list_uploads_xml() {
        let x = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
<NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
<MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
<Upload><Key>p/k1</Key><UploadId>u1</UploadId><StorageClass>STANDARD</StorageClass></Upload>
<Upload><Key>p/k2</Key><UploadId>u2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        let l: ListUploads = quick_xml::de::from_str(x).unwrap();
        assert_eq!(l.uploads.len(), 2);
        assert_eq!(l.is_truncated, Some(true));
        assert_eq!(l.next_upload_id_marker.as_deref(), Some("u2"));
    }
}
