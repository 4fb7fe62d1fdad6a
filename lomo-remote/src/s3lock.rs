//! The S3 Object Lock requests, signed like the rest of [`S3Extra`]'s:
//! the bucket's configuration, an object's retention, a multipart upload
//! created with a retention (object_store cannot send the lock headers),
//! and deleting one version on a versioned bucket.

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use md5::Digest as _;

use crate::backend::PutOptions;
use crate::error::{At, Result};
use crate::lock::{BucketLock, LockMode, ObjectLock, iso_time};
use crate::s3::{S3Extra, encode_path, encode_query, error_code, status_error};

/// The headers that write an object with `lock`.
pub(crate) fn lock_headers(lock: &ObjectLock) -> [(&'static str, String); 2] {
    [
        ("x-amz-object-lock-mode", lock.mode.as_s3().to_owned()),
        ("x-amz-object-lock-retain-until-date", lock.until_text()),
    ]
}

impl S3Extra {
    /// On a site that guards locks: what a write or delete of `full_key`
    /// would replace, or [`crate::Error::Locked`] while the current
    /// version's retention holds — found by a HEAD, before the write is
    /// sent. A site that does not guard answers [`Current::Unknown`].
    pub(crate) async fn replaceable(&self, at: At<'_>, full_key: &str) -> Result<Current> {
        if !self.guards_locks() {
            return Ok(Current::Unknown);
        }
        match self.head(at, full_key).await {
            Ok(info) => match (info.lock, info.version) {
                (Some(l), _) if l.holds_at(jiff::Timestamp::now().as_second()) => Err(at.locked(l)),
                (_, Some(v)) => Ok(Current::Version(v)),
                (_, None) => Ok(Current::Unknown),
            },
            Err(e) if e.is_not_found() => Ok(Current::Absent),
            Err(e) => Err(e),
        }
    }

    /// GET `?object-lock`: whether the bucket has Object Lock, and its
    /// default retention. A bucket without a configuration (S3's
    /// `ObjectLockConfigurationNotFoundError`) or a server without the
    /// feature (501) has it off.
    pub(crate) async fn object_lock(&self, at: At<'_>) -> Result<BucketLock> {
        let url = format!("{}?object-lock", self.bucket_url());
        let r = self.call(at, Method::GET, &url, &[], Bytes::new()).await?;
        let code = error_code(&r.body);
        match (r.status, code.as_deref()) {
            (s, _) if s.is_success() => {}
            (_, Some("ObjectLockConfigurationNotFoundError"))
            | (StatusCode::NOT_IMPLEMENTED, _) => {
                return Ok(BucketLock::default());
            }
            _ => return Err(status_error(at, &r)),
        }
        let c: LockConfiguration = quick_xml::de::from_reader(r.body.as_ref()).map_err(|e| {
            at.request(
                false,
                format!("unreadable GetObjectLockConfiguration answer: {e}"),
            )
        })?;
        Ok(c.read())
    }

    /// PUT `?retention` on the current version of `full_key`, with the
    /// Content-MD5 S3 requires of it.
    pub(crate) async fn put_retention(
        &self,
        at: At<'_>,
        full_key: &str,
        lock: ObjectLock,
    ) -> Result<()> {
        let url = format!("{}/{}?retention", self.bucket_url(), encode_path(full_key));
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode>\
             <RetainUntilDate>{}</RetainUntilDate></Retention>",
            lock.mode.as_s3(),
            iso_time(lock.retain_until)
        );
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
        let headers = [
            ("content-md5", md5.as_str()),
            ("content-type", "application/xml"),
        ];
        let r = self
            .call(at, Method::PUT, &url, &headers, body.into())
            .await?;
        match r.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(at.not_found()),
            _ => Err(status_error(at, &r)),
        }
    }

    /// POST `?uploads` with the object's class, metadata and `lock`, and
    /// the checksum algorithm object_store's parts then carry.
    pub(crate) async fn create_upload(
        &self,
        at: At<'_>,
        full_key: &str,
        class: Option<&str>,
        opts: &PutOptions,
        lock: &ObjectLock,
    ) -> Result<String> {
        let url = format!("{}/{}?uploads", self.bucket_url(), encode_path(full_key));
        let mut headers: Vec<(String, String)> = lock_headers(lock)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        headers.push(("x-amz-checksum-algorithm".into(), "SHA256".into()));
        if let Some(class) = class {
            headers.push(("x-amz-storage-class".into(), class.to_owned()));
        }
        for (k, v) in &opts.metadata {
            headers.push((format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone()));
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = self
            .call(at, Method::POST, &url, &headers, Bytes::new())
            .await?;
        if !r.status.is_success() {
            return Err(status_error(at, &r));
        }
        let created: Initiated = quick_xml::de::from_reader(r.body.as_ref()).map_err(|e| {
            at.request(
                false,
                format!("unreadable CreateMultipartUpload answer: {e}"),
            )
        })?;
        Ok(created.upload_id)
    }

    /// DELETE of one version of `full_key`: on a versioned bucket a plain
    /// DELETE only hides the object behind a delete marker, and its bytes
    /// stay (and are billed).
    pub(crate) async fn delete_version(
        &self,
        at: At<'_>,
        full_key: &str,
        version: &str,
    ) -> Result<()> {
        let url = format!(
            "{}/{}?versionId={}",
            self.bucket_url(),
            encode_path(full_key),
            encode_query(version)
        );
        let r = self
            .call(at, Method::DELETE, &url, &[], Bytes::new())
            .await?;
        match r.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Ok(()),
            _ => Err(status_error(at, &r)),
        }
    }
}

