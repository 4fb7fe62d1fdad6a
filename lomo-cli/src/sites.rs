//! Sites as the engine knows them: their settings ([`SiteConfig`]), opening
//! them as [`Backend`]s, where lomob keeps things on them, and the probe
//! `lomob site test` runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use lomo_remote::{Backend, Location, PutOptions, RetryPolicy, SiteOptions, SiteUrl, Uploader};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::units::parse_size;

pub mod lock;
mod probe;

pub use lock::{LOCKED_PREFIX, LockDuration, LockPolicy};
pub use probe::{ProbeReport, ProbeStep, probe, probe_lock};

/// Where staged objects live on a site.
pub const STAGING_PREFIX: &str = "lomob/staging";
/// Where archives live on a site.
pub const ARCHIVES_PREFIX: &str = "lomob/archives";
/// Where catalog snapshots live on a site.
pub const CATALOG_PREFIX: &str = "lomob/catalog";
/// Where key files live on a site.
pub const KEYS_PREFIX: &str = "lomob/keys";

/// One site's settings (a `[[site]]` table of the config file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Unique name, used on the command line and in the catalog.
    pub name: String,
    /// Site URL (`s3://`, `gs://`, `az://`, `file://`, `gdrive://`).
    pub url: String,
    /// What the site receives.
    #[serde(default)]
    pub role: Role,
    /// Storage class for archives, e.g. `DEEP_ARCHIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Never overwrite or delete anything there.
    #[serde(default, skip_serializing_if = "is_false")]
    pub append_only: bool,
    /// Encrypt what goes there (off: plain ISO images that mount anywhere).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub encrypt: bool,
    /// Bandwidth limit per second, e.g. "2MB".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_limit: Option<String>,
    /// Reed–Solomon parity stored beside each archive, e.g. "5%": that
    /// share of damaged chunks is rebuilt without any other copy (for a
    /// disk with no second copy nearby).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<String>,
    /// S3 Object Lock for archives: each archive (and a dated copy of the
    /// key file and catalog snapshot at each archive upload) is written
    /// locked for this long, e.g. "10y" or "3650d"; the bucket must have
    /// Object Lock enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// The lock's mode: compliance (the default: nobody can shorten it)
    /// or governance (a user allowed to bypass it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_mode: Option<lomo_remote::LockMode>,
    /// Credentials and settings as object_store keys (`aws_access_key_id`,
    /// …), plus `gdrive_credentials`/`gdrive_token` file paths for Drive.
    /// They override the environment; they are never printed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// The catalog where the site keeps what it learned of its layout
    /// between runs (Drive's ids); set when a [`crate::Context`] opens, never
    /// in the config file.
    #[serde(skip)]
    pub memo: Option<PathBuf>,
}

/// What a site receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// New files, one encrypted object each, until they are archived.
    Staging,
    /// Packed ISO images.
    Archive,
    /// Both.
    #[default]
    Both,
}

