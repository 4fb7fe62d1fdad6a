//! Repair: what a check finds missing or damaged is made whole again.
//!
//! An archive copy is rebuilt, in order of cost, from the parity stored
//! beside it (damaged chunks only), from the files on this computer (the
//! image and its sealing are deterministic, every block proven identical
//! to the first pass), or from a verified copy on another site (decrypted
//! and sealed again under this copy's own header: the very bytes it had).
//! A staged object is staged again from its file, or from another copy.
//! Nothing is deleted first: a replacement takes the object's place only
//! once it is complete, and is then checked again.

use std::collections::BTreeMap;
use std::sync::Arc;

use lomo_catalog::{Archive, ArchiveCopy};
use lomo_remote::{Backend, PutOptions};
use serde::Serialize;

use crate::backup::{Job, RemoteCopy, SendOptions, Target, send_archive};
use crate::check::verify::{Proof, verify};
use crate::check::{CheckKind, CheckOptions, CheckReport, Finding};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::sites::SiteConfig;

/// What to repair.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RepairOptions {
    /// Only this site.
    pub site: Option<String>,
    /// Say what would be repaired from where; change nothing.
    pub dry_run: bool,
}

/// How one repair ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairOutcome {
    /// Made whole, and checked again.
    Repaired,
    /// (dry run) would be repaired from `source`.
    Planned,
    /// No source holds what it needs.
    NoSource,
    /// Tried and failed.
    Failed {
        /// Why.
        error: String,
    },
}

/// One object repaired (or not).
#[derive(Debug, Clone, Serialize)]
pub struct RepairAction {
    /// The site.
    pub site: String,
    /// The object.
    pub key: String,
    /// The archive or file it holds.
    pub what: String,
    /// What the check found.
    pub problem: String,
    /// Where it was (or would be) rebuilt from.
    pub source: Option<String>,
    /// How it went.
    pub outcome: RepairOutcome,
}

/// What a repair did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RepairReport {
    /// The check that found what to repair.
    pub check: CheckReport,
    /// One entry per object found missing or damaged.
    pub actions: Vec<RepairAction>,
}

impl RepairReport {
    /// Whether something is left broken (or, in a dry run, has no source).
    pub fn needs_attention(&self) -> bool {
        self.check.error().is_some()
            || self.actions.iter().any(|a| {
                matches!(
                    a.outcome,
                    RepairOutcome::NoSource | RepairOutcome::Failed { .. }
                )
            })
    }
}

/// Findings that mean an archive copy must be rebuilt.
const ARCHIVE_DAMAGE: &[&str] = &[
    "missing", "size", "checksum", "replaced", "damaged", "parity",
];
/// Findings that mean a staged object must be staged again.
const STAGED_DAMAGE: &[&str] = &["missing", "size", "checksum", "corrupt"];

impl RepairAction {
    /// A repair of `f` done on the site itself (`how`), planned.
    fn in_place(site: &str, f: &Finding, how: &str) -> RepairAction {
        RepairAction {
            site: site.to_owned(),
            key: f.key.clone(),
            what: f.path.clone().unwrap_or_default(),
            problem: describe(&[f]),
            source: Some(format!("the site itself ({how})")),
            outcome: RepairOutcome::Planned,
        }
    }
}

impl Context {
    /// Checks the sites, then repairs what the check found.
    pub fn repair(&mut self, opts: &RepairOptions) -> Result<RepairReport> {
        let _lock = self.backup_lock()?;
        let mut copts = CheckOptions::default();
        copts.site.clone_from(&opts.site);
        let sites: Vec<&SiteConfig> = self
            .opts
            .sites
            .iter()
            .filter(|s| opts.site.as_ref().is_none_or(|n| *n == s.name))
            .collect();
        copts.staging = sites.iter().any(|s| s.role.stages());
        copts.archives = sites.iter().any(|s| s.role.archives());
        let check = self.check(&copts)?;
        let mut actions = Vec::new();
        for k in &check.kinds {
            for s in &k.sites {
                let damage: &[&str] = match k.kind {
                    CheckKind::Archives => ARCHIVE_DAMAGE,
                    CheckKind::Staging => STAGED_DAMAGE,
                };
                let mut by_key: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
                for f in s.findings.iter().filter(|f| damage.contains(&f.kind)) {
                    by_key.entry(&f.key).or_default().push(f);
                }
                for (key, found) in &by_key {
                    let action = match k.kind {
                        CheckKind::Archives => {
                            self.repair_archive(&s.site, key, found, opts.dry_run)
                        }
                        CheckKind::Staging => self.repair_staged(&s.site, key, found, opts.dry_run),
                    };
                    actions.push(action?);
                }
                if k.kind == CheckKind::Archives {
                    let classes = s.findings.iter().filter(|f| f.kind == "class");
                    for f in classes.filter(|f| !by_key.contains_key(f.key.as_str())) {
                        actions.extend(self.repair_class(&s.site, f, opts.dry_run)?);
                    }
                    let locks = s.findings.iter().filter(|f| f.kind == "lock");
                    for f in locks.filter(|f| !by_key.contains_key(f.key.as_str())) {
                        actions.extend(self.repair_lock(&s.site, f, opts.dry_run)?);
                    }
                }
            }
        }
        Ok(RepairReport { check, actions })
    }

