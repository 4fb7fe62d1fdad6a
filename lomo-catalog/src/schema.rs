//! Schema, migrations and connection setup.
//!
//! The schema version lives in `PRAGMA user_version`. Migrations are forward-only:
//! `MIGRATIONS[i]` takes a catalog from version `i` to `i + 1`, each in its own
//! transaction, so a crash mid-migration leaves the previous version intact.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::{DbContext, Error, Result};

/// Forward-only migrations; the schema version is `MIGRATIONS.len()`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: roots, directories, files (with history) and deduplicated contents.
    r"
    CREATE TABLE roots (
        id          INTEGER PRIMARY KEY,
        path        BLOB NOT NULL UNIQUE,   -- absolute, canonical, OS bytes
        label       TEXT NOT NULL UNIQUE,   -- folder name restores land under
        added_at    INTEGER NOT NULL        -- unix seconds
    );
    CREATE TABLE dirs (
        id          INTEGER PRIMARY KEY,
        root_id     INTEGER NOT NULL REFERENCES roots(id),
        rel         BLOB NOT NULL,          -- '/'-separated, relative to the root; '' = root
        mtime_ns    INTEGER NOT NULL,
        first_seen  INTEGER NOT NULL,
        deleted_at  INTEGER,                -- NULL while it exists
        UNIQUE (root_id, rel)
    );
    CREATE TABLE contents (
        id          INTEGER PRIMARY KEY,
        hash        BLOB NOT NULL UNIQUE,   -- BLAKE3-256 of the plaintext
        size        INTEGER NOT NULL,
        first_seen  INTEGER NOT NULL
    );
    -- One row per version of a path: a changed file gets a new row and the old
    -- one is closed with deleted_at, so every content ever seen stays listed.
    CREATE TABLE files (
        id          INTEGER PRIMARY KEY,
        dir_id      INTEGER NOT NULL REFERENCES dirs(id),
        name        BLOB NOT NULL,
        kind        INTEGER NOT NULL,       -- 0 regular file, 1 symlink
        size        INTEGER NOT NULL,
        mtime_ns    INTEGER NOT NULL,
        mode        INTEGER NOT NULL,
        inode       INTEGER NOT NULL,
        dev         INTEGER NOT NULL,
        content_id  INTEGER REFERENCES contents(id),  -- NULL for symlinks
        link_target BLOB,                   -- symlinks only
        racy        INTEGER NOT NULL DEFAULT 0,  -- mtime too close to the hash: re-hash next scan
        first_seen  INTEGER NOT NULL,
        deleted_at  INTEGER
    );
    CREATE UNIQUE INDEX files_live_path ON files(dir_id, name) WHERE deleted_at IS NULL;
    CREATE INDEX files_inode ON files(inode, size, mtime_ns);
    CREATE INDEX files_content ON files(content_id);
    CREATE TABLE scans (
        id          INTEGER PRIMARY KEY,
        root_id     INTEGER NOT NULL REFERENCES roots(id),
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,                -- NULL: interrupted or running
        new         INTEGER NOT NULL DEFAULT 0,
        changed     INTEGER NOT NULL DEFAULT 0,
        moved       INTEGER NOT NULL DEFAULT 0,
        deleted     INTEGER NOT NULL DEFAULT 0,
        unchanged   INTEGER NOT NULL DEFAULT 0,
        issues      INTEGER NOT NULL DEFAULT 0,
        bytes_hashed INTEGER NOT NULL DEFAULT 0
    );
    ",
    // 1 -> 2: archives (ISO images) and which contents they hold, where.
    r"
    CREATE TABLE archives (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,   -- e.g. 2019-05-01--2026-11-23.iso
        size        INTEGER NOT NULL,       -- bytes of the plain image
        files       INTEGER NOT NULL,       -- paths listed in it
        blake3      BLOB NOT NULL,          -- BLAKE3-256 of the plain image
        created_at  INTEGER NOT NULL,
        location    BLOB                    -- local image file, if kept
    );
    CREATE TABLE archive_members (
        archive_id  INTEGER NOT NULL REFERENCES archives(id),
        content_id  INTEGER NOT NULL REFERENCES contents(id),
        path        BLOB NOT NULL,          -- path inside the image
        offset      INTEGER NOT NULL,       -- byte offset of the data in the image
        PRIMARY KEY (archive_id, path)
    );
    CREATE INDEX archive_members_content ON archive_members(content_id);
    ",
    // 2 -> 3: the request ledger: what each site was asked, per day, by price class.
    r"
    CREATE TABLE request_ledger (
        site            TEXT NOT NULL,      -- site name from the config
        day             TEXT NOT NULL,      -- UTC date, YYYY-MM-DD
        class_a         INTEGER NOT NULL,   -- PUT, COPY, POST, LIST
        class_b         INTEGER NOT NULL,   -- GET, HEAD, other reads
        free            INTEGER NOT NULL,   -- DELETE
        failed          INTEGER NOT NULL,   -- transport errors, 5xx, 429
        bytes_sent      INTEGER NOT NULL,
        bytes_received  INTEGER NOT NULL,
        PRIMARY KEY (site, day)
    );
    ",
    // 3 -> 4: staged copies: one encrypted object per content on a staging site.
    r"
    CREATE TABLE staged (
        content_id  INTEGER NOT NULL REFERENCES contents(id),
        site        TEXT NOT NULL,          -- site name from the config
        key         TEXT NOT NULL,          -- object key on the site
        size        INTEGER NOT NULL,       -- stored (encrypted) bytes
        sha256      TEXT,                   -- stored SHA-256 the site reported (base64)
        staged_at   INTEGER NOT NULL,       -- unix seconds
        verified_at INTEGER,                -- last check that found it intact
        PRIMARY KEY (content_id, site)
    );
    CREATE INDEX staged_site ON staged(site);
    ",
    // 4 -> 5: checks: what was checked where, when, and what was found.
    r"
    CREATE TABLE checks (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,          -- 'staging' or 'archives'
        site        TEXT NOT NULL,
        started_at  INTEGER NOT NULL,       -- unix seconds
        finished_at INTEGER NOT NULL,
        checked     INTEGER NOT NULL,       -- objects compared
        problems    INTEGER NOT NULL,       -- differences found
        error       TEXT,                   -- why the site could not be checked
        report      TEXT NOT NULL           -- JSON lines of the differences
    );
    CREATE INDEX checks_kind_site ON checks(kind, site, finished_at);
    ",
    // 5 -> 6: alerts sent, so each kind of event is told once a day.
    r"
    CREATE TABLE alerts (
        kind        TEXT NOT NULL,          -- e.g. 'check-staging', 'backup-failed'
        day         TEXT NOT NULL,          -- UTC date, YYYY-MM-DD
        sent_at     INTEGER NOT NULL,
        subject     TEXT NOT NULL,
        PRIMARY KEY (kind, day)
    );
    ",
    // 6 -> 7: archive copies: each archive's encrypted object on each archive site.
    r"
    CREATE TABLE archive_copies (
        archive_id  INTEGER NOT NULL REFERENCES archives(id),
        site        TEXT NOT NULL,
        key         TEXT NOT NULL,          -- object key on the site
        header      BLOB NOT NULL,          -- lomo-crypt header: the same ciphertext on resume
        upload      TEXT,                   -- multipart state (JSON) while uploading
        size        INTEGER,                -- stored bytes, once done
        sha256      TEXT,                   -- stored checksum the site reported
        done_at     INTEGER,                -- verified complete
        PRIMARY KEY (archive_id, site)
    );
    ",
    // 7 -> 8: the sites as configured at the last backup (no credentials), so
    // a catalog recovered from a snapshot knows where its copies are.
    r"
    CREATE TABLE known_sites (
        name        TEXT PRIMARY KEY,
        url         TEXT NOT NULL,
        role        TEXT NOT NULL,
        storage_class TEXT,
        append_only INTEGER NOT NULL
    );
    ",
    // 8 -> 9: when each site was last reached, and since when it has not
    // been, so a site offline too long raises an alert.
    r"
    CREATE TABLE site_contact (
        site          TEXT PRIMARY KEY,
        last_ok       INTEGER,
        failing_since INTEGER,
        last_error    TEXT
    );
    ",
    // 9 -> 10: each member's mtime and mode as the image holds them, so an
    // image streamed without a local copy can be generated again, byte for
    // byte, to resume or repeat an upload.
    r"
    ALTER TABLE archive_members ADD COLUMN mtime_ns INTEGER;
    ALTER TABLE archive_members ADD COLUMN mode INTEGER;
    ",
    // 10 -> 11: what the Go lomo-backup uploaded, imported from its catalog
    // (`lomob import-lomob`), so its copies can be restored.
    r"
    CREATE TABLE go_files (
        root        BLOB NOT NULL,          -- the Go tool's scan root (absolute)
        rel         BLOB NOT NULL,          -- path below it, '/'-separated
        size        INTEGER NOT NULL,
        mtime       INTEGER,                -- Unix seconds, when known
        sha256      TEXT NOT NULL,          -- hex, as the Go tool recorded it
        iso         TEXT,                   -- the Go ISO holding it, if uploaded in one
        on_drive    INTEGER NOT NULL,       -- uploaded to Google Drive by the Go tool
        site        TEXT,                   -- the lomob site holding its copy
        PRIMARY KEY (root, rel)
    );
    ",
    // 11 -> 12: facts about the catalog itself, e.g. the id of the master
    // key its copies are sealed with, so another key is refused.
    r"
    CREATE TABLE meta (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    );
    ",
    // 12 -> 13: a BLAKE3 of each block of an image's plaintext, recorded on
    // its first pass before the block is sealed, so any later pass (a
    // resumed upload, another site, a repair) is proven to seal the very
    // same bytes under a copy's header.
    r"
    CREATE TABLE archive_blocks (
        archive_id  INTEGER NOT NULL REFERENCES archives(id),
        block       INTEGER NOT NULL,       -- index of the block in the plain image
        size        INTEGER NOT NULL,       -- its bytes (the last one may be short)
        blake3      BLOB NOT NULL,
        PRIMARY KEY (archive_id, block)
    );
    ",
    // 13 -> 14: a root held after a scan found a mass change (many files
    // deleted or rewritten: an unmounted disk, ransomware): nothing new of
    // it is staged or packed until the owner accepts the change.
    r"
    ALTER TABLE roots ADD COLUMN held_at INTEGER;
    ALTER TABLE roots ADD COLUMN held_reason TEXT;
    ",
    // 14 -> 15: what a site can later prove about a copy: the ETag it
    // gave at upload (a replaced object gets another), and when a copy's
    // bytes were last read and authenticated (folder sites).
    r"
    ALTER TABLE archive_copies ADD COLUMN etag TEXT;
    ALTER TABLE archive_copies ADD COLUMN verified_at INTEGER;
    ALTER TABLE staged ADD COLUMN etag TEXT;
    ",
    // 15 -> 16: the parity object stored beside an archive copy (its key),
    // from which damaged chunks are rebuilt without another copy.
    r"
    ALTER TABLE archive_copies ADD COLUMN parity TEXT;
    ",
    // 16 -> 17: what a site learned of its layout (Google Drive: folder
    // and object ids), kept between runs; a cache, safe to empty.
    r"
    CREATE TABLE site_memo (
        site TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (site, name)
    ) WITHOUT ROWID;
    ",
    // 17 -> 18: a site's S3 Object Lock policy (`10y`, and its mode), so a
    // catalog recovered from a snapshot goes on locking new archives.
    r"
    ALTER TABLE known_sites ADD COLUMN lock TEXT;
    ALTER TABLE known_sites ADD COLUMN lock_mode TEXT;
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Opens (creating if needed) the catalog at `path` for writing and migrates it.
pub(crate) fn open_rw(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path).db(path)?;
    configure(&conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL").db(path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing catalog read-only (used by scan workers beside the writer).
pub(crate) fn open_ro(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .db(path)?;
    configure(&conn, path)?;
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(30)).db(path)?;
    // WAL + NORMAL: a crash (kill -9) never corrupts and never loses a commit;
    // a power cut may lose the last commits, never consistency.
    conn.pragma_update(None, "synchronous", "NORMAL").db(path)?;
    conn.pragma_update(None, "foreign_keys", "ON").db(path)?;
    conn.pragma_update(None, "cache_size", -i64::from(crate::CACHE_KIB))
        .db(path)?;
    // Plans that do not hang on bound values. Without this SQLite marks a
    // statement with an `x = ?` filter for planning again whenever that
    // binding changes or is cleared, and rusqlite's statement cache clears
    // bindings whenever a statement goes back: every cached lookup would be
    // parsed and planned anew on each use (over half the time of planning
    // a million-file restore). The catalog keeps no statistics whose
    // plans could depend on values anyway.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .db(path)?;
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let found: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .db(path)?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().db(path)?;
        tx.execute_batch(sql).db(path)?;
        tx.pragma_update(None, "user_version", from as u32 + 1)
            .db(path)?;
        tx.commit().db(path)?;
        tracing::info!(catalog = %path.display(), version = from + 1, "migrated catalog");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_catalog_migrates_forward_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v1.db");
        {
            let c = Connection::open(&db).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO roots (path, label, added_at) VALUES (x'2f70', 'p', 0)",
                [],
            )
            .unwrap();
        }
        let conn = open_rw(&db).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let roots: i64 = conn
            .query_row("SELECT count(*) FROM roots", [], |r| r.get(0))
            .unwrap();
        assert_eq!(roots, 1);
        let archives: i64 = conn
            .query_row("SELECT count(*) FROM archives", [], |r| r.get(0))
            .unwrap();
        assert_eq!(archives, 0);
    }

    #[test]
    fn a_cached_lookup_is_not_prepared_again_on_each_use() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        for conn in [open_rw(&db).unwrap(), open_ro(&db).unwrap()] {
            let sql = "SELECT site FROM archive_copies WHERE archive_id = ?1 ORDER BY site";
            for id in [1_i64, 2, 0, 7, 1] {
                let mut st = conn.prepare_cached(sql).unwrap();
                let n = st.query_map([id], |_| Ok(())).unwrap().count();
                assert_eq!(n, 0);
            }
            let st = conn.prepare_cached(sql).unwrap();
            assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0);
        }
    }

    #[test]
    fn migrates_once_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        drop(open_rw(&db).unwrap());
        let conn = open_rw(&db).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = open_rw(&db).unwrap_err();
        assert!(matches!(err, Error::SchemaTooNew { .. }), "{err}");
        assert!(err.to_string().contains("c.db"));
    }
}