/// What a key holds before a write or delete on a site that guards locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Current {
    /// No object.
    Absent,
    /// An unlocked (or expired) version, by id.
    Version(String),
    /// Not known: the site does not guard, or the bucket has no versions.
    Unknown,
}

/// The lock an S3 HEAD answer describes, if any.
pub(crate) fn head_lock(mode: Option<&str>, until: Option<&str>) -> Option<ObjectLock> {
    let mode: LockMode = mode?.parse().ok()?;
    let until = crate::lock::parse_iso_time(until?)?;
    Some(ObjectLock::new(mode, until))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LockConfiguration {
    object_lock_enabled: Option<String>,
    rule: Option<LockRule>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LockRule {
    default_retention: Option<DefaultRetention>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DefaultRetention {
    mode: Option<String>,
    days: Option<u32>,
    years: Option<u32>,
}

impl LockConfiguration {
    fn read(self) -> BucketLock {
        let default_retention = self.rule.and_then(|r| r.default_retention).and_then(|d| {
            let mode = d.mode?.parse().ok()?;
            let days = d.days.or(d.years.map(|y| y.saturating_mul(365)))?;
            Some((mode, days))
        });
        BucketLock {
            enabled: self.object_lock_enabled.as_deref() == Some("Enabled"),
            default_retention,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Initiated {
    upload_id: String,
}

pub(crate) fn fuzz_xml(data: &[u8]) {
    if let Ok(c) = quick_xml::de::from_reader::<_, LockConfiguration>(data) {
        let _ = c.read();
    }
    let _ = quick_xml::de::from_reader::<_, Initiated>(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_configuration_xml() {
        let x = r#"<?xml version="1.0" encoding="UTF-8"?>
<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<ObjectLockEnabled>Enabled</ObjectLockEnabled>
<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Years>2</Years></DefaultRetention></Rule>
</ObjectLockConfiguration>"#;
        let c: LockConfiguration = quick_xml::de::from_str(x).unwrap();
        assert_eq!(
            c.read(),
            BucketLock {
                enabled: true,
                default_retention: Some((LockMode::Governance, 730))
            }
        );
        let bare = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
        let c: LockConfiguration = quick_xml::de::from_str(bare).unwrap();
        assert_eq!(c.read().default_retention, None);
        assert_eq!(
            head_lock(Some("COMPLIANCE"), Some("2036-12-01T00:00:00.000Z")),
            Some(ObjectLock::new(LockMode::Compliance, 2_111_702_400))
        );
        assert_eq!(head_lock(None, Some("2036-12-01T00:00:00Z")), None);
    }
}
