//! Where the engine gets its secrets: the passphrase that unlocks the key
//! file, a new one when it creates the key, the Go tool's master key. The
//! caller decides (a prompt, an environment variable, a file, a UI); the
//! engine asks only when it needs one, and never keeps or logs it.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A secret's bytes, wiped when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

/// Supplies secrets on demand.
pub trait Secrets: Send + Sync {
    /// The passphrase that unlocks the key file.
    fn passphrase(&self) -> Result<Secret>;

    /// A new passphrase, for a key file being created (a prompt asks twice).
    fn new_passphrase(&self) -> Result<Secret> {
        self.passphrase()
    }

    /// The Go lomo-backup's master key (its `LOMOB_MASTER_KEY`), for
    /// restoring what it uploaded.
    fn go_master_key(&self) -> Result<Secret> {
        Err(Error::Secret(
            "no Go lomo-backup master key: set LOMOB_MASTER_KEY".into(),
        ))
    }
}

/// One passphrase given up front (an embedding program's own setting).
pub struct Passphrase(Secret);

impl Passphrase {
    /// The passphrase `p`.
    pub fn new(p: impl Into<Vec<u8>>) -> Passphrase {
        Passphrase(Zeroizing::new(p.into()))
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(…)")
    }
}

impl Secrets for Passphrase {
    fn passphrase(&self) -> Result<Secret> {
        if self.0.is_empty() {
            return Err(Error::Secret("the passphrase is empty".into()));
        }
        Ok(self.0.clone())
    }
}

/// No secrets at all: operations that need one fail saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl Secrets for NoSecrets {
    fn passphrase(&self) -> Result<Secret> {
        Err(Error::Secret(
            "no passphrase: this operation needs the key's passphrase".into(),
        ))
    }
}
