//! Hostile images: errors, never panics, never writes outside the target.

use std::io::Cursor;
use std::process::Command;

use lomo_iso::{Entry, EntryKind, Error, ExtractOptions, Layout, Reader, WriteOptions};

use crate::raw::{self, Rec};
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
fn escaping_symlinks_are_reported_and_not_created() {
    if tool("xorriso").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
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
        let done = r.extract(&out, &[]).unwrap();
        assert_eq!(std::fs::read(out.join("album/photo.jpg")).unwrap(), b"p");
        if name == "ok" {
            assert!(done.skipped_links.is_empty());
            assert_eq!(
                std::fs::read_link(out.join("album/link")).unwrap(),
                std::path::PathBuf::from("photo.jpg")
            );
        } else {
            assert_eq!(done.skipped_links.len(), 1, "{name}");
            assert_eq!(done.skipped_links[0].entry, "album/link");
            assert_eq!(done.skipped_links[0].target, target);
            assert!(std::fs::symlink_metadata(out.join("album/link")).is_err());
        }
    }
    assert!(!t.path().join("outside").exists());
}

/// The review's tree: `d1/up -> ..` is harmless alone, `esc -> d1/up/..`
/// is textually inside and really the parent, and a chain of `up` links
/// leads to /etc/passwd.
#[test]
fn links_that_leave_through_other_links_are_not_created() {
    if tool("genisoimage").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("d1/d2")).unwrap();
    std::fs::write(src.join("d1/photo.jpg"), b"p").unwrap();
    let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, src.join(at)).unwrap();
    link("..", "d1/up");
    link("..", "d1/d2/up");
    link("d1/up/..", "esc");
    link("d1/d2/up/up/../etc/passwd", "pw");
    link("d1/photo.jpg", "fine");
    let img = t.path().join("l.iso");
    run(Command::new("genisoimage")
        .args(["-quiet", "-R", "-o"])
        .arg(&img)
        .arg(&src));
    let out = t.path().join("out");
    let mut r = Reader::open(std::fs::File::open(&img).unwrap()).unwrap();
    let done = r.extract(&out, &[]).unwrap();
    let mut skipped: Vec<_> = done
        .skipped_links
        .iter()
        .map(|s| s.entry.as_str())
        .collect();
    skipped.sort_unstable();
    assert_eq!(skipped, ["esc", "pw"], "{:?}", done.skipped_links);
    assert_eq!(std::fs::read(out.join("fine")).unwrap(), b"p");
    assert_eq!(
        std::fs::read_link(out.join("d1/up")).unwrap().to_str(),
        Some("..")
    );
    for gone in ["esc", "pw"] {
        assert!(std::fs::symlink_metadata(out.join(gone)).is_err());
    }
}

#[test]
fn a_symlink_already_in_the_target_is_never_followed() {
    let t = tempfile::tempdir().unwrap();
    let (outside, out) = (t.path().join("outside"), t.path().join("out"));
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink("../outside", out.join("dir0")).unwrap();
    let img = small_image();
    let err = Reader::open(Cursor::new(&img))
        .unwrap()
        .extract(&out, &[])
        .unwrap_err();
    assert!(matches!(err, Error::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("symlink"), "{err}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "nothing written"
    );
}

fn plain(name: &str, sector: u32, size: u32, flags: u8) -> Rec {
    Rec {
        name: name.as_bytes().to_vec(),
        sector,
        size,
        flags,
    }
}

#[test]
fn one_extent_repeated_as_a_multi_extent_file_is_refused() {
    // 40 records of one file, each the same 1 MiB extent: 40 MiB from 1.1 MB
    let img = raw::image(
        |data| {
            (0..40)
                .map(|i| plain("BIG.;1", data, 1 << 20, if i < 39 { 0x80 } else { 0 }))
                .collect()
        },
        &vec![1u8; 1 << 20],
    );
    assert!(img.len() < 1_200_000);
    let err = exercise(&img).unwrap_err();
    assert!(err.to_string().contains("overlaps"), "{err}");
}

#[test]
fn entries_sharing_one_extent_are_bounded_by_the_budget() {
    // 300 names for one 1 MiB extent: 300 MiB from a 1.1 MB image
    let img = raw::image(
        |data| {
            (0..300)
                .map(|i| plain(&format!("F{i}.;1"), data, 1 << 20, 0))
                .collect()
        },
        &vec![1u8; 1 << 20],
    );
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let err = Reader::open(Cursor::new(&img))
        .unwrap()
        .extract(&out, &[])
        .unwrap_err();
    assert!(err.to_string().contains("--max-size"), "{err}");
    assert_eq!(std::fs::read_dir(&out).map_or(0, Iterator::count), 0);
    // an explicit budget allows what it says
    let done = Reader::open(Cursor::new(&img))
        .unwrap()
        .extract_with(&out, &[], &ExtractOptions::max_bytes(300 << 20))
        .unwrap();
    assert_eq!(done.bytes, 300 << 20);
}

#[test]
fn duplicate_names_in_a_huge_directory_are_found_fast() {
    // 200,000 entries then a repeat: a pairwise check would take minutes
    let img = raw::image(
        |data| {
            (0..200_000)
                .map(|i| plain(&format!("F{i}.;1"), data, 1, 0))
                .chain([plain("F7.;1", data, 1, 0)])
                .collect()
        },
        b"x",
    );
    let err = exercise(&img).unwrap_err();
    assert!(err.to_string().contains("duplicate entry \"F7\""), "{err}");
}
