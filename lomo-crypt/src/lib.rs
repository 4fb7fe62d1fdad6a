//! filecrypt-compatible sealed box, seekable XChaCha20-Poly1305 stream format and key files for lomob.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout; its
//! API arrives with issue #5 (see the workspace's `DESIGN.md` notes in the
//! README). It exports nothing today, so nothing can depend on it by mistake.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
