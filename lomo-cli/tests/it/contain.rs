//! Hostile inputs that name files: each test starts from the input an
//! attacker would hand lomob (a foreign catalog, a tampered catalog, an
//! image made by genisoimage, a tar made by Python's tarfile) and checks,
//! by a listing with modes and hashes of the parent folder before and
//! after, that nothing outside the target was written or changed; where the
//! input is refused, that the error says which entry and why.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Env, listing, require};

/// The listing of everything in `env` but `target` and lomob's own
/// catalog files (which a restore legitimately updates).
fn around(env: &Env, target: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut l = listing(env.path(), Some(target));
    l.retain(|p, _| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("lomob.db"))
    });
    l
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A Go lomo-backup catalog (the tables the import reads) with these files
/// in its root folder, as `(dir_path, name)`; the root is `/home/me/Pictures`.
fn go_catalog(path: &Path, files: &[(&str, &str)]) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "CREATE TABLE dirs (id INTEGER PRIMARY KEY, path VARCHAR, scan_root_dir_id INTEGER);
         CREATE TABLE files (id INTEGER PRIMARY KEY, dir_id INTEGER, iso_id INTEGER, name VARCHAR,
           size INTEGER, hash VARCHAR, mod_time TIMESTAMP);
         CREATE TABLE isos (id INTEGER PRIMARY KEY, name VARCHAR, status INTEGER);
         INSERT INTO dirs VALUES (1, '/home/me/Pictures', 0), (2, '', 1);",
    )
    .unwrap();
    for (i, (dir, name)) in files.iter().enumerate() {
        let dir_id: i64 = if dir.is_empty() {
            2
        } else {
            db.execute(
                "INSERT INTO dirs (path, scan_root_dir_id) VALUES (?1, 1)",
                [dir],
            )
            .unwrap();
            db.last_insert_rowid()
        };
        db.execute(
            "INSERT INTO files VALUES (?1, ?2, -1, ?3, 5, ?4, 1700000000)",
            rusqlite::params![i as i64 + 1, dir_id, name, "00".repeat(32)],
        )
        .unwrap();
    }
}

#[test]
fn a_foreign_catalog_naming_files_outside_is_refused_naming_the_row() {
    let env = Env::new();
    env.add_site(
        "drive",
        &format!("file://{}", env.path().join("drive").display()),
        &["--role", "staging"],
    );
    for (files, says) in [
        (
            vec![("", "ok.jpg"), ("", "/absolute/elsewhere/pwned.txt")],
            "row 2 of files",
        ),
        (vec![("", "../../pwned.txt")], "`..`"),
        (vec![("album/../..", "pwned.txt")], "row 3 of dirs"),
        (vec![("", "a\0b.jpg")], "NUL"),
        (vec![("album//x", "b.jpg")], "empty part"),
    ] {
        let go = env.path().join("go.db");
        let _ = std::fs::remove_file(&go);
        go_catalog(&go, &files);
        let before = around(&env, &go);
        let out = env.run(&[
            "import-lomob",
            go.to_str().unwrap(),
            "--drive-site",
            "drive",
        ]);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{files:?}: {err}");
        assert!(
            err.contains("refused") && err.contains(says),
            "{files:?}: {err}"
        );
        assert!(err.contains("nothing was imported"), "{err}");
        assert_eq!(around(&env, &go), before, "{files:?}");
    }
    let db = rusqlite::Connection::open(env.db()).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM go_files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "nothing imported");
}