impl Role {
    /// The role's name in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staging => "staging",
            Role::Archive => "archive",
            Role::Both => "both",
        }
    }

    /// Whether the site gets staged objects.
    pub fn stages(self) -> bool {
        matches!(self, Role::Staging | Role::Both)
    }

    /// Whether the site gets archives.
    pub fn archives(self) -> bool {
        matches!(self, Role::Archive | Role::Both)
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Role> {
        match s {
            "staging" => Ok(Role::Staging),
            "archive" => Ok(Role::Archive),
            "both" => Ok(Role::Both),
            _ => Err(Error::invalid(format!(
                "unknown site role {s:?} (staging, archive, both)"
            ))),
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

impl SiteConfig {
    /// A site named `name` at `url`, for both roles, encrypted.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> SiteConfig {
        SiteConfig {
            name: name.into(),
            url: url.into(),
            role: Role::Both,
            storage_class: None,
            append_only: false,
            encrypt: true,
            bandwidth_limit: None,
            parity: None,
            lock: None,
            lock_mode: None,
            credentials: BTreeMap::new(),
            memo: None,
        }
    }

    /// `parity` as a share (0.05 = 5 %); a bad value names the site.
    pub fn parity_share(&self) -> Result<Option<f64>> {
        let Some(v) = self.parity.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let share = v
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .filter(|p| *p > 0.0 && *p <= 100.0)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "site {:?}: parity {v:?} is not a share like \"5%\"",
                    self.name
                ))
            })?;
        Ok(Some(share / 100.0))
    }

    /// The site's Object Lock setting, if it locks archives; a bad
    /// duration names the site.
    pub fn lock_policy(&self) -> Result<Option<LockPolicy>> {
        let Some(d) = &self.lock else {
            return Ok(None);
        };
        let duration = LockDuration::parse(d)
            .map_err(|e| Error::invalid(format!("site {:?}: lock: {e}", self.name)))?;
        Ok(Some(LockPolicy {
            mode: self.lock_mode.unwrap_or_default(),
            duration,
        }))
    }

    /// The retention an archive written now gets there, if the site locks.
    pub fn archive_lock(&self) -> Option<lomo_remote::ObjectLock> {
        let policy = self.lock_policy().ok().flatten()?;
        Some(policy.from(jiff::Timestamp::now().as_second()))
    }

    /// A local folder site (a NAS mount, a removable disk).
    pub fn folder(
        name: impl Into<String>,
        path: impl AsRef<std::path::Path>,
    ) -> Result<SiteConfig> {
        Ok(SiteConfig::new(
            name,
            SiteUrl::local(path.as_ref())?.to_string(),
        ))
    }

    /// The same site with role `role`.
    pub fn with_role(mut self, role: Role) -> SiteConfig {
        self.role = role;
        self
    }

    /// The site's parsed URL (the error names the site).
    pub fn parsed_url(&self) -> Result<SiteUrl> {
        self.url.parse().map_err(|e: lomo_remote::Error| {
            Error::Site(format!("site {:?} in the config: {e}", self.name))
        })
    }

    /// The storage class archives get there: the configured one, else the
    /// one the URL names.
    pub fn archive_class(&self) -> Option<String> {
        self.storage_class.clone().or_else(|| {
            self.parsed_url()
                .ok()
                .and_then(|u| u.storage_class().map(str::to_owned))
        })
    }

    /// Whether the site is away from this machine: every kind but a
    /// `file://` folder (which may be a disk in the same house).
    pub fn is_off_site(&self) -> bool {
        !self.url.starts_with("file:")
    }

    /// Whether archives there sit in a cold storage class (a read needs a
    /// restore first).
    pub fn is_cold(&self) -> bool {
        self.archive_class().is_some_and(|k| is_cold_class(&k))
    }

    /// Options for what must stay readable at once (staged objects, probes,
    /// key files, snapshots): the hot class even at a cold site, whatever
    /// class its URL names for archives.
    pub fn hot_options(&self) -> PutOptions {
        let class = match self.url.split("://").next() {
            Some("s3" | "gs") => Some("STANDARD".to_owned()),
            Some("az") => Some("Hot".to_owned()),
            _ => None,
        };
        PutOptions::default().with_storage_class(class)
    }

    /// Options for archives: the site's archive class (from the config or
    /// the URL), or `class` instead, and the lock an archive written now
    /// gets there.
    pub fn archive_options(&self, class: Option<String>) -> PutOptions {
        PutOptions::default()
            .with_storage_class(class.or_else(|| self.archive_class()))
            .with_lock(self.archive_lock())
    }
}

/// Whether `class` is a storage class whose objects need a restore before
/// they can be read.
pub fn is_cold_class(class: &str) -> bool {
    matches!(
        class.to_ascii_uppercase().as_str(),
        "DEEP_ARCHIVE" | "GLACIER" | "ARCHIVE"
    )
}

/// Opens a site with a retry policy (interactive commands retry less, to
/// answer quickly about a site that is down).
pub fn open(site: &SiteConfig, retry: RetryPolicy) -> Result<Arc<dyn Backend>> {
    let url = site.parsed_url()?;
    let mut opts = SiteOptions::named(&site.name)
        .with_retry(retry)
        .with_object_lock(site.lock.is_some());
    if let Some(limit) = &site.bandwidth_limit {
        let bytes = parse_size(limit.trim_end_matches("/s"))
            .map_err(|e| Error::invalid(format!("site {:?}: bandwidth_limit: {e}", site.name)))?;
        opts = opts.with_bandwidth_limit(Some(bytes));
    }
    for (k, v) in &site.credentials {
        opts = opts.with_credential(k, v);
    }
    if let Some(db) = &site.memo {
        opts = opts.with_memo(Arc::new(CatalogMemo {
            db: db.clone(),
            site: site.name.clone(),
        }));
    }
    Ok(lomo_remote::open(&url, &opts)?)
}

/// A site's memo in the catalog's `site_memo` table (its own connection).
#[derive(Debug)]
struct CatalogMemo {
    db: PathBuf,
    site: String,
}

impl lomo_remote::SiteMemo for CatalogMemo {
    fn load(&self) -> Vec<(String, String)> {
        lomo_catalog::memo_load(&self.db, &self.site).unwrap_or_else(|e| {
            tracing::debug!(site = %self.site, "no memo read: {e}");
            Vec::new()
        })
    }

    fn save(&self, entries: Vec<(String, String)>) {
        if let Err(e) = lomo_catalog::memo_save(&self.db, &self.site, &entries) {
            tracing::debug!(site = %self.site, "memo not kept: {e}");
        }
    }
}

