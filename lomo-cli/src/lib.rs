//! The lomob engine: everything that makes lomob a backup tool, as a
//! library the `lomob` command line and the Lomorage photo server both link.
//!
//! Open a [`Context`] — a catalog with its sites, its key (unlocked on
//! first use through [`Secrets`]) and a [`Progress`] sink — then run
//! operations on it. Each takes an `*Options` struct (plain data, `Default`
//! where sensible) and returns a typed, serialisable report; nothing is
//! printed, progress and warnings go to the [`Progress`] sink, and every
//! failure is one [`Error`] naming the file, object, site or operation.
//!
//! | operation | entry point | report |
//! |---|---|---|
//! | scan folders into the catalog | [`Context::scan`] | [`ScanRun`] |
//! | back up: scan → pack → send → stage → publish | [`Context::backup`] | [`BackupReport`] |
//! | restore a file, a folder, everything | [`Context::restore`] | [`RestoreReport`] |
//! | rebuild catalog and key after losing the machine | [`recover::rebuild`] | [`Recovered`] |
//! | compare the sites with the catalog | [`Context::check`] | [`CheckReport`] |
//! | what the sites cost | [`Context::cost`], [`cost::estimate`] | [`SiteCost`] |
//! | the daemon | [`Context::watch`] | [`Round`] per round |
//! | import the Go lomo-backup's catalog | [`Context::import_go`] | [`ImportReport`] |
//! | send `iso create`'s images; stage without scanning | [`Context::upload_iso`], [`Context::upload_files`] | [`UploadIsoReport`], [`UploadFilesReport`] |
//! | plan (and write) archive images | [`Context::plan_images`] | [`PlannedImage`] |
//! | test a site | [`sites::probe`] | [`ProbeReport`] |
//!
//! ```
//! use lomob::{BackupOptions, Context, ContextOptions, Passphrase, RestoreOptions, SiteConfig};
//!
//! # fn main() -> Result<(), lomob::Error> {
//! let tmp = tempfile::tempdir().map_err(|e| lomob::Error::failed(e.to_string()))?;
//! let photos = tmp.path().join("Pictures");
//! std::fs::create_dir_all(photos.join("2024")).unwrap();
//! std::fs::write(photos.join("2024/beach.jpg"), b"a photo's bytes").unwrap();
//! std::fs::create_dir_all(tmp.path().join("disk")).unwrap();
//!
//! let opts = ContextOptions::new(tmp.path().join("lomob.db"))
//!     .site(SiteConfig::folder("disk", tmp.path().join("disk"))?);
//! let mut ctx = Context::open(opts)?.with_secrets(Passphrase::new("a long family passphrase"));
//!
//! let backup = ctx.backup(&BackupOptions::of([&photos]))?;
//! assert_eq!(backup.staging[0].staged, 1);
//!
//! let restored = ctx.restore(&RestoreOptions::new(["Pictures/2024"], tmp.path().join("back")))?;
//! assert_eq!(restored.restored, 1);
//! assert_eq!(std::fs::read(tmp.path().join("back/Pictures/2024/beach.jpg")).unwrap(), b"a photo's bytes");
//! # Ok(())
//! # }
//! ```
//!
//! The engine composes the four libraries — [`lomo_catalog`] (the SQLite
//! catalog and scanner), [`lomo_iso`] (ISO9660 images), [`lomo_crypt`]
//! (encryption and keys) and [`lomo_remote`] (storage sites) — which know
//! nothing of each other. The crate's README says which module owns what.
//!
//! Features: `cli` (default) builds the `lomob` binary; turn it off
//! (`default-features = false`) to link the engine without clap, indicatif
//! and anyhow.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod alert;
mod backup;
mod check;
mod context;
pub mod cost;
mod error;
pub mod fsutil;
mod import;
pub mod keys;
mod parity;
mod progress;
pub mod recover;
mod repair;
mod restore;
mod scan;
mod secrets;
pub mod sites;
mod snapmeta;
pub mod status;
mod target;
mod unhide;
pub mod units;
mod upload;
mod watch;

pub use alert::{Alert, AlertSettings, send as send_alert};
pub use backup::{
    BackupOptions, BackupPlan, BackupReport, PackReport, PlanOptions, PlannedImage, SnapshotReport,
    StagingPlan, StagingReport,
};
pub use check::{CheckKind, CheckOptions, CheckReport, Finding, KindCheck, SiteCheck};
pub use context::{Context, ContextOptions, Schedule, default_key_file};
pub use cost::{CostOptions, Prices, SiteCost, WhatIf};
pub use error::{Error, Result};
pub use import::{ImportOptions, ImportReport};
pub use progress::{Bar, Event, NoBar, NoProgress, Progress, Task, TaskKind};
pub use recover::{RecoverOptions, Recovered};
pub use repair::{RepairAction, RepairOptions, RepairOutcome, RepairReport};
pub use restore::{
    FileOutcome, RestoreOptions, RestorePlan, RestoreReport, RestoredFile, SitePlan, parse_as_of,
    split_alias,
};
pub use scan::{RootFailure, ScanRun, ScanRunOptions, issue_kind_name, json_path, report_json};
pub use secrets::{NoSecrets, Passphrase, Secret, Secrets};
pub use sites::{ProbeReport, Role, SiteConfig};
pub use status::{CheckStatus, Problem, RootStatus, SiteStatus, StatusReport, Verdict};
pub use unhide::Unhidden;
pub use upload::{UploadFilesReport, UploadIsoOptions, UploadIsoReport};
pub use watch::{Round, WatchOptions};

/// The libraries the engine is made of, for callers that go below it.
pub use {lomo_catalog, lomo_crypt, lomo_iso, lomo_remote};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
