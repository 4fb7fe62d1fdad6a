//! The context every operation runs in: the opened catalog, the sites, the
//! key (unlocked on first use, and tied to the catalog), the settings, the
//! progress sink and the async runtime site requests run on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lomo_catalog::{Catalog, ScanOptions};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, RetryPolicy};

use crate::alert::AlertSettings;
use crate::cost::Prices;
use crate::error::{Error, IoContext as _, Result};
use crate::progress::{Event, NoProgress, Progress};
use crate::secrets::{NoSecrets, Secrets};
use crate::sites::SiteConfig;

/// When the watch daemon checks and rescans, and when silence is an alert.
/// `None` turns a period off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How often the staging check runs (default 1 day).
    pub staging_check: Option<Duration>,
    /// How often the archive check runs (default 30 days).
    pub archive_check: Option<Duration>,
    /// How often every archive copy on a folder site (NAS, removable disk)
    /// is read whole and authenticated (default 30 days); each archive
    /// check reads the share that is due.
    pub archive_verify: Option<Duration>,
    /// How often every root is rescanned whole (default 1 day).
    pub full_rescan: Option<Duration>,
    /// Alert when a site has failed every attempt for this long (default 3 days).
    pub site_offline_alert: Option<Duration>,
}

impl Default for Schedule {
    fn default() -> Schedule {
        const DAY: u64 = 86_400;
        Schedule {
            staging_check: Some(Duration::from_secs(DAY)),
            archive_check: Some(Duration::from_secs(30 * DAY)),
            archive_verify: Some(Duration::from_secs(30 * DAY)),
            full_rescan: Some(Duration::from_secs(DAY)),
            site_offline_alert: Some(Duration::from_secs(3 * DAY)),
        }
    }
}

/// What a [`Context`] is opened with: plain data, filled from a config file
/// by the `lomob` binary or by an embedding program.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContextOptions {
    /// The catalog file.
    pub db: PathBuf,
    /// Create the catalog if it does not exist (a backup, a scan); else a
    /// missing catalog is [`Error::NoCatalog`].
    pub create: bool,
    /// The passphrase-protected key file (default: `<db>.key`, beside the
    /// catalog).
    pub key_file: Option<PathBuf>,
    /// Where copies go.
    pub sites: Vec<SiteConfig>,
    /// Folders a backup or the daemon looks at when none are named (else
    /// the roots the catalog knows).
    pub roots: Vec<PathBuf>,
    /// Scan settings (ignore lists, threads).
    pub scan: ScanOptions,
    /// The share of a root's files that, deleted or changed by one scan,
    /// holds the root's backups until accepted (0.2 = 20 %); `None`: off.
    pub scan_alarm: Option<f64>,
    /// The daemon's periods and the offline-alert delay.
    pub schedule: Schedule,
    /// Who hears about problems.
    pub alert: AlertSettings,
    /// Price overrides for the cost model, by storage class.
    pub prices: BTreeMap<String, Prices>,
    /// The daemon repairs what a scheduled check finds.
    pub repair_auto: bool,
    /// How long one request to a site is retried (transient errors, a
    /// server that does not answer) before the site counts as unavailable
    /// for this run (default 3 minutes).
    pub retry_for: std::time::Duration,
}

impl ContextOptions {
    /// Options for the catalog at `db`, created when missing, with no sites.
    pub fn new(db: impl Into<PathBuf>) -> ContextOptions {
        ContextOptions {
            db: db.into(),
            create: true,
            key_file: None,
            sites: Vec::new(),
            roots: Vec::new(),
            scan: ScanOptions::default(),
            scan_alarm: Some(0.2),
            schedule: Schedule::default(),
            alert: AlertSettings::default(),
            prices: BTreeMap::new(),
            repair_auto: false,
            retry_for: RetryPolicy::default().total_timeout,
        }
    }

    /// The same options with one more site.
    pub fn site(mut self, site: SiteConfig) -> ContextOptions {
        self.sites.push(site);
        self
    }

    /// The same options, refusing to create a missing catalog.
    pub fn existing(mut self) -> ContextOptions {
        self.create = false;
        self
    }

    /// The same options with a key file.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> ContextOptions {
        self.key_file = Some(path.into());
        self
    }
}

