//! Archives: which contents each ISO image holds, and where in it.

use std::path::{Path, PathBuf};

use rusqlite::params;

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
    /// BLAKE3-256 of the image.
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
    /// BLAKE3-256 of the image.
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
                    "INSERT INTO archive_members (archive_id, content_id, path, offset) \
                     SELECT ?1, content_id, ?2, ?3 FROM files WHERE id = ?4 AND content_id IS NOT NULL",
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
            .prepare("SELECT id, name, size, files, blake3, created_at, location FROM archives ORDER BY id")
            .db(&self.path)?;
        st.query_map([], |r| {
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
        })
        .db(&self.path)?
        .collect::<rusqlite::Result<_>>()
        .db(&self.path)
    }
}
