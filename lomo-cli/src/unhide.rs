//! Archives hidden, not deleted: on a site that locks its archives a plain
//! DELETE (ransomware with the site's credentials) cannot remove a locked
//! version, but it adds a delete marker that hides it from listings and
//! reads. Markers are not locked; removing them brings the archive back.
//! `recover` does this before it restores, `repair` for a missing copy.

use std::sync::Arc;

use futures::TryStreamExt as _;
use lomo_remote::Backend;
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::sites::{ARCHIVES_PREFIX, SiteConfig};

/// An archive copy brought back into view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Unhidden {
    /// The site.
    pub site: String,
    /// The archive.
    pub archive: String,
    /// Its object.
    pub key: String,
}

impl Context {
    /// On every site that locks its archives: each recorded copy missing
    /// from the site's listing whose locked version a delete marker hides
    /// is brought back (its markers removed). A site that cannot be read
    /// is warned about and skipped: the restore after says what it lacks.
    pub fn unhide_archives(&mut self) -> Result<Vec<Unhidden>> {
        let mut out = Vec::new();
        let sites: Vec<SiteConfig> = self.opts.sites.clone();
        for cfg in sites.iter().filter(|s| s.lock.is_some()) {
            match self.unhide_on(cfg) {
                Ok(found) => out.extend(found),
                Err(e) => self.warn(format!(
                    "site {}: looking for hidden archives: {e}",
                    cfg.name
                )),
            }
        }
        Ok(out)
    }

    fn unhide_on(&mut self, cfg: &SiteConfig) -> Result<Vec<Unhidden>> {
        let site = self.open_site(cfg)?;
        let listed: Vec<_> = self.rt.block_on(site.list(ARCHIVES_PREFIX).try_collect())?;
        let present: std::collections::HashSet<String> =
            listed.into_iter().map(|o| o.key).collect();
        let mut out = Vec::new();
        for a in self.catalog.archives()? {
            for c in self.catalog.archive_copies(a.id)? {
                if c.site != cfg.name || c.done_at.is_none() || present.contains(&c.key) {
                    continue;
                }
                if self.unhide_copy(&site, &c.key, c.size.unwrap_or(a.size))? {
                    out.push(Unhidden {
                        site: cfg.name.clone(),
                        archive: a.name.clone(),
                        key: c.key.clone(),
                    });
                }
            }
        }
        self.record_usage(&cfg.name, &site.usage());
        Ok(out)
    }

    /// Removes the delete markers hiding `key` on `site`; whether the
    /// object is back, at the recorded `size` (else an error naming it:
    /// something other than lomob's archive is behind the markers).
    pub(crate) fn unhide_copy(
        &self,
        site: &Arc<dyn Backend>,
        key: &str,
        size: u64,
    ) -> Result<bool> {
        let back = self.rt.block_on(async {
            if !site.undelete(key).await? {
                return Ok(None);
            }
            site.head(key).await.map(Some)
        })?;
        match back {
            None => Ok(false),
            Some(info) if info.size == size => Ok(true),
            Some(info) => Err(Error::failed(format!(
                "site {}: {key} brought back from behind its delete marker is {} bytes, {size} recorded",
                site.name(),
                info.size
            ))),
        }
    }
}
