//! Which copies a restore reads: for every file its candidates in order
//! (staged copies, then archive copies on hot sites, then cold ones), and
//! for a dry run what reading them costs — bytes to thaw, requests,
//! transfer out, the wait — per site, before anything is asked of a site.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use lomo_catalog::{ArchiveCopy, ArchivedAt, Catalog, FileEntry};
use lomo_remote::{Backend, RestoreStatus};
use serde::Serialize;

use crate::cost::Prices;
use crate::error::Result;
use crate::sites::SiteConfig;

/// One copy of a file's content that a restore can read.
#[derive(Debug, Clone)]
pub(crate) enum Candidate {
    /// A staged object holding the content alone.
    Staged {
        /// Site name.
        site: String,
        /// Object key.
        key: String,
        /// Stored bytes.
        size: u64,
    },
    /// A range of an archive copy.
    Archived {
        /// The copy (site, key, header).
        copy: Box<ArchiveCopy>,
        /// Where the content sits in the image.
        at: Box<ArchivedAt>,
    },
}

impl Candidate {
    pub(crate) fn site(&self) -> &str {
        match self {
            Candidate::Staged { site, .. } => site,
            Candidate::Archived { copy, .. } => &copy.site,
        }
    }

    pub(crate) fn key(&self) -> &str {
        match self {
            Candidate::Staged { key, .. } => key,
            Candidate::Archived { copy, .. } => &copy.key,
        }
    }

    /// The whole object's stored size (what a thaw restores).
    pub(crate) fn object_size(&self) -> u64 {
        match self {
            Candidate::Staged { size, .. } => *size,
            Candidate::Archived { copy, at } => copy.size.unwrap_or(at.archive.size),
        }
    }

    /// What the restore reads of it.
    pub(crate) fn read_size(&self) -> u64 {
        match self {
            Candidate::Staged { size, .. } => *size,
            Candidate::Archived { at, .. } => at.size,
        }
    }

    /// A name for messages: the archive, or the staged object.
    pub(crate) fn what(&self) -> String {
        match self {
            Candidate::Staged { key, .. } => format!("staged object {key}"),
            Candidate::Archived { at, .. } => at.archive.name.clone(),
        }
    }
}

/// The copies of `f`'s content, in the order a restore tries them.
pub(crate) fn candidates(
    catalog: &Catalog,
    sites: &[SiteConfig],
    f: &FileEntry,
) -> Result<Vec<Candidate>> {
    let Some(hash) = f.hash else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Candidate> = catalog
        .staged_copies(&hash)?
        .into_iter()
        .map(|c| Candidate::Staged {
            site: c.site,
            key: c.key,
            size: c.size,
        })
        .collect();
    let mut archived = Vec::new();
    for at in catalog.archived_at(&hash)? {
        for copy in catalog.archive_copies(at.archive.id)? {
            if copy.done_at.is_some() {
                let cold = sites.iter().any(|s| s.name == copy.site && s.is_cold());
                archived.push((
                    cold,
                    copy.site.clone(),
                    Candidate::Archived {
                        copy: Box::new(copy),
                        at: Box::new(at.clone()),
                    },
                ));
            }
        }
    }
    // Cheapest and fastest first: copies in a cold storage class last.
    archived.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out.extend(archived.into_iter().map(|(_, _, c)| c));
    Ok(out)
}

/// What reading from one site costs in a restore.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SitePlan {
    /// The site.
    pub site: String,
    /// Files read from it.
    pub files: u64,
    /// Objects read (a staged object or an archive each).
    pub objects: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Objects in a cold storage class that need a restore request first.
    pub thaw_objects: u64,
    /// Their stored bytes (a thaw restores whole objects).
    pub thaw_bytes: u64,
    /// Cost by tier in dollars (retrieval + requests + transfer out):
    /// `bulk`, `standard`.
    pub cost: BTreeMap<String, f64>,
    /// How long the thaw takes, by tier, in hours (0: nothing to thaw).
    pub wait_hours: BTreeMap<String, u32>,
}

/// A restore's plan: what would be read where, before anything is asked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestorePlan {
    /// One entry per site read.
    pub sites: Vec<SitePlan>,
    /// Files no site holds (or whose sites are not configured).
    pub unavailable: u64,
}

/// A dry run's counts, gathered one file at a time.
#[derive(Default)]
pub(crate) struct Tally {
    /// Per site read.
    pub(crate) per_site: BTreeMap<String, SitePlan>,
    /// (site, key) of every object counted.
    pub(crate) seen: HashSet<(String, String)>,
    /// Files no site holds.
    pub(crate) unavailable: u64,
}

/// Whether `c`'s object needs a thaw: one HEAD where the site has cold
/// tiers (a dry run asks once per object).
pub(crate) fn is_cold(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    c: &Candidate,
) -> bool {
    site.capabilities().restore
        && matches!(
            rt.block_on(site.head(c.key())).map(|h| h.restore),
            Ok(Some(
                RestoreStatus::NotRequested | RestoreStatus::InProgress
            ))
        )
}

/// The prices of a site's archive class (what a thaw of it costs).
pub(crate) fn thaw_prices(cfg: &SiteConfig, overrides: &BTreeMap<String, Prices>) -> Prices {
    crate::cost::archive_prices(cfg, overrides)
}

impl SitePlan {
    /// Fills in the costs and waits (at most `hours` for a bulk and a
    /// standard thaw) from the counts.
    pub(crate) fn price(&mut self, p: &Prices, [bulk, standard]: [u32; 2]) {
        let gb = |b: u64| b as f64 / 1e9;
        let tiers = [
            ("bulk", p.bulk_gb, p.bulk_per_1000, bulk),
            ("standard", p.standard_gb, p.standard_per_1000, standard),
        ];
        for (tier, per_gb, per_1000, hours) in tiers {
            let cost = gb(self.thaw_bytes) * per_gb
                + self.thaw_objects as f64 * per_1000 / 1000.0
                + gb(self.bytes) * p.transfer_out_gb
                + self.objects as f64 * p.get_per_1000 / 1000.0;
            self.cost.insert(tier.to_owned(), cost);
            self.wait_hours.insert(
                tier.to_owned(),
                if self.thaw_objects > 0 { hours } else { 0 },
            );
        }
    }
}
