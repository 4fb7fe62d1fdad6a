//! `lomob backup` (scan + staging) and `lomob restore` from staging sites:
//! the default local folder site, moto as a second site, an offline site,
//! tampered and missing objects, wrong passphrases.

use lomo_remote::testing as servers;

use crate::util::{Env, make_dataset, same_tree, walk};

fn env() -> Env {
    Env::new().with_env("LOMOB_PASSPHRASE", "correct horse battery staple")
}

#[test]
fn first_backup_then_incremental_then_restores_on_the_default_site() {
    let env = env();
    let pics = env.path().join("Pictures");
    if make_dataset(
        &pics,
        &[
            "--photos",
            "12",
            "--videos",
            "1",
            "--video-mb",
            "40",
            "--small",
            "20",
        ],
    )
    .is_none()
    {
        return;
    }
    // The default site is ./lomob-site: run from the temp dir.
    let run = |args: &[&str], code: i32| {
        let out = env.cmd(args).current_dir(env.path()).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "lomob {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run(&["--json", "backup", pics.to_str().unwrap()], 0);
    let summary: serde_json::Value = first
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v.get("site").is_some() && v.get("staged").is_some())
        .unwrap();
    assert_eq!(summary["site"], "local");
    let staged = summary["staged"].as_u64().unwrap();
    assert!(staged > 30, "{first}");
    assert_eq!(summary["left"], 0);
    let site = env.path().join("lomob-site/lomob/staging");
    let objects = walk(&site).len() as u64;
    assert_eq!(objects, staged, "one object per distinct content");
    // And what recovery needs: the key file and a catalog snapshot.
    assert_eq!(walk(&env.path().join("lomob-site/lomob/keys")).len(), 1);
    // the snapshot and the sealed note of its time and hash
    let catalog = walk(&env.path().join("lomob-site/lomob/catalog"));
    assert_eq!(catalog.len(), 2, "{catalog:?}");
    assert!(
        catalog
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".db.lomo.meta"))
    );
    assert!(first.contains("\"catalog_snapshots\":1"), "{first}");
    // Names reveal nothing: no file name or extension appears on the site.
    assert!(walk(&site).iter().all(|p| p.extension().is_none()));

    // Nothing new: nothing staged. Then two new files (one a duplicate).
    let again = run(&["--json", "backup", pics.to_str().unwrap()], 0);
    assert!(again.contains("\"staged\":0"), "{again}");
    std::fs::write(pics.join("new.jpg"), b"a brand new photo").unwrap();
    std::fs::copy(pics.join("new.jpg"), pics.join("new copy.jpg")).unwrap();
    let third = run(&["--json", "backup", pics.to_str().unwrap()], 0);
    assert!(third.contains("\"staged\":1"), "{third}");

    // Restore everything, a folder, a file.
    let all = env.path().join("all");
    run(&["restore", "/", "--to", all.to_str().unwrap()], 0);
    same_tree(&pics, &all.join("Pictures"));
    let one = env.path().join("one");
    run(
        &[
            "restore",
            "Pictures/new copy.jpg",
            "--to",
            one.to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(
        std::fs::read(one.join("Pictures/new copy.jpg")).unwrap(),
        b"a brand new photo"
    );
    assert_eq!(walk(&one.join("Pictures")).len(), 1);
    let folder = env.path().join("folder");
    run(
        &["restore", "Pictures/DCIM", "--to", folder.to_str().unwrap()],
        0,
    );
    same_tree(&pics.join("DCIM"), &folder.join("Pictures/DCIM"));
    assert!(!folder.join("Pictures/Documents").exists());

    // Restoring again over the same files: nothing overwritten, nothing failed.
    let again = run(
        &["--json", "restore", "/", "--to", all.to_str().unwrap()],
        0,
    );
    assert!(
        again.lines().last().unwrap().contains("\"restored\":0"),
        "{again}"
    );

    // A wrong passphrase: exit 2, nothing written.
    let wrong = env
        .cmd(&["restore", "/", "--to", "w"])
        .current_dir(env.path())
        .env("LOMOB_PASSPHRASE", "nope")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"));
    assert!(!env.path().join("w").exists());
}

#[test]
fn tampered_or_missing_objects_fail_per_file_and_leave_nothing() {
    let env = env();
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), vec![7u8; 100_000]).unwrap();
    std::fs::write(pics.join("b.jpg"), vec![8u8; 50_000]).unwrap();
    let run = |args: &[&str]| env.cmd(args).current_dir(env.path()).output().unwrap();
    assert!(run(&["backup", pics.to_str().unwrap()]).status.success());
    let objects = walk(&env.path().join("lomob-site/lomob/staging"));
    assert_eq!(objects.len(), 2);
    // Flip one byte in the bigger object, delete the other.
    let (big, small) = if std::fs::metadata(&objects[0]).unwrap().len() > 60_000 {
        (&objects[0], &objects[1])
    } else {
        (&objects[1], &objects[0])
    };
    let mut bytes = std::fs::read(big).unwrap();
    bytes[5000] ^= 1;
    std::fs::write(big, bytes).unwrap();
    std::fs::remove_file(small).unwrap();
    let out = run(&["restore", "/", "--to", "r"]);
    assert_eq!(out.status.code(), Some(1), "files failed: exit 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Pictures/a.jpg") && err.contains("Pictures/b.jpg"),
        "{err}"
    );
    assert!(err.contains("no such object"), "{err}");
    let left: Vec<_> = walk(&env.path().join("r"));
    assert!(
        left.iter().all(|p| p.is_dir()),
        "no partial files: {left:?}"
    );
}

