//! `lomob recover --site URL --to DIR`: after losing the home machine, from
//! the passphrase and one site: the key file and the newest catalog
//! snapshot come from the site, the catalog (`--db`), key file and config
//! (`--config`) are rebuilt, then everything is restored into DIR.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::TryStreamExt as _;
use lomo_crypt::KeyFile;
use lomo_remote::{SiteOptions, SiteUrl};

use super::{Ctx, Global, Outcome, restore};
use crate::config::{Role, SiteConfig, config_path};
use crate::pipeline::snapshot::{CATALOG_PREFIX, KEYS_PREFIX};
use crate::secrets::read_secret;

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
    tier: Option<lomo_remote::RestoreTier>,
}

pub(crate) fn run(ctx: &Ctx, args: &RecoverArgs) -> Result<Outcome> {
    let db = ctx.db_path();
    if db.exists() {
        bail!(
            "a catalog exists at {}: recover rebuilds a lost one (pass --db for a new place)",
            db.display()
        );
    }
    let url: SiteUrl = args.site.parse()?;
    let site = lomo_remote::open(&url, &SiteOptions::named("recovery"))?;
    let rt = crate::sites::runtime()?;
    let get = |key: &str| -> Result<Vec<u8>> {
        crate::sites::download(&rt, &site, key, None)
            .with_context(|| format!("reading {key} from {}", args.site))
    };
    let list = |prefix: &str| -> Result<Vec<String>> {
        let mut keys: Vec<String> = rt
            .block_on(site.list(prefix).map_ok(|o| o.key).try_collect())
            .with_context(|| format!("listing {prefix} on {}", args.site))?;
        keys.sort();
        Ok(keys)
    };
    // The key, unlocked with the passphrase.
    let key_objects = list(KEYS_PREFIX)?;
    let Some(key_object) = key_objects.iter().find(|k| k.ends_with(".json")) else {
        bail!(
            "no key file under {KEYS_PREFIX}/ on {}: is this a lomob site?",
            args.site
        );
    };
    let key_json = String::from_utf8(get(key_object)?).context("the key file is not text")?;
    let key_file = KeyFile::from_json(&key_json)?;
    let (key, _) = key_file.unlock(&read_secret(None, "LOMOB_PASSPHRASE", "Passphrase: ")?)?;
    // The newest catalog snapshot.
    let snaps = list(CATALOG_PREFIX)?;
    let Some(newest) = snaps.iter().rev().find(|k| k.ends_with(".db.lomo")) else {
        bail!(
            "no catalog snapshot under {CATALOG_PREFIX}/ on {}",
            args.site
        );
    };
    let sealed = get(newest)?;
    let mut plain = Vec::new();
    lomo_crypt::stream::DecryptReader::new(&key, std::io::Cursor::new(sealed))?
        .read_to_end(&mut plain)
        .context("decrypting the catalog snapshot")?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(
        db.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new(".")),
    )?;
    std::io::Write::write_all(&mut tmp, &plain)?;
    tmp.persist_noclobber(&db)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", db.display(), e.error))?;
    eprintln!("recovered the catalog from {newest} into {}", db.display());
    // The key file, for later backups.
    let key_path = crate::pipeline::keys::key_file_path(ctx)?;
    if !key_path.exists() {
        if let Some(dir) = key_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        key_file.save(&key_path)?;
        eprintln!("recovered the key file into {}", key_path.display());
    }
    // The sites as they were configured (credentials come from the environment).
    let catalog = lomo_catalog::Catalog::open(&db)?;
    let mut config = ctx.config.clone();
    if config.sites.is_empty() {
        config.sites = catalog
            .known_sites()?
            .into_iter()
            .map(|s| SiteConfig {
                name: s.name,
                url: s.url,
                role: match s.role.as_str() {
                    "staging" => Role::Staging,
                    "archive" => Role::Archive,
                    _ => Role::Both,
                },
                storage_class: s.storage_class,
                append_only: s.append_only,
                encrypt: true,
                bandwidth_limit: None,
                credentials: Default::default(),
            })
            .collect();
        if let Some(path) = config_path(ctx.global.config.as_deref()).filter(|p| !p.exists()) {
            for s in &config.sites {
                crate::sites::add_to_file(&path, s)?;
            }
            eprintln!(
                "recovered {} site(s) into {}",
                config.sites.len(),
                path.display()
            );
        }
    }
    drop(catalog);
    let ctx = Ctx {
        global: Global {
            db: Some(db),
            config: ctx.global.config.clone(),
            json: ctx.global.json,
            no_progress: ctx.global.no_progress,
            verbose: ctx.global.verbose,
            quiet: ctx.global.quiet,
        },
        config,
    };
    restore::run(
        &ctx,
        &restore::RestoreArgs::everything(args.to.clone(), args.tier),
    )
}
