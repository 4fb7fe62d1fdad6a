//! A site whose URL names a cold class (`…&storage_class=DEEP_ARCHIVE`, the
//! form lomo-remote documents): only archives go cold; staged objects,
//! probes, key files and snapshots stay hot. `site test` passes on it;
//! after the staging site is lost, `restore / --wait` thaws every cold
//! object it needs — archives, and a staged object an older lomob left in
//! Deep Archive — with one request each, polls them (moto's restores take
//! seconds here), and brings everything back. `--dry-run` prices the plan
//! and asks for nothing.

use lomo_remote::testing as servers;

use crate::util::Env;

fn tree(env: &Env) -> std::path::PathBuf {
    let pics = env.path().join("Pictures");
    for (n, d) in ["2019", "2020", "2021"].into_iter().enumerate() {
        std::fs::create_dir_all(pics.join(d)).unwrap();
        for i in 0..4u32 {
            let salt = i * 13 + n as u32 * 101;
            let data: Vec<u8> = (0..150_000 + salt).map(|b| (b ^ salt) as u8).collect();
            std::fs::write(pics.join(format!("{d}/IMG_{i}.jpg")), data).unwrap();
        }
    }
    pics
}

/// (storage class, x-amz-restore) of an object, straight from moto.
fn class_of(port: u16, key: &str) -> (String, Option<String>) {
    let (status, head, _) = servers::raw(
        port,
        "HEAD",
        &format!("/cold/{key}"),
        &[("Authorization", servers::MOTO_AUTH)],
        b"",
    );
    assert_eq!(status, 200, "{key}: {head}");
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    (
        header("x-amz-storage-class").unwrap_or_else(|| "STANDARD".into()),
        header("x-amz-restore"),
    )
}

#[test]
fn a_url_form_deep_archive_site_keeps_staged_objects_hot_and_restores_everything() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "cold");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "a family passphrase")
        .with_moto_credentials();
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    let url = format!(
        "s3://cold/home?region=us-east-1&endpoint=http://127.0.0.1:{}&storage_class=DEEP_ARCHIVE",
        moto.port
    );
    env.add_site("cold", &url, &["--role", "both"]);

    // The probe goes in the hot class; the archive class is tried too.
    let out = env.ok(&["site", "test", "cold"], 0);
    assert!(out.contains("archive class DEEP_ARCHIVE"), "{out}");
    assert!(out.contains("class DEEP_ARCHIVE"), "{out}");

    let pics = tree(&env);
    env.ok(&["backup", pics.to_str().unwrap(), "--pack-size", "2MB"], 0);
    let listed = env.json(&["list", "remote", "cold", "lomob"], 0);
    let (mut archives, mut staged) = (0, 0);
    for o in &listed {
        let key = o["key"].as_str().unwrap();
        let (class, _) = class_of(moto.port, &format!("home/{key}"));
        if key.starts_with("lomob/archives/") {
            assert_eq!(class, "DEEP_ARCHIVE", "{key}");
            archives += 1;
        } else {
            assert_eq!(class, "STANDARD", "{key}: only archives go cold");
            staged += u32::from(key.starts_with("lomob/staging/"));
        }
    }
    assert!(archives >= 1 && staged >= 1, "{listed:?}");

    // A staged object an older lomob left in Deep Archive.
    let one_staged = listed
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_owned())
        .find(|k| k.starts_with("lomob/staging/"))
        .unwrap();
    servers::moto_set_class(
        moto.port,
        "cold",
        &format!("home/{one_staged}"),
        "DEEP_ARCHIVE",
    );

    // The staging site is lost.
    std::fs::remove_dir_all(&nas).unwrap();
    env.ok(&["site", "remove", "nas"], 0);

    // The plan first: nothing requested.
    let before = class_a(&env, "cold");
    let to = env.path().join("back");
    let plan = env.json(
        &["restore", "/", "--to", to.to_str().unwrap(), "--dry-run"],
        0,
    );
    let cold_plan = plan.iter().find(|p| p["site"] == "cold").unwrap();
    assert!(cold_plan["thaw_objects"].as_u64().unwrap() >= 2, "{plan:?}");
    assert!(
        cold_plan["cost"]["bulk"].as_f64().unwrap() > 0.0,
        "{plan:?}"
    );
    assert!(!to.exists(), "a dry run writes nothing");
    assert_eq!(class_a(&env, "cold"), before, "no RestoreObject was sent");
    for o in &listed {
        let key = o["key"].as_str().unwrap();
        assert_eq!(class_of(moto.port, &format!("home/{key}")).1, None, "{key}");
    }

    // Everything back, waiting for restores that take a few seconds.
    servers::moto_slow_restores(moto.port, 3);
    let out = env.run(&["restore", "/", "--to", to.to_str().unwrap(), "--wait", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("waiting for the restore of"),
        "--wait polled: {err}"
    );
    assert!(
        err.contains("staged object"),
        "the cold staged object was thawed too: {err}"
    );
    for d in ["2019", "2020", "2021"] {
        for i in 0..4 {
            let rel = format!("{d}/IMG_{i}.jpg");
            assert!(
                std::fs::read(pics.join(&rel)).unwrap()
                    == std::fs::read(to.join("Pictures").join(&rel)).unwrap(),
                "{rel}"
            );
        }
    }
}

