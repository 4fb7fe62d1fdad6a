//! `lomob import-lomob` and restoring what the Go lomo-backup uploaded.
//!
//! The Go side is built here as the Go tool leaves it: its catalog with the
//! schema of lomo-backup's `common/dbx/schema/1.sql`, an ISO holding the
//! files under `/<scan root with '/' → '_'>/…`, encrypted in the Go format
//! by lomo-crypt's independent Python implementation
//! (`lomo-crypt/tests/vectors/go_lomob.py`), at the bucket's top level; and
//! a file it put on Google Drive, one Go object at `<root with '/' → '_',
//! no leading '_'>/<path>` under the Drive folder. A folder site stands in
//! for that Drive folder here (the Drive backend is tested against its fake
//! in gdrive.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

use crate::util::{Env, integration};

pub(crate) const GO_SCHEMA: &str = r#"
CREATE TABLE dirs (id INTEGER PRIMARY KEY AUTOINCREMENT, path VARCHAR NOT NULL,
  scan_root_dir_id INTEGER NOT NULL, mod_time TIMESTAMP, create_time TIMESTAMP NOT NULL,
  UNIQUE(scan_root_dir_id, path));
CREATE TABLE files (id INTEGER PRIMARY KEY AUTOINCREMENT, dir_id INTEGER NOT NULL,
  iso_id INTEGER NOT NULL DEFAULT 0, name VARCHAR NOT NULL, ext VARCHAR NOT NULL,
  size INTEGER NOT NULL, hash VARCHAR NOT NULL, hash_enc VARCHAR DEFAULT "" NOT NULL,
  mod_time TIMESTAMP NOT NULL, create_time TIMESTAMP NOT NULL, UNIQUE(dir_id, name));
CREATE TABLE isos (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR NOT NULL UNIQUE,
  region VARCHAR DEFAULT "" NOT NULL, bucket VARCHAR DEFAULT "" NOT NULL,
  size INTEGER NOT NULL, status INTEGER NOT NULL, hash_hex VARCHAR NOT NULL,
  hash_base64 VARCHAR DEFAULT "" NOT NULL, hash_enc VARCHAR DEFAULT "" NOT NULL,
  upload_key VARCHAR DEFAULT "" NOT NULL, upload_id VARCHAR DEFAULT "" NOT NULL,
  create_time TIMESTAMP NOT NULL);
"#;

pub(crate) fn python_go_encryptor() -> Option<PathBuf> {
    let ok = Command::new("python3")
        .args(["-c", "import argon2, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !integration(),
            "python3 with argon2-cffi and cryptography is required (scripts/test installs them)"
        );
        eprintln!("skipping: python3 argon2-cffi/cryptography missing");
        return None;
    }
    Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../lomo-crypt/tests/vectors/go_lomob.py"))
}

