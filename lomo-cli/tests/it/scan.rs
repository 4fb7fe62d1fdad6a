//! `lomob scan` and `lomob list` on a mkdataset tree, checked against b3sum.

use std::collections::BTreeMap;
use std::process::Command;

use crate::util::{Env, make_dataset, require};

/// b3sum of every file under `dir`: absolute path -> (size, hash).
fn b3sum_tree(dir: &std::path::Path) -> BTreeMap<String, (u64, String)> {
    let b3 = require("b3sum").unwrap();
    let mut files = Vec::new();
    let mut stack = vec![std::fs::canonicalize(dir).unwrap()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    let mut m = BTreeMap::new();
    for chunk in files.chunks(500) {
        let out = Command::new(&b3)
            .arg("--no-names")
            .args(chunk)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        for (path, hash) in chunk.iter().zip(text.lines()) {
            let size = std::fs::metadata(path).unwrap().len();
            m.insert(path.to_str().unwrap().to_string(), (size, hash.to_string()));
        }
    }
    m
}

fn listed(env: &Env) -> BTreeMap<String, (u64, String)> {
    env.json(&["list", "files"], 0)
        .into_iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap().to_string(),
                (
                    v["size"].as_u64().unwrap(),
                    v["hash"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn dataset_scan_lists_exact_files_and_hashes_and_detects_moves() {
    if require("b3sum").is_none() {
        return;
    }
    let env = Env::new();
    let tree = env.path().join("Pictures");
    if make_dataset(
        &tree,
        &[
            "--photos",
            "120",
            "--photo-mb",
            "0.2",
            "--videos",
            "2",
            "--video-mb",
            "3",
            "--small",
            "300",
        ],
    )
    .is_none()
    {
        return;
    }
    let tree_s = tree.to_str().unwrap();
    let first = env.json(&["scan", tree_s], 0);
    assert_eq!(first.len(), 1);
    let expected = b3sum_tree(&tree);
    assert_eq!(first[0]["new"].as_u64().unwrap(), expected.len() as u64);
    assert_eq!(
        listed(&env),
        expected,
        "list files must match b3sum exactly"
    );

    // a JSON line per file, with mtime in unix seconds
    let one = &env.json(&["list", "files"], 0)[0];
    let path = one["path"].as_str().unwrap();
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let secs = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(one["mtime"].as_u64().unwrap(), secs);

    // Files modified within 2 s of being hashed are "racy" (a write in the same
    // mtime tick would go unseen) and are re-hashed once on the next scan:
    // mkdataset writes its duplicates and empty file with the current time.
    let fresh: Vec<(u64, bool)> = expected
        .iter()
        .map(|(p, (size, _))| {
            let m = std::fs::metadata(p).unwrap().modified().unwrap();
            let year_2025 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_689_600);
            (*size, m > year_2025)
        })
        .collect();
    let racy_files = fresh.iter().filter(|(_, f)| *f).count() as u64;
    let racy_bytes: u64 = fresh.iter().filter(|(_, f)| *f).map(|(s, _)| s).sum();

    // rename a folder: moved, not re-hashed
    let moved_count = expected.keys().filter(|p| p.contains("/Familie/")).count() as u64
        + expected
            .keys()
            .filter(|p| p.contains("/DCIM/2020/"))
            .count() as u64;
    assert!(moved_count > 1);
    std::fs::rename(tree.join("Familie"), tree.join("Family")).unwrap();
    std::fs::rename(tree.join("DCIM/2020"), tree.join("DCIM/Year 2020")).unwrap();
    let r = &env.json(&["scan", tree_s], 0)[0];
    assert_eq!(r["moved"].as_u64().unwrap(), moved_count, "{r}");
    assert_eq!(r["files_hashed"].as_u64().unwrap(), racy_files, "{r}");
    assert_eq!(
        r["bytes_hashed"].as_u64().unwrap(),
        racy_bytes,
        "only racy files re-read: {r}"
    );
    assert_eq!(r["new"].as_u64().unwrap(), 0, "{r}");
    assert_eq!(r["deleted"].as_u64().unwrap(), 0, "{r}");
    assert_eq!(listed(&env), b3sum_tree(&tree));

    // human summary names the categories
    let text = env.ok(&["scan", tree_s], 0);
    assert!(
        text.contains("0 new, 0 changed, 0 moved, 0 deleted"),
        "{text}"
    );

    // dups: mkdataset puts the same bytes at three paths
    let dups = env.json(&["list", "dups"], 0);
    assert_eq!(dups.len(), 1);
    assert_eq!(dups[0]["paths"].as_array().unwrap().len(), 3);

    // bigfiles: biggest first, all above the threshold
    let big = env.json(&["list", "bigfiles", "-s", "1MB"], 0);
    assert_eq!(big.len(), 2, "the two videos");
    assert!(big[0]["size"].as_u64() >= big[1]["size"].as_u64());
    assert!(big.iter().all(|v| v["size"].as_u64().unwrap() >= 1_000_000));

    // dirs: one line per directory, totals add up
    let dirs = env.json(&["list", "dirs"], 0);
    let total: u64 = dirs.iter().map(|d| d["files"].as_u64().unwrap()).sum();
    assert_eq!(total, expected.len() as u64);
}