/// PUT/POST/LIST-class requests the ledger holds for `site`.
fn class_a(env: &Env, site: &str) -> i64 {
    rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(
            "SELECT coalesce(sum(class_a), 0) FROM request_ledger WHERE site = ?1",
            [site],
            |r| r.get(0),
        )
        .unwrap()
}

/// An Azure site whose URL names the Archive tier: archives land in it (a
/// block-list upload, its tier read back by Azure's own SDK), staged
/// objects stay Hot, and `check --archives` reports the tier. After the
/// staging site is lost, `restore / --wait` rehydrates each archive (Set
/// Blob Tier to Hot: Azurite answers 202 and is done at once) and brings
/// everything back; the next check finds those archives Hot, and `repair`
/// sets them back to Archive in place.
#[test]
fn an_azure_archive_tier_site_rehydrates_for_a_restore_and_repair_rearchives() {
    let Some(az) = servers::azurite() else { return };
    servers::azurite_container(az.port, "cold");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "a family passphrase")
        .with_env("AZURE_STORAGE_ACCOUNT_KEY", servers::AZURITE_KEY);
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    let account = servers::AZURITE_ACCOUNT;
    let url = format!(
        "az://cold/home?account={account}&endpoint=http://127.0.0.1:{}/{account}&storage_class=Archive",
        az.port
    );
    env.add_site("az", &url, &["--role", "both"]);
    let out = env.ok(&["site", "test", "az"], 0);
    assert!(out.contains("archive class Archive"), "{out}");

    let pics = tree(&env);
    // Three videos, for an image large enough for a block list.
    std::fs::create_dir_all(pics.join("2022")).unwrap();
    for i in 0..3u8 {
        let data: Vec<u8> = (0..700_000u32).map(|b| (b % 251) as u8 ^ i).collect();
        std::fs::write(pics.join(format!("2022/MOV_{i}.mp4")), data).unwrap();
    }
    let pack = ["--pack-size", "3MB", "--part-size", "1MiB"];
    env.ok(
        &[&["backup", pics.to_str().unwrap()][..], &pack].concat(),
        0,
    );
    let tier = |key: &str| servers::azurite_tier(az.port, "cold", &format!("home/{key}"));
    let listed = env.json(&["list", "remote", "az", "lomob"], 0);
    let (mut archives, mut blocks) = (Vec::new(), 0);
    for o in &listed {
        let key = o["key"].as_str().unwrap().to_owned();
        if key.starts_with("lomob/archives/") {
            assert_eq!(tier(&key), "Archive ", "{key}");
            blocks += u32::from(o["size"].as_u64().unwrap() > 1 << 20);
            archives.push(key);
        } else {
            assert_eq!(tier(&key), "Hot ", "{key}: only archives go cold");
        }
    }
    assert!(blocks >= 1, "a block list: {listed:?}");
    let summary = |out: &[serde_json::Value]| {
        out.iter()
            .find(|l| l["site"] == "az" && l.get("classes").is_some())
            .unwrap()
            .clone()
    };
    let out = env.json(&["check", "--archives"], 0);
    assert_eq!(
        summary(&out)["classes"]["Archive"].as_u64(),
        Some(archives.len() as u64),
        "{out:?}"
    );

    std::fs::remove_dir_all(&nas).unwrap();
    env.ok(&["site", "remove", "nas"], 0);
    let to = env.path().join("back");
    let plan = env.json(
        &["restore", "/", "--to", to.to_str().unwrap(), "--dry-run"],
        0,
    );
    let az_plan = plan.iter().find(|p| p["site"] == "az").unwrap();
    assert_eq!(
        az_plan["thaw_objects"].as_u64(),
        Some(archives.len() as u64),
        "{plan:?}"
    );
    assert_eq!(tier(&archives[0]), "Archive ", "a dry run asks for nothing");
    let out = env.run(&["restore", "/", "--to", to.to_str().unwrap(), "--wait", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("cold storage class"),
        "the cost was said: {err}"
    );
    let videos = (0..3).map(|i| format!("2022/MOV_{i}.mp4"));
    let photos = ["2019", "2020", "2021"]
        .into_iter()
        .flat_map(|d| (0..4).map(move |i| format!("{d}/IMG_{i}.jpg")));
    for rel in photos.chain(videos) {
        assert!(
            std::fs::read(pics.join(&rel)).unwrap()
                == std::fs::read(to.join("Pictures").join(&rel)).unwrap(),
            "{rel}"
        );
    }

    // Rehydrated archives stay Hot (and cost Hot prices) until put back.
    assert!(archives.iter().all(|k| tier(k) == "Hot "));
    let out = env.json(&["check", "--archives"], 1);
    let class: Vec<_> = out.iter().filter(|l| l["kind"] == "class").collect();
    assert_eq!(class.len(), archives.len(), "{out:?}");
    assert!(
        class[0]["detail"]
            .as_str()
            .unwrap()
            .contains("storage class Hot, the site is set to Archive"),
        "{class:?}"
    );
    let done = env.json(&["repair"], 0);
    let rearchived: Vec<_> = done.iter().filter(|a| a["outcome"] == "repaired").collect();
    assert_eq!(rearchived.len(), archives.len(), "{done:?}");
    assert!(archives.iter().all(|k| tier(k) == "Archive "));
    env.ok(&["check", "--archives"], 0);
}