#[test]
fn two_sites_one_offline_catches_up_later() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "stage");
    let env = env().with_moto_credentials();
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(pics.join("2024")).unwrap();
    for i in 0..10u8 {
        std::fs::write(
            pics.join(format!("2024/{i}.jpg")),
            vec![i; 10_000 + usize::from(i)],
        )
        .unwrap();
    }
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    let s3 = format!(
        "s3://stage/lomob?region=us-east-1&endpoint=http://127.0.0.1:{}",
        moto.port
    );
    env.add_site("cloud", &s3, &["--role", "staging"]);
    let out = env.json(&["backup", pics.to_str().unwrap()], 0);
    let by_site = |site: &str| out.iter().find(|v| v["site"] == site).cloned().unwrap();
    assert_eq!(by_site("nas")["staged"], 10);
    assert_eq!(by_site("cloud")["staged"], 10);

    // The NAS is unmounted: the backup goes on with the cloud, exit 1.
    std::fs::rename(&nas, env.path().join("nas-away")).unwrap();
    std::fs::write(pics.join("2024/new.jpg"), b"new").unwrap();
    let out = env.run(&["--json", "backup", pics.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("site nas skipped"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"site\":\"cloud\",\"skipped\":0,\"staged\":1")
            || text.contains("\"staged\":1"),
        "{text}"
    );
    // Back: it catches up.
    std::fs::rename(env.path().join("nas-away"), &nas).unwrap();
    let out = env.json(&["backup", pics.to_str().unwrap()], 0);
    assert_eq!(
        out.iter().find(|v| v["site"] == "nas").unwrap()["staged"],
        1
    );

    // Restore comes from the first site that has each file, byte-identical.
    let to = env.path().join("r");
    env.ok(&["restore", "Pictures", "--to", to.to_str().unwrap()], 0);
    same_tree(&pics, &to.join("Pictures"));
    // With the NAS gone, the cloud serves.
    std::fs::remove_dir_all(&nas).unwrap();
    let to2 = env.path().join("r2");
    let out = env.run(&[
        "--json",
        "restore",
        "Pictures/2024/3.jpg",
        "--to",
        to2.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"from\":\"cloud\""));
    assert_eq!(
        std::fs::read(to2.join("Pictures/2024/3.jpg")).unwrap(),
        vec![3u8; 10_003]
    );
}

