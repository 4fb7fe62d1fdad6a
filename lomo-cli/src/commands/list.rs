//! `lomob list dirs|files|bigfiles|dups`

use anyhow::Result;
use clap::Subcommand;
use lomob::lomo_catalog::{DirEntry, DuplicateSet, FileEntry, FileQuery};
use lomob::units::parse_size;
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, hex, human_bytes, json_path, local_time};

#[derive(Debug, Subcommand)]
pub(crate) enum ListCommand {
    /// Scanned directories with the count and size of their own files.
    Dirs,
    /// Files not yet in any archive: path, size, mtime, BLAKE3 hash.
    Files,
    /// Files at least SIZE big, biggest first.
    Bigfiles {
        /// The threshold: 500KB, 50MB, 2G, 1.5GiB (KB = 1000 bytes)
        #[arg(short, long, default_value = "50MB", value_parser = parse_size)]
        size: u64,
    },
    /// Contents found at more than one path (stored once in a backup).
    Dups,
    /// A Google Drive site's files as a tree (alias of `list remote` for a
    /// gdrive:// site): size, date, plaintext and encrypted hash prefixes.
    Gdrive {
        /// The Drive site [default: the first gdrive:// site configured]
        #[arg(long)]
        site: Option<String>,
        /// Only files under this folder
        prefix: Option<String>,
    },
    /// Objects on a site, as a tree: size, date, storage class.
    Remote {
        /// The site's name (see `lomob site list`)
        site: String,
        /// Only objects under this folder, e.g. lomob/archives
        prefix: Option<String>,
    },
}

pub(crate) fn run(ctx: &Ctx, cmd: &ListCommand) -> Result<Outcome> {
    if let ListCommand::Remote { site, prefix } = cmd {
        return super::list_remote::run(ctx, site, prefix.as_deref().unwrap_or(""));
    }
    if let ListCommand::Gdrive { site, prefix } = cmd {
        let name = match site {
            Some(s) => s.clone(),
            None => ctx
                .config
                .sites
                .iter()
                .find(|s| s.url.starts_with("gdrive://"))
                .map(|s| s.name.clone())
                .ok_or_else(|| anyhow::anyhow!("no gdrive:// site configured (add one with `lomob site add NAME gdrive://lomorage`)"))?,
        };
        return super::list_remote::run(ctx, &name, prefix.as_deref().unwrap_or(""));
    }
    let engine = ctx.engine(Open::EXISTING)?;
    let catalog = engine.catalog();
    let mut out = Out::new(ctx.global.json);
    match cmd {
        ListCommand::Dirs => catalog.for_each_dir(|d| print_dir(&mut out, &d))?,
        ListCommand::Files => {
            let q = FileQuery {
                unarchived: true,
                ..FileQuery::default()
            };
            catalog.for_each_file(&q, |f| print_file(&mut out, &f))?;
        }
        ListCommand::Bigfiles { size } => {
            let q = FileQuery {
                min_size: Some(*size),
                largest_first: true,
                ..FileQuery::default()
            };
            catalog.for_each_file(&q, |f| print_file(&mut out, &f))?;
        }
        ListCommand::Dups => catalog.for_each_duplicate(|set| print_dups(&mut out, &set))?,
        ListCommand::Remote { .. } | ListCommand::Gdrive { .. } => {}
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

fn print_dir(out: &mut Out, d: &DirEntry) -> Result<()> {
    if out.json() {
        let (path, raw) = json_path(&d.path);
        let mut v = json!({"path": path, "files": d.files, "bytes": d.bytes});
        if let Some(raw) = raw {
            v["path_hex"] = raw.into();
        }
        out.record(&v)?;
    } else {
        out.line(&format!(
            "{:>8} files {:>10}  {}",
            d.files,
            human_bytes(d.bytes),
            d.path.display()
        ))?;
    }
    Ok(())
}

fn print_dups(out: &mut Out, set: &DuplicateSet) -> Result<()> {
    if out.json() {
        let paths: Vec<String> = set.paths.iter().map(|p| json_path(p).0).collect();
        out.record(&json!({"hash": hex(&set.hash), "size": set.size, "paths": paths}))?;
    } else {
        out.line(&format!(
            "{}  {} × {}",
            &hex(&set.hash)[..12],
            human_bytes(set.size),
            set.paths.len()
        ))?;
        for p in &set.paths {
            out.line(&format!("    {}", p.display()))?;
        }
    }
    Ok(())
}

fn print_file(out: &mut Out, f: &FileEntry) -> Result<()> {
    let hash = f.hash.map(|h| hex(&h)).unwrap_or_default();
    if out.json() {
        let (path, raw) = json_path(&f.path);
        let mut v = json!({
            "path": path,
            "size": f.size,
            "mtime": f.mtime_secs(),
            "mtime_ns": f.mtime_ns,
            "mode": f.mode,
            "hash": hash,
        });
        if let Some(raw) = raw {
            v["path_hex"] = raw.into();
        }
        out.record(&v)?;
    } else {
        out.line(&format!(
            "{:>10}  {}  {}  {}",
            human_bytes(f.size),
            local_time(f.mtime_secs()),
            hash.get(..12).unwrap_or(""),
            f.path.display()
        ))?;
    }
    Ok(())
}
