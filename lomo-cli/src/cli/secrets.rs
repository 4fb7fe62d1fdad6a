//! Passphrases and keys for the command line: from a file, the
//! environment, or a prompt without echo. Never logged, never taken from
//! the command line itself.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

/// A secret read from `file`, else `env`, else a prompt (when stdin is a terminal).
pub(crate) fn read_secret(
    file: Option<&Path>,
    env: &str,
    prompt: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(f) = file {
        let mut s = Zeroizing::new(
            std::fs::read(f)
                .with_context(|| format!("cannot read passphrase file {}", f.display()))?,
        );
        // a trailing newline is the editor's, not the passphrase's
        while s.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            s.pop();
        }
        return Ok(s);
    }
    if let Some(v) = std::env::var_os(env) {
        return Ok(Zeroizing::new(v.into_encoded_bytes()));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set {env}, pass a passphrase file, or run in a terminal to be asked");
    }
    let s = rpassword::prompt_password(prompt).context("cannot read the passphrase")?;
    Ok(Zeroizing::new(s.into_bytes()))
}

/// A new secret: from `file` or `env`, else asked twice on a terminal.
pub(crate) fn read_new_secret(
    file: Option<&Path>,
    env: &str,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    if file.is_some() || std::env::var_os(env).is_some() {
        let s = read_secret(file, env, "")?;
        if s.is_empty() {
            bail!("the {what} is empty");
        }
        return Ok(s);
    }
    let a = read_secret(None, env, &format!("New {what}: "))?;
    let b = read_secret(None, env, &format!("Repeat the {what}: "))?;
    if *a != *b {
        bail!("the two {what}s differ");
    }
    if a.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(a)
}

/// The engine's secrets, the command line's way: the passphrase from the
/// file `LOMOB_PASSPHRASE_FILE` names, else `LOMOB_PASSPHRASE`, else a
/// prompt; the Go master key from `LOMOB_MASTER_KEY` or a prompt.
pub(crate) struct CliSecrets {
    passphrase_file: Option<PathBuf>,
}

impl CliSecrets {
    pub(crate) fn from_env() -> CliSecrets {
        CliSecrets {
            passphrase_file: std::env::var_os("LOMOB_PASSPHRASE_FILE").map(PathBuf::from),
        }
    }
}

fn secret(r: Result<Zeroizing<Vec<u8>>>) -> lomob::Result<lomob::Secret> {
    r.map_err(|e| lomob::Error::Secret(format!("{e:#}")))
}

impl lomob::Secrets for CliSecrets {
    fn passphrase(&self) -> lomob::Result<lomob::Secret> {
        secret(read_secret(
            self.passphrase_file.as_deref(),
            "LOMOB_PASSPHRASE",
            "Passphrase: ",
        ))
    }

    fn new_passphrase(&self) -> lomob::Result<lomob::Secret> {
        secret(read_new_secret(
            self.passphrase_file.as_deref(),
            "LOMOB_PASSPHRASE",
            "passphrase",
        ))
    }

    fn go_master_key(&self) -> lomob::Result<lomob::Secret> {
        secret(read_secret(
            None,
            "LOMOB_MASTER_KEY",
            "Go lomob master key: ",
        ))
    }
}
