//! The filecrypt payload unpacker: any bytes (as gzip) unpack or are refused
//! cleanly, and nothing is ever written outside the target folder. Whatever
//! unpacks is listed by `unpack` exactly: every path it returns exists
//! beneath the target, and nothing else was created.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use lomo_crypt::archive::{UnpackLimits, unpack};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.clone());
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            walk(&p, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("t");
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        max_entries: 1000,
    };
    // raw tar too: gzip it, so the tar parser sees the fuzzer's bytes
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, data).unwrap();
    let wrapped = gz.finish().unwrap();
    for input in [data, &wrapped[..]] {
        let _ = std::fs::remove_dir_all(&target);
        let written = unpack(input, &target, limits);
        let mut all = Vec::new();
        walk(t.path(), &mut all);
        for p in &all {
            assert!(p.starts_with(&target), "{} is outside the target", p.display());
        }
        match written {
            Ok(files) => {
                for f in &files {
                    assert!(f.starts_with(&target) && std::fs::symlink_metadata(f).is_ok());
                }
            }
            Err(_) => assert!(
                all.is_empty() || all == [target.clone()],
                "a refused archive left {all:?}"
            ),
        }
    }
});
