//! Catalog snapshots (a consistent copy of the whole catalog, taken while it
//! is in use) and the sites a recovered catalog should know.

use std::path::Path;

use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};

/// A site as recorded for recovery (no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSite {
    /// Name used in the catalog's copies.
    pub name: String,
    /// Site URL.
    pub url: String,
    /// `staging`, `archive` or `both`.
    pub role: String,
    /// Storage class for archives.
    pub storage_class: Option<String>,
    /// Never overwrite or delete there.
    pub append_only: bool,
    /// How long archives are locked there by S3 Object Lock (`10y`).
    pub lock: Option<String>,
    /// The lock's mode (`compliance`, `governance`).
    pub lock_mode: Option<String>,
}

impl Catalog {
    /// Writes a consistent copy of the catalog to `dest` (which must not exist).
    pub fn snapshot_to(&self, dest: &Path) -> Result<()> {
        let d = dest.to_string_lossy().into_owned();
        self.conn.execute("VACUUM INTO ?1", [d]).db(&self.path)?;
        Ok(())
    }

    /// Replaces the recorded sites.
    pub fn set_known_sites(&mut self, sites: &[KnownSite]) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().db(&path)?;
        tx.execute("DELETE FROM known_sites", []).db(&path)?;
        for s in sites {
            tx.execute(
                "INSERT INTO known_sites (name, url, role, storage_class, append_only, lock, lock_mode) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![s.name, s.url, s.role, s.storage_class, s.append_only, s.lock, s.lock_mode],
            )
            .db(&path)?;
        }
        tx.commit().db(&path)
    }

    /// The recorded sites, by name.
    pub fn known_sites(&self) -> Result<Vec<KnownSite>> {
        self.rows(
            "SELECT name, url, role, storage_class, append_only, lock, lock_mode FROM known_sites ORDER BY name",
            [],
            |r| {
                Ok(KnownSite {
                    name: r.get(0)?,
                    url: r.get(1)?,
                    role: r.get(2)?,
                    storage_class: r.get(3)?,
                    append_only: r.get(4)?,
                    lock: r.get(5)?,
                    lock_mode: r.get(6)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_is_a_whole_catalog_with_its_sites() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        let s = KnownSite {
            name: "cold".into(),
            url: "s3://b/p".into(),
            role: "archive".into(),
            storage_class: Some("DEEP_ARCHIVE".into()),
            append_only: false,
            lock: Some("10y".into()),
            lock_mode: Some("governance".into()),
        };
        c.set_known_sites(std::slice::from_ref(&s)).unwrap();
        let snap = dir.path().join("snap.db");
        c.snapshot_to(&snap).unwrap();
        let back = Catalog::open(&snap).unwrap();
        assert_eq!(back.known_sites().unwrap(), vec![s]);
        assert!(c.snapshot_to(&snap).is_err(), "never overwrites");
    }
}
