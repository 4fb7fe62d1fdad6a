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

#[test]
fn iso_create_packs_unarchived_files_into_images_of_at_most_size() {
    if require("xorriso").is_none() {
        return;
    }
    let env = Env::new();
    let src = env.path().join("Pictures");
    if make_dataset(
        &src,
        &[
            "--photos",
            "40",
            "--photo-mb",
            "0.3",
            "--videos",
            "1",
            "--video-mb",
            "3",
        ],
    )
    .is_none()
    {
        return;
    }
    env.ok(&["scan", src.to_str().unwrap()], 0);
    let total = env.json(&["list", "files"], 0).len();
    let store = env.path().join("store");
    let made = env.json(
        &["iso", "create", "-s", "4MB", "-p", store.to_str().unwrap()],
        0,
    );
    assert!(made.len() >= 3, "{made:?}");
    let listed: usize = made
        .iter()
        .map(|m| m["files"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(listed, total, "every file in exactly one image");
    assert!(
        env.json(&["list", "files"], 0).is_empty(),
        "nothing left unarchived"
    );
    // every image within the limit (the 3 MB video's image too), names by date
    let mut seen = BTreeMap::new();
    for m in &made {
        let name = m["name"].as_str().unwrap();
        assert!(
            name.len() == "2019-04-15--2020-04-10.iso".len() && name.ends_with(".iso"),
            "{name}"
        );
        let img = store.join(name);
        assert!(
            std::fs::metadata(&img).unwrap().len() <= 4_000_000,
            "{name}"
        );
        let out = env.path().join(format!("x-{name}"));
        ok(Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&img)
            .args(["-extract", "/"])
            .arg(&out));
        // the manifest lists exactly what the image holds, with the right hashes
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(".lomob/manifest.json")).unwrap())
                .unwrap();
        for f in manifest["files"].as_array().unwrap() {
            let p = f["path"].as_str().unwrap();
            let data = std::fs::read(out.join(p)).unwrap();
            assert_eq!(
                f["blake3"].as_str().unwrap(),
                blake3::hash(&data).to_hex().as_str()
            );
            assert!(p.starts_with("Pictures/"), "{p}");
            seen.insert(p.to_string(), ());
        }
    }
    assert_eq!(seen.len(), total);
    let archives = env.json(&["iso", "list"], 0);
    assert_eq!(archives.len(), made.len());
    assert!(
        archives
            .iter()
            .all(|a| a["status"] == "local" && a["blake3"].as_str().unwrap().len() == 64)
    );

    // a file changed after the scan: the build stops, no image, nothing recorded
    std::fs::write(src.join("late.jpg"), b"arrived later").unwrap();
    env.ok(&["scan", src.to_str().unwrap()], 0);
    std::fs::write(src.join("late.jpg"), b"edited after the scan").unwrap();
    let r = env.run(&["iso", "create", "-p", store.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("late.jpg") && err.contains("scan"), "{err}");
    assert_eq!(env.json(&["iso", "list"], 0).len(), made.len());
    assert_eq!(
        std::fs::read_dir(&store).unwrap().count(),
        made.len(),
        "no partial image left"
    );
    // after a rescan it goes through
    env.ok(&["scan", src.to_str().unwrap()], 0);
    assert_eq!(
        env.json(&["iso", "create", "-p", store.to_str().unwrap()], 0)
            .len(),
        1
    );
}
