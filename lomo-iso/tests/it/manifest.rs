//! The self-describing manifest: every file with its BLAKE3, readable by anyone.

use std::io::{Cursor, Read};
use std::process::Command;

use lomo_iso::{Entry, EntryKind, Error, Layout, MANIFEST_PATH, Reader, WriteOptions};

use crate::util::{run, tool};

fn entries(declare: bool) -> (Vec<Entry>, Vec<Vec<u8>>) {
    let data: Vec<Vec<u8>> = vec![
        b"photo one".to_vec(),
        vec![3u8; 70_000],
        b"photo one".to_vec(),
        Vec::new(),
    ];
    let names = [
        "2024/a.jpg",
        "2024/big \"quoted\".mp4",
        "dups/a copy.jpg",
        "empty.bin",
    ];
    let e = names
        .iter()
        .zip(&data)
        .map(|(n, d)| Entry {
            path: n.as_bytes().to_vec(),
            kind: EntryKind::File {
                size: d.len() as u64,
                blake3: declare.then(|| *blake3::hash(d).as_bytes()),
            },
            mtime: 1_650_000_000,
            mode: 0o640,
        })
        .collect();
    (e, data)
}

fn check_manifest(json: &[u8], data: &[Vec<u8>]) {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    assert_eq!(v["format"], "lomob-manifest");
    assert_eq!(v["archive_id"], "2019-05-01--2026-11-23");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    let by_path = |p: &str| files.iter().find(|f| f["path"] == p).unwrap().clone();
    for (p, d) in [
        ("2024/a.jpg", &data[0]),
        ("2024/big \"quoted\".mp4", &data[1]),
        ("dups/a copy.jpg", &data[2]),
        ("empty.bin", &data[3]),
    ] {
        let f = by_path(p);
        assert_eq!(f["size"], d.len() as u64, "{p}");
        assert_eq!(f["mtime"], 1_650_000_000, "{p}");
        assert_eq!(
            f["blake3"].as_str().unwrap(),
            blake3::hash(d).to_hex().as_str(),
            "{p}"
        );
    }
}

#[test]
fn manifest_lists_every_file_with_its_hash_declared_or_not() {
    for declare in [true, false] {
        let (e, data) = entries(declare);
        let opts = WriteOptions {
            manifest: Some("2019-05-01--2026-11-23".into()),
            ..WriteOptions::default()
        };
        let l = Layout::new(&e, opts).unwrap();
        let img = l.write(Vec::new(), |i| Ok(&data[i][..])).unwrap();
        assert_eq!(img.len() as u64, l.size());
        let mut r = Reader::open(Cursor::new(&img)).unwrap();
        let rec = r.lookup(MANIFEST_PATH.as_bytes()).unwrap();
        let mut json = Vec::new();
        r.open_file(&rec).read_to_end(&mut json).unwrap();
        check_manifest(&json, &data);
        // ranges over the manifest need declared hashes
        let tail = l.size() - 4096..l.size();
        let part = l.write_range(tail.clone(), Vec::new(), |i| Ok(Cursor::new(&data[i][..])));
        if declare {
            assert!(part.unwrap() == img[tail.start as usize..]);
        } else {
            assert!(matches!(part, Err(Error::BadEntry { .. })));
        }
    }
}

#[test]
fn xorriso_reads_the_manifest_too() {
    if tool("xorriso").is_none() {
        return;
    }
    let (e, data) = entries(true);
    let opts = WriteOptions {
        manifest: Some("2019-05-01--2026-11-23".into()),
        ..WriteOptions::default()
    };
    let img = Layout::new(&e, opts)
        .unwrap()
        .write(Vec::new(), |i| Ok(&data[i][..]))
        .unwrap();
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("m.iso"), &img).unwrap();
    let out = t.path().join("x");
    run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(t.path().join("m.iso"))
        .args(["-extract", "/"])
        .arg(&out));
    check_manifest(&std::fs::read(out.join(MANIFEST_PATH)).unwrap(), &data);
}

#[test]
fn the_manifest_path_is_reserved() {
    let (mut e, _) = entries(true);
    e.push(Entry {
        path: MANIFEST_PATH.as_bytes().to_vec(),
        kind: EntryKind::File {
            size: 1,
            blake3: None,
        },
        mtime: 0,
        mode: 0o644,
    });
    let opts = WriteOptions {
        manifest: Some("x".into()),
        ..WriteOptions::default()
    };
    assert!(matches!(Layout::new(&e, opts), Err(Error::BadEntry { .. })));
}

mod ranges {
    use super::*;
    use proptest::prelude::*;

    /// 400 small files (one with a non-UTF-8 name): a manifest of about
    /// 60 KB, many sectors long, so ranges start and end inside its lines.
    fn many() -> (Vec<Entry>, Vec<Vec<u8>>) {
        let data: Vec<Vec<u8>> = (0..400u32)
            .map(|i| i.to_le_bytes().repeat(1 + i as usize % 7))
            .collect();
        let e = data
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut path = format!("{}/IMG_{i:05}.jpg", 2000 + i % 9).into_bytes();
                if i == 7 {
                    path.extend_from_slice(b"\xff");
                }
                Entry {
                    path,
                    kind: EntryKind::File {
                        size: d.len() as u64,
                        blake3: Some(*blake3::hash(d).as_bytes()),
                    },
                    mtime: 1_650_000_000 + i64::from(i as u16),
                    mode: 0o644,
                }
            })
            .collect();
        (e, data)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Any range produced alone equals the same slice of the whole
        /// image, in and around the manifest too (which is rendered only
        /// up to the range's end and kept only within it).
        #[test]
        fn any_range_over_the_manifest_equals_the_slice(a: prop::sample::Index, b: prop::sample::Index) {
            let (e, data) = many();
            let opts = WriteOptions { manifest: Some("m".into()), ..WriteOptions::default() };
            let l = Layout::new(&e, opts).unwrap();
            let whole = l.write(Vec::new(), |i| Ok(&data[i][..])).unwrap();
            // the manifest is the last extent: draw most ranges in its sectors
            let from = whole.len() - 80_000;
            let n = whole.len() - from + 1;
            let (x, y) = ((from + a.index(n)) as u64, (from + b.index(n)) as u64);
            let (x, y) = (x.min(y), x.max(y));
            let part = l.write_range(x..y, Vec::new(), |i| Ok(Cursor::new(&data[i][..]))).unwrap();
            prop_assert!(part == whole[x as usize..y as usize], "range {}..{}", x, y);
        }
    }
}
