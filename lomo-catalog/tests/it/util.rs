//! Helpers: build trees, read them back independently, query the catalog.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use lomo_catalog::{Catalog, FileQuery, NoProgress, ScanOptions, ScanReport};

/// Writes `data` at `root/rel` with an mtime well in the past (not "racy").
pub fn put(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    set_old_mtime(&p, 0);
    p
}

/// Sets an mtime of 2020-01-01 plus `offset` seconds.
pub fn set_old_mtime(p: &Path, offset: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800 + offset);
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

pub fn scan(cat: &mut Catalog, root: &Path) -> ScanReport {
    cat.scan(root, &ScanOptions::default(), &NoProgress)
        .unwrap()
}

/// The catalog's live regular files: absolute path -> (size, blake3 hex).
pub fn listing(cat: &Catalog) -> BTreeMap<PathBuf, (u64, String)> {
    let mut m = BTreeMap::new();
    cat.for_each_file(&FileQuery::default(), |f| {
        let h = blake3::Hash::from(f.hash.unwrap()).to_hex().to_string();
        m.insert(f.path, (f.size, h));
        Ok::<_, lomo_catalog::Error>(())
    })
    .unwrap();
    m
}

/// The same, read from disk independently (skipping the default ignores).
pub fn disk(root: &Path) -> BTreeMap<PathBuf, (u64, String)> {
    let root = std::fs::canonicalize(root).unwrap();
    let mut m = BTreeMap::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let name = e.file_name();
            if ft.is_dir() {
                if ![".git", ".idea", ".github"].contains(&name.to_str().unwrap_or("")) {
                    stack.push(e.path());
                }
            } else if ft.is_file()
                && ![".DS_Store", "._.DS_Store", "Thumbs.db"].contains(&name.to_str().unwrap_or(""))
            {
                let data = std::fs::read(e.path()).unwrap();
                m.insert(
                    e.path(),
                    (data.len() as u64, blake3::hash(&data).to_hex().to_string()),
                );
            }
        }
    }
    m
}

/// Runs a read-only SQL count against the catalog file (an independent look).
pub fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}
