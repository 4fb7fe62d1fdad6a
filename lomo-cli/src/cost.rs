//! What the sites cost per month, what uploading cost, what the monthly
//! checks cost, and what a full restore would cost, from the catalog (or a
//! hypothetical library) and a price table (list prices, us-east-1, 2026;
//! overridable per storage class), next to the requests actually counted.

use std::collections::BTreeMap;

use lomo_catalog::{Catalog, LedgerDay};
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::sites::SiteConfig;

/// What to price.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CostOptions {
    /// Only this site.
    pub site: Option<String>,
    /// A hypothetical library instead of the catalog's.
    pub what_if: Option<WhatIf>,
}

/// A hypothetical library, for `--what-if`.
#[derive(Debug, Clone, Copy)]
pub struct WhatIf {
    /// Its bytes.
    pub bytes: u64,
    /// Its files.
    pub files: u64,
    /// The archive size it is packed in.
    pub pack_size: u64,
}

/// Prices of one storage class, in dollars.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Storage per GB-month.
    pub storage_gb_month: f64,
    /// PUT/COPY/POST/LIST per 1000 requests.
    pub put_per_1000: f64,
    /// GET/HEAD per 1000 requests.
    pub get_per_1000: f64,
    /// Bulk retrieval per GB.
    pub bulk_gb: f64,
    /// Bulk retrieval per 1000 restore requests.
    pub bulk_per_1000: f64,
    /// Standard retrieval per GB.
    pub standard_gb: f64,
    /// Standard retrieval per 1000 restore requests.
    pub standard_per_1000: f64,
    /// Transfer out to the internet per GB.
    pub transfer_out_gb: f64,
    /// Minimum storage duration in days: an object deleted or replaced
    /// sooner is billed for the rest (Deep Archive 180).
    #[serde(default)]
    pub min_days: u32,
}

const fn p(
    storage: f64,
    put: f64,
    get: f64,
    bulk: (f64, f64),
    standard: (f64, f64),
    out: f64,
) -> Prices {
    Prices {
        storage_gb_month: storage,
        put_per_1000: put,
        get_per_1000: get,
        bulk_gb: bulk.0,
        bulk_per_1000: bulk.1,
        standard_gb: standard.0,
        standard_per_1000: standard.1,
        transfer_out_gb: out,
        min_days: 0,
    }
}

const fn min_days(mut p: Prices, days: u32) -> Prices {
    p.min_days = days;
    p
}

/// Default price table (list prices; check your provider's).
pub fn default_prices() -> BTreeMap<&'static str, Prices> {
    BTreeMap::from([
        (
            "STANDARD",
            p(0.023, 0.005, 0.0004, (0.0, 0.0), (0.0, 0.0), 0.09),
        ),
        (
            "GLACIER",
            min_days(
                p(0.0036, 0.03, 0.0004, (0.0, 0.025), (0.01, 0.05), 0.09),
                90,
            ),
        ),
        (
            "DEEP_ARCHIVE",
            min_days(
                p(0.00099, 0.05, 0.0004, (0.0025, 0.025), (0.02, 0.10), 0.09),
                180,
            ),
        ),
        (
            "GCS_ARCHIVE",
            min_days(p(0.0012, 0.10, 0.05, (0.05, 0.0), (0.05, 0.0), 0.12), 365),
        ),
        (
            "AZURE_ARCHIVE",
            min_days(p(0.002, 0.13, 6.5, (0.022, 0.0), (0.022, 0.0), 0.087), 180),
        ),
        ("FREE", p(0.0, 0.0, 0.0, (0.0, 0.0), (0.0, 0.0), 0.0)),
    ])
}

/// The price class of a site's archives (and of its staged objects).
fn classes(cfg: &SiteConfig) -> (String, &'static str) {
    let scheme = cfg.url.split("://").next().unwrap_or("");
    let class = cfg
        .archive_class()
        .unwrap_or_else(|| "STANDARD".to_owned())
        .to_ascii_uppercase();
    match scheme {
        "file" | "gdrive" => ("FREE".into(), "FREE"),
        "gs" if class == "ARCHIVE" => ("GCS_ARCHIVE".into(), "STANDARD"),
        "az" | "azure" if class == "ARCHIVE" => ("AZURE_ARCHIVE".into(), "STANDARD"),
        _ => (class, "STANDARD"),
    }
}

