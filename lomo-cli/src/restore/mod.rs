//! Restoring files: from staged objects or archive copies (range reads of
//! just the chunks that hold a file, hot copies before cold ones; a cold
//! copy is priced, thawed and, with `wait`, polled), and from what the Go
//! lomo-backup uploaded. Every file is checked against the catalog's hash
//! before it appears, gets its mode and mtime back, and never overwrites:
//! a failure names the file and leaves nothing behind.
//!
//! `select` decides what is restored where, `fetch` reads and writes one
//! file, `cold` handles copies in a cold storage class, `go` the Go tool's
//! ISOs and Drive copies.

mod cold;
mod fetch;
mod go;
mod select;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lomo_catalog::{EntryKind, FileEntry};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, RestoreTier};
use serde::Serialize;

pub use select::{parse_as_of, split_alias};

use crate::context::Context;
use crate::error::{Error, IoContext as _, Result};
use crate::progress::{Event, Progress};
use crate::sites::SiteConfig;

/// What to restore, and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// What to restore: `ROOT/PATH` as restores name it (e.g.
    /// `Pictures/2019`), an absolute original path, or `/` for everything.
    pub paths: Vec<String>,
    /// Folder to restore into (created; existing files are never overwritten).
    pub to: PathBuf,
    /// The files as they were at this time (Unix seconds).
    pub as_of: Option<i64>,
    /// Retrieval tier for copies in a cold storage class.
    pub tier: RestoreTier,
    /// Wait for cold restores, checking this often, instead of stopping.
    pub wait: Option<Duration>,
    /// Restore from sites of this URL scheme only (`s3`, `gdrive`).
    pub only_scheme: Option<String>,
}

impl RestoreOptions {
    /// Restores `paths` into `to`.
    pub fn new(
        paths: impl IntoIterator<Item = impl Into<String>>,
        to: impl Into<PathBuf>,
    ) -> RestoreOptions {
        RestoreOptions {
            paths: paths.into_iter().map(Into::into).collect(),
            to: to.into(),
            as_of: None,
            tier: RestoreTier::default(),
            wait: None,
            only_scheme: None,
        }
    }

    /// Everything, into `to`.
    pub fn everything(to: impl Into<PathBuf>) -> RestoreOptions {
        RestoreOptions::new(["/"], to)
    }
}

/// How one file's restore ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    /// Restored from this copy (a site, and the archive when it came from one).
    Restored {
        /// Where it came from.
        from: String,
    },
    /// The target holds that content already.
    AlreadyThere,
    /// Not restored.
    Failed {
        /// Why.
        error: String,
    },
}

/// One file of a restore.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredFile {
    /// `<root folder name>/<path>` under the target.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How it went.
    pub outcome: FileOutcome,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RestoreReport {
    /// Every file, in order.
    pub files: Vec<RestoredFile>,
    /// Files restored now.
    pub restored: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files that could not be restored.
    pub failed: u64,
    /// The target folder.
    pub to: PathBuf,
}

impl RestoreReport {
    fn new(to: PathBuf, results: Vec<RestoredFile>) -> RestoreReport {
        let mut r = RestoreReport {
            files: Vec::new(),
            restored: 0,
            bytes: 0,
            failed: 0,
            to,
        };
        for f in results {
            match f.outcome {
                FileOutcome::Restored { .. } => {
                    r.restored += 1;
                    r.bytes += f.bytes;
                }
                FileOutcome::AlreadyThere => {}
                FileOutcome::Failed { .. } => r.failed += 1,
            }
            r.files.push(f);
        }
        r
    }
}

impl Context {
    /// Restores the files `opts` selects into `opts.to`.
    pub fn restore(&mut self, opts: &RestoreOptions) -> Result<RestoreReport> {
        let sel = select::select(&self.catalog, opts)?;
        let key = if sel.files.is_empty() {
            None
        } else {
            Some(self.key()?)
        };
        std::fs::create_dir_all(&opts.to).at("create", &opts.to)?;
        let mut sites = self.opts.sites.clone();
        if let Some(scheme) = &opts.only_scheme {
            sites.retain(|s| s.url.starts_with(&format!("{scheme}://")));
            if sites.is_empty() {
                return Err(Error::Site(format!(
                    "no {scheme}:// site is configured (`lomob site list`)"
                )));
            }
        }
        let mut r = Restorer {
            rt: &self.rt,
            catalog: &self.catalog,
            progress: self.progress.as_ref(),
            sites: &sites,
            opened: HashMap::new(),
            cold: cold::Cold::new(opts.tier, opts.wait),
        };
        let mut results = Vec::new();
        for (name, f) in sel.files {
            let dest = opts.to.join(&name);
            let outcome = match (f.kind, &key) {
                (EntryKind::Symlink, _) => fetch::restore_link(&f, &dest),
                (_, Some(key)) => r.file(key, &f, &dest),
                (_, None) => Err(Error::failed("no key")),
            };
            results.push(file_result(name, f.size, outcome));
        }
        let go = go::GoRestore {
            rt: &self.rt,
            to: &opts.to,
            tier: opts.tier,
            secrets: self.secrets(),
        };
        results.extend(go.restore(sel.go, |site| r.site(site)));
        let opened = std::mem::take(&mut r.opened);
        for (site, s) in opened {
            if let Some(s) = s {
                self.record_usage(&site, &s.usage());
            }
        }
        Ok(RestoreReport::new(opts.to.clone(), results))
    }
}

