//! S3 Object Lock on moto, as a plain S3 client with the site's own
//! credentials does it (no lomob code): a bucket with Object Lock, an
//! object's versions, deleting one, shortening a GOVERNANCE retention.

use base64::Engine as _;
use md5::Digest as _;

use super::{MOTO_AUTH, http};

/// Creates `bucket` on moto with Object Lock enabled (and so versioning).
pub fn create_locked_bucket(port: u16, bucket: &str) {
    let (status, body) = http(
        port,
        "PUT",
        &format!("/{bucket}"),
        &[("x-amz-bucket-object-lock-enabled", "true")],
        b"",
    );
    assert_eq!(status, 200, "creating locked bucket {bucket}: {body}");
}

/// One version of an object, or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Full key.
    pub key: String,
    /// Version id.
    pub id: String,
    /// A delete marker, not data.
    pub marker: bool,
}

/// Every version and delete marker under `prefix` (ListObjectVersions).
pub fn versions(port: u16, bucket: &str, prefix: &str) -> Vec<Version> {
    let path = format!("/{bucket}?versions&prefix={}", crate::s3::encode_query(prefix));
    let (status, body) = http(port, "GET", &path, &[("Authorization", MOTO_AUTH)], b"");
    assert_eq!(status, 200, "listing versions: {body}");
    let mut out = Vec::new();
    for (tag, marker) in [("Version", false), ("DeleteMarker", true)] {
        for chunk in body.split(&format!("<{tag}>")).skip(1) {
            let field = |name: &str| {
                chunk
                    .split_once(&format!("<{name}>"))
                    .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
                    .map(|(v, _)| v.to_owned())
                    .unwrap_or_default()
            };
            out.push(Version {
                key: field("Key"),
                id: field("VersionId"),
                marker,
            });
        }
    }
    out
}

/// DELETE of one version, as any S3 client sends it; the status.
pub fn delete_version(port: u16, bucket: &str, key: &str, id: &str) -> u16 {
    let path = format!("/{bucket}/{key}?versionId={id}");
    http(port, "DELETE", &path, &[("Authorization", MOTO_AUTH)], b"").0
}

/// Sets a GOVERNANCE retention on the current version of `key` with the
/// bypass header (shortening it behind lomob's back); `until` as S3 writes
/// it (`2026-12-03T00:00:00Z`).
pub fn shorten_retention(port: u16, bucket: &str, key: &str, until: &str) {
    let body = format!(
        "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>"
    );
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
    let (status, text) = http(
        port,
        "PUT",
        &format!("/{bucket}/{key}?retention"),
        &[
            ("Authorization", MOTO_AUTH),
            ("Content-MD5", &md5),
            ("x-amz-bypass-governance-retention", "true"),
        ],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "shortening the retention of {key}: {text}");
}
