//! The lomob catalog: one SQLite file recording every file under the scanned
//! folders — path, size, mtime, mode and the BLAKE3 hash of its content — with
//! history (a changed or deleted file's old version stays listed) and
//! deduplicated contents (two paths with the same bytes share one content row).
//!
//! The [`Catalog`] owns the schema and its forward-only migrations; other code
//! reads and writes it through typed methods only. Its scanner walks a folder
//! with a pool of threads, hashes only new and changed files, recognises moves
//! and renames without re-reading them, and never records a file that changed
//! while it was being hashed.
//!
//! ```no_run
//! use lomo_catalog::{Catalog, FileQuery, NoProgress, ScanOptions};
//!
//! # fn main() -> Result<(), lomo_catalog::Error> {
//! let mut catalog = Catalog::open("lomob.db")?;
//! let report = catalog.scan("/home/me/Pictures", &ScanOptions::default(), &NoProgress)?;
//! println!("{} new, {} changed, {} moved", report.new, report.changed, report.moved);
//! catalog.for_each_file(&FileQuery::default(), |f| {
//!     println!("{} {}", f.size, f.path.display());
//!     Ok::<_, lomo_catalog::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! A catalog is a plain SQLite file in WAL mode: any number of readers may
//! open it while one process scans. A process killed at any moment leaves it
//! consistent; the next scan completes the work.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod archive;
mod catalog;
mod checks;
mod error;
mod golomob;
mod holds;
mod ledger;
mod memo;
mod meta;
mod path;
mod protection;
mod query;
mod scan;
mod schema;
mod snapshot;
mod staged;

/// Each connection's SQLite page cache, in KiB, unless
/// [`Catalog::set_cache_kib`] says otherwise.
pub const CACHE_KIB: u32 = 32_000;

pub use archive::{Archive, ArchiveCopy, ArchiveEntry, ArchivedAt, Member, NewArchive};
pub use catalog::{Catalog, Root};
pub use checks::{CheckRecord, SiteContact};
pub use error::{Error, Result};
pub use golomob::GoFile;
pub use holds::HeldRoot;
pub use ledger::{LedgerDay, Requests};
pub use memo::{memo_load, memo_save};
pub use protection::{LiveFile, MAX_MASK_SITES, SiteMasks, SiteTotals};
pub use query::{DirEntry, DuplicateSet, EntryKind, FileEntry, FileQuery, Stats};
pub use scan::{
    DEFAULT_IGNORE_DIRS, DEFAULT_IGNORE_FILES, IssueKind, NoProgress, ScanIssue, ScanOptions,
    ScanProgress, ScanReport,
};
pub use schema::SCHEMA_VERSION;
pub use snapshot::KnownSite;
pub use staged::{StagedCopy, ToStage, now as unix_now};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
