//! `lomob site …` and `lomob list remote` on a folder and on moto.

use lomo_remote::testing as servers;

use crate::util::Env;

#[test]
fn folder_site_add_list_test_remove() {
    let env = Env::new();
    let site = env.path().join("usb disk");
    let url = format!("file://{}", site.display()).replace(' ', "%20");
    let out = env.add_site("usb", &url, &["--role", "archive", "--append-only"]);
    assert!(out.contains("added site usb"), "{out}");
    assert!(site.is_dir(), "adding a folder site creates the folder");
    // Same name or same URL again: refused, config unchanged.
    let again = env.run(&["site", "add", "usb", "file:///elsewhere"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let listed = env.json(&["site", "list"], 0);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["role"], "archive");
    assert_eq!(listed[0]["append_only"], true);

    let report = env.ok(&["site", "test", "usb", "--size", "300KB"], 0);
    for step in [
        "put 300.0 kB",
        "get 300.0 kB",
        "range get",
        "list",
        "multipart",
        "delete",
        "OK",
    ] {
        assert!(report.contains(step), "missing {step:?} in\n{report}");
    }
    assert!(
        std::fs::read_dir(&site).unwrap().next().is_none() || walk_files(&site).is_empty(),
        "the probe leaves nothing behind: {:?}",
        walk_files(&site)
    );

    std::fs::create_dir_all(site.join("lomob/archives")).unwrap();
    std::fs::write(site.join("lomob/archives/a.iso"), vec![0u8; 2048]).unwrap();
    std::fs::write(site.join("lomob/archives/b.iso"), b"b").unwrap();
    std::fs::create_dir_all(site.join("lomob/staging/ab")).unwrap();
    std::fs::write(site.join("lomob/staging/ab/abcd"), b"s").unwrap();
    let tree = env.ok(&["list", "remote", "usb"], 0);
    let lines: Vec<&str> = tree.lines().collect();
    assert_eq!(lines[0], "lomob/");
    assert_eq!(lines[1], "  archives/");
    assert!(
        lines[2].starts_with("    a.iso") && lines[2].contains("2.0 kB"),
        "{tree}"
    );
    assert!(lines[4] == "  staging/" && lines[5] == "    ab/", "{tree}");
    assert_eq!(lines.last().unwrap(), &"3 objects, 2.0 kB");
    let json = env.json(&["list", "remote", "usb", "lomob/archives"], 0);
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["key"], "lomob/archives/a.iso");

    env.ok(&["site", "remove", "usb"], 0);
    assert!(env.json(&["site", "list"], 0).is_empty());
    assert!(
        site.join("lomob/archives/a.iso").exists(),
        "remove deletes nothing on the site"
    );
    let missing = env.run(&["site", "test", "usb"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no site named \"usb\""));
}

#[test]
fn unmounted_disk_is_an_error_naming_it() {
    let env = Env::new();
    let site = env.path().join("disk");
    env.add_site("disk", &format!("file://{}", site.display()), &[]);
    std::fs::remove_dir(&site).unwrap();
    let out = env.run(&["site", "test", "disk"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not mounted") && err.contains(&site.display().to_string()),
        "{err}"
    );
    assert!(
        !site.exists(),
        "an offline folder site is never created behind the user's back"
    );
}

#[test]
fn bad_urls_are_refused_with_the_reason() {
    let env = Env::new();
    for (url, why) in [
        ("s3://KEY:SECRET@bucket/p", "credentials"),
        ("ftp://host/x", "unknown scheme"),
        ("s3://bucket/p?regoin=x", "regoin"),
        ("file:///tmp/x?storage_class=GLACIER", "storage_class"),
    ] {
        let out = env.run(&["site", "add", "x", url]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
    assert!(env.json(&["site", "list"], 0).is_empty());
}

#[test]
fn s3_site_on_moto() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "family");
    let env = Env::new().with_moto_credentials();
    let url = format!(
        "s3://family/lomob?region=us-east-1&endpoint=http://127.0.0.1:{}",
        moto.port
    );
    env.add_site(
        "cold",
        &url,
        &["--storage-class", "DEEP_ARCHIVE", "--role", "archive"],
    );
    let report = env.ok(&["site", "test", "cold", "--size", "1MB"], 0);
    assert!(report.contains("stored SHA-256 checked"), "{report}");
    assert!(report.contains("restores from cold tiers"), "{report}");
    assert!(report.contains("0 pending upload(s) left"), "{report}");
    // With a catalog, the requests go into its ledger and `site list` shows them.
    env.ok(&["scan", env.path().join("config").to_str().unwrap()], 0);
    let j = env.json(&["site", "test", "cold", "--size", "100KB"], 0);
    let summary = j.last().unwrap();
    assert_eq!(summary["ok"], true);
    assert!(
        summary["requests"]["class_a"].as_u64().unwrap() >= 4,
        "{summary}"
    );
    assert!(
        env.ok(&["list", "remote", "cold"], 0)
            .ends_with("0 objects, 0 B\n")
    );

    // Wrong endpoint: the test fails with exit 2 and says which site.
    let dead = format!(
        "s3://family?region=us-east-1&endpoint=http://127.0.0.1:{}",
        servers::free_port()
    );
    env.add_site("dead", &dead, &[]);
    let out = env.run(&["site", "test", "dead", "--size", "1KB"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAILED") && text.contains("site dead"),
        "{text}"
    );
}

fn walk_files(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
