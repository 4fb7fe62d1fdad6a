//! The single writer: applies the walkers' findings in batched transactions.
//!
//! Every message is applied whole inside one transaction (a changed file closes
//! its old row and inserts the new one together), and transactions commit every
//! few thousand messages or quarter second, so a kill at any moment leaves a
//! consistent catalog that the next scan simply completes.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use super::walk::{KIND_FILE, KIND_SYMLINK};
use super::{Meta, ScanIssue, ScanReport};
use crate::catalog::RootRow;
use crate::error::{DbContext, Error, Result};
use crate::path::rel_is_within;

const BATCH_MSGS: usize = 4096;
const BATCH_TIME: Duration = Duration::from_millis(250);

/// Where a recorded file's content id comes from.
pub(crate) enum Content {
    /// Freshly hashed (BLAKE3-256).
    Hashed([u8; 32]),
    /// Already in the catalog (a move recognised by inode, size and mtime).
    Known(i64),
}

/// What walkers tell the writer.
pub(crate) enum Msg {
    /// A directory was listed; `deleted` are its catalog files no longer there.
    Dir {
        rel: Vec<u8>,
        mtime_ns: i64,
        unchanged: u64,
        skipped: u64,
        deleted: Vec<i64>,
        /// false if the listing broke off: nothing below it may be marked deleted.
        complete: bool,
    },
    /// A directory could not be listed: keep what the catalog knows below it.
    DirFailed { rel: Vec<u8> },
    /// A regular file to record (new path, or a new state of `replaces`).
    File {
        rel: Vec<u8>,
        name: Vec<u8>,
        meta: Meta,
        content: Content,
        replaces: Option<i64>,
        racy: bool,
    },
    /// A symlink to record.
    Symlink {
        rel: Vec<u8>,
        name: Vec<u8>,
        meta: Meta,
        target: Vec<u8>,
        replaces: Option<i64>,
    },
    /// An entry was skipped.
    Issue(ScanIssue),
    /// A walker hit a catalog error: stop.
    Fatal(String),
    /// The walk is over.
    Done,
}

/// A file row's (kind, content id, link target).
type OldState = (i64, Option<i64>, Option<Vec<u8>>);

pub(crate) struct Writer<'c> {
    conn: &'c Connection,
    path: &'c Path,
    root: &'c RootRow,
    scan_id: i64,
    now: i64,
    dir_ids: HashMap<Vec<u8>, i64>,
    visited: HashSet<i64>,
    failed: Vec<Vec<u8>>,
    /// The folders this scan covers (the root: one empty path).
    scope: Vec<Vec<u8>>,
    in_tx: bool,
    pending: usize,
    last_commit: Instant,
    report: ScanReport,
    /// Files that appeared at a new path (content id).
    new_paths: Vec<i64>,
    new_symlinks: u64,
    /// Contents of paths that disappeared in this scan, with their count.
    gone: HashMap<i64, u64>,
    deleted: u64,
}

impl<'c> Writer<'c> {
    pub(crate) fn begin(conn: &'c Connection, path: &'c Path, root: &'c RootRow) -> Result<Self> {
        let now = unix_now();
        conn.execute(
            "INSERT INTO scans (root_id, started_at) VALUES (?1, ?2)",
            params![root.id, now],
        )
        .db(path)?;
        Ok(Writer {
            conn,
            path,
            root,
            scan_id: conn.last_insert_rowid(),
            now,
            dir_ids: HashMap::new(),
            visited: HashSet::new(),
            failed: Vec::new(),
            scope: vec![Vec::new()],
            in_tx: false,
            pending: 0,
            last_commit: Instant::now(),
            report: ScanReport::default(),
            new_paths: Vec::new(),
            new_symlinks: 0,
            gone: HashMap::new(),
            deleted: 0,
        })
    }

