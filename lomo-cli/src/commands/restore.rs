//! `lomob restore PATH... --to DIR`: files come back from the sites as
//! `DIR/<root folder name>/<path relative to its root>`, decrypted,
//! checked against the catalog's BLAKE3, with their mtimes.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use lomob::{FileOutcome, RestoreOptions, RestoreReport};
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, human_bytes};

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// What to restore: `ROOT/PATH` as restores name it (e.g. Pictures/2019),
    /// an absolute original path, or `/` for everything. The seed's forms
    /// `restore gdrive [PATH...]` and `restore aws [PATH...]` restore from
    /// the Google Drive or S3 sites only.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// The files as they were at this time: a date (its end, local time),
    /// `YYYY-MM-DDTHH:MM[:SS]` local time, or an RFC 3339 timestamp
    #[arg(long, value_name = "DATE", value_parser = lomob::parse_as_of)]
    as_of: Option<i64>,
    /// Folder to restore into (created; existing files are never overwritten)
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Retrieval tier for archives in a cold storage class: bulk (cheapest), standard, expedited (Azure: bulk and standard ask for Standard priority, expedited for High)
    #[arg(long, value_name = "TIER")]
    tier: Option<lomob::lomo_remote::RestoreTier>,
    /// Wait for cold restores to finish (checking every SECS seconds) instead of stopping
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "900")]
    wait: Option<u64>,
    /// Print the plan (per site: what is read, what must be thawed from a
    /// cold tier, the cost per tier, the wait) and restore nothing
    #[arg(long)]
    dry_run: bool,
    /// Reads in flight at once (default: 2–4 for folder sites, by cores;
    /// 8 for sites reached over a network)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    parallel: Option<u16>,
}

pub(crate) fn run(ctx: &Ctx, args: &RestoreArgs) -> Result<Outcome> {
    let mut engine = ctx.engine(Open::EXISTING)?;
    let labels = engine.catalog().root_labels()?;
    let (scheme, paths) = lomob::split_alias(&args.paths, &labels);
    let mut opts = RestoreOptions::new(paths, &args.to);
    opts.as_of = args.as_of;
    opts.tier = args.tier.unwrap_or_default();
    opts.wait = args.wait.map(std::time::Duration::from_secs);
    opts.only_scheme = scheme.map(str::to_owned);
    opts.dry_run = args.dry_run;
    opts.parallel = args.parallel.map(usize::from);
    let report = engine.restore(&opts)?;
    match &report.plan {
        Some(plan) => render_plan(ctx, plan),
        None => render(ctx, &report),
    }
}

/// The dry run: one line per site, then the total.
fn render_plan(ctx: &Ctx, plan: &lomob::RestorePlan) -> Result<Outcome> {
    let mut out = Out::new(ctx.global.json);
    let mut total = (0.0, 0.0);
    for p in &plan.sites {
        let (bulk, standard) = (p.cost["bulk"], p.cost["standard"]);
        total = (total.0 + bulk, total.1 + standard);
        let thaw = if p.thaw_objects == 0 {
            "nothing to thaw".to_owned()
        } else {
            format!(
                "{} object(s) to thaw ({}), ready within {} h bulk / {} h standard",
                p.thaw_objects,
                human_bytes(p.thaw_bytes),
                p.wait_hours["bulk"],
                p.wait_hours["standard"]
            )
        };
        out.record_or_line(
            p,
            &format!(
                "{}: {} files from {} object(s), {} to read; {thaw}; about ${bulk:.4} bulk, ${standard:.4} standard",
                p.site,
                p.files,
                p.objects,
                human_bytes(p.bytes)
            ),
        )?;
    }
    out.record_or_line(
        &json!({"total_bulk": total.0, "total_standard": total.1, "unavailable": plan.unavailable}),
        &format!(
            "in all about ${:.4} (bulk) or ${:.4} (standard); {} file(s) on no usable site; nothing was restored or requested (--dry-run)",
            total.0, total.1, plan.unavailable
        ),
    )?;
    out.flush()?;
    Ok(Outcome::from_attention(plan.unavailable > 0))
}

/// Each file's line (failures on stderr), then the summary.
pub(crate) fn render(ctx: &Ctx, r: &RestoreReport) -> Result<Outcome> {
    let mut out = Out::new(ctx.global.json);
    for f in &r.files {
        let path = f.path.display().to_string();
        match &f.outcome {
            FileOutcome::Restored { from } => out.record_or_line(
                &json!({"path": path, "from": from, "bytes": f.bytes}),
                &format!("restored {path} (from {from})"),
            )?,
            FileOutcome::AlreadyThere => out.record_or_line(
                &json!({"path": path, "skipped": "already there"}),
                &format!("already there: {path}"),
            )?,
            FileOutcome::Failed { error } => {
                eprintln!("lomob: error: {path}: {error}");
                if out.json() {
                    out.record(&json!({"path": path, "error": error}))?;
                }
            }
        }
    }
    out.record_or_line(
        &json!({"restored": r.restored, "bytes": r.bytes, "failed": r.failed, "to": r.to.display().to_string()}),
        &format!(
            "{} files restored ({}) into {}, {} failed",
            r.restored,
            human_bytes(r.bytes),
            r.to.display(),
            r.failed
        ),
    )?;
    out.flush()?;
    Ok(Outcome::from_attention(r.failed > 0))
}
