//! `lomob check --staging`: a staging site against the catalog.

use crate::util::Env;

fn objects(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(objects(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn staging_check_finds_missing_corrupt_and_unexpected_objects() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..6u8 {
        std::fs::write(
            pics.join(format!("{i}.jpg")),
            vec![i; 20_000 + usize::from(i)],
        )
        .unwrap();
    }
    let run = |args: &[&str]| env.cmd(args).current_dir(env.path()).output().unwrap();
    assert!(run(&["backup", pics.to_str().unwrap()]).status.success());
    let out = run(&["--json", "check", "--staging", "--deep", "6"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"checked\":6") && text.contains("\"problems\":0"),
        "{text}"
    );

    // Behind lomob's back: one object deleted, one altered (same size), one added.
    let staging = env.path().join("lomob-site/lomob/staging");
    let objs = objects(&staging);
    std::fs::remove_file(&objs[0]).unwrap();
    let mut b = std::fs::read(&objs[1]).unwrap();
    let n = b.len();
    b[n - 20] ^= 0x40;
    std::fs::write(&objs[1], b).unwrap();
    std::fs::create_dir_all(staging.join("ff")).unwrap();
    std::fs::write(staging.join("ff/stray"), b"?").unwrap();

    // The listing alone sees the missing and the stray one ...
    let out = run(&["--json", "check", "--staging"]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"missing") && kinds.contains(&"unexpected"),
        "{lines:?}"
    );
    let missing = lines.iter().find(|l| l["kind"] == "missing").unwrap();
    assert!(
        missing["path"].as_str().unwrap().ends_with(".jpg"),
        "names the file: {missing}"
    );
    // ... a deep check also the altered one.
    let out = run(&["--json", "check", "--staging", "--deep", "10"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"kind\":\"corrupt\"") && text.contains("does not decrypt"),
        "{text}"
    );

    // An unmounted site cannot be checked: exit 2.
    std::fs::rename(env.path().join("lomob-site"), env.path().join("away")).unwrap();
    let out = run(&["check", "--staging"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("could not check"));

    // Every run was recorded in the catalog.
    let db = rusqlite::Connection::open(env.db()).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM checks WHERE kind = 'staging'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 4);
    let last_error: Option<String> = db
        .query_row(
            "SELECT error FROM checks ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(last_error.unwrap().contains("not mounted"));
}
