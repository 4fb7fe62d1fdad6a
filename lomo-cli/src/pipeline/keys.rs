//! The master key for backups: unlocked from the key file, or created with
//! it on the first backup; and the names staged objects get.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lomo_crypt::{KdfParams, KeyFile, MasterKey};

use crate::commands::Ctx;
use crate::secrets::{read_new_secret, read_secret};

/// The key file: the config's `key_file`, else `$XDG_DATA_HOME/lomob/lomob.key`.
pub(crate) fn key_file_path(ctx: &Ctx) -> Result<PathBuf> {
    ctx.config
        .key_file
        .clone()
        .or_else(|| crate::config::project_dirs().map(|d| d.data_dir().join("lomob.key")))
        .context("no place for the key file: set key_file in the config")
}

/// Unlocks the master key with the passphrase from the file named by
/// `LOMOB_PASSPHRASE_FILE`, else `LOMOB_PASSPHRASE`, else a prompt; creates
/// the key and its file first when there is none yet.
pub(crate) fn unlock_or_create(ctx: &Ctx) -> Result<MasterKey> {
    let path = key_file_path(ctx)?;
    let pass_file = std::env::var_os("LOMOB_PASSPHRASE_FILE").map(PathBuf::from);
    let pass_file = pass_file.as_deref();
    if path.exists() {
        let file = KeyFile::load(&path).with_context(|| format!("key file {}", path.display()))?;
        let pass = read_secret(pass_file, "LOMOB_PASSPHRASE", "Passphrase: ")?;
        let (key, _) = file
            .unlock(&pass)
            .with_context(|| format!("cannot unlock the key in {}", path.display()))?;
        return Ok(key);
    }
    eprintln!(
        "no key yet: creating the master key for your backups in {}",
        path.display()
    );
    let pass = read_new_secret(pass_file, "LOMOB_PASSPHRASE", "passphrase")?;
    let key = MasterKey::generate();
    let file = KeyFile::create(&key, &pass, "first", KdfParams::default())?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    file.save(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "created key {}: keep the passphrase safe, without it nothing can be restored",
        key.id()
    );
    Ok(key)
}

/// Object names for staged contents: a keyed hash of the content hash, so
/// a site's listing reveals nothing about the files.
pub(crate) struct Names([u8; 32]);

impl Names {
    pub(crate) fn new(key: &MasterKey) -> Names {
        Names(blake3::derive_key(
            "lomob 2026-11 staged object names v1",
            key.expose(),
        ))
    }

    /// `lomob/staging/ab/abcd…` for the content with BLAKE3 `hash`.
    pub(crate) fn staged(&self, hash: &[u8; 32]) -> String {
        let h = blake3::keyed_hash(&self.0, hash).to_hex();
        format!("{}/{}/{}", super::stage::STAGING_PREFIX, &h[..2], h)
    }
}
