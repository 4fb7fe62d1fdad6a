//! The `site_memo` table: what a site learned of its own layout between
//! runs (Google Drive's folder and object ids), read and written through
//! a connection of its own, so that a site can keep it from any thread
//! without the catalog's writer. A cache: losing it costs requests only.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{DbContext as _, Result};

/// A short wait: the memo never holds up a backup for long.
const WAIT: Duration = Duration::from_secs(5);

fn connect(db: &Path) -> Result<Connection> {
    let conn = Connection::open(db).db(db)?;
    conn.busy_timeout(WAIT).db(db)?;
    Ok(conn)
}

/// Every `(name, value)` kept for `site` in the catalog at `db`.
pub fn memo_load(db: &Path, site: &str) -> Result<Vec<(String, String)>> {
    let conn = connect(db)?;
    let mut st = conn
        .prepare("SELECT name, value FROM site_memo WHERE site = ?1")
        .db(db)?;
    let rows = st
        .query_map([site], |r| Ok((r.get(0)?, r.get(1)?)))
        .db(db)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db(db)
}

/// Replaces what is kept for `site` with `entries`, in one transaction.
pub fn memo_save(db: &Path, site: &str, entries: &[(String, String)]) -> Result<()> {
    let mut conn = connect(db)?;
    let tx = conn.transaction().db(db)?;
    tx.execute("DELETE FROM site_memo WHERE site = ?1", [site])
        .db(db)?;
    {
        let mut ins = tx
            .prepare("INSERT INTO site_memo (site, name, value) VALUES (?1, ?2, ?3)")
            .db(db)?;
        for (name, value) in entries {
            ins.execute(rusqlite::params![site, name, value]).db(db)?;
        }
    }
    tx.commit().db(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_per_site_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        drop(crate::Catalog::open(&db).unwrap());
        let e = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        memo_save(&db, "drive", &[e("d:a", "1,2"), e("f:a/b", "3")]).unwrap();
        memo_save(&db, "other", &[e("x", "y")]).unwrap();
        memo_save(&db, "drive", &[e("f:a/b", "4")]).unwrap();
        assert_eq!(memo_load(&db, "drive").unwrap(), [e("f:a/b", "4")]);
        assert_eq!(memo_load(&db, "other").unwrap(), [e("x", "y")]);
    }
}
