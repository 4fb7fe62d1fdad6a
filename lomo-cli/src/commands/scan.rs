//! `lomob scan DIR...`

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use lomob::lomo_catalog::{ScanOptions, ScanReport};
use lomob::{ScanRun, ScanRunOptions};

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, human_bytes};

#[derive(Debug, Default, Args)]
pub(crate) struct ScanArgs {
    /// Folders to scan [default: the config's roots]
    #[arg(value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// File names to skip, comma-separated globs [default: .DS_Store,._.DS_Store,Thumbs.db]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    ignore_files: Option<Vec<String>>,
    /// Directory names to skip with their contents [default: .idea,.git,.github]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    ignore_dirs: Option<Vec<String>>,
    /// Worker threads [default: one per CPU]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub(crate) fn run(ctx: &Ctx, args: &ScanArgs) -> Result<Outcome> {
    if args.dirs.is_empty() && ctx.config.roots.is_empty() && !ctx.db_path().exists() {
        bail!(
            "no folder to scan: name one (`lomob scan ~/Pictures`) or add roots to the config (`lomob init DIR`)"
        );
    }
    let mut engine = ctx.engine(Open::CREATE)?;
    let defaults = engine.options().scan.clone();
    let options = ScanOptions {
        ignore_files: args.ignore_files.clone().unwrap_or(defaults.ignore_files),
        ignore_dirs: args.ignore_dirs.clone().unwrap_or(defaults.ignore_dirs),
        threads: args.threads.unwrap_or(defaults.threads),
    };
    let run = engine.scan(&ScanRunOptions {
        roots: args.dirs.clone(),
        changed: None,
        options: Some(options),
    })?;
    let mut out = Out::new(ctx.global.json);
    render(&mut out, &run)?;
    out.flush()?;
    if !run.failed.is_empty() {
        bail!(
            "{} of {} folders could not be scanned",
            run.failed.len(),
            run.roots
        );
    }
    Ok(Outcome::from_attention(run.skipped_entries()))
}

/// Each root's summary line, and the roots that could not be scanned on stderr.
pub(crate) fn render(out: &mut Out, run: &ScanRun) -> std::io::Result<()> {
    for r in &run.reports {
        print_report(out, r)?;
    }
    for f in &run.failed {
        eprintln!("lomob: error: {}", f.error);
    }
    Ok(())
}

fn print_report(out: &mut Out, r: &ScanReport) -> std::io::Result<()> {
    if out.json() {
        return out.record(&lomob::report_json(r));
    }
    let secs = r.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!(
            " ({}/s)",
            human_bytes((r.bytes_hashed as f64 / secs) as u64)
        )
    } else {
        String::new()
    };
    out.line(&format!(
        "{}: {} new, {} changed, {} moved, {} deleted, {} unchanged, {} errors · hashed {} files, {} in {secs:.2} s{rate}",
        r.root.display(),
        r.new,
        r.changed,
        r.moved,
        r.deleted,
        r.unchanged,
        r.issues.len(),
        r.files_hashed,
        human_bytes(r.bytes_hashed),
    ))
}
