//! The command line: global options, subcommands, dispatch.

mod alert;
mod backup;
mod check;
pub(crate) mod cost;
mod crypt;
mod import_lomob;
mod init;
mod iso;
pub(crate) mod iso_create;
mod key;
mod list;
mod list_remote;
mod recover;
mod restore;
mod restore_go;
mod scan;
mod site;
mod upload;
mod util;
mod watch;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lomo_catalog::Catalog;

use crate::config::Config;

/// lomob keeps a family's photos and videos safe off-site for decades at almost
/// no cost: it catalogs folders, stages new files to a cheap store, packs them
/// into big encrypted ISO images for cold storage, checks the copies and
/// restores them.
#[derive(Debug, Parser)]
#[command(name = "lomob", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The catalog file [default: the config's `db`, else ./lomob.db]
    #[arg(long, global = true, env = "LOMOB_DB", value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// The config file [default: $XDG_CONFIG_HOME/lomob/config.toml]
    #[arg(long, global = true, env = "LOMOB_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Print results as JSON Lines (one object per line).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// No progress bars on stderr.
    #[arg(long, global = true)]
    pub(crate) no_progress: bool,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Less log output on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) quiet: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented config file with roots and a default local site.
    Init(init::InitArgs),
    /// Back up: scan, pack full images to the archive sites, stage the rest, snapshot the catalog.
    Backup(backup::BackupArgs),
    /// Import the Go lomo-backup's catalog, so what it uploaded can be restored.
    #[command(name = "import-lomob")]
    ImportLomob(import_lomob::ImportArgs),
    /// The backup's steps one at a time: send ISO images, or stage files.
    #[command(subcommand)]
    Upload(upload::UploadCommand),
    /// After losing the home machine: rebuild catalog, key file and config
    /// from one site and the passphrase, then restore everything.
    Recover(recover::RecoverArgs),
    /// What the sites cost: storage a month, uploads, checks, a full restore.
    Cost(cost::CostArgs),
    /// Compare the sites with the catalog (exit 1: differences; 2: a site could not be checked).
    Check(check::CheckArgs),
    /// Restore files from the sites into a folder.
    Restore(restore::RestoreArgs),
    /// Scan folders into the catalog (only new and changed files are read).
    Scan(scan::ScanArgs),
    /// List what the catalog knows.
    #[command(subcommand)]
    List(list::ListCommand),
    /// Seal and open encrypted files (filecrypt-compatible; Go lomo-backup objects).
    #[command(subcommand)]
    Crypt(crypt::CryptCommand),
    /// Manage the master key and the passphrases that unlock it.
    Key(key::KeyArgs),
    /// Build, inspect and extract ISO9660 images (no mkisofs needed).
    #[command(subcommand)]
    Iso(iso::IsoCommand),
    /// Add, list, remove and test storage sites.
    #[command(subcommand)]
    Site(site::SiteCommand),
    /// Email and webhook alerts.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// The daemon: watch the roots, stage new files, pack, run the checks on schedule.
    Watch(watch::WatchArgs),
    /// Google sign-in for Drive sites.
    #[command(subcommand)]
    Util(util::UtilCommand),
}

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// All good: exit 0.
    Clean,
    /// Done, but something needs attention: exit 1.
    Problems,
}

/// What every command gets: the global options and the loaded config.
pub(crate) struct Ctx {
    pub(crate) global: Global,
    pub(crate) config: Config,
}

impl Ctx {
    /// The catalog path: `--db`/`LOMOB_DB`, the config's `db`, or `./lomob.db`.
    pub(crate) fn db_path(&self) -> PathBuf {
        self.global
            .db
            .clone()
            .or_else(|| self.config.db.clone())
            .unwrap_or_else(|| PathBuf::from("lomob.db"))
    }

    /// Opens (creating if needed) the catalog.
    pub(crate) fn open_catalog(&self) -> Result<Catalog> {
        let path = self.db_path();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        Ok(Catalog::open(&path)?)
    }

    /// Opens an existing catalog for reading; a missing one is an error, not a new file.
    pub(crate) fn existing_catalog(&self) -> Result<Catalog> {
        let path = self.db_path();
        if !path.exists() {
            anyhow::bail!(
                "no catalog at {}: run `lomob scan DIR` first, or pass --db",
                path.display()
            );
        }
        Ok(Catalog::open(&path)?)
    }
}

/// Runs the parsed command line.
pub(crate) fn run(cli: Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Init(args) => return init::run(&cli.global, args),
        Command::Crypt(cmd) => return crypt::run(cmd),
        Command::Util(cmd) => return util::run(&cli.global, cmd),
        _ => {}
    }
    // `site add` creates the config file it names.
    let creating = matches!(
        cli.command,
        Command::Site(site::SiteCommand::Add(_)) | Command::Recover(_)
    ) && cli.global.config.as_deref().is_some_and(|p| !p.exists());
    let config = if creating {
        Config::default()
    } else {
        Config::load(cli.global.config.as_deref())?
    };
    let ctx = Ctx {
        global: cli.global,
        config,
    };
    match cli.command {
        Command::Init(_) | Command::Crypt(_) | Command::Util(_) => Ok(Outcome::Clean),
        Command::Iso(cmd) => iso::run(&ctx, &cmd),
        Command::Key(args) => key::run(&ctx, &args),
        Command::Scan(args) => scan::run(&ctx, &args),
        Command::Backup(args) => backup::run(&ctx, &args),
        Command::Upload(cmd) => upload::run(&ctx, &cmd),
        Command::ImportLomob(args) => import_lomob::run(&ctx, &args),
        Command::Restore(args) => restore::run(&ctx, &args),
        Command::Check(args) => check::run(&ctx, &args),
        Command::Cost(args) => cost::run(&ctx, &args),
        Command::Watch(args) => watch::run(&ctx, &args),
        Command::Recover(args) => recover::run(&ctx, &args),
        Command::Alert(cmd) => alert::run(&ctx, &cmd),
        Command::List(cmd) => list::run(&ctx, &cmd),
        Command::Site(cmd) => site::run(&ctx, &cmd),
    }
}
