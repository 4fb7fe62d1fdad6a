//! Storage sites for lomob: one async trait over S3 (Glacier Deep Archive
//! included), any S3-compatible server, Google Cloud Storage, Azure Blob,
//! local folders and Google Drive, with resumable multipart uploads, restores from cold
//! tiers and per-request accounting.
//!
//! - [`Backend`] is the site trait, used as `Arc<dyn Backend>`; [`open`]
//!   builds one from a [`SiteUrl`] such as
//!   `s3://bucket/prefix?storage_class=DEEP_ARCHIVE` or `file:///mnt/disk`.
//! - [`Uploader`] sends big objects as multipart uploads from a
//!   [`PartSource`], reporting an [`UploadState`] after every part so a
//!   caller can persist it and resume in another process, then checks the
//!   stored size and checksum.
//! - [`Usage`] counts every HTTP request by price class, retries included,
//!   with bytes sent and received: the raw figures of a cost ledger.
//!
//! Backends: object_store for S3, GCS, Azure and local folders; a small
//! SigV4-signed hyper + rustls client for what object_store lacks on S3
//! (HEAD with the stored SHA-256 and restore status, RestoreObject, listing
//! pending multipart uploads, S3 Object Lock: locked PUTs and multipart
//! creates, the bucket's lock configuration, PutObjectRetention; on a site
//! opened with [`SiteOptions::with_object_lock`] a delete or overwrite of a
//! locked object is refused as [`Error::Locked`] before it is sent, and
//! deletes remove versions instead of leaving delete markers). Google Drive v3 ([`gdrive`]) is a hyper +
//! rustls client of its own: OAuth 2.0 loopback flow with PKCE, token
//! refresh, resumable uploads, a folder tree under a root folder.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::TryStreamExt as _;
//! use lomo_remote::{PutOptions, SiteOptions, SiteUrl, Uploader};
//!
//! let dir = tempfile::tempdir()?;
//! let url = SiteUrl::local(dir.path())?;
//! let site = lomo_remote::open(&url, &SiteOptions::named("disk"))?;
//!
//! // A 3 MB object sent in 1 MB parts, then read back by range.
//! let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
//! let file = tempfile::tempfile()?;
//! std::os::unix::fs::FileExt::write_all_at(&file, &data, 0)?;
//! let up = Uploader::new(site.clone());
//! let checked = up
//!     .upload("photos/a.bin", data.len() as u64, file, 1_000_000, &PutOptions::default(), |_| Ok(()))
//!     .await?;
//! assert_eq!(checked.size, 3_000_000);
//! let part: Vec<bytes::Bytes> = site.get("photos/a.bin", Some(10..20)).await?.try_collect().await?;
//! assert_eq!(part.concat(), &data[10..20]);
//! # Ok(())
//! # }
//! ```
//!
//! Features: `test-util` exposes the `conformance` suite every backend
//! passes and the `testing` module that starts test servers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod azure;
mod backend;
mod error;
pub mod gdrive;
mod http;
mod local;
mod lock;
mod meter;
mod objstore;
mod open;
mod retry;
mod s3;
mod s3hidden;
mod s3lock;
mod spec;
mod upload;

#[cfg(feature = "test-util")]
pub mod conformance;
#[cfg(feature = "test-util")]
pub mod testing;

pub use backend::{
    Backend, ByteStream, Capabilities, ObjectInfo, Part, PartStream, PendingUpload, PutOptions,
    PutResult, RestoreRequest, RestoreStatus, RestoreTier,
};
pub use error::{Error, Op, Result};
pub use local::UPLOADS_DIR;
pub use lock::{BucketLock, LockMode, ObjectLock};
pub use meter::{RequestClass, Usage, classify};
pub use open::{Credentials, SiteMemo, SiteOptions, open};
pub use retry::RetryPolicy;
pub use spec::{Location, SiteUrl};
pub use upload::{
    DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, DEFAULT_PIECE_SIZE, PartSource, SeekSource,
    UploadState, Uploader, Verified, part_size_for,
};

/// Entry points for the fuzz targets in the workspace's `fuzz/` (not API).
#[doc(hidden)]
pub mod fuzz_hooks {
    /// Drive JSON answers (file lists, files, tokens, client files): parse
    /// without panicking; tokens that parse write back to the same value.
    pub fn drive_json(data: &[u8]) {
        crate::gdrive::fuzz_json(data);
    }

    /// S3 XML answers, the `x-amz-restore` header and Azure's List Blobs
    /// answers: parse without panicking.
    pub fn s3_xml(data: &[u8]) {
        crate::s3::fuzz_xml(data);
        crate::azure::fuzz_xml(data);
    }
}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