impl Prices {
    /// Nothing costs anything (folders, Drive).
    pub fn free() -> Prices {
        p(0.0, 0.0, 0.0, (0.0, 0.0), (0.0, 0.0), 0.0)
    }
}

/// The default table with `overrides` applied.
fn table(overrides: &BTreeMap<String, Prices>) -> BTreeMap<String, Prices> {
    let mut prices: BTreeMap<String, Prices> = default_prices()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    prices.extend(overrides.clone());
    prices
}

/// The most hours a thaw of `cfg`'s archive class takes at `tier`, as the
/// provider documents it: Deep Archive 48 h bulk, 12 h standard; Glacier
/// Flexible Retrieval 12 h, 5 h, minutes expedited; Azure's Archive tier
/// 15 h at Standard priority (bulk and standard here), 1 h at High
/// (expedited).
pub(crate) fn thaw_hours(cfg: &SiteConfig, tier: lomo_remote::RestoreTier) -> u32 {
    use lomo_remote::RestoreTier::{Bulk, Expedited, Standard};
    match (classes(cfg).0.as_str(), tier) {
        ("AZURE_ARCHIVE", Bulk | Standard) => 15,
        ("GLACIER", Bulk) => 12,
        ("GLACIER", Standard) => 5,
        (_, Expedited) => 1,
        (_, Bulk) => 48,
        (_, Standard) => 12,
    }
}

/// The prices of `cfg`'s archive class (free when the table lacks it).
pub(crate) fn archive_prices(cfg: &SiteConfig, overrides: &BTreeMap<String, Prices>) -> Prices {
    let (class, _) = classes(cfg);
    table(overrides)
        .get(&class)
        .copied()
        .unwrap_or_else(Prices::free)
}

fn gb(b: u64) -> f64 {
    b as f64 / 1e9
}

/// One site's costs (dollars).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SiteCost {
    /// The site.
    pub site: String,
    /// The price class of its archives.
    pub class: String,
    /// Archives it holds.
    pub archives: u64,
    /// Their bytes.
    pub archive_bytes: u64,
    /// Staged objects it holds.
    pub staged: u64,
    /// Their bytes.
    pub staged_bytes: u64,
    /// Storage a month.
    pub storage_per_month: f64,
    /// PUT-class requests the uploads cost.
    pub upload_requests: u64,
    /// What they cost, once.
    pub upload_cost: f64,
    /// The scheduled checks, a month (metadata only).
    pub checks_per_month: f64,
    /// Restoring everything, bulk tier.
    pub full_restore_bulk: f64,
    /// Restoring everything, standard tier.
    pub full_restore_standard: f64,
    /// First day of the measured figures.
    pub measured_since: String,
    /// PUT/LIST-class requests counted since then.
    pub measured_class_a: u64,
    /// GET/HEAD-class requests counted since then.
    pub measured_class_b: u64,
    /// Bytes sent since then.
    pub measured_bytes_sent: u64,
    /// What the counted requests cost.
    pub measured_cost: f64,
    /// The archive class's minimum storage duration in days.
    pub min_storage_days: u32,
    /// Replacing an average archive the day it was stored (a repair of a
    /// damaged copy) is billed for the rest of that duration: dollars.
    pub early_replacement_per_archive: f64,
    /// What Object Lock adds, on a site that locks its archives.
    pub lock: Option<LockCost>,
    /// For a hypothetical library: one cold object per file instead, its
    /// PUTs (dollars), requests and per-object overhead a month.
    #[serde(skip)]
    pub one_object_per_file: Option<(f64, u64, f64)>,
}

/// What locking a site's archives changes (dollars).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LockCost {
    /// COMPLIANCE or GOVERNANCE.
    pub mode: lomo_remote::LockMode,
    /// The policy in words (`COMPLIANCE for 10 years`).
    pub policy: String,
    /// How long each archive is locked, in days.
    pub days: u64,
    /// Bytes that cannot be deleted or replaced before their date.
    pub locked_bytes: u64,
    /// Early-deletion charges: none, since nothing locked is deleted
    /// before its date and every lock outlasts the class's minimum.
    pub early_deletion: f64,
    /// Extending every archive's retention once per lock period (one
    /// PUT-class request each), per year.
    pub extensions_per_year: f64,
    /// The locked, dated catalog copies (at most one per archive upload,
    /// about the catalog's size each, in the hot class): bytes, counted
    /// as one per archive.
    pub catalog_copies_bytes: u64,
    /// What those copies cost a month.
    pub catalog_copies_per_month: f64,
}

