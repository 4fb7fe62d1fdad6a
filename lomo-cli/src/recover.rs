//! After losing the home machine: the key file and the newest catalog
//! snapshot come from one site and the passphrase; the catalog, the key
//! file and the list of sites are rebuilt. A restore of everything
//! follows (the `lomob recover` command runs both).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use futures::TryStreamExt as _;
use lomo_crypt::KeyFile;
use lomo_remote::{SiteOptions, SiteUrl};
use serde::Serialize;

use crate::error::{CryptContext as _, Error, IoContext as _, Result, fail};
use crate::progress::{Event, Progress};
use crate::secrets::Secrets;
use crate::sites::{CATALOG_PREFIX, KEYS_PREFIX, Role, SiteConfig};

/// Where to recover from, and into what.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecoverOptions {
    /// A site holding the backups (credentials from the environment).
    pub site: String,
    /// The catalog to rebuild (must not exist).
    pub db: PathBuf,
    /// Where the key file goes (default: beside the catalog).
    pub key_file: Option<PathBuf>,
}

impl RecoverOptions {
    /// Recovers from the site at `site` into the catalog `db`.
    pub fn new(site: impl Into<String>, db: impl Into<PathBuf>) -> RecoverOptions {
        RecoverOptions {
            site: site.into(),
            db: db.into(),
            key_file: None,
        }
    }
}

/// What was rebuilt.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Recovered {
    /// The snapshot the catalog came from.
    pub snapshot: String,
    /// The rebuilt catalog.
    pub db: PathBuf,
    /// The key file.
    pub key_file: PathBuf,
    /// Whether the key file was written now (it may have existed).
    pub key_file_written: bool,
    /// The sites as they were configured at the last backup (no credentials).
    pub sites: Vec<SiteConfig>,
}

/// One site read for recovery.
struct Source<'a> {
    site: std::sync::Arc<dyn lomo_remote::Backend>,
    url: &'a str,
    rt: tokio::runtime::Runtime,
}

impl Source<'_> {
    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.rt
            .block_on(crate::sites::download(&self.site, key, None))
            .map_err(|e| Error::failed(format!("reading {key} from {}: {e}", self.url)))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .rt
            .block_on(self.site.list(prefix).map_ok(|o| o.key).try_collect())
            .map_err(|e| Error::failed(format!("listing {prefix} on {}: {e}", self.url)))?;
        keys.sort();
        Ok(keys)
    }

    /// The site's key file, and the key it unlocks with the passphrase.
    fn key(&self, secrets: &dyn Secrets) -> Result<(KeyFile, lomo_crypt::MasterKey)> {
        let key_objects = self.list(KEYS_PREFIX)?;
        let Some(key_object) = key_objects.iter().find(|k| k.ends_with(".json")) else {
            fail!(
                "no key file under {KEYS_PREFIX}/ on {}: is this a lomob site?",
                self.url
            );
        };
        let key_json = String::from_utf8(self.get(key_object)?)
            .map_err(|_| Error::failed(format!("the key file {key_object} is not text")))?;
        let key_file = KeyFile::from_json(&key_json).what(|| format!("key file {key_object}"))?;
        let (key, _) = key_file
            .unlock(&secrets.passphrase()?)
            .what(|| format!("key file {key_object}"))?;
        Ok((key_file, key))
    }

    /// The newest catalog snapshot, decrypted: its name and bytes.
    fn snapshot(&self, key: &lomo_crypt::MasterKey) -> Result<(String, Vec<u8>)> {
        let snaps = self.list(CATALOG_PREFIX)?;
        let Some(newest) = snaps.iter().rev().find(|k| k.ends_with(".db.lomo")) else {
            fail!(
                "no catalog snapshot under {CATALOG_PREFIX}/ on {}",
                self.url
            );
        };
        let mut plain = Vec::new();
        lomo_crypt::stream::DecryptReader::new(key, std::io::Cursor::new(self.get(newest)?))
            .what(|| format!("catalog snapshot {newest}"))?
            .read_to_end(&mut plain)
            .map_err(|e| Error::failed(format!("decrypting the catalog snapshot {newest}: {e}")))?;
        Ok((newest.clone(), plain))
    }
}

/// Rebuilds the catalog and the key file from `opts.site`, unlocking the
/// key with the passphrase `secrets` gives. A wrong passphrase or a site
/// that is not lomob's leaves nothing behind.
pub fn rebuild(
    opts: &RecoverOptions,
    secrets: &dyn Secrets,
    progress: &dyn Progress,
) -> Result<Recovered> {
    let db = &opts.db;
    if db.exists() {
        fail!(
            "a catalog exists at {}: recover rebuilds a lost one (pass --db for a new place)",
            db.display()
        );
    }
    let url: SiteUrl = opts.site.parse()?;
    let source = Source {
        site: lomo_remote::open(&url, &SiteOptions::named("recovery"))?,
        url: &opts.site,
        rt: crate::sites::runtime()?,
    };
    let (key_file, key) = source.key(secrets)?;
    let (snapshot, plain) = source.snapshot(&key)?;
    write_new(db, &plain)?;
    progress.event(&Event::Notice(format!(
        "recovered the catalog from {snapshot} into {}",
        db.display()
    )));
    let key_path = opts
        .key_file
        .clone()
        .unwrap_or_else(|| crate::context::default_key_file(db));
    let key_file_written = !key_path.exists();
    if key_file_written {
        if let Some(dir) = key_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at("create", dir)?;
        }
        key_file
            .save(&key_path)
            .what(|| format!("cannot write {}", key_path.display()))?;
        progress.event(&Event::Notice(format!(
            "recovered the key file into {}",
            key_path.display()
        )));
    }
    let mut catalog = lomo_catalog::Catalog::open(db)?;
    catalog.set_key_id(&key.id().to_string())?;
    Ok(Recovered {
        snapshot,
        db: db.clone(),
        key_file: key_path,
        key_file_written,
        sites: known_sites(&catalog)?,
    })
}

/// The sites a recovered catalog knows, as site settings.
fn known_sites(catalog: &lomo_catalog::Catalog) -> Result<Vec<SiteConfig>> {
    Ok(catalog
        .known_sites()?
        .into_iter()
        .map(|s| SiteConfig {
            role: s.role.parse().unwrap_or(Role::Both),
            storage_class: s.storage_class,
            append_only: s.append_only,
            ..SiteConfig::new(s.name, s.url)
        })
        .collect())
}

/// Writes `bytes` to the new file `dest` (never replacing one).
fn write_new(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at("create", dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).at("write in", dir)?;
    std::io::Write::write_all(&mut tmp, bytes).at("write", dest)?;
    tmp.as_file().sync_all().at("write", dest)?;
    tmp.persist_noclobber(dest)
        .map_err(|e| e.error)
        .at("write", dest)?;
    Ok(())
}
