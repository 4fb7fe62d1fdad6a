//! After losing the home machine: the key file and the newest catalog
//! snapshot come from one site and the passphrase; the catalog, the key
//! file and the list of sites are rebuilt. A restore of everything
//! follows (the `lomob recover` command runs both).
//!
//! What the site says is not trusted before it is authenticated: every key
//! file is tried (parameters bounded before any work; a bad one is named
//! and skipped), and the snapshot is the newest by the time sealed in its
//! note (`snapmeta`), checked against it — not the newest by name.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use futures::TryStreamExt as _;
use lomo_crypt::KeyFile;
use lomo_remote::{SiteOptions, SiteUrl};
use serde::Serialize;

use crate::error::{CryptContext as _, Error, IoContext as _, Result, fail};
use crate::progress::{Event, Progress};
use crate::secrets::Secrets;
use crate::sites::{CATALOG_PREFIX, KEYS_PREFIX, LOCKED_PREFIX, Role, SiteConfig};
use crate::snapmeta;

/// Where to recover from, and into what.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecoverOptions {
    /// A site holding the backups (credentials from the environment).
    pub site: String,
    /// The catalog to rebuild. If one is there, it is replaced only by a
    /// newer snapshot (the old one is kept beside it).
    pub db: PathBuf,
    /// Where the key file goes (default: beside the catalog).
    pub key_file: Option<PathBuf>,
    /// Replace an existing catalog even with an older snapshot, or one
    /// whose time cannot be authenticated.
    pub allow_older: bool,
}

impl RecoverOptions {
    /// Recovers from the site at `site` into the catalog `db`.
    pub fn new(site: impl Into<String>, db: impl Into<PathBuf>) -> RecoverOptions {
        RecoverOptions {
            site: site.into(),
            db: db.into(),
            key_file: None,
            allow_older: false,
        }
    }
}

/// What was rebuilt.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Recovered {
    /// The snapshot the catalog came from.
    pub snapshot: String,
    /// When it was taken (Unix seconds), as sealed beside it; `None` for a
    /// snapshot made before lomob sealed its time.
    pub snapshot_at: Option<i64>,
    /// The rebuilt catalog.
    pub db: PathBuf,
    /// Where the catalog it replaced was moved, if one was there.
    pub replaced: Option<PathBuf>,
    /// The key file.
    pub key_file: PathBuf,
    /// Whether the key file was written now (it may have existed).
    pub key_file_written: bool,
    /// The sites as they were configured at the last backup (no credentials).
    pub sites: Vec<SiteConfig>,
}

/// Largest key file read (a real one is ~1 KB).
const MAX_KEY_FILE: u64 = 1 << 20;

/// A key file the passphrase opened.
struct Unlocked {
    object: String,
    file: KeyFile,
    key: lomo_crypt::MasterKey,
}

/// The snapshot chosen: its name, plaintext and authenticated time.
struct Chosen {
    name: String,
    plain: Vec<u8>,
    at: Option<i64>,
}

/// One site read for recovery.
struct Source<'a> {
    site: std::sync::Arc<dyn lomo_remote::Backend>,
    url: &'a str,
    rt: tokio::runtime::Runtime,
    progress: &'a dyn Progress,
}

