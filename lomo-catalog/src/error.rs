//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the catalog or a scan, with the file it concerns.
///
/// Problems with single entries during a scan (an unreadable file, a file that
/// changed while it was hashed) are not errors: the scan goes on and reports them
/// as [`crate::ScanIssue`]s. An `Error` means the operation as a whole failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite database failed.
    #[error("catalog {path}: {source}")]
    Db {
        /// The catalog file.
        path: PathBuf,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The catalog was written by a newer lomob whose schema this one does not know.
    #[error(
        "catalog {path} has schema version {found}, this lomob knows up to {known}: upgrade lomob"
    )]
    SchemaTooNew {
        /// The catalog file.
        path: PathBuf,
        /// The version stored in the file.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// A scan root is missing, not a directory or not accessible.
    #[error("scan root {path}: {source}")]
    Root {
        /// The root as given.
        path: PathBuf,
        /// Why it cannot be scanned.
        #[source]
        source: std::io::Error,
    },
    /// A folder to rescan is not inside the scan root it was given with.
    #[error("{path} is not inside scan root {root}")]
    OutsideRoot {
        /// The folder as given.
        path: PathBuf,
        /// The (canonical) root.
        root: PathBuf,
    },
    /// Two scan roots overlap (one is inside the other).
    #[error("scan root {inner} is inside scan root {outer}: scan the outer one only")]
    NestedRoots {
        /// The root inside the other.
        inner: PathBuf,
        /// The enclosing root.
        outer: PathBuf,
    },
    /// An ignore pattern is not a valid glob.
    #[error("ignore pattern {pattern:?}: {source}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: globset::Error,
    },
    /// Another process is scanning into the same catalog.
    #[error("catalog {path} is busy: another lomob is scanning into it (lock file {lock})")]
    Busy {
        /// The catalog file.
        path: PathBuf,
        /// The lock file held by the other process.
        lock: PathBuf,
    },
    /// The scan lock file could not be created or locked.
    #[error("lock file {lock}: {source}")]
    Lock {
        /// The lock file.
        lock: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The scanner's worker threads could not be started.
    #[error("cannot start {threads} scan threads: {source}")]
    Threads {
        /// How many threads were asked for.
        threads: usize,
        /// The reason.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    /// A scan worker stopped unexpectedly (it panicked or lost its catalog connection).
    #[error("scan of {root} stopped: {reason}")]
    ScanAborted {
        /// The root being scanned.
        root: PathBuf,
        /// What happened.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds the catalog path to rusqlite errors.
pub(crate) trait DbContext<T> {
    fn db(self, path: &std::path::Path) -> Result<T>;
}

impl<T> DbContext<T> for rusqlite::Result<T> {
    fn db(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Db {
            path: path.to_path_buf(),
            source,
        })
    }
}
