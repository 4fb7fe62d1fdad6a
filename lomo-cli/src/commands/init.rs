//! `lomob init [DIR...]`

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{Global, Outcome};
use crate::cli::config::{config_path, project_dirs, template, write_private};

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Folders to back up (written as the config's roots)
    #[arg(value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// The local folder used as the default site [default: $XDG_DATA_HOME/lomob/lomob-site]
    #[arg(long, value_name = "DIR")]
    site: Option<PathBuf>,
    /// Overwrite an existing config file
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(global: &Global, args: &InitArgs) -> Result<Outcome> {
    let Some(path) = config_path(global.config.as_deref()) else {
        bail!("no home directory to put the config in: pass --config PATH");
    };
    let data_dir = project_dirs().map(|d| d.data_dir().to_path_buf());
    let absolute = |p: PathBuf| -> Result<PathBuf> {
        Ok(if p.is_absolute() {
            p
        } else {
            std::env::current_dir()?.join(p)
        })
    };
    let db = match (&global.db, &data_dir) {
        (Some(db), _) => absolute(db.clone())?,
        (None, Some(d)) => d.join("lomob.db"),
        (None, None) => absolute(PathBuf::from("lomob.db"))?,
    };
    let site = match (&args.site, &data_dir) {
        (Some(s), _) => absolute(s.clone())?,
        (None, Some(d)) => d.join("lomob-site"),
        (None, None) => absolute(PathBuf::from("lomob-site"))?,
    };
    let mut roots = Vec::new();
    for r in &args.roots {
        roots.push(
            std::fs::canonicalize(r)
                .with_context(|| format!("root {} is not an accessible folder", r.display()))?,
        );
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let key_file = lomob::default_key_file(&db);
    if path.symlink_metadata().is_ok() && !args.force {
        bail!(
            "config file {} exists already: edit it, or pass --force to overwrite",
            path.display()
        );
    }
    // Credentials and the SMTP password may end up in it: 0600 (replacing
    // a file, never writing through a link or keeping its old mode).
    write_private(&path, &template(&db, &key_file, &roots, &site))?;
    // Created now, as `site add` does: later a missing site folder means an
    // unmounted disk, and backups skip it rather than write beside it.
    std::fs::create_dir_all(&site)
        .with_context(|| format!("cannot create the site folder {}", site.display()))?;
    println!("wrote {}", path.display());
    println!("default site: {}", site.display());
    Ok(Outcome::Clean)
}
