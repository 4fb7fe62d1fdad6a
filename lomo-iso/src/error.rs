//! The crate's error type.

/// What can go wrong building an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Writing the image or reading a source file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (names the file for source errors).
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An entry's path is empty, absolute, has `.`/`..` components or repeats another.
    #[error("entry {path:?}: {reason}")]
    BadEntry {
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A source file no longer matches what was declared for it.
    #[error("source file {path:?} changed: {reason}; the image was not completed")]
    SourceChanged {
        /// The entry's path in the image.
        path: String,
        /// Size or hash mismatch.
        reason: String,
    },
    /// The image is malformed or hostile (names what and where).
    #[error("bad image: {0}")]
    BadImage(String),
    /// No entry at this path in the image.
    #[error("no entry {0:?} in the image")]
    NotFound(String),
    /// Extracting this entry would write outside the target or over something.
    #[error("refusing to extract {entry:?}: {reason}")]
    Unsafe {
        /// The entry's path in the image.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The image would exceed what ISO9660 can address (8 TiB).
    #[error("image too large for ISO9660 ({0} sectors)")]
    TooLarge(u64),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