    /// A copy listed in another storage class than the site's (an Azure
    /// archive left Hot by a restore's rehydration, or by an upload that
    /// stopped between its commit and its tier): moved back in place where
    /// the site can; elsewhere the check keeps reporting it.
    fn repair_class(
        &mut self,
        site_name: &str,
        f: &Finding,
        dry_run: bool,
    ) -> Result<Option<RepairAction>> {
        let cfg = self.site(site_name)?.clone();
        let Some(want) = cfg.archive_class() else {
            return Ok(None);
        };
        let site = self.open_site(&cfg)?;
        if !site.capabilities().set_class {
            return Ok(None);
        }
        let mut action = RepairAction::in_place(site_name, f, &format!("its class set to {want}"));
        if !dry_run {
            action.outcome = match self.rt.block_on(site.set_storage_class(&f.key, &want)) {
                Ok(()) => RepairOutcome::Repaired,
                Err(e) => RepairOutcome::Failed {
                    error: e.to_string(),
                },
            };
            self.record_usage(site_name, &site.usage());
        }
        Ok(Some(action))
    }

    /// An archive whose Object Lock retention is missing, shorter than the
    /// site's setting, weaker, or about to run out: extended in place to
    /// the full duration from now (PutObjectRetention, which S3 allows
    /// for any lock; a retention is never shortened), then read back.
    pub(crate) fn repair_lock(
        &mut self,
        site_name: &str,
        f: &Finding,
        dry_run: bool,
    ) -> Result<Option<RepairAction>> {
        let cfg = self.site(site_name)?.clone();
        let Some(policy) = cfg.lock_policy()? else {
            return Ok(None);
        };
        let site = self.open_site(&cfg)?;
        let mut action = RepairAction::in_place(
            site_name,
            f,
            &format!(
                "its retention extended: {} for {}",
                policy.mode, policy.duration
            ),
        );
        if !dry_run {
            let extended = self.rt.block_on(async {
                let current = site.head(&f.key).await?.lock;
                let want = policy.renewed(current, lomo_catalog::unix_now());
                crate::sites::lock::ensure(&site, &f.key, want).await
            });
            action.outcome = match extended {
                Ok(()) => RepairOutcome::Repaired,
                Err(e) => RepairOutcome::Failed {
                    error: e.to_string(),
                },
            };
            self.record_usage(site_name, &site.usage());
        }
        Ok(Some(action))
    }

    /// The action for one archive copy: its sources tried in order.
    fn repair_archive(
        &mut self,
        site_name: &str,
        key: &str,
        found: &[&Finding],
        dry_run: bool,
    ) -> Result<RepairAction> {
        let problem = describe(found);
        let parity_only = found.iter().all(|f| f.kind == "parity");
        let key = if parity_only {
            key.trim_end_matches(".par")
        } else {
            key
        };
        let mut action = RepairAction {
            site: site_name.to_owned(),
            key: key.to_owned(),
            what: found[0].path.clone().unwrap_or_default(),
            problem,
            source: None,
            outcome: RepairOutcome::NoSource,
        };
        let Some((archive, copy)) = self.copy_by_key(site_name, key)? else {
            return Ok(action);
        };
        let cfg = self.site(site_name)?.clone();
        let overwrite = found.iter().any(|f| f.kind != "missing");
        if cfg.append_only && overwrite && !parity_only {
            action.outcome = RepairOutcome::Failed {
                error: "the site is append-only: lomob does not overwrite there".into(),
            };
            return Ok(action);
        }
        if !dry_run && cfg.lock.is_some() && found.iter().all(|f| f.kind == "missing") {
            // On a locked site "missing" is most often hidden by a delete marker.
            let hidden = self.open_site(&cfg).and_then(|site| {
                let back = self.unhide_copy(&site, key, copy.size.unwrap_or(archive.size));
                self.record_usage(site_name, &site.usage());
                back
            });
            match hidden {
                Ok(true) => {
                    action.source =
                        Some("the site itself (its locked version was hidden by a delete marker, now removed)".into());
                    action.outcome = RepairOutcome::Repaired;
                    return Ok(action);
                }
                Ok(false) => {}
                Err(e) => self.warn(format!("repair of {key} on site {site_name}: {e}")),
            }
        }
        let sources = self.archive_sources(&archive, &copy, found)?;
        for source in sources {
            action.source = Some(source.describe());
            if dry_run {
                action.outcome = RepairOutcome::Planned;
                return Ok(action);
            }
            match self.rebuild_copy(&cfg, (&archive, &copy), &source) {
                Ok(()) => {
                    action.outcome = RepairOutcome::Repaired;
                    return Ok(action);
                }
                Err(e) => {
                    self.warn(format!(
                        "repair of {key} on site {site_name} from {}: {e}",
                        source.describe()
                    ));
                    action.outcome = RepairOutcome::Failed {
                        error: e.to_string(),
                    };
                }
            }
        }
        Ok(action)
    }

