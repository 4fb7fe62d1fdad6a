//! Reading the catalog: files, directories, duplicates, totals.
//!
//! Listings stream rows to a callback instead of collecting them, so a catalog
//! of a million files lists in constant memory.

use std::path::PathBuf;

use rusqlite::Row;

use crate::catalog::Catalog;
use crate::error::{DbContext, Error, Result};
use crate::path::{abs_path, bytes_to_os};

/// What a catalog entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A symbolic link (recorded, not followed).
    Symlink,
}

/// A file as the catalog last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Catalog id of this version of the path.
    pub id: i64,
    /// Absolute path (exact OS bytes on Unix).
    pub path: PathBuf,
    /// The root it was scanned under.
    pub root: PathBuf,
    /// Regular file or symlink.
    pub kind: EntryKind,
    /// Size in bytes (a symlink's: its target's length).
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// POSIX mode bits.
    pub mode: u32,
    /// BLAKE3-256 of the content (`None` for symlinks).
    pub hash: Option<[u8; 32]>,
    /// A symlink's target.
    pub link_target: Option<PathBuf>,
}

impl FileEntry {
    /// The modification time in whole seconds since the Unix epoch.
    pub fn mtime_secs(&self) -> i64 {
        self.mtime_ns.div_euclid(1_000_000_000)
    }
}

/// Which live files to list.
#[derive(Debug, Clone, Default)]
pub struct FileQuery {
    /// Only files at least this big.
    pub min_size: Option<u64>,
    /// Include symlinks (regular files only by default).
    pub symlinks: bool,
    /// Biggest first instead of by path.
    pub largest_first: bool,
    /// Only files whose content is in no archive yet.
    pub unarchived: bool,
    /// Oldest mtime first instead of by path (ignored with `largest_first`).
    pub oldest_first: bool,
    /// Leave out files under held roots (see [`Catalog::hold_root`]).
    pub skip_held: bool,
    /// The files as the catalog knew them at this time (Unix seconds)
    /// instead of now: versions seen by a scan by then and not yet changed
    /// or deleted at that time.
    pub as_of: Option<i64>,
}

/// A directory with the totals of its own (not nested) live files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Absolute path.
    pub path: PathBuf,
    /// Regular files directly inside.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// One content present at several live paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateSet {
    /// BLAKE3-256 of the content.
    pub hash: [u8; 32],
    /// Its size.
    pub size: u64,
    /// Every live path holding it.
    pub paths: Vec<PathBuf>,
}

/// Totals over the live catalog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Scanned roots.
    pub roots: u64,
    /// Live regular files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Distinct contents among them.
    pub contents: u64,
    /// Bytes of those distinct contents (what a backup stores).
    pub unique_bytes: u64,
}

pub(crate) const FILE_COLUMNS: &str = "f.id, r.path, d.rel, f.name, f.kind, f.size, f.mtime_ns, f.mode, \
     c.hash, f.link_target FROM files f JOIN dirs d ON d.id = f.dir_id \
     JOIN roots r ON r.id = d.root_id LEFT JOIN contents c ON c.id = f.content_id";

pub(crate) fn file_from_row(r: &Row<'_>) -> rusqlite::Result<FileEntry> {
    let root = PathBuf::from(bytes_to_os(&r.get::<_, Vec<u8>>(1)?));
    let rel: Vec<u8> = r.get(2)?;
    let name: Vec<u8> = r.get(3)?;
    let hash: Option<Vec<u8>> = r.get(8)?;
    let target: Option<Vec<u8>> = r.get(9)?;
    Ok(FileEntry {
        id: r.get(0)?,
        path: abs_path(&root, &rel, &name),
        root,
        kind: if r.get::<_, i64>(4)? == 1 {
            EntryKind::Symlink
        } else {
            EntryKind::File
        },
        size: r.get::<_, i64>(5)? as u64,
        mtime_ns: r.get(6)?,
        mode: r.get(7)?,
        hash: hash.and_then(|h| h.try_into().ok()),
        link_target: target.map(|t| PathBuf::from(bytes_to_os(&t))),
    })
}

