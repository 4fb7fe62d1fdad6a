//! Importing the Go lomo-backup's catalog (`lomob import-lomob PATH/lomob.db
//! --site NAME`): reads it (read only) and records what it uploaded — each
//! file's path, size, SHA-256, mtime, and the Go ISO (or Google Drive copy)
//! holding it — so `lomob restore` can bring those files back from the
//! site the Go tool uploaded to, decrypting its AES-CTR objects with the Go
//! master key (`LOMOB_MASTER_KEY`).
//!
//! The Go catalog: `dirs` (the scan root as an absolute path with
//! `scan_root_dir_id = 0`, a row `''` for the root itself, other folders
//! relative to it), `files` (`dir_id`, `iso_id`: 0 none, -1 Google Drive,
//! else an ISO; `name`, `size`, `hash` or `hash_local`: hex SHA-256;
//! `mod_time`), `isos` (`id`, `name`, `status`: 3 = uploaded).
//!
//! The Go catalog is untrusted input: its three tables must be real tables
//! (not views, which could compute anything), reading it has a row and a
//! time budget, and every name must be a plain relative path (no `..`, no
//! `/` at the start, no empty or `.` part, no NUL) below an absolute root;
//! one bad row refuses the whole import, naming the row.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lomo_catalog::GoFile;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result, fail};

/// What to import.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The Go lomo-backup catalog (its lomob.db).
    pub go_db: PathBuf,
    /// The site already added for the bucket the Go tool uploaded its ISOs to.
    pub site: Option<String>,
    /// The site added for the Google Drive folder the Go tool uploaded files to.
    pub drive_site: Option<String>,
    /// Longest reading the Go catalog may take (default 5 minutes; 55,000
    /// files take milliseconds).
    pub time_limit: std::time::Duration,
    /// Most rows read from each of its tables (default 10 million).
    pub max_rows: usize,
}

impl ImportOptions {
    /// Imports `go_db`.
    pub fn new(go_db: impl Into<PathBuf>) -> ImportOptions {
        ImportOptions {
            go_db: go_db.into(),
            site: None,
            drive_site: None,
            time_limit: std::time::Duration::from_secs(300),
            max_rows: 10_000_000,
        }
    }
}

/// What an import recorded.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// Files recorded.
    pub imported: usize,
    /// In ISOs the Go tool uploaded.
    pub in_isos: usize,
    /// On Google Drive.
    pub on_drive: usize,
    /// Never uploaded by the Go tool.
    pub not_uploaded: usize,
}

/// SQLite errors of the foreign catalog, naming it.
fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => Error::failed(format!(
            "the Go catalog {}: reading it took longer than its time limit: refused (is it really the Go tool's?)",
            path.display(),
        )),
        _ => Error::failed(format!("the Go catalog {}: {e}", path.display())),
    }
}

/// Go's `isos.status` of an uploaded ISO.
const UPLOADED: i64 = 3;

/// The Go catalog, opened read only.
struct GoCatalog<'a> {
    db: Connection,
    path: &'a Path,
    max_rows: usize,
}

