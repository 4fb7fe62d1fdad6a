//! The archive check: a site's listing (sizes, storage classes,
//! unexpected objects) and one HEAD per archive copy for the checksum the
//! site keeps. No archive byte is read; nothing is restored from a cold tier.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt as _;
use lomo_catalog::{Archive, ArchiveCopy};
use lomo_remote::{Backend, ObjectInfo};

use super::{CheckKind, Finding, SiteCheck};
use crate::context::Context;
use crate::error::Result;
use crate::sites::{ARCHIVES_PREFIX, SiteConfig};

impl Context {
    /// Checks one archive site.
    pub(super) fn check_archives(&mut self, cfg: &SiteConfig) -> Result<SiteCheck> {
        let mut out = SiteCheck {
            site: cfg.name.clone(),
            kind: CheckKind::Archives,
            checked: 0,
            findings: Vec::new(),
            error: None,
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
                out.checked = self.compare_archives(&site, cfg, objects, &mut out.findings)?;
            }
        }
        self.record_usage(&cfg.name, &site.usage());
        Ok(out)
    }

    /// Archive copies against a listing (size, storage class, unexpected
    /// objects) and one HEAD each for the stored checksum; returns how many
    /// copies were checked.
    fn compare_archives(
        &self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        objects: Vec<ObjectInfo>,
        items: &mut Vec<Finding>,
    ) -> Result<u64> {
        let mut found: HashMap<String, ObjectInfo> =
            objects.into_iter().map(|o| (o.key.clone(), o)).collect();
        let mut checked = 0;
        for a in self.catalog.archives()? {
            for c in self.catalog.archive_copies(a.id)? {
                if c.site != cfg.name || c.done_at.is_none() {
                    continue;
                }
                checked += 1;
                match found.remove(&c.key) {
                    None => items.push(Finding::new(
                        "missing",
                        &c.key,
                        Some(a.name.clone()),
                        "recorded as stored, not on the site",
                    )),
                    Some(o) => items.extend(self.compare_copy(site, cfg, (&a, &c), &o)),
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
        Ok(checked)
    }

    /// One copy against its listed object: size, storage class, and the
    /// checksum the site keeps (one HEAD).
    fn compare_copy(
        &self,
        site: &Arc<dyn Backend>,
        cfg: &SiteConfig,
        (a, c): (&Archive, &ArchiveCopy),
        o: &ObjectInfo,
    ) -> Vec<Finding> {
        let name = || Some(a.name.clone());
        let size = c.size.unwrap_or(a.size);
        if o.size != size {
            let detail = format!("{} bytes on the site, {size} recorded", o.size);
            return vec![Finding::new("size", &c.key, name(), detail)];
        }
        let mut out = Vec::new();
        if let (Some(want), Some(got)) = (&cfg.storage_class, &o.storage_class)
            && !want.eq_ignore_ascii_case(got)
        {
            let detail = format!("storage class {got}, the site is set to {want}");
            out.push(Finding::new("class", &c.key, name(), detail));
        }
        let Some(recorded) = &c.sha256 else {
            return out;
        };
        match self.rt.block_on(site.head(&c.key)) {
            Ok(h) => {
                if h.sha256
                    .as_ref()
                    .is_some_and(|stored| stored.split('-').next() != recorded.split('-').next())
                {
                    out.push(Finding::new(
                        "checksum",
                        &c.key,
                        name(),
                        "the SHA-256 the site keeps differs from the one recorded at upload",
                    ));
                }
            }
            Err(e) => out.push(Finding::new("unreadable", &c.key, name(), e.to_string())),
        }
        out
    }
}
