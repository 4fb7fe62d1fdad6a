//! Parallel directory walk: list, compare with the catalog, hash what changed.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use globset::GlobSet;
use rusqlite::{Connection, OptionalExtension, params};

use super::hash::{HashError, hash_stable};
use super::writer::{Content, Msg, Writer};
use super::{IssueKind, Meta, ScanIssue, ScanOptions, ScanProgress, ScanReport};
use crate::catalog::RootRow;
use crate::error::{DbContext, Error, Result};
use crate::path::{join_rel, os_to_bytes};
use crate::schema;

/// Files at least this big are hashed in a task of their own (so one folder of
/// videos keeps every core busy); smaller ones are hashed by the lister.
const SPAWN_MIN: u64 = 256 * 1024;
/// How often a file that keeps changing is retried before it is reported.
const HASH_ATTEMPTS: u32 = 3;
/// A file modified this close to its hashing is re-hashed next scan, since a
/// write within the same mtime tick would otherwise go unnoticed.
const RACY_NS: i64 = 2_000_000_000;

/// Kind codes stored in `files.kind`.
pub(crate) const KIND_FILE: i64 = 0;
pub(crate) const KIND_SYMLINK: i64 = 1;

/// What the catalog knows of a live entry in a directory.
struct Known {
    id: i64,
    kind: i64,
    size: u64,
    mtime_ns: i64,
    inode: u64,
    racy: bool,
}

impl Known {
    fn unchanged(&self, kind: i64, m: &Meta) -> bool {
        self.kind == kind
            && !self.racy
            && self.size == m.size
            && self.mtime_ns == m.mtime_ns
            && self.inode == m.inode
    }
}

struct Ctx<'a> {
    root: &'a Path,
    db_path: &'a Path,
    /// Files of the catalog itself, never scanned.
    excluded: Vec<PathBuf>,
    /// Live directories of this root in the catalog, by relative path.
    dirs: HashMap<Vec<u8>, i64>,
    file_globs: GlobSet,
    dir_globs: GlobSet,
    readers: Mutex<Vec<Connection>>,
    /// Sorted inodes of every catalogued file, loaded on the first new path:
    /// most new files (a first scan, new photos) skip the move lookup entirely.
    inodes: OnceLock<Result<Vec<u64>, String>>,
    progress: &'a dyn ScanProgress,
    tx: Sender<Msg>,
    abort: AtomicBool,
}