impl Source<'_> {
    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.rt
            .block_on(crate::sites::download(&self.site, key, None))
            .map_err(|e| Error::failed(format!("reading {key} from {}: {e}", self.url)))
    }

    fn list(&self, prefix: &str) -> Result<Vec<lomo_remote::ObjectInfo>> {
        let mut objects: Vec<lomo_remote::ObjectInfo> = self
            .rt
            .block_on(self.site.list(prefix).try_collect())
            .map_err(|e| Error::failed(format!("listing {prefix} on {}: {e}", self.url)))?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// Brings back the locked key files and snapshots a delete marker
    /// hides (ransomware's DELETE cannot remove a locked version, only hide
    /// it). Sites without versions have none; a server that cannot list
    /// versions (Garage) is no reason to stop, and is only said.
    fn unhide_locked(&self) {
        let hidden = match self.rt.block_on(self.site.hidden(LOCKED_PREFIX)) {
            Ok(keys) => keys,
            Err(lomo_remote::Error::Unsupported { .. }) => return,
            Err(e) => {
                self.notice(format!("looking for hidden locked copies: {e}"));
                return;
            }
        };
        for key in hidden {
            match self.rt.block_on(self.site.undelete(&key)) {
                Ok(true) => self.notice(format!(
                    "brought back {key}: its locked version was hidden by a delete marker"
                )),
                Ok(false) => {}
                Err(e) => self.notice(format!("bringing back {key}: {e}")),
            }
        }
    }

    fn notice(&self, text: String) {
        self.progress.event(&Event::Notice(text));
    }

    /// Every key file on the site the passphrase opens; each one that does
    /// not is reported by name (a planted or damaged one costs nothing:
    /// its parameters are checked before any work).
    /// Locked dated copies (`lomob/locked/keys/ID-DATE.json`) come after
    /// the unlocked ones, and one of a key already opened is not tried.
    fn keys(&self, secrets: &dyn Secrets) -> Result<Vec<Unlocked>> {
        let locked = self.list(&format!("{LOCKED_PREFIX}/keys"))?;
        let objects: Vec<_> = self
            .list(KEYS_PREFIX)?
            .into_iter()
            .chain(locked)
            .filter(|o| o.key.ends_with(".json"))
            .collect();
        if objects.is_empty() {
            fail!(
                "no key file under {KEYS_PREFIX}/ on {}: is this a lomob site?",
                self.url
            );
        }
        let pass = secrets.passphrase()?;
        let (mut opened, mut bad) = (Vec::new(), Vec::new());
        for o in objects {
            let name = o.key.rsplit('/').next().unwrap_or_default();
            let known = |u: &Unlocked| name.starts_with(&format!("{}-", u.file.key_id()));
            if o.key.starts_with(LOCKED_PREFIX) && opened.iter().any(known) {
                continue;
            }
            match self.unlock(&o, &pass) {
                Ok(u) => opened.push(u),
                Err(why) => bad.push(format!("{}: {why}", o.key)),
            }
        }
        if opened.is_empty() {
            fail!(
                "no key file on {} opens with this passphrase: {}",
                self.url,
                bad.join("; ")
            );
        }
        for b in bad {
            self.notice(format!("key file {b}: skipped"));
        }
        Ok(opened)
    }

    fn unlock(
        &self,
        o: &lomo_remote::ObjectInfo,
        pass: &[u8],
    ) -> std::result::Result<Unlocked, String> {
        if o.size > MAX_KEY_FILE {
            return Err(format!("{} bytes: too large for a key file", o.size));
        }
        let bytes = self.get(&o.key).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes).map_err(|_| "not text".to_string())?;
        let file = KeyFile::from_json(&text).map_err(|e| e.to_string())?;
        let (key, _) = file.unlock(pass).map_err(|e| e.to_string())?;
        Ok(Unlocked {
            object: o.key.clone(),
            file,
            key,
        })
    }

    /// The newest snapshot `key` vouches for, by the time sealed beside
    /// it, checked against that note; failing any, the newest by name of
    /// those made before notes existed (said so).
    fn snapshot(&self, key: &lomo_crypt::MasterKey) -> Result<Option<Chosen>> {
        let listing = self
            .rt
            .block_on(snapmeta::list_for_recovery(&self.site, key))?;
        for (k, why) in &listing.rejected {
            self.notice(format!("catalog note {k}: {why}: ignored"));
        }
        for m in &listing.authentic {
            match self.decrypt(key, &m.snapshot) {
                Ok(plain) if m.matches(&plain) => {
                    return Ok(Some(Chosen {
                        name: m.snapshot.clone(),
                        plain,
                        at: Some(m.at),
                    }));
                }
                Ok(_) => self.notice(format!(
                    "catalog snapshot {}: not the one its note describes: skipped",
                    m.snapshot
                )),
                Err(e) => self.notice(format!("catalog snapshot {}: {e}: skipped", m.snapshot)),
            }
        }
        for name in listing.unvouched.iter().rev() {
            match self.decrypt(key, name) {
                Ok(plain) => {
                    self.notice(format!(
                        "no catalog snapshot on {} has a sealed note of its time (made by an older lomob): took the newest by name, {name}",
                        self.url
                    ));
                    return Ok(Some(Chosen {
                        name: name.clone(),
                        plain,
                        at: None,
                    }));
                }
                Err(e) => self.notice(format!("catalog snapshot {name}: {e}: skipped")),
            }
        }
        Ok(None)
    }

    fn decrypt(&self, key: &lomo_crypt::MasterKey, name: &str) -> Result<Vec<u8>> {
        let mut plain = Vec::new();
        lomo_crypt::stream::DecryptReader::new(key, std::io::Cursor::new(self.get(name)?))
            .what(|| format!("catalog snapshot {name}"))?
            .read_to_end(&mut plain)
            .map_err(|e| Error::failed(format!("decrypting the catalog snapshot {name}: {e}")))?;
        Ok(plain)
    }

    /// The first key file that vouches for a snapshot, and that snapshot.
    fn choose(&self, secrets: &dyn Secrets) -> Result<(Unlocked, Chosen)> {
        for u in self.keys(secrets)? {
            if let Some(chosen) = self.snapshot(&u.key)? {
                return Ok((u, chosen));
            }
            self.notice(format!(
                "key file {}: no catalog snapshot sealed with its key",
                u.object
            ));
        }
        fail!(
            "no catalog snapshot under {CATALOG_PREFIX}/ on {}",
            self.url
        )
    }
}