/// Encrypts `src` into `dst` as the Go tool does (the Python implementation).
pub(crate) fn go_encrypt_file(go_py: &Path, key: &Path, src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(go_py)
        .arg("encrypt")
        .args([key, src, dst])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The Go tool's leftovers: its catalog, an encrypted ISO (in `bucket`),
/// and a Drive folder with one encrypted file.
struct GoWorld {
    env: Env,
    files: [(&'static str, Vec<u8>, i64); 4],
    go_db: PathBuf,
    bucket: PathBuf,
    drive: PathBuf,
    iso_name: &'static str,
}

fn go_world() -> Option<GoWorld> {
    let go_py = python_go_encryptor()?;
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let root = env.path().join("home/Pictures");
    let files: [(&'static str, Vec<u8>, i64); 4] = [
        ("a.jpg", vec![1u8; 70_000], 1),
        ("sub/b.jpg", b"second photo".to_vec(), 1),
        ("c.jpg", b"never uploaded".to_vec(), 0),
        ("d.jpg", b"on drive".to_vec(), -1),
    ];
    // The Go tool's ISO: the uploaded files under /<root with '/' -> '_'>/.
    let iso_src = env.path().join("isosrc");
    let inside = iso_src.join(root.to_string_lossy().replace('/', "_"));
    for (rel, data, iso) in &files {
        if *iso == 1 {
            std::fs::create_dir_all(inside.join(rel).parent().unwrap()).unwrap();
            std::fs::write(inside.join(rel), data).unwrap();
        }
    }
    let encrypt = |src: &Path, dst: &Path| {
        go_encrypt_file(&go_py, &env.path().join("go-master-key"), src, dst);
    };
    std::fs::write(env.path().join("go-master-key"), "my Go master key").unwrap();
    let drive = env.path().join("drive-folder");
    let d_plain = env.path().join("d.plain");
    std::fs::write(&d_plain, &files[3].1).unwrap();
    encrypt(
        &d_plain,
        &drive
            .join(
                root.to_string_lossy()
                    .replace('/', "_")
                    .trim_start_matches('_'),
            )
            .join("d.jpg"),
    );
    let plain_iso = env.path().join("go.iso");
    env.ok(
        &[
            "iso",
            "build",
            iso_src.to_str().unwrap(),
            "-o",
            plain_iso.to_str().unwrap(),
        ],
        0,
    );
    let iso_name = "2024-01-01--2024-02-03.iso";
    let bucket = env.path().join("old-bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    encrypt(&plain_iso, &bucket.join(iso_name));

    // The Go catalog.
    let go_db = env.path().join("go-lomob.db");
    let db = rusqlite::Connection::open(&go_db).unwrap();
    db.execute_batch(GO_SCHEMA).unwrap();
    let now = "2024-02-03 10:00:00+00:00";
    db.execute(
        "INSERT INTO dirs (id, path, scan_root_dir_id, create_time) VALUES (1, ?1, 0, ?2), (2, '', 1, ?2), (3, 'sub', 1, ?2)",
        rusqlite::params![root.to_str().unwrap(), now],
    )
    .unwrap();
    db.execute(
        "INSERT INTO isos (id, name, size, status, hash_hex, create_time) VALUES (1, ?1, ?2, 3, '', ?3)",
        rusqlite::params![iso_name, std::fs::metadata(&plain_iso).unwrap().len() as i64, now],
    )
    .unwrap();
    for (rel, data, iso) in &files {
        let (dir, name) = match rel.split_once('/') {
            Some((_, n)) => (3, n),
            None => (2, *rel),
        };
        db.execute(
            "INSERT INTO files (dir_id, iso_id, name, ext, size, hash, mod_time, create_time) \
             VALUES (?1, ?2, ?3, 'jpg', ?4, ?5, '2024-02-03 04:05:06.5+00:00', ?6)",
            rusqlite::params![dir, iso, name, data.len() as i64, sha256_hex(data), now],
        )
        .unwrap();
    }
    drop(db);
    Some(GoWorld {
        env,
        files,
        go_db,
        bucket,
        drive,
        iso_name,
    })
}

#[test]
fn files_the_go_tool_uploaded_are_imported_and_restored() {
    let Some(GoWorld {
        env,
        files,
        go_db,
        bucket,
        drive,
        iso_name,
    }) = go_world()
    else {
        return;
    };
    env.add_site(
        "old",
        &format!("file://{}", bucket.display()),
        &["--role", "archive"],
    );
    env.add_site(
        "drive",
        &format!("file://{}", drive.display()),
        &["--role", "staging"],
    );
    let imported = env.json(
        &[
            "import-lomob",
            go_db.to_str().unwrap(),
            "--site",
            "old",
            "--drive-site",
            "drive",
        ],
        0,
    );
    assert_eq!(
        (
            &imported[0]["imported"],
            &imported[0]["in_isos"],
            &imported[0]["on_drive"],
            &imported[0]["not_uploaded"]
        ),
        (&4.into(), &2.into(), &1.into(), &1.into()),
        "{imported:?}"
    );

    // The house burnt down: no Pictures, only the bucket and the keys.
    let to = env.path().join("restored");
    let wrong = env
        .cmd(&["restore", "Pictures", "--to", to.to_str().unwrap()])
        .env("LOMOB_MASTER_KEY", "not the key")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("wrong LOMOB_MASTER_KEY"), "{err}");
    assert!(
        !to.join("Pictures/a.jpg").exists(),
        "nothing restored with a wrong key"
    );

    let out = env
        .cmd(&[
            "--json",
            "restore",
            "Pictures",
            "--to",
            to.to_str().unwrap(),
        ])
        .env("LOMOB_MASTER_KEY", "my Go master key")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one file cannot come back: {err}"
    );
    assert!(
        err.contains("Pictures/c.jpg: the Go tool never uploaded it"),
        "{err}"
    );
    assert_eq!(err.matches("lomob: error:").count(), 1, "{err}");
    for (rel, data, iso) in &files {
        if *iso != 0 {
            let p = to.join("Pictures").join(rel);
            assert_eq!(&std::fs::read(&p).unwrap(), data, "{rel}");
            assert_eq!(
                std::fs::metadata(&p).unwrap().modified().unwrap(),
                crate::util::at(1_706_933_106),
                "{rel} gets its mtime back"
            );
        }
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("\"from\":\"old in Go ISO {iso_name}\"")),
        "{text}"
    );
    assert!(
        text.contains("\"from\":\"drive (Go tool's Drive copy)\""),
        "{text}"
    );
}

/// A Go ISO in S3 Glacier Deep Archive (moto): the first restore asks for a
/// readable copy and says so; the next one brings the files back.
#[test]
fn a_go_iso_in_deep_archive_is_restored_after_a_restore_request() {
    use lomo_remote::testing as servers;
    let Some(w) = go_world() else { return };
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "gocold");
    let site = servers::s3_site(moto.port, "gocold", "", "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(site.put(
        w.iso_name,
        bytes::Bytes::from(std::fs::read(w.bucket.join(w.iso_name)).unwrap()),
        &lomo_remote::PutOptions::default().with_storage_class(Some("DEEP_ARCHIVE".into())),
    ))
    .unwrap();
    let env = w.env.with_moto_credentials();
    env.add_site(
        "gocold",
        &format!(
            "s3://gocold?region=us-east-1&endpoint=http://127.0.0.1:{}",
            moto.port
        ),
        &["--role", "archive"],
    );
    env.ok(
        &[
            "import-lomob",
            w.go_db.to_str().unwrap(),
            "--site",
            "gocold",
        ],
        0,
    );
    let to = env.path().join("restored");
    let restore = || {
        env.cmd(&[
            "restore",
            "Pictures/a.jpg",
            "Pictures/sub",
            "--to",
            to.to_str().unwrap(),
        ])
        .env("LOMOB_MASTER_KEY", "my Go master key")
        .output()
        .unwrap()
    };
    let first = restore();
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{err}");
    assert!(err.contains("a restore (Bulk tier) was requested"), "{err}");
    assert!(!to.join("Pictures/a.jpg").exists());
    // moto makes restored copies readable at once (AWS: hours).
    let second = restore();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    for (rel, data, _) in &w.files[..2] {
        assert_eq!(&std::fs::read(to.join("Pictures").join(rel)).unwrap(), data);
    }
}
