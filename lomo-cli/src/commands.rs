//! The command line: global options, subcommands, dispatch, and how the
//! config and environment become the engine's [`lomob::Context`].

mod alert;
mod backup;
mod check;
mod cost;
mod crypt;
mod import_lomob;
mod init;
mod iso;
mod iso_create;
mod key;
mod list;
mod list_remote;
mod recover;
mod repair;
mod restore;
mod scan;
mod site;
mod status;
mod upload;
mod util;
mod watch;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use lomob::{ContextOptions, SiteConfig};

use crate::cli::bars::Bars;
use crate::cli::config::{Config, alert_settings};
use crate::cli::secrets::CliSecrets;

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
#[derive(Debug, Clone, Args)]
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
    /// Are my photos safe? Protection per root and per site, what is at risk, what is due (exit 1: needs attention).
    Status(status::StatusArgs),
    /// What the sites cost: storage a month, uploads, checks, a full restore.
    Cost(cost::CostArgs),
    /// Compare the sites with the catalog (exit 1: differences; 2: a site could not be checked).
    Check(check::CheckArgs),
    /// Check, then rebuild what is missing or damaged: from parity, the local files, or another site.
    Repair(repair::RepairArgs),
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

impl Outcome {
    /// `Problems` when `attention`, else `Clean`.
    pub(crate) fn from_attention(attention: bool) -> Outcome {
        if attention {
            Outcome::Problems
        } else {
            Outcome::Clean
        }
    }
}

/// Whether a command may create the catalog, and the default site's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Open {
    /// Create the catalog when it is missing.
    catalog: bool,
    /// Create the default site's folder when no site is configured.
    site: bool,
}

impl Open {
    /// The catalog must exist; nothing is created (a restore, a check).
    pub(crate) const EXISTING: Open = Open {
        catalog: false,
        site: false,
    };
    /// The catalog is created when missing (a scan, an import).
    pub(crate) const CREATE: Open = Open {
        catalog: true,
        site: false,
    };
    /// Both are created when missing (a backup, the daemon).
    pub(crate) const BACKUP: Open = Open {
        catalog: true,
        site: true,
    };
    /// The catalog must exist; the default site's folder is created (uploads).
    pub(crate) const UPLOAD: Open = Open {
        catalog: false,
        site: true,
    };
}

/// Name of the default local site.
pub(crate) const DEFAULT_SITE: &str = "local";

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

    /// The key file: the config's `key_file`, else `<catalog>.key` beside it.
    pub(crate) fn key_file(&self) -> PathBuf {
        self.config
            .key_file
            .clone()
            .unwrap_or_else(|| lomob::default_key_file(&self.db_path()))
    }

    /// The configured sites, else the default: a local folder `./lomob-site`
    /// for both roles, so a first run needs no account (`create`: make the
    /// folder if missing, as a backup does; a restore only looks). Drive
    /// sites get the credential files beside the config.
    pub(crate) fn sites(&self, create: bool) -> Result<Vec<SiteConfig>> {
        let mut sites = self.config.sites.clone();
        if sites.is_empty() {
            sites.push(self.default_site(create)?);
        }
        for s in sites.iter_mut().filter(|s| s.url.starts_with("gdrive://")) {
            let (cred, token) = gdrive_files(self.global.config.as_deref())?;
            for (k, default) in [("gdrive_credentials", cred), ("gdrive_token", token)] {
                s.credentials
                    .entry(k.to_owned())
                    .or_insert_with(|| default.display().to_string());
            }
        }
        Ok(sites)
    }

    fn default_site(&self, create: bool) -> Result<SiteConfig> {
        let dir = std::env::current_dir()?.join("lomob-site");
        if create && !dir.is_dir() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            eprintln!(
                "no site configured: using the local folder {} (add sites with `lomob site add`)",
                dir.display()
            );
        }
        Ok(SiteConfig::folder(DEFAULT_SITE, &dir)?)
    }

    /// The engine's options from the config and the environment.
    pub(crate) fn options(&self, open: Open) -> Result<ContextOptions> {
        let mut o = ContextOptions::new(self.db_path());
        o.create = open.catalog;
        o.key_file = Some(self.key_file());
        o.sites = self.sites(open.site)?;
        o.roots.clone_from(&self.config.roots);
        let defaults = lomob::lomo_catalog::ScanOptions::default();
        let cfg = &self.config.scan;
        o.scan = lomob::lomo_catalog::ScanOptions {
            ignore_files: cfg.ignore_files.clone().unwrap_or(defaults.ignore_files),
            ignore_dirs: cfg.ignore_dirs.clone().unwrap_or(defaults.ignore_dirs),
            threads: cfg.threads.unwrap_or(0),
        };
        o.scan_alarm = cfg.alarm_share()?;
        o.schedule = self.config.schedule.resolved()?;
        o.alert = alert_settings(&self.config.alert);
        o.prices.clone_from(&self.config.prices);
        o.repair_auto = self.config.repair.auto;
        if let Some(d) = self.config.network.retry_for()? {
            o.retry_for = d;
        }
        Ok(o)
    }

    /// The engine, opened for a command: the catalog, the sites, the
    /// passphrase from the environment or a prompt, bars on stderr.
    pub(crate) fn engine(&self, open: Open) -> Result<lomob::Context> {
        let opts = self.options(open)?;
        if !open.catalog && !opts.db.exists() {
            bail!(
                "no catalog at {}: run `lomob scan DIR` first, or pass --db",
                opts.db.display()
            );
        }
        Ok(lomob::Context::open(opts)?
            .with_secrets(CliSecrets::from_env())
            .with_progress(Bars::new(!self.global.no_progress)))
    }

    /// Adds what `site` was asked to the catalog's request ledger, when a
    /// catalog exists (a probe or a listing outside any backup).
    pub(crate) fn record_usage(&self, site: &str, usage: &lomob::lomo_remote::Usage) {
        if self.db_path().exists()
            && let Ok(mut engine) = self.engine(Open::EXISTING)
        {
            engine.record_usage(site, usage);
        }
    }
}

/// The default Google credentials and token files: beside the config file.
pub(crate) fn gdrive_files(config: Option<&Path>) -> Result<(PathBuf, PathBuf)> {
    let file = crate::cli::config::config_path(config)
        .context("no home directory for the config: pass --config PATH")?;
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((
        dir.join("gdrive-credentials.json"),
        dir.join("gdrive-token.json"),
    ))
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
        Command::Repair(args) => repair::run(&ctx, &args),
        Command::Cost(args) => cost::run(&ctx, &args),
        Command::Status(args) => status::run(&ctx, &args),
        Command::Watch(args) => watch::run(&ctx, &args),
        Command::Recover(args) => recover::run(&ctx, &args),
        Command::Alert(cmd) => alert::run(&ctx, &cmd),
        Command::List(cmd) => list::run(&ctx, &cmd),
        Command::Site(cmd) => site::run(&ctx, &cmd),
    }
}
