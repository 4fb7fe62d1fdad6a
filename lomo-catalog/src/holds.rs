//! Holding a root: after a scan found a mass change in it (an unmounted
//! disk leaving its mount point empty, ransomware rewriting every photo),
//! nothing new of it is staged or packed until the owner accepts the change.
//! Its catalog work (history included) goes on as usual.

use std::path::{Path, PathBuf};

use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};
use crate::path::{bytes_to_os, os_to_bytes};

/// A held root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRoot {
    /// The root.
    pub path: PathBuf,
    /// Since when (Unix seconds).
    pub since: i64,
    /// What the scan found.
    pub reason: String,
}

impl Catalog {
    /// Holds `root` (a scanned root's canonical path) for `reason`; a root
    /// held already keeps its first time and takes the new reason.
    pub fn hold_root(&mut self, root: &Path, reason: &str, at: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE roots SET held_at = COALESCE(held_at, ?2), held_reason = ?3 WHERE path = ?1",
                params![os_to_bytes(root.as_os_str()), at, reason],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// Releases a held root: its files are backed up again.
    pub fn release_root(&mut self, root: &Path) -> Result<()> {
        self.conn
            .execute(
                "UPDATE roots SET held_at = NULL, held_reason = NULL WHERE path = ?1",
                [os_to_bytes(root.as_os_str())],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// The held roots.
    pub fn held_roots(&self) -> Result<Vec<HeldRoot>> {
        self.rows(
            "SELECT path, held_at, COALESCE(held_reason, '') FROM roots WHERE held_at IS NOT NULL ORDER BY id",
            [],
            |r| {
                Ok(HeldRoot {
                    path: PathBuf::from(bytes_to_os(&r.get::<_, Vec<u8>>(0)?)),
                    since: r.get(1)?,
                    reason: r.get(2)?,
                })
            },
        )
    }

    /// Live regular files under the root `root`.
    pub fn live_files_in_root(&self, root: &Path) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM files f JOIN dirs d ON d.id = f.dir_id
                 JOIN roots r ON r.id = d.root_id
                 WHERE r.path = ?1 AND f.deleted_at IS NULL AND f.kind = 0",
                [os_to_bytes(root.as_os_str())],
                |r| r.get(0),
            )
            .db(&self.path)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileQuery, NoProgress, ScanOptions};

    #[test]
    fn a_held_root_is_neither_staged_nor_packed_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Pictures");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("a.jpg"), b"a").unwrap();
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        let r = c.scan(&root, &ScanOptions::default(), &NoProgress).unwrap();
        assert_eq!(c.live_files_in_root(&r.root).unwrap(), 1);
        assert_eq!(c.to_stage("s").unwrap().len(), 1);
        c.hold_root(&r.root, "all files deleted", 10).unwrap();
        c.hold_root(&r.root, "still", 20).unwrap();
        assert_eq!(
            c.held_roots().unwrap(),
            vec![HeldRoot {
                path: r.root.clone(),
                since: 10,
                reason: "still".into()
            }]
        );
        assert!(c.to_stage("s").unwrap().is_empty());
        let q = FileQuery {
            unarchived: true,
            skip_held: true,
            ..FileQuery::default()
        };
        let mut n = 0;
        c.for_each_file(&q, |_| {
            n += 1;
            Ok::<_, crate::Error>(())
        })
        .unwrap();
        assert_eq!(n, 0);
        c.release_root(&r.root).unwrap();
        assert_eq!(c.to_stage("s").unwrap().len(), 1);
        assert!(c.held_roots().unwrap().is_empty());
    }
}
