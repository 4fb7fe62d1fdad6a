//! Archives: which contents each ISO image holds, and where in it.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension as _, params};

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};
use crate::path::{bytes_to_os, os_to_bytes};
use crate::scan::unix_now;

/// One file placed in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The catalog file row ([`crate::FileEntry::id`]) whose content it holds.
    pub file_id: i64,
    /// Its path inside the image.
    pub path: Vec<u8>,
    /// Byte offset of its data in the image.
    pub offset: u64,
}

/// An archive to record, once its image is complete.
#[derive(Debug, Clone)]
pub struct NewArchive<'a> {
    /// Unique name (the image's file name).
    pub name: &'a str,
    /// Image size in bytes.
    pub size: u64,
    /// BLAKE3-256 of the image; all zeros when not known yet (an image
    /// streamed without a local copy: see [`Catalog::set_archive_hash`]).
    pub blake3: [u8; 32],
    /// Where the image file is kept locally, if it is.
    pub location: Option<&'a Path>,
    /// What it holds.
    pub members: &'a [Member],
}

/// A recorded archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Catalog id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Image size in bytes.
    pub size: u64,
    /// Paths listed in it.
    pub files: u64,
    /// BLAKE3-256 of the image (all zeros: not known yet).
    pub blake3: [u8; 32],
    /// When it was recorded (Unix seconds).
    pub created_at: i64,
    /// The local image file, if kept.
    pub location: Option<PathBuf>,
}

impl Catalog {
    /// Records a finished archive and its members in one transaction: either
    /// all of it is recorded or nothing is.
    pub fn record_archive(&mut self, a: &NewArchive<'_>) -> Result<i64> {
        let path = self.path.clone();
        let tx = self.conn.transaction().db(&path)?;
        tx.execute(
            "INSERT INTO archives (name, size, files, blake3, created_at, location) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                a.name,
                a.size as i64,
                a.members.len() as i64,
                &a.blake3[..],
                unix_now(),
                a.location.map(|p| os_to_bytes(p.as_os_str()))
            ],
        )
        .db(&path)?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO archive_members (archive_id, content_id, path, offset, mtime_ns, mode) \
                     SELECT ?1, content_id, ?2, ?3, mtime_ns, mode FROM files \
                     WHERE id = ?4 AND content_id IS NOT NULL",
                )
                .db(&path)?;
            for m in a.members {
                st.execute(params![id, m.path, m.offset as i64, m.file_id])
                    .db(&path)?;
            }
        }
        tx.commit().db(&path)?;
        Ok(id)
    }

    /// All archives, oldest first.
    pub fn archives(&self) -> Result<Vec<Archive>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {ARCHIVE_COLUMNS} FROM archives ORDER BY id"
            ))
            .db(&self.path)?;
        st.query_map([], archive_from_row)
            .db(&self.path)?
            .collect::<rusqlite::Result<_>>()
            .db(&self.path)
    }

    /// Archive `id`, if it is recorded (one cached statement: asked once per
    /// file when a restore of a million files is planned).
    pub fn archive_by_id(&self, id: i64) -> Result<Option<Archive>> {
        use rusqlite::OptionalExtension as _;
        let sql = format!("SELECT {ARCHIVE_COLUMNS} FROM archives WHERE id = ?1");
        let mut st = self.conn.prepare_cached(&sql).db(&self.path)?;
        st.query_row([id], archive_from_row)
            .optional()
            .db(&self.path)
    }
}

const ARCHIVE_COLUMNS: &str = "id, name, size, files, blake3, created_at, location";

fn archive_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Archive> {
    let hash: Vec<u8> = r.get(4)?;
    let loc: Option<Vec<u8>> = r.get(6)?;
    Ok(Archive {
        id: r.get(0)?,
        name: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        files: r.get::<_, i64>(3)? as u64,
        blake3: hash.try_into().unwrap_or([0; 32]),
        created_at: r.get(5)?,
        location: loc.map(|l| PathBuf::from(bytes_to_os(&l))),
    })
}

/// One file of an archive as the image holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Path inside the image.
    pub path: Vec<u8>,
    /// Byte offset of its data in the image.
    pub offset: u64,
    /// Content size.
    pub size: u64,
    /// Content BLAKE3-256.
    pub hash: [u8; 32],
    /// Modification time (ns) and mode recorded with it; `None` for
    /// archives recorded before catalog schema 10.
    pub mtime_ns: Option<i64>,
    /// POSIX mode bits as recorded.
    pub mode: Option<u32>,
    /// A live file holding this content now, to read its bytes from.
    pub source: Option<PathBuf>,
}