#[test]
fn a_second_backup_at_the_same_time_is_refused() {
    let env = env();
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    let mut lock = env.db().into_os_string();
    lock.push(".backup-lock");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .unwrap();
    held.lock().unwrap();
    let out = env
        .cmd(&["backup", pics.to_str().unwrap()])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another lomob backup is running"));
    held.unlock().unwrap();
    let out = env
        .cmd(&["backup", pics.to_str().unwrap()])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A multipart upload a killed backup left on the site is aborted by the next one.
#[test]
fn orphaned_uploads_are_aborted() {
    let env = env();
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), b"a").unwrap();
    let site_dir = env.path().join("lomob-site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let site = lomo_remote::open(
        &lomo_remote::SiteUrl::local(&site_dir).unwrap(),
        &lomo_remote::SiteOptions::named("local"),
    )
    .unwrap();
    let opts = lomo_remote::PutOptions::default().with_part_size(1 << 20);
    let id = rt
        .block_on(site.create_upload("lomob/staging/ab/orphan", &opts))
        .unwrap();
    rt.block_on(site.put_part(
        "lomob/staging/ab/orphan",
        &id,
        0,
        bytes::Bytes::from(vec![0u8; 1 << 20]),
    ))
    .unwrap();
    assert_eq!(
        rt.block_on(site.list_uploads("lomob/staging"))
            .unwrap()
            .len(),
        1
    );
    let out = env
        .cmd(&["backup", pics.to_str().unwrap()])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        rt.block_on(site.list_uploads("")).unwrap().is_empty(),
        "the orphan was aborted"
    );
}