/// A catalog's size per file it knows, for `--what-if` (a scan of 5,000
/// files makes a 1.2 MB catalog; archive members and history add some).
const CATALOG_BYTES_PER_FILE: u64 = 400;

/// What a site holds, for pricing.
#[derive(Default)]
struct Holdings {
    archives: u64,
    archive_bytes: u64,
    parts: u64,
    staged: u64,
    staged_bytes: u64,
    /// The catalog's size: what each locked catalog copy weighs.
    catalog_bytes: u64,
}

/// PUT-class requests of one archive upload of `stored` bytes: a create,
/// the parts `send` cuts it into, and a complete.
fn upload_requests(stored: u64) -> u64 {
    let part = crate::backup::archive_part_size(stored, crate::backup::DEFAULT_PART);
    stored.div_ceil(part) + 2
}

/// The stored (sealed) size of an image of `plain` bytes.
fn sealed(plain: u64) -> u64 {
    lomo_crypt::stream::Layout::new(plain, lomo_crypt::stream::DEFAULT_CHUNK_LOG2).cipher_len()
}

fn holdings(
    cfg: &SiteConfig,
    catalog: Option<(
        &Catalog,
        &std::collections::HashMap<String, lomo_catalog::SiteTotals>,
    )>,
    what_if: Option<WhatIf>,
) -> Result<Holdings> {
    match (catalog, what_if) {
        (_, Some(w)) if cfg.role.archives() => {
            let pack = w.pack_size.max(1);
            let (full, rest) = (w.bytes / pack, w.bytes % pack);
            let stored = |plain: u64| if cfg.encrypt { sealed(plain) } else { plain };
            let parts = full * upload_requests(stored(pack))
                + if rest > 0 {
                    upload_requests(stored(rest))
                } else {
                    0
                };
            Ok(Holdings {
                archives: full + u64::from(rest > 0),
                archive_bytes: w.bytes,
                parts,
                catalog_bytes: w.files * CATALOG_BYTES_PER_FILE,
                ..Holdings::default()
            })
        }
        (Some((c, totals)), None) => {
            let mut h = Holdings::default();
            for a in c.archives()? {
                for copy in c.archive_copies(a.id)? {
                    if copy.site == cfg.name && copy.done_at.is_some() {
                        let size = copy.size.unwrap_or(a.size);
                        h.archives += 1;
                        h.archive_bytes += size;
                        h.parts += upload_requests(size);
                    }
                }
            }
            h.catalog_bytes = std::fs::metadata(c.path()).map_or(0, |m| m.len());
            // Totals by SQL: a million staged objects are not loaded to count them.
            let t = totals.get(&cfg.name).cloned().unwrap_or_default();
            h.staged = t.staged;
            h.staged_bytes = t.staged_bytes;
            Ok(h)
        }
        _ => Ok(Holdings::default()),
    }
}

/// Prices `sites` with `prices` (the defaults overridden), from `catalog`
/// or the hypothetical library in `opts`, next to the requests in `ledger`.
pub fn estimate(
    sites: &[SiteConfig],
    overrides: &BTreeMap<String, Prices>,
    catalog: Option<&Catalog>,
    opts: &CostOptions,
) -> Result<Vec<SiteCost>> {
    let prices = table(overrides);
    let since = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * 92))
        .unwrap_or(jiff::Timestamp::now())
        .strftime("%Y-%m-01")
        .to_string();
    let ledger = match catalog {
        Some(c) if opts.what_if.is_none() => c.ledger(&since)?,
        _ => Vec::new(),
    };
    // Counted once for every site: a GROUP BY over the staged copies.
    let totals = match catalog {
        Some(c) if opts.what_if.is_none() => Some(c.site_totals()?),
        _ => None,
    };
    let mut out = Vec::new();
    for cfg in sites
        .iter()
        .filter(|s| opts.site.as_ref().is_none_or(|n| *n == s.name))
    {
        let h = holdings(cfg, catalog.zip(totals.as_ref()), opts.what_if)?;
        out.push(site_cost(
            cfg,
            &prices,
            &h,
            (&since, &ledger),
            opts.what_if,
        )?);
    }
    Ok(out)
}

