//! `lomob check --staging|--archives`: every staging or archive site against
//! the catalog (see [`lomob::Context::check`]). Exit 0 all good, 1
//! differences, 2 a site could not be checked.

use anyhow::{Result, bail};
use clap::Args;
use lomob::{CheckKind, CheckOptions, CheckReport};
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::Out;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Check the staging sites
    #[arg(long)]
    staging: bool,
    /// Check the archive sites (metadata only: LIST and HEAD)
    #[arg(long)]
    archives: bool,
    /// Only this site
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Also download, decrypt and hash N staged objects per site, and read
    /// N random chunks of each archive on hot paid sites (the cost is said
    /// first; folder sites are read whole on their `archive_verify` schedule)
    #[arg(long, value_name = "N", default_value_t = 0)]
    deep: usize,
    /// With --deep, thaw archives in a cold class to read them (the cost is
    /// said first; a later check reads them once thawed)
    #[arg(long, requires = "deep")]
    thaw: bool,
    /// Report staged copies older than this many days (they should be archived by then)
    #[arg(long, value_name = "DAYS", default_value_t = 60)]
    max_staged_age: u64,
}

pub(crate) fn run(ctx: &Ctx, args: &CheckArgs) -> Result<Outcome> {
    if !args.staging && !args.archives {
        bail!("say what to check: --staging, --archives, or both");
    }
    let mut engine = ctx.engine(Open::EXISTING)?;
    let mut opts = CheckOptions::default();
    opts.staging = args.staging;
    opts.archives = args.archives;
    opts.site.clone_from(&args.site);
    opts.deep = args.deep;
    opts.max_staged_age_days = args.max_staged_age;
    opts.thaw = args.thaw;
    let report = engine.check(&opts)?;
    let mut out = Out::new(ctx.global.json);
    render(&mut out, &report)?;
    out.flush()?;
    if let Some(e) = report.error() {
        bail!("{e}");
    }
    Ok(Outcome::from_attention(report.differences() > 0))
}

/// Each difference, then each site's summary line.
pub(crate) fn render(out: &mut Out, report: &CheckReport) -> std::io::Result<()> {
    for k in &report.kinds {
        for s in &k.sites {
            for f in &s.findings {
                let mut v = json!(f);
                v["site"] = json!(s.site);
                out.record_or_line(
                    &v,
                    &format!(
                        "{}: {} {} {}{}",
                        s.site,
                        f.kind,
                        f.path.as_deref().unwrap_or(&f.key),
                        f.detail,
                        f.repair
                            .as_ref()
                            .map(|r| format!(" — {r} (`lomob repair`)"))
                            .unwrap_or_default()
                    ),
                )?;
            }
            for l in &s.locks {
                let until = lomob::units::local_time(l.until);
                let line = format!("{}: lock {} {} until {until}", s.site, l.archive, l.mode);
                if !out.json() {
                    out.line(&line)?;
                }
            }
            let problems = s.findings.len();
            let what = match k.kind {
                CheckKind::Staging => "staged objects",
                CheckKind::Archives => "archives",
            };
            let classes = if s.classes.is_empty() {
                String::new()
            } else {
                let each: Vec<String> = s.classes.iter().map(|(c, n)| format!("{n} {c}")).collect();
                format!(" (storage class: {})", each.join(", "))
            };
            let text = match &s.error {
                Some(e) => format!("{}: could not check: {e}", s.site),
                None if problems == 0 => format!(
                    "{}: {} {what}, all present and as recorded{classes}",
                    s.site, s.checked
                ),
                None => format!(
                    "{}: {} {what}, {problems} differences{classes}",
                    s.site, s.checked
                ),
            };
            out.record_or_line(
                &json!({"site": s.site, "kind": k.kind.name(), "checked": s.checked,
                        "problems": problems, "error": s.error, "classes": s.classes,
                        "locks": s.locks}),
                &text,
            )?;
        }
    }
    Ok(())
}
