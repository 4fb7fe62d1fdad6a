//! Copies in a cold storage class (S3 Glacier Deep Archive): what thawing
//! one costs and takes, one restore request per object and run, and the
//! wait until it is readable.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lomo_catalog::{ArchiveCopy, ArchivedAt};
use lomo_remote::{Backend, RestoreRequest, RestoreStatus, RestoreTier};

use crate::error::{Error, Result};
use crate::progress::{Event, Progress};

/// How cold copies are handled during one restore.
pub(crate) struct Cold {
    tier: RestoreTier,
    wait: Option<Duration>,
    requested: HashSet<String>,
}

/// What a restore from a cold tier costs and takes, from S3 Glacier Deep
/// Archive list prices (us-east-1, 2026): retrieval per GB and per 1000
/// requests by tier, and transfer out per GB, which dominates a full restore.
pub(crate) fn estimate(
    archive: &str,
    site: &str,
    stored: u64,
    read: u64,
    tier: RestoreTier,
) -> String {
    let (per_gb, per_1000, hours) = match tier {
        RestoreTier::Bulk => (0.0025, 0.025, 48),
        RestoreTier::Standard => (0.02, 0.10, 12),
        // Not offered for Deep Archive; Glacier Flexible Retrieval prices.
        RestoreTier::Expedited => (0.03, 10.0, 1),
    };
    let gb = |b: u64| b as f64 / 1e9;
    format!(
        "{archive} on site {site} is in a cold storage class: restoring it ({:.2} GB, {tier:?} tier) costs about ${:.4} retrieval + ${:.4} request, plus ${:.4} transfer out for the {:.3} GB read; ready within {hours} h",
        gb(stored),
        gb(stored) * per_gb,
        per_1000 / 1000.0,
        gb(read) * 0.09,
        gb(read)
    )
}

impl Cold {
    pub(crate) fn new(tier: RestoreTier, wait: Option<Duration>) -> Cold {
        Cold {
            tier,
            wait,
            requested: HashSet::new(),
        }
    }

    /// Asks for a readable copy of `copy` (the cost first, once per object
    /// and run), then waits for it when told to; without a wait the error
    /// says to come back.
    pub(crate) fn thaw(
        &mut self,
        rt: &tokio::runtime::Runtime,
        progress: &dyn Progress,
        site: &Arc<dyn Backend>,
        copy: &ArchiveCopy,
        at: &ArchivedAt,
    ) -> Result<()> {
        let req = RestoreRequest {
            days: 7,
            tier: self.tier,
        };
        if self
            .requested
            .insert(format!("{}\0{}", copy.site, copy.key))
        {
            let stored = copy.size.unwrap_or(at.archive.size);
            progress.event(&Event::Notice(estimate(
                &at.archive.name,
                &copy.site,
                stored,
                at.size,
                req.tier,
            )));
            rt.block_on(site.restore(&copy.key, req)).map_err(|e| {
                Error::from(e).context(format!(
                    "requesting a restore of {} on site {}",
                    at.archive.name, copy.site
                ))
            })?;
        }
        let Some(poll) = self.wait else {
            return Err(Error::failed(format!(
                "{} on site {} is being restored from its cold storage class; run `lomob restore` again when it is ready, or add --wait",
                at.archive.name, copy.site
            )));
        };
        loop {
            let status = rt
                .block_on(site.head(&copy.key))
                .map_err(|e| Error::from(e).context("checking the restore"))?
                .restore;
            if matches!(
                status,
                Some(RestoreStatus::Ready { .. } | RestoreStatus::NotNeeded)
            ) {
                return Ok(());
            }
            progress.event(&Event::Notice(format!(
                "waiting for the restore of {} on site {}…",
                at.archive.name, copy.site
            )));
            std::thread::sleep(poll);
        }
    }
}
