//! Staged copies: each content's encrypted object on each staging site,
//! until an archive holds it.

use rusqlite::{OptionalExtension as _, params};

use crate::catalog::Catalog;
use crate::error::{DbContext, Error, Result};

/// The ids of one live file per content that a site should stage (see
/// [`Catalog::to_stage`]); `?1` is the site.
const TO_STAGE_IDS: &str = "SELECT MIN(f2.id) FROM files f2
    WHERE f2.deleted_at IS NULL AND f2.content_id IS NOT NULL AND f2.kind = 0
      AND NOT EXISTS (SELECT 1 FROM dirs d2 JOIN roots r2 ON r2.id = d2.root_id
            WHERE d2.id = f2.dir_id AND r2.held_at IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.content_id = f2.content_id AND s.site = ?1)
      AND NOT EXISTS (SELECT 1 FROM archive_members m WHERE m.content_id = f2.content_id
            AND (EXISTS (SELECT 1 FROM archive_copies c WHERE c.archive_id = m.archive_id AND c.done_at IS NOT NULL)
                 OR NOT EXISTS (SELECT 1 FROM archive_copies c WHERE c.archive_id = m.archive_id)))
    GROUP BY f2.content_id";
use crate::query::{FILE_COLUMNS, FileEntry, file_from_row};
use crate::scan::unix_now;

/// A content a staging site lacks, with a live file that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToStage {
    /// Catalog id of the content.
    pub content_id: i64,
    /// A live file with that content (the one to read).
    pub file: FileEntry,
}

/// A content's copy on a staging site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedCopy {
    /// Catalog id of the content.
    pub content_id: i64,
    /// Site name.
    pub site: String,
    /// Object key on the site.
    pub key: String,
    /// Stored (encrypted) size.
    pub size: u64,
    /// Stored SHA-256 as the site reported it (base64), if it keeps one.
    pub sha256: Option<String>,
    /// When it was staged (Unix seconds).
    pub staged_at: i64,
    /// The ETag the site gave the object.
    pub etag: Option<String>,
}

impl Catalog {
    /// Contents of live regular files that `site` has no staged copy of and
    /// no archive holds safely (an archive with a verified copy on a site,
    /// or one made by hand without copies), smallest id first, each with
    /// one live file to read. Contents of an archive still being uploaded
    /// stay staged. Files under held roots are left out.
    pub fn to_stage(&self, site: &str) -> Result<Vec<ToStage>> {
        let mut out = Vec::new();
        self.for_each_to_stage(site, |t| {
            out.push(t);
            Ok::<_, Error>(())
        })?;
        Ok(out)
    }

    /// [`Catalog::to_stage`] one content at a time, holding none of them
    /// (a first backup of a million files); stops at `f`'s first error.
    pub fn for_each_to_stage<E: From<Error>>(
        &self,
        site: &str,
        mut f: impl FnMut(ToStage) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let sql =
            format!("SELECT {FILE_COLUMNS} WHERE f.id IN ({TO_STAGE_IDS}) ORDER BY f.content_id");
        let mut st = self.conn.prepare(&sql).db(&self.path)?;
        let mut content = self
            .conn
            .prepare("SELECT content_id FROM files WHERE id = ?1")
            .db(&self.path)?;
        let mut rows = st.query([site]).db(&self.path)?;
        while let Some(row) = rows.next().db(&self.path)? {
            let file = file_from_row(row).db(&self.path)?;
            let content_id: i64 = content.query_row([file.id], |r| r.get(0)).db(&self.path)?;
            f(ToStage { content_id, file })?;
        }
        Ok(())
    }

    /// How many contents [`Catalog::to_stage`] would list.
    pub fn to_stage_count(&self, site: &str) -> Result<usize> {
        let sql = format!("SELECT COUNT(*) FROM ({TO_STAGE_IDS})");
        let n: i64 = self
            .conn
            .query_row(&sql, [site], |r| r.get(0))
            .db(&self.path)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Bytes of distinct contents of live files that no archive holds.
    pub fn unarchived_bytes(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(c.size), 0) FROM contents c WHERE EXISTS (
                    SELECT 1 FROM files f WHERE f.content_id = c.id AND f.deleted_at IS NULL)
                 AND NOT EXISTS (SELECT 1 FROM archive_members m WHERE m.content_id = c.id)",
                [],
                |r| r.get(0),
            )
            .db(&self.path)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Records a verified staged copy (replacing an earlier record).
    pub fn record_staged(&mut self, copy: &StagedCopy) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO staged (content_id, site, key, size, sha256, staged_at, verified_at, etag)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                params![
                    copy.content_id,
                    copy.site,
                    copy.key,
                    i64::try_from(copy.size).unwrap_or(i64::MAX),
                    copy.sha256,
                    copy.staged_at,
                    copy.etag
                ],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// Forgets a staged copy (after the object was deleted from the site).
    pub fn remove_staged(&mut self, content_id: i64, site: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM staged WHERE content_id = ?1 AND site = ?2",
                params![content_id, site],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// The staged copies of the content with BLAKE3 `hash`, oldest first.
    pub fn staged_copies(&self, hash: &[u8; 32]) -> Result<Vec<StagedCopy>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT s.content_id, s.site, s.key, s.size, s.sha256, s.staged_at, s.etag
                 FROM staged s JOIN contents c ON c.id = s.content_id
                 WHERE c.hash = ?1 ORDER BY s.staged_at, s.site",
            )
            .db(&self.path)?;
        st.query_map([&hash[..]], row_to_copy)
            .db(&self.path)?
            .collect::<rusqlite::Result<_>>()
            .db(&self.path)
    }

    /// Every staged copy on `site`, by content id.
    pub fn staged_on(&self, site: &str) -> Result<Vec<StagedCopy>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT content_id, site, key, size, sha256, staged_at, etag FROM staged
                 WHERE site = ?1 ORDER BY content_id",
            )
            .db(&self.path)?;
        st.query_map([site], row_to_copy)
            .db(&self.path)?
            .collect::<rusqlite::Result<_>>()
            .db(&self.path)
    }

    /// The BLAKE3 of content `id`, if catalogued.
    pub fn content_hash(&self, id: i64) -> Result<Option<[u8; 32]>> {
        let h: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT hash FROM contents WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .db(&self.path)?;
        Ok(h.and_then(|h| h.try_into().ok()))
    }

    /// A live file holding content `id`, if any.
    pub fn live_file_of(&self, id: i64) -> Result<Option<FileEntry>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} WHERE f.content_id = ?1 AND f.deleted_at IS NULL ORDER BY f.id LIMIT 1"
        );
        self.conn
            .query_row(&sql, [id], file_from_row)
            .optional()
            .db(&self.path)
    }

    /// The content id of BLAKE3 `hash`, if catalogued.
    pub fn content_id(&self, hash: &[u8; 32]) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT id FROM contents WHERE hash = ?1",
                [&hash[..]],
                |r| r.get(0),
            )
            .optional()
            .db(&self.path)
    }
}

fn row_to_copy(r: &rusqlite::Row<'_>) -> rusqlite::Result<StagedCopy> {
    Ok(StagedCopy {
        content_id: r.get(0)?,
        site: r.get(1)?,
        key: r.get(2)?,
        size: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        sha256: r.get(4)?,
        staged_at: r.get(5)?,
        etag: r.get(6)?,
    })
}

/// Now, for [`StagedCopy::staged_at`].
pub fn now() -> i64 {
    unix_now()
}
