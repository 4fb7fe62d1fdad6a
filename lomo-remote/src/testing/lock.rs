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
    let path = format!(
        "/{bucket}?versions&prefix={}",
        crate::s3::encode_query(prefix)
    );
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

/// The lock mode and retain-until date (unix seconds) S3 reports for the
/// current version of `key` on a plain HEAD, or `None` when it has none.
/// The date is read here by its own small parser, not lomo-remote's.
pub fn lock_of(port: u16, bucket: &str, key: &str) -> Option<(String, i64)> {
    let (status, head, _) = super::raw(
        port,
        "HEAD",
        &format!("/{bucket}/{key}"),
        &[("Authorization", MOTO_AUTH)],
        b"",
    );
    assert_eq!(status, 200, "HEAD {key}: {head}");
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let mode = header("x-amz-object-lock-mode")?;
    let until = header("x-amz-object-lock-retain-until-date")?;
    Some((mode, unix_of(&until)))
}

/// `2036-12-02T22:30:00.000Z` (or without the fraction) as unix seconds.
fn unix_of(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 {
        s.get(r)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("a date: {s}"))
    };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

/// Unix seconds as S3 writes a date (`2026-12-03T00:00:00Z`), for
/// [`shorten_retention`].
pub fn iso_of(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_read_as_unix_seconds() {
        assert_eq!(super::unix_of("2036-12-01T00:00:00Z"), 2_111_702_400);
        assert_eq!(super::unix_of("2026-12-02T19:00:00.000Z"), 1_796_238_000);
        assert_eq!(super::unix_of("1970-01-01T00:00:00Z"), 0);
        for t in [0, 951_782_400, 1_796_238_000, 2_111_702_399] {
            assert_eq!(super::unix_of(&super::iso_of(t)), t);
        }
    }
}
