//! Files the Go lomo-backup uploaded, imported from its catalog (read
//! only), so that what it sent can be restored: each file's path, size,
//! SHA-256, and the Go ISO (or Google Drive copy) holding it.

use std::path::PathBuf;

use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};
use crate::path::{bytes_to_os, os_to_bytes};

/// One file as the Go lomo-backup recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoFile {
    /// Its scan root (absolute).
    pub root: PathBuf,
    /// Path below the root, `/`-separated.
    pub rel: Vec<u8>,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (Unix seconds), when it could be read.
    pub mtime: Option<i64>,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// The Go ISO holding it, when it was uploaded in one.
    pub iso: Option<String>,
    /// Uploaded to Google Drive by the Go tool.
    pub on_drive: bool,
    /// The lomob site holding its ISO or Drive copy.
    pub site: Option<String>,
}

impl Catalog {
    /// Records `files` (replacing earlier imports of the same paths) in one
    /// transaction. Returns how many were recorded.
    pub fn import_go_files(&mut self, files: &[GoFile]) -> Result<usize> {
        let path = self.path.clone();
        let tx = self.conn.transaction().db(&path)?;
        {
            let mut st = tx
                .prepare(
                    "INSERT OR REPLACE INTO go_files (root, rel, size, mtime, sha256, iso, on_drive, site) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .db(&path)?;
            for f in files {
                st.execute(params![
                    os_to_bytes(f.root.as_os_str()),
                    f.rel,
                    i64::try_from(f.size).unwrap_or(i64::MAX),
                    f.mtime,
                    f.sha256,
                    f.iso,
                    f.on_drive,
                    f.site
                ])
                .db(&path)?;
            }
        }
        tx.commit().db(&path)?;
        Ok(files.len())
    }

    /// Every imported Go file, by root and path.
    pub fn go_files(&self) -> Result<Vec<GoFile>> {
        self.rows(
            "SELECT root, rel, size, mtime, sha256, iso, on_drive, site FROM go_files \
             ORDER BY root, rel",
            [],
            |r| {
                Ok(GoFile {
                    root: PathBuf::from(bytes_to_os(&r.get::<_, Vec<u8>>(0)?)),
                    rel: r.get(1)?,
                    size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    mtime: r.get(3)?,
                    sha256: r.get(4)?,
                    iso: r.get(5)?,
                    on_drive: r.get(6)?,
                    site: r.get(7)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_go_files_come_back_and_reimports_replace() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        let mut f = GoFile {
            root: PathBuf::from("/home/me/Pictures"),
            rel: b"2019/a.jpg".to_vec(),
            size: 3,
            mtime: Some(1_600_000_000),
            sha256: "ab".repeat(32),
            iso: Some("2019-01-01--2019-12-31.iso".into()),
            on_drive: false,
            site: Some("old".into()),
        };
        assert_eq!(c.import_go_files(&[f.clone()]).unwrap(), 1);
        f.site = Some("other".into());
        c.import_go_files(&[f.clone()]).unwrap();
        assert_eq!(c.go_files().unwrap(), vec![f]);
    }
}