/// Scans one root into the catalog; the caller has checked and registered it.
pub(crate) fn scan_root(
    conn: &Connection,
    db_path: &Path,
    root: &RootRow,
    under: &[Vec<u8>],
    opts: &ScanOptions,
    progress: &dyn ScanProgress,
) -> Result<ScanReport> {
    let started = Instant::now();
    let (file_globs, dir_globs) = opts.globs()?;
    let root_err = |source| Error::Root {
        path: root.path.clone(),
        source,
    };
    // An unmounted disk or a vanished folder must not look like "everything deleted".
    if !fs::metadata(&root.path).map_err(root_err)?.is_dir() {
        return Err(root_err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    fs::read_dir(&root.path).map_err(root_err)?;

    let threads = opts.thread_count();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("lomob-scan-{i}"))
        .build()
        .map_err(|source| Error::Threads { threads, source })?;

    let mut writer = Writer::begin(conn, db_path, root)?;
    let dirs = writer.live_dirs()?;
    let starts = if under.is_empty() {
        vec![Vec::new()]
    } else {
        scan_starts(&root.path, &dirs, under)
    };
    writer.limit_to(&starts);
    let (tx, rx) = crossbeam_channel::bounded(4096);
    let ctx = Ctx {
        root: &root.path,
        db_path,
        excluded: catalog_files(db_path),
        dirs,
        file_globs,
        dir_globs,
        readers: Mutex::new(Vec::new()),
        inodes: OnceLock::new(),
        progress,
        tx,
        abort: AtomicBool::new(false),
    };

    let mut failure = None;
    let walked = std::thread::scope(|s| {
        let ctx = &ctx;
        let walker = s.spawn(move || {
            pool.scope(|sc| {
                for rel in &starts {
                    let abs = crate::path::abs_path(ctx.root, rel, b"");
                    let rel = rel.clone();
                    sc.spawn(move |sc| visit(ctx, sc, rel, abs));
                }
            });
            ctx.send(Msg::Done);
        });
        loop {
            match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(Msg::Done) => break,
                Ok(msg) => {
                    if failure.is_none()
                        && let Err(e) = writer.apply(msg)
                    {
                        ctx.abort.store(true, Ordering::Relaxed);
                        failure = Some(e);
                    }
                }
                Err(_) if walker.is_finished() && rx.is_empty() => break, // it panicked
                Err(_) => {
                    if failure.is_none()
                        && let Err(e) = writer.tick()
                    {
                        ctx.abort.store(true, Ordering::Relaxed);
                        failure = Some(e);
                    }
                }
            }
        }
        walker.join()
    });
    if walked.is_err() {
        return Err(Error::ScanAborted {
            root: root.path.clone(),
            reason: "a scan worker panicked".into(),
        });
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let mut report = writer.finish()?;
    report.root = root.path.clone();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Where a partial scan starts: each folder of `under` widened to its
/// nearest ancestor that is a catalogued directory and still a directory on
/// disk (so a vanished folder is seen as gone from its parent, and a new
/// folder's parents exist in the catalog), then folders inside another
/// dropped.
fn scan_starts(root: &Path, dirs: &HashMap<Vec<u8>, i64>, under: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut starts: Vec<Vec<u8>> = Vec::new();
    for u in under {
        let mut rel = u.clone();
        let usable = |rel: &Vec<u8>| {
            dirs.contains_key(rel)
                && fs::symlink_metadata(crate::path::abs_path(root, rel, b""))
                    .is_ok_and(|m| m.is_dir())
        };
        while !rel.is_empty() && !usable(&rel) {
            let cut = rel.iter().rposition(|&b| b == b'/').unwrap_or(0);
            rel.truncate(cut);
        }
        starts.push(rel);
    }
    starts.sort_by_key(Vec::len);
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for s in starts {
        if !kept.iter().any(|k| crate::path::rel_is_within(&s, k)) {
            kept.push(s);
        }
    }
    kept
}

/// The catalog file and SQLite's companions, so a catalog inside a root is not scanned.
fn catalog_files(db_path: &Path) -> Vec<PathBuf> {
    let abs = db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .and_then(|p| fs::canonicalize(p).ok())
        .or_else(|| std::env::current_dir().ok());
    let (Some(dir), Some(name)) = (abs, db_path.file_name()) else {
        return Vec::new();
    };
    ["", "-wal", "-shm", "-journal", ".lock"]
        .iter()
        .map(|suffix| {
            let mut n = OsString::from(name);
            n.push(suffix);
            dir.join(n)
        })
        .collect()
}

impl Ctx<'_> {
    fn send(&self, msg: Msg) {
        // The receiver only goes away after the walk; nothing to do if it has.
        let _ = self.tx.send(msg);
    }

    fn issue(&self, path: PathBuf, kind: IssueKind, message: String) {
        let issue = ScanIssue {
            path,
            kind,
            message,
        };
        self.progress.issue(&issue);
        self.send(Msg::Issue(issue));
    }

    fn fatal(&self, e: &Error) {
        self.abort.store(true, Ordering::Relaxed);
        self.send(Msg::Fatal(e.to_string()));
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().ok().and_then(|mut v| v.pop());
        let conn = match conn {
            Some(c) => c,
            None => schema::open_ro(self.db_path)?,
        };
        let out = f(&conn);
        if let Ok(mut v) = self.readers.lock() {
            v.push(conn);
        }
        out
    }

    fn known_files(&self, dir_id: i64) -> Result<HashMap<Vec<u8>, Known>> {
        self.with_reader(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id, name, kind, size, mtime_ns, inode, racy FROM files \
                     WHERE dir_id = ?1 AND deleted_at IS NULL",
                )
                .db(self.db_path)?;
            let rows = st
                .query_map([dir_id], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(1)?,
                        Known {
                            id: r.get(0)?,
                            kind: r.get(2)?,
                            size: r.get::<_, i64>(3)? as u64,
                            mtime_ns: r.get(4)?,
                            inode: r.get::<_, i64>(5)? as u64,
                            racy: r.get(6)?,
                        },
                    ))
                })
                .db(self.db_path)?;
            rows.collect::<rusqlite::Result<_>>().db(self.db_path)
        })
    }

    /// The content of a catalog file with this exact inode, size and mtime: the
    /// same file at a new path (a move or rename), known without re-hashing.
    fn content_by_inode(&self, m: &Meta) -> Result<Option<i64>> {
        let known = self.inodes.get_or_init(|| {
            self.with_reader(|c| {
                let mut st = c
                    .prepare("SELECT DISTINCT inode FROM files WHERE kind = 0 ORDER BY inode")
                    .db(self.db_path)?;
                let v = st
                    .query_map([], |r| r.get::<_, i64>(0).map(|i| i as u64))
                    .db(self.db_path)?
                    .collect::<rusqlite::Result<Vec<u64>>>()
                    .db(self.db_path)?;
                Ok(v)
            })
            .map_err(|e| e.to_string())
        });
        match known {
            Ok(v) if v.binary_search(&m.inode).is_err() => return Ok(None),
            Ok(_) => {}
            Err(reason) => {
                return Err(Error::ScanAborted {
                    root: self.root.to_path_buf(),
                    reason: reason.clone(),
                });
            }
        }
        self.with_reader(|c| {
            c.prepare_cached(
                "SELECT content_id FROM files WHERE inode = ?1 AND size = ?2 AND mtime_ns = ?3 \
                 AND dev = ?4 AND kind = 0 AND racy = 0 AND content_id IS NOT NULL \
                 ORDER BY id DESC LIMIT 1",
            )
            .db(self.db_path)?
            .query_row(
                params![m.inode as i64, m.size as i64, m.mtime_ns, m.dev as i64],
                |r| r.get(0),
            )
            .optional()
            .db(self.db_path)
        })
    }
}