/// Checks a new site's settings against the configured ones.
pub fn validate(configured: &[SiteConfig], site: &SiteConfig) -> Result<SiteUrl> {
    if site.name.is_empty()
        || !site
            .name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid(format!(
            "site name {:?}: use letters, digits, - _ .",
            site.name
        )));
    }
    if configured.iter().any(|s| s.name == site.name) {
        return Err(Error::invalid(format!(
            "a site named {:?} exists already (remove it first)",
            site.name
        )));
    }
    let url = site.parsed_url()?;
    if let Some(other) = configured.iter().find(|s| s.url == site.url) {
        return Err(Error::invalid(format!(
            "site {:?} has the same URL already",
            other.name
        )));
    }
    if site.storage_class.is_some() && matches!(url.location(), Location::Local { .. }) {
        return Err(Error::invalid(
            "--storage-class applies to cloud sites, not to a local folder",
        ));
    }
    if site.lock_policy()?.is_some() {
        if !matches!(url.location(), Location::S3 { .. }) {
            return Err(Error::invalid(
                "--lock is S3 Object Lock: it applies to s3:// sites (AWS, or a server with Object Lock)",
            ));
        }
        if !site.role.archives() {
            return Err(Error::invalid(
                "--lock locks archives: a staging-only site has none (staged objects are never locked)",
            ));
        }
    }
    Ok(url)
}

/// The site called `name` among `sites`, or an error listing them.
pub fn find<'a>(sites: &'a [SiteConfig], name: &str) -> Result<&'a SiteConfig> {
    sites.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
        Error::Site(if names.is_empty() {
            format!(
                "no site named {name:?}: no sites configured (add one with `lomob site add NAME URL`)"
            )
        } else {
            format!(
                "no site named {name:?}; configured sites: {}",
                names.join(", ")
            )
        })
    })
}

/// Reads an object (or a byte range of it) into memory: for small objects
/// and ranges only.
pub(crate) async fn download(
    site: &Arc<dyn Backend>,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> lomo_remote::Result<Vec<u8>> {
    use futures::StreamExt as _;
    let mut buf = Vec::new();
    let mut s = site.get(key, range).await?;
    while let Some(chunk) = s.next().await {
        buf.extend_from_slice(&chunk?);
    }
    Ok(buf)
}

/// Reads an object range as one buffer: the site's own piece when it
/// sends one (a folder site's read of up to 4 MiB: no copy), else the
/// pieces joined.
pub(crate) async fn download_bytes(
    site: &Arc<dyn Backend>,
    key: &str,
    range: std::ops::Range<u64>,
) -> lomo_remote::Result<bytes::Bytes> {
    use futures::StreamExt as _;
    let mut s = site.get(key, Some(range)).await?;
    let mut pieces = Vec::new();
    while let Some(chunk) = s.next().await {
        pieces.push(chunk?);
    }
    Ok(match pieces.len() {
        1 => pieces.remove(0),
        _ => bytes::Bytes::from(pieces.concat()),
    })
}

/// The objects under `prefix` on `site`, by key.
pub fn list_objects(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    prefix: &str,
) -> Result<Vec<lomo_remote::ObjectInfo>> {
    use futures::TryStreamExt as _;
    let mut objects: Vec<lomo_remote::ObjectInfo> =
        rt.block_on(site.list(prefix.trim_matches('/')).try_collect())?;
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}

/// Parts in flight to a site whose requests cost nothing (a folder, a
/// disk): one written while the next is read and sealed. More only hold
/// memory (a part is 32 MiB or more).
const UNMETERED_IN_FLIGHT: usize = 2;

/// Parts in flight to `site` when `wanted` would do over a network: at
/// most [`UNMETERED_IN_FLIGHT`] to a folder or disk.
pub(crate) fn parts_in_flight(site: &dyn Backend, wanted: usize) -> usize {
    if site.capabilities().metered {
        wanted
    } else {
        wanted.min(UNMETERED_IN_FLIGHT)
    }
}

/// An uploader of big objects (snapshots, staged videos, parity) to
/// `site`, with the library's default parts in flight as
/// [`parts_in_flight`] allows.
pub(crate) fn uploader(site: &Arc<dyn Backend>) -> Uploader {
    let n = parts_in_flight(site.as_ref(), lomo_remote::DEFAULT_CONCURRENCY);
    Uploader::new(site.clone()).with_concurrency(n)
}

/// A tokio runtime for the engine's site requests.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_classes() {
        assert!(Role::Both.stages() && Role::Both.archives());
        assert!(!Role::Staging.archives() && !Role::Archive.stages());
        assert_eq!("archive".parse::<Role>().unwrap(), Role::Archive);
        assert!("cold".parse::<Role>().is_err());
        let mut s = SiteConfig::new("c", "s3://b/p?storage_class=DEEP_ARCHIVE");
        assert!(s.is_cold(), "the URL's class counts");
        s.storage_class = Some("STANDARD".into());
        assert!(!s.is_cold(), "the configured class wins");
        assert_eq!(s.hot_options().storage_class.as_deref(), Some("STANDARD"));
    }

    #[test]
    fn validation_names_the_problem() {
        let one = vec![SiteConfig::new("a", "file:///x")];
        let e = validate(&one, &SiteConfig::new("a", "file:///y")).unwrap_err();
        assert!(e.to_string().contains("exists already"));
        let e = validate(&one, &SiteConfig::new("b c", "file:///y")).unwrap_err();
        assert!(e.to_string().contains("letters"));
        let e = validate(&one, &SiteConfig::new("b", "file:///x")).unwrap_err();
        assert!(e.to_string().contains("same URL"));
        assert!(find(&one, "a").is_ok());
        assert!(find(&one, "z").unwrap_err().to_string().contains("a"));
    }
}
