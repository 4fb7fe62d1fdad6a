//! The catalog handle: opening, roots, scanning.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{DbContext, Error, Result};
use crate::path::{bytes_to_os, os_to_bytes};
use crate::scan::{self, ScanOptions, ScanProgress, ScanReport};
use crate::schema;

/// A lomob catalog: one SQLite file recording what exists under the scanned
/// roots, with history and deduplicated contents.
///
/// Open it with [`Catalog::open`]; scan with [`Catalog::scan`]; read it with the
/// listing methods ([`Catalog::for_each_file`] and friends).
#[derive(Debug)]
pub struct Catalog {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

/// A scanned folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Catalog id.
    pub id: i64,
    /// Absolute, canonical path.
    pub path: PathBuf,
    /// Short unique name (the folder's name): restores land under it.
    pub label: String,
}

pub(crate) type RootRow = Root;

impl Catalog {
    /// Opens the catalog at `path`, creating it if missing and migrating it to
    /// the current schema.
    ///
    /// # Errors
    /// [`Error::Db`] if the file cannot be opened or is not a SQLite database;
    /// [`Error::SchemaTooNew`] if a newer lomob wrote it.
    pub fn open(path: impl AsRef<Path>) -> Result<Catalog> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open_rw(&path)?;
        Ok(Catalog { conn, path })
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open catalog.
    pub fn schema_version(&self) -> Result<u32> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .db(&self.path)
    }

    /// Sets the connection's page cache to `kib` KiB ([`CACHE_KIB`] when
    /// opened) and hands back what it holds over that now: a smaller one
    /// for long work that needs the memory elsewhere (a backup building a
    /// 200,000-file image).
    ///
    /// [`CACHE_KIB`]: crate::CACHE_KIB
    pub fn set_cache_kib(&self, kib: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -i64::from(kib))
            .db(&self.path)?;
        self.conn
            .execute_batch("PRAGMA shrink_memory")
            .db(&self.path)
    }

    /// SQLite's `PRAGMA integrity_check`: empty when the file is sound.
    pub fn integrity_problems(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare("PRAGMA integrity_check").db(&self.path)?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .db(&self.path)?
            .collect::<rusqlite::Result<_>>()
            .db(&self.path)?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    /// The scanned folders.
    pub fn roots(&self) -> Result<Vec<Root>> {
        let mut st = self
            .conn
            .prepare("SELECT id, path, label FROM roots ORDER BY id")
            .db(&self.path)?;
        st.query_map([], |r| {
            Ok(Root {
                id: r.get(0)?,
                path: PathBuf::from(bytes_to_os(&r.get::<_, Vec<u8>>(1)?)),
                label: r.get(2)?,
            })
        })
        .db(&self.path)?
        .collect::<rusqlite::Result<_>>()
        .db(&self.path)
    }

    /// Each root's folder name (what restores and images put paths under), by root path.
    pub fn root_labels(&self) -> Result<std::collections::HashMap<PathBuf, String>> {
        Ok(self
            .roots()?
            .into_iter()
            .map(|r| (r.path, r.label))
            .collect())
    }

    /// Registers `path` as a root (idempotent) and returns it.
    ///
    /// # Errors
    /// [`Error::Root`] if it is not an accessible directory, [`Error::NestedRoots`]
    /// if it lies inside a known root or contains one.
    pub fn add_root(&mut self, path: impl AsRef<Path>) -> Result<Root> {
        let given = path.as_ref();
        let root_err = |source| Error::Root {
            path: given.to_path_buf(),
            source,
        };
        let canon = std::fs::canonicalize(given).map_err(root_err)?;
        if !canon.is_dir() {
            return Err(root_err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        let roots = self.roots()?;
        if let Some(r) = roots.iter().find(|r| r.path == canon) {
            return Ok(r.clone());
        }
        for r in &roots {
            if canon.starts_with(&r.path) {
                return Err(Error::NestedRoots {
                    inner: canon,
                    outer: r.path.clone(),
                });
            }
            if r.path.starts_with(&canon) {
                return Err(Error::NestedRoots {
                    inner: r.path.clone(),
                    outer: canon,
                });
            }
        }
        let base = canon
            .file_name()
            .map_or_else(|| "root".to_string(), |n| n.to_string_lossy().into_owned());
        let mut label = base.clone();
        for n in 2.. {
            let taken: Option<i64> = self
                .conn
                .query_row("SELECT id FROM roots WHERE label = ?1", [&label], |r| {
                    r.get(0)
                })
                .optional()
                .db(&self.path)?;
            if taken.is_none() {
                break;
            }
            label = format!("{base}-{n}");
        }
        self.conn
            .execute(
                "INSERT INTO roots (path, label, added_at) VALUES (?1, ?2, ?3)",
                params![os_to_bytes(canon.as_os_str()), label, scan::unix_now()],
            )
            .db(&self.path)?;
        Ok(Root {
            id: self.conn.last_insert_rowid(),
            path: canon,
            label,
        })
    }

    /// Takes the catalog's scan lock (`<catalog>.lock`), held until the guard drops,
    /// so two scanners never interleave their view of the same tree. The OS
    /// releases it if the process dies.
    fn lock_for_scan(&self) -> Result<std::fs::File> {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|source| Error::Lock {
                lock: lock.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy {
                path: self.path.clone(),
                lock,
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::Lock { lock, source }),
        }
    }

    /// Every row of `sql` with `params`, mapped by `f`.
    pub(crate) fn rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare(sql).db(&self.path)?;
        st.query_map(params, f)
            .db(&self.path)?
            .collect::<rusqlite::Result<_>>()
            .db(&self.path)
    }

    /// Scans the folder `root` (registering it as a root first) and records what
    /// changed since the last scan.
    ///
    /// Unchanged files (same size, mtime and inode) are not read; new and changed
    /// ones are hashed with BLAKE3; a file at a new path with the inode, size and
    /// mtime of a known one is a move and is not re-hashed. Paths that
    /// disappeared are marked deleted, never forgotten. Entries that cannot be
    /// read are reported in [`ScanReport::issues`] and left as recorded.
    ///
    /// # Errors
    /// When the root is missing or unreadable (nothing is marked deleted then),
    /// [`Error::Busy`] when another process is scanning into this catalog, or
    /// when the catalog fails.
    pub fn scan(
        &mut self,
        root: impl AsRef<Path>,
        options: &ScanOptions,
        progress: &dyn ScanProgress,
    ) -> Result<ScanReport> {
        let _lock = self.lock_for_scan()?;
        let root = self.add_root(root)?;
        let span = tracing::info_span!("scan", root = %root.label);
        let _guard = span.enter();
        scan::scan_root(&self.conn, &self.path, &root, &[], options, progress)
    }

    /// Rescans only the folders `under` (each with everything below it) of
    /// the scan root `root`, as [`Catalog::scan`] does the whole root: what
    /// a file watcher reports as changed, without walking the rest.
    ///
    /// A folder the catalog does not know yet, or that no longer exists, is
    /// widened to its nearest catalogued ancestor, so new folders get their
    /// parents and vanished ones are marked deleted. Nothing outside the
    /// scanned folders is marked deleted. `under` empty scans the whole root.
    ///
    /// # Errors
    /// As [`Catalog::scan`], and [`Error::OutsideRoot`] when a folder is not
    /// inside `root`.
    pub fn scan_under(
        &mut self,
        root: impl AsRef<Path>,
        under: &[PathBuf],
        options: &ScanOptions,
        progress: &dyn ScanProgress,
    ) -> Result<ScanReport> {
        let _lock = self.lock_for_scan()?;
        let root = self.add_root(root)?;
        let mut rels = Vec::with_capacity(under.len());
        for dir in under {
            let rel =
                crate::path::rel_under(&root.path, dir).ok_or_else(|| Error::OutsideRoot {
                    path: dir.clone(),
                    root: root.path.clone(),
                })?;
            if rel.is_empty() {
                rels.clear();
                break;
            }
            rels.push(rel);
        }
        let span = tracing::info_span!("scan", root = %root.label, folders = rels.len());
        let _guard = span.enter();
        scan::scan_root(&self.conn, &self.path, &root, &rels, options, progress)
    }
}
