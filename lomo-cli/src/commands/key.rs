//! `lomob key init|add|remove|change|list`: the master key and its passphrases.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lomo_crypt::{KdfParams, KeyFile, MasterKey};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::output::Out;
use crate::secrets::{read_new_secret, read_secret};

#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// The key file [default: the config's key_file, else $XDG_DATA_HOME/lomob/lomob.key]
    #[arg(long, global = true, env = "LOMOB_KEY_FILE", value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Read the current passphrase from this file [default: LOMOB_PASSPHRASE, else ask]
    #[arg(long, global = true, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Read the new passphrase from this file [default: LOMOB_NEW_PASSPHRASE, else ask twice]
    #[arg(long, global = true, value_name = "FILE")]
    new_passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create the master key and its key file, protected by a passphrase.
    Init {
        /// A note for this passphrase's slot
        #[arg(long, default_value = "first passphrase")]
        label: String,
    },
    /// Add another passphrase (a new key slot); needs a current one.
    Add {
        /// A note for the new slot (e.g. who holds it)
        #[arg(long, default_value = "added passphrase")]
        label: String,
    },
    /// Remove a key slot; needs a current passphrase. The last slot stays.
    Remove {
        /// The slot number (see `lomob key list`)
        slot: u32,
    },
    /// Replace the passphrase that unlocks (no data is re-encrypted).
    Change,
    /// Show the key id and the slots (no passphrase needed).
    List,
}

fn key_file_path(ctx: &Ctx, args: &KeyArgs) -> Result<PathBuf> {
    match &args.key_file {
        Some(p) => Ok(p.clone()),
        None => crate::pipeline::keys::key_file_path(ctx),
    }
}

pub(crate) fn run(ctx: &Ctx, args: &KeyArgs) -> Result<Outcome> {
    let path = key_file_path(ctx, args)?;
    let current = || {
        read_secret(
            args.passphrase_file.as_deref(),
            "LOMOB_PASSPHRASE",
            "Passphrase: ",
        )
    };
    let new = || {
        read_new_secret(
            args.new_passphrase_file.as_deref(),
            "LOMOB_NEW_PASSPHRASE",
            "passphrase",
        )
    };
    let load = || KeyFile::load(&path).with_context(|| format!("key file {}", path.display()));
    match &args.command {
        KeyCommand::Init { label } => {
            if path.exists() {
                bail!(
                    "key file {} exists already: lomob never replaces a key (that would orphan every backup)",
                    path.display()
                );
            }
            // Init sets the first passphrase: LOMOB_PASSPHRASE or its file, else ask twice.
            let pass = read_new_secret(
                args.passphrase_file.as_deref(),
                "LOMOB_PASSPHRASE",
                "passphrase",
            )?;
            let key = MasterKey::generate();
            let file = KeyFile::create(&key, &pass, label, KdfParams::default())?;
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            file.save(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("created key {} in {}", key.id(), path.display());
            eprintln!("keep the passphrase safe: without it no backup can be restored");
        }
        KeyCommand::Add { label } => {
            let mut file = load()?;
            let (key, _) = file.unlock(&current()?)?;
            let id = file.add_slot(&key, &new()?, label, KdfParams::default())?;
            file.save(&path)?;
            println!("added key slot {id}");
        }
        KeyCommand::Remove { slot } => {
            let mut file = load()?;
            file.unlock(&current()?)?;
            file.remove_slot(*slot)?;
            file.save(&path)?;
            println!("removed key slot {slot}");
        }
        KeyCommand::Change => {
            let mut file = load()?;
            let (key, old) = file.unlock(&current()?)?;
            let label = file
                .slots()
                .iter()
                .find(|s| s.id == old)
                .map_or_else(String::new, |s| s.label.clone());
            let id = file.add_slot(&key, &new()?, &label, KdfParams::default())?;
            file.remove_slot(old)?;
            file.save(&path)?;
            println!("changed the passphrase (slot {old} replaced by slot {id})");
        }
        KeyCommand::List => {
            let file = load()?;
            let mut out = Out::new(ctx.global.json);
            if out.json() {
                for s in file.slots() {
                    out.record(&json!({"key_id": file.key_id(), "slot": s.id, "label": s.label}))?;
                }
            } else {
                out.line(&format!("key {} ({})", file.key_id(), path.display()))?;
                for s in file.slots() {
                    out.line(&format!("  slot {}: {}", s.id, s.label))?;
                }
            }
            out.flush()?;
        }
    }
    Ok(Outcome::Clean)
}
