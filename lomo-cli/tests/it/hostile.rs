//! Odd names and entries nobody may read, through the binary.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::{Env, require};

#[test]
fn non_utf8_names_list_with_their_exact_bytes() {
    let env = Env::new();
    let tree = env.path().join("t");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join(std::ffi::OsStr::from_bytes(b"caf\xe9.jpg")), b"x").unwrap();
    env.ok(&["scan", tree.to_str().unwrap()], 0);
    let files = env.json(&["list", "files"], 0);
    assert_eq!(files.len(), 1);
    let raw = files[0]["path_hex"]
        .as_str()
        .expect("path_hex for a non-UTF-8 path");
    assert!(raw.ends_with("636166e92e6a7067"), "{raw}"); // "caf\xe9.jpg"
    assert!(
        files[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("caf\u{fffd}.jpg")
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// As root, runs lomob as `nobody` (root can read anything) with setpriv.
fn as_unprivileged(env: &Env, args: &[&str]) -> Option<std::process::Output> {
    if !is_root() {
        return Some(env.cmd(args).output().unwrap());
    }
    let setpriv = require("setpriv")?;
    let mut inner = env.cmd(args);
    let mut c = Command::new(setpriv);
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(inner.get_program());
    c.args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let _ = &mut inner;
    Some(c.output().unwrap())
}

#[test]
fn unreadable_files_and_dirs_are_reported_skipped_and_kept() {
    let env = Env::new();
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let tree = env.path().join("t");
    for d in ["ok", "locked-dir"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
        std::fs::write(tree.join(d).join("photo.jpg"), d).unwrap();
    }
    std::fs::write(tree.join("ok/locked.jpg"), b"secret").unwrap();
    let chmod_all = |mode| {
        for p in [&tree, &tree.join("ok"), &tree.join("locked-dir")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    chmod_all(0o777);
    for f in ["ok/photo.jpg", "locked-dir/photo.jpg", "ok/locked.jpg"] {
        std::fs::set_permissions(tree.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let tree_s = tree.to_str().unwrap();
    let Some(first) = as_unprivileged(&env, &["--json", "scan", tree_s]) else {
        return;
    };
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    std::fs::set_permissions(
        tree.join("ok/locked.jpg"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    std::fs::set_permissions(
        tree.join("locked-dir"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    std::fs::write(tree.join("ok/locked.jpg"), b"changed secret").unwrap(); // must be re-read, can't be
    std::fs::write(tree.join("ok/new.jpg"), b"new").unwrap();
    std::fs::set_permissions(
        tree.join("ok/new.jpg"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = as_unprivileged(&env, &["--json", "scan", tree_s]).unwrap();
    std::fs::set_permissions(
        tree.join("locked-dir"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "problems found: exit 1\n{stderr}"
    );
    assert!(
        stderr.contains("locked.jpg") && stderr.contains("locked-dir"),
        "{stderr}"
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["new"], 1, "{r}");
    assert_eq!(r["deleted"], 0, "{r}");
    assert_eq!(r["errors"], 2, "{r}");
    let kinds: Vec<&str> = r["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"read") && kinds.contains(&"read_dir"),
        "{kinds:?}"
    );
    // what the catalog knew is still listed (the old version of locked.jpg, locked-dir's photo)
    let listed = env.json(&["list", "files"], 0);
    assert_eq!(listed.len(), 4);
}
