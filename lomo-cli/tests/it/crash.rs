//! `kill -9` at each kill point of a backup, against moto (two buckets: one
//! site for both roles, one archive site in DEEP_ARCHIVE) and a local
//! folder site; then `lomob backup` again must reach the final state of an
//! uninterrupted run: the same archives on every archive site, the same
//! staged copies, no pending multipart upload, nothing lost or doubled,
//! and everything restores.
//!
//! Each backup is two runs: the first stages everything (pack size 1G),
//! the second packs with a small pack size (two images of two 5 MiB parts
//! each), releasing the staged copies they hold. A kill point is a request
//! (see `killproxy`); a kill mid-scan is covered by `kill.rs`.

use std::path::Path;
use std::sync::atomic::Ordering;

use lomo_remote::testing as servers;

use crate::killproxy::{KillProxy, When};
use crate::util::{Env, same_tree};

const PACK: &str = "12MB";
const PART: &str = "5MiB";

fn make_tree(pics: &Path) {
    for i in 0..8u32 {
        let dir = pics.join(if i < 4 { "2019" } else { "2020" });
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|b| (b.wrapping_mul(2_654_435_761) >> (i % 7)) as u8 ^ i as u8)
            .collect();
        let path = dir.join(format!("VID_{i}.mp4"));
        std::fs::write(&path, data).unwrap();
        let when = crate::util::at(1_546_300_800 + u64::from(i) * 86_400);
        crate::util::set_mtime(&path, when);
    }
    for i in 0..12u32 {
        std::fs::write(
            pics.join(format!("2020/IMG_{i}.jpg")),
            vec![i as u8; 1000 + i as usize],
        )
        .unwrap();
    }
}

struct Setup {
    env: Env,
    pics: std::path::PathBuf,
    moto_port: u16,
}

/// Sites `nas` (folder, staging), `hot` (moto, both roles) and `cold`
/// (moto, archive, DEEP_ARCHIVE), reaching moto through `port`.
fn setup(moto_port: u16, port: u16) -> Setup {
    servers::create_bucket(moto_port, "hot");
    servers::create_bucket(moto_port, "cold");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_moto_credentials();
    let cfg_dir = env.path().join("config/lomob");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let nas = env.path().join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    let ep = format!("region=us-east-1&endpoint=http://127.0.0.1:{port}");
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!(
            "[[site]]\nname = \"nas\"\nurl = \"file://{}\"\nrole = \"staging\"\n\n\
             [[site]]\nname = \"hot\"\nurl = \"s3://hot/l?{ep}\"\nrole = \"both\"\n\n\
             [[site]]\nname = \"cold\"\nurl = \"s3://cold/l?{ep}\"\nrole = \"archive\"\nstorage_class = \"DEEP_ARCHIVE\"\n",
            nas.display()
        ),
    )
    .unwrap();
    let pics = env.path().join("Pictures");
    make_tree(&pics);
    Setup {
        env,
        pics,
        moto_port,
    }
}

fn backup_args(pics: &str, second: bool) -> Vec<&str> {
    if second {
        vec!["backup", pics, "--pack-size", PACK, "--part-size", PART]
    } else {
        vec!["backup", pics, "--pack-size", "1G"]
    }
}

/// What the run leaves: catalog rows and site listings (names only: the
/// staged names are keyed by each catalog's own master key, so they are
/// counted, not compared).
#[derive(Debug, PartialEq, Eq)]
struct Final {
    archives: Vec<String>,
    copies_done: usize,
    copies_pending: usize,
    staged_rows: Vec<(String, i64)>,
    hot_archives: Vec<String>,
    cold_archives: Vec<String>,
    cold_classes: Vec<String>,
    hot_staged: usize,
    nas_staged: usize,
    pending_uploads: usize,
}