    fn copy_by_key(&self, site: &str, key: &str) -> Result<Option<(Archive, ArchiveCopy)>> {
        for a in self.catalog.archives()? {
            for c in self.catalog.archive_copies(a.id)? {
                if c.site == site && c.key == key {
                    return Ok(Some((a, c)));
                }
            }
        }
        Ok(None)
    }

    /// Where a copy can be rebuilt from, cheapest first.
    fn archive_sources(
        &self,
        archive: &Archive,
        copy: &ArchiveCopy,
        found: &[&Finding],
    ) -> Result<Vec<Source>> {
        let mut out = Vec::new();
        if found.iter().all(|f| f.kind == "parity") {
            out.push(Source::NewParity);
            return Ok(out);
        }
        if found.iter().all(|f| f.kind == "damaged") && copy.parity.is_some() {
            out.push(Source::Parity);
        }
        let entries = self.catalog.archive_entries(archive.id)?;
        let local = archive.location.as_ref().is_some_and(|l| l.exists())
            || entries.iter().all(|e| {
                e.source
                    .as_ref()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .is_some_and(|m| m.len() == e.size)
            });
        if local {
            out.push(Source::Local);
        }
        let mut others: Vec<ArchiveCopy> = self
            .catalog
            .archive_copies(archive.id)?
            .into_iter()
            .filter(|c| c.site != copy.site && c.done_at.is_some())
            .collect();
        others.sort_by_key(|c| {
            self.opts
                .sites
                .iter()
                .any(|s| s.name == c.site && s.is_cold())
        });
        out.extend(others.into_iter().map(|c| Source::Site(Box::new(c))));
        Ok(out)
    }

    /// Rebuilds one copy from `source`, then checks it again.
    fn rebuild_copy(
        &mut self,
        cfg: &SiteConfig,
        (archive, copy): (&Archive, &ArchiveCopy),
        source: &Source,
    ) -> Result<()> {
        let site = self.open_site(cfg)?;
        match source {
            Source::NewParity => {
                let share = cfg.parity_share()?.unwrap_or(0.05);
                return self.store_parity(&site, (archive, copy), share);
            }
            Source::Parity => self.rebuild_from_parity(&site, (archive, copy))?,
            Source::Local => self.resend(cfg, &site, archive, None)?,
            Source::Site(other) => {
                let remote = self.remote_copy(archive, other)?;
                self.resend(cfg, &site, archive, Some(remote))?;
            }
        }
        let fresh = self
            .copy_by_key(&cfg.name, &copy.key)?
            .map_or_else(|| copy.clone(), |(_, c)| c);
        self.check_rebuilt(&site, cfg, (archive, &fresh))
    }

    /// Sends the archive again to `cfg`'s site under the copy's own header.
    fn resend(
        &mut self,
        cfg: &SiteConfig,
        site: &Arc<dyn Backend>,
        archive: &Archive,
        from: Option<RemoteCopy>,
    ) -> Result<()> {
        let key = self.key()?;
        let targets = [Target {
            cfg,
            site: site.clone(),
            opts: cfg.archive_options(None),
            force: true,
        }];
        let image = archive
            .location
            .clone()
            .filter(|l| l.exists() && from.is_none());
        let job = Job {
            archive,
            image: image.as_deref(),
            targets: &targets,
            from,
        };
        let send = SendOptions {
            force: true,
            keep_iso: true,
            ..SendOptions::default()
        };
        let mut results = send_archive(&self.rt, &mut self.catalog, &key, job, &send)?;
        self.record_usage(&cfg.name, &site.usage());
        results.pop().unwrap_or(Ok(None)).map(|_| ())
    }

