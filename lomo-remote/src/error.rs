//! The crate's one error type.

use std::fmt;

/// The operation a request was part of, for error messages and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Open the site (parse its URL, build its client).
    Open,
    /// Put a whole object.
    Put,
    /// Start a multipart upload.
    CreateUpload,
    /// Upload one part of a multipart upload.
    PutPart,
    /// Complete a multipart upload.
    CompleteUpload,
    /// Abort a multipart upload.
    AbortUpload,
    /// List pending multipart uploads.
    ListUploads,
    /// Read an object (whole or a range).
    Get,
    /// Read an object's metadata.
    Head,
    /// List objects under a prefix.
    List,
    /// Delete an object.
    Delete,
    /// Request a restore from a cold tier.
    Restore,
    /// Change a stored object's storage class (Azure: Set Blob Tier).
    SetClass,
    /// Set an object's Object Lock retention.
    SetRetention,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Put => "put",
            Op::CreateUpload => "create multipart upload",
            Op::PutPart => "upload part",
            Op::CompleteUpload => "complete multipart upload",
            Op::AbortUpload => "abort multipart upload",
            Op::ListUploads => "list multipart uploads",
            Op::Get => "get",
            Op::Head => "head",
            Op::List => "list",
            Op::Delete => "delete",
            Op::Restore => "restore",
            Op::SetClass => "set storage class",
            Op::SetRetention => "set retention",
        })
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong talking to a site.
///
/// Every variant that concerns an object names the site, the object key
/// (relative to the site's prefix) and the operation. Transient failures
/// (timeouts, resets, 5xx, throttling) have already been retried with
/// backoff when they surface here; see [`Error::is_transient`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("site {site}: {op} {key}: no such object")]
    NotFound {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key, relative to the site's prefix.
        key: String,
    },
    /// The object is in a cold storage class and has not been restored.
    #[error(
        "site {site}: {op} {key}: the object is in a cold storage class and is not restored; \
         request a restore (e.g. `lomob restore … --tier bulk`) and read it once the restore is ready"
    )]
    NotRestored {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
    },
    /// The credentials are missing, wrong, or lack a permission.
    #[error(
        "site {site}: {op} {key}: access denied ({source}); check the site's credentials \
         (environment or config file) and the bucket's permissions"
    )]
    Denied {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// What the site said.
        source: Source,
    },
    /// A multipart upload id the caller persisted no longer exists on the site.
    #[error(
        "site {site}: {op} {key}: multipart upload {upload_id} no longer exists on the site \
         (completed, aborted or expired); start a new upload"
    )]
    UploadGone {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// The upload id.
        upload_id: String,
    },
    /// The site cannot do this at all.
    #[error("site {site}: {op} {key}: not supported by this site: {what}")]
    Unsupported {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// What is missing.
        what: String,
    },
    /// The object key is not valid for this site.
    #[error("site {site}: invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// Site name.
        site: String,
        /// Offending key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A request failed (after the retries allowed for transient failures).
    #[error("site {site}: {op} {key}: {source}")]
    Request {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// Whether the last failure was transient (network, 5xx, throttling).
        transient: bool,
        /// The underlying error.
        source: Source,
    },
    /// What the site stored differs from what was sent.
    #[error("site {site}: {op} {key}: integrity check failed: {detail}")]
    Integrity {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// What differs.
        detail: String,
    },
    /// The site is full.
    #[error("site {site}: {op} {key}: the site is full: {detail}")]
    Full {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// How full, and what to do.
        detail: String,
    },
    /// The bytes to upload could not be read.
    #[error("site {site}: {op} {key}: reading the data to upload: {source}")]
    Source {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The object is under an Object Lock retention: it cannot be deleted
    /// or replaced before the date, and lomob does not send the request.
    #[error(
        "site {site}: {op} {key}: refused: the object is locked ({lock}) by S3 Object Lock; \
         it cannot be deleted or replaced before then"
    )]
    Locked {
        /// Site name.
        site: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// The retention in force.
        lock: crate::lock::ObjectLock,
    },
    /// A site URL could not be understood.
    #[error("invalid site URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given (never contains credentials: those are refused).
        url: String,
        /// Why.
        reason: String,
    },
    /// The site could not be set up from its URL and options.
    #[error("site {site}: {reason}")]
    Config {
        /// Site name.
        site: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// True when retrying later may succeed (network trouble, 5xx, throttling).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Request {
                transient: true,
                ..
            }
        )
    }

    /// True when the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where an error happened: site, operation and key, to build [`Error`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) site: &'a str,
    pub(crate) op: Op,
    pub(crate) key: &'a str,
}

impl<'a> At<'a> {
    pub(crate) fn new(site: &'a str, op: Op, key: &'a str) -> Self {
        Self { site, op, key }
    }

    pub(crate) fn not_found(self) -> Error {
        Error::NotFound {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
        }
    }

    pub(crate) fn not_restored(self) -> Error {
        Error::NotRestored {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
        }
    }

    pub(crate) fn denied(self, source: impl Into<Source>) -> Error {
        Error::Denied {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            source: source.into(),
        }
    }

    pub(crate) fn upload_gone(self, upload_id: &str) -> Error {
        Error::UploadGone {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            upload_id: upload_id.to_owned(),
        }
    }

    pub(crate) fn unsupported(self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            what: what.into(),
        }
    }

    pub(crate) fn request(self, transient: bool, source: impl Into<Source>) -> Error {
        Error::Request {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            transient,
            source: source.into(),
        }
    }

    pub(crate) fn integrity(self, detail: impl Into<String>) -> Error {
        Error::Integrity {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn full(self, detail: impl Into<String>) -> Error {
        Error::Full {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn source(self, source: std::io::Error) -> Error {
        Error::Source {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            source,
        }
    }

    pub(crate) fn locked(self, lock: crate::lock::ObjectLock) -> Error {
        Error::Locked {
            site: self.site.to_owned(),
            op: self.op,
            key: self.key.to_owned(),
            lock,
        }
    }

    pub(crate) fn invalid_key(self, reason: impl Into<String>) -> Error {
        Error::InvalidKey {
            site: self.site.to_owned(),
            key: self.key.to_owned(),
            reason: reason.into(),
        }
    }
}
