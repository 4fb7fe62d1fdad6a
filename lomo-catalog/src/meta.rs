//! Facts about the catalog itself.

use rusqlite::{OptionalExtension as _, params};

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};

impl Catalog {
    fn meta(&self, name: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .db(&self.path)
    }

    fn set_meta(&mut self, name: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = ?2",
                params![name, value],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// The id of the master key this catalog's copies are sealed with, once
    /// recorded.
    pub fn key_id(&self) -> Result<Option<String>> {
        self.meta("key_id")
    }

    /// Records the master key's id (the first unlock of a catalog).
    pub fn set_key_id(&mut self, id: &str) -> Result<()> {
        self.set_meta("key_id", id)
    }

    /// When the catalog was last snapshotted for the sites (Unix seconds);
    /// a snapshot carries its own time inside, so a recovered catalog
    /// knows how old it is.
    pub fn snapshot_at(&self) -> Result<Option<i64>> {
        Ok(self.meta("snapshot_at")?.and_then(|v| v.parse().ok()))
    }

    /// Records the time of the snapshot about to be taken.
    pub fn set_snapshot_at(&mut self, secs: i64) -> Result<()> {
        self.set_meta("snapshot_at", &secs.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_recorded_once_known() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        assert_eq!(c.key_id().unwrap(), None);
        c.set_key_id("00ff").unwrap();
        drop(c);
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        assert_eq!(c.key_id().unwrap().as_deref(), Some("00ff"));
        assert_eq!(c.snapshot_at().unwrap(), None);
        c.set_snapshot_at(1_800_000_000).unwrap();
        assert_eq!(c.snapshot_at().unwrap(), Some(1_800_000_000));
    }
}
