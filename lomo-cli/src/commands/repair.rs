//! `lomob repair [--site NAME] [--dry-run]`: checks the sites, then makes
//! whole what is missing or damaged (see [`lomob::Context::repair`]).

use anyhow::{Result, bail};
use clap::Args;
use lomob::{RepairOptions, RepairOutcome};
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::Out;

#[derive(Debug, Args)]
pub(crate) struct RepairArgs {
    /// Only this site
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Say what would be repaired and from where; change nothing
    #[arg(long)]
    dry_run: bool,
}

pub(crate) fn run(ctx: &Ctx, args: &RepairArgs) -> Result<Outcome> {
    let mut engine = ctx.engine(Open::EXISTING)?;
    let mut opts = RepairOptions::default();
    opts.site.clone_from(&args.site);
    opts.dry_run = args.dry_run;
    let report = engine.repair(&opts)?;
    let mut out = Out::new(ctx.global.json);
    for a in &report.actions {
        let from = a.source.as_deref().unwrap_or("nowhere");
        let text = match &a.outcome {
            RepairOutcome::Repaired => {
                format!("{}: repaired {} ({}) from {from}", a.site, a.what, a.key)
            }
            RepairOutcome::Planned => format!(
                "{}: would repair {} ({}) from {from}",
                a.site, a.what, a.key
            ),
            RepairOutcome::NoSource => format!(
                "{}: cannot repair {} ({}): no copy or file holds it ({})",
                a.site, a.what, a.key, a.problem
            ),
            RepairOutcome::Failed { error } => format!(
                "{}: repair of {} ({}) failed: {error}",
                a.site, a.what, a.key
            ),
        };
        out.record_or_line(a, &text)?;
    }
    let repaired = report
        .actions
        .iter()
        .filter(|a| a.outcome == RepairOutcome::Repaired)
        .count();
    out.record_or_line(
        &json!({"found": report.actions.len(), "repaired": repaired, "dry_run": args.dry_run}),
        &match (report.actions.len(), args.dry_run) {
            (0, _) => "nothing missing or damaged".to_owned(),
            (n, true) => format!("{n} object(s) to repair; nothing was changed (--dry-run)"),
            (n, false) => format!("{repaired} of {n} object(s) repaired"),
        },
    )?;
    out.flush()?;
    if let Some(e) = report.check.error() {
        bail!("{e}");
    }
    Ok(Outcome::from_attention(report.needs_attention()))
}
