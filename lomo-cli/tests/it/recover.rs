//! `lomob recover` against a site someone else could write to: key files
//! planted to exhaust memory or time, junk, a renamed older snapshot, junk
//! snapshots that would push real ones out, and a catalog a recover would
//! roll back. Nothing a site says is trusted before it is authenticated.

use std::path::{Path, PathBuf};

use crate::util::Env;

/// A folder site with two backups a second apart (two snapshots, the
/// second knowing `new.jpg`), then everything local lost.
struct Lost {
    env: Env,
    site: PathBuf,
    url: String,
    pics: PathBuf,
}

fn two_backups_then_lost() -> Lost {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "family passphrase");
    let site = env.path().join("cloud");
    let url = format!("file://{}", site.display());
    env.add_site("cloud", &url, &[]);
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("old.jpg"), b"an old photo").unwrap();
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(pics.join("new.jpg"), b"the newest photo").unwrap();
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    for f in std::fs::read_dir(env.path()).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.starts_with("lomob.db") || name == "config" {
            let _ = std::fs::remove_file(f.path());
            let _ = std::fs::remove_dir_all(f.path());
        }
    }
    Lost {
        env,
        site,
        url,
        pics,
    }
}

fn objects(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// The real key file with one Argon2 parameter changed.
fn planted_key(real: &Path, field: &str, value: u64) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(real).unwrap()).unwrap();
    v["slots"][0][field] = value.into();
    v.to_string()
}

fn recover(l: &Lost, extra: &[&str]) -> std::process::Output {
    let to = l.env.path().join("restored");
    let mut args = vec!["recover", "--site", &l.url, "--to", to.to_str().unwrap()];
    args.extend_from_slice(extra);
    l.env.run(&args)
}

#[test]
fn planted_key_files_are_skipped_by_name_and_cost_nothing() {
    let l = two_backups_then_lost();
    let keys = l.site.join("lomob/keys");
    let real = objects(&keys, ".json").remove(0);
    // sorted before the real one, so each is tried first
    std::fs::write(
        keys.join("00-memory.json"),
        planted_key(&real, "m_kib", 4_294_967_295),
    )
    .unwrap();
    std::fs::write(
        keys.join("01-time.json"),
        planted_key(&real, "t", 4_294_967_295),
    )
    .unwrap();
    std::fs::write(keys.join("02-junk.json"), "not a key file").unwrap();
    std::fs::write(keys.join("03-huge.json"), vec![b' '; 2 << 20]).unwrap();
    let started = std::time::Instant::now();
    let out = recover(&l, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    for (name, says) in [
        ("00-memory.json", "out of bounds"),
        ("01-time.json", "out of bounds"),
        ("02-junk.json", "key file"),
        ("03-huge.json", "too large for a key file"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not reported: {err}"));
        assert!(line.contains(says) && line.contains("skipped"), "{line}");
    }
    assert_eq!(
        std::fs::read(l.env.path().join("restored/Pictures/new.jpg")).unwrap(),
        b"the newest photo"
    );
}

#[test]
fn when_no_key_file_opens_each_is_named_and_nothing_is_written() {
    let l = two_backups_then_lost();
    let keys = l.site.join("lomob/keys");
    let real = objects(&keys, ".json").remove(0);
    std::fs::write(
        keys.join("00-memory.json"),
        planted_key(&real, "m_kib", 4_294_967_295),
    )
    .unwrap();
    let out = l
        .env
        .cmd(&["recover", "--site", &l.url, "--to", "x"])
        .env("LOMOB_PASSPHRASE", "not the passphrase")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("00-memory.json: ") && err.contains("out of bounds"),
        "{err}"
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!l.env.db().exists());
    assert!(!l.env.path().join("lomob.db.key").exists());
}

#[test]
fn a_renamed_older_snapshot_does_not_roll_the_catalog_back() {
    let l = two_backups_then_lost();
    let catalog = l.site.join("lomob/catalog");
    let snaps = objects(&catalog, ".db.lomo");
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    // the older snapshot renamed to sort last, once alone and once with
    // its note; and junk under a still later name
    let future = catalog.join("29991231T235959Z.db.lomo");
    std::fs::rename(&snaps[0], &future).unwrap();
    std::fs::write(catalog.join("30000101T000000Z.db.lomo"), vec![7u8; 5000]).unwrap();
    let out = recover(&l, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "recovered the catalog from lomob/catalog/{}",
            snaps[1].file_name().unwrap().to_string_lossy()
        )),
        "{err}"
    );
    assert!(l.env.path().join("restored/Pictures/new.jpg").exists());

    // the same with the note renamed along: it names its own snapshot
    for f in ["lomob.db", "lomob.db.key"] {
        std::fs::remove_file(l.env.path().join(f)).unwrap();
    }
    std::fs::remove_dir_all(l.env.path().join("restored")).unwrap();
    let old_note = PathBuf::from(format!("{}.meta", snaps[0].display()));
    std::fs::rename(old_note, format!("{}.meta", future.display())).unwrap();
    let out = recover(&l, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("renamed"), "{err}");
    assert!(l.env.path().join("restored/Pictures/new.jpg").exists());
    let _ = &l.pics;
}

#[test]
fn a_catalog_is_replaced_only_by_a_newer_snapshot_or_with_allow_older() {
    let l = two_backups_then_lost();
    let out = recover(&l, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a backup later, this catalog is newer than any snapshot on the site
    // but the one it just wrote; take that one away
    std::fs::write(l.pics.join("newer.jpg"), b"newer still").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    l.env.ok(&["backup", l.pics.to_str().unwrap()], 0);
    let catalog = l.site.join("lomob/catalog");
    let newest = objects(&catalog, ".db.lomo").pop().unwrap();
    std::fs::remove_file(format!("{}.meta", newest.display())).unwrap();
    std::fs::remove_file(&newest).unwrap();
    let before = std::fs::read(l.env.db()).unwrap();
    let out = recover(&l, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not newer") && err.contains("--allow-older"),
        "{err}"
    );
    assert_eq!(std::fs::read(l.env.db()).unwrap(), before, "left as it was");
    let out = recover(&l, &["--allow-older"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let kept: Vec<_> = std::fs::read_dir(l.env.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("lomob.db.before-recover-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the replaced catalog is kept: {err}");
}

#[test]
fn planted_snapshot_names_never_push_real_snapshots_out() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let site = env.path().join("cloud");
    env.add_site("cloud", &format!("file://{}", site.display()), &[]);
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), b"a").unwrap();
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    let catalog = site.join("lomob/catalog");
    for i in 0..6 {
        std::fs::write(catalog.join(format!("9999010{i}T000000Z.db.lomo")), b"junk").unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    // both real snapshots stay, with their notes; the junk waits until five
    // real ones are there
    assert_eq!(objects(&catalog, ".db.lomo.meta").len(), 2);
    assert_eq!(objects(&catalog, ".db.lomo").len(), 8);
}