/// The default key file of the catalog `db`: `<db>.key` beside it.
pub fn default_key_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// An opened catalog with its sites, key and settings: what every
/// operation runs in.
pub struct Context {
    pub(crate) catalog: Catalog,
    pub(crate) opts: ContextOptions,
    key_file: PathBuf,
    key: Option<MasterKey>,
    secrets: Arc<dyn Secrets>,
    pub(crate) progress: Arc<dyn Progress>,
    pub(crate) rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("db", &self.opts.db)
            .field("key_file", &self.key_file)
            .field("sites", &self.opts.sites.len())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Opens (or, with [`ContextOptions::create`], creates) the catalog.
    /// No secret is asked for yet: the key is unlocked by the first
    /// operation that needs it.
    pub fn open(opts: ContextOptions) -> Result<Context> {
        if !opts.create && !opts.db.exists() {
            return Err(Error::NoCatalog {
                path: opts.db.clone(),
            });
        }
        if let Some(parent) = opts.db.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).at("create", parent)?;
        }
        let catalog = Catalog::open(&opts.db)?;
        let mut opts = opts;
        for s in &mut opts.sites {
            s.memo = Some(opts.db.clone());
        }
        let key_file = opts
            .key_file
            .clone()
            .unwrap_or_else(|| default_key_file(&opts.db));
        Ok(Context {
            catalog,
            opts,
            key_file,
            key: None,
            secrets: Arc::new(NoSecrets),
            progress: Arc::new(NoProgress),
            rt: crate::sites::runtime()?,
        })
    }

    /// The same context asking `secrets` for passphrases.
    pub fn with_secrets(mut self, secrets: impl Secrets + 'static) -> Context {
        self.secrets = Arc::new(secrets);
        self
    }

    /// The same context reporting to `progress`.
    pub fn with_progress(mut self, progress: impl Progress + 'static) -> Context {
        self.progress = Arc::new(progress);
        self
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The catalog, for writing.
    pub fn catalog_mut(&mut self) -> &mut Catalog {
        &mut self.catalog
    }

    /// The catalog file.
    pub fn db(&self) -> &Path {
        &self.opts.db
    }

    /// The key file this context unlocks.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The configured sites.
    pub fn sites(&self) -> &[SiteConfig] {
        &self.opts.sites
    }

    /// The options the context was opened with.
    pub fn options(&self) -> &ContextOptions {
        &self.opts
    }

    /// The master key, unlocked with the passphrase on first use. The key
    /// file must exist ([`Context::key_or_create`] makes one).
    pub fn key(&mut self) -> Result<MasterKey> {
        if let Some(k) = &self.key {
            return Ok(k.clone());
        }
        let key = crate::keys::unlock(&self.key_file, self.secrets.as_ref())?;
        self.adopt(key)
    }

    /// The master key; when there is no key file yet, a new key is made
    /// and saved there, protected by a new passphrase (a first backup).
    pub fn key_or_create(&mut self) -> Result<MasterKey> {
        if self.key.is_some() || self.key_file.exists() {
            return self.key();
        }
        if let Some(id) = self.catalog.key_id()? {
            return Err(Error::Secret(format!(
                "the catalog {} was made with key {id}, and its key file {} is missing: \
                 put the key file back (every site holds a copy under lomob/keys/) \
                 or point key_file at it",
                self.opts.db.display(),
                self.key_file.display()
            )));
        }
        let key = crate::keys::create(
            &self.key_file,
            self.secrets.as_ref(),
            self.progress.as_ref(),
        )?;
        self.adopt(key)
    }

    /// Ties `key` to the catalog: a catalog made with another key is refused.
    fn adopt(&mut self, key: MasterKey) -> Result<MasterKey> {
        let id = key.id().to_string();
        match self.catalog.key_id()? {
            Some(recorded) if recorded != id => {
                return Err(Error::KeyMismatch {
                    catalog: self.opts.db.clone(),
                    catalog_key: recorded,
                    key_file: self.key_file.clone(),
                    file_key: id,
                });
            }
            Some(_) => {}
            None => self.catalog.set_key_id(&id)?,
        }
        self.key = Some(key.clone());
        Ok(key)
    }

    /// Where secrets come from.
    pub(crate) fn secrets(&self) -> &dyn Secrets {
        self.secrets.as_ref()
    }

    /// Where progress goes.
    pub(crate) fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// Tells the caller about a problem the work goes on after.
    pub(crate) fn warn(&self, msg: impl Into<String>) {
        self.progress.event(&Event::Warning(msg.into()));
    }

    /// Tells the caller something worth knowing.
    pub(crate) fn notice(&self, msg: impl Into<String>) {
        self.progress.event(&Event::Notice(msg.into()));
    }

    /// The runtime site requests run on.
    pub(crate) fn rt(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// The site named `name`, or an error listing the configured ones.
    pub fn site(&self, name: &str) -> Result<&SiteConfig> {
        crate::sites::find(&self.opts.sites, name)
    }

    /// Opens a site, its requests retried for [`ContextOptions::retry_for`].
    pub fn open_site(&self, site: &SiteConfig) -> Result<Arc<dyn Backend>> {
        let retry = RetryPolicy {
            total_timeout: self.opts.retry_for,
            ..RetryPolicy::default()
        };
        crate::sites::open(site, retry)
    }

    /// Adds what `site` was asked to the request ledger (today, UTC); a
    /// failure to record is a warning, not an error.
    pub fn record_usage(&mut self, site: &str, u: &lomo_remote::Usage) {
        if u.requests() == 0 {
            return;
        }
        let r = lomo_catalog::Requests {
            class_a: u.class_a,
            class_b: u.class_b,
            free: u.free,
            failed: u.failed,
            bytes_sent: u.bytes_sent,
            bytes_received: u.bytes_received,
        };
        let day = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        if let Err(e) = self.catalog.record_requests(site, &day, &r) {
            tracing::warn!("could not record the requests to site {site} in the catalog: {e}");
        }
    }

    /// Records whether `site` could be reached now (`error`: why not); a
    /// failure to record is a warning.
    pub fn record_contact(&mut self, site: &str, error: Option<&str>) {
        if let Err(e) = self
            .catalog
            .record_site_contact(site, lomo_catalog::unix_now(), error)
        {
            tracing::warn!("could not record whether site {site} answered: {e}");
        }
    }

    /// The folders to back up when none are named: the configured roots,
    /// else the roots the catalog knows.
    pub fn default_roots(&self) -> Result<Vec<PathBuf>> {
        if !self.opts.roots.is_empty() {
            return Ok(self.opts.roots.clone());
        }
        Ok(self.catalog.roots()?.into_iter().map(|r| r.path).collect())
    }
}