#[test]
fn a_go_catalog_that_is_a_view_is_refused_before_it_is_read() {
    let env = Env::new();
    let go = env.path().join("go.db");
    go_catalog(&go, &[("", "a.jpg")]);
    let db = rusqlite::Connection::open(&go).unwrap();
    // a view that would fill the temp disk if it were ever run
    db.execute_batch(
        "ALTER TABLE files RENAME TO real_files;
         CREATE VIEW files AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
           SELECT i AS id, 2 AS dir_id, -1 AS iso_id, 'f' || i AS name, 1 AS size,
                  '' AS hash, 0 AS mod_time FROM n ORDER BY i DESC;",
    )
    .unwrap();
    drop(db);
    let started = std::time::Instant::now();
    let out = env.run(&["import-lomob", go.to_str().unwrap()]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("files is a view, not a table"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// Backs up one photo to the default folder site; returns the Pictures root.
fn one_photo_backed_up(env: &Env) -> PathBuf {
    let pics = env.path().join("home/Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), b"a photo").unwrap();
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    pics
}

#[test]
fn a_tampered_catalog_cannot_restore_outside_the_folder() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    one_photo_backed_up(&env);
    let db = rusqlite::Connection::open(env.db()).unwrap();
    // a snapshot or a copied catalog may say anything: a label leading out,
    // and Go rows from before names were checked on import (on the Drive
    // path, directories used to be made outside before the restore failed)
    db.execute("UPDATE roots SET label = '../../outside'", [])
        .unwrap();
    db.execute(
        "INSERT INTO go_files (root, rel, size, mtime, sha256, iso, on_drive, site)
         VALUES (CAST('/home/me' AS BLOB), CAST('../../../outside/deep/pwned.txt' AS BLOB), 5, 0, ?1, NULL, 1, 'local'),
                (CAST('/home/me' AS BLOB), CAST('/absolute/elsewhere/pwned.txt' AS BLOB), 5, 0, ?1, NULL, 1, 'local')",
        [format!("{:064}", 0)],
    )
    .unwrap();
    drop(db);
    let to = env.path().join("work/restored");
    std::fs::create_dir_all(&to).unwrap();
    let before = around(&env, &to);
    let out = env
        .cmd(&["restore", "/", "--to", to.to_str().unwrap()])
        .env("LOMOB_MASTER_KEY", "go key")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("`..` would leave the restore folder"), "{err}");
    assert!(err.contains("an absolute name"), "{err}");
    assert_eq!(around(&env, &to), before);
    assert!(!Path::new("/absolute/elsewhere").exists());
    assert_eq!(
        std::fs::read_dir(&to).unwrap().count(),
        0,
        "nothing restored"
    );
}

#[test]
fn restored_symlinks_that_lead_out_are_reported_not_created() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let pics = env.path().join("home/Pictures");
    std::fs::create_dir_all(pics.join("d1")).unwrap();
    std::fs::write(pics.join("a.jpg"), b"a photo").unwrap();
    // restored as Pictures/…: `esc` lands on the restore folder itself
    // (inside), `climb` on its parent (outside) — only through `d1/up`,
    // which a textual check does not see
    for (target, at) in [
        ("..", "d1/up"),
        ("d1/up/..", "esc"),
        ("d1/up/../..", "climb"),
        ("/etc/passwd", "abs"),
        ("a.jpg", "same.jpg"),
    ] {
        std::os::unix::fs::symlink(target, pics.join(at)).unwrap();
    }
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    let to = env.path().join("restored");
    let before = around(&env, &to);
    let out = env.run(&["restore", "/", "--to", to.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused Pictures/climb: a symlink to d1/up/../..: it leads outside"),
        "{err}"
    );
    assert!(
        err.contains(
            "refused Pictures/abs: a symlink to /etc/passwd: it points to an absolute path"
        ),
        "{err}"
    );
    assert!(!err.contains("Pictures/esc"), "{err}");
    assert_eq!(around(&env, &to), before);
    let r = to.join("Pictures");
    assert_eq!(std::fs::read(r.join("same.jpg")).unwrap(), b"a photo");
    assert_eq!(
        std::fs::read_link(r.join("d1/up")).unwrap(),
        PathBuf::from("..")
    );
    assert_eq!(
        std::fs::read_link(r.join("esc")).unwrap(),
        PathBuf::from("d1/up/..")
    );
    assert!(std::fs::symlink_metadata(r.join("climb")).is_err());
    assert!(std::fs::symlink_metadata(r.join("abs")).is_err());
}

/// genisoimage -R of the review's tree: `d1/up -> ..`, `esc -> d1/up/..`,
/// and a chain of `up` links ending at /etc/passwd.
fn hostile_iso(dir: &Path) -> Option<PathBuf> {
    let genisoimage = require("genisoimage")?;
    let src = dir.join("isosrc");
    std::fs::create_dir_all(src.join("d1/d2")).unwrap();
    std::fs::write(src.join("d1/photo.jpg"), b"p").unwrap();
    for (target, at) in [
        ("..", "d1/up"),
        ("..", "d1/d2/up"),
        ("d1/up/..", "esc"),
        ("d1/d2/up/up/../etc/passwd", "pw"),
    ] {
        std::os::unix::fs::symlink(target, src.join(at)).unwrap();
    }
    let img = dir.join("hostile.iso");
    let ok = Command::new(genisoimage)
        .args(["-quiet", "-R", "-o"])
        .arg(&img)
        .arg(&src)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    std::fs::remove_dir_all(&src).unwrap();
    Some(img)
}

/// A tar.gz written by Python's tarfile from `script` (which adds members
/// to `t`), sealed with `lomob crypt seal --raw`.
fn hostile_box(env: &Env, name: &str, script: &str) -> PathBuf {
    let tgz = env.path().join(format!("{name}.tgz"));
    let code = format!(
        "import io, tarfile\n\
         t = tarfile.open({:?}, 'w:gz')\n\
         def f(name, data=b'x', kind=tarfile.REGTYPE, mode=0o644):\n    \
             i = tarfile.TarInfo(name); i.type = kind; i.mode = mode; i.size = len(data) if kind == tarfile.REGTYPE else 0\n    \
             t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)\n\
         {script}\n\
         t.close()\n",
        tgz.to_str().unwrap()
    );
    let ok = Command::new("python3")
        .args(["-c", &code])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{code}");
    let sealed = env.path().join(format!("{name}.box"));
    env.ok(
        &[
            "crypt",
            "seal",
            "--raw",
            "--low",
            tgz.to_str().unwrap(),
            "-o",
            sealed.to_str().unwrap(),
        ],
        0,
    );
    std::fs::remove_file(tgz).unwrap();
    sealed
}

#[test]
fn iso_extract_never_creates_a_link_that_leads_out_and_crypt_open_never_follows_one() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let Some(img) = hostile_iso(env.path()) else {
        return;
    };
    let dest = env.path().join("dest");
    let before = listing(env.path(), Some(&dest));
    let out = env.run(&[
        "iso",
        "extract",
        img.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("symlink \"esc\" -> \"d1/up/..\" not created"),
        "{err}"
    );
    assert!(err.contains("symlink \"pw\""), "{err}");
    assert_eq!(listing(env.path(), Some(&dest)), before);
    assert_eq!(std::fs::read(dest.join("d1/photo.jpg")).unwrap(), b"p");
    // a link another tool left in the target, leading out
    std::fs::create_dir_all(env.path().join("outside")).unwrap();
    std::os::unix::fs::symlink("../outside", dest.join("out")).unwrap();
    let sealed = hostile_box(&env, "through", "f('out/pwned.txt')\nf('esc/pwned.txt')");
    let before = listing(env.path(), Some(&dest));
    let inside = listing(&dest, None);
    let out = env.run(&[
        "crypt",
        "open",
        "--low",
        sealed.to_str().unwrap(),
        "-C",
        dest.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("out/pwned.txt") && err.contains("symlink"),
        "{err}"
    );
    assert_eq!(listing(env.path(), Some(&dest)), before);
    assert_eq!(
        listing(&dest, None),
        inside,
        "nothing written in the target either"
    );
}

#[test]
fn tar_unpack_refuses_links_in_the_target_duplicates_and_file_then_child() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let outside = env.path().join("outside");
    let dir = env.path().join("a/b/target");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(
        &outside,
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../../outside", dir.join("link")).unwrap();
    let cases = [
        ("file-through-link", "f('link/evil.txt')", "symlink"),
        (
            "dir-at-link",
            "f('link', kind=tarfile.DIRTYPE, mode=0o777)",
            "symlink",
        ),
        (
            "duplicate",
            "f('new.txt', b'1')\nf('new.txt', b'2')",
            "twice",
        ),
        (
            "file-then-child",
            "f('pic')\nf('pic/x.jpg')",
            "also a folder",
        ),
        (
            "dot-dot",
            "f('ok.txt')\nf('../../escape.txt')",
            "leaves the target",
        ),
    ];
    for (name, script, says) in cases {
        let sealed = hostile_box(&env, name, script);
        let before = listing(env.path(), None);
        let out = env.run(&[
            "crypt",
            "open",
            "--low",
            sealed.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert_eq!(
            listing(env.path(), None),
            before,
            "{name}: nothing changed anywhere"
        );
    }
}
