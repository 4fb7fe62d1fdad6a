//! `lomob cost`: what the sites cost per month, what uploading cost, what the
//! monthly checks cost, and what a full restore would cost, from the catalog
//! and a price table (list prices, us-east-1, 2026; `[prices.CLASS]` in the
//! config overrides them), next to the requests actually counted.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::config::{Role, SiteConfig};
use crate::output::Out;
use crate::sites;
use crate::units::{human_bytes, parse_size};

#[derive(Debug, Args)]
pub(crate) struct CostArgs {
    /// Only this site
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Estimate for a library of this size instead of the catalog's (e.g. 250GB)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "files")]
    what_if: Option<u64>,
    /// Number of files in the `--what-if` library
    #[arg(long, value_name = "N")]
    files: Option<u64>,
    /// Archive size for `--what-if`
    #[arg(long, value_name = "SIZE", default_value = "5G", value_parser = parse_size)]
    pack_size: u64,
}

/// Prices of one storage class, in dollars.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Prices {
    /// Storage per GB-month.
    pub(crate) storage_gb_month: f64,
    /// PUT/COPY/POST/LIST per 1000 requests.
    pub(crate) put_per_1000: f64,
    /// GET/HEAD per 1000 requests.
    pub(crate) get_per_1000: f64,
    /// Bulk retrieval per GB and per 1000 restore requests.
    pub(crate) bulk_gb: f64,
    pub(crate) bulk_per_1000: f64,
    /// Standard retrieval per GB and per 1000 restore requests.
    pub(crate) standard_gb: f64,
    pub(crate) standard_per_1000: f64,
    /// Transfer out to the internet per GB.
    pub(crate) transfer_out_gb: f64,
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
    }
}

/// Default price table (list prices; check your provider's).
fn default_prices() -> BTreeMap<&'static str, Prices> {
    BTreeMap::from([
        (
            "STANDARD",
            p(0.023, 0.005, 0.0004, (0.0, 0.0), (0.0, 0.0), 0.09),
        ),
        (
            "GLACIER",
            p(0.0036, 0.03, 0.0004, (0.0, 0.025), (0.01, 0.05), 0.09),
        ),
        (
            "DEEP_ARCHIVE",
            p(0.00099, 0.05, 0.0004, (0.0025, 0.025), (0.02, 0.10), 0.09),
        ),
        (
            "GCS_ARCHIVE",
            p(0.0012, 0.10, 0.05, (0.05, 0.0), (0.05, 0.0), 0.12),
        ),
        (
            "AZURE_ARCHIVE",
            p(0.002, 0.13, 6.5, (0.022, 0.0), (0.022, 0.0), 0.087),
        ),
        ("FREE", p(0.0, 0.0, 0.0, (0.0, 0.0), (0.0, 0.0), 0.0)),
    ])
}

/// The price class of a site's archives (and of its staged objects).
fn classes(cfg: &SiteConfig) -> (String, &'static str) {
    let scheme = cfg.url.split("://").next().unwrap_or("");
    let class = cfg
        .storage_class
        .as_deref()
        .unwrap_or("STANDARD")
        .to_ascii_uppercase();
    match scheme {
        "file" | "gdrive" => ("FREE".into(), "FREE"),
        "gs" if class == "ARCHIVE" => ("GCS_ARCHIVE".into(), "STANDARD"),
        "az" | "azure" if class == "ARCHIVE" => ("AZURE_ARCHIVE".into(), "STANDARD"),
        _ => (class, "STANDARD"),
    }
}

fn gb(b: u64) -> f64 {
    b as f64 / 1e9
}