fn site_cost(
    cfg: &SiteConfig,
    prices: &BTreeMap<String, Prices>,
    h: &Holdings,
    (since, ledger): (&str, &[LedgerDay]),
    what_if: Option<WhatIf>,
) -> Result<SiteCost> {
    let (archive_class, staging_class) = classes(cfg);
    let Some(pa) = prices.get(&archive_class).copied() else {
        return Err(Error::invalid(format!(
            "no prices for storage class {archive_class} (site {}): add [prices.{archive_class}] to the config",
            cfg.name
        )));
    };
    let ps = prices.get(staging_class).copied().unwrap_or(pa);
    let storage =
        gb(h.archive_bytes) * pa.storage_gb_month + gb(h.staged_bytes) * ps.storage_gb_month;
    let upload =
        h.parts as f64 * pa.put_per_1000 / 1000.0 + h.staged as f64 * ps.put_per_1000 / 1000.0;
    // Daily staging check: one LIST per 1000 objects; monthly archive check: one LIST and a HEAD per archive.
    let checks = 30.0 * (h.staged.div_ceil(1000).max(1)) as f64 * ps.put_per_1000 / 1000.0
        + (1.0 * pa.put_per_1000 + h.archives as f64 * pa.get_per_1000) / 1000.0;
    let restore = |gbp: f64, per1000: f64| {
        gb(h.archive_bytes) * gbp
            + h.archives as f64 * per1000 / 1000.0
            + gb(h.archive_bytes + h.staged_bytes) * pa.transfer_out_gb
    };
    let measured: Vec<&LedgerDay> = ledger.iter().filter(|l| l.site == cfg.name).collect();
    let (ma, mb, msent) = measured.iter().fold((0, 0, 0), |(a, b, s), l| {
        (
            a + l.requests.class_a,
            b + l.requests.class_b,
            s + l.requests.bytes_sent,
        )
    });
    // The alternative lomob avoids: one cold object per file, each with
    // ~40 KB of index overhead (32 KB billed cold, 8 KB standard).
    let one_object_per_file = what_if.filter(|_| h.archives > 0).map(|w| {
        let puts = w.files as f64 * pa.put_per_1000 / 1000.0;
        let overhead =
            w.files as f64 * (32e3 / 1e9 * pa.storage_gb_month + 8e3 / 1e9 * ps.storage_gb_month);
        (puts, w.files, overhead)
    });
    Ok(SiteCost {
        site: cfg.name.clone(),
        class: archive_class,
        archives: h.archives,
        archive_bytes: h.archive_bytes,
        staged: h.staged,
        staged_bytes: h.staged_bytes,
        storage_per_month: storage,
        upload_requests: h.parts + h.staged,
        upload_cost: upload,
        checks_per_month: checks,
        full_restore_bulk: restore(pa.bulk_gb, pa.bulk_per_1000),
        full_restore_standard: restore(pa.standard_gb, pa.standard_per_1000),
        measured_since: since.to_owned(),
        measured_class_a: ma,
        measured_class_b: mb,
        measured_bytes_sent: msent,
        measured_cost: ma as f64 * pa.put_per_1000 / 1000.0 + mb as f64 * pa.get_per_1000 / 1000.0,
        min_storage_days: pa.min_days,
        early_replacement_per_archive: h.archive_bytes.checked_div(h.archives).map_or(0.0, |avg| {
            gb(avg) * pa.storage_gb_month * f64::from(pa.min_days) / 30.0
        }),
        lock: lock_cost(cfg, h, (&pa, &ps)),
        one_object_per_file,
    })
}

/// What locking `cfg`'s archives adds to holding `h` (archive prices
/// `pa`, hot `ps`); `None` on a site that does not lock.
fn lock_cost(cfg: &SiteConfig, h: &Holdings, (pa, ps): (&Prices, &Prices)) -> Option<LockCost> {
    let policy = cfg.lock_policy().ok().flatten()?;
    let days = policy.duration.days();
    let copies = h.archives * h.catalog_bytes;
    Some(LockCost {
        mode: policy.mode,
        policy: policy.to_string(),
        days,
        locked_bytes: h.archive_bytes + copies,
        early_deletion: 0.0,
        extensions_per_year: h.archives as f64 * pa.put_per_1000 / 1000.0 * 365.0
            / days.max(1) as f64,
        catalog_copies_bytes: copies,
        catalog_copies_per_month: gb(copies) * ps.storage_gb_month,
    })
}

impl Context {
    /// What each configured site costs, from the catalog.
    pub fn cost(&self, opts: &CostOptions) -> Result<Vec<SiteCost>> {
        estimate(
            &self.opts.sites,
            &self.opts.prices,
            Some(&self.catalog),
            opts,
        )
    }
}
