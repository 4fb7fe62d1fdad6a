//! The Azure Blob requests object_store does not make, authorized by
//! object_store's own [`AzureAuthorizer`] (shared key, SAS or bearer token,
//! whichever the site's credentials are) and sent on [`HttpClient`]:
//! Set Blob Tier (an archive's tier after its block list, rehydration with
//! a priority), Get Blob Properties with the tier and rehydration status,
//! and List Blobs with tiers.

use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use object_store::azure::{AzureAuthorizer, AzureCredentialProvider};
use object_store::client::HttpRequestBody;

use crate::backend::{ObjectInfo, RestoreRequest, RestoreStatus, RestoreTier};
use crate::error::{At, Error, Result};
use crate::http::{Collected, HttpClient};
use crate::objstore::Pages;
use crate::s3::{encode_path, encode_query};

/// The access tier whose blobs must be rehydrated before a read.
pub(crate) const ARCHIVE: &str = "Archive";

/// The online tier a rehydrated archive goes to: Hot has no minimum
/// storage period, so setting it back to Archive later costs nothing extra.
const REHYDRATE_TO: &str = "Hot";

/// Authorized access to one container.
#[derive(Debug)]
pub(crate) struct AzureExtra {
    http: HttpClient,
    /// `{account URL}/{container}` without a trailing slash.
    container_url: String,
    account: String,
    creds: AzureCredentialProvider,
}

impl AzureExtra {
    /// `account_url` is the account's blob endpoint
    /// (`https://ACCOUNT.blob.core.windows.net`, or Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    pub(crate) fn new(
        http: HttpClient,
        account_url: &str,
        container: &str,
        account: &str,
        creds: AzureCredentialProvider,
    ) -> Self {
        Self {
            http,
            container_url: format!("{}/{container}", account_url.trim_end_matches('/')),
            account: account.to_owned(),
            creds,
        }
    }

    /// Get Blob Properties: size, ETag, tier and rehydration status.
    pub(crate) async fn head(&self, at: At<'_>, full_key: &str) -> Result<ObjectInfo> {
        let url = format!("{}/{}", self.container_url, encode_path(full_key));
        let r = self.call(at, Method::HEAD, &url, &[]).await?;
        match r.status {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => return Err(at.not_found()),
            _ => return Err(status_error(at, &r)),
        }
        let h = |name: &str| r.header(name);
        let tier = h("x-ms-access-tier");
        Ok(ObjectInfo {
            key: at.key.to_owned(),
            size: h("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_default(),
            modified: h("last-modified").map_or(0, |v| http_date(&v)),
            etag: h("etag"),
            restore: Some(restore_status(
                tier.as_deref(),
                h("x-ms-archive-status").as_deref(),
            )),
            storage_class: tier,
            sha256: None,
            metadata: r.metadata("x-ms-meta-"),
            lock: None,
            version: None,
        })
    }

    /// Set Blob Tier; `priority` (`Standard`, `High`) applies to a
    /// rehydration. Returns the status: 200 done, 202 rehydration started.
    pub(crate) async fn set_tier(
        &self,
        at: At<'_>,
        full_key: &str,
        tier: &str,
        priority: Option<&str>,
    ) -> Result<StatusCode> {
        let url = format!("{}/{}?comp=tier", self.container_url, encode_path(full_key));
        let mut headers = vec![("x-ms-access-tier", tier)];
        if let Some(p) = priority {
            headers.push(("x-ms-rehydrate-priority", p));
        }
        let r = self.call(at, Method::PUT, &url, &headers).await?;
        match r.status {
            StatusCode::OK | StatusCode::ACCEPTED => Ok(r.status),
            StatusCode::NOT_FOUND => Err(at.not_found()),
            _ => Err(status_error(at, &r)),
        }
    }

    /// Asks for an archived blob to be readable: rehydration to the Hot
    /// tier, High priority for an expedited restore, Standard otherwise.
    pub(crate) async fn restore(
        &self,
        at: At<'_>,
        full_key: &str,
        req: RestoreRequest,
    ) -> Result<RestoreStatus> {
        let now = self.head(at, full_key).await?;
        if now.restore != Some(RestoreStatus::NotRequested) {
            return Ok(now.restore.unwrap_or(RestoreStatus::NotNeeded));
        }
        let priority = match req.tier {
            RestoreTier::Expedited => "High",
            RestoreTier::Bulk | RestoreTier::Standard => "Standard",
        };
        match self
            .set_tier(at, full_key, REHYDRATE_TO, Some(priority))
            .await
        {
            Ok(StatusCode::ACCEPTED) => Ok(RestoreStatus::InProgress),
            // At once (an emulator): what the blob says now.
            Ok(_) => Ok(self
                .head(at, full_key)
                .await?
                .restore
                .unwrap_or(RestoreStatus::NotNeeded)),
            Err(e) => Err(e),
        }
    }

    async fn call(
        &self,
        at: At<'_>,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Collected> {
        let cred = self
            .creds
            .get_credential()
            .await
            .map_err(|e| at.denied(format!("no usable credentials: {e}")))?;
        self.http
            .send_signed(at, || {
                authorized(&method, url, headers, &cred, &self.account)
            })
            .await
    }
}

