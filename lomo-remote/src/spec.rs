//! Site URLs: `s3://`, `gs://`, `az://`, `file://`, `gdrive://`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where a site's objects live, parsed from a site URL.
///
/// | URL | site |
/// |---|---|
/// | `s3://BUCKET/PREFIX?region=R&endpoint=URL&storage_class=DEEP_ARCHIVE` | AWS S3 or any S3-compatible server |
/// | `gs://BUCKET/PREFIX?storage_class=ARCHIVE` | Google Cloud Storage |
/// | `az://CONTAINER/PREFIX?account=A&storage_class=Archive` | Azure Blob Storage |
/// | `file:///PATH` | a local folder (NAS mount, removable disk) |
/// | `gdrive://FOLDER` | a Google Drive folder |
///
/// Credentials never go in the URL (a `user:password@` part is refused):
/// they come from the environment or the config file (see [`crate::SiteOptions`]).
/// `endpoint=` points S3 at another server (MinIO, garage, moto), and
/// Drive at another API base (a local fake in tests);
/// `emulator=` points GCS or Azure at a local emulator (fake-gcs-server,
/// Azurite) and turns off their cloud authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl {
    raw: String,
    location: Location,
    storage_class: Option<String>,
}

/// The backend-specific part of a [`SiteUrl`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// S3 or an S3-compatible server.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket ("" for none), without a trailing slash.
        prefix: String,
        /// Region (default: `AWS_DEFAULT_REGION`/`AWS_REGION`, else `us-east-1`).
        region: Option<String>,
        /// Endpoint of an S3-compatible server; path-style requests are used then.
        endpoint: Option<String>,
    },
    /// Google Cloud Storage.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket.
        prefix: String,
        /// Base URL of a local emulator (no OAuth).
        emulator: Option<String>,
    },
    /// Azure Blob Storage.
    Azure {
        /// Container name.
        container: String,
        /// Key prefix inside the container.
        prefix: String,
        /// Storage account (default: `AZURE_STORAGE_ACCOUNT_NAME`).
        account: Option<String>,
        /// Account URL of an emulator or a non-default endpoint.
        endpoint: Option<String>,
    },
    /// A local folder.
    Local {
        /// The folder.
        path: PathBuf,
    },
    /// A Google Drive folder.
    Drive {
        /// Folder path under My Drive, e.g. `lomorage`.
        folder: String,
        /// API base URL (default `https://www.googleapis.com`; tests point
        /// it at a local fake).
        endpoint: Option<String>,
    },
}

impl SiteUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Where the objects live.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The storage class named in the URL, if any.
    pub fn storage_class(&self) -> Option<&str> {
        self.storage_class.as_deref()
    }

    /// The URL scheme (`s3`, `gs`, `az`, `file`, `gdrive`).
    pub fn scheme(&self) -> &'static str {
        match self.location {
            Location::S3 { .. } => "s3",
            Location::Gcs { .. } => "gs",
            Location::Azure { .. } => "az",
            Location::Local { .. } => "file",
            Location::Drive { .. } => "gdrive",
        }
    }

    /// A local folder site for `path` (made absolute against the current directory).
    pub fn local(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let abs = std::path::absolute(&path).map_err(|e| Error::InvalidUrl {
            url: path.display().to_string(),
            reason: format!("cannot make the path absolute: {e}"),
        })?;
        let raw = url::Url::from_directory_path(&abs)
            .map(|u| u.to_string().trim_end_matches('/').to_owned())
            .unwrap_or_else(|()| format!("file://{}", abs.display()));
        Ok(Self {
            raw,
            location: Location::Local { path: abs },
            storage_class: None,
        })
    }
}

