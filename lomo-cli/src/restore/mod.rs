//! Restoring files: from staged objects or archive copies (range reads of
//! just the chunks that hold a file, hot copies before cold ones; a cold
//! copy is priced, thawed and, with `wait`, polled), and from what the Go
//! lomo-backup uploaded. Every file is checked against the catalog's hash
//! before it appears, gets its mode and mtime back, and never overwrites:
//! a failure names the file and leaves nothing behind. Everything is
//! written through [`Target`]: a name that would leave the restore folder
//! is refused, and a symlink is restored only when it resolves inside.
//!
//! `select` decides what is restored where, `fetch` reads and writes one
//! file, `cold` handles copies in a cold storage class, `go` the Go tool's
//! ISOs and Drive copies.

mod bulk;
mod cold;
mod fetch;
mod go;
mod plan;
mod select;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lomo_catalog::{EntryKind, FileEntry};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, RestoreTier};
use serde::Serialize;

pub use plan::{RestorePlan, SitePlan};
pub use select::{parse_as_of, split_alias};

use plan::Candidate;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};
use crate::sites::SiteConfig;
use crate::target::Target;

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
    /// Only plan: what would be read where, and what thawing costs; no
    /// file is written and no restore is requested.
    pub dry_run: bool,
    /// Reads in flight at once (None: 2–4 for folder sites, by cores; 8
    /// where sites are reached over a network).
    pub parallel: Option<usize>,
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
            dry_run: false,
            parallel: None,
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
    /// With `dry_run`: the plan.
    pub plan: Option<RestorePlan>,
}

