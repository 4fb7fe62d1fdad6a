//! The master key: unlocked from its key file, or created with it on the
//! first backup; and the names staged objects get from it.

use std::path::Path;

use lomo_crypt::{KdfParams, KeyFile, MasterKey};

use crate::error::{CryptContext as _, IoContext as _, Result};
use crate::progress::{Event, Progress};
use crate::secrets::Secrets;

/// Unlocks the key in `path` with the passphrase `secrets` gives.
pub(crate) fn unlock(path: &Path, secrets: &dyn Secrets) -> Result<MasterKey> {
    let file = KeyFile::load(path).what(|| format!("key file {}", path.display()))?;
    let pass = secrets.passphrase()?;
    let (key, _) = file
        .unlock(&pass)
        .what(|| format!("cannot unlock the key in {}", path.display()))?;
    Ok(key)
}

/// Makes a new master key and saves it in `path`, protected by a new
/// passphrase.
pub(crate) fn create(
    path: &Path,
    secrets: &dyn Secrets,
    progress: &dyn Progress,
) -> Result<MasterKey> {
    progress.event(&Event::Notice(format!(
        "no key yet: creating the master key for your backups in {}",
        path.display()
    )));
    let pass = secrets.new_passphrase()?;
    let key = MasterKey::generate();
    let file = KeyFile::create(&key, &pass, "first", KdfParams::default())
        .what(|| format!("key file {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).at("create", dir)?;
    }
    file.save(path)
        .what(|| format!("cannot write {}", path.display()))?;
    progress.event(&Event::Notice(format!(
        "created key {}: keep the passphrase safe, without it nothing can be restored",
        key.id()
    )));
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
        format!("{}/{}/{}", crate::sites::STAGING_PREFIX, &h[..2], h)
    }
}

/// Managing a key file's passphrases (key slots) without touching any
/// data: `lomob key init|add|remove|change|list`.
pub mod file {
    use std::path::Path;

    use lomo_crypt::{KdfParams, KeyFile, MasterKey, Slot};

    use crate::error::{CryptContext as _, Error, IoContext as _, Result};

    fn load(path: &Path) -> Result<KeyFile> {
        KeyFile::load(path).what(|| format!("key file {}", path.display()))
    }

    fn save(file: &KeyFile, path: &Path) -> Result<()> {
        file.save(path)
            .what(|| format!("cannot write {}", path.display()))
    }

    /// An error when `path` exists: a key file is never replaced (that
    /// would orphan every backup).
    pub fn refuse_existing(path: &Path) -> Result<()> {
        if path.exists() {
            return Err(Error::invalid(format!(
                "key file {} exists already: lomob never replaces a key (that would orphan every backup)",
                path.display()
            )));
        }
        Ok(())
    }

    /// Makes a new master key in a new key file, protected by `passphrase`
    /// in a slot labelled `label`; returns the key's id.
    pub fn init(path: &Path, passphrase: &[u8], label: &str) -> Result<String> {
        refuse_existing(path)?;
        let key = MasterKey::generate();
        let file = KeyFile::create(&key, passphrase, label, KdfParams::default())
            .what(|| format!("key file {}", path.display()))?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at("create", dir)?;
        }
        save(&file, path)?;
        Ok(key.id().to_string())
    }

    /// Adds a slot for `new` (unlocked with `current`); returns its number.
    pub fn add(path: &Path, current: &[u8], new: &[u8], label: &str) -> Result<u32> {
        let mut file = load(path)?;
        let (key, _) = file
            .unlock(current)
            .what(|| format!("key file {}", path.display()))?;
        let id = file
            .add_slot(&key, new, label, KdfParams::default())
            .what(|| format!("key file {}", path.display()))?;
        save(&file, path)?;
        Ok(id)
    }

    /// Removes slot `slot` (the last one stays).
    pub fn remove(path: &Path, current: &[u8], slot: u32) -> Result<()> {
        let mut file = load(path)?;
        file.unlock(current)
            .what(|| format!("key file {}", path.display()))?;
        file.remove_slot(slot)
            .what(|| format!("key file {}", path.display()))?;
        save(&file, path)
    }

    /// Replaces the slot `current` unlocks with one for `new`, keeping its
    /// label; returns (old slot, new slot).
    pub fn change(path: &Path, current: &[u8], new: &[u8]) -> Result<(u32, u32)> {
        let mut file = load(path)?;
        let what = || format!("key file {}", path.display());
        let (key, old) = file.unlock(current).what(what)?;
        let label = file
            .slots()
            .iter()
            .find(|s| s.id == old)
            .map_or_else(String::new, |s| s.label.clone());
        let id = file
            .add_slot(&key, new, &label, KdfParams::default())
            .what(what)?;
        file.remove_slot(old).what(what)?;
        save(&file, path)?;
        Ok((old, id))
    }

    /// The key's id and its slots (no passphrase needed).
    pub fn list(path: &Path) -> Result<(String, Vec<Slot>)> {
        let file = load(path)?;
        Ok((file.key_id().to_owned(), file.slots().to_vec()))
    }
}