/// Rebuilds the catalog and the key file from `opts.site`, unlocking the
/// key with the passphrase `secrets` gives. A wrong passphrase or a site
/// that is not lomob's leaves nothing behind; an existing catalog is
/// replaced only by a newer snapshot (or with `allow_older`), and kept.
pub fn rebuild(
    opts: &RecoverOptions,
    secrets: &dyn Secrets,
    progress: &dyn Progress,
) -> Result<Recovered> {
    let db = &opts.db;
    let url: SiteUrl = opts.site.parse()?;
    let source = Source {
        site: lomo_remote::open(&url, &SiteOptions::named("recovery"))?,
        url: &opts.site,
        rt: crate::sites::runtime()?,
        progress,
    };
    source.unhide_locked();
    let (unlocked, chosen) = source.choose(secrets)?;
    let key_path = opts
        .key_file
        .clone()
        .unwrap_or_else(|| crate::context::default_key_file(db));
    let key_file_written = check_key_file(&key_path, &unlocked)?;
    let replaced = make_way(db, &chosen, opts.allow_older)?;
    write_new(db, &chosen.plain)?;
    progress.event(&Event::Notice(format!(
        "recovered the catalog from {} into {}",
        chosen.name,
        db.display()
    )));
    if key_file_written {
        if let Some(dir) = key_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at("create", dir)?;
        }
        unlocked
            .file
            .save(&key_path)
            .what(|| format!("cannot write {}", key_path.display()))?;
        progress.event(&Event::Notice(format!(
            "recovered the key file into {}",
            key_path.display()
        )));
    }
    let mut catalog = lomo_catalog::Catalog::open(db)?;
    catalog.set_key_id(&unlocked.key.id().to_string())?;
    Ok(Recovered {
        snapshot: chosen.name,
        snapshot_at: chosen.at,
        db: db.clone(),
        replaced,
        key_file: key_path,
        key_file_written,
        sites: known_sites(&catalog)?,
    })
}

/// Whether the key file must be written: not if the same key's is there;
/// an error if another key's is.
fn check_key_file(path: &Path, unlocked: &Unlocked) -> Result<bool> {
    if !path.exists() {
        return Ok(true);
    }
    let there = KeyFile::load(path).what(|| format!("key file {}", path.display()))?;
    if there.key_id() != unlocked.file.key_id() {
        fail!(
            "{} holds another key ({}) than the site's {} ({}): move it away or pass --key-file",
            path.display(),
            there.key_id(),
            unlocked.object,
            unlocked.file.key_id()
        );
    }
    Ok(false)
}

/// Moves an existing catalog aside if the snapshot may replace it: when
/// it is newer than the catalog's own last snapshot, or with `allow_older`.
fn make_way(db: &Path, chosen: &Chosen, allow_older: bool) -> Result<Option<PathBuf>> {
    if !db.exists() {
        return Ok(None);
    }
    let existing = lomo_catalog::Catalog::open(db)?.snapshot_at()?;
    let newer = matches!((chosen.at, existing), (Some(s), Some(e)) if s > e);
    if !newer && !allow_older {
        let when =
            |t: Option<i64>| t.map_or("an unknown time".to_owned(), crate::units::local_time);
        fail!(
            "the catalog at {} was last snapshotted at {}; the newest snapshot on the site ({}) is from {}: not newer, so nothing was replaced (pass --allow-older to replace it anyway, or --db for a new place)",
            db.display(),
            when(existing),
            chosen.name,
            when(chosen.at)
        );
    }
    let mut aside = db.as_os_str().to_owned();
    aside.push(format!(
        ".before-recover-{}",
        jiff::Timestamp::now().as_second()
    ));
    let aside = PathBuf::from(aside);
    std::fs::rename(db, &aside).at("move aside", db)?;
    for suffix in ["-wal", "-shm"] {
        let mut from = db.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.as_os_str().to_owned();
        to.push(suffix);
        if Path::new(&from).exists() {
            std::fs::rename(&from, &to).at("move aside", Path::new(&from))?;
        }
    }
    Ok(Some(aside))
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
            lock_mode: s.lock_mode.and_then(|m| m.parse().ok()),
            lock: s.lock,
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