    /// Live directories of the root, by relative path.
    pub(crate) fn live_dirs(&mut self) -> Result<HashMap<Vec<u8>, i64>> {
        let mut st = self
            .conn
            .prepare("SELECT rel, id FROM dirs WHERE root_id = ?1 AND deleted_at IS NULL")
            .db(self.path)?;
        let dirs: HashMap<Vec<u8>, i64> = st
            .query_map([self.root.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .db(self.path)?
            .collect::<rusqlite::Result<_>>()
            .db(self.path)?;
        self.dir_ids.clone_from(&dirs);
        Ok(dirs)
    }

    /// Limits what `finish` may mark deleted to these folders and below.
    pub(crate) fn limit_to(&mut self, scope: &[Vec<u8>]) {
        self.scope = scope.to_vec();
    }

    pub(crate) fn apply(&mut self, msg: Msg) -> Result<()> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE").db(self.path)?;
            self.in_tx = true;
        }
        match msg {
            Msg::Dir {
                rel,
                mtime_ns,
                unchanged,
                skipped,
                deleted,
                complete,
            } => {
                let id = self.upsert_dir(&rel, mtime_ns)?;
                self.visited.insert(id);
                self.report.dirs += 1;
                self.report.unchanged += unchanged;
                self.report.skipped += skipped;
                for file_id in deleted {
                    self.close_file(file_id, true)?;
                }
                if !complete {
                    self.failed.push(rel);
                }
            }
            Msg::DirFailed { rel } => self.failed.push(rel),
            Msg::File {
                rel,
                name,
                meta,
                content,
                replaces,
                racy,
            } => self.record_file(&rel, &name, &meta, &content, replaces, racy)?,
            Msg::Symlink {
                rel,
                name,
                meta,
                target,
                replaces,
            } => self.record_symlink(&rel, &name, &meta, &target, replaces)?,
            Msg::Issue(issue) => self.report.issues.push(issue),
            Msg::Fatal(reason) => {
                return Err(Error::ScanAborted {
                    root: self.root.path.clone(),
                    reason,
                });
            }
            Msg::Done => {}
        }
        self.pending += 1;
        if self.pending >= BATCH_MSGS {
            self.commit()?;
        }
        self.tick()
    }

