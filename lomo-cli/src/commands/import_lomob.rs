//! `lomob import-lomob PATH/lomob.db --site NAME`: reads the Go
//! lomo-backup's catalog (read only) and records what it uploaded — each
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lomo_catalog::GoFile;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::output::Out;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The Go lomo-backup catalog (its lomob.db)
    #[arg(value_name = "LOMOB_DB")]
    go_db: PathBuf,
    /// The site already added for the bucket the Go tool uploaded its ISOs to
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// The site added for the Google Drive folder the Go tool uploaded files to
    #[arg(long, value_name = "NAME")]
    drive_site: Option<String>,
}

/// Go's `isos.status` of an uploaded ISO.
const UPLOADED: i64 = 3;

fn columns(db: &Connection, table: &str) -> Result<Vec<String>> {
    let mut st = db.prepare(&format!("PRAGMA table_info({table})"))?;
    let cols = st
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(cols)
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
fn read_go(path: &Path, site: Option<&str>, drive_site: Option<&str>) -> Result<Vec<GoFile>> {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open the Go catalog {}", path.display()))?;
    for t in ["dirs", "files", "isos"] {
        if columns(&db, t)?.is_empty() {
            bail!(
                "{} is not a Go lomo-backup catalog (no {t} table)",
                path.display()
            );
        }
    }
    let file_cols = columns(&db, "files")?;
    let hash = ["hash_local", "hash"]
        .into_iter()
        .find(|c| file_cols.iter().any(|x| x == c))
        .with_context(|| format!("{}: files has no hash column", path.display()))?;
    let isos: HashMap<i64, (String, i64)> = {
        let mut st = db.prepare("SELECT id, name, status FROM isos")?;
        st.query_map([], |r| {
            Ok((
                r.get(0)?,
                (r.get(1)?, r.get::<_, Option<i64>>(2)?.unwrap_or(0)),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    // Folder id -> (root, path below it).
    let dirs: HashMap<i64, (PathBuf, String)> = {
        let mut st = db.prepare("SELECT id, path, scan_root_dir_id FROM dirs")?;
        let rows: Vec<(i64, String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let roots: HashMap<i64, String> = rows
            .iter()
            .filter(|(_, _, root)| *root == 0)
            .map(|(id, p, _)| (*id, p.clone()))
            .collect();
        rows.iter()
            .filter_map(|(id, p, root)| {
                if *root == 0 {
                    Some((*id, (PathBuf::from(p), String::new())))
                } else {
                    roots
                        .get(root)
                        .map(|r| (*id, (PathBuf::from(r), p.trim_matches('/').to_owned())))
                }
            })
            .collect()
    };
    let mut st = db.prepare(&format!(
        "SELECT dir_id, iso_id, name, size, {hash}, mod_time FROM files ORDER BY id"
    ))?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let dir: i64 = r.get(0)?;
        let iso_id: i64 = r.get(1)?;
        let name: String = r.get(2)?;
        let Some((root, rel_dir)) = dirs.get(&dir) else {
            bail!(
                "{}: file {name:?} is in an unknown folder {dir}",
                path.display()
            );
        };
        let rel = if rel_dir.is_empty() {
            name.clone()
        } else {
            format!("{rel_dir}/{name}")
        };
        let (iso, on_drive, holder) = match iso_id {
            -1 => (None, true, drive_site),
            0 => (None, false, None),
            id => match isos.get(&id) {
                Some((n, status)) if *status == UPLOADED => (Some(n.clone()), false, site),
                _ => (None, false, None),
            },
        };
        out.push(GoFile {
            root: root.clone(),
            rel: rel.into_bytes(),
            size: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            mtime: go_time(r.get_ref(5)?),
            sha256: r.get::<_, String>(4)?.to_ascii_lowercase(),
            iso,
            on_drive,
            site: holder.map(str::to_owned),
        });
    }
    Ok(out)
}

pub(crate) fn run(ctx: &Ctx, args: &ImportArgs) -> Result<Outcome> {
    for name in [&args.site, &args.drive_site].into_iter().flatten() {
        crate::sites::find(&ctx.config, name)?;
    }
    let files = read_go(
        &args.go_db,
        args.site.as_deref(),
        args.drive_site.as_deref(),
    )?;
    let in_iso = files.iter().filter(|f| f.iso.is_some()).count();
    let on_drive = files.iter().filter(|f| f.on_drive).count();
    if in_iso > 0 && args.site.is_none() {
        bail!(
            "{in_iso} files are in ISOs the Go tool uploaded: name the site holding them with --site (add it with `lomob site add`)"
        );
    }
    let mut catalog = ctx.open_catalog()?;
    catalog.import_go_files(&files)?;
    let mut out = Out::new(ctx.global.json);
    out.record_or_line(
        &json!({"imported": files.len(), "in_isos": in_iso, "on_drive": on_drive,
                "not_uploaded": files.len() - in_iso - on_drive}),
        &format!(
            "imported {} files from {}: {in_iso} in uploaded ISOs, {on_drive} on Google Drive, {} not uploaded by the Go tool",
            files.len(),
            args.go_db.display(),
            files.len() - in_iso - on_drive
        ),
    )?;
    out.flush()?;
    Ok(Outcome::Clean)
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
