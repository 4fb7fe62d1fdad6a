//! The archive check of one site. From a listing (sizes, storage classes,
//! unexpected objects) and what the site can prove without a read: the
//! SHA-256 it keeps (S3, one HEAD per archive), or the ETag it gave at
//! upload (a replaced object has another). Then the bytes themselves where
//! reading them is free (folders, NAS, removable disks): the copies due,
//! every chunk's tag checked; with `deep`, random chunks of archives on hot
//! paid sites; a cold tier only with `thaw`, its cost said first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::TryStreamExt as _;
use lomo_catalog::{Archive, ArchiveCopy};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, ObjectInfo, RestoreRequest, RestoreStatus};

use super::verify::{Proof, files_in, verify};
use super::{ArchiveLock, CheckKind, CheckOptions, Finding, SiteCheck};
use crate::context::Context;
use crate::error::Result;
use crate::progress::{Task, TaskKind};
use crate::sites::{ARCHIVES_PREFIX, SiteConfig};

/// An ETag without the quotes (and weak marker) some APIs add.
fn bare_etag(e: &str) -> &str {
    e.trim_start_matches("W/").trim_matches('"')
}

/// An archive's copy on the site being checked.
type Held = (Archive, ArchiveCopy);

/// How many of the copies held are listed in each storage class.
fn classes_of(held: &[Held], listed: &[ObjectInfo]) -> BTreeMap<String, u64> {
    let class: HashMap<&str, &str> = listed
        .iter()
        .filter_map(|o| Some((o.key.as_str(), o.storage_class.as_deref()?)))
        .collect();
    let mut out = BTreeMap::new();
    for (_, c) in held {
        if let Some(k) = class.get(c.key.as_str()) {
            *out.entry((*k).to_owned()).or_default() += 1;
        }
    }
    out
}

