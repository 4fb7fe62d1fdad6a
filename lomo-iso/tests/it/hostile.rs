//! Hostile images: errors, never panics, never writes outside the target.

use std::io::Cursor;
use std::process::Command;

use lomo_iso::{Entry, EntryKind, Error, Layout, Reader, WriteOptions};

use crate::util::{run, tool};

fn small_image() -> Vec<u8> {
    let entries: Vec<Entry> = (0..40)
        .map(|i| Entry {
            path: format!("dir{}/file {i}.jpg", i % 4).into_bytes(),
            kind: EntryKind::File {
                size: 3000,
                blake3: None,
            },
            mtime: 1_600_000_000 + i,
            mode: 0o644,
        })
        .collect();
    let data = vec![7u8; 3000];
    Layout::new(&entries, WriteOptions::default())
        .unwrap()
        .write(Vec::new(), |_| Ok(&data[..]))
        .unwrap()
}

/// Opens, walks and reads every file; whatever happens, no panic.
fn exercise(img: &[u8]) -> Result<u64, Error> {
    let mut r = Reader::open(Cursor::new(img))?;
    let mut files = Vec::new();
    r.walk(|_, rec| {
        if !rec.is_dir {
            files.push(rec.clone());
        }
        Ok(())
    })?;
    let mut total = 0;
    for f in files {
        total += std::io::copy(&mut r.open_file(&f), &mut std::io::sink())
            .map_err(|e| Error::BadImage(e.to_string()))?;
    }
    Ok(total)
}

#[test]
fn truncated_and_corrupted_images_fail_cleanly() {
    let img = small_image();
    assert_eq!(exercise(&img).unwrap(), 40 * 3000);
    for cut in [
        0,
        100,
        16 * 2048,
        17 * 2048 + 5,
        img.len() / 2,
        img.len() - 1,
    ] {
        let _ = exercise(&img[..cut]); // error or partial, never a panic
    }
    // flip bytes all over the metadata area
    let meta_end = (img.len() - 40 * 2048).min(64 * 2048);
    for i in (16 * 2048..meta_end).step_by(7) {
        let mut bad = img.clone();
        bad[i] ^= 0xA5;
        let _ = exercise(&bad);
    }
}

#[test]
fn a_directory_loop_is_detected() {
    let mut img = small_image();
    // point "dir1"'s record in the root at the root directory itself
    let mut r = Reader::open(Cursor::new(&img)).unwrap();
    let root_sector = r.root().extents[0].0;
    let dir1 = r.lookup(b"dir1").unwrap().extents[0].0;
    drop(r);
    let root_at = root_sector as usize * 2048;
    let pattern = dir1.to_le_bytes();
    let pos = img[root_at..root_at + 2048]
        .windows(4)
        .position(|w| w == pattern)
        .unwrap()
        + root_at;
    img[pos..pos + 4].copy_from_slice(&root_sector.to_le_bytes());
    let err = exercise(&img).unwrap_err();
    assert!(err.to_string().contains("loop"), "{err}");
}

#[test]
fn escaping_symlinks_and_absolute_links_are_refused() {
    if tool("xorriso").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("album")).unwrap();
    std::fs::write(src.join("album/photo.jpg"), b"p").unwrap();
    for (name, target) in [
        ("ok", "photo.jpg"),
        ("escape", "../../outside"),
        ("abs", "/etc/passwd"),
    ] {
        let dir = t.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let s2 = dir.join("src");
        std::fs::create_dir_all(s2.join("album")).unwrap();
        std::fs::write(s2.join("album/photo.jpg"), b"p").unwrap();
        std::os::unix::fs::symlink(target, s2.join("album/link")).unwrap();
        let img = dir.join("l.iso");
        run(Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-o"])
            .arg(&img)
            .arg(&s2));
        let mut r = Reader::open(std::fs::File::open(&img).unwrap()).unwrap();
        let out = dir.join("out");
        let res = r.extract(&out, &[]);
        if name == "ok" {
            res.unwrap();
            assert_eq!(
                std::fs::read_link(out.join("album/link")).unwrap(),
                std::path::PathBuf::from("photo.jpg")
            );
        } else {
            let err = res.unwrap_err();
            assert!(matches!(err, Error::Unsafe { .. }), "{name}: {err}");
            assert!(err.to_string().contains("album/link"), "{err}");
            assert!(!out.join("album/link").exists());
        }
    }
    assert!(!t.path().join("outside").exists());
}
