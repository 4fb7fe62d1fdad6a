//! Per-site figures and the verdict: what needs attention, in plain words.

use super::count::RootStatus;
use super::{CheckStatus, GRACE_SECS, Problem, SiteStatus, Verdict, age};
use crate::context::Context;
use crate::error::Result;
use crate::sites::SiteConfig;

fn kind(url: &str) -> &'static str {
    match url.split("://").next().unwrap_or("") {
        "file" => "folder",
        "s3" => "s3",
        "gs" => "gcs",
        "az" | "azure" => "azure",
        "gdrive" => "drive",
        _ => "other",
    }
}

/// The last check of `name` on `site`, and when the next is due.
fn check(
    ctx: &Context,
    (name, every): (&str, Option<std::time::Duration>),
    site: &str,
    (now, holds_since): (i64, Option<i64>),
) -> Result<CheckStatus> {
    let last = ctx.catalog().last_check(name, site)?;
    let every = every.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let done = last.as_ref().map(|c| c.finished_at);
    // Never checked: due once the site has held something for a period.
    let next_due = every.and_then(|e| done.or(holds_since).map(|t| t.saturating_add(e)));
    Ok(CheckStatus {
        last: done,
        checked: last.as_ref().map_or(0, |c| c.checked),
        differences: last.as_ref().map_or(0, |c| c.problems),
        error: last.and_then(|c| c.error),
        overdue: next_due
            .zip(every)
            .is_some_and(|(due, e)| now > due.saturating_add(e)),
        next_due,
    })
}

/// What every site holds and when each last answered, read once.
struct Known {
    totals: std::collections::HashMap<String, lomo_catalog::SiteTotals>,
    contacts: Vec<lomo_catalog::SiteContact>,
    costs: Vec<crate::SiteCost>,
}

fn site(ctx: &Context, cfg: &SiteConfig, now: i64, known: &Known) -> Result<SiteStatus> {
    let totals = known.totals.get(&cfg.name).cloned().unwrap_or_default();
    let contact = known.contacts.iter().find(|c| c.site == cfg.name).cloned();
    let costs = &known.costs;
    let schedule = ctx.opts.schedule;
    let holds = (totals.staged + totals.archives > 0)
        .then_some(totals.newest)
        .flatten();
    let staging = cfg
        .role
        .stages()
        .then(|| {
            check(
                ctx,
                ("staging", schedule.staging_check),
                &cfg.name,
                (now, holds),
            )
        })
        .transpose()?;
    let archives = cfg
        .role
        .archives()
        .then(|| {
            check(
                ctx,
                ("archives", schedule.archive_check),
                &cfg.name,
                (now, holds),
            )
        })
        .transpose()?;
    Ok(SiteStatus {
        site: cfg.name.clone(),
        kind: kind(&cfg.url),
        role: format!("{:?}", cfg.role).to_lowercase(),
        off_site: cfg.is_off_site(),
        storage_class: cfg.archive_class(),
        cold: cfg.is_cold(),
        staged: totals.staged,
        staged_bytes: totals.staged_bytes,
        archives: totals.archives,
        archive_bytes: totals.archive_bytes,
        uploading: totals.uploading,
        last_ok: contact.as_ref().and_then(|c| c.last_ok),
        failing_since: contact.as_ref().and_then(|c| c.failing_since),
        last_error: contact.and_then(|c| c.last_error),
        staging_check: staging,
        archive_check: archives,
        cost_per_month: costs
            .iter()
            .find(|c| c.site == cfg.name)
            .map(|c| c.storage_per_month),
        parity: cfg.parity.clone(),
        append_only: cfg.append_only,
    })
}

pub(super) fn sites(ctx: &Context, now: i64) -> Result<Vec<SiteStatus>> {
    let known = Known {
        totals: ctx.catalog().site_totals()?,
        contacts: ctx.catalog().site_contacts()?,
        // A price table without the site's class is no reason to fail a status.
        costs: ctx.cost(&crate::CostOptions::default()).unwrap_or_default(),
    };
    ctx.opts
        .sites
        .iter()
        .map(|s| site(ctx, s, now, &known))
        .collect()
}

fn problem(kind: &'static str, site: Option<&str>, root: Option<&str>, detail: String) -> Problem {
    Problem {
        kind,
        site: site.map(str::to_owned),
        root: root.map(str::to_owned),
        detail,
    }
}

