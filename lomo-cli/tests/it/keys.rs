//! Keys belong to catalogs: two libraries with their own passphrases side
//! by side, a catalog refusing another catalog's key, and backups with no
//! folder named falling back to the roots the catalog knows.

use std::process::Output;

use crate::util::Env;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One library: its folder, config, catalog and photo.
struct Library {
    config: String,
    db: String,
}

fn library(env: &Env, name: &str) -> Library {
    let dir = env.path().join(name);
    let photos = dir.join("Photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(
        photos.join(format!("{name}.jpg")),
        format!("photo of {name}"),
    )
    .unwrap();
    let lib = Library {
        config: dir.join("config.toml").display().to_string(),
        db: dir.join("lomob.db").display().to_string(),
    };
    let site = dir.join("site").display().to_string();
    let out = env
        .cmd_without_db(&[
            "--config",
            &lib.config,
            "--db",
            &lib.db,
            "init",
            photos.to_str().unwrap(),
            "--site",
            &site,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    lib
}

fn backup(env: &Env, config: &str, db: &str, pass: &str) -> Output {
    env.cmd_without_db(&["--config", config, "--db", db, "backup"])
        .env("LOMOB_PASSPHRASE", pass)
        .output()
        .unwrap()
}

fn key_id(env: &Env, key_file: &str) -> String {
    let out = env
        .cmd_without_db(&["--json", "key", "--key-file", key_file, "list"])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    v["key_id"].as_str().unwrap().to_owned()
}

#[test]
fn two_libraries_with_two_passphrases_and_a_catalog_refusing_the_other_key() {
    let env = Env::new();
    let a = library(&env, "a");
    let b = library(&env, "b");
    // init wrote each key file's path beside its catalog into its config.
    let text = std::fs::read_to_string(&a.config).unwrap();
    assert!(
        text.contains(&format!("key_file = \"{}.key\"", a.db)),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&a.config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the config may hold credentials");

    for (lib, pass) in [(&a, "first family"), (&b, "second family")] {
        let out = backup(&env, &lib.config, &lib.db, pass);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Each again with its own passphrase: no "wrong passphrase" across them.
    for (lib, pass) in [(&a, "first family"), (&b, "second family")] {
        let out = backup(&env, &lib.config, &lib.db, pass);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (ka, kb) = (
        key_id(&env, &format!("{}.key", a.db)),
        key_id(&env, &format!("{}.key", b.db)),
    );
    assert_ne!(ka, kb);

    // Catalog a with library b's config (and so b's key file): refused,
    // naming both keys, and nothing changes in catalog a.
    let scans = || -> i64 {
        rusqlite::Connection::open(&a.db)
            .unwrap()
            .query_row("SELECT count(*) FROM scans", [], |r| r.get(0))
            .unwrap()
    };
    let before = scans();
    let out = backup(&env, &b.config, &a.db, "second family");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&ka) && err.contains(&kb), "{err}");
    assert!(err.contains("was made with key"), "{err}");
    assert_eq!(scans(), before, "refused before the scan");
}

#[test]
fn a_backup_with_no_folder_named_uses_the_roots_the_catalog_knows() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let photos = env.path().join("Photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("one.jpg"), b"one").unwrap();
    env.ok(&["scan", photos.to_str().unwrap()], 0);
    std::fs::write(photos.join("two.jpg"), b"two").unwrap();
    // No config, no folder named: the catalog's root is backed up.
    let out = env
        .cmd(&["--json", "backup"])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let scan = lines.iter().find(|l| l.get("new").is_some()).unwrap();
    assert_eq!(scan["new"], 1, "two.jpg is new: {scan}");
    assert_eq!(scan["unchanged"], 1);
    let staged = lines.iter().find(|l| l.get("staged").is_some()).unwrap();
    assert_eq!(staged["staged"], 2);
}