#[async_trait::async_trait]
impl Pages for AzureExtra {
    /// One page of List Blobs under `full_prefix` (a folder: `p/`), with
    /// tiers. Names lose `strip`.
    async fn page(
        &self,
        at: At<'_>,
        full_prefix: &str,
        strip: &str,
        marker: Option<&str>,
    ) -> Result<(Vec<ObjectInfo>, Option<String>)> {
        let mut url = format!("{}?restype=container&comp=list", self.container_url);
        if !full_prefix.is_empty() {
            url.push_str(&format!("&prefix={}", encode_query(full_prefix)));
        }
        if let Some(m) = marker {
            url.push_str(&format!("&marker={}", encode_query(m)));
        }
        let r = self.call(at, Method::GET, &url, &[]).await?;
        if !r.status.is_success() {
            return Err(status_error(at, &r));
        }
        let page: Enumeration = quick_xml::de::from_reader(r.body.as_ref())
            .map_err(|e| at.request(false, format!("unreadable List Blobs answer: {e}")))?;
        let items = page
            .blobs
            .blobs
            .into_iter()
            .map(|b| {
                let p = b.properties;
                ObjectInfo {
                    key: b.name.strip_prefix(strip).unwrap_or(&b.name).to_owned(),
                    size: p.content_length,
                    modified: p.last_modified.as_deref().map_or(0, http_date),
                    etag: p.etag,
                    restore: Some(restore_status(
                        p.access_tier.as_deref(),
                        p.archive_status.as_deref(),
                    )),
                    storage_class: p.access_tier,
                    sha256: None,
                    metadata: Default::default(),
                    lock: None,
                    version: None,
                }
            })
            .collect();
        Ok((items, page.next_marker.filter(|m| !m.is_empty())))
    }
}

/// A bodiless request with its date, version and authorization, as
/// object_store signs its own.
fn authorized(
    method: &Method,
    url: &str,
    headers: &[(&str, &str)],
    cred: &object_store::azure::AzureCredential,
    account: &str,
) -> std::result::Result<Request<Full<Bytes>>, String> {
    let mut b = Request::builder().method(method.clone()).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b
        .body(HttpRequestBody::from(Bytes::new()))
        .map_err(|e| e.to_string())?;
    AzureAuthorizer::new(cred, account)
        .try_authorize(&mut req)
        .map_err(|e| e.to_string())?;
    let (parts, _) = req.into_parts();
    Ok(Request::from_parts(parts, Full::new(Bytes::new())))
}

/// What a blob's tier and archive status say about reading it.
fn restore_status(tier: Option<&str>, archive_status: Option<&str>) -> RestoreStatus {
    match (tier, archive_status) {
        (_, Some(s)) if s.starts_with("rehydrate-pending") => RestoreStatus::InProgress,
        (Some(t), _) if t.eq_ignore_ascii_case(ARCHIVE) => RestoreStatus::NotRequested,
        _ => RestoreStatus::NotNeeded,
    }
}

fn http_date(v: &str) -> i64 {
    httpdate::parse_http_date(v)
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

fn status_error(at: At<'_>, r: &Collected) -> Error {
    let code = r
        .headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let msg = format!("{} {code}", r.status);
    match r.status {
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => at.denied(msg),
        _ => at.request(false, msg),
    }
}

pub(crate) fn fuzz_xml(data: &[u8]) {
    let _ = quick_xml::de::from_reader::<_, Enumeration>(data);
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Enumeration {
    #[serde(default)]
    blobs: Blobs,
    next_marker: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct Blobs {
    #[serde(rename = "Blob", default)]
    blobs: Vec<BlobEntry>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlobEntry {
    name: String,
    properties: BlobProperties,
}

#[derive(serde::Deserialize)]
struct BlobProperties {
    #[serde(rename = "Last-Modified")]
    last_modified: Option<String>,
    #[serde(rename = "Etag")]
    etag: Option<String>,
    #[serde(rename = "Content-Length")]
    content_length: u64,
    #[serde(rename = "AccessTier")]
    access_tier: Option<String>,
    #[serde(rename = "ArchiveStatus")]
    archive_status: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_say_what_a_read_needs() {
        assert_eq!(
            restore_status(Some("Archive"), None),
            RestoreStatus::NotRequested
        );
        assert_eq!(
            restore_status(Some("Archive"), Some("rehydrate-pending-to-hot")),
            RestoreStatus::InProgress
        );
        assert_eq!(restore_status(Some("Hot"), None), RestoreStatus::NotNeeded);
        assert_eq!(restore_status(None, None), RestoreStatus::NotNeeded);
    }

    #[test]
    fn list_blobs_xml() {
        let x = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c">
<Prefix>p/</Prefix><MaxResults>5000</MaxResults><Blobs>
<Blob><Name>p/a</Name><Properties><Creation-Time>Wed, 02 Dec 2026 05:00:00 GMT</Creation-Time>
<Last-Modified>Wed, 02 Dec 2026 05:00:00 GMT</Last-Modified><Etag>0x8D</Etag>
<Content-Length>7</Content-Length><BlobType>BlockBlob</BlobType><AccessTier>Archive</AccessTier>
<ArchiveStatus>rehydrate-pending-to-hot</ArchiveStatus></Properties><Metadata/></Blob>
<Blob><Name>p/b</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>
</Blobs><NextMarker>m2</NextMarker></EnumerationResults>"#;
        let e: Enumeration = quick_xml::de::from_str(x).unwrap();
        assert_eq!(e.blobs.blobs.len(), 2);
        assert_eq!(e.next_marker.as_deref(), Some("m2"));
        let p = &e.blobs.blobs[0].properties;
        assert_eq!(p.access_tier.as_deref(), Some("Archive"));
        assert_eq!(p.content_length, 7);
        assert_eq!(http_date(p.last_modified.as_deref().unwrap()), 1796187600);
        let empty: Enumeration = quick_xml::de::from_str(
            "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>",
        )
        .unwrap();
        assert!(empty.blobs.blobs.is_empty());
    }
}