impl fmt::Display for SiteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for SiteUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidUrl {
            url: redact(s),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in a site URL; set them in the environment or the config file",
            ));
        }
        let mut query: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in url.query_pairs() {
            // `endpoint=` left empty (an unset shell variable) would
            // silently mean AWS itself.
            if v.trim().is_empty() {
                return Err(bad(&format!("parameter {k:?} has no value")));
            }
            if query.insert(k.to_string(), v.to_string()).is_some() {
                return Err(bad(&format!("parameter {k:?} given twice")));
            }
        }
        let mut take = |k: &str| query.remove(k).filter(|v| !v.is_empty());
        let storage_class = take("storage_class");
        let host = || {
            url.host_str()
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| bad("missing the bucket/container name after the scheme"))
        };
        let prefix = url
            .path()
            .split('/')
            .filter(|p| !p.is_empty())
            .map(|p| {
                percent_decode(p).map_err(|()| bad("the prefix is not valid percent-encoded UTF-8"))
            })
            .collect::<Result<Vec<_>>>()?
            .join("/");
        let location = match url.scheme() {
            "s3" => Location::S3 {
                bucket: host()?,
                prefix,
                region: take("region"),
                endpoint: take("endpoint"),
            },
            "gs" => Location::Gcs {
                bucket: host()?,
                prefix,
                emulator: take("emulator"),
            },
            "az" | "azure" => Location::Azure {
                container: host()?,
                prefix,
                account: take("account"),
                endpoint: take("endpoint"),
            },
            "file" => {
                if url
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return Err(bad("file URLs name a local path: file:///path"));
                }
                let path = url
                    .to_file_path()
                    .map_err(|()| bad("not a local absolute path"))?;
                Location::Local { path }
            }
            "gdrive" => {
                let mut folder = host()?;
                if !prefix.is_empty() {
                    folder = format!("{folder}/{prefix}");
                }
                Location::Drive {
                    folder,
                    endpoint: take("endpoint"),
                }
            }
            other => {
                return Err(bad(&format!(
                    "unknown scheme {other:?} (use s3://, gs://, az://, file:// or gdrive://)"
                )));
            }
        };
        if let Some(k) = query.keys().next() {
            return Err(bad(&format!(
                "unknown parameter {k:?} for a {}:// site",
                url.scheme()
            )));
        }
        if storage_class.is_some()
            && matches!(location, Location::Local { .. } | Location::Drive { .. })
        {
            return Err(bad("storage_class applies to s3, gs and az sites only"));
        }
        Ok(Self {
            raw: s.to_owned(),
            location,
            storage_class,
        })
    }
}

fn percent_decode(s: &str) -> std::result::Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(())?;
            let hex = std::str::from_utf8(hex).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// Drops a `user:password@` part so it is never printed.
fn redact(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_with_options() {
        let u: SiteUrl = "s3://photos/lomob/home?region=eu-west-1&endpoint=http://127.0.0.1:9000&storage_class=DEEP_ARCHIVE"
            .parse()
            .unwrap();
        assert_eq!(u.storage_class(), Some("DEEP_ARCHIVE"));
        assert_eq!(
            u.location(),
            &Location::S3 {
                bucket: "photos".into(),
                prefix: "lomob/home".into(),
                region: Some("eu-west-1".into()),
                endpoint: Some("http://127.0.0.1:9000".into()),
            }
        );
    }

    #[test]
    fn other_schemes() {
        let g: SiteUrl = "gs://b".parse().unwrap();
        assert!(matches!(g.location(), Location::Gcs { prefix, .. } if prefix.is_empty()));
        let a: SiteUrl = "az://c/p?account=acct".parse().unwrap();
        assert!(matches!(a.location(), Location::Azure { account: Some(x), .. } if x == "acct"));
        let f: SiteUrl = "file:///mnt/disk%20one/lomob".parse().unwrap();
        assert_eq!(
            f.location(),
            &Location::Local {
                path: "/mnt/disk one/lomob".into()
            }
        );
        let d: SiteUrl = "gdrive://lomorage".parse().unwrap();
        assert_eq!(
            d.location(),
            &Location::Drive {
                folder: "lomorage".into(),
                endpoint: None
            }
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let e = "s3://AKIA:secret@bucket/x"
            .parse::<SiteUrl>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("credentials"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = "s3://b?regoin=x"
            .parse::<SiteUrl>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("regoin"), "{e}");
        let e = "ftp://b".parse::<SiteUrl>().unwrap_err().to_string();
        assert!(e.contains("ftp"), "{e}");
        assert!(
            "file:///x?storage_class=GLACIER"
                .parse::<SiteUrl>()
                .is_err()
        );
        assert!("s3:///nobucket".parse::<SiteUrl>().is_err());
        let e = "s3://b/p?endpoint=&region=garage"
            .parse::<SiteUrl>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"endpoint\" has no value"), "{e}");
    }

    #[test]
    fn local_constructor() {
        let u = SiteUrl::local("/tmp/a b").unwrap();
        assert_eq!(u.as_str(), "file:///tmp/a%20b");
        assert_eq!(
            u.as_str().parse::<SiteUrl>().unwrap().location(),
            u.location()
        );
    }
}
