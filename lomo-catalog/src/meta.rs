//! Facts about the catalog itself.

use rusqlite::{OptionalExtension as _, params};

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};

impl Catalog {
    /// The id of the master key this catalog's copies are sealed with, once
    /// recorded.
    pub fn key_id(&self) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE name = 'key_id'", [], |r| {
                r.get(0)
            })
            .optional()
            .db(&self.path)
    }

    /// Records the master key's id (the first unlock of a catalog).
    pub fn set_key_id(&mut self, id: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (name, value) VALUES ('key_id', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = ?1",
                params![id],
            )
            .db(&self.path)?;
        Ok(())
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
        let c = Catalog::open(dir.path().join("c.db")).unwrap();
        assert_eq!(c.key_id().unwrap().as_deref(), Some("00ff"));
    }
}
