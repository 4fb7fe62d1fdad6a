//! `lomob status`: are my photos safe? The verdict first, then per root
//! and per site, from the catalog alone (exit 1: something needs
//! attention); `--json` one object, `--prometheus FILE` the same figures
//! for node_exporter's textfile collector.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;
use lomob::status::age;
use lomob::{CheckStatus, RootStatus, SiteStatus, StatusReport};

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, human_bytes};

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Also write the figures in Prometheus text format to FILE (written
    /// whole, then renamed into place, as the textfile collector needs)
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
}

pub(crate) fn run(ctx: &Ctx, args: &StatusArgs) -> Result<Outcome> {
    let report = ctx.engine(Open::EXISTING)?.status()?;
    if let Some(file) = &args.prometheus {
        write_whole(file, report.prometheus().as_bytes())?;
    }
    let mut out = Out::new(ctx.global.json);
    if out.json() {
        out.record(&report)?;
    } else {
        render(&mut out, &report)?;
    }
    out.flush()?;
    Ok(Outcome::from_attention(!report.verdict.ok))
}

fn write_whole(file: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))
}

fn render(out: &mut Out, r: &StatusReport) -> std::io::Result<()> {
    let tty = std::io::stdout().is_terminal();
    let paint = |code: &str, s: &str| {
        if tty {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mark = if r.verdict.ok {
        paint("32", "OK")
    } else {
        paint("31;1", "ATTENTION")
    };
    out.line(&format!("{mark}  {}", r.verdict.line))?;
    for p in r
        .verdict
        .problems
        .iter()
        .skip(usize::from(r.verdict.problems.len() == 1))
    {
        out.line(&format!("  - {}", p.detail))?;
    }
    out.line("")?;
    out.line(&format!(
        "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "ROOT", "FILES", "SIZE", "ON SITES", "2+ SITES", "OFF-SITE", "COLD", "ONLY HERE", "DELETED"
    ))?;
    for x in &r.roots {
        root_line(out, x, r.generated_at)?;
    }
    out.line("")?;
    out.line(&format!(
        "{:<12} {:<8} {:<7} {:>9} {:>9} {:<16} {:<18} {:<18} {:>8}",
        "SITE",
        "ROLE",
        "KIND",
        "OBJECTS",
        "SIZE",
        "LAST CONTACT",
        "STAGING CHECK",
        "ARCHIVE CHECK",
        "$/MONTH"
    ))?;
    for s in &r.sites {
        site_line(out, s, r.generated_at)?;
    }
    Ok(())
}

fn root_line(out: &mut Out, x: &RootStatus, now: i64) -> std::io::Result<()> {
    out.line(&format!(
        "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        x.label,
        x.files,
        human_bytes(x.bytes),
        x.on_a_site,
        x.on_two_sites,
        x.off_site,
        x.in_cold_archive,
        x.only_here,
        x.deleted_versions
    ))?;
    if let Some(o) = &x.oldest_only_here {
        out.line(&format!(
            "  only here the longest: {} ({})",
            o.path,
            age(now - o.since)
        ))?;
    }
    if let Some(h) = &x.held {
        out.line(&format!("  backups held: {h}"))?;
    }
    Ok(())
}

fn check_cell(c: Option<&CheckStatus>, now: i64) -> String {
    let Some(c) = c else { return "-".to_owned() };
    let Some(last) = c.last else {
        return "never".to_owned();
    };
    let how = match (&c.error, c.differences) {
        (Some(_), _) => "failed".to_owned(),
        (None, 0) => "ok".to_owned(),
        (None, n) => format!("{n} diff"),
    };
    format!("{how}, {}", ago(now - last))
}

fn site_line(out: &mut Out, s: &SiteStatus, now: i64) -> std::io::Result<()> {
    let contact = match (s.failing_since, s.last_ok) {
        (Some(t), _) => format!("failing {}", age(now - t)),
        (None, Some(t)) => ago(now - t),
        (None, None) => "never".to_owned(),
    };
    let class = s
        .storage_class
        .as_deref()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    out.line(&format!(
        "{:<12} {:<8} {:<7} {:>9} {:>9} {:<16} {:<18} {:<18} {:>8}",
        s.site,
        s.role,
        s.kind,
        s.staged + s.archives,
        human_bytes(s.staged_bytes + s.archive_bytes),
        contact,
        check_cell(s.staging_check.as_ref(), now),
        check_cell(s.archive_check.as_ref(), now),
        s.cost_per_month.map_or_else(|| "-".to_owned(), dollars),
    ))?;
    if !class.is_empty() || s.uploading > 0 || s.parity.is_some() {
        let mut notes = Vec::new();
        if let Some(c) = &s.storage_class {
            notes.push(format!("class {c}{}", if s.cold { " (cold)" } else { "" }));
        }
        if s.uploading > 0 {
            notes.push(format!("{} archive(s) uploading", s.uploading));
        }
        if let Some(p) = &s.parity {
            notes.push(format!("parity {p}"));
        }
        out.line(&format!("  {}", notes.join(", ")))?;
    }
    Ok(())
}

fn dollars(c: f64) -> String {
    if c > 0.0 && c < 0.01 {
        "<0.01".to_owned()
    } else {
        format!("{c:.2}")
    }
}

/// "just now", or "3 days ago".
fn ago(secs: i64) -> String {
    if secs < 60 {
        "just now".to_owned()
    } else {
        format!("{} ago", age(secs))
    }
}