fn root_problems(r: &RootStatus, now: i64, out: &mut Vec<Problem>) {
    if let Some(why) = &r.held {
        out.push(problem("root-held", None, Some(&r.root), format!(
            "{}: backups held since a scan found a mass change ({why}); `lomob backup --accept-changes {}` once you have looked",
            r.label, r.root
        )));
    }
    if let Some(o) = r
        .oldest_only_here
        .as_ref()
        .filter(|o| now - o.since > GRACE_SECS)
    {
        out.push(problem(
            "only-here",
            None,
            Some(&r.root),
            format!(
                "{}: {} files are on no site yet, the oldest for {} ({})",
                r.label,
                r.only_here,
                age(now - o.since),
                o.path
            ),
        ));
    }
    if r.missing_copies > 0 {
        out.push(problem(
            "missing-copies",
            None,
            Some(&r.root),
            format!(
                "{}: {} files are not yet on every site they should be",
                r.label, r.missing_copies
            ),
        ));
    }
}

fn site_problems(ctx: &Context, s: &SiteStatus, now: i64, out: &mut Vec<Problem>) {
    let offline_after = ctx
        .opts
        .schedule
        .site_offline_alert
        .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if let Some(since) = s.failing_since.filter(|t| now - t >= offline_after) {
        out.push(problem(
            "site-offline",
            Some(&s.site),
            None,
            format!(
                "site {} has not answered for {}: {}",
                s.site,
                age(now - since),
                s.last_error.as_deref().unwrap_or("no reason recorded")
            ),
        ));
    }
    for (name, c) in [("staging", &s.staging_check), ("archive", &s.archive_check)] {
        let Some(c) = c else { continue };
        if let Some(e) = &c.error {
            out.push(problem(
                "check-failed",
                Some(&s.site),
                None,
                format!("the last {name} check of {} could not run: {e}", s.site),
            ));
        } else if c.differences > 0 {
            out.push(problem("check-differences", Some(&s.site), None, format!(
                "the last {name} check of {} found {} differences (`lomob check` shows them, `lomob repair` mends what it can)",
                s.site, c.differences
            )));
        }
        if c.overdue {
            let when = c
                .last
                .map_or_else(|| "never".to_owned(), |t| format!("{} ago", age(now - t)));
            out.push(problem("check-overdue", Some(&s.site), None, format!(
                "the {name} check of {} is overdue (last: {when}; `lomob watch` or cron runs it)",
                s.site
            )));
        }
    }
}

pub(super) fn verdict(
    roots: &[RootStatus],
    sites: &[SiteStatus],
    ctx: &Context,
    now: i64,
) -> Result<Verdict> {
    let mut problems = Vec::new();
    if sites.is_empty() {
        problems.push(problem(
            "no-sites",
            None,
            None,
            "no sites are configured: nothing is copied anywhere (`lomob site add`)".to_owned(),
        ));
    }
    for r in roots {
        root_problems(r, now, &mut problems);
    }
    for s in sites {
        site_problems(ctx, s, now, &mut problems);
    }
    let files: u64 = roots.iter().map(|r| r.files).sum();
    let line = if problems.is_empty() {
        let off: u64 = roots.iter().map(|r| r.off_site).sum();
        let two: u64 = roots.iter().map(|r| r.on_two_sites).sum();
        let checked = sites
            .iter()
            .flat_map(|s| [&s.staging_check, &s.archive_check])
            .flatten()
            .filter_map(|c| c.last)
            .max()
            .map_or_else(
                || "not checked yet".to_owned(),
                |t| format!("checked {} ago", age(now - t)),
            );
        let advice = if off == 0 && files > 0 {
            "; none is off-site: add a cloud or remote site (`lomob site add`) to survive losing the house"
        } else {
            ""
        };
        let waiting: u64 = roots.iter().map(|r| r.only_here).sum();
        let done = if waiting == 0 {
            format!("all {files} files are on every site they should be")
        } else {
            format!(
                "{} of {files} files are on every site they should be, {waiting} new waiting for the next backup",
                files - waiting
            )
        };
        format!("{done} ({two} on two or more sites, {off} off-site), {checked}{advice}")
    } else {
        let first = &problems[0].detail;
        match problems.len() {
            1 => format!("needs attention: {first}"),
            n => format!("needs attention ({n} problems): {first}; …"),
        }
    };
    Ok(Verdict {
        ok: problems.is_empty(),
        line,
        problems,
    })
}
