//! The incremental, parallel filesystem scanner.
//!
//! A scan walks one root with a pool of worker threads. Each worker lists a
//! directory, compares every entry with the catalog (through its own read-only
//! connection) and hashes only what is new or changed; one writer thread applies
//! the results in batched transactions. See [`crate::Catalog::scan`].

mod hash;
mod walk;
mod writer;

use std::fs::Metadata;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// File names lomob skips by default.
pub const DEFAULT_IGNORE_FILES: &[&str] = &[".DS_Store", "._.DS_Store", "Thumbs.db"];
/// Directory names lomob skips by default.
pub const DEFAULT_IGNORE_DIRS: &[&str] = &[".idea", ".git", ".github"];

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Glob patterns matched against file names (not paths) to skip.
    pub ignore_files: Vec<String>,
    /// Glob patterns matched against directory names to skip, with their contents.
    pub ignore_dirs: Vec<String>,
    /// Worker threads; 0 means one per CPU.
    pub threads: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            ignore_files: DEFAULT_IGNORE_FILES
                .iter()
                .map(ToString::to_string)
                .collect(),
            ignore_dirs: DEFAULT_IGNORE_DIRS
                .iter()
                .map(ToString::to_string)
                .collect(),
            threads: 0,
        }
    }
}

impl ScanOptions {
    pub(crate) fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, usize::from)
        }
    }

    pub(crate) fn globs(&self) -> Result<(globset::GlobSet, globset::GlobSet)> {
        Ok((
            build_globs(&self.ignore_files)?,
            build_globs(&self.ignore_dirs)?,
        ))
    }
}

fn build_globs(patterns: &[String]) -> Result<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|source| Error::Pattern {
                pattern: p.clone(),
                source,
            })?;
        b.add(glob);
    }
    b.build().map_err(|source| Error::Pattern {
        pattern: patterns.join(","),
        source,
    })
}

/// Receives progress from a running scan; every method defaults to doing nothing.
///
/// Methods are called from the worker threads, concurrently.
pub trait ScanProgress: Sync {
    /// A directory was listed holding `files` regular files of `bytes` bytes in all.
    fn listed(&self, files: u64, bytes: u64) {
        let _ = (files, bytes);
    }
    /// `bytes` more bytes were read and hashed.
    fn hashed(&self, bytes: u64) {
        let _ = bytes;
    }
    /// An entry could not be scanned (the scan goes on).
    fn issue(&self, issue: &ScanIssue) {
        let _ = issue;
    }
}

/// A [`ScanProgress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ScanProgress for NoProgress {}

/// What kind of problem an entry had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueKind {
    /// A directory could not be listed; what the catalog knew below it is kept.
    ReadDir,
    /// An entry could not be `stat`ed.
    Stat,
    /// A file could not be opened or read.
    Read,
    /// A file kept changing while it was hashed; it was not recorded.
    Changed,
    /// A symlink's target could not be read.
    ReadLink,
}

/// An entry the scan had to skip, and why. Its catalog record is left as it was.
#[derive(Debug, Clone)]
pub struct ScanIssue {
    /// The entry's absolute path.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: IssueKind,
    /// The cause, for humans.
    pub message: String,
}

impl std::fmt::Display for ScanIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// What a scan of one root found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScanReport {
    /// The root, canonicalized.
    pub root: PathBuf,
    /// Paths not in the catalog before (moves excluded).
    pub new: u64,
    /// Paths whose content changed.
    pub changed: u64,
    /// Files found at a new path with the content of a path that disappeared.
    pub moved: u64,
    /// Paths that disappeared (moves excluded); their history stays in the catalog.
    pub deleted: u64,
    /// Paths whose content is as recorded.
    pub unchanged: u64,
    /// Special files (sockets, FIFOs, devices) passed over.
    pub skipped: u64,
    /// Directories listed.
    pub dirs: u64,
    /// Files read and hashed.
    pub files_hashed: u64,
    /// Bytes read and hashed.
    pub bytes_hashed: u64,
    /// Entries that could not be scanned.
    pub issues: Vec<ScanIssue>,
    /// Wall time.
    pub elapsed: Duration,
}

/// The stat fields the scanner compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) mode: u32,
    pub(crate) inode: u64,
    pub(crate) dev: u64,
}

impl Meta {
    #[cfg(unix)]
    pub(crate) fn from_metadata(m: &Metadata) -> Meta {
        use std::os::unix::fs::MetadataExt;
        Meta {
            size: m.len(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
            mode: m.mode(),
            inode: m.ino(),
            dev: m.dev(),
        }
    }

    #[cfg(not(unix))]
    pub(crate) fn from_metadata(m: &Metadata) -> Meta {
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        Meta {
            size: m.len(),
            mtime_ns,
            mode: if m.permissions().readonly() {
                0o444
            } else {
                0o644
            },
            inode: 0,
            dev: 0,
        }
    }

    /// Why `other` is not the same file state (size, mtime, inode), if it is not.
    pub(crate) fn differs(&self, other: &Meta) -> Option<String> {
        if self.size != other.size {
            Some(format!("size {} -> {}", self.size, other.size))
        } else if self.mtime_ns != other.mtime_ns {
            Some("mtime changed".into())
        } else if self.inode != other.inode {
            Some("replaced by another file".into())
        } else {
            None
        }
    }
}

pub(crate) use walk::scan_root;
pub(crate) use writer::unix_now;