impl Catalog {
    /// Calls `f` with every live file matching `query` (or every file live
    /// at [`FileQuery::as_of`]), in path order (or biggest first). Stops at the first error `f` returns.
    pub fn for_each_file<E: From<Error>>(
        &self,
        query: &FileQuery,
        mut f: impl FnMut(FileEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut sql = format!("SELECT {FILE_COLUMNS} WHERE ");
        let min = query.min_size.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
        if let Some(t) = &query.as_of {
            sql.push_str(
                "f.first_seen <= :as_of AND (f.deleted_at IS NULL OR f.deleted_at > :as_of)",
            );
            params.push((":as_of", t));
        } else {
            sql.push_str("f.deleted_at IS NULL");
        }
        if !query.symlinks {
            sql.push_str(" AND f.kind = 0");
        }
        if let Some(m) = &min {
            sql.push_str(" AND f.size >= :min");
            params.push((":min", m));
        }
        if query.unarchived {
            sql.push_str(" AND f.content_id NOT IN (SELECT content_id FROM archive_members)");
        }
        if query.skip_held {
            sql.push_str(" AND r.held_at IS NULL");
        }
        sql.push_str(if query.largest_first {
            " ORDER BY f.size DESC, r.id, d.rel, f.name"
        } else if query.oldest_first {
            " ORDER BY f.mtime_ns, r.id, d.rel, f.name"
        } else {
            " ORDER BY r.id, d.rel, f.name"
        });
        let mut st = self.conn.prepare(&sql).db(&self.path)?;
        let mut rows = st.query(params.as_slice()).db(&self.path)?;
        while let Some(row) = rows.next().db(&self.path)? {
            f(file_from_row(row).db(&self.path)?)?;
        }
        Ok(())
    }

    /// The file rows `ids`, in that order (rows that are gone are left out):
    /// a planner that kept only ids loads one group's entries at a time.
    pub fn files_by_id(&self, ids: &[i64]) -> Result<Vec<FileEntry>> {
        use rusqlite::OptionalExtension as _;
        let sql = format!("SELECT {FILE_COLUMNS} WHERE f.id = ?1");
        let mut st = self.conn.prepare_cached(&sql).db(&self.path)?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(f) = st
                .query_row([id], file_from_row)
                .optional()
                .db(&self.path)?
            {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Calls `f` with every live directory and the totals of its own files.
    pub fn for_each_dir<E: From<Error>>(
        &self,
        mut f: impl FnMut(DirEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.path, d.rel, count(f.id), coalesce(sum(f.size), 0) FROM dirs d \
                 JOIN roots r ON r.id = d.root_id \
                 LEFT JOIN files f ON f.dir_id = d.id AND f.deleted_at IS NULL AND f.kind = 0 \
                 WHERE d.deleted_at IS NULL GROUP BY d.id ORDER BY r.id, d.rel",
            )
            .db(&self.path)?;
        let mut rows = st.query([]).db(&self.path)?;
        while let Some(r) = rows.next().db(&self.path)? {
            let root = PathBuf::from(bytes_to_os(&r.get::<_, Vec<u8>>(0).db(&self.path)?));
            let rel: Vec<u8> = r.get(1).db(&self.path)?;
            f(DirEntry {
                path: abs_path(&root, &rel, b""),
                files: r.get::<_, i64>(2).db(&self.path)? as u64,
                bytes: r.get::<_, i64>(3).db(&self.path)? as u64,
            })?;
        }
        Ok(())
    }

    /// Calls `f` with every content held by more than one live path, biggest first.
    pub fn for_each_duplicate<E: From<Error>>(
        &self,
        mut f: impl FnMut(DuplicateSet) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} WHERE f.deleted_at IS NULL AND f.content_id IN \
             (SELECT content_id FROM files WHERE deleted_at IS NULL AND content_id IS NOT NULL \
              GROUP BY content_id HAVING count(*) > 1) \
             ORDER BY f.size DESC, f.content_id, r.id, d.rel, f.name"
        );
        let mut st = self.conn.prepare(&sql).db(&self.path)?;
        let mut rows = st.query([]).db(&self.path)?;
        let mut set: Option<DuplicateSet> = None;
        while let Some(row) = rows.next().db(&self.path)? {
            let e = file_from_row(row).db(&self.path)?;
            let Some(hash) = e.hash else { continue };
            match &mut set {
                Some(s) if s.hash == hash => s.paths.push(e.path),
                _ => {
                    if let Some(done) = set.take() {
                        f(done)?;
                    }
                    set = Some(DuplicateSet {
                        hash,
                        size: e.size,
                        paths: vec![e.path],
                    });
                }
            }
        }
        if let Some(done) = set {
            f(done)?;
        }
        Ok(())
    }

    /// Totals over the live catalog.
    pub fn stats(&self) -> Result<Stats> {
        self.conn
            .query_row(
                "SELECT (SELECT count(*) FROM roots), count(f.id), coalesce(sum(f.size), 0), \
                 (SELECT count(*) FROM contents WHERE id IN \
                    (SELECT content_id FROM files WHERE deleted_at IS NULL)), \
                 (SELECT coalesce(sum(size), 0) FROM contents WHERE id IN \
                    (SELECT content_id FROM files WHERE deleted_at IS NULL)) \
                 FROM files f WHERE f.deleted_at IS NULL AND f.kind = 0",
                [],
                |r| {
                    Ok(Stats {
                        roots: r.get::<_, i64>(0)? as u64,
                        files: r.get::<_, i64>(1)? as u64,
                        bytes: r.get::<_, i64>(2)? as u64,
                        contents: r.get::<_, i64>(3)? as u64,
                        unique_bytes: r.get::<_, i64>(4)? as u64,
                    })
                },
            )
            .db(&self.path)
    }
}
