//! `lomob watch`: the daemon on a temp tree with the default local site.

use std::time::{Duration, Instant};

use crate::util::Env;

fn staged(env: &Env) -> usize {
    crate::util::count_files(&env.path().join("lomob-site/lomob/staging"))
}

fn live_files(env: &Env) -> Vec<String> {
    let Ok(db) = rusqlite::Connection::open(env.db()) else {
        return Vec::new();
    };
    let Ok(mut st) =
        db.prepare("SELECT CAST(name AS TEXT) FROM files WHERE deleted_at IS NULL ORDER BY name")
    else {
        return Vec::new();
    };
    st.query_map([], |r| r.get::<_, String>(0))
        .map(|r| r.flatten().collect())
        .unwrap_or_default()
}

fn wait(what: &str, secs: u64, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what} did not happen within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stages_new_files_follows_moves_and_stops_cleanly() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(pics.join("2024")).unwrap();
    std::fs::write(pics.join("2024/a.jpg"), b"first photo").unwrap();
    std::fs::create_dir_all(pics.join("2023")).unwrap();
    for i in 0..3 {
        std::fs::write(pics.join(format!("2023/old-{i}.jpg")), [i; 100]).unwrap();
    }
    let start = |env: &Env| {
        env.cmd(&["watch", pics.to_str().unwrap(), "--stage-delay", "1s"])
            .current_dir(env.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut daemon = start(&env);
    wait("the catch-up backup", 30, || staged(&env) == 4);

    // A new photo is staged within the delay (plus a backup's time), after
    // a rescan of its folder alone: 2023 is not listed again.
    std::fs::write(pics.join("2024/b.jpg"), b"second photo").unwrap();
    wait("staging of a new file", 30, || staged(&env) == 5);
    let (new, unchanged): (i64, i64) = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(
            "SELECT new, unchanged FROM scans ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (new, unchanged),
        (1, 1),
        "only 2024 (a.jpg unchanged, b.jpg new) was rescanned"
    );
    // A move and a delete reach the catalog; nothing is uploaded again.
    std::fs::rename(pics.join("2024/b.jpg"), pics.join("2024/b-moved.jpg")).unwrap();
    std::fs::remove_file(pics.join("2024/a.jpg")).unwrap();
    wait("the move and the delete", 30, || {
        live_files(&env) == ["b-moved.jpg", "old-0.jpg", "old-1.jpg", "old-2.jpg"]
    });
    assert_eq!(staged(&env), 5);

    // SIGTERM: a clean stop.
    let pid = daemon.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    let status = loop {
        if let Some(s) = daemon.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("lomob watch: stopped") && err.contains("staging check"),
        "{err}"
    );

    // Restarted, it catches up what changed while it was down, and only that.
    std::fs::write(pics.join("2024/c.jpg"), b"taken while stopped").unwrap();
    let mut daemon = start(&env);
    wait("the catch-up after a restart", 30, || staged(&env) == 6);
    let _ = daemon.kill();
    let _ = daemon.wait();
    let checks: i64 = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(
            "SELECT count(*) FROM checks WHERE kind = 'staging'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        checks, 1,
        "the daily staging check is not repeated by a restart"
    );
}
