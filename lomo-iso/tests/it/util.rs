//! Trees on disk -> entries -> images; reading trees back for comparison.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use lomo_iso::{Entry, EntryKind, Layout, WriteOptions};

/// Entries for every file and directory under `root`, with their disk paths.
pub fn entries_of(root: &Path) -> (Vec<Entry>, Vec<PathBuf>) {
    let mut out = Vec::new();
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let mtime = m
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let kind = if m.is_dir() {
                stack.push(p.clone());
                EntryKind::Dir
            } else if m.file_type().is_symlink() {
                EntryKind::Symlink {
                    target: std::fs::read_link(&p)
                        .unwrap()
                        .as_os_str()
                        .as_bytes()
                        .to_vec(),
                }
            } else {
                EntryKind::File {
                    size: m.len(),
                    blake3: Some(*blake3::hash(&std::fs::read(&p).unwrap()).as_bytes()),
                }
            };
            out.push(Entry {
                path: rel,
                kind,
                mtime,
                mode: m.permissions().mode() & 0o7777,
            });
            paths.push(p);
        }
    }
    (out, paths)
}

/// Builds `root` into an image file with lomo-iso.
pub fn build(root: &Path, image: &Path) -> Layout {
    let (entries, paths) = entries_of(root);
    let layout = Layout::new(&entries, WriteOptions::default()).unwrap();
    let f = std::fs::File::create(image).unwrap();
    layout.write(f, |i| std::fs::File::open(&paths[i])).unwrap();
    assert_eq!(std::fs::metadata(image).unwrap().len(), layout.size());
    layout
}

/// Relative path -> (bytes or "<dir>", mtime seconds) for a tree on disk.
pub fn snapshot(root: &Path, with_mtime: bool) -> BTreeMap<Vec<u8>, (Vec<u8>, i64)> {
    let mut m = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let mtime = if with_mtime && !meta.is_dir() {
                meta.modified()
                    .unwrap()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64
            } else {
                0
            };
            if meta.is_dir() {
                stack.push(p);
                m.insert(rel, (b"<dir>".to_vec(), 0));
            } else if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec();
                m.insert(rel, ([&b"-> "[..], &t].concat(), 0));
            } else {
                m.insert(rel, (std::fs::read(&p).unwrap(), mtime));
            }
        }
    }
    m
}

/// The tool's path, or `None` (skip) outside the integration suite.
pub fn tool(name: &str) -> Option<()> {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap()
        .status
        .success();
    if !ok {
        assert!(
            std::env::var_os("LOMO_TEST_INTEGRATION").is_none(),
            "{name} missing: run scripts/test"
        );
        eprintln!("skipping: {name} not installed");
        return None;
    }
    Some(())
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tree with the awkward names a family archive has.
pub fn tricky_tree(root: &Path) {
    let files: Vec<(String, Vec<u8>)> = vec![
        ("DCIM/2021/IMG_0001.jpg".into(), vec![1u8; 5000]),
        ("DCIM/2021/img_0001.JPG".into(), b"case twin".to_vec()),
        (
            "Familie/Großmutter – 80. Geburtstag/Torte mit Kerzen.jpg".into(),
            b"cake".to_vec(),
        ),
        ("家族/春节 2023/年夜饭.jpg".into(), b"dinner".to_vec()),
        ("emoji/🎂 birthday.jpg".into(), b"emoji".to_vec()),
        (
            format!(
                "long/{}.jpg",
                "Road trip with the kids and the dog ".repeat(6).trim()
            ),
            b"long name".to_vec(),
        ),
        ("dots/name.with.many.dots.tar.gz".into(), b"dots".to_vec()),
        ("noext/README".into(), b"readme".to_vec()),
        ("noext/empty.bin".into(), Vec::new()),
        ("Dups/original.jpg".into(), vec![9u8; 70_000]),
        ("Dups/copy of original.jpg".into(), vec![9u8; 70_000]),
        ("a/b/c/d/e/f/g/deep.jpg".into(), b"seven levels".to_vec()),
    ];
    for (i, (p, data)) in files.iter().enumerate() {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, data).unwrap();
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(1_600_000_000 + i as u64 * 86_399);
        std::fs::File::options()
            .write(true)
            .open(&full)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::os::unix::fs::symlink(
        "../Dups/original.jpg",
        root.join("DCIM/link to original.jpg"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        format!("{}/x", "a-long-link-component".repeat(12)),
        root.join("noext/long link"),
    )
    .unwrap();
}

/// Compares two snapshots, reporting differing paths only (not the bytes).
pub fn same(got: &BTreeMap<Vec<u8>, (Vec<u8>, i64)>, want: &BTreeMap<Vec<u8>, (Vec<u8>, i64)>) {
    let name = |p: &Vec<u8>| String::from_utf8_lossy(p).into_owned();
    let missing: Vec<String> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .map(name)
        .collect();
    let extra: Vec<String> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(name)
        .collect();
    let differ: Vec<String> = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .map(|(k, v)| format!("{} (mtime {} vs {})", name(k), got[k].1, v.1))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "missing {missing:?}\nextra {extra:?}\ndiffer {differ:?}"
    );
}