impl GoCatalog<'_> {
    fn open(
        path: &Path,
        (time_limit, max_rows): (std::time::Duration, usize),
    ) -> Result<GoCatalog<'_>> {
        let mut db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(db_err(path))?;
        db.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA query_only = ON;")
            .map_err(db_err(path))?;
        let start = std::time::Instant::now();
        db.progress_handler(10_000, Some(move || start.elapsed() > time_limit))
            .map_err(db_err(path))?;
        Ok(GoCatalog { db, path, max_rows })
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(self.path)(e)
    }

    fn columns(&self, table: &str) -> Result<Vec<String>> {
        let mut st = self
            .db
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(|e| self.err(e))?;
        st.query_map([], |r| r.get::<_, String>(1))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    /// Checks the tables are the Go tool's (real tables); the files' hash column.
    fn hash_column(&self) -> Result<&'static str> {
        for t in ["dirs", "files", "isos"] {
            let kind: Option<String> = self
                .db
                .query_row("SELECT type FROM sqlite_master WHERE name = ?1", [t], |r| {
                    r.get(0)
                })
                .ok();
            match kind.as_deref() {
                Some("table") => {}
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "{}: {t} is a {other}, not a table: refused (a Go lomo-backup catalog has plain tables)",
                        self.path.display()
                    )));
                }
                None => {
                    return Err(Error::invalid(format!(
                        "{} is not a Go lomo-backup catalog (no {t} table)",
                        self.path.display()
                    )));
                }
            }
        }
        let file_cols = self.columns("files")?;
        ["hash_local", "hash"]
            .into_iter()
            .find(|c| file_cols.iter().any(|x| x == c))
            .ok_or_else(|| {
                Error::invalid(format!("{}: files has no hash column", self.path.display()))
            })
    }

    /// ISO id → (name, status).
    fn isos(&self) -> Result<HashMap<i64, (String, i64)>> {
        let mut st = self
            .db
            .prepare("SELECT id, name, status FROM isos")
            .map_err(|e| self.err(e))?;
        st.query_map([], |r| {
            Ok((
                r.get(0)?,
                (r.get(1)?, r.get::<_, Option<i64>>(2)?.unwrap_or(0)),
            ))
        })
        .map_err(|e| self.err(e))?
        .take(self.max_rows)
        .collect::<rusqlite::Result<_>>()
        .map_err(|e| self.err(e))
    }

    /// Folder id → (root, path below it).
    fn dirs(&self) -> Result<HashMap<i64, (PathBuf, String)>> {
        let mut st = self
            .db
            .prepare("SELECT id, path, scan_root_dir_id FROM dirs")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?
            .take(self.max_rows)
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        for (id, p, root) in &rows {
            let ok = if *root == 0 {
                check_root(p)
            } else {
                let rel = p.trim_matches('/');
                if rel.is_empty() {
                    Ok(())
                } else {
                    check_rel(rel)
                }
            };
            ok.map_err(|why| Error::Refused {
                name: PathBuf::from(p),
                reason: format!(
                    "row {id} of dirs in the Go catalog {} has {why}; nothing was imported",
                    self.path.display()
                ),
            })?;
        }
        let roots: HashMap<i64, String> = rows
            .iter()
            .filter(|(_, _, root)| *root == 0)
            .map(|(id, p, _)| (*id, p.clone()))
            .collect();
        Ok(rows
            .iter()
            .filter_map(|(id, p, root)| {
                if *root == 0 {
                    Some((*id, (PathBuf::from(p), String::new())))
                } else {
                    roots
                        .get(root)
                        .map(|r| (*id, (PathBuf::from(r), p.trim_matches('/').to_owned())))
                }
            })
            .collect())
    }
}

/// A name below a root: relative, normalised, no NUL; else what it has.
fn check_rel(rel: &str) -> std::result::Result<(), &'static str> {
    if rel.contains('\0') {
        return Err("a NUL byte in its name");
    }
    if rel.starts_with('/') {
        return Err("an absolute name");
    }
    for part in rel.split('/') {
        match part {
            "" => return Err("an empty part in its name (`//`, or a `/` at the end)"),
            "." | ".." => return Err("a `.` or `..` part in its name"),
            _ => {}
        }
    }
    Ok(())
}

/// A scan root: absolute, normalised, no NUL.
fn check_root(root: &str) -> std::result::Result<(), &'static str> {
    match root.strip_prefix('/') {
        None => Err("a scan root that is not an absolute path"),
        Some("") => Ok(()),
        Some(rest) => check_rel(rest.trim_end_matches('/')),
    }
}

/// Where the Go tool put a file: its ISO (when uploaded), on Drive, and
/// the lomob site holding that copy.
fn holder<'a>(
    iso_id: i64,
    isos: &HashMap<i64, (String, i64)>,
    (site, drive_site): (Option<&'a str>, Option<&'a str>),
) -> (Option<String>, bool, Option<&'a str>) {
    match iso_id {
        -1 => (None, true, drive_site),
        0 => (None, false, None),
        id => match isos.get(&id) {
            Some((n, status)) if *status == UPLOADED => (Some(n.clone()), false, site),
            _ => (None, false, None),
        },
    }
}