    /// Another site's copy, to read the image from.
    fn remote_copy(&mut self, archive: &Archive, other: &ArchiveCopy) -> Result<RemoteCopy> {
        let cfg = self.site(&other.site)?.clone();
        let site = self.open_site(&cfg)?;
        let cipher = if other.header.is_empty() {
            None
        } else {
            let key = self.key()?;
            let h = lomo_crypt::stream::Header::parse(&other.header)
                .map_err(|e| Error::crypt(format!("archive copy {}", other.key), e))?;
            Some(
                lomo_crypt::stream::ObjectCipher::new(&key, &h)
                    .map_err(|e| Error::crypt(format!("archive copy {}", other.key), e))?,
            )
        };
        Ok(RemoteCopy {
            site,
            key: other.key.clone(),
            cipher,
            len: archive.size,
        })
    }

    /// The damaged chunks rebuilt from the parity beside the copy; the
    /// whole object written again (the damaged one stays until then).
    fn rebuild_from_parity(
        &mut self,
        site: &Arc<dyn Backend>,
        (archive, copy): (&Archive, &ArchiveCopy),
    ) -> Result<()> {
        let par = copy
            .parity
            .clone()
            .ok_or_else(|| Error::failed("no parity recorded"))?;
        let key = self.key().ok();
        let blocks = self.catalog.archive_blocks(archive.id)?;
        let proof = Proof::of(key.as_ref(), copy, archive.size, blocks)?
            .ok_or_else(|| Error::failed("the copy cannot be authenticated here"))?;
        let damage = verify(
            &self.rt,
            (site, &copy.key),
            &proof,
            archive.size,
            (None, &crate::progress::NoBar),
        )?;
        let g = crate::parity::geometry_of(copy, archive.size, 0.05);
        let mut bad = Vec::new();
        for d in &damage {
            let first = d.object.start.saturating_sub(g.skip) / g.unit;
            let last = d.object.end.saturating_sub(g.skip).div_ceil(g.unit);
            bad.extend(first..last);
        }
        let rebuilt = crate::parity::rebuild(&self.rt, site, (&copy.key, &par), (g.skip, &bad))?;
        for (&u, bytes) in &rebuilt {
            if !proof.check_unit(u as usize, bytes) {
                return Err(Error::failed(format!(
                    "chunk {u} rebuilt from the parity does not authenticate"
                )));
            }
        }
        let patched = crate::parity::Patched::new(site.clone(), copy, (g, rebuilt));
        let len = patched.len();
        self.rt.block_on(crate::sites::uploader(site).upload(
            &copy.key,
            len,
            patched,
            32 << 20,
            &PutOptions::default(),
            |_| Ok(()),
        ))?;
        Ok(())
    }

    /// Parity (`share` of the copy) computed again and stored beside it.
    fn store_parity(
        &mut self,
        site: &Arc<dyn Backend>,
        (archive, copy): (&Archive, &ArchiveCopy),
        share: f64,
    ) -> Result<()> {
        let work = self.work_dir();
        std::fs::create_dir_all(&work)
            .map_err(|e| Error::failed(format!("cannot create {}: {e}", work.display())))?;
        let key = crate::parity::store(&self.rt, site, (copy, archive.size), share, &work)?;
        let mut copy = copy.clone();
        copy.parity = Some(key);
        self.catalog.save_archive_copy(&copy)?;
        Ok(())
    }

    /// A rebuilt copy read back (free sites) and authenticated whole; on
    /// a paid site the upload's own checks (size, stored SHA-256) stand.
    fn check_rebuilt(
        &mut self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        (archive, copy): (&Archive, &ArchiveCopy),
    ) -> Result<()> {
        if site.capabilities().metered {
            return Ok(());
        }
        let key = self.key().ok();
        let blocks = self.catalog.archive_blocks(archive.id)?;
        let Some(proof) = Proof::of(key.as_ref(), copy, archive.size, blocks)? else {
            return Ok(());
        };
        let damage = verify(
            &self.rt,
            (site, &copy.key),
            &proof,
            archive.size,
            (None, &crate::progress::NoBar),
        )?;
        if !damage.is_empty() {
            return Err(Error::failed("the rebuilt copy still fails authentication"));
        }
        self.catalog
            .mark_archive_verified(archive.id, &cfg.name, lomo_catalog::unix_now())?;
        if copy.parity.is_none()
            && let Some(share) = cfg.parity_share()?
        {
            self.store_parity(site, (archive, copy), share)?;
        }
        Ok(())
    }