fn file_result(path: PathBuf, bytes: u64, r: Result<Option<String>>) -> RestoredFile {
    RestoredFile {
        path,
        bytes,
        outcome: match r {
            Ok(Some(from)) => FileOutcome::Restored { from },
            Ok(None) => FileOutcome::AlreadyThere,
            Err(e) => FileOutcome::Failed {
                error: e.to_string(),
            },
        },
    }
}

/// One restore in progress: the sites opened so far, the cold copies
/// asked for.
struct Restorer<'a> {
    rt: &'a tokio::runtime::Runtime,
    catalog: &'a lomo_catalog::Catalog,
    progress: &'a dyn Progress,
    sites: &'a [SiteConfig],
    opened: HashMap<String, Option<Arc<dyn Backend>>>,
    cold: cold::Cold,
}

impl Restorer<'_> {
    /// The site called `name`, opened once (None, with a warning, when it
    /// is not configured or cannot be opened).
    fn site(&mut self, name: &str) -> Option<Arc<dyn Backend>> {
        let (sites, progress) = (self.sites, self.progress);
        self.opened
            .entry(name.to_owned())
            .or_insert_with(|| match sites.iter().find(|s| s.name == name) {
                Some(cfg) => match crate::sites::open(cfg, Default::default()) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        progress.event(&Event::Warning(format!("site {name} unusable: {e}")));
                        None
                    }
                },
                None => {
                    progress.event(&Event::Warning(format!("site {name} is not in the config")));
                    None
                }
            })
            .clone()
    }

    /// Restores one regular file: from a staged copy when there is one,
    /// else from an archive copy. `Ok(None)`: it was there already.
    fn file(
        &mut self,
        key: &MasterKey,
        f: &FileEntry,
        dest: &std::path::Path,
    ) -> Result<Option<String>> {
        let hash = f
            .hash
            .ok_or_else(|| Error::failed("no content hash in the catalog"))?;
        if fetch::already_there(dest, &hash)? {
            return Ok(None);
        }
        let copies = self.catalog.staged_copies(&hash)?;
        if copies.is_empty() {
            return self.archive_copies(key, f, dest);
        }
        let mut last_err = None;
        for c in copies {
            let Some(site) = self.site(&c.site) else {
                last_err = Some(Error::Site(format!(
                    "site {} is offline or not configured",
                    c.site
                )));
                continue;
            };
            let wanted = fetch::Wanted {
                key,
                hash: &hash,
                file: f,
                dest,
            };
            match fetch::staged(self.rt, &site, &c.key, &wanted) {
                Ok(()) => return Ok(Some(c.site)),
                Err(e) => last_err = Some(e.context(format!("from site {}", c.site))),
            }
        }
        Err(last_err.unwrap_or_else(|| Error::failed("no usable copy")))
    }

    /// Restores a file from the archives holding it, hot copies first.
    fn archive_copies(
        &mut self,
        key: &MasterKey,
        f: &FileEntry,
        dest: &std::path::Path,
    ) -> Result<Option<String>> {
        let Some(hash) = f.hash else {
            return Err(Error::failed("no content hash in the catalog"));
        };
        let mut last_err = None;
        for at in self.catalog.archived_at(&hash)? {
            let mut copies = self.catalog.archive_copies(at.archive.id)?;
            // Cheapest and fastest first: copies in a cold storage class last.
            copies.sort_by_key(|c| {
                let cold = self.sites.iter().any(|s| s.name == c.site && s.is_cold());
                (cold, c.site.clone())
            });
            for copy in copies.into_iter().filter(|c| c.done_at.is_some()) {
                let Some(site) = self.site(&copy.site) else {
                    last_err = Some(Error::Site(format!(
                        "site {} is offline or not configured",
                        copy.site
                    )));
                    continue;
                };
                let wanted = fetch::Wanted {
                    key,
                    hash: &hash,
                    file: f,
                    dest,
                };
                let from = format!("{} in {}", copy.site, at.archive.name);
                match self.archived(&site, &copy, &at, &wanted) {
                    Ok(()) => return Ok(Some(from)),
                    Err(e) => last_err = Some(e),
                }
            }
        }
        Err(last_err
            .unwrap_or_else(|| Error::failed("no staged copy and no archive copy on any site")))
    }

    /// One archive copy; a cold one is thawed first (and waited for with `wait`).
    fn archived(
        &mut self,
        site: &Arc<dyn Backend>,
        copy: &lomo_catalog::ArchiveCopy,
        at: &lomo_catalog::ArchivedAt,
        wanted: &fetch::Wanted<'_>,
    ) -> Result<()> {
        let context = format!("from {} on site {}", at.archive.name, copy.site);
        match fetch::archived(self.rt, site, copy, at, wanted) {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_restored() => {
                self.cold.thaw(self.rt, self.progress, site, copy, at)?;
                fetch::archived(self.rt, site, copy, at, wanted).map_err(|e| e.context(context))
            }
            Err(e) => Err(e.context(context)),
        }
    }
}