/// Go's `mod_time`: Unix seconds, or the text go-sqlite3 writes
/// (`2006-01-02 15:04:05.999999999-07:00`, also with `T` and `Z`).
fn go_time(v: rusqlite::types::ValueRef<'_>) -> Option<i64> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).ok()?.trim();
            // go's time.Time String() form ends with " +0000 UTC"-like zones.
            let s = s.split(" m=").next().unwrap_or(s);
            let iso = s.replacen(' ', "T", 1);
            iso.parse::<jiff::Timestamp>()
                .ok()
                .or_else(|| {
                    jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S%.f %z %Z", s)
                        .ok()?
                        .to_timestamp()
                        .ok()
                })
                .map(jiff::Timestamp::as_second)
        }
        _ => None,
    }
}

/// The Go catalog's files, with the site holding each copy.
fn read_go(opts: &ImportOptions) -> Result<Vec<GoFile>> {
    let (path, site, drive_site) = (
        &opts.go_db,
        opts.site.as_deref(),
        opts.drive_site.as_deref(),
    );
    let go = GoCatalog::open(path, (opts.time_limit, opts.max_rows))?;
    let hash = go.hash_column()?;
    let (isos, dirs) = (go.isos()?, go.dirs()?);
    let mut st = go
        .db
        .prepare(&format!(
            "SELECT dir_id, iso_id, name, size, {hash}, mod_time, id FROM files ORDER BY id"
        ))
        .map_err(|e| go.err(e))?;
    let mut rows = st.query([]).map_err(|e| go.err(e))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(|e| go.err(e))? {
        if out.len() >= go.max_rows {
            fail!(
                "{}: more than {} files: refused",
                path.display(),
                go.max_rows
            );
        }
        let row = (|| -> rusqlite::Result<_> {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                go_time(r.get_ref(5)?),
            ))
        })();
        let (dir, iso_id, name, size, sha256, mtime) = row.map_err(|e| go.err(e))?;
        let id: i64 = r.get(6).map_err(|e| go.err(e))?;
        let Some((root, rel_dir)) = dirs.get(&dir) else {
            return Err(Error::invalid(format!(
                "{}: file {name:?} is in an unknown folder {dir}",
                path.display()
            )));
        };
        let rel = if rel_dir.is_empty() {
            name
        } else {
            format!("{rel_dir}/{name}")
        };
        check_rel(&rel).map_err(|why| Error::Refused {
            name: PathBuf::from(&rel),
            reason: format!(
                "row {id} of files in the Go catalog {} has {why}; nothing was imported",
                path.display()
            ),
        })?;
        let (iso, on_drive, site) = holder(iso_id, &isos, (site, drive_site));
        out.push(GoFile {
            root: root.clone(),
            rel: rel.into_bytes(),
            size: u64::try_from(size).unwrap_or(0),
            mtime,
            sha256: sha256.to_ascii_lowercase(),
            iso,
            on_drive,
            site: site.map(str::to_owned),
        });
    }
    Ok(out)
}

impl Context {
    /// Reads the Go catalog (read only) and records what it uploaded, so
    /// a restore can bring those files back.
    pub fn import_go(&mut self, opts: &ImportOptions) -> Result<ImportReport> {
        for name in [&opts.site, &opts.drive_site].into_iter().flatten() {
            self.site(name)?;
        }
        let files = read_go(opts)?;
        let in_isos = files.iter().filter(|f| f.iso.is_some()).count();
        let on_drive = files.iter().filter(|f| f.on_drive).count();
        if in_isos > 0 && opts.site.is_none() {
            fail!(
                "{in_isos} files are in ISOs the Go tool uploaded: name the site holding them with --site (add it with `lomob site add`)"
            );
        }
        self.catalog.import_go_files(&files)?;
        Ok(ImportReport {
            imported: files.len(),
            in_isos,
            on_drive,
            not_uploaded: files.len() - in_isos - on_drive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::ValueRef;

    #[test]
    fn go_times() {
        assert_eq!(
            go_time(ValueRef::Text(b"2024-02-03 04:05:06.789+00:00")),
            Some(1_706_933_106)
        );
        assert_eq!(
            go_time(ValueRef::Text(b"2024-02-03T04:05:06Z")),
            Some(1_706_933_106)
        );
        assert_eq!(go_time(ValueRef::Integer(5)), Some(5));
        assert_eq!(go_time(ValueRef::Text(b"yesterday")), None);
    }
}