/// An archive's copy on one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCopy {
    /// The archive.
    pub archive_id: i64,
    /// Site name.
    pub site: String,
    /// Object key on the site.
    pub key: String,
    /// The encryption header, fixed so a resumed upload sends the same bytes.
    pub header: Vec<u8>,
    /// Multipart upload state (JSON) while uploading.
    pub upload: Option<String>,
    /// Stored bytes, once done.
    pub size: Option<u64>,
    /// Stored checksum the site reported.
    pub sha256: Option<String>,
    /// When the copy was verified complete (Unix seconds).
    pub done_at: Option<i64>,
    /// The ETag the site gave the completed object (another one later
    /// means the object was replaced).
    pub etag: Option<String>,
    /// When the copy's bytes were last read and authenticated whole.
    pub verified_at: Option<i64>,
    /// The parity object stored beside it, if any.
    pub parity: Option<String>,
}

/// Where a content sits in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedAt {
    /// The archive.
    pub archive: Archive,
    /// Byte offset of the content in the (plain) image.
    pub offset: u64,
    /// Content size.
    pub size: u64,
}

impl Catalog {
    /// Inserts or replaces an archive copy record.
    pub fn save_archive_copy(&mut self, c: &ArchiveCopy) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO archive_copies (archive_id, site, key, header, upload, size, sha256, done_at, etag, verified_at, parity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    c.archive_id,
                    c.site,
                    c.key,
                    c.header,
                    c.upload,
                    c.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                    c.sha256,
                    c.done_at,
                    c.etag,
                    c.verified_at,
                    c.parity
                ],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// The copies of an archive, by site.
    pub fn archive_copies(&self, archive_id: i64) -> Result<Vec<ArchiveCopy>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT archive_id, site, key, header, upload, size, sha256, done_at, etag, verified_at, parity
                 FROM archive_copies WHERE archive_id = ?1 ORDER BY site",
            )
            .db(&self.path)?;
        st.query_map([archive_id], |r| {
            Ok(ArchiveCopy {
                archive_id: r.get(0)?,
                site: r.get(1)?,
                key: r.get(2)?,
                header: r.get(3)?,
                upload: r.get(4)?,
                size: r
                    .get::<_, Option<i64>>(5)?
                    .and_then(|s| u64::try_from(s).ok()),
                sha256: r.get(6)?,
                done_at: r.get(7)?,
                etag: r.get(8)?,
                verified_at: r.get(9)?,
                parity: r.get(10)?,
            })
        })
        .db(&self.path)?
        .collect::<rusqlite::Result<_>>()
        .db(&self.path)
    }

    /// Forgets (or sets) where an archive's local image is.
    pub fn set_archive_location(&mut self, archive_id: i64, location: Option<&Path>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE archives SET location = ?2 WHERE id = ?1",
                params![archive_id, location.map(|p| os_to_bytes(p.as_os_str()))],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// The archives holding the content with BLAKE3 `hash`, oldest first.
    pub fn archived_at(&self, hash: &[u8; 32]) -> Result<Vec<ArchivedAt>> {
        let ids: Vec<(i64, i64, i64)> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT m.archive_id, MIN(m.offset), c.size FROM archive_members m
                     JOIN contents c ON c.id = m.content_id
                     WHERE c.hash = ?1 GROUP BY m.archive_id ORDER BY m.archive_id",
                )
                .db(&self.path)?;
            st.query_map([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .db(&self.path)?
                .collect::<rusqlite::Result<_>>()
                .db(&self.path)?
        };
        let mut out = Vec::with_capacity(ids.len());
        for (id, off, size) in ids {
            if let Some(archive) = self.archive_by_id(id)? {
                out.push(ArchivedAt {
                    archive,
                    offset: u64::try_from(off).unwrap_or(0),
                    size: u64::try_from(size).unwrap_or(0),
                });
            }
        }
        Ok(out)
    }

    /// The files of an archive in the order they were recorded (the order
    /// its image was built from), each with a live file holding its content.
    pub fn archive_entries(&self, archive_id: i64) -> Result<Vec<ArchiveEntry>> {
        let rows: Vec<(i64, ArchiveEntry)> = {
            let mut st = self
                .conn
                .prepare(
                    "SELECT m.path, m.offset, c.size, c.hash, m.mtime_ns, m.mode, m.content_id
                     FROM archive_members m JOIN contents c ON c.id = m.content_id
                     WHERE m.archive_id = ?1 ORDER BY m.rowid",
                )
                .db(&self.path)?;
            st.query_map([archive_id], |r| {
                let hash: Vec<u8> = r.get(3)?;
                let mode: Option<i64> = r.get(5)?;
                Ok((
                    r.get(6)?,
                    ArchiveEntry {
                        path: r.get(0)?,
                        offset: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                        size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        hash: hash.try_into().unwrap_or([0; 32]),
                        mtime_ns: r.get(4)?,
                        mode: mode.and_then(|m| u32::try_from(m).ok()),
                        source: None,
                    },
                ))
            })
            .db(&self.path)?
            .collect::<rusqlite::Result<_>>()
            .db(&self.path)?
        };
        let sql = format!(
            "SELECT {} WHERE f.deleted_at IS NULL AND f.kind = 0 AND f.content_id = ?1 LIMIT 1",
            crate::query::FILE_COLUMNS
        );
        let mut st = self.conn.prepare(&sql).db(&self.path)?;
        let mut out = Vec::with_capacity(rows.len());
        for (content, mut entry) in rows {
            entry.source = st
                .query_row([content], crate::query::file_from_row)
                .optional()
                .db(&self.path)?
                .map(|f| f.path);
            out.push(entry);
        }
        Ok(out)
    }

    /// Records the image's BLAKE3 once known (a streamed image's is known
    /// after its first whole pass).
    pub fn set_archive_hash(&mut self, archive_id: i64, blake3: &[u8; 32]) -> Result<()> {
        self.conn
            .execute(
                "UPDATE archives SET blake3 = ?2 WHERE id = ?1",
                params![archive_id, &blake3[..]],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// Forgets an archive no site holds a complete copy of (its files
    /// changed before it was sent: they are planned again). Returns false,
    /// forgetting nothing, when some site holds it.
    pub fn forget_archive(&mut self, archive_id: i64) -> Result<bool> {
        let path = self.path.clone();
        let tx = self.conn.transaction().db(&path)?;
        let done: i64 = tx
            .query_row(
                "SELECT count(*) FROM archive_copies WHERE archive_id = ?1 AND done_at IS NOT NULL",
                [archive_id],
                |r| r.get(0),
            )
            .db(&path)?;
        if done > 0 {
            return Ok(false);
        }
        for sql in [
            "DELETE FROM archive_blocks WHERE archive_id = ?1",
            "DELETE FROM archive_copies WHERE archive_id = ?1",
            "DELETE FROM archive_members WHERE archive_id = ?1",
            "DELETE FROM archives WHERE id = ?1",
        ] {
            tx.execute(sql, [archive_id]).db(&path)?;
        }
        tx.commit().db(&path)?;
        Ok(true)
    }

    /// Makes the next scan read again every live file recorded with the
    /// content `hash` (their bytes were found to differ from it, e.g. an
    /// edit that kept size and mtime).
    pub fn mark_for_rehash(&mut self, hash: &[u8; 32]) -> Result<()> {
        self.conn
            .execute(
                "UPDATE files SET racy = 1 WHERE deleted_at IS NULL AND content_id = \
                 (SELECT id FROM contents WHERE hash = ?1)",
                [&hash[..]],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// BLAKE3 hashes of the contents an archive holds.
    pub fn archive_contents(&self, archive_id: i64) -> Result<Vec<[u8; 32]>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT c.hash FROM archive_members m JOIN contents c ON c.id = m.content_id
                 WHERE m.archive_id = ?1",
            )
            .db(&self.path)?;
        // Read straight into 32-byte arrays: an archive may hold 200,000
        // contents, and a vector per hash would be five times the memory.
        let mut hashes = Vec::new();
        let mut rows = st.query([archive_id]).db(&self.path)?;
        while let Some(r) = rows.next().db(&self.path)? {
            let blob = r.get_ref(0).db(&self.path)?;
            let blob = blob
                .as_blob()
                .map_err(rusqlite::Error::from)
                .db(&self.path)?;
            if let Ok(h) = <[u8; 32]>::try_from(blob) {
                hashes.push(h);
            }
        }
        hashes.shrink_to_fit();
        Ok(hashes)
    }
}

impl Catalog {
    /// The recorded BLAKE3 of each block of an archive's plain image, by
    /// block index (with the block's size).
    pub fn archive_blocks(&self, archive_id: i64) -> Result<Vec<(u64, u64, [u8; 32])>> {
        self.rows(
            "SELECT block, size, blake3 FROM archive_blocks WHERE archive_id = ?1 ORDER BY block",
            [archive_id],
            |r| {
                let hash: Vec<u8> = r.get(2)?;
                Ok((
                    u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    hash.try_into().unwrap_or([0; 32]),
                ))
            },
        )
    }

    /// Records the BLAKE3 of one block of an archive's plain image (its
    /// first pass); a block recorded already keeps its first hash.
    pub fn record_archive_block(
        &mut self,
        archive_id: i64,
        block: u64,
        size: u64,
        blake3: &[u8; 32],
    ) -> Result<()> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "INSERT OR IGNORE INTO archive_blocks (archive_id, block, size, blake3) VALUES (?1, ?2, ?3, ?4)",
                params![archive_id, n(block), n(size), &blake3[..]],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// Records that the copy of `archive_id` on `site` was read whole and
    /// found authentic at `at`.
    pub fn mark_archive_verified(&mut self, archive_id: i64, site: &str, at: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE archive_copies SET verified_at = ?3 WHERE archive_id = ?1 AND site = ?2",
                params![archive_id, site, at],
            )
            .db(&self.path)?;
        Ok(())
    }
}