/// `restore --as-of`: the version a file had then, and files deleted since.
#[test]
fn restore_as_of_brings_back_old_versions_and_deleted_files() {
    let env = env();
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("edited.jpg"), b"the original").unwrap();
    std::fs::write(pics.join("deleted.jpg"), b"deleted later").unwrap();
    let run = |args: &[&str]| env.cmd(args).current_dir(env.path()).output().unwrap();
    assert!(run(&["backup", pics.to_str().unwrap()]).status.success());
    // That backup was two days ago, as far as the catalog knows.
    rusqlite::Connection::open(env.db())
        .unwrap()
        .execute("UPDATE files SET first_seen = first_seen - 2 * 86400", [])
        .unwrap();
    let yesterday = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24)).to_string();
    std::fs::write(pics.join("edited.jpg"), b"edited today, longer").unwrap();
    std::fs::remove_file(pics.join("deleted.jpg")).unwrap();
    std::fs::write(pics.join("new.jpg"), b"new today").unwrap();
    assert!(run(&["backup", pics.to_str().unwrap()]).status.success());

    let then = env.path().join("then");
    let out = run(&["restore", "/", "--as-of", &yesterday, "--to", "then"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(then.join("Pictures/edited.jpg")).unwrap(),
        b"the original"
    );
    assert_eq!(
        std::fs::read(then.join("Pictures/deleted.jpg")).unwrap(),
        b"deleted later"
    );
    assert!(!then.join("Pictures/new.jpg").exists());
    let now = env.path().join("now");
    assert!(run(&["restore", "/", "--to", "now"]).status.success());
    assert_eq!(
        std::fs::read(now.join("Pictures/edited.jpg")).unwrap(),
        b"edited today, longer"
    );
    assert!(!now.join("Pictures/deleted.jpg").exists());
    // Before anything was backed up: nothing to restore, said plainly.
    let out = run(&["restore", "/", "--as-of", "2001-01-01", "--to", "x"]);
    assert_eq!(out.status.code(), Some(2));
    // The seed's `restore aws`: only S3 sites, and there is none here.
    let out = run(&["restore", "aws", "--to", "y"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no s3:// site"));
}

/// A big file restored from an archive comes back through one streamed
/// range request (its chunks opened as they arrive, so memory stays
/// small whatever its size), whole and checked.
#[test]
fn a_big_archived_file_restores_in_pieces() {
    let env = env();
    let pics = env.path().join("Videos");
    std::fs::create_dir_all(&pics).unwrap();
    for (i, name) in ["a.mp4", "b.mp4"].iter().enumerate() {
        let data: Vec<u8> = (0..40_000_000u32)
            .map(|b| (b.wrapping_mul(2_654_435_761) >> 7) as u8 ^ i as u8)
            .collect();
        let p = pics.join(name);
        std::fs::write(&p, data).unwrap();
        crate::util::set_mtime(&p, crate::util::at(1_600_000_000 + i as u64));
    }
    let run = |args: &[&str]| env.cmd(args).current_dir(env.path()).output().unwrap();
    let out = run(&[
        "--json",
        "backup",
        pics.to_str().unwrap(),
        "--pack-size",
        "41MB",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gets = || -> i64 {
        rusqlite::Connection::open(env.db())
            .unwrap()
            .query_row(
                "SELECT COALESCE(SUM(class_b), 0) FROM request_ledger",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let before = gets();
    let out = run(&["--json", "restore", "Videos/a.mp4", "--to", "r"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"from\":\"local in "),
        "from the archive: {text}"
    );
    assert_eq!(gets() - before, 1, "40 MB in one streamed range request");
    assert!(
        std::fs::read(env.path().join("r/Videos/a.mp4")).unwrap()
            == std::fs::read(pics.join("a.mp4")).unwrap()
    );
}

/// `backup --dry-run` says what a backup would pack and stage — the same
/// numbers the backup then does — and sends, records and creates nothing.
#[test]
fn a_dry_run_plans_what_the_backup_then_does_and_changes_nothing() {
    let env = env();
    let pics = env.path().join("Pictures");
    let args = ["--photos", "30", "--photo-mb", "1", "--small", "10"];
    if make_dataset(&pics, &args).is_none() {
        return;
    }
    let (nas, usb) = (env.path().join("nas"), env.path().join("usb"));
    let url = |p: &std::path::Path| format!("file://{}", p.display());
    env.add_site("nas", &url(&nas), &["--role", "archive"]);
    env.add_site("usb", &url(&usb), &["--role", "staging"]);
    let pics = pics.to_str().unwrap();
    let plan = env.json(&["backup", pics, "--pack-size", "10MB", "--dry-run"], 0);
    let find = |lines: &[serde_json::Value], field: &str| {
        lines
            .iter()
            .find(|v| v.get(field).is_some())
            .cloned()
            .unwrap()
    };
    let packed = find(&plan, "would_pack");
    let staged = find(&plan, "would_stage");
    assert!(packed["would_pack"].as_u64().unwrap() >= 2, "{plan:?}");
    assert!(staged["would_stage"].as_u64().unwrap() >= 1, "{plan:?}");
    assert_eq!(find(&plan, "dry_run")["dry_run"], true);
    assert!(
        walk(&nas).is_empty() && walk(&usb).is_empty(),
        "nothing sent"
    );
    assert!(!env.path().join("lomob.db.key").exists(), "no key made");
    let status = &env.json(&["status"], 0)[0];
    for site in status["sites"].as_array().unwrap() {
        assert_eq!(
            (&site["archives"], &site["staged"]),
            (&0.into(), &0.into()),
            "{site}"
        );
    }
    assert_eq!(status["roots"][0]["only_here"], status["roots"][0]["files"]);
    // the backup then does what the dry run said
    let done = env.json(&["backup", pics, "--pack-size", "10MB"], 0);
    assert_eq!(
        find(&done, "packed")["packed"],
        packed["would_pack"],
        "{done:?}"
    );
    let site = done
        .iter()
        .find(|v| v["site"] == "usb" && v.get("staged").is_some())
        .unwrap();
    assert_eq!(site["staged"], staged["would_stage"], "{done:?}");
    // the plan counts the files' bytes, the backup the sealed objects'
    let (sealed, plain) = (
        site["bytes"].as_u64().unwrap(),
        staged["bytes"].as_u64().unwrap(),
    );
    assert!(
        sealed > plain && sealed < plain + plain / 100 + 1000,
        "{sealed} {plain}"
    );
    let again = env.json(&["backup", pics, "--pack-size", "10MB", "--dry-run"], 0);
    assert_eq!(find(&again, "would_pack")["would_pack"], 0);
    assert_eq!(find(&again, "would_stage")["would_stage"], 0);
}
