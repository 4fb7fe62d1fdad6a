//! kill -9 at many moments of a scan: the catalog stays sound and the next scan
//! completes it to exactly what an uninterrupted scan records.

use std::time::Duration;

use crate::util::Env;

fn make_tree(root: &std::path::Path) {
    for i in 0..4000u32 {
        let d = root.join(format!("dir{:02}/sub{}", i % 40, i % 3));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("IMG_{i:05}.jpg")),
            i.to_le_bytes().repeat(100 + (i % 50) as usize),
        )
        .unwrap();
    }
    for i in 0..6u8 {
        std::fs::write(root.join(format!("video{i}.mp4")), vec![i; 12 << 20]).unwrap();
    }
}

fn listing(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = env
        .json(&["list", "files"], 0)
        .into_iter()
        .map(|v| format!("{} {} {}", v["path"], v["size"], v["hash"]))
        .collect();
    v.sort();
    v
}

#[test]
fn kill_9_mid_scan_leaves_a_sound_catalog_that_the_next_scan_completes() {
    let env = Env::new();
    let tree = env.path().join("tree");
    make_tree(&tree);
    let tree_s = tree.to_str().unwrap();

    let reference = Env::new();
    reference.ok(&["scan", tree_s], 0);
    let want = listing(&reference);
    assert_eq!(want.len(), 4006);

    let mut killed = 0;
    for delay_ms in [5u64, 15, 30, 50, 80, 120, 180, 260, 400] {
        let mut child = env.cmd(&["scan", tree_s]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "after a kill at {delay_ms} ms");
        // no path is live twice
        let dupes: i64 = conn
            .query_row(
                "SELECT count(*) FROM (SELECT dir_id, name FROM files WHERE deleted_at IS NULL \
                 GROUP BY dir_id, name HAVING count(*) > 1)",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        assert_eq!(dupes, 0);
    }
    assert!(
        killed >= 3,
        "the scans were too quick to be killed ({killed} kills)"
    );
    let r = &env.json(&["scan", tree_s], 0)[0];
    assert_eq!(r["errors"], 0);
    assert_eq!(listing(&env), want);
    // and nothing was recorded as deleted or changed along the way
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let closed: i64 = conn
        .query_row(
            "SELECT count(*) FROM files WHERE deleted_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(closed, 0);
    let unfinished: i64 = conn
        .query_row(
            "SELECT count(*) FROM scans WHERE finished_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        unfinished >= 1 && unfinished <= killed,
        "{unfinished} unfinished scans, {killed} kills"
    );
}
