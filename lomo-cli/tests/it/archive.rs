//! The archive step of `lomob backup`: full images sealed and sent to every
//! archive site (moto: one bucket in DEEP_ARCHIVE, one STANDARD), staged
//! copies released once all archive sites hold the image, restores from
//! archives by range reads, and the cold path with a restore request.

use lomo_remote::testing as servers;

use crate::util::{Env, same_tree, walk};

#[test]
fn archives_go_to_every_archive_site_and_come_back() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "cold");
    servers::create_bucket(moto.port, "warm");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_moto_credentials();
    let ep = format!("region=us-east-1&endpoint=http://127.0.0.1:{}", moto.port);
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    env.add_site(
        "cold",
        &format!("s3://cold/lomob?{ep}"),
        &["--role", "archive", "--storage-class", "DEEP_ARCHIVE"],
    );
    env.add_site(
        "warm",
        &format!("s3://warm/lomob?{ep}"),
        &["--role", "archive"],
    );
    let pics = env.path().join("Pictures");
    for y in 2019..2023 {
        std::fs::create_dir_all(pics.join(y.to_string())).unwrap();
        for i in 0..8u32 {
            let data: Vec<u8> = (0..150_000 + i * 1000)
                .map(|b| (b * (i + 3) + y) as u8)
                .collect();
            let path = pics.join(format!("{y}/IMG_{i}.jpg"));
            std::fs::write(&path, data).unwrap();
            // Dated like the photos they stand for: the oldest are packed first.
            let when = crate::util::at(
                1_546_300_800 + u64::from(y - 2019) * 31_536_000 + u64::from(i) * 86_400,
            );
            crate::util::set_mtime(&path, when);
        }
    }
    let staged_on_nas = || walk(&nas.join("lomob/staging")).len();

    // 1. A big pack size: nothing is packed, everything is staged.
    let out = env.json(&["backup", pics.to_str().unwrap(), "--pack-size", "1G"], 0);
    assert_eq!(
        out.iter().find(|v| v["site"] == "nas").unwrap()["staged"],
        32
    );
    assert_eq!(staged_on_nas(), 32);

    // 2. A small pack size: full images go to both archive sites, and the
    //    staged copies of what they hold are released; the rest stays staged.
    let out = env.json(
        &["backup", pics.to_str().unwrap(), "--pack-size", "2.5MB"],
        0,
    );
    let packed = out.iter().find(|v| v.get("packed").is_some()).unwrap();
    let images = packed["packed"].as_u64().unwrap();
    assert!(images >= 2, "{out:?}");
    assert_eq!(
        packed["archive_copies"].as_u64().unwrap(),
        images * 2,
        "each image on both sites"
    );
    let released = packed["staged_released"].as_u64().unwrap() as usize;
    assert!(released >= 16, "{out:?}");
    assert_eq!(staged_on_nas(), 32 - released);
    let cold = env.json(&["list", "remote", "cold", "lomob/archives"], 0);
    assert_eq!(cold.len() as u64, images);
    assert!(
        cold.iter().all(|o| o["storage_class"] == "DEEP_ARCHIVE"),
        "{cold:?}"
    );
    assert!(
        walk(&env.path().join("lomob.db.pack")).is_empty(),
        "local images removed after upload"
    );
    env.ok(&["check", "--staging"], 0);

    // 3. Everything comes back: archived files from the warm copy (the cold
    //    one needs a restore), the rest from the NAS.
    let all = env.path().join("all");
    let out = env.run(&["--json", "restore", "/", "--to", all.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warm in ") && text.contains("\"from\":\"nas\""),
        "{text}"
    );
    same_tree(&pics, &all.join("Pictures"));
    // The seed's `restore aws` form: from the S3 sites only (2019 is archived there).
    let aws = env.path().join("aws");
    let out = env.json(
        &[
            "restore",
            "aws",
            "Pictures/2019",
            "--to",
            aws.to_str().unwrap(),
        ],
        0,
    );
    assert!(
        out.iter()
            .filter(|v| v.get("from").is_some())
            .all(|v| v["from"].as_str().unwrap().starts_with("warm in ")),
        "{out:?}"
    );
    same_tree(&pics.join("2019"), &aws.join("Pictures/2019"));

    // 4. The cold path: with the warm site gone, the first restore asks
    //    for a readable copy and says to come back; the next one works
    //    (moto finishes restores at once; AWS takes hours).
    env.ok(&["site", "remove", "warm"], 0);
    let cold_only = env.path().join("cold");
    let first = env.run(&[
        "restore",
        "Pictures/2019",
        "--to",
        cold_only.to_str().unwrap(),
        "--tier",
        "bulk",
    ]);
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(
        first.status.code(),
        Some(1),
        "2019 is archived, not staged: {err}"
    );
    assert!(
        err.contains("costs about $") && err.contains("ready within 48 h"),
        "the cost comes first: {err}"
    );
    assert!(
        err.contains("run `lomob restore` again when it is ready, or add --wait"),
        "{err}"
    );
    // What was still staged came back; nothing half-restored.
    for f in walk(&cold_only) {
        let rel = f.strip_prefix(cold_only.join("Pictures")).unwrap();
        assert!(
            std::fs::read(&f).unwrap() == std::fs::read(pics.join(rel)).unwrap(),
            "{} is partial",
            rel.display()
        );
    }
    let second = env.run(&[
        "--json",
        "restore",
        "Pictures/2019",
        "--to",
        cold_only.to_str().unwrap(),
        "--wait",
        "1",
    ]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("cold in "));
    same_tree(&pics.join("2019"), &cold_only.join("Pictures/2019"));
}

