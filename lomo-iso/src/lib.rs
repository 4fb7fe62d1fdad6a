//! ISO9660 image writer and reader (Rock Ridge, Joliet, multi-extent) for lomob archives.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout; its
//! API arrives with issue #4 (see the workspace's `DESIGN.md` notes in the
//! README). It exports nothing today, so nothing can depend on it by mistake.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
