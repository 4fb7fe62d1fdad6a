//! filecrypt payloads: round trip, read by GNU tar, hostile archives refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use lomo_crypt::Error;
use lomo_crypt::archive::{UnpackLimits, pack, unpack};

fn tree(root: &Path) {
    let long = format!(
        "Road trip {}/day 01 - {}.jpg",
        "ü".repeat(60),
        "x".repeat(120)
    );
    for (p, data) in [
        ("album/IMG_0001.jpg", &b"jpeg"[..]),
        ("album/家族/年夜饭.jpg", b"dinner"),
        ("album/empty.bin", b""),
        (long.as_str(), b"long"),
    ] {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, data).unwrap();
    }
    std::fs::create_dir_all(root.join("album/empty dir")).unwrap();
    std::fs::set_permissions(
        root.join("album/IMG_0001.jpg"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
}

fn files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.push((
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    b"<dir>".to_vec(),
                ));
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn pack_unpack_round_trip_and_gnu_tar_agrees() {
    let src = tempfile::tempdir().unwrap();
    tree(src.path());
    let road = format!("Road trip {}", "ü".repeat(60));
    let packed = pack(src.path(), &[PathBuf::from("album"), PathBuf::from(road)]).unwrap();
    let out = tempfile::tempdir().unwrap();
    unpack(&packed, out.path(), UnpackLimits::default()).unwrap();
    assert_eq!(files(out.path()), files(src.path()));
    let mode = std::fs::metadata(out.path().join("album/IMG_0001.jpg"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // an independent reader: GNU tar lists and extracts the same tree
    let gnu = tempfile::tempdir().unwrap();
    let archive = gnu.path().join("a.tar.gz");
    std::fs::write(&archive, &packed).unwrap();
    let x = gnu.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(files(&x), files(src.path()));
    // directories are stored without a trailing slash, as filecrypt does
    let list = Command::new("tar")
        .arg("-tvzf")
        .arg(&archive)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" album")),
        "{list}"
    );
}

/// A tar.gz with raw entries, as an attacker would craft it.
fn crafted(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_ustar();
        let field = &mut h.as_old_mut().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
            h.set_size(0);
        }
        h.set_cksum();
        b.append(
            &h,
            &data[..if *kind == tar::EntryType::Symlink {
                0
            } else {
                data.len()
            }],
        )
        .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn hostile_archives_are_refused_and_nothing_is_written() {
    use tar::EntryType::{Regular, Symlink};
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot",
            crafted(&[
                ("ok.txt", Regular, b"fine"),
                ("../escape.txt", Regular, b"x"),
            ]),
        ),
        (
            "deep dot-dot",
            crafted(&[("a/../../escape.txt", Regular, b"x")]),
        ),
        (
            "absolute",
            crafted(&[("/tmp/lomob-abs-escape.txt", Regular, b"x")]),
        ),
        ("symlink", crafted(&[("link", Symlink, b"")])),
    ];
    for (what, bytes) in cases {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("t");
        let err = unpack(&bytes, &target, UnpackLimits::default()).unwrap_err();
        assert!(matches!(err, Error::Archive { .. }), "{what}: {err}");
        assert!(!target.exists(), "{what}: nothing may be written");
        assert!(!out.path().join("escape.txt").exists());
    }
    assert!(!Path::new("/tmp/lomob-abs-escape.txt").exists());

    // a gzip bomb: 64 MiB of zeros against a 1 MiB limit
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    let mut b = tar::Builder::new(&mut gz);
    let mut h = tar::Header::new_ustar();
    h.set_path("zeros").unwrap();
    h.set_size(64 << 20);
    h.set_cksum();
    b.append(&h, std::io::Read::take(std::io::repeat(0), 64 << 20))
        .unwrap();
    b.finish().unwrap();
    drop(b);
    let bomb = gz.finish().unwrap();
    let out = tempfile::tempdir().unwrap();
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        ..UnpackLimits::default()
    };
    assert!(unpack(&bomb, &out.path().join("t"), limits).is_err());
    assert!(!out.path().join("t").exists());

    // never overwrites
    let ok = crafted(&[("same.txt", Regular, b"new")]);
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("same.txt"), b"old").unwrap();
    assert!(unpack(&ok, out.path(), UnpackLimits::default()).is_err());
    assert_eq!(std::fs::read(out.path().join("same.txt")).unwrap(), b"old");
}

/// Mode bits of everything under `dir`, without following links.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(&p).unwrap().permissions().mode();
            (p, m)
        })
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_symlink_already_in_the_target_is_never_written_through() {
    use tar::EntryType::{Directory, Regular};
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    let target = t.path().join("deep/target");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("../../outside", target.join("link")).unwrap();
    let before = modes(t.path());
    for (what, bytes) in [
        (
            "file through it",
            crafted(&[("link/evil.txt", Regular, b"x")]),
        ),
        ("folder at it", crafted(&[("link", Directory, b"")])),
        (
            "folder below it",
            crafted(&[("ok.txt", Regular, b"fine"), ("link/sub", Directory, b"")]),
        ),
    ] {
        let err = unpack(&bytes, &target, UnpackLimits::default()).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{what}: {err}");
        assert_eq!(modes(t.path()), before, "{what}: nothing changed anywhere");
    }
}

#[test]
fn a_duplicate_or_a_file_that_is_also_a_folder_leaves_nothing() {
    use tar::EntryType::{Directory, Regular};
    for (what, bytes, says) in [
        (
            "duplicate",
            crafted(&[("a.txt", Regular, b"1"), ("a.txt", Regular, b"2")]),
            "twice",
        ),
        (
            "file then child",
            crafted(&[("a", Regular, b"1"), ("a/b.txt", Regular, b"2")]),
            "also a folder",
        ),
        (
            "file then folder",
            crafted(&[
                ("b.txt", Regular, b"1"),
                ("a", Regular, b"1"),
                ("a", Directory, b""),
            ]),
            "twice",
        ),
    ] {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("t");
        let err = unpack(&bytes, &target, UnpackLimits::default()).unwrap_err();
        assert!(err.to_string().contains(says), "{what}: {err}");
        assert!(!target.exists(), "{what}: nothing may be written");
    }
}

#[test]
fn an_extended_header_over_1_mib_is_refused_unread() {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let huge = vec![b'a'; 2 << 20];
    let mut record = format!("{} path=", huge.len() + 20).into_bytes();
    record.extend_from_slice(&huge);
    record.push(b'\n');
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("pax").unwrap();
    h.set_size(record.len() as u64);
    h.set_cksum();
    b.append(&h, &record[..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("file.txt").unwrap();
    h.set_size(1);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let bytes = b.into_inner().unwrap().finish().unwrap();
    let t = tempfile::tempdir().unwrap();
    let err = unpack(&bytes, &t.path().join("t"), UnpackLimits::default()).unwrap_err();
    assert!(err.to_string().contains("over 1 MiB"), "{err}");
    assert!(!t.path().join("t").exists());
}

/// Found by the `crypt_unpack` fuzz target: a tar whose first pass checks
/// out, but whose second read fails after a file was written (a broken PAX
/// record further on). The refusal takes back what it wrote.
#[test]
fn an_archive_refused_while_writing_leaves_nothing() {
    let tar = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/refused-after-a-file-was-written.tar"
    ))
    .unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let targz = gz.finish().unwrap();
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("t");
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        max_entries: 1000,
    };
    assert!(unpack(&targz, &dest, limits).is_err());
    assert!(
        !dest.exists(),
        "left {:?}",
        std::fs::read_dir(&dest).map(Iterator::count)
    );
}