    /// The action for one staged object: staged again from its file, or
    /// from another copy of its content.
    fn repair_staged(
        &mut self,
        site_name: &str,
        key: &str,
        found: &[&Finding],
        dry_run: bool,
    ) -> Result<RepairAction> {
        let mut action = RepairAction {
            site: site_name.to_owned(),
            key: key.to_owned(),
            what: found[0].path.clone().unwrap_or_default(),
            problem: describe(found),
            source: None,
            outcome: RepairOutcome::NoSource,
        };
        let Some(copy) = self
            .catalog
            .staged_on(site_name)?
            .into_iter()
            .find(|c| c.key == key)
        else {
            return Ok(action);
        };
        let cfg = self.site(site_name)?.clone();
        if cfg.append_only && found.iter().any(|f| f.kind != "missing") {
            action.outcome = RepairOutcome::Failed {
                error: "the site is append-only: lomob does not overwrite there".into(),
            };
            return Ok(action);
        }
        let file = self.catalog.live_file_of(copy.content_id)?;
        let hash = self.catalog.content_hash(copy.content_id)?;
        let (Some(hash), Some(file)) = (hash, file) else {
            return Ok(action);
        };
        let local = file_matches(&file.path, &hash);
        action.source = Some(if local {
            "the file on this computer".to_owned()
        } else {
            "another copy of its content".to_owned()
        });
        if dry_run {
            action.outcome = RepairOutcome::Planned;
            return Ok(action);
        }
        action.outcome = match self.restage(&cfg, (copy.content_id, file), local) {
            Ok(()) => RepairOutcome::Repaired,
            Err(e) => RepairOutcome::Failed {
                error: e.to_string(),
            },
        };
        Ok(action)
    }
}

impl Context {
    /// Stages a content again on `cfg`'s site, from its live file or,
    /// when that changed, from another copy fetched into a temp file.
    fn restage(
        &mut self,
        cfg: &SiteConfig,
        (content_id, file): (i64, lomo_catalog::FileEntry),
        local: bool,
    ) -> Result<()> {
        let key = self.key()?;
        let names = crate::keys::Names::new(&key);
        let work = self.work_dir();
        std::fs::create_dir_all(&work)
            .map_err(|e| Error::failed(format!("cannot create {}: {e}", work.display())))?;
        let tmp = tempfile::tempdir_in(&work)
            .map_err(|e| Error::failed(format!("cannot write in {}: {e}", work.display())))?;
        let mut item = file.clone();
        if !local {
            item.path = tmp.path().join("content");
            let target = crate::target::Target::open(tmp.path())?;
            self.fetch_content(&file, (&target, std::path::Path::new("content")))?;
        }
        let site = self.open_site(cfg)?;
        let stager = crate::backup::Stager {
            key: &key,
            names: &names,
            opts: cfg.hot_options(),
            progress: self.progress.as_ref(),
        };
        let mut out = crate::backup::StagingReport::default();
        let todo = vec![lomo_catalog::ToStage {
            content_id,
            file: item,
        }];
        stager.stage_items(
            &self.rt,
            &mut self.catalog,
            (&cfg.name, &site),
            todo,
            &mut out,
        )?;
        self.record_usage(&cfg.name, &site.usage());
        if out.staged == 1 {
            return Ok(());
        }
        let why = out
            .error
            .or_else(|| out.skipped.first().map(|(_, w)| w.clone()))
            .unwrap_or_else(|| "not staged".into());
        Err(Error::failed(why))
    }
}

/// A copy's sources of repair.
enum Source {
    /// Parity beside it (damaged chunks only).
    Parity,
    /// Its parity is missing: computed again from the copy.
    NewParity,
    /// The files on this computer.
    Local,
    /// Another site's copy.
    Site(Box<ArchiveCopy>),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Parity => "the parity stored beside it".into(),
            Source::NewParity => "the copy itself (its parity computed again)".into(),
            Source::Local => "the files on this computer".into(),
            Source::Site(c) => format!("the copy on site {}", c.site),
        }
    }
}

/// The findings of one object in a few words.
fn describe(found: &[&Finding]) -> String {
    found
        .iter()
        .map(|f| format!("{}: {}", f.kind, f.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether the file at `path` holds the content `hash` now.
fn file_matches(path: &std::path::Path, hash: &[u8; 32]) -> bool {
    std::fs::File::open(path)
        .ok()
        .and_then(|f| {
            let mut h = blake3::Hasher::new();
            h.update_reader(f).ok()?;
            Some(h.finalize().as_bytes() == hash)
        })
        .unwrap_or(false)
}
