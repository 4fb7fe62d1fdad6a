//! The ISO reader on hostile bytes, and write -> read -> equal.
//!
//! Odd first byte: the rest is an image (mutated from seeds); open, walk, read
//! every file, extract to a temp dir: errors are fine, panics, hangs and
//! writes outside the target are not. Even first byte: the rest describes a
//! small tree; lomo-iso writes it and must read back the same names, sizes,
//! mtimes and bytes.
#![no_main]

use std::io::{Cursor, Read};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lomo_iso::{Entry, EntryKind, Layout, Reader, WriteOptions};

#[derive(Arbitrary, Debug)]
struct FileSpec {
    dir: u8,
    name: Vec<u8>,
    len: u16,
    mtime: u32,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 1 {
        let Ok(mut r) = Reader::open(Cursor::new(rest)) else { return };
        let mut files = Vec::new();
        let _ = r.walk(|_, rec| {
            if !rec.is_dir && files.len() < 64 {
                files.push(rec.clone());
            }
            Ok(())
        });
        for f in files {
            let _ = std::io::copy(&mut r.open_file(&f).take(1 << 20), &mut std::io::sink());
        }
        let dir = std::env::temp_dir().join(format!("lomob-fuzz-{}", std::process::id()));
        let target = dir.join("t");
        let _ = r.extract(&target, &[]);
        // nothing may appear beside the target
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                assert_eq!(e.file_name(), "t", "extraction wrote outside its folder");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let mut u = Unstructured::new(rest);
    let Ok(specs) = Vec::<FileSpec>::arbitrary(&mut u) else { return };
    let mut entries = Vec::new();
    let mut contents = Vec::new();
    for (i, s) in specs.iter().take(20).enumerate() {
        let name: Vec<u8> = s.name.iter().copied().filter(|&b| b != b'/' && b != 0).take(200).collect();
        if name.is_empty() || name == b"." || name == b".." {
            continue;
        }
        let path = [format!("d{}/", s.dir % 3).into_bytes(), name].concat();
        if entries.iter().any(|e: &Entry| e.path == path) {
            continue;
        }
        let body: Vec<u8> = (0..s.len).map(|k| (k as u8) ^ (i as u8)).collect();
        entries.push(Entry { path, kind: EntryKind::File { size: body.len() as u64, blake3: None }, mtime: i64::from(s.mtime), mode: 0o640 });
        contents.push(body);
    }
    let layout = Layout::new(&entries, WriteOptions::default()).unwrap();
    let img = layout.write(Vec::new(), |i| Ok(&contents[i][..])).unwrap();
    let mut r = Reader::open(Cursor::new(&img)).unwrap();
    for (e, body) in entries.iter().zip(&contents) {
        let rec = r.lookup(&e.path).unwrap();
        assert_eq!(rec.size, body.len() as u64);
        assert_eq!(rec.mtime, e.mtime);
        assert_eq!(rec.mode.map(|m| m & 0o7777), Some(0o640));
        let mut got = Vec::new();
        r.open_file(&rec).read_to_end(&mut got).unwrap();
        assert_eq!(&got, body);
    }
});