/// `kill -9` in the middle of an archive upload: the next backup resumes the
/// same multipart upload, sends only the parts not yet recorded, leaves no
/// pending upload behind, and everything restores.
#[test]
fn a_killed_archive_upload_resumes_without_resending_parts() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "arch");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_moto_credentials();
    let cfg_dir = env.path().join("config/lomob");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let nas = env.path().join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    // The archive site is slowed to 20 MB/s so the kill lands mid-upload.
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!(
            "[[site]]\nname = \"nas\"\nurl = \"file://{}\"\nrole = \"staging\"\n\n[[site]]\nname = \"arch\"\nurl = \"s3://arch/l?region=us-east-1&endpoint=http://127.0.0.1:{}\"\nrole = \"archive\"\nbandwidth_limit = \"20MB\"\n",
            nas.display(),
            moto.port
        ),
    )
    .unwrap();
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..8u32 {
        let data: Vec<u8> = (0..10_000_000u32)
            .map(|b| (b.wrapping_mul(2_654_435_761) >> (i % 7)) as u8 ^ i as u8)
            .collect();
        std::fs::write(pics.join(format!("VID_{i}.mp4")), data).unwrap();
    }
    let args = ["backup", pics.to_str().unwrap(), "--pack-size", "75MB"];
    let mut child = env
        .cmd(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let parts_done = || -> usize {
        let Ok(db) = rusqlite::Connection::open(env.db()) else {
            return 0;
        };
        let upload: Option<String> = db
            .query_row(
                "SELECT upload FROM archive_copies WHERE site = 'arch'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(None);
        upload
            .and_then(|u| serde_json::from_str::<serde_json::Value>(&u).ok())
            .and_then(|v| v["parts"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let start = std::time::Instant::now();
    while parts_done() == 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no part was recorded"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = parts_done();
    let (total_parts, image_size) = {
        let db = rusqlite::Connection::open(env.db()).unwrap();
        let u: String = db
            .query_row(
                "SELECT upload FROM archive_copies WHERE site = 'arch'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&u).unwrap();
        let size = v["size"].as_u64().unwrap();
        (size.div_ceil(v["part_size"].as_u64().unwrap()), size)
    };
    assert!(
        done >= 1 && (done as u64) < total_parts,
        "killed mid-upload: {done} of {total_parts}"
    );
    let sent_before = ledger_sent(&env, "arch");

    let out = env.json(
        &["backup", pics.to_str().unwrap(), "--pack-size", "75MB"],
        0,
    );
    let packed = out.iter().find(|v| v.get("packed").is_some()).unwrap();
    assert_eq!(packed["archive_copies"], 1, "{out:?}");
    let resent = ledger_sent(&env, "arch") - sent_before;
    let part = 32u64 << 20;
    assert!(
        resent <= image_size - done as u64 * part + 1_000_000,
        "sent {resent} bytes after resuming; {done} parts were done"
    );
    // No pending multipart upload is left on the site, and the copy is whole.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let site = servers::s3_site(moto.port, "arch", "l", "");
    assert!(rt.block_on(site.list_uploads("")).unwrap().is_empty());
    let to = env.path().join("r");
    env.ok(&["restore", "/", "--to", to.to_str().unwrap()], 0);
    same_tree(&pics, &to.join("Pictures"));
}

fn ledger_sent(env: &Env, site: &str) -> u64 {
    let db = rusqlite::Connection::open(env.db()).unwrap();
    db.query_row(
        "SELECT COALESCE(SUM(bytes_sent), 0) FROM request_ledger WHERE site = ?1",
        [site],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

/// The home machine is lost: catalog, key file, config and the NAS are gone.
/// From the passphrase and the cloud bucket alone, `recover` rebuilds them
/// and brings back every file.
#[test]
fn recover_from_one_site_and_the_passphrase() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "cloud");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "a long family passphrase")
        .with_moto_credentials();
    let nas = env.path().join("nas");
    let cloud = format!(
        "s3://cloud/home?region=us-east-1&endpoint=http://127.0.0.1:{}",
        moto.port
    );
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    env.add_site("cloud", &cloud, &["--role", "both"]);
    let pics = env.path().join("Pictures");
    for d in ["2020", "2021/summer"] {
        std::fs::create_dir_all(pics.join(d)).unwrap();
        for i in 0..6u32 {
            let data: Vec<u8> = (0..120_000 + i).map(|b| (b ^ (i * 31)) as u8).collect();
            std::fs::write(pics.join(format!("{d}/IMG_{i}.jpg")), data).unwrap();
        }
    }
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "1.6MB"],
        0,
    );
    // A second run after a new photo: the newest snapshot knows it.
    std::fs::write(pics.join("2021/new.jpg"), b"the newest photo").unwrap();
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "1.6MB"],
        0,
    );

    // Everything local is lost but the photos' copy we compare with.
    std::fs::remove_dir_all(env.path().join("config")).unwrap();
    // (The key file sits beside the catalog, `lomob.db.key`, and goes with
    // the `lomob.db*` files below; nothing of lomob's is left in `data/`.)
    let _ = std::fs::remove_dir_all(env.path().join("data"));
    std::fs::remove_dir_all(&nas).unwrap();
    for f in std::fs::read_dir(env.path()).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("lomob.db") {
            let _ = std::fs::remove_file(f.path());
            let _ = std::fs::remove_dir_all(f.path());
        }
    }
    let wrong = env
        .cmd(&["recover", "--site", &cloud, "--to", "x"])
        .env("LOMOB_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"));
    assert!(!env.db().exists(), "a failed recover leaves no catalog");

    let to = env.path().join("recovered");
    let out = env.run(&["recover", "--site", &cloud, "--to", to.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    same_tree(&pics, &to.join("Pictures"));
    // The rebuilt catalog, key file and config serve the next backup.
    assert!(env.path().join("config/lomob/config.toml").exists());
    assert!(env.path().join("lomob.db.key").exists());
    std::fs::create_dir_all(&nas).unwrap();
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "1.6MB"],
        0,
    );
}

