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
    /// Retrieval tier for archives in a cold storage class: bulk (cheapest), standard, expedited
    #[arg(long, value_name = "TIER")]
    tier: Option<lomob::lomo_remote::RestoreTier>,
    /// Wait for cold restores to finish (checking every SECS seconds) instead of stopping
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "900")]
    wait: Option<u64>,
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
    let report = engine.restore(&opts)?;
    render(ctx, &report)
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
