//! Images built by lomo-iso, extracted by xorriso, 7z, bsdtar and isoinfo.

use std::process::Command;

use crate::util::{build, run, same, snapshot, tool, tricky_tree};

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    tricky_tree(&src);
    let img = t.path().join("out.iso");
    build(&src, &img);
    (t, src, img)
}

#[test]
fn xorriso_extracts_the_same_tree_with_mtimes() {
    if tool("xorriso").is_none() {
        return;
    }
    let (t, src, img) = setup();
    let out = t.path().join("x");
    run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&img)
        .args(["-extract", "/"])
        .arg(&out));
    same(&snapshot(&out, true), &snapshot(&src, true));
}

#[test]
fn bsdtar_extracts_the_same_tree_with_mtimes() {
    if tool("bsdtar").is_none() {
        return;
    }
    let (t, src, img) = setup();
    let out = t.path().join("b");
    std::fs::create_dir(&out).unwrap();
    run(Command::new("bsdtar")
        .arg("-xf")
        .arg(&img)
        .arg("-C")
        .arg(&out));
    same(&snapshot(&out, true), &snapshot(&src, true));
}

/// 7z reads the Joliet tree (not Rock Ridge): every name as it is, except that
/// Joliet caps names at 103 UTF-16 units, as genisoimage's `-joliet-long` does,
/// and has no symlinks.
#[test]
fn sevenzip_extracts_the_same_tree_with_joliet_names() {
    if tool("7z").is_none() {
        return;
    }
    let (t, src, img) = setup();
    let out = t.path().join("z");
    run(Command::new("7z")
        .arg("x")
        .arg(format!("-o{}", out.display()))
        .arg(&img));
    let want: std::collections::BTreeMap<Vec<u8>, (Vec<u8>, i64)> = snapshot(&src, true)
        .into_iter()
        .filter(|(_, v)| !v.0.starts_with(b"-> ")) // Joliet has no symlinks
        .map(|(path, v)| {
            let text = String::from_utf8(path).unwrap();
            let joliet: Vec<String> = text
                .split('/')
                .map(|part| {
                    String::from_utf16(&part.encode_utf16().take(103).collect::<Vec<_>>()).unwrap()
                })
                .collect();
            (joliet.join("/").into_bytes(), v)
        })
        .collect();
    same(&snapshot(&out, true), &want);
}

#[test]
fn isoinfo_lists_rock_ridge_and_joliet_names() {
    if tool("isoinfo").is_none() {
        return;
    }
    let (_t, _src, img) = setup();
    let rr = run(Command::new("isoinfo").args(["-R", "-f", "-i"]).arg(&img));
    assert!(rr.contains("/家族/春节 2023/年夜饭.jpg"), "{rr}");
    assert!(rr.contains("/emoji/🎂 birthday.jpg"), "{rr}");
    assert!(
        rr.contains("Road trip with the kids and the dog Road trip"),
        "{rr}"
    );
    // isoinfo prints Joliet names only in 8-bit charsets: check ASCII ones
    let joliet = run(Command::new("isoinfo").args(["-J", "-f", "-i"]).arg(&img));
    assert!(joliet.contains("/DCIM/2021/img_0001.JPG"), "{joliet}");
    assert!(joliet.contains("/Dups/copy of original.jpg"), "{joliet}");
    // and the primary tree is plain ISO9660 level 3 names
    let plain = run(Command::new("isoinfo").args(["-f", "-i"]).arg(&img));
    assert!(plain.contains("/DCIM/2021/IMG_0001.JPG;1"), "{plain}");
    // a debug check of the volume descriptor
    let d = run(Command::new("isoinfo").args(["-d", "-i"]).arg(&img));
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
}

/// Deeper than ECMA-119's 8 levels (mkdataset nests 10): readers that use Rock
/// Ridge or Joliet take it as it is.
#[test]
fn deep_trees_extract_with_xorriso_and_bsdtar() {
    if tool("xorriso").is_none() || tool("bsdtar").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let deep = src.join("a/b/c/d/e/f/g/h/i/j/k/l");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deeply nested.jpg"), b"twelve levels down").unwrap();
    let img = t.path().join("deep.iso");
    build(&src, &img);
    let x = t.path().join("x");
    run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&img)
        .args(["-extract", "/"])
        .arg(&x));
    same(&snapshot(&x, true), &snapshot(&src, true));
    let b = t.path().join("b");
    std::fs::create_dir(&b).unwrap();
    run(Command::new("bsdtar")
        .arg("-xf")
        .arg(&img)
        .arg("-C")
        .arg(&b));
    same(&snapshot(&b, true), &snapshot(&src, true));
}
