//! S3 Object Lock on archive sites, on moto buckets created with Object
//! Lock enabled. Every claim is read back with a plain S3 client (no lomob
//! code): archives carry the configured retention, the site's own
//! credentials cannot delete them, staged objects stay unlocked and leave
//! no version behind, a retention shortened behind lomob's back is found by
//! `check --archives` and extended by `repair`, and a locked site alone,
//! its unlocked catalog snapshots and key files deleted, still recovers.

use lomo_remote::testing::{self as servers, lock as moto};

use crate::util::{Env, same_tree};

const YEAR: i64 = 365 * 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn url(port: u16, bucket: &str) -> String {
    format!("s3://{bucket}/home?region=us-east-1&endpoint=http://127.0.0.1:{port}")
}

fn photos(env: &Env) -> std::path::PathBuf {
    let pics = env.path().join("Pictures");
    for d in ["2020", "2021"] {
        std::fs::create_dir_all(pics.join(d)).unwrap();
        for i in 0..5u32 {
            let data: Vec<u8> = (0..160_000 + i * 7).map(|b| (b ^ (i * 29)) as u8).collect();
            std::fs::write(pics.join(format!("{d}/IMG_{i}.jpg")), data).unwrap();
        }
    }
    pics
}

/// Keys (without the bucket) of the current, non-marker versions under
/// `prefix`.
fn current(port: u16, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = moto::versions(port, bucket, prefix)
        .into_iter()
        .filter(|v| !v.marker)
        .map(|v| v.key)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A plain client's DELETE without a version: on a versioned bucket a
/// delete marker that hides the object, as ransomware would do.
fn hide(port: u16, bucket: &str, key: &str) {
    let (status, head, _) = servers::raw(
        port,
        "DELETE",
        &format!("/{bucket}/{key}"),
        &[("Authorization", servers::MOTO_AUTH)],
        b"",
    );
    assert_eq!(status, 204, "DELETE {key}: {head}");
}

#[test]
fn a_bucket_without_object_lock_is_refused_for_lock() {
    let Some(m) = servers::moto() else { return };
    servers::create_bucket(m.port, "plainbucket");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_moto_credentials();
    let out = env.run(&[
        "site",
        "add",
        "cloud",
        &url(m.port, "plainbucket"),
        "--role",
        "archive",
        "--lock",
        "10y",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("bucket plainbucket does not have S3 Object Lock enabled")
            && err.contains("--object-lock-enabled-for-bucket"),
        "{err}"
    );
    let sites = env.json(&["site", "list"], 0);
    assert!(sites.is_empty(), "nothing was configured: {sites:?}");
    // A lock on a folder site means nothing and is refused too.
    let folder = format!("file://{}", env.path().join("nas").display());
    let out = env.run(&["site", "add", "nas", &folder, "--lock", "10y"]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn locked_archives_survive_their_own_credentials_and_a_locked_site_alone_recovers() {
    let Some(m) = servers::moto() else { return };
    moto::create_locked_bucket(m.port, "vault");
    moto::create_locked_bucket(m.port, "govvault");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "a family passphrase")
        .with_moto_credentials();
    let added = env.add_site(
        "vault",
        &url(m.port, "vault"),
        &["--role", "both", "--lock", "10y"],
    );
    assert!(
        added.contains("archives locked COMPLIANCE for 10 years")
            && added.contains("Object Lock enabled on bucket vault"),
        "{added}"
    );
    env.add_site(
        "gov",
        &url(m.port, "govvault"),
        &[
            "--role",
            "archive",
            "--lock",
            "10y",
            "--lock-mode",
            "governance",
        ],
    );
    let tested = env.ok(&["site", "test", "vault"], 0);
    assert!(tested.contains("lock"), "{tested}");

    let pics = photos(&env);
    let started = now();
    env.ok(&["backup", pics.to_str().unwrap(), "--pack-size", "1MB"], 0);

    // Archives: COMPLIANCE for at least ten years from their upload.
    let archives = current(m.port, "vault", "home/lomob/archives/");
    assert!(archives.len() >= 2, "{archives:?}");
    for key in &archives {
        let (mode, until) = moto::lock_of(m.port, "vault", key).expect(key);
        assert_eq!(mode, "COMPLIANCE", "{key}");
        assert!(until >= started + 10 * YEAR, "{key}: until {until}");
    }
    for key in current(m.port, "govvault", "home/lomob/archives/") {
        let (mode, until) = moto::lock_of(m.port, "govvault", &key).expect(&key);
        assert_eq!(mode, "GOVERNANCE", "{key}");
        assert!(until >= started + 10 * YEAR, "{key}");
    }

    // The site's own credentials cannot delete an archive's version.
    let v = moto::versions(m.port, "vault", &archives[0]);
    assert_eq!(
        moto::delete_version(m.port, "vault", &archives[0], &v[0].id),
        403
    );
    assert_eq!(moto::versions(m.port, "vault", &archives[0]), v);

    // Staged objects were never locked, and released leave nothing behind:
    // no version, no delete marker.
    let staged = moto::versions(m.port, "vault", "home/lomob/staging/");
    assert!(staged.is_empty(), "{staged:?}");
    // The newest snapshot and key file, also under locked, dated names.
    let locked = current(m.port, "vault", "home/lomob/locked/");
    assert!(
        locked.iter().any(|k| k.contains("/locked/keys/"))
            && locked.iter().any(|k| k.contains("/locked/catalog/")),
        "{locked:?}"
    );
    for key in &locked {
        let (mode, _) = moto::lock_of(m.port, "vault", key).expect(key);
        assert_eq!(mode, "COMPLIANCE", "{key}");
    }
    for key in current(m.port, "vault", "home/lomob/catalog/") {
        assert_eq!(moto::lock_of(m.port, "vault", &key), None, "{key}");
    }

    check_finds_a_shortened_lock_and_repair_extends_it(&env, m.port);

    let cost = env.ok(&["cost"], 0);
    assert!(
        cost.contains("object lock        COMPLIANCE for 10 years"),
        "{cost}"
    );
    assert!(
        cost.contains("object lock        GOVERNANCE for 10 years"),
        "{cost}"
    );
    assert!(
        cost.contains("early deletion $0.00") && cost.contains("retention extensions"),
        "{cost}"
    );
    let json = env.json(&["cost"], 0);
    let vault = json.iter().find(|c| c["site"] == "vault").unwrap();
    assert_eq!(vault["lock"]["mode"], "compliance", "{vault}");
    assert!(
        vault["lock"]["locked_bytes"].as_u64().unwrap() > 0,
        "{vault}"
    );

    recover_from_the_locked_site_alone(&env, m.port, &pics);
}

fn check_finds_a_shortened_lock_and_repair_extends_it(env: &Env, port: u16) {
    let clean = env.ok(&["check", "--archives"], 0);
    assert!(clean.contains("vault: lock "), "{clean}");
    let target = current(port, "govvault", "home/lomob/archives/")
        .into_iter()
        .next()
        .unwrap();
    moto::shorten_retention(port, "govvault", &target, &moto::iso_of(now() + 86_400));

    let found = env.json(&["check", "--archives"], 1);
    let locks: Vec<_> = found.iter().filter(|f| f["kind"] == "lock").collect();
    assert_eq!(locks.len(), 1, "{found:?}");
    assert_eq!(locks[0]["site"], "gov", "{locks:?}");
    let detail = locks[0]["detail"].as_str().unwrap();
    assert!(detail.contains("GOVERNANCE"), "{detail}");

    let done = env.json(&["repair"], 0);
    let repaired: Vec<_> = done.iter().filter(|a| a["outcome"] == "repaired").collect();
    assert_eq!(repaired.len(), 1, "{done:?}");
    let (mode, until) = moto::lock_of(port, "govvault", &target).unwrap();
    assert_eq!(mode, "GOVERNANCE");
    assert!(until >= now() + 10 * YEAR - 86_400, "extended: {until}");
    env.ok(&["check", "--archives"], 0);

    // A plain DELETE hides the archive behind a delete marker: `repair`
    // removes the marker (no re-upload), and the locked version is back.
    hide(port, "govvault", &target);
    let found = env.json(&["check", "--archives"], 1);
    assert!(found.iter().any(|f| f["kind"] == "missing"), "{found:?}");
    let done = env.json(&["repair"], 0);
    let acts: Vec<_> = done.iter().filter(|a| a.get("outcome").is_some()).collect();
    assert_eq!(acts.len(), 1, "{done:?}");
    assert_eq!(acts[0]["outcome"], "repaired", "{done:?}");
    let source = acts[0]["source"].as_str().unwrap();
    assert!(source.contains("delete marker"), "{source}");
    let versions = moto::versions(port, "govvault", &target);
    assert!(versions.iter().all(|v| !v.marker), "{versions:?}");
    env.ok(&["check", "--archives"], 0);
}

/// Ransomware deletes everything it can (a plain DELETE of every object:
/// the unlocked snapshots and key files go, the locked archives and their
/// dated copies are only hidden behind delete markers) and the home
/// machine is gone: `recover` brings the hidden ones back and restores.
fn recover_from_the_locked_site_alone(env: &Env, port: u16, pics: &std::path::Path) {
    let prefixes = [
        "home/lomob/catalog/",
        "home/lomob/keys/",
        "home/lomob/locked/",
        "home/lomob/archives/",
    ];
    for prefix in prefixes {
        let keys = current(port, "vault", prefix);
        assert!(!keys.is_empty(), "{prefix}");
        for key in keys {
            hide(port, "vault", &key);
        }
    }
    std::fs::remove_dir_all(env.path().join("config")).unwrap();
    let _ = std::fs::remove_dir_all(env.path().join("data"));
    for f in std::fs::read_dir(env.path()).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("lomob.db") {
            let _ = std::fs::remove_file(f.path());
            let _ = std::fs::remove_dir_all(f.path());
        }
    }
    let to = env.path().join("recovered");
    let out = env.run(&[
        "recover",
        "--site",
        &url(port, "vault"),
        "--to",
        to.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("lomob/locked/catalog/"), "{err}");
    assert!(
        err.contains("brought back lomob/locked/keys/")
            && err.contains("its locked version was hidden by a delete marker (lomob/archives/"),
        "{err}"
    );
    same_tree(pics, &to.join("Pictures"));
    // The rebuilt config goes on locking: the next archive is locked too.
    let config = std::fs::read_to_string(env.path().join("config/lomob/config.toml")).unwrap();
    assert!(
        config.contains("lock = \"10y\"") && config.contains("lock_mode = \"governance\""),
        "{config}"
    );
    let before = current(port, "vault", "home/lomob/archives/").len();
    std::fs::write(pics.join("2021/new.jpg"), vec![7u8; 1_200_000]).unwrap();
    // Staged by the first run, packed by the next.
    for _ in 0..2 {
        env.ok(&["backup", pics.to_str().unwrap(), "--pack-size", "1MB"], 0);
    }
    let newest = current(port, "vault", "home/lomob/archives/");
    assert!(newest.len() > before, "a new archive: {newest:?}");
    for key in &newest {
        let (mode, _) = moto::lock_of(port, "vault", key).expect(key);
        assert_eq!(mode, "COMPLIANCE", "{key}");
    }
}

/// `watch` without `[repair] auto` still extends a retention about to run
/// out: its scheduled archive check finds it, and the daemon renews it.
#[test]
fn watch_extends_a_retention_about_to_run_out() {
    let Some(m) = servers::moto() else { return };
    moto::create_locked_bucket(m.port, "watched");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "a family passphrase")
        .with_moto_credentials();
    let lock = ["--lock", "10y", "--lock-mode", "governance"];
    env.add_site("watched", &url(m.port, "watched"), &lock);
    let pics = photos(&env);
    env.ok(&["backup", pics.to_str().unwrap(), "--pack-size", "1MB"], 0);
    let target = current(m.port, "watched", "home/lomob/archives/")
        .into_iter()
        .next()
        .expect("an archive");
    moto::shorten_retention(m.port, "watched", &target, &moto::iso_of(now() + 3600));

    let log = env.path().join("watch.log");
    let daemon = env
        .cmd(&["watch", pics.to_str().unwrap(), "--stage-delay", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    let extended =
        || moto::lock_of(m.port, "watched", &target).is_some_and(|(_, u)| u > now() + 9 * YEAR);
    while !extended() && t.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    crate::alert::stop(daemon);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(extended(), "the retention was not extended: {said}");
    assert!(
        said.contains("lock watched: lomob/archives/") && said.contains(": extended"),
        "{said}"
    );
}
