//! Storage sites for lomob: one async trait over S3, GCS, Azure, local folders and Google Drive.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout; its
//! API arrives with issue #6 (see the workspace's `DESIGN.md` notes in the
//! README). It exports nothing today, so nothing can depend on it by mistake.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
