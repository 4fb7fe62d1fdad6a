//! The Go lomo-backup's Google Drive tree restored through the Drive
//! backend, as the Go tool leaves it on the real service: its own OAuth
//! app made the files (full `drive` scope), under
//! `lomorage/<root with '/' → '_'>/<path>`, with the files at the top of
//! the root in nameless folders Drive calls "Untitled" (one per Go run:
//! its folder loop meets an empty segment and creates a folder without a
//! name, since `name = ''` never finds one); names full of spaces, accents,
//! CJK and emoji. Objects encrypted by the independent Python
//! implementation of the Go format.

use std::path::Path;

use bytes::Bytes;
use lomo_remote::testing::drive_fake::{DriveFake, SCOPE_READONLY};

use crate::gdrive::drive_env;
use crate::golomob::{GO_SCHEMA, go_encrypt_file, python_go_encryptor, sha256_hex};

/// (path under the root, where the Go tool put it on Drive, bytes).
fn files() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("IMG 0001.jpg", "Untitled#1", vec![1u8; 90_000]),
        ("Été à la plage.jpg", "Untitled#2", b"plage".repeat(3000)),
        ("a.jpg", "Untitled#2", b"plain name".to_vec()),
        (
            "2024 夏休み/家族写真 🎉.heic",
            "2024 夏休み",
            vec![7u8; 300_000],
        ),
        (
            "2024 夏休み/sub dir/Mom's photo (1).jpg",
            "2024 夏休み/sub dir",
            b"mom".to_vec(),
        ),
        (
            "Vidéos/clip 01.mov",
            "Vidéos",
            (0..6_000_000u32).map(|i| (i % 253) as u8).collect(),
        ),
        ("naïve/ñandú 🐦.png", "naïve", b"bird".repeat(100)),
    ]
}

fn go_encrypt(go_py: &Path, key: &Path, data: &[u8], dir: &Path) -> Vec<u8> {
    let (src, dst) = (dir.join("plain"), dir.join("sealed"));
    std::fs::write(&src, data).unwrap();
    go_encrypt_file(go_py, key, &src, &dst);
    std::fs::read(dst).unwrap()
}

/// The Go catalog for `files` under `root`, all on Drive (iso_id -1).
fn go_catalog(db: &Path, root: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(GO_SCHEMA).unwrap();
    let now = "2024-02-03 10:00:00+00:00";
    c.execute(
        "INSERT INTO dirs (id, path, scan_root_dir_id, create_time) VALUES (1, ?1, 0, ?2)",
        rusqlite::params![root.to_str().unwrap(), now],
    )
    .unwrap();
    for (rel, _, data) in files() {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        c.execute(
            "INSERT OR IGNORE INTO dirs (path, scan_root_dir_id, create_time) VALUES (?1, 1, ?2)",
            rusqlite::params![dir, now],
        )
        .unwrap();
        let dir_id: i64 = c
            .query_row(
                "SELECT id FROM dirs WHERE path = ?1 AND scan_root_dir_id = 1",
                [dir],
                |r| r.get(0),
            )
            .unwrap();
        c.execute(
            "INSERT INTO files (dir_id, iso_id, name, ext, size, hash, mod_time, create_time) \
             VALUES (?1, -1, ?2, 'jpg', ?3, ?4, '2024-02-03 04:05:06.5+00:00', ?5)",
            rusqlite::params![dir_id, name, data.len() as i64, sha256_hex(&data), now],
        )
        .unwrap();
    }
}

/// The Go tool's tree on Drive, made by its own app.
fn go_drive_tree(fake: &DriveFake, root: &Path, sealed: &[(String, Vec<u8>)]) {
    let mut s = fake.state.lock().unwrap();
    let lomorage = s.seed("root", Some("lomorage"), None);
    let flat = root
        .to_string_lossy()
        .trim_start_matches('/')
        .replace('/', "_");
    let top = s.seed(&lomorage, Some(&flat), None);
    let mut folders = std::collections::HashMap::new();
    for (rel, at, _) in files() {
        let folder = folders.entry(at).or_insert_with(|| {
            if at.starts_with("Untitled#") {
                return s.seed(&top, None, None);
            }
            let mut parent = top.clone();
            for seg in at.split('/') {
                let existing = s
                    .files
                    .values()
                    .find(|f| f.name == seg && f.parents.contains(&parent))
                    .map(|f| f.id.clone());
                parent = existing.unwrap_or_else(|| s.seed(&parent, Some(seg), None));
            }
            parent
        });
        let folder = folder.clone();
        let name = rel.rsplit('/').next().unwrap();
        let data = &sealed.iter().find(|(r, _)| r == rel).unwrap().1;
        s.seed(&folder, Some(name), Some(Bytes::from(data.clone())));
    }
}

#[test]
fn the_go_tools_drive_tree_restores_byte_identical_with_a_readonly_sign_in() {
    let Some(go_py) = python_go_encryptor() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(DriveFake::start());
    // A Drive site signed in with lomob's default scope, drive.file.
    let env = drive_env(&fake);
    let root = env.path().join("home/Pictures");
    let key = env.path().join("go-master-key");
    std::fs::write(&key, "my Go master key").unwrap();
    let sealed: Vec<(String, Vec<u8>)> = files()
        .into_iter()
        .map(|(rel, _, data)| (rel.to_owned(), go_encrypt(&go_py, &key, &data, env.path())))
        .collect();
    go_drive_tree(&fake, &root, &sealed);
    let go_db = env.path().join("go-lomob.db");
    go_catalog(&go_db, &root);

    let token = env.path().join("config/lomob/gdrive-token.json");
    let imported = env.json(
        &[
            "import-lomob",
            go_db.to_str().unwrap(),
            "--drive-site",
            "drive",
        ],
        0,
    );
    assert_eq!(imported[0]["on_drive"], 7, "{imported:?}");

    // Signed in with drive.file (lomob's default), the Go app's files are
    // invisible, and the error says what to do.
    let to = env.path().join("restored");
    let restore = || {
        env.cmd(&["restore", "Pictures", "--to", to.to_str().unwrap()])
            .env("LOMOB_MASTER_KEY", "my Go master key")
            .output()
            .unwrap()
    };
    let out = restore();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--scope drive.readonly"), "{err}");
    assert!(
        err.contains("Untitled/IMG 0001.jpg"),
        "both places named: {err}"
    );

    // Signed in read-only for everything: each file comes back as it was.
    std::fs::write(&token, fake.token_json_scope(SCOPE_READONLY)).unwrap();
    let out = restore();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (rel, _, data) in files() {
        let p = to.join("Pictures").join(rel);
        assert!(std::fs::read(&p).unwrap() == data, "{rel}");
        assert_eq!(
            std::fs::metadata(&p).unwrap().modified().unwrap(),
            crate::util::at(1_706_933_106),
            "{rel} gets its mtime back"
        );
    }
    let log = fake.state.lock().unwrap().log.clone();
    assert!(
        !log.iter()
            .any(|l| !l.starts_with("GET ") && !l.contains("/token")),
        "a read-only restore writes nothing: {log:?}"
    );
}
