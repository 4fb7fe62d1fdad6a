//! What `lomob status` reads: which sites hold each content (a bit per
//! site), every live file briefly, and per-root and per-site totals — all
//! in a few sequential scans, so a catalog of a million files answers in
//! well under a second and a few tens of MB.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::catalog::Catalog;
use crate::error::{DbContext as _, Result};
use crate::query::{FILE_COLUMNS, file_from_row};

/// The most sites [`SiteMasks`] tells apart.
pub const MAX_MASK_SITES: usize = 64;

/// Which of the sites asked about hold each content, a bit per site in
/// the order given: staged copies, and finished archive copies.
#[derive(Debug, Default)]
pub struct SiteMasks {
    staged: Vec<u64>,
    archived: Vec<u64>,
}

impl SiteMasks {
    /// Sites holding a staged copy of content `id`.
    pub fn staged(&self, id: i64) -> u64 {
        get(&self.staged, id)
    }

    /// Sites holding a finished archive copy with content `id` in it.
    pub fn archived(&self, id: i64) -> u64 {
        get(&self.archived, id)
    }
}

fn get(v: &[u64], id: i64) -> u64 {
    usize::try_from(id)
        .ok()
        .and_then(|i| v.get(i))
        .copied()
        .unwrap_or(0)
}

fn set(v: &mut Vec<u64>, id: i64, bits: u64) {
    let Ok(i) = usize::try_from(id) else { return };
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    v[i] |= bits;
}

/// One version of a regular file, as status counts it.
#[derive(Debug, Clone, Copy)]
pub struct LiveFile {
    /// Deleted or replaced since (a version kept in history).
    pub deleted: bool,
    /// File row id.
    pub id: i64,
    /// Its root.
    pub root_id: i64,
    /// Bytes.
    pub size: u64,
    /// When the catalog first saw this version (Unix seconds).
    pub first_seen: i64,
    /// Its content.
    pub content_id: i64,
}

/// Totals a site holds, from the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteTotals {
    /// Staged objects.
    pub staged: u64,
    /// Their stored bytes.
    pub staged_bytes: u64,
    /// Finished archive copies.
    pub archives: u64,
    /// Their stored bytes.
    pub archive_bytes: u64,
    /// Archive copies still uploading.
    pub uploading: u64,
    /// The newest finished archive copy or staged object (Unix seconds).
    pub newest: Option<i64>,
}

impl Catalog {
    /// Which of `sites` hold each content (sites past the
    /// [`MAX_MASK_SITES`]th are not told apart: they count as holding
    /// nothing).
    pub fn site_masks(&self, sites: &[&str]) -> Result<SiteMasks> {
        let bit: HashMap<&str, u64> = sites
            .iter()
            .take(MAX_MASK_SITES)
            .enumerate()
            .map(|(i, s)| (*s, 1u64 << i))
            .collect();
        let mut m = SiteMasks::default();
        let mut st = self
            .conn
            .prepare("SELECT content_id, site FROM staged")
            .db(&self.path)?;
        let mut rows = st.query([]).db(&self.path)?;
        while let Some(r) = rows.next().db(&self.path)? {
            let site: String = r.get(1).db(&self.path)?;
            if let Some(b) = bit.get(site.as_str()) {
                set(&mut m.staged, r.get(0).db(&self.path)?, *b);
            }
        }
        let mut by_archive: HashMap<i64, u64> = HashMap::new();
        for (archive, site) in self.rows(
            "SELECT archive_id, site FROM archive_copies WHERE done_at IS NOT NULL",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )? {
            if let Some(b) = bit.get(site.as_str()) {
                *by_archive.entry(archive).or_default() |= b;
            }
        }
        let mut st = self
            .conn
            .prepare("SELECT archive_id, content_id FROM archive_members")
            .db(&self.path)?;
        let mut rows = st.query([]).db(&self.path)?;
        while let Some(r) = rows.next().db(&self.path)? {
            if let Some(b) = by_archive.get(&r.get::<_, i64>(0).db(&self.path)?) {
                set(&mut m.archived, r.get(1).db(&self.path)?, *b);
            }
        }
        Ok(m)
    }

    /// Calls `f` with every version of every regular file, live and
    /// deleted, in one pass.
    pub fn for_each_file_version(&self, mut f: impl FnMut(LiveFile)) -> Result<()> {
        let mut st = self
            .conn
            .prepare(
                "SELECT f.id, d.root_id, f.size, f.first_seen, f.content_id, f.deleted_at IS NOT NULL \
                 FROM files f JOIN dirs d ON d.id = f.dir_id \
                 WHERE f.kind = 0 AND f.content_id IS NOT NULL",
            )
            .db(&self.path)?;
        let mut rows = st.query([]).db(&self.path)?;
        while let Some(r) = rows.next().db(&self.path)? {
            let size: i64 = r.get(2).db(&self.path)?;
            f(LiveFile {
                deleted: r.get(5).db(&self.path)?,
                id: r.get(0).db(&self.path)?,
                root_id: r.get(1).db(&self.path)?,
                size: u64::try_from(size).unwrap_or(0),
                first_seen: r.get(3).db(&self.path)?,
                content_id: r.get(4).db(&self.path)?,
            });
        }
        Ok(())
    }

    /// The path of file row `id`.
    pub fn file_path(&self, id: i64) -> Result<Option<PathBuf>> {
        use rusqlite::OptionalExtension as _;
        let sql = format!("SELECT {FILE_COLUMNS} WHERE f.id = ?1");
        Ok(self
            .conn
            .query_row(&sql, [id], file_from_row)
            .optional()
            .db(&self.path)?
            .map(|f| f.path))
    }

    /// What each site holds, by name (sites with nothing are absent).
    pub fn site_totals(&self) -> Result<HashMap<String, SiteTotals>> {
        let mut out: HashMap<String, SiteTotals> = HashMap::new();
        for (site, n, bytes, newest) in self.rows(
            "SELECT site, count(*), coalesce(sum(size), 0), max(staged_at) FROM staged GROUP BY site",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?)),
        )? {
            let t = out.entry(site).or_default();
            t.staged = u64::try_from(n).unwrap_or(0);
            t.staged_bytes = u64::try_from(bytes).unwrap_or(0);
            t.newest = newest;
        }
        for (site, n, bytes, newest, uploading) in self.rows(
            "SELECT c.site, count(c.done_at), coalesce(sum(CASE WHEN c.done_at IS NOT NULL THEN coalesce(c.size, a.size) END), 0), \
             max(c.done_at), count(*) - count(c.done_at) \
             FROM archive_copies c JOIN archives a ON a.id = c.archive_id GROUP BY c.site",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )? {
            let t = out.entry(site).or_default();
            t.archives = u64::try_from(n).unwrap_or(0);
            t.archive_bytes = u64::try_from(bytes).unwrap_or(0);
            t.uploading = u64::try_from(uploading).unwrap_or(0);
            t.newest = t.newest.max(newest);
        }
        Ok(out)
    }
}
