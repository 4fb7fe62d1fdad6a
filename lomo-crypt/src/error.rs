//! The crate's error type.

use crate::key::KeyId;

/// What can go wrong opening or sealing lomob's formats.
///
/// Authentication failures never say more than which chunk failed: a wrong key
/// and a tampered object look the same past the header.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the underlying bytes failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The bytes do not start with the stream magic.
    #[error("not a lomob encrypted object (bad magic)")]
    NotAStream,
    /// A stream version this build does not know.
    #[error("unsupported lomob stream version {0}")]
    UnsupportedVersion(u8),
    /// The header is malformed (chunk size out of range, reserved bits set).
    #[error("malformed stream header: {0}")]
    BadHeader(&'static str),
    /// The object was encrypted under another master key.
    #[error("object was encrypted with key {found}, not with this key ({expected})")]
    WrongKey {
        /// The id of the key in use.
        expected: KeyId,
        /// The id recorded in the object.
        found: KeyId,
    },
    /// The header's tag does not verify: the header was altered.
    #[error("stream header failed authentication: the object was altered")]
    HeaderTampered,
    /// A chunk did not authenticate: corrupted, truncated, reordered or swapped.
    #[error("chunk {index} failed authentication: the object is damaged or was altered")]
    ChunkAuth {
        /// Index of the chunk.
        index: u64,
    },
    /// The object ends before its final chunk.
    #[error("object is truncated (no final chunk)")]
    Truncated,
    /// Data follows the final chunk.
    #[error("object has data after its final chunk")]
    TrailingData,
    /// A ciphertext length that no plaintext produces.
    #[error("{0} bytes is not a valid encrypted object length")]
    BadLength(u64),
    /// A sealed box did not open. Deliberately one error for a wrong
    /// passphrase, a damaged blob and bytes that are not a box.
    #[error(
        "cannot open the sealed box: wrong passphrase, or the file is damaged or not a sealed box"
    )]
    BoxOpen,
    /// A filecrypt archive payload is unsafe or malformed.
    #[error("archive entry {entry:?}: {reason}")]
    Archive {
        /// The entry's name as stored.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Go lomo-backup object decrypted to bytes whose SHA-256 does not start
    /// with its IV: a wrong master key or a damaged object.
    #[error(
        "wrong master key or damaged object: the decrypted data fails the Go lomo-backup check (SHA-256 prefix)"
    )]
    GoCheckFailed,
    /// A key file could not be parsed or is internally inconsistent.
    #[error("key file is damaged: {0}")]
    KeyFileDamaged(String),
    /// No key slot opens with this passphrase.
    #[error("wrong passphrase: it opens none of the key file's {slots} slots")]
    WrongPassphrase {
        /// How many slots were tried.
        slots: usize,
    },
    /// Key-slot bookkeeping refused the change.
    #[error("{0}")]
    Slot(String),
    /// The password KDF rejected its parameters.
    #[error("key derivation: {0}")]
    Kdf(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps this error for `std::io` adapters (kind `InvalidData`, except I/O errors).
    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            Error::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// Unwraps an error that went through a `std::io` adapter back into [`Error`].
pub(crate) fn from_io(e: std::io::Error) -> Error {
    if e.get_ref()
        .is_some_and(<dyn std::error::Error + Send + Sync>::is::<Error>)
    {
        match e
            .into_inner()
            .map(<dyn std::error::Error + Send + Sync>::downcast::<Error>)
        {
            Some(Ok(inner)) => *inner,
            Some(Err(other)) => Error::Io(std::io::Error::other(other)),
            None => Error::Io(std::io::Error::other("unknown I/O error")),
        }
    } else {
        Error::Io(e)
    }
}