impl RestoreReport {
    fn new(to: PathBuf, results: Vec<RestoredFile>) -> RestoreReport {
        let mut r = RestoreReport {
            files: Vec::new(),
            restored: 0,
            bytes: 0,
            failed: 0,
            to,
            plan: None,
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
    /// Restores the files `opts` selects into `opts.to` (or, with
    /// `dry_run`, says what that would read and cost, asking nothing of
    /// any site but HEADs).
    pub fn restore(&mut self, opts: &RestoreOptions) -> Result<RestoreReport> {
        if opts.dry_run {
            return self.restore_plan(opts);
        }
        let sel = select::select(&self.catalog, opts)?;
        let sites = self.restore_sites(opts)?;
        let key = if sel.files.is_empty() {
            None
        } else {
            Some(self.key()?)
        };
        let mut r = self.restorer(&sites, cold::Thaws::new(opts.tier, opts.wait));
        r.workers = opts.parallel;
        let target = Target::open(&opts.to)?;
        let mut results = r.files(key.as_ref(), sel.files, &target)?;
        let go = go::GoRestore {
            rt: &self.rt,
            to: &target,
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

    /// The dry run: each selected file counted as it is read from the
    /// catalog (nothing is held per file), no key and nothing but HEADs.
    fn restore_plan(&mut self, opts: &RestoreOptions) -> Result<RestoreReport> {
        let sites = self.restore_sites(opts)?;
        let mut r = self.restorer(&sites, cold::Thaws::new(opts.tier, opts.wait));
        let mut tally = plan::Tally::default();
        select::select_each(&self.catalog, opts, |_, f| r.tally(&mut tally, &f))?;
        let mut report = RestoreReport::new(opts.to.clone(), Vec::new());
        report.plan = Some(r.plan(tally));
        Ok(report)
    }

    /// The configured sites, or those of `opts.only_scheme`.
    fn restore_sites(&self, opts: &RestoreOptions) -> Result<Vec<SiteConfig>> {
        let mut sites = self.opts.sites.clone();
        if let Some(scheme) = &opts.only_scheme {
            sites.retain(|s| s.url.starts_with(&format!("{scheme}://")));
            if sites.is_empty() {
                return Err(Error::Site(format!(
                    "no {scheme}:// site is configured (`lomob site list`)"
                )));
            }
        }
        Ok(sites)
    }
}

impl Context {
    /// A restorer over `sites` on this context's runtime and catalog.
    fn restorer<'a>(&'a self, sites: &'a [SiteConfig], thaws: cold::Thaws) -> Restorer<'a> {
        Restorer {
            rt: &self.rt,
            catalog: &self.catalog,
            progress: self.progress.as_ref(),
            sites,
            prices: &self.opts.prices,
            opened: HashMap::new(),
            thaws,
            workers: None,
        }
    }

    /// Reads the content of `f` from any copy the catalog knows into the
    /// new file `name` in `target` (checked against its hash): where it
    /// came from.
    pub(crate) fn fetch_content(
        &mut self,
        f: &FileEntry,
        (target, name): (&Target, &Path),
    ) -> Result<String> {
        let key = self.key()?;
        let sites = self.opts.sites.clone();
        let mut r = self.restorer(&sites, cold::Thaws::new(RestoreTier::default(), None));
        match r.first_pass(&key, f, (target, name))? {
            Pass::Done(Some(from)) => Ok(from),
            Pass::Done(None) => Ok("the file already there".into()),
            Pass::Thawing(c) => Err(cold::Thaws::not_waiting(&c)),
        }
    }
}

/// The symlinks, after every file: in passes, so a link refused because
/// the folder it climbs out of did not exist yet (another link) gets
/// another chance once that is there; what is still refused is reported.
fn links_last(mut links: Vec<(PathBuf, FileEntry)>, target: &Target) -> Vec<RestoredFile> {
    let mut results = Vec::new();
    loop {
        let mut refused = Vec::new();
        let before = links.len();
        for (name, f) in links {
            match fetch::restore_link(&f, target, &name) {
                Err(e @ Error::Refused { .. }) => refused.push((name, f, e)),
                r => results.push(file_result(name, f.size, r)),
            }
        }
        if refused.len() == before || refused.is_empty() {
            for (name, f, e) in refused {
                results.push(file_result(name, f.size, Err(e)));
            }
            return results;
        }
        links = refused.into_iter().map(|(n, f, _)| (n, f)).collect();
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

/// How one file's first pass ended.
enum Pass {
    /// Done: where it came from (`None`: it was there already).
    Done(Option<String>),
    /// Waiting for this cold copy to thaw.
    Thawing(Candidate),
}

/// One restore in progress: the sites opened so far, the cold copies
/// asked for.
struct Restorer<'a> {
    rt: &'a tokio::runtime::Runtime,
    catalog: &'a lomo_catalog::Catalog,
    progress: &'a dyn Progress,
    sites: &'a [SiteConfig],
    prices: &'a std::collections::BTreeMap<String, crate::cost::Prices>,
    opened: HashMap<String, Option<Arc<dyn Backend>>>,
    thaws: cold::Thaws,
    /// Workers of the fast path (None: by site kind).
    workers: Option<usize>,
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

    /// Restores every file: a first pass reads what is readable now and
    /// asks for a thaw of every cold copy needed; with a wait, a second
    /// pass reads the thawed copies once all are ready. Symlinks come last,
    /// each only if it resolves inside the target.
    fn files(
        &mut self,
        key: Option<&MasterKey>,
        files: Vec<(PathBuf, FileEntry)>,
        target: &Target,
    ) -> Result<Vec<RestoredFile>> {
        let mut done: Vec<(usize, RestoredFile)> = Vec::new();
        let (mut thawing, mut links, mut one_by_one) = (Vec::new(), Vec::new(), Vec::new());
        let mut fast = Vec::new();
        for (idx, (name, f)) in files.into_iter().enumerate() {
            if f.kind == EntryKind::Symlink {
                links.push((name, f));
            } else if let (Some(_), Some((hash, cand))) = (key, self.fast_candidate(&f)?) {
                fast.push(bulk::Item {
                    idx,
                    name,
                    file: f,
                    hash,
                    cand,
                });
            } else {
                one_by_one.push((idx, name, f));
            }
        }
        if let (Some(key), false) = (key, fast.is_empty()) {
            for (item, r) in self.bulk(key, target).run(fast) {
                match r {
                    Ok(from) => {
                        done.push((item.idx, file_result(item.name, item.file.size, Ok(from))));
                    }
                    Err(bulk::Retry) => one_by_one.push((item.idx, item.name, item.file)),
                }
            }
        }
        one_by_one.sort_by_key(|(idx, ..)| *idx);
        for (idx, name, f) in one_by_one {
            let pass = match key {
                Some(key) => self.first_pass(key, &f, (target, &name)),
                None => Err(Error::failed("no key")),
            };
            match pass {
                Ok(Pass::Thawing(c)) => thawing.push((name, f, c)),
                Ok(Pass::Done(from)) => done.push((idx, file_result(name, f.size, Ok(from)))),
                Err(e) => done.push((idx, file_result(name, f.size, Err(e)))),
            }
        }
        done.sort_by_key(|(idx, _)| *idx);
        let mut results: Vec<RestoredFile> = done.into_iter().map(|(_, r)| r).collect();
        results.extend(self.thawed(key, thawing, target));
        results.extend(links_last(links, target));
        Ok(results)
    }

    /// The files waiting on thaws, once every thaw is ready: through the
    /// fast path (several at once, one streamed range per run), the
    /// per-file path for what fails there.
    fn thawed(
        &mut self,
        key: Option<&MasterKey>,
        thawing: Vec<(PathBuf, FileEntry, Candidate)>,
        target: &Target,
    ) -> Vec<RestoredFile> {
        let failed = self.thaws.wait_all(self.rt, self.progress);
        let (mut out, mut ready) = (Vec::new(), Vec::new());
        for (idx, (name, f, c)) in thawing.into_iter().enumerate() {
            let e = match (key, failed.get(&(c.site().to_owned(), c.key().to_owned()))) {
                _ if !self.thaws.waits() => Some(cold::Thaws::not_waiting(&c)),
                (_, Some(e)) => Some(Error::failed(e.to_string())),
                (None, _) => Some(Error::failed("no key")),
                (Some(_), None) => None,
            };
            match (e, f.hash) {
                (Some(e), _) => out.push((idx, file_result(name, f.size, Err(e)))),
                (None, Some(hash)) => ready.push(bulk::Item {
                    idx,
                    name,
                    file: f,
                    hash,
                    cand: c,
                }),
                (None, None) => {
                    let e = Error::failed("no content hash in the catalog");
                    out.push((idx, file_result(name, f.size, Err(e))));
                }
            }
        }
        if let (Some(key), false) = (key, ready.is_empty()) {
            for (item, r) in self.bulk(key, target).run(ready) {
                let r = match r {
                    Ok(from) => Ok(from),
                    Err(bulk::Retry) => {
                        self.read_thawed(key, &item.file, (target, &item.name), &item.cand)
                    }
                };
                out.push((item.idx, file_result(item.name, item.file.size, r)));
            }
        }
        out.sort_by_key(|(idx, _)| *idx);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// The copy the fast path reads `f` from: its first candidate on a site
    /// that opens, when that site is hot and the copy is encrypted (or a
    /// staged object); else None, for the per-file path.
    fn fast_candidate(&mut self, f: &FileEntry) -> Result<Option<([u8; 32], Candidate)>> {
        let Some(hash) = f.hash else {
            return Ok(None);
        };
        for c in plan::candidates(self.catalog, self.sites, f)? {
            if self.site(c.site()).is_none() {
                continue;
            }
            let cold = self.sites.iter().any(|s| s.name == c.site() && s.is_cold());
            let plain = matches!(&c, Candidate::Archived { copy, .. } if copy.header.is_empty());
            return Ok((!cold && !plain).then_some((hash, c)));
        }
        Ok(None)
    }

    /// The fast path's workers over the sites opened so far.
    fn bulk<'b>(&'b self, key: &'b MasterKey, target: &'b Target) -> bulk::Bulk<'b> {
        let sites: std::collections::BTreeMap<String, Arc<dyn Backend>> = self
            .opened
            .iter()
            .filter_map(|(n, s)| Some((n.clone(), s.clone()?)))
            .collect();
        let local_only = sites.keys().all(|n| {
            self.sites
                .iter()
                .any(|s| &s.name == n && s.url.starts_with("file://"))
        });
        bulk::Bulk {
            rt: self.rt,
            key,
            target,
            sites,
            workers: self
                .workers
                .unwrap_or_else(|| bulk::default_workers(local_only)),
            progress: self.progress,
        }
    }

    /// Tries the file's copies in order; a cold one gets a thaw request and
    /// the next copy is tried.
    fn first_pass(
        &mut self,
        key: &MasterKey,
        f: &FileEntry,
        (target, name): (&Target, &Path),
    ) -> Result<Pass> {
        let hash = f
            .hash
            .ok_or_else(|| Error::failed("no content hash in the catalog"))?;
        if fetch::already_there(target, name, &hash)? {
            return Ok(Pass::Done(None));
        }
        let mut last_err = None;
        let mut thawing = None;
        for c in plan::candidates(self.catalog, self.sites, f)? {
            let Some(site) = self.site(c.site()) else {
                last_err = Some(Error::Site(format!(
                    "site {} is offline or not configured",
                    c.site()
                )));
                continue;
            };
            let wanted = fetch::Wanted {
                key,
                hash: &hash,
                file: f,
                target,
                name,
            };
            match read(self.rt, &site, &c, &wanted) {
                Ok(from) => return Ok(Pass::Done(Some(from))),
                Err(e) if e.is_not_restored() => {
                    let prices = self.prices_of(c.site());
                    let cfg = self.sites.iter().find(|s| s.name == c.site());
                    match self
                        .thaws
                        .request(self.rt, self.progress, (&site, &c), (&prices, cfg))
                    {
                        Ok(()) if thawing.is_none() => thawing = Some(c),
                        Ok(()) => {}
                        Err(e) => last_err = Some(e),
                    }
                }
                Err(e) => last_err = Some(e),
            }
        }
        match thawing {
            Some(c) => Ok(Pass::Thawing(c)),
            None => Err(last_err.unwrap_or_else(|| {
                Error::failed("no staged copy and no archive copy on any site")
            })),
        }
    }

    fn read_thawed(
        &mut self,
        key: &MasterKey,
        f: &FileEntry,
        (target, name): (&Target, &Path),
        c: &Candidate,
    ) -> Result<Option<String>> {
        let hash = f
            .hash
            .ok_or_else(|| Error::failed("no content hash in the catalog"))?;
        let site = self
            .site(c.site())
            .ok_or_else(|| Error::Site(format!("site {} is offline", c.site())))?;
        let wanted = fetch::Wanted {
            key,
            hash: &hash,
            file: f,
            target,
            name,
        };
        read(self.rt, &site, c, &wanted).map(Some)
    }

    fn prices_of(&self, site: &str) -> crate::cost::Prices {
        let cfg = self.sites.iter().find(|s| s.name == site);
        match cfg {
            Some(cfg) => plan::thaw_prices(cfg, self.prices),
            None => crate::cost::Prices::free(),
        }
    }

    /// Counts `f` into a dry run's tally: its first candidate on a site
    /// that opens; a cold object found with one HEAD, once.
    fn tally(&mut self, t: &mut plan::Tally, f: &FileEntry) -> Result<()> {
        if f.kind == EntryKind::Symlink {
            return Ok(());
        }
        let chosen = plan::candidates(self.catalog, self.sites, f)?
            .into_iter()
            .find_map(|c| self.site(c.site()).map(|s| (s, c)));
        let Some((site, c)) = chosen else {
            t.unavailable += 1;
            return Ok(());
        };
        let p = t
            .per_site
            .entry(c.site().to_owned())
            .or_insert_with(|| plan::SitePlan {
                site: c.site().to_owned(),
                ..Default::default()
            });
        p.files += 1;
        p.bytes += c.read_size();
        if t.seen.insert((c.site().to_owned(), c.key().to_owned())) {
            p.objects += 1;
            if plan::is_cold(self.rt, &site, &c) {
                p.thaw_objects += 1;
                p.thaw_bytes += c.object_size();
            }
        }
        Ok(())
    }

    /// The dry run's plan from its tally, priced per site.
    fn plan(&self, t: plan::Tally) -> RestorePlan {
        let mut out = RestorePlan {
            unavailable: t.unavailable,
            ..RestorePlan::default()
        };
        for (name, mut p) in t.per_site {
            let cfg = self.sites.iter().find(|s| s.name == name);
            let hours = |tier| cfg.map_or(0, |cfg| crate::cost::thaw_hours(cfg, tier));
            let hours = [hours(RestoreTier::Bulk), hours(RestoreTier::Standard)];
            p.price(&self.prices_of(&name), hours);
            out.sites.push(p);
        }
        out
    }
}

/// Reads one candidate copy into place; where it came from.
fn read(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    c: &Candidate,
    wanted: &fetch::Wanted<'_>,
) -> Result<String> {
    match c {
        Candidate::Staged {
            site: name, key, ..
        } => fetch::staged(rt, site, key, wanted)
            .map(|()| name.clone())
            .map_err(|e| e.context(format!("from site {name}"))),
        Candidate::Archived { copy, at } => fetch::archived(rt, site, copy, at, wanted)
            .map(|()| format!("{} in {}", copy.site, at.archive.name))
            .map_err(|e| e.context(format!("from {} on site {}", at.archive.name, copy.site))),
    }
}
