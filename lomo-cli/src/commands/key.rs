//! `lomob key init|add|remove|change|list`: the master key and its passphrases.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::cli::output::Out;
use crate::cli::secrets::{read_new_secret, read_secret};

#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// The key file [default: the config's key_file, else <catalog>.key beside the catalog]
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

fn key_file_path(ctx: &Ctx, args: &KeyArgs) -> PathBuf {
    args.key_file.clone().unwrap_or_else(|| ctx.key_file())
}

pub(crate) fn run(ctx: &Ctx, args: &KeyArgs) -> Result<Outcome> {
    use lomob::keys::file;
    let path = key_file_path(ctx, args);
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
    match &args.command {
        KeyCommand::Init { label } => {
            file::refuse_existing(&path)?;
            // Init sets the first passphrase: LOMOB_PASSPHRASE or its file, else ask twice.
            let pass = read_new_secret(
                args.passphrase_file.as_deref(),
                "LOMOB_PASSPHRASE",
                "passphrase",
            )?;
            let id = file::init(&path, &pass, label)?;
            println!("created key {id} in {}", path.display());
            eprintln!("keep the passphrase safe: without it no backup can be restored");
        }
        KeyCommand::Add { label } => {
            let id = file::add(&path, &current()?, &new()?, label)?;
            println!("added key slot {id}");
        }
        KeyCommand::Remove { slot } => {
            file::remove(&path, &current()?, *slot)?;
            println!("removed key slot {slot}");
        }
        KeyCommand::Change => {
            let (old, id) = file::change(&path, &current()?, &new()?)?;
            println!("changed the passphrase (slot {old} replaced by slot {id})");
        }
        KeyCommand::List => list(ctx, &path)?,
    }
    Ok(Outcome::Clean)
}

fn list(ctx: &Ctx, path: &std::path::Path) -> Result<()> {
    let (key_id, slots) = lomob::keys::file::list(path)?;
    let mut out = Out::new(ctx.global.json);
    if out.json() {
        for s in &slots {
            out.record(&json!({"key_id": key_id, "slot": s.id, "label": s.label}))?;
        }
    } else {
        out.line(&format!("key {key_id} ({})", path.display()))?;
        for s in &slots {
            out.line(&format!("  slot {}: {}", s.id, s.label))?;
        }
    }
    out.flush()?;
    Ok(())
}