pub(crate) fn run(ctx: &Ctx, args: &CostArgs) -> Result<Outcome> {
    let mut prices: BTreeMap<String, Prices> = default_prices()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    prices.extend(ctx.config.prices.clone());
    let all = sites::configured_or_default(ctx, false)?;
    let sites_list: Vec<&SiteConfig> = all
        .iter()
        .filter(|s| args.site.as_ref().is_none_or(|n| *n == s.name))
        .collect();
    let catalog = if args.what_if.is_none() {
        Some(ctx.existing_catalog()?)
    } else {
        None
    };
    let mut out = Out::new(ctx.global.json);
    let since = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * 92))
        .unwrap_or(jiff::Timestamp::now())
        .strftime("%Y-%m-01")
        .to_string();
    let ledger = match &catalog {
        Some(c) => c.ledger(&since)?,
        None => Vec::new(),
    };
    for cfg in sites_list {
        let (archive_class, staging_class) = classes(cfg);
        let Some(pa) = prices.get(&archive_class).copied() else {
            anyhow::bail!(
                "no prices for storage class {archive_class} (site {}): add [prices.{archive_class}] to the config",
                cfg.name
            );
        };
        let ps = prices.get(staging_class).copied().unwrap_or(pa);
        // What the site holds.
        // Archive uploads: a create, its 32 MiB parts and a complete each.
        let part = 32u64 << 20;
        let (archives, archive_bytes, parts, staged, staged_bytes) = match (&catalog, args.what_if)
        {
            (_, Some(size)) if matches!(cfg.role, Role::Archive | Role::Both) => {
                let pack = args.pack_size.max(1);
                let (full, rest) = (size / pack, size % pack);
                let n = full + u64::from(rest > 0);
                let parts = full * (pack.div_ceil(part) + 2)
                    + if rest > 0 { rest.div_ceil(part) + 2 } else { 0 };
                (n, size, parts, 0, 0)
            }
            (Some(c), None) => {
                let (mut n, mut bytes, mut parts) = (0, 0, 0);
                for a in c.archives()? {
                    for copy in c.archive_copies(a.id)? {
                        if copy.site == cfg.name && copy.done_at.is_some() {
                            let size = copy.size.unwrap_or(a.size);
                            n += 1;
                            bytes += size;
                            parts += size.div_ceil(part) + 2;
                        }
                    }
                }
                let st = c.staged_on(&cfg.name)?;
                (
                    n,
                    bytes,
                    parts,
                    st.len() as u64,
                    st.iter().map(|s| s.size).sum(),
                )
            }
            _ => (0, 0, 0, 0, 0),
        };
        let storage =
            gb(archive_bytes) * pa.storage_gb_month + gb(staged_bytes) * ps.storage_gb_month;
        let upload =
            parts as f64 * pa.put_per_1000 / 1000.0 + staged as f64 * ps.put_per_1000 / 1000.0;
        // Daily staging check: one LIST per 1000 objects; monthly archive check: one LIST and a HEAD per archive.
        let checks = 30.0 * (staged.div_ceil(1000).max(1)) as f64 * ps.put_per_1000 / 1000.0
            + (1.0 * pa.put_per_1000 + archives as f64 * pa.get_per_1000) / 1000.0;
        let restore = |gbp: f64, per1000: f64| {
            gb(archive_bytes) * gbp
                + archives as f64 * per1000 / 1000.0
                + gb(archive_bytes + staged_bytes) * pa.transfer_out_gb
        };
        let (bulk, standard) = (
            restore(pa.bulk_gb, pa.bulk_per_1000),
            restore(pa.standard_gb, pa.standard_per_1000),
        );
        let measured: Vec<_> = ledger.iter().filter(|l| l.site == cfg.name).collect();
        let (ma, mb, msent) = measured.iter().fold((0, 0, 0), |(a, b, s), l| {
            (
                a + l.requests.class_a,
                b + l.requests.class_b,
                s + l.requests.bytes_sent,
            )
        });
        let measured_cost =
            ma as f64 * pa.put_per_1000 / 1000.0 + mb as f64 * pa.get_per_1000 / 1000.0;
        if out.json() {
            out.record(&json!({
                "site": cfg.name, "class": archive_class, "archives": archives, "archive_bytes": archive_bytes,
                "staged": staged, "staged_bytes": staged_bytes,
                "storage_per_month": storage, "upload_requests": parts + staged, "upload_cost": upload,
                "checks_per_month": checks, "full_restore_bulk": bulk, "full_restore_standard": standard,
                "measured_since": since, "measured_class_a": ma, "measured_class_b": mb,
                "measured_bytes_sent": msent, "measured_cost": measured_cost,
            }))?;
        } else {
            out.line(&format!(
                "{} ({archive_class}): {archives} archives ({}), {staged} staged objects ({})",
                cfg.name,
                human_bytes(archive_bytes),
                human_bytes(staged_bytes)
            ))?;
            out.line(&format!("  storage            ${storage:.2} a month"))?;
            out.line(&format!(
                "  uploading          ${upload:.4} once ({} PUT-class requests)",
                parts + staged
            ))?;
            out.line(&format!("  checks             ${checks:.4} a month (daily staging, monthly archives; metadata only)"))?;
            out.line(&format!("  full restore       ${bulk:.2} bulk, ${standard:.2} standard (retrieval + requests + transfer out)"))?;
            if let (Some(_), Some(files), true) = (args.what_if, args.files, archives > 0) {
                // The alternative lomob avoids: one cold object per file, each
                // with ~40 KB of index overhead (32 KB billed cold, 8 KB standard).
                let puts = files as f64 * pa.put_per_1000 / 1000.0;
                let overhead = files as f64
                    * (32e3 / 1e9 * pa.storage_gb_month + 8e3 / 1e9 * ps.storage_gb_month);
                out.line(&format!(
                    "  one object per file instead: ${puts:.2} of PUTs ({files} requests) and ${overhead:.4} a month of per-object overhead"
                ))?;
            }
            if args.what_if.is_none() {
                out.line(&format!(
                    "  counted since {since}: {ma} PUT/LIST + {mb} GET/HEAD requests, {} sent ≈ ${measured_cost:.4}",
                    human_bytes(msent)
                ))?;
            }
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