impl Context {
    /// Checks one archive site.
    pub(super) fn check_archives(
        &mut self,
        cfg: &SiteConfig,
        opts: &CheckOptions,
        key: Option<&MasterKey>,
    ) -> Result<SiteCheck> {
        let mut out = SiteCheck {
            site: cfg.name.clone(),
            kind: CheckKind::Archives,
            checked: 0,
            findings: Vec::new(),
            error: None,
            classes: Default::default(),
            locks: Vec::new(),
        };
        let site = match self.open_site(cfg) {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(e.to_string());
                return Ok(out);
            }
        };
        let listed: lomo_remote::Result<Vec<ObjectInfo>> =
            self.rt.block_on(site.list(ARCHIVES_PREFIX).try_collect());
        match listed {
            Err(e) => out.error = Some(e.to_string()),
            Ok(objects) => {
                let held = self.held_on(&cfg.name)?;
                out.checked = held.len() as u64;
                out.classes = classes_of(&held, &objects);
                let sound = self.compare_archives(&site, cfg, &held, objects, &mut out)?;
                let sound: Vec<&Held> = sound.into_iter().map(|i| &held[i]).collect();
                self.check_bytes(&site, cfg, &sound, (opts, key), &mut out.findings)?;
            }
        }
        let set_class = site.capabilities().set_class;
        for f in &mut out.findings {
            if f.kind == "class" {
                f.repair = (set_class && cfg.archive_class().is_some())
                    .then(|| "repairable in place (its class set back)".to_owned());
            } else if f.kind == "lock" {
                f.repair = Some("repairable in place (its retention extended)".to_owned());
            } else if let Some(name) = f.path.clone().filter(|_| f.kind != "unexpected") {
                f.repair = self.repair_sources(&name, &cfg.name)?;
            }
        }
        self.record_usage(&cfg.name, &site.usage());
        Ok(out)
    }

    /// The archives `site` holds a completed copy of.
    fn held_on(&self, site: &str) -> Result<Vec<Held>> {
        let mut out = Vec::new();
        for a in self.catalog.archives()? {
            for c in self.catalog.archive_copies(a.id)? {
                if c.site == site && c.done_at.is_some() {
                    out.push((a.clone(), c));
                }
            }
        }
        Ok(out)
    }

    /// Copies against a listing (size, storage class, unexpected objects)
    /// and the proof the site keeps; the copies found sound, by index.
    fn compare_archives(
        &self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        held: &[Held],
        objects: Vec<ObjectInfo>,
        out: &mut SiteCheck,
    ) -> Result<Vec<usize>> {
        let items = &mut out.findings;
        let mut found = super::by_key(objects, items);
        for (a, c) in held {
            if let Some(par) = &c.parity
                && found.remove(par).is_none()
            {
                items.push(Finding::new(
                    "parity",
                    par,
                    Some(a.name.clone()),
                    "the parity recorded beside it is not on the site",
                ));
            }
        }
        let mut sound = Vec::new();
        for (i, (a, c)) in held.iter().enumerate() {
            match found.remove(&c.key) {
                None => items.push(Finding::new(
                    "missing",
                    &c.key,
                    Some(a.name.clone()),
                    "recorded as stored, not on the site",
                )),
                Some(o) => {
                    let before = items.len();
                    let (found, lock) = self.compare_copy(site, cfg, (a, c), &o);
                    items.extend(found);
                    if items[before..]
                        .iter()
                        .all(|f| matches!(f.kind, "class" | "lock"))
                    {
                        sound.push(i);
                    }
                    if let Some(l) = lock {
                        out.locks.push(ArchiveLock {
                            archive: a.name.clone(),
                            mode: l.mode,
                            until: l.retain_until,
                        });
                    }
                }
            }
        }
        let mut extra: Vec<String> = found.into_keys().collect();
        extra.sort();
        for k in extra {
            items.push(Finding::new(
                "unexpected",
                &k,
                None,
                "on the site, not in the catalog",
            ));
        }
        Ok(sound)
    }

    /// One copy against its listed object: size, storage class, the
    /// checksum the site keeps (one HEAD) or the ETag it gave at upload,
    /// and on a site that locks archives its retention (the same HEAD),
    /// which comes back beside the findings.
    fn compare_copy(
        &self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        (a, c): (&Archive, &ArchiveCopy),
        o: &ObjectInfo,
    ) -> (Vec<Finding>, Option<lomo_remote::ObjectLock>) {
        let name = || Some(a.name.clone());
        let size = c.size.unwrap_or(a.size);
        if o.size != size {
            let detail = format!("{} bytes on the site, {size} recorded", o.size);
            return (vec![Finding::new("size", &c.key, name(), detail)], None);
        }
        let mut out = Vec::new();
        if let (Some(want), Some(got)) = (&cfg.archive_class(), &o.storage_class)
            && !want.eq_ignore_ascii_case(got)
        {
            let detail = format!("storage class {got}, the site is set to {want}");
            out.push(Finding::new("class", &c.key, name(), detail));
        }
        let caps = site.capabilities();
        let policy = cfg.lock_policy().ok().flatten();
        let head = ((c.sha256.is_some() && caps.stored_checksum) || policy.is_some())
            .then(|| self.rt.block_on(site.head(&c.key)));
        let head = match head {
            Some(Err(e)) => {
                out.push(Finding::new("unreadable", &c.key, name(), e.to_string()));
                return (out, None);
            }
            Some(Ok(h)) => Some(h),
            None => None,
        };
        if let (Some(p), Some(h)) = (policy, &head)
            && let Some(why) = p.problem(h, lomo_catalog::unix_now(), self.check_period())
        {
            out.push(Finding::new("lock", &c.key, name(), why));
        }
        let lock = head.as_ref().and_then(|h| h.lock);
        if let (Some(recorded), true, Some(h)) = (&c.sha256, caps.stored_checksum, head) {
            let why: Option<(&'static str, String)> = match h.sha256 {
                Some(stored) if stored.split('-').next() == recorded.split('-').next() => None,
                Some(_) => Some((
                    "checksum",
                    "the SHA-256 the site keeps differs from the one recorded at upload".into(),
                )),
                // Another client rewrote it (with another checksum, or none).
                None => Some((
                    "checksum",
                    "the site keeps no SHA-256 for it any more (one was recorded at upload): the object was replaced".into(),
                )),
            };
            if let Some((kind, detail)) = why {
                out.push(Finding::new(kind, &c.key, name(), detail));
                return (out, lock);
            }
        }
        if let (Some(recorded), Some(now), true) = (&c.etag, &o.etag, caps.metered)
            && bare_etag(recorded) != bare_etag(now)
        {
            out.push(Finding::new(
                "replaced",
                &c.key,
                name(),
                format!("the site's ETag is {now}, {recorded} at upload: the object was replaced"),
            ));
        }
        (out, lock)
    }

    /// Seconds to the next archive check (its schedule; a month without one).
    fn check_period(&self) -> i64 {
        let every = self.opts.schedule.archive_check;
        every.map_or(30 * 86_400, |d| {
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
        })
    }

    /// The bytes themselves: the due copies read whole on free sites;
    /// sampled chunks on hot paid sites with `deep`; cold ones only with `thaw`.
    fn check_bytes(
        &mut self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        sound: &[&Held],
        (opts, key): (&CheckOptions, Option<&MasterKey>),
        items: &mut Vec<Finding>,
    ) -> Result<()> {
        if !site.capabilities().metered {
            let due = self.due_share(sound);
            return self.verify_whole(site, cfg, &due, key, items);
        }
        if opts.deep == 0 {
            return Ok(());
        }
        let readable: Vec<&Held> = if cfg.is_cold() {
            self.thawed(site, cfg, sound, opts.thaw)?
        } else {
            sound.to_vec()
        };
        self.sample(site, cfg, &readable, (opts.deep, key), items)
    }

    /// The copies due for a whole read: never read, or read longer ago
    /// than `archive_verify`; oldest first, at most the share one check
    /// period asks for (a 30-day cycle read in daily checks reads 1/30 a day).
    fn due_share<'a>(&self, sound: &[&'a Held]) -> Vec<&'a Held> {
        let Some(period) = self.opts.schedule.archive_verify else {
            return Vec::new();
        };
        let now = lomo_catalog::unix_now();
        let period_s = i64::try_from(period.as_secs()).unwrap_or(i64::MAX);
        let mut due: Vec<&Held> = sound
            .iter()
            .copied()
            .filter(|(_, c)| c.verified_at.is_none_or(|t| now - t >= period_s))
            .collect();
        due.sort_by_key(|(_, c)| c.verified_at.unwrap_or(i64::MIN));
        if let Some(every) = self.opts.schedule.archive_check.filter(|e| *e < period) {
            let share = (sound.len() as u64 * every.as_secs()).div_ceil(period.as_secs().max(1));
            due.truncate(usize::try_from(share.max(1)).unwrap_or(usize::MAX));
        }
        due
    }

    /// Reads `due` whole, authenticating every chunk; a copy found intact
    /// is marked verified.
    fn verify_whole(
        &mut self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        due: &[&Held],
        key: Option<&MasterKey>,
        items: &mut Vec<Finding>,
    ) -> Result<()> {
        let total: u64 = due.iter().map(|(a, c)| c.size.unwrap_or(a.size)).sum();
        let label = format!("verifying {}", cfg.name);
        let bar = self.progress.start(&Task {
            kind: TaskKind::Verify,
            label: &label,
            total: Some(total),
        });
        for (a, c) in due {
            let Some(proof) = Proof::of(key, c, a.size, self.catalog.archive_blocks(a.id)?)? else {
                continue;
            };
            let damage = verify(
                &self.rt,
                (site, &c.key),
                &proof,
                a.size,
                (None, bar.as_ref()),
            )?;
            if damage.is_empty() {
                self.catalog
                    .mark_archive_verified(a.id, &cfg.name, lomo_catalog::unix_now())?;
            }
            self.report_damage((a, c), &damage, items)?;
        }
        bar.finish();
        Ok(())
    }

    /// `n` random chunks of each archive, by range reads, the cost said first.
    fn sample(
        &mut self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        held: &[&Held],
        (n, key): (usize, Option<&MasterKey>),
        items: &mut Vec<Finding>,
    ) -> Result<()> {
        if held.is_empty() {
            return Ok(());
        }
        let p = crate::cost::archive_prices(cfg, &self.opts.prices);
        let requests = (n * held.len()) as f64;
        let bytes = requests * 65_552.0;
        self.notice(format!(
            "site {}: reading {n} random chunks of each of {} archives: about {} GET requests and {:.1} MB, ${:.4}",
            cfg.name,
            held.len(),
            requests,
            bytes / 1e6,
            requests * p.get_per_1000 / 1000.0 + bytes / 1e9 * p.transfer_out_gb
        ));
        let bar = crate::progress::NoBar;
        for (a, c) in held {
            let proof = Proof::of(key, c, a.size, self.catalog.archive_blocks(a.id)?)?;
            let Some(proof) = proof else { continue };
            let units = proof.unit_count(a.size);
            let mut picked: Vec<usize> = (0..n.min(units as usize))
                .map(|_| rand::random_range(0..units) as usize)
                .collect();
            picked.sort_unstable();
            picked.dedup();
            let damage = verify(
                &self.rt,
                (site, &c.key),
                &proof,
                a.size,
                (Some(&picked), &bar),
            )?;
            self.report_damage((a, c), &damage, items)?;
        }
        Ok(())
    }

    /// The cold copies readable now; with `thaw`, a restore is requested
    /// for the others (the cost said first), to be read by a later check.
    fn thawed<'a>(
        &mut self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        held: &[&'a Held],
        thaw: bool,
    ) -> Result<Vec<&'a Held>> {
        let mut ready = Vec::new();
        let mut asked = 0;
        for h @ (a, c) in held.iter().copied() {
            match self.rt.block_on(site.head(&c.key))?.restore {
                Some(RestoreStatus::Ready { .. } | RestoreStatus::NotNeeded) | None => {
                    ready.push(h);
                }
                Some(RestoreStatus::InProgress) => {}
                Some(RestoreStatus::NotRequested) if thaw => {
                    let p = crate::cost::archive_prices(cfg, &self.opts.prices);
                    let gb = c.size.unwrap_or(a.size) as f64 / 1e9;
                    self.notice(format!(
                        "site {}: thawing {} for the check ({gb:.2} GB, bulk): about ${:.4}",
                        cfg.name,
                        a.name,
                        gb * p.bulk_gb + p.bulk_per_1000 / 1000.0
                    ));
                    self.rt
                        .block_on(site.restore(&c.key, RestoreRequest::default()))?;
                    asked += 1;
                }
                Some(RestoreStatus::NotRequested) => {}
            }
        }
        if ready.len() < held.len() {
            self.notice(format!(
                "site {}: {} archive(s) in a cold class not read{}",
                cfg.name,
                held.len() - ready.len(),
                if asked > 0 {
                    format!("; {asked} thaw(s) requested: run the check again when they are ready")
                } else if thaw {
                    "; their thaws are under way".to_owned()
                } else {
                    " (add --thaw to read them, at the cost it prints)".to_owned()
                }
            ));
        }
        Ok(ready)
    }

    /// One finding per damaged stretch, naming the files it holds.
    fn report_damage(
        &self,
        (a, c): (&Archive, &ArchiveCopy),
        damage: &[super::verify::Damage],
        items: &mut Vec<Finding>,
    ) -> Result<()> {
        if damage.is_empty() {
            return Ok(());
        }
        let entries = self.catalog.archive_entries(a.id)?;
        for d in damage {
            items.push(Finding::new(
                "damaged",
                &c.key,
                Some(a.name.clone()),
                format!(
                    "bytes {}..{} of the object fail authentication (image bytes {}..{}); they hold {}",
                    d.object.start,
                    d.object.end,
                    d.image.start,
                    d.image.end,
                    files_in(&entries, &d.image)
                ),
            ));
        }
        Ok(())
    }

    /// Where a damaged or missing copy of archive `name` on `site` could be
    /// repaired from, in words (`None`: nowhere known).
    pub(crate) fn repair_sources(&self, name: &str, site: &str) -> Result<Option<String>> {
        let Some(a) = self
            .catalog
            .archives()?
            .into_iter()
            .find(|a| a.name == name)
        else {
            return Ok(None);
        };
        let mut from: Vec<String> = self
            .catalog
            .archive_copies(a.id)?
            .into_iter()
            .filter(|c| c.site != site && c.done_at.is_some())
            .map(|c| format!("the copy on site {}", c.site))
            .collect();
        let entries = self.catalog.archive_entries(a.id)?;
        let local = entries.iter().all(|e| {
            e.source
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .is_some_and(|m| m.len() == e.size)
        });
        if local {
            from.push("the files on this computer (if unchanged)".into());
        }
        Ok((!from.is_empty()).then(|| format!("repairable from {}", from.join(", or "))))
    }
}
