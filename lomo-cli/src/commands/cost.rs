//! `lomob cost`: what the sites cost per month, what uploading cost, what the
//! monthly checks cost, and what a full restore would cost, from the catalog
//! and a price table (`[prices.CLASS]` in the config overrides it), next to
//! the requests actually counted.

use anyhow::Result;
use clap::Args;
use lomob::units::parse_size;
use lomob::{CostOptions, SiteCost, WhatIf};

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, human_bytes};

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

pub(crate) fn run(ctx: &Ctx, args: &CostArgs) -> Result<Outcome> {
    let mut opts = CostOptions::default();
    opts.site.clone_from(&args.site);
    opts.what_if = args.what_if.map(|bytes| WhatIf {
        bytes,
        files: args.files.unwrap_or(0),
        pack_size: args.pack_size,
    });
    let costs = if opts.what_if.is_some() {
        let sites = ctx.sites(false)?;
        lomob::cost::estimate(&sites, &ctx.config.prices, None, &opts)?
    } else {
        ctx.engine(Open::EXISTING)?.cost(&opts)?
    };
    let mut out = Out::new(ctx.global.json);
    for c in &costs {
        if out.json() {
            out.record(c)?;
        } else {
            render(&mut out, c, opts.what_if.is_some())?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

/// What Object Lock changes on a site that locks its archives.
fn render_lock(out: &mut Out, c: &SiteCost, l: &lomob::cost::LockCost) -> std::io::Result<()> {
    out.line(&format!(
        "  object lock        {}: {} cannot be deleted or replaced before its date, by anyone{}",
        l.policy,
        human_bytes(l.locked_bytes),
        if l.mode == lomob::lomo_remote::LockMode::Governance {
            " without the bypass permission"
        } else {
            ""
        }
    ))?;
    out.line(&format!(
        "                     early deletion ${:.2}: nothing locked is deleted before its date{}",
        l.early_deletion,
        if c.min_storage_days > 0 && l.days >= u64::from(c.min_storage_days) {
            format!(
                ", and the lock outlasts the {}-day minimum",
                c.min_storage_days
            )
        } else {
            String::new()
        }
    ))?;
    out.line(&format!(
        "                     retention extensions ${:.6} a year (one PUT-class request per archive per lock period); locked catalog copies (up to one per archive) {} ≈ ${:.4} a month",
        l.extensions_per_year,
        human_bytes(l.catalog_copies_bytes),
        l.catalog_copies_per_month
    ))
}

fn render(out: &mut Out, c: &SiteCost, what_if: bool) -> std::io::Result<()> {
    out.line(&format!(
        "{} ({}): {} archives ({}), {} staged objects ({})",
        c.site,
        c.class,
        c.archives,
        human_bytes(c.archive_bytes),
        c.staged,
        human_bytes(c.staged_bytes)
    ))?;
    out.line(&format!(
        "  storage            ${:.2} a month",
        c.storage_per_month
    ))?;
    out.line(&format!(
        "  uploading          ${:.4} once ({} PUT-class requests)",
        c.upload_cost, c.upload_requests
    ))?;
    out.line(&format!(
        "  checks             ${:.4} a month (daily staging, monthly archives; metadata only)",
        c.checks_per_month
    ))?;
    out.line(&format!(
        "  full restore       ${:.2} bulk, ${:.2} standard (retrieval + requests + transfer out)",
        c.full_restore_bulk, c.full_restore_standard
    ))?;
    match &c.lock {
        Some(l) => render_lock(out, c, l)?,
        None if c.min_storage_days > 0 => out.line(&format!(
            "  minimum storage    {} days: lomob never deletes an archive; replacing one early (a repair) costs up to ${:.4}",
            c.min_storage_days, c.early_replacement_per_archive
        ))?,
        None => {}
    }
    if let Some((puts, files, overhead)) = c.one_object_per_file {
        out.line(&format!(
            "  one object per file instead: ${puts:.2} of PUTs ({files} requests) and ${overhead:.4} a month of per-object overhead"
        ))?;
    }
    if what_if {
        return Ok(());
    }
    out.line(&format!(
        "  counted since {}: {} PUT/LIST + {} GET/HEAD requests, {} sent ≈ ${:.4}",
        c.measured_since,
        c.measured_class_a,
        c.measured_class_b,
        human_bytes(c.measured_bytes_sent),
        c.measured_cost
    ))
}
