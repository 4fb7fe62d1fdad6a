//! lomo-iso reads images made by genisoimage and xorriso, and its own.

use std::process::Command;

use lomo_iso::{Error, Reader, Tree};

use crate::util::{build, run, same, snapshot, tool, tricky_tree};

fn deep_tricky(src: &std::path::Path) {
    tricky_tree(src);
    let deep = src.join("a/b/c/d/e/f/g/h/i/j");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deeply nested.jpg"), b"ten levels").unwrap();
}

fn extract_with_lomo(img: &std::path::Path, out: &std::path::Path, tree: Option<Tree>) {
    let f = std::fs::File::open(img).unwrap();
    let mut r = Reader::open_tree(f, tree).unwrap();
    r.extract(out, &[]).unwrap();
}

#[test]
fn reads_genisoimage_images_in_every_tree() {
    if tool("genisoimage").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    deep_tricky(&src);
    let img = t.path().join("g.iso");
    run(Command::new("genisoimage")
        .args([
            "-quiet",
            "-R",
            "-J",
            "-joliet-long",
            "-iso-level",
            "3",
            "-o",
        ])
        .arg(&img)
        .arg(&src));
    let out = t.path().join("rr");
    extract_with_lomo(&img, &out, Some(Tree::RockRidge));
    // genisoimage relocates the deep directory into rr_moved (left empty)
    let mut got = snapshot(&out, true);
    got.remove(&b"rr_moved"[..]);
    same(&got, &snapshot(&src, true));
}

#[test]
fn reads_xorriso_images_and_their_joliet_tree() {
    if tool("xorriso").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    deep_tricky(&src);
    let img = t.path().join("x.iso");
    run(Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-quiet",
            "-R",
            "-J",
            "-joliet-long",
            "-iso-level",
            "3",
            "-o",
        ])
        .arg(&img)
        .arg(&src));
    let out = t.path().join("rr");
    extract_with_lomo(&img, &out, None);
    same(&snapshot(&out, true), &snapshot(&src, true));
    // the Joliet tree: same files, names capped at 103 UTF-16 units
    let f = std::fs::File::open(&img).unwrap();
    let mut r = Reader::open_tree(f, Some(Tree::Joliet)).unwrap();
    let mut n = 0;
    r.walk(|_, rec| {
        n += usize::from(!rec.is_dir);
        Ok(())
    })
    .unwrap();
    // Joliet has no symlinks: xorriso leaves them out, as lomo-iso does
    let files = snapshot(&src, false)
        .values()
        .filter(|v| v.0 != b"<dir>" && !v.0.starts_with(b"-> "))
        .count();
    assert_eq!(n, files);
}

#[test]
fn own_images_round_trip_with_modes_and_subsets() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    deep_tricky(&src);
    let img = t.path().join("own.iso");
    build(&src, &img);
    let out = t.path().join("all");
    extract_with_lomo(&img, &out, None);
    same(&snapshot(&out, true), &snapshot(&src, true));
    // a subset: one folder
    let f = std::fs::File::open(&img).unwrap();
    let mut r = Reader::open(f).unwrap();
    let sub = t.path().join("sub");
    let n = r.extract(&sub, &["/家族".as_bytes().to_vec()]).unwrap();
    assert_eq!(n.entries, 3); // the folder, its subfolder, the photo
    assert!(sub.join("家族/春节 2023/年夜饭.jpg").is_file());
    // lookup and read one file
    let rec = r
        .lookup("Familie/Großmutter – 80. Geburtstag/Torte mit Kerzen.jpg".as_bytes())
        .unwrap();
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut r.open_file(&rec), &mut data).unwrap();
    assert_eq!(data, b"cake");
    assert!(matches!(r.lookup(b"no/such"), Err(Error::NotFound(_))));
    // never overwrites
    let again = r.extract(&sub, &[]).unwrap_err();
    assert!(matches!(again, Error::Unsafe { .. }), "{again}");
}

/// genisoimage 1.1.11 writes an out-of-range GMT offset (-96: a day) for
/// dates from about 2029 on; bsdtar ignores it, and so must we.
#[test]
fn genisoimage_dates_after_2038_read_as_bsdtar_reads_them() {
    if tool("genisoimage").is_none() || tool("bsdtar").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let dates = [
        ("a", 2_147_483_648i64), // 2038-01-19 03:14:08, past i32
        ("b", 4_102_401_600),    // 2099-12-31 12:00:00
        ("c", 1_907_020_800),    // 2030-06-07 00:00:00
        ("d", 1_700_000_000),    // 2023, always right
    ];
    for (name, secs) in dates {
        let f = src.join(name);
        std::fs::write(&f, name).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let img = t.path().join("g.iso");
    run(Command::new("genisoimage")
        .args(["-quiet", "-R", "-o"])
        .arg(&img)
        .arg(&src));
    let out = t.path().join("out");
    extract_with_lomo(&img, &out, None);
    let bsd = t.path().join("bsd");
    std::fs::create_dir_all(&bsd).unwrap();
    run(Command::new("bsdtar")
        .arg("-xf")
        .arg(&img)
        .arg("-C")
        .arg(&bsd));
    let mtime = |p: std::path::PathBuf| {
        std::fs::metadata(p)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    for (name, secs) in dates {
        assert_eq!(mtime(out.join(name)), secs, "{name}");
        assert_eq!(mtime(bsd.join(name)), secs, "{name} (bsdtar)");
    }
}
