//! Copies in a cold storage class (S3 Glacier Deep Archive): what thawing
//! one costs and takes, one restore request per object and run, and the
//! wait until every object asked for is readable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lomo_remote::{Backend, RestoreRequest, RestoreStatus, RestoreTier};

use super::plan::Candidate;
use crate::cost::Prices;
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};
use crate::sites::SiteConfig;

/// What a restore from a cold tier costs and takes, from the site's price
/// table: retrieval per GB and per 1000 requests by tier, and transfer out
/// per GB for what is read, which dominates a full restore.
pub(crate) fn estimate(c: &Candidate, (p, hours): (&Prices, u32), tier: RestoreTier) -> String {
    let (per_gb, per_1000) = match tier {
        RestoreTier::Bulk => (p.bulk_gb, p.bulk_per_1000),
        RestoreTier::Standard => (p.standard_gb, p.standard_per_1000),
        // Not offered for Deep Archive; Glacier Flexible Retrieval prices.
        RestoreTier::Expedited => (0.03, 10.0),
    };
    let gb = |b: u64| b as f64 / 1e9;
    let (stored, read) = (c.object_size(), c.read_size());
    format!(
        "{} on site {} is in a cold storage class: restoring it ({:.2} GB, {tier:?} tier) costs about ${:.4} retrieval + ${:.4} request, plus ${:.4} transfer out for the {:.3} GB read; ready within {hours} h",
        c.what(),
        c.site(),
        gb(stored),
        gb(stored) * per_gb,
        per_1000 / 1000.0,
        gb(read) * p.transfer_out_gb,
        gb(read)
    )
}

/// The cold objects one restore asked to thaw.
pub(crate) struct Thaws {
    tier: RestoreTier,
    wait: Option<Duration>,
    /// (site, key) → the site and a name for messages.
    asked: BTreeMap<(String, String), (Arc<dyn Backend>, String)>,
}

impl Thaws {
    pub(crate) fn new(tier: RestoreTier, wait: Option<Duration>) -> Thaws {
        Thaws {
            tier,
            wait,
            asked: BTreeMap::new(),
        }
    }

    /// Whether the restore waits for thaws.
    pub(crate) fn waits(&self) -> bool {
        self.wait.is_some()
    }

    /// Asks for a readable copy of `c`'s object, once per object and run,
    /// saying first what it costs.
    pub(crate) fn request(
        &mut self,
        rt: &tokio::runtime::Runtime,
        progress: &dyn Progress,
        (site, c): (&Arc<dyn Backend>, &Candidate),
        (prices, cfg): (&Prices, Option<&SiteConfig>),
    ) -> Result<()> {
        let id = (c.site().to_owned(), c.key().to_owned());
        if self.asked.contains_key(&id) {
            return Ok(());
        }
        let hours = cfg.map_or(48, |cfg| crate::cost::thaw_hours(cfg, self.tier));
        progress.event(&Event::Notice(estimate(c, (prices, hours), self.tier)));
        let req = RestoreRequest {
            days: 7,
            tier: self.tier,
        };
        rt.block_on(site.restore(c.key(), req)).map_err(|e| {
            Error::from(e).context(format!(
                "requesting a restore of {} on site {}",
                c.what(),
                c.site()
            ))
        })?;
        self.asked.insert(id, (site.clone(), c.what()));
        Ok(())
    }

    /// Why a file waiting on `c` is not restored when the restore does not wait.
    pub(crate) fn not_waiting(c: &Candidate) -> Error {
        Error::failed(format!(
            "{} on site {} is being restored from its cold storage class; run `lomob restore` again when it is ready, or add --wait",
            c.what(),
            c.site()
        ))
    }

    /// Polls every object asked for until all are readable (each object's
    /// error, if its status cannot be read, is returned by key).
    pub(crate) fn wait_all(
        &self,
        rt: &tokio::runtime::Runtime,
        progress: &dyn Progress,
    ) -> HashMap<(String, String), Error> {
        let Some(poll) = self.wait else {
            return HashMap::new();
        };
        let mut failed = HashMap::new();
        let mut waiting: Vec<&(String, String)> = self.asked.keys().collect();
        while !waiting.is_empty() {
            waiting.retain(|id| {
                let (site, what) = &self.asked[*id];
                match rt.block_on(site.head(&id.1)).map(|h| h.restore) {
                    Ok(Some(RestoreStatus::Ready { .. } | RestoreStatus::NotNeeded) | None) => {
                        false
                    }
                    Ok(_) => true,
                    Err(e) => {
                        let e = Error::from(e).context(format!("checking the restore of {what}"));
                        failed.insert((*id).clone(), e);
                        false
                    }
                }
            });
            if waiting.is_empty() {
                break;
            }
            let names: Vec<String> = waiting
                .iter()
                .map(|id| format!("{} on site {}", self.asked[*id].1, id.0))
                .collect();
            progress.event(&Event::Notice(format!(
                "waiting for the restore of {}…",
                names.join(", ")
            )));
            std::thread::sleep(poll);
        }
        failed
    }
}
