//! `lomob iso build|dump|extract` on a mkdataset tree, checked by xorriso,
//! bsdtar, 7z and isoinfo.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use crate::util::{Env, make_dataset, require};

/// Relative path -> (blake3 of content or "<dir>", mtime seconds).
fn tree(root: &Path) -> BTreeMap<String, (String, u64)> {
    let mut m = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = String::from_utf8_lossy(p.strip_prefix(root).unwrap().as_os_str().as_bytes())
                .into_owned();
            if meta.is_dir() {
                stack.push(p);
                m.insert(rel, ("<dir>".into(), 0));
            } else {
                let mtime = meta
                    .modified()
                    .unwrap()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                m.insert(
                    rel,
                    (
                        blake3::hash(&std::fs::read(&p).unwrap())
                            .to_hex()
                            .to_string(),
                        mtime,
                    ),
                );
            }
        }
    }
    m
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dataset_images_read_the_same_in_every_reader() {
    for t in ["xorriso", "bsdtar", "7z", "isoinfo"] {
        if require(t).is_none() {
            return;
        }
    }
    let env = Env::new();
    let src = env.path().join("Pictures");
    if make_dataset(
        &src,
        &[
            "--photos",
            "60",
            "--photo-mb",
            "0.2",
            "--videos",
            "2",
            "--video-mb",
            "2",
            "--small",
            "50",
        ],
    )
    .is_none()
    {
        return;
    }
    let img = env.path().join("p.iso");
    env.ok(
        &[
            "iso",
            "build",
            src.to_str().unwrap(),
            "-o",
            img.to_str().unwrap(),
        ],
        0,
    );
    let want = tree(&src);

    let x = env.path().join("x");
    ok(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&img)
        .args(["-extract", "/"])
        .arg(&x));
    assert!(tree(&x) == want, "xorriso");
    let b = env.path().join("b");
    std::fs::create_dir(&b).unwrap();
    ok(Command::new("bsdtar")
        .arg("-xf")
        .arg(&img)
        .arg("-C")
        .arg(&b));
    assert!(tree(&b) == want, "bsdtar");
    // 7z reads Joliet: mkdataset's long name exceeds its 103 units, the rest is identical
    let z = env.path().join("z");
    ok(Command::new("7z")
        .arg("x")
        .arg(format!("-o{}", z.display()))
        .arg(&img));
    let seven = tree(&z);
    let short = |m: &BTreeMap<String, (String, u64)>| -> BTreeMap<String, (String, u64)> {
        m.iter()
            .filter(|(k, _)| k.split('/').all(|p| p.encode_utf16().count() <= 103))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert!(short(&seven) == short(&want), "7z");
    assert_eq!(seven.len(), want.len(), "7z extracted every entry");
    // isoinfo lists every Rock Ridge path
    let listing = ok(Command::new("isoinfo").args(["-R", "-f", "-i"]).arg(&img));
    for path in want.keys() {
        assert!(
            listing.contains(&format!("/{path}\n")),
            "isoinfo misses {path}"
        );
    }
    // lomob reads it back too: dump names the files, extract restores them
    let dump = env.ok(&["iso", "dump", img.to_str().unwrap()], 0);
    assert!(
        dump.contains("🎂 birthday.jpg") && dump.contains("年夜饭.jpg"),
        "{dump}"
    );
    let l = env.path().join("l");
    env.ok(
        &["iso", "extract", img.to_str().unwrap(), l.to_str().unwrap()],
        0,
    );
    assert!(tree(&l) == want, "lomob iso extract");
    // a second extract never overwrites: exit 2, message names the entry
    let again = env.run(&["iso", "extract", img.to_str().unwrap(), l.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    // into a pipe: same bytes as into a file
    let piped = env
        .cmd(&["iso", "build", src.to_str().unwrap(), "-o", "-"])
        .output()
        .unwrap();
    assert!(
        piped.stdout == std::fs::read(&img).unwrap(),
        "pipe output differs from the file"
    );
}