/// The monthly archive check over 50 archives: one LIST and one HEAD per
/// archive (≤ 60 requests), no archive byte read; an archive replaced
/// behind lomob's back and a stray object are reported.
#[test]
fn archive_check_of_50_archives_reads_metadata_only() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "many");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_moto_credentials();
    let url = format!(
        "s3://many/x?region=us-east-1&endpoint=http://127.0.0.1:{}",
        moto.port
    );
    env.add_site(
        "cold",
        &url,
        &["--role", "archive", "--storage-class", "DEEP_ARCHIVE"],
    );
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..51u32 {
        let path = pics.join(format!("IMG_{i:03}.jpg"));
        std::fs::write(&path, vec![(i % 251) as u8; 20_000 + i as usize]).unwrap();
        let when = crate::util::at(1_500_000_000 + u64::from(i) * 86_400);
        crate::util::set_mtime(&path, when);
    }
    // One file per image: the estimate counts 1 MiB of image overhead.
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "1.06MB"],
        0,
    );
    let archives = env
        .json(&["list", "remote", "cold", "lomob/archives"], 0)
        .len();
    assert!(archives >= 50, "{archives} archives");

    let before = ledger(&env, "cold");
    let out = env.json(&["check", "--archives"], 0);
    let summary = out.last().unwrap();
    assert_eq!(summary["checked"].as_u64().unwrap() as usize, archives);
    assert_eq!(summary["problems"], 0, "{out:?}");
    let used = (
        ledger(&env, "cold").0 - before.0,
        ledger(&env, "cold").1 - before.1,
        ledger(&env, "cold").2 - before.2,
    );
    eprintln!(
        "archive check of {archives} archives: {} LIST + {} HEAD requests, {} bytes received",
        used.0, used.1, used.2
    );
    assert!(
        used.0 + used.1 <= archives as u64 + 10 && used.0 <= 2,
        "{used:?}"
    );
    assert!(used.2 < 1_000_000, "no archive bytes read: {used:?}");

    // Behind lomob's back: an archive replaced by other bytes of the same size, a stray object.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let site = servers::s3_site(moto.port, "many", "x", "");
    let first = env.json(&["list", "remote", "cold", "lomob/archives"], 0)[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let size = rt.block_on(site.head(&first)).unwrap().size;
    rt.block_on(site.put(
        &first,
        bytes::Bytes::from(vec![0u8; size as usize]),
        &lomo_remote::PutOptions::default(),
    ))
    .unwrap();
    rt.block_on(site.put(
        "lomob/archives/stray.iso.lomo",
        bytes::Bytes::from_static(b"?"),
        &lomo_remote::PutOptions::default(),
    ))
    .unwrap();
    let out = env.run(&["--json", "check", "--archives"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"kind\":\"checksum\"") && text.contains("\"kind\":\"unexpected\""),
        "{text}"
    );
    assert!(
        text.contains("\"kind\":\"class\""),
        "the replacement is STANDARD, not DEEP_ARCHIVE: {text}"
    );
}

fn ledger(env: &Env, site: &str) -> (u64, u64, u64) {
    let db = rusqlite::Connection::open(env.db()).unwrap();
    db.query_row(
        "SELECT COALESCE(SUM(class_a), 0), COALESCE(SUM(class_b), 0), COALESCE(SUM(bytes_received), 0) FROM request_ledger WHERE site = ?1",
        [site],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
    )
    .unwrap()
}
