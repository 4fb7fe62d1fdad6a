//! The archive step of `lomob backup`: full images sealed and sent to every
//! archive site (moto: one bucket in DEEP_ARCHIVE, one STANDARD), staged
//! copies released once all archive sites hold the image, restores from
//! archives by range reads, and the cold path with a restore request.

use std::path::Path;

use lomo_remote::testing as servers;

use crate::util::Env;

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn same_tree(a: &Path, b: &Path) {
    let files = walk(a);
    assert!(!files.is_empty());
    for e in files {
        let rel = e.strip_prefix(a).unwrap();
        let other = b.join(rel);
        assert!(
            std::fs::read(&e).unwrap() == std::fs::read(&other).unwrap_or_default(),
            "{} differs",
            rel.display()
        );
        assert_eq!(
            std::fs::metadata(&e).unwrap().modified().unwrap(),
            std::fs::metadata(&other).unwrap().modified().unwrap()
        );
    }
}

#[test]
fn archives_go_to_every_archive_site_and_come_back() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "cold");
    servers::create_bucket(moto.port, "warm");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_env("AWS_ACCESS_KEY_ID", "testing")
        .with_env("AWS_SECRET_ACCESS_KEY", "testing");
    let ep = format!("region=us-east-1&endpoint=http://127.0.0.1:{}", moto.port);
    let nas = env.path().join("nas");
    env.ok(
        &[
            "site",
            "add",
            "nas",
            &format!("file://{}", nas.display()),
            "--role",
            "staging",
        ],
        0,
    );
    env.ok(
        &[
            "site",
            "add",
            "cold",
            &format!("s3://cold/lomob?{ep}"),
            "--role",
            "archive",
            "--storage-class",
            "DEEP_ARCHIVE",
        ],
        0,
    );
    env.ok(
        &[
            "site",
            "add",
            "warm",
            &format!("s3://warm/lomob?{ep}"),
            "--role",
            "archive",
        ],
        0,
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
            let when = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(
                    1_546_300_800 + u64::from(y - 2019) * 31_536_000 + u64::from(i) * 86_400,
                );
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
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
    if first.status.code() == Some(1) {
        assert!(
            err.contains("restore requested") && err.contains("run `lomob restore` again"),
            "{err}"
        );
        let second = env.run(&[
            "restore",
            "Pictures/2019",
            "--to",
            cold_only.to_str().unwrap(),
        ]);
        assert_eq!(
            second.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&second.stderr)
        );
    } else {
        // Everything of 2019 was still staged: nothing needed the archives.
        assert_eq!(first.status.code(), Some(0), "{err}");
    }
    same_tree(&pics.join("2019"), &cold_only.join("Pictures/2019"));
}
