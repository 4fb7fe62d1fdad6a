//! The staging check: a site's listing against the catalog's staged
//! copies (missing, size, stored checksum, unexpected, staged too long),
//! plus decrypting a random sample with `deep`.

use std::collections::HashSet;
use std::io::Read as _;
use std::sync::Arc;

use futures::TryStreamExt as _;
use lomo_catalog::{Catalog, StagedCopy};
use lomo_crypt::MasterKey;
use lomo_remote::{Backend, ObjectInfo};

use super::{CheckKind, CheckOptions, Finding, SiteCheck};
use crate::context::Context;
use crate::error::Result;
use crate::sites::{STAGING_PREFIX, SiteConfig};

impl Context {
    /// Checks one staging site; copies found as recorded are marked verified.
    pub(super) fn check_staging(
        &mut self,
        cfg: &SiteConfig,
        opts: &CheckOptions,
        key: Option<&MasterKey>,
    ) -> Result<SiteCheck> {
        let mut out = SiteCheck {
            site: cfg.name.clone(),
            kind: CheckKind::Staging,
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
            self.rt.block_on(site.list(STAGING_PREFIX).try_collect());
        match listed {
            Err(e) => out.error = Some(e.to_string()),
            Ok(objects) => {
                let now = lomo_catalog::unix_now();
                let expected = self.catalog.staged_on(&cfg.name)?;
                out.checked = expected.len() as u64;
                compare(
                    &self.catalog,
                    &expected,
                    objects,
                    (now, opts.max_staged_age_days),
                    &mut out.findings,
                )?;
                if let Some(key) = key {
                    let sample = Sample {
                        site: &site,
                        key,
                        n: opts.deep,
                    };
                    sample.check(&self.rt, &self.catalog, &expected, &mut out.findings)?;
                }
                for f in &mut out.findings {
                    f.repair = repair_hint(&self.catalog, &expected, f)?;
                }
                let bad: HashSet<&str> = out
                    .findings
                    .iter()
                    .filter(|i| i.kind != "old")
                    .map(|i| i.key.as_str())
                    .collect();
                for c in expected.iter().filter(|c| !bad.contains(c.key.as_str())) {
                    self.catalog
                        .mark_staged_verified(c.content_id, &c.site, now)?;
                }
            }
        }
        self.record_usage(&cfg.name, &site.usage());
        Ok(out)
    }
}

/// Where a damaged or missing staged object can be staged again from.
fn repair_hint(catalog: &Catalog, expected: &[StagedCopy], f: &Finding) -> Result<Option<String>> {
    if !matches!(f.kind, "missing" | "size" | "checksum" | "corrupt") {
        return Ok(None);
    }
    let Some(c) = expected.iter().find(|c| c.key == f.key) else {
        return Ok(None);
    };
    let live = catalog.live_file_of(c.content_id)?;
    let local = live
        .as_ref()
        .and_then(|l| std::fs::metadata(&l.path).ok().map(|m| m.len() == l.size))
        .unwrap_or(false);
    Ok(Some(if local {
        "repairable from the file on this computer (if unchanged)".to_owned()
    } else {
        "repairable from another copy of its content, if one is readable".to_owned()
    }))
}

fn path_of(catalog: &Catalog, id: i64) -> Result<Option<String>> {
    Ok(catalog
        .live_file_of(id)?
        .map(|f| f.path.display().to_string()))
}

/// Listing against catalog: missing, size or checksum differences,
/// unexpected objects, copies staged too long ago (`age`: now and the
/// limit in days).
fn compare(
    catalog: &Catalog,
    expected: &[StagedCopy],
    objects: Vec<ObjectInfo>,
    (now, max_age_days): (i64, u64),
    items: &mut Vec<Finding>,
) -> Result<()> {
    let mut found = super::by_key(objects, items);
    for c in expected {
        let path = path_of(catalog, c.content_id)?;
        match found.remove(&c.key) {
            None => items.push(Finding::new(
                "missing",
                &c.key,
                path.clone(),
                "recorded as staged, not on the site",
            )),
            Some(o) if o.size != c.size => items.push(Finding::new(
                "size",
                &c.key,
                path.clone(),
                format!("{} bytes on the site, {} recorded", o.size, c.size),
            )),
            Some(o) => {
                if let (Some(a), Some(b)) = (&o.sha256, &c.sha256)
                    && a.split('-').next() != b.split('-').next()
                {
                    items.push(Finding::new(
                        "checksum",
                        &c.key,
                        path.clone(),
                        "the stored SHA-256 differs from the one recorded",
                    ));
                }
            }
        }
        let age_days = (now - c.staged_at).max(0) as u64 / 86_400;
        if age_days > max_age_days {
            items.push(Finding::new(
                "old",
                &c.key,
                path,
                format!("staged {age_days} days ago and still not archived"),
            ));
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
    Ok(())
}

/// A random sample of staged objects, downloaded, decrypted and hashed.
struct Sample<'a> {
    site: &'a Arc<dyn Backend>,
    key: &'a MasterKey,
    n: usize,
}

impl Sample<'_> {
    fn check(
        &self,
        rt: &tokio::runtime::Runtime,
        catalog: &Catalog,
        expected: &[StagedCopy],
        items: &mut Vec<Finding>,
    ) -> Result<()> {
        let already_bad: HashSet<String> = items.iter().map(|i| i.key.clone()).collect();
        let mut pool: Vec<&StagedCopy> = expected
            .iter()
            .filter(|c| !already_bad.contains(&c.key))
            .collect();
        // A random sample, so daily checks cover everything over time.
        for i in (1..pool.len()).rev() {
            pool.swap(i, rand::random_range(0..=i));
        }
        for c in pool.into_iter().take(self.n) {
            let Some(hash) = catalog.content_hash(c.content_id)? else {
                continue;
            };
            if let Some(detail) = self.verdict(rt, &c.key, &hash) {
                items.push(Finding::new(
                    "corrupt",
                    &c.key,
                    path_of(catalog, c.content_id)?,
                    detail,
                ));
            }
        }
        Ok(())
    }

    /// What is wrong with one object, if anything.
    fn verdict(
        &self,
        rt: &tokio::runtime::Runtime,
        object: &str,
        hash: &[u8; 32],
    ) -> Option<String> {
        let bytes = match rt.block_on(crate::sites::download(self.site, object, None)) {
            Err(e) => return Some(format!("cannot read: {e}")),
            Ok(b) => b,
        };
        let mut plain = Vec::new();
        match lomo_crypt::stream::DecryptReader::new(self.key, std::io::Cursor::new(bytes))
            .and_then(|mut r| r.read_to_end(&mut plain).map_err(lomo_crypt::Error::from))
        {
            Err(e) => Some(format!("does not decrypt: {e}")),
            Ok(_) if blake3::hash(&plain).as_bytes() != hash => {
                Some("decrypts to other bytes than the catalog's".into())
            }
            Ok(_) => None,
        }
    }
}
