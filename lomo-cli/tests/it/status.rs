//! `lomob status`: every figure of `--json` against what the catalog
//! holds, and the verdict and exit code for all-good and for each kind of
//! problem, on a state built by real backups to two sites (a Drive staging
//! site on the local Drive fake, off-site; a folder archive site), then
//! moved in time by editing the catalog where only time can tell.

use lomo_remote::testing::drive_fake::DriveFake;
use serde_json::Value;

use crate::gdrive::drive_env;
use crate::util::Env;

const DAY: i64 = 86_400;

fn sql(env: &Env, q: &str) {
    rusqlite::Connection::open(env.db())
        .unwrap()
        .execute_batch(q)
        .unwrap();
}

fn count(env: &Env, q: &str) -> u64 {
    rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(q, [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

fn status(env: &Env, code: i32) -> Value {
    let out = env.json(&["status"], code);
    assert_eq!(out.len(), 1, "one object");
    out[0].clone()
}

fn kinds(s: &Value) -> Vec<String> {
    s["verdict"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn site<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["site"] == name)
        .unwrap()
}

#[test]
fn status_figures_match_the_catalog_and_each_problem_has_its_verdict() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(DriveFake::start());
    let env = drive_env(&fake);
    let disk = env.path().join("disk");
    env.add_site(
        "disk",
        &format!("file://{}", disk.display()),
        &["--role", "archive"],
    );
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(pics.join("2023")).unwrap();
    for i in 0..4u8 {
        std::fs::write(pics.join(format!("2023/old {i}.jpg")), vec![i; 300_000]).unwrap();
    }
    // Four photos packed into an archive on the disk, then two staged on Drive.
    env.json(&["backup", pics.to_str().unwrap(), "--pack-size", "1MB"], 0);
    for i in 0..2u8 {
        std::fs::write(pics.join(format!("new {i}.jpg")), vec![10 + i; 5_000]).unwrap();
    }
    env.json(&["backup", pics.to_str().unwrap()], 0);
    env.ok(&["check", "--staging"], 0);
    env.ok(&["check", "--archives"], 0);

    // All good.
    let s = status(&env, 0);
    assert_eq!(s["verdict"]["ok"], true);
    assert!(
        s["verdict"]["line"]
            .as_str()
            .unwrap()
            .starts_with("all 6 files are on every site"),
        "{s}"
    );
    let r = &s["roots"][0];
    assert_eq!(r["label"], "Pictures");
    let live = "FROM files WHERE deleted_at IS NULL AND kind = 0";
    assert_eq!(r["files"], count(&env, &format!("SELECT count(*) {live}")));
    assert_eq!(r["bytes"], count(&env, &format!("SELECT sum(size) {live}")));
    assert_eq!(r["files"], 6);
    assert_eq!(r["on_a_site"], 6);
    let on_drive = count(
        &env,
        &format!(
            "SELECT count(*) {live} AND content_id IN (SELECT content_id FROM staged WHERE site = 'drive')"
        ),
    );
    let on_disk = count(
        &env,
        &format!(
            "SELECT count(*) {live} AND content_id IN (SELECT m.content_id FROM archive_members m \
         JOIN archive_copies c ON c.archive_id = m.archive_id WHERE c.site = 'disk' AND c.done_at IS NOT NULL)"
        ),
    );
    assert!(
        on_drive >= 2 && on_disk >= 3,
        "{on_drive} staged, {on_disk} archived"
    );
    assert_eq!(r["off_site"], on_drive, "Drive is the off-site one");
    assert_eq!(r["on_two_sites"], 0);
    assert_eq!(on_drive + on_disk, 6, "each on one site");
    assert_eq!(
        (r["only_here"].clone(), r["missing_copies"].clone()),
        (0.into(), 0.into())
    );
    let d = site(&s, "disk");
    assert_eq!(
        d["archives"],
        count(
            &env,
            "SELECT count(*) FROM archive_copies WHERE site = 'disk' AND done_at IS NOT NULL"
        )
    );
    assert_eq!(
        d["archive_bytes"],
        count(
            &env,
            "SELECT sum(size) FROM archive_copies WHERE site = 'disk'"
        )
    );
    assert_eq!(
        (d["off_site"].clone(), d["kind"].clone()),
        (false.into(), "folder".into())
    );
    let g = site(&s, "drive");
    assert_eq!(
        g["staged"],
        count(&env, "SELECT count(*) FROM staged WHERE site = 'drive'")
    );
    assert_eq!(
        g["staged_bytes"],
        count(&env, "SELECT sum(size) FROM staged WHERE site = 'drive'")
    );
    assert_eq!(
        (g["off_site"].clone(), g["kind"].clone()),
        (true.into(), "drive".into())
    );
    assert!(g["last_ok"].as_i64().is_some() && g["failing_since"].is_null());
    assert_eq!(g["staging_check"]["differences"], 0);
    assert!(
        g.get("archive_check").is_none(),
        "a staging site has no archive check"
    );
    assert_eq!(
        d["archive_check"]["checked"],
        count(
            &env,
            "SELECT checked FROM checks WHERE kind = 'archives' AND site = 'disk' ORDER BY id DESC LIMIT 1"
        )
    );

    // A new file, seen today: not yet a problem; two days old: it is.
    std::fs::write(pics.join("newest.jpg"), b"just taken").unwrap();
    env.ok(&["scan", pics.to_str().unwrap()], 0);
    let s = status(&env, 0);
    assert_eq!(s["roots"][0]["only_here"], 1);
    assert!(
        s["roots"][0]["oldest_only_here"]["path"]
            .as_str()
            .unwrap()
            .ends_with("newest.jpg")
    );
    sql(
        &env,
        &format!(
            "UPDATE files SET first_seen = first_seen - {} WHERE name = CAST('newest.jpg' AS BLOB)",
            2 * DAY
        ),
    );
    let s = status(&env, 1);
    assert_eq!(kinds(&s), ["only-here", "missing-copies"], "{s}");
    assert!(
        s["verdict"]["line"]
            .as_str()
            .unwrap()
            .contains("1 files are on no site yet, the oldest for 2 days"),
        "{s}"
    );
    std::fs::remove_file(pics.join("newest.jpg")).unwrap();
    env.ok(&["scan", pics.to_str().unwrap()], 0);

    // The deleted file is history, not a problem.
    let s = status(&env, 0);
    assert_eq!(s["roots"][0]["deleted_versions"], 1);

    // Drive unreachable for four days.
    let now = lomo_catalog::unix_now();
    sql(
        &env,
        &format!(
            "UPDATE site_contact SET failing_since = {}, last_error = 'connection refused' WHERE site = 'drive'",
            now - 4 * DAY
        ),
    );
    let s = status(&env, 1);
    assert_eq!(kinds(&s), ["site-offline"]);
    assert!(
        s["verdict"]["line"]
            .as_str()
            .unwrap()
            .contains("site drive has not answered for 4 days: connection refused")
    );
    sql(
        &env,
        "UPDATE site_contact SET failing_since = NULL, last_error = NULL",
    );

    // The archive on the disk is damaged: the real check finds it.
    let object = walk_files(&disk)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/archives/"))
        .unwrap();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&object, bytes).unwrap();
    env.ok(&["check", "--archives"], 1);
    let s = status(&env, 1);
    assert_eq!(kinds(&s), ["check-differences"]);
    assert_eq!(site(&s, "disk")["archive_check"]["differences"], 1);
    env.ok(&["repair"], 0);
    env.ok(&["check", "--archives"], 0);
    status(&env, 0);

    // A check that could not run: the user revoked lomob's Drive access.
    fake.state.lock().unwrap().revoke_all();
    env.ok(&["check", "--staging", "--site", "drive"], 2);
    let s = status(&env, 1);
    assert_eq!(kinds(&s), ["check-failed"], "{s}");
    let token = env.path().join("config/lomob/gdrive-token.json");
    std::fs::write(token, fake.token_json()).unwrap();
    env.ok(&["check", "--staging", "--site", "drive"], 0);
    status(&env, 0);

    // The archive check two periods late.
    sql(
        &env,
        &format!(
            "UPDATE checks SET finished_at = finished_at - {} WHERE kind = 'archives'",
            70 * DAY
        ),
    );
    let s = status(&env, 1);
    assert_eq!(kinds(&s), ["check-overdue"], "{s}");
    assert!(
        site(&s, "disk")["archive_check"]["overdue"]
            .as_bool()
            .unwrap()
    );
    sql(
        &env,
        &format!(
            "UPDATE checks SET finished_at = finished_at + {} WHERE kind = 'archives'",
            70 * DAY
        ),
    );

    // A root held after a mass change.
    sql(
        &env,
        &format!("UPDATE roots SET held_at = {now}, held_reason = '90% of files deleted'"),
    );
    let s = status(&env, 1);
    assert_eq!(kinds(&s), ["root-held"]);
    assert!(s["roots"][0]["held"].as_str().unwrap().contains("90%"));
    sql(&env, "UPDATE roots SET held_at = NULL, held_reason = NULL");

    // A second archive site: the archived photos are not there yet.
    let disk2 = env.path().join("disk2");
    env.add_site(
        "disk2",
        &format!("file://{}", disk2.display()),
        &["--role", "archive"],
    );
    sql(
        &env,
        &format!("UPDATE files SET first_seen = first_seen - {}", 2 * DAY),
    );
    let s = status(&env, 1);
    assert_eq!(kinds(&s), ["missing-copies"], "{s}");
    assert_eq!(s["roots"][0]["missing_copies"], on_disk);
    // The next backup sends the archive there: on two sites, all good.
    env.json(&["backup", pics.to_str().unwrap()], 0);
    let s = status(&env, 0);
    assert_eq!(s["roots"][0]["on_two_sites"], on_disk, "{s}");
}

#[test]
fn prometheus_text_has_every_family_and_escapes_labels() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let pics = env.path().join("Pic\"tures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), b"photo").unwrap();
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    env.json(&["backup", pics.to_str().unwrap()], 0);
    let prom = env.path().join("lomob.prom");
    let text = env.ok(&["status", "--prometheus", prom.to_str().unwrap()], 0);
    assert!(text.starts_with("OK  all 1 files"), "{text}");
    let p = std::fs::read_to_string(&prom).unwrap();
    assert!(!env.path().join("lomob.prom.tmp").exists());
    for family in [
        "status_ok",
        "root_files",
        "root_files_off_site",
        "site_bytes",
        "site_last_ok_timestamp_seconds",
        "check_last_timestamp_seconds",
    ] {
        assert!(
            p.contains(&format!("# TYPE lomob_{family} gauge")),
            "{family}: {p}"
        );
    }
    assert!(p.contains("lomob_status_ok 1\n"), "{p}");
    assert!(
        p.contains("lomob_root_files{root=\"Pic\\\"tures\"} 1\n"),
        "{p}"
    );
    assert!(
        p.contains("lomob_site_objects{site=\"nas\",kind=\"staged\"} 1\n"),
        "{p}"
    );
    // Each sample line is `name{labels} value`, as the exposition format wants.
    for l in p.lines().filter(|l| !l.starts_with('#')) {
        let (_, v) = l.rsplit_once(' ').unwrap();
        assert!(v.parse::<f64>().is_ok(), "{l}");
    }
}

fn walk_files(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    crate::util::walk(p)
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

/// A file scanned but not backed up yet waits, in words, without alarm.
#[test]
fn a_new_file_waits_for_the_next_backup() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), b"photo").unwrap();
    env.ok(&["scan", pics.to_str().unwrap()], 0);
    let s = status(&env, 0);
    let line = s["verdict"]["line"].as_str().unwrap();
    assert!(
        line.starts_with("0 of 1 files are on every site they should be, 1 new waiting"),
        "{line}"
    );
    assert!(line.contains("none is off-site"), "{line}");
    assert_eq!(s["roots"][0]["only_here"], 1);
}
