//! ISO9660 images for lomob, in pure Rust: no mkisofs.
//!
//! [`Layout`] computes an image from a list of [`Entry`]s — ECMA-119 with Rock
//! Ridge (real names of any length and charset, POSIX modes, mtimes) and Joliet
//! (Windows' long names), files of 4 GiB and more as multi-extent records —
//! and knows its exact size before the first byte is written. [`Layout::write`]
//! then streams it strictly sequentially into any `Write` (a pipe, an
//! encryptor, an upload), reading each source once with bounded memory and
//! checking it against its declared size and BLAKE3. The same entries and
//! options always give the same bytes; entries with the same BLAKE3 share one
//! extent.
//!
//! ```
//! use lomo_iso::{Entry, EntryKind, Layout, WriteOptions};
//!
//! # fn main() -> Result<(), lomo_iso::Error> {
//! let photo = b"not really a jpeg".to_vec();
//! let entries = vec![Entry {
//!     path: "2024/Beach 🏖.jpg".as_bytes().to_vec(),
//!     kind: EntryKind::File { size: photo.len() as u64, blake3: None },
//!     mtime: 1_700_000_000,
//!     mode: 0o644,
//! }];
//! let layout = Layout::new(&entries, WriteOptions::default())?;
//! let image = layout.write(Vec::new(), |_entry| Ok(&photo[..]))?;
//! assert_eq!(image.len() as u64, layout.size());
//! # Ok(())
//! # }
//! ```
//!
//! [`Reader`] opens any image from a `Read + Seek` — Rock Ridge (NM, PX, TF,
//! SL, CE, RE/CL relocation), Joliet or plain ISO9660 names, multi-extent
//! files — to list, look up, read and extract entries. It is built for
//! hostile input: offsets are checked against the image, directories and
//! continuation chains are bounded, loops are detected, and extraction never
//! writes outside its folder, never overwrites and never creates an escaping
//! symlink.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod read;
mod write;

pub use error::{Error, Result};
pub use read::{
    DEFAULT_ALLOWANCE, ExtractOptions, Extracted, FileReader, Reader, Record, SkippedLink, Tree,
    symlink_beneath,
};
pub use write::{Entry, EntryKind, FileExtent, Layout, MANIFEST_PATH, WriteOptions};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