/// A file that needs hashing.
struct Pending {
    name: Vec<u8>,
    path: PathBuf,
    meta: Meta,
    replaces: Option<i64>,
}

fn visit<'s>(ctx: &'s Ctx<'_>, scope: &rayon::Scope<'s>, rel: Vec<u8>, abs: PathBuf) {
    if ctx.abort.load(Ordering::Relaxed) {
        return;
    }
    let entries = match fs::read_dir(&abs) {
        Ok(rd) => rd,
        Err(e) => {
            ctx.issue(
                abs,
                IssueKind::ReadDir,
                format!("cannot list directory: {e}"),
            );
            ctx.send(Msg::DirFailed { rel });
            return;
        }
    };
    let dir_mtime = fs::symlink_metadata(&abs).map_or(0, |m| Meta::from_metadata(&m).mtime_ns);
    let known = match ctx.dirs.get(&rel) {
        Some(&id) => match ctx.known_files(id) {
            Ok(k) => k,
            Err(e) => return ctx.fatal(&e),
        },
        None => HashMap::new(),
    };
    let check_excluded = ctx.excluded.first().and_then(|p| p.parent()) == Some(abs.as_path());

    let mut complete = true;
    let mut present: HashSet<Vec<u8>> = HashSet::new();
    let (mut files, mut bytes, mut unchanged, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let mut subdirs = Vec::new();
    let mut pending = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                complete = false;
                ctx.issue(
                    abs.clone(),
                    IssueKind::ReadDir,
                    format!("listing failed: {e}"),
                );
                break;
            }
        };
        let os_name = entry.file_name();
        let name = os_to_bytes(&os_name);
        let path = entry.path();
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(e) => {
                present.insert(name);
                ctx.issue(path, IssueKind::Stat, format!("cannot stat: {e}"));
                continue;
            }
        };
        if ft.is_dir() {
            if !ctx.dir_globs.is_match(&os_name) {
                subdirs.push((name, path));
            }
            continue;
        }
        if ctx.file_globs.is_match(&os_name) || (check_excluded && ctx.excluded.contains(&path)) {
            continue;
        }
        if !ft.is_file() && !ft.is_symlink() {
            skipped += 1; // socket, FIFO, device: nothing to back up
            continue;
        }
        present.insert(name.clone());
        let meta = match entry.metadata() {
            Ok(m) => Meta::from_metadata(&m),
            Err(e) => {
                ctx.issue(path, IssueKind::Stat, format!("cannot stat: {e}"));
                continue;
            }
        };
        let old = known.get(&name);
        if ft.is_file() {
            files += 1;
            bytes += meta.size;
            if old.is_some_and(|k| k.unchanged(KIND_FILE, &meta)) {
                unchanged += 1;
            } else {
                pending.push(Pending {
                    name,
                    path,
                    meta,
                    replaces: old.map(|k| k.id),
                });
            }
        } else if old.is_some_and(|k| k.unchanged(KIND_SYMLINK, &meta)) {
            unchanged += 1;
        } else {
            match fs::read_link(&path) {
                Ok(target) => ctx.send(Msg::Symlink {
                    rel: rel.clone(),
                    name,
                    meta,
                    target: os_to_bytes(target.as_os_str()),
                    replaces: old.map(|k| k.id),
                }),
                Err(e) => ctx.issue(path, IssueKind::ReadLink, format!("cannot read link: {e}")),
            }
        }
    }
    let deleted = if complete {
        known
            .iter()
            .filter(|(n, _)| !present.contains(*n))
            .map(|(_, k)| k.id)
            .collect()
    } else {
        Vec::new()
    };
    ctx.progress.listed(files, bytes);
    ctx.send(Msg::Dir {
        rel: rel.clone(),
        mtime_ns: dir_mtime,
        unchanged,
        skipped,
        deleted,
        complete,
    });

    for (name, path) in subdirs {
        let sub_rel = join_rel(&rel, &name);
        scope.spawn(move |s| visit(ctx, s, sub_rel, path));
    }
    for p in pending {
        if p.replaces.is_none() {
            match ctx.content_by_inode(&p.meta) {
                Ok(Some(content_id)) => {
                    ctx.send(Msg::File {
                        rel: rel.clone(),
                        name: p.name,
                        meta: p.meta,
                        content: Content::Known(content_id),
                        replaces: None,
                        racy: false,
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => return ctx.fatal(&e),
            }
        }
        if p.meta.size >= SPAWN_MIN {
            let rel = rel.clone();
            scope.spawn(move |_| hash_file(ctx, rel, p));
        } else {
            hash_file(ctx, rel.clone(), p);
        }
    }
}

fn hash_file(ctx: &Ctx<'_>, rel: Vec<u8>, mut p: Pending) {
    if ctx.abort.load(Ordering::Relaxed) {
        return;
    }
    for attempt in 1..=HASH_ATTEMPTS {
        match hash_stable(&p.path, &p.meta, &mut |n| ctx.progress.hashed(n)) {
            Ok(hash) => {
                let racy = unix_ns() - p.meta.mtime_ns < RACY_NS;
                return ctx.send(Msg::File {
                    rel,
                    name: p.name,
                    meta: p.meta,
                    content: Content::Hashed(hash),
                    replaces: p.replaces,
                    racy,
                });
            }
            Err(HashError::Io(e)) => {
                return ctx.issue(p.path, IssueKind::Read, format!("cannot read: {e}"));
            }
            Err(HashError::Changed(why)) if attempt == HASH_ATTEMPTS => {
                return ctx.issue(
                    p.path,
                    IssueKind::Changed,
                    format!(
                        "kept changing while it was hashed ({why}); not recorded, next scan retries"
                    ),
                );
            }
            Err(HashError::Changed(why)) => {
                tracing::debug!(path = %p.path.display(), %why, attempt, "file changed while hashing, retrying");
                std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                match fs::symlink_metadata(&p.path) {
                    Ok(m) if m.is_file() => p.meta = Meta::from_metadata(&m),
                    Ok(_) => return, // replaced by a non-file: the next scan sees it
                    Err(e) => {
                        return ctx.issue(
                            p.path,
                            IssueKind::Read,
                            format!("vanished while scanning: {e}"),
                        );
                    }
                }
            }
        }
    }
}

fn unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
