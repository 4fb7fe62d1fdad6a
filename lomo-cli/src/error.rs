//! The engine's one error type.
//!
//! Every variant says what it was about: the file (with its path), the
//! object (site and key, through [`lomo_remote::Error`]), the catalog file,
//! or the operation. Messages are complete sentences a user can act on;
//! `source()` keeps the underlying error for callers that inspect it.

use std::path::{Path, PathBuf};

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The catalog could not be read or written (names the catalog file).
    #[error(transparent)]
    Catalog(#[from] lomo_catalog::Error),
    /// A site request failed (names the site, the object and the operation).
    #[error(transparent)]
    Remote(#[from] lomo_remote::Error),
    /// Something could not be encrypted, decrypted or unlocked.
    #[error("{what}: {source}")]
    Crypt {
        /// The file or object concerned.
        what: String,
        /// What lomo-crypt said.
        source: lomo_crypt::Error,
    },
    /// An ISO image could not be laid out, written or read.
    #[error("{what}: {source}")]
    Iso {
        /// The image concerned.
        what: String,
        /// What lomo-iso said.
        source: lomo_iso::Error,
    },
    /// A file or folder could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create`, `write`, …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// There is no catalog where one was expected.
    #[error("no catalog at {}: run `lomob scan DIR` first, or pass --db", path.display())]
    NoCatalog {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The key file unlocks another key than the one the catalog was made with.
    #[error(
        "the catalog {} was made with key {catalog_key}, but the key file {} holds key {file_key}: \
         point key_file at the catalog's own key file (or --db at the catalog of this key)",
        catalog.display(), key_file.display()
    )]
    KeyMismatch {
        /// The catalog file.
        catalog: PathBuf,
        /// The key id the catalog records.
        catalog_key: String,
        /// The key file.
        key_file: PathBuf,
        /// The key id the key file holds.
        file_key: String,
    },
    /// No passphrase (or other secret) could be had.
    #[error("{0}")]
    Secret(String),
    /// Another run holds the catalog's backup lock.
    #[error("another lomob backup is running on this catalog (lock {})", lock.display())]
    Busy {
        /// The lock file.
        lock: PathBuf,
    },
    /// A site is not configured, or cannot be used as asked.
    #[error("{0}")]
    Site(String),
    /// An archive image can no longer be generated as recorded: a file in
    /// it changed since it was planned.
    #[error("{why}")]
    StaleImage {
        /// The archive.
        archive: String,
        /// What changed, naming the file.
        why: String,
        /// The content a file was expected to hold and did not, if known.
        content: Option<[u8; 32]>,
    },
    /// A name from a catalog, snapshot, image or foreign database that
    /// would be written outside its target, or cannot be.
    #[error("refused {}: {reason}", name.display())]
    Refused {
        /// The name as given.
        name: PathBuf,
        /// Why.
        reason: String,
    },
    /// The options or settings do not make sense (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// An operation failed for a reason the message gives.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// An [`Error::Invalid`] from a message.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }

    /// An [`Error::Failed`] from a message.
    pub fn failed(msg: impl Into<String>) -> Error {
        Error::Failed(msg.into())
    }

    /// An [`Error::Crypt`] about `what`.
    pub fn crypt(what: impl Into<String>, source: lomo_crypt::Error) -> Error {
        Error::Crypt {
            what: what.into(),
            source,
        }
    }

    /// Whether this is a site saying an object sits in a cold storage class
    /// and has not been restored.
    pub fn is_not_restored(&self) -> bool {
        matches!(self, Error::Remote(lomo_remote::Error::NotRestored { .. }))
    }

    /// Whether this is a site saying there is no such object.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Remote(e) if e.is_not_found())
    }

    /// The same error with `context` in front of its message (the kind is
    /// kept for the variants callers match on).
    pub fn context(self, context: impl std::fmt::Display) -> Error {
        match self {
            e @ (Error::Remote(lomo_remote::Error::NotRestored { .. })
            | Error::StaleImage { .. }
            | Error::KeyMismatch { .. }
            | Error::Busy { .. }) => e,
            e => Error::Failed(format!("{context}: {e}")),
        }
    }
}

/// `.at("read", path)` on I/O results: the error names the file.
pub(crate) trait IoContext<T> {
    /// The error as [`Error::Io`], naming `path`.
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// `.what("key file …")` on lomo-crypt results.
pub(crate) trait CryptContext<T> {
    /// The error as [`Error::Crypt`] about `what`.
    fn what(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> CryptContext<T> for lomo_crypt::Result<T> {
    fn what(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Crypt {
            what: what(),
            source,
        })
    }
}

impl From<lomo_iso::Error> for Error {
    fn from(source: lomo_iso::Error) -> Error {
        Error::Iso {
            what: "ISO image".into(),
            source,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Error {
        Error::Failed(source.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Failed(format!("JSON: {e}"))
    }
}

/// `bail!`-like early return with an [`Error::Failed`].
macro_rules! fail {
    ($($t:tt)*) => {
        return Err($crate::Error::Failed(format!($($t)*)))
    };
}
pub(crate) use fail;