    /// Commits the open batch if it has been open long enough.
    pub(crate) fn tick(&mut self) -> Result<()> {
        if self.in_tx && self.last_commit.elapsed() >= BATCH_TIME {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.in_tx {
            self.conn.execute_batch("COMMIT").db(self.path)?;
            self.in_tx = false;
        }
        self.pending = 0;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Marks what was not seen as deleted, classifies moves, closes the scan record.
    pub(crate) fn finish(mut self) -> Result<ScanReport> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE").db(self.path)?;
            self.in_tx = true;
        }
        let live: Vec<(i64, Vec<u8>)> = {
            let mut st = self
                .conn
                .prepare("SELECT id, rel FROM dirs WHERE root_id = ?1 AND deleted_at IS NULL")
                .db(self.path)?;
            st.query_map([self.root.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .db(self.path)?
                .collect::<rusqlite::Result<_>>()
                .db(self.path)?
        };
        for (id, rel) in live {
            let protected = self.failed.iter().any(|f| rel_is_within(&rel, f))
                || !self.scope.iter().any(|d| rel_is_within(&rel, d));
            if self.visited.contains(&id) || protected {
                continue;
            }
            self.conn
                .execute(
                    "UPDATE dirs SET deleted_at = ?2 WHERE id = ?1",
                    params![id, self.now],
                )
                .db(self.path)?;
            let mut st = self
                .conn
                .prepare_cached(
                    "UPDATE files SET deleted_at = ?2 WHERE dir_id = ?1 AND deleted_at IS NULL \
                     RETURNING content_id",
                )
                .db(self.path)?;
            let gone: Vec<Option<i64>> = st
                .query_map(params![id, self.now], |r| r.get(0))
                .db(self.path)?
                .collect::<rusqlite::Result<_>>()
                .db(self.path)?;
            for content in gone {
                self.note_gone(content);
            }
        }

        let mut moved = 0;
        for content in &self.new_paths {
            if let Some(n) = self.gone.get_mut(content).filter(|n| **n > 0) {
                *n -= 1;
                moved += 1;
            }
        }
        let r = &mut self.report;
        r.moved = moved;
        r.new = self.new_paths.len() as u64 + self.new_symlinks - moved;
        r.deleted = self.deleted - moved;
        self.conn
            .execute(
                "UPDATE scans SET finished_at = ?2, new = ?3, changed = ?4, moved = ?5, \
                 deleted = ?6, unchanged = ?7, issues = ?8, bytes_hashed = ?9 WHERE id = ?1",
                params![
                    self.scan_id,
                    unix_now(),
                    r.new as i64,
                    r.changed as i64,
                    r.moved as i64,
                    r.deleted as i64,
                    r.unchanged as i64,
                    r.issues.len() as i64,
                    r.bytes_hashed as i64,
                ],
            )
            .db(self.path)?;
        self.commit()?;
        Ok(std::mem::take(&mut self.report))
    }

    fn note_gone(&mut self, content: Option<i64>) {
        self.deleted += 1;
        if let Some(c) = content {
            *self.gone.entry(c).or_default() += 1;
        }
    }

    fn upsert_dir(&mut self, rel: &[u8], mtime_ns: i64) -> Result<i64> {
        let id: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO dirs (root_id, rel, mtime_ns, first_seen) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (root_id, rel) DO UPDATE SET mtime_ns = excluded.mtime_ns, \
                 deleted_at = NULL RETURNING id",
            )
            .db(self.path)?
            .query_row(params![self.root.id, rel, mtime_ns, self.now], |r| r.get(0))
            .db(self.path)?;
        self.dir_ids.insert(rel.to_vec(), id);
        Ok(id)
    }

    fn dir_id(&mut self, rel: &[u8]) -> Result<i64> {
        match self.dir_ids.get(rel) {
            Some(&id) => Ok(id),
            None => self.upsert_dir(rel, 0),
        }
    }

    /// Closes a live file row; `gone` says its path disappeared (vs. was replaced).
    fn close_file(&mut self, id: i64, gone: bool) -> Result<()> {
        let content: Option<Option<i64>> = self
            .conn
            .prepare_cached(
                "UPDATE files SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL \
                 RETURNING content_id",
            )
            .db(self.path)?
            .query_row(params![id, self.now], |r| r.get(0))
            .optional()
            .db(self.path)?;
        if let (Some(content), true) = (content, gone) {
            self.note_gone(content);
        }
        Ok(())
    }

    fn content_id(&mut self, hash: &[u8; 32], size: u64) -> Result<i64> {
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM contents WHERE hash = ?1")
            .db(self.path)?
            .query_row([&hash[..]], |r| r.get(0))
            .optional()
            .db(self.path)?;
        if let Some(id) = found {
            return Ok(id);
        }
        self.conn
            .prepare_cached("INSERT INTO contents (hash, size, first_seen) VALUES (?1, ?2, ?3)")
            .db(self.path)?
            .execute(params![&hash[..], size as i64, self.now])
            .db(self.path)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The (kind, content id, link target) of a file row.
    fn old_state(&self, id: i64) -> Result<Option<OldState>> {
        self.conn
            .prepare_cached("SELECT kind, content_id, link_target FROM files WHERE id = ?1")
            .db(self.path)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .db(self.path)
    }

    /// Same content as before (a touch, or a racy re-check): refresh the stat fields in place.
    fn refresh(&self, id: i64, meta: &Meta, racy: bool) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE files SET size = ?2, mtime_ns = ?3, mode = ?4, inode = ?5, dev = ?6, \
                 racy = ?7 WHERE id = ?1",
            )
            .db(self.path)?
            .execute(params![
                id,
                meta.size as i64,
                meta.mtime_ns,
                meta.mode,
                meta.inode as i64,
                meta.dev as i64,
                racy
            ])
            .db(self.path)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_file(
        &mut self,
        rel: &[u8],
        name: &[u8],
        kind: i64,
        meta: &Meta,
        content_id: Option<i64>,
        target: Option<&[u8]>,
        racy: bool,
    ) -> Result<()> {
        let dir_id = self.dir_id(rel)?;
        self.conn
            .prepare_cached(
                "INSERT INTO files (dir_id, name, kind, size, mtime_ns, mode, inode, dev, \
                 content_id, link_target, racy, first_seen) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .db(self.path)?
            .execute(params![
                dir_id,
                name,
                kind,
                meta.size as i64,
                meta.mtime_ns,
                meta.mode,
                meta.inode as i64,
                meta.dev as i64,
                content_id,
                target,
                racy,
                self.now
            ])
            .db(self.path)?;
        Ok(())
    }

    fn record_file(
        &mut self,
        rel: &[u8],
        name: &[u8],
        meta: &Meta,
        content: &Content,
        replaces: Option<i64>,
        racy: bool,
    ) -> Result<()> {
        let content_id = match *content {
            Content::Hashed(ref hash) => {
                self.report.files_hashed += 1;
                self.report.bytes_hashed += meta.size;
                self.content_id(hash, meta.size)?
            }
            Content::Known(id) => id,
        };
        match replaces {
            Some(old) => {
                if let Some((KIND_FILE, Some(c), _)) = self.old_state(old)?
                    && c == content_id
                {
                    self.report.unchanged += 1;
                    return self.refresh(old, meta, racy);
                }
                self.close_file(old, false)?;
                self.report.changed += 1;
            }
            None => self.new_paths.push(content_id),
        }
        self.insert_file(rel, name, KIND_FILE, meta, Some(content_id), None, racy)
    }

    fn record_symlink(
        &mut self,
        rel: &[u8],
        name: &[u8],
        meta: &Meta,
        target: &[u8],
        replaces: Option<i64>,
    ) -> Result<()> {
        match replaces {
            Some(old) => {
                if let Some((KIND_SYMLINK, _, Some(t))) = self.old_state(old)?
                    && t == target
                {
                    self.report.unchanged += 1;
                    return self.refresh(old, meta, false);
                }
                self.close_file(old, false)?;
                self.report.changed += 1;
            }
            None => self.new_symlinks += 1,
        }
        self.insert_file(rel, name, KIND_SYMLINK, meta, None, Some(target), false)
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.in_tx {
            // An error or panic mid-batch: undo the partial batch, keep earlier ones.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