fn final_state(s: &Setup) -> Final {
    let db = rusqlite::Connection::open(s.env.db()).unwrap();
    let strings = |sql: &str| -> Vec<String> {
        let mut st = db.prepare(sql).unwrap();
        st.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let count =
        |sql: &str| -> usize { db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize };
    let mut st = db
        .prepare("SELECT site, count(*) FROM staged GROUP BY site ORDER BY site")
        .unwrap();
    let staged_rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let list = |site: &str, prefix: &str| -> Vec<serde_json::Value> {
        s.env.json(&["list", "remote", site, prefix], 0)
    };
    let names = |v: &[serde_json::Value]| -> Vec<String> {
        let mut n: Vec<String> = v
            .iter()
            .map(|o| o["key"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let cold = list("cold", "lomob/archives");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pending: usize = ["hot", "cold"]
        .iter()
        .map(|b| {
            let site = servers::s3_site(s.moto_port, b, "l", "");
            rt.block_on(site.list_uploads("")).unwrap().len()
        })
        .sum();
    Final {
        archives: strings("SELECT name FROM archives ORDER BY name"),
        copies_done: count(
            "SELECT count(*) FROM archive_copies WHERE done_at IS NOT NULL AND upload IS NULL",
        ),
        copies_pending: count("SELECT count(*) FROM archive_copies WHERE done_at IS NULL"),
        staged_rows,
        hot_archives: names(&list("hot", "lomob/archives")),
        cold_archives: names(&cold),
        cold_classes: cold
            .iter()
            .map(|o| o["storage_class"].as_str().unwrap_or("").to_owned())
            .collect(),
        hot_staged: list("hot", "lomob/staging").len(),
        nas_staged: crate::util::count_files(&s.env.path().join("nas/lomob/staging")),
        pending_uploads: pending,
    }
}

/// The state an uninterrupted pair of runs leaves (computed once per test
/// binary run, on its own moto).
fn reference() -> &'static Final {
    static REF: std::sync::OnceLock<Final> = std::sync::OnceLock::new();
    REF.get_or_init(|| {
        let moto = servers::moto().unwrap();
        let s = setup(moto.port, moto.port);
        let pics = s.pics.to_str().unwrap().to_owned();
        s.env.ok(&backup_args(&pics, false), 0);
        s.env.ok(&backup_args(&pics, true), 0);
        let f = final_state(&s);
        assert_eq!(f.archives.len(), 2, "{f:?}");
        assert_eq!(f.copies_done, 4, "{f:?}");
        f
    })
}

/// Runs the two backups with a kill at the `nth` request `matches` picks
/// during run `second` (false: the staging run), resumes, and compares.
fn kill_at(
    second: bool,
    nth: usize,
    when: When,
    matches: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
) {
    let Some(moto) = servers::moto() else { return };
    let want = reference();
    let proxy = KillProxy::start(moto.port, nth, when, matches);
    let s = setup(moto.port, proxy.port);
    let pics = s.pics.to_str().unwrap().to_owned();
    if second {
        s.env.ok(&backup_args(&pics, false), 0);
    }
    let mut child = s
        .env
        .cmd(&backup_args(&pics, second))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    proxy.pid.store(child.id(), Ordering::SeqCst);
    let status = child.wait().unwrap();
    assert!(
        proxy.fired() && !status.success(),
        "the kill point was never reached ({status}); requests: {:#?}",
        proxy
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|r| &r.line)
            .collect::<Vec<_>>()
    );
    // Resume: the interrupted run again, then (if it was the first) the second.
    s.env.ok(&backup_args(&pics, second), 0);
    if !second {
        s.env.ok(&backup_args(&pics, true), 0);
    }
    let got = final_state(&s);
    assert_eq!(&got, want);
    // Nothing acknowledged before the kill is sent again: no staged object,
    // no upload creation, no part (what was in flight may be).
    let log = proxy.log.lock().unwrap().clone();
    let killed = proxy.killed.lock().unwrap().clone().unwrap();
    let k = log.iter().position(|r| r.line == killed).unwrap();
    let write = |l: &str| {
        (l.starts_with("PUT ") || (l.starts_with("POST ") && l.contains("?uploads")))
            && !l.contains("/lomob/catalog/")
            && !l.contains("/lomob/keys/")
    };
    let after: std::collections::HashSet<String> = log[k + 1..]
        .iter()
        .filter(|r| write(&r.line))
        .map(|r| without_upload_id(&r.line))
        .collect();
    for r in log[..k].iter().filter(|r| r.acked && write(&r.line)) {
        assert!(
            !after.contains(&without_upload_id(&r.line)),
            "{} was done before the kill at {killed} and sent again",
            r.line
        );
    }
    let to = s.env.path().join("restored");
    s.env.ok(&["restore", "/", "--to", to.to_str().unwrap()], 0);
    same_tree(&s.pics, &to.join("Pictures"));
}

/// A request with its upload id left out (a resumed upload keeps its id;
/// a restarted one gets a new one, and must not resend parts either).
fn without_upload_id(r: &str) -> String {
    r.split(['?', '&'])
        .filter(|p| !p.starts_with("uploadId="))
        .collect::<Vec<_>>()
        .join("&")
}

fn is_part(target: &str, n: u32) -> bool {
    target.contains(&format!("partNumber={n}&")) || target.ends_with(&format!("partNumber={n}"))
}

#[test]
fn kill_before_a_staged_object_reaches_the_site() {
    kill_at(false, 3, When::Before, |m, t| {
        m == "PUT" && t.starts_with("/hot/l/lomob/staging/")
    });
}

#[test]
fn kill_after_a_staged_object_is_stored_but_before_it_is_recorded() {
    kill_at(false, 3, When::After, |m, t| {
        m == "PUT" && t.starts_with("/hot/l/lomob/staging/")
    });
}

#[test]
fn kill_after_an_archive_upload_is_created_but_before_it_is_recorded() {
    kill_at(true, 1, When::After, |m, t| {
        m == "POST" && t.starts_with("/cold/l/lomob/archives/") && t.contains("uploads")
    });
}

#[test]
fn kill_in_the_middle_of_an_archive_part() {
    kill_at(true, 1, When::MidBody, |m, t| {
        m == "PUT" && t.starts_with("/cold/l/lomob/archives/") && is_part(t, 2)
    });
}

#[test]
fn kill_between_archive_parts() {
    kill_at(true, 1, When::After, |m, t| {
        m == "PUT" && t.starts_with("/hot/l/lomob/archives/") && is_part(t, 1)
    });
}

#[test]
fn kill_while_an_archive_upload_completes() {
    kill_at(true, 1, When::After, |m, t| {
        m == "POST" && t.starts_with("/cold/l/lomob/archives/") && t.contains("uploadId=")
    });
}

#[test]
fn kill_during_staged_copy_deletion() {
    // object_store deletes through S3's bulk DeleteObjects (one key each here).
    kill_at(true, 2, When::After, |m, t| {
        m == "POST" && t == "/hot?delete"
    });
}

#[test]
fn kill_during_the_catalog_snapshot_upload() {
    kill_at(true, 1, When::MidBody, |m, t| {
        m == "PUT" && t.starts_with("/cold/l/lomob/catalog/")
    });
}

/// The request ledger counts each request once, as the server saw it (a
/// site handle's usage is cumulative: recording it after every archive
/// counted the first archive's requests again).
#[test]
fn the_ledger_counts_what_the_server_saw() {
    let Some(moto) = servers::moto() else { return };
    let proxy = KillProxy::start(moto.port, 1, When::Before, |_, _| false);
    let s = setup(moto.port, proxy.port);
    let pics = s.pics.to_str().unwrap().to_owned();
    s.env.ok(&backup_args(&pics, false), 0);
    s.env.ok(&backup_args(&pics, true), 0);
    let db = rusqlite::Connection::open(s.env.db()).unwrap();
    let log = proxy.log.lock().unwrap().clone();
    for site in ["hot", "cold"] {
        let recorded: i64 = db
            .query_row(
                "SELECT SUM(class_a + class_b + free) FROM request_ledger WHERE site = ?1",
                [site],
                |r| r.get(0),
            )
            .unwrap();
        let seen = log
            .iter()
            .filter(|r| {
                let target = r.line.split(' ').nth(1).unwrap_or("");
                target.starts_with(&format!("/{site}/")) || target.starts_with(&format!("/{site}?"))
            })
            .count();
        assert_eq!(recorded as usize, seen, "site {site}");
    }
}

/// An image is generated from its files as it is sent. If one of them is
/// edited in place (same size and mtime, so a scan cannot tell) while an
/// upload is interrupted, the resumed upload finds its bytes no longer
/// match the catalog before sending them: the upload is abandoned, the
/// file read again by the next scan, and the image planned anew.
#[test]
fn a_file_edited_during_an_interrupted_upload_is_never_archived_wrong() {
    let Some(moto) = servers::moto() else { return };
    let proxy = KillProxy::start(moto.port, 1, When::MidBody, |m, t| {
        m == "PUT" && t.starts_with("/hot/l/lomob/archives/") && is_part(t, 2)
    });
    let s = setup(moto.port, proxy.port);
    let pics = s.pics.to_str().unwrap().to_owned();
    s.env.ok(&backup_args(&pics, false), 0);
    let mut child = s
        .env
        .cmd(&backup_args(&pics, true))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    proxy.pid.store(child.id(), Ordering::SeqCst);
    child.wait().unwrap();
    assert!(proxy.fired());

    // VID_2 lies in the part not yet sent; edited in place, mtime kept.
    let path = s.pics.join("2019/VID_2.mp4");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[1000..2000] {
        *b = !*b;
    }
    std::fs::write(&path, &bytes).unwrap();
    crate::util::set_mtime(&path, mtime);

    let out = s.env.run(&backup_args(&pics, true));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("VID_2.mp4 changed since it was scanned") && err.contains("planned again"),
        "{err}"
    );
    s.env.ok(&backup_args(&pics, true), 0);
    let f = final_state(&s);
    assert_eq!((f.copies_pending, f.pending_uploads), (0, 0), "{f:?}");
    let names: Vec<String> = f
        .archives
        .iter()
        .map(|a| format!("lomob/archives/{a}.lomo"))
        .collect();
    assert_eq!(f.hot_archives, names);
    assert_eq!(f.cold_archives, names);
    let to = s.env.path().join("restored");
    s.env.ok(&["restore", "/", "--to", to.to_str().unwrap()], 0);
    same_tree(&s.pics, &to.join("Pictures"));
}
