//! `lomob recover --site URL --to DIR`: after losing the home machine, from
//! the passphrase and one site: the key file and the newest catalog
//! snapshot come from the site, the catalog (`--db`), key file and config
//! (`--config`) are rebuilt, then everything is restored into DIR.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use lomob::{RecoverOptions, RestoreOptions};

use super::{Ctx, Open, Outcome};
use crate::cli::bars::Bars;
use crate::cli::config::{add_to_file, config_path, set_key_file};
use crate::cli::secrets::CliSecrets;

#[derive(Debug, Args)]
pub(crate) struct RecoverArgs {
    /// A site holding your backups (credentials from the environment)
    #[arg(long, value_name = "URL")]
    site: String,
    /// Folder to restore everything into
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Retrieval tier for archives in a cold storage class
    #[arg(long, value_name = "TIER")]
    tier: Option<lomob::lomo_remote::RestoreTier>,
    /// Replace an existing catalog even with an older snapshot (it is kept
    /// beside, as CATALOG.before-recover-TIME)
    #[arg(long)]
    allow_older: bool,
}

pub(crate) fn run(ctx: &Ctx, args: &RecoverArgs) -> Result<Outcome> {
    let bars = Bars::new(!ctx.global.no_progress);
    let mut opts = RecoverOptions::new(&args.site, ctx.db_path());
    opts.key_file.clone_from(&ctx.config.key_file);
    opts.allow_older = args.allow_older;
    let rebuilt = lomob::recover::rebuild(&opts, &CliSecrets::from_env(), &bars)?;
    if let Some(old) = &rebuilt.replaced {
        bars.say(&format!(
            "the catalog it replaced is kept as {}",
            old.display()
        ));
    }
    // The sites as they were configured (credentials come from the environment).
    let mut config = ctx.config.clone();
    config.key_file = Some(rebuilt.key_file.clone());
    if config.sites.is_empty() {
        config.sites.clone_from(&rebuilt.sites);
        if let Some(path) = config_path(ctx.global.config.as_deref()).filter(|p| !p.exists()) {
            for s in &config.sites {
                add_to_file(&path, s)?;
            }
            set_key_file(&path, &rebuilt.key_file)?;
            bars.say(&format!(
                "recovered {} site(s) into {}",
                config.sites.len(),
                path.display()
            ));
        }
    }
    let ctx = Ctx {
        global: super::Global {
            db: Some(rebuilt.db.clone()),
            ..ctx.global.clone()
        },
        config,
    };
    let mut engine = ctx.engine(Open::EXISTING)?;
    for u in engine.unhide_archives()? {
        bars.say(&format!(
            "brought back {} on {}: its locked version was hidden by a delete marker ({})",
            u.archive, u.site, u.key
        ));
    }
    let mut opts = RestoreOptions::everything(&args.to);
    opts.tier = args.tier.unwrap_or_default();
    let report = engine.restore(&opts)?;
    super::restore::render(&ctx, &report)
}
