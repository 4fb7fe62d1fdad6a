//! `lomob upload iso|files`: the seed's step-by-step commands on the
//! backup's machinery, with two local folder sites.

use crate::util::Env;

use crate::util::count_files as count;

#[test]
fn upload_files_then_iso_create_and_upload_iso() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let (nas, arch) = (env.path().join("nas"), env.path().join("arch"));
    for (name, dir, role) in [("nas", &nas, "staging"), ("arch", &arch, "archive")] {
        env.add_site(
            name,
            &format!("file://{}", dir.display()),
            &["--role", role],
        );
    }
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..6u32 {
        std::fs::write(
            pics.join(format!("IMG_{i}.jpg")),
            vec![i as u8; 400_000 + i as usize],
        )
        .unwrap();
    }
    env.ok(&["scan", pics.to_str().unwrap()], 0);

    let out = env.json(&["upload", "files"], 0);
    assert_eq!(out[0]["staged"], 6, "{out:?}");
    assert_eq!(count(&nas.join("lomob/staging")), 6);

    let imgs = env.path().join("imgs");
    env.ok(
        &["iso", "create", "-s", "2.5MB", "-p", imgs.to_str().unwrap()],
        0,
    );
    let images = count(&imgs);
    assert!(images >= 2, "{images} images");

    let out = env.json(&["upload", "iso", "-p", "5MiB", "-n", "2"], 0);
    assert_eq!(
        out[0]["archive_copies"].as_u64().unwrap() as usize,
        images,
        "{out:?}"
    );
    assert_eq!(out[0]["staged_released"], 6, "{out:?}");
    assert_eq!(count(&arch.join("lomob/archives")), images);
    assert_eq!(count(&nas.join("lomob/staging")), 0);
    assert_eq!(count(&imgs), images, "the user's images are kept");

    // Nothing twice, unless asked; unknown images are named.
    let out = env.json(&["upload", "iso"], 0);
    assert_eq!(out[0]["archive_copies"], 0, "{out:?}");
    let first = std::fs::read_dir(&imgs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = env.json(&["upload", "iso", first.to_str().unwrap(), "--force"], 0);
    assert_eq!(out[0]["archive_copies"], 1, "{out:?}");
    let bad = env.run(&["upload", "iso", "nope.iso"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("nope.iso is not an image in the catalog")
    );

    let to = env.path().join("r");
    env.ok(&["restore", "/", "--to", to.to_str().unwrap()], 0);
    for i in 0..6u32 {
        let name = format!("IMG_{i}.jpg");
        assert_eq!(
            std::fs::read(to.join("Pictures").join(&name)).unwrap(),
            std::fs::read(pics.join(&name)).unwrap()
        );
    }
}

/// A site added with `--no-encrypt` (a trusted disk) gets plain ISO images
/// that any ISO reader opens; restores and checks use them like sealed ones.
#[test]
fn an_unencrypted_site_gets_plain_images_that_mount_anywhere() {
    let Some(bsdtar) = crate::util::require("bsdtar") else {
        return;
    };
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let (nas, usb) = (env.path().join("nas"), env.path().join("usb"));
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    env.add_site(
        "usb",
        &format!("file://{}", usb.display()),
        &["--role", "archive", "--no-encrypt"],
    );
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..6u32 {
        std::fs::write(
            pics.join(format!("IMG_{i}.jpg")),
            vec![i as u8 + 1; 400_000 + i as usize],
        )
        .unwrap();
    }
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "2.5MB"],
        0,
    );
    let images: Vec<std::path::PathBuf> = std::fs::read_dir(usb.join("lomob/archives"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!images.is_empty());
    let out = env.path().join("mounted");
    std::fs::create_dir_all(&out).unwrap();
    let mut seen = 0;
    for img in &images {
        assert_eq!(img.extension().unwrap(), "iso", "{}", img.display());
        let st = std::process::Command::new(&bsdtar)
            .arg("-xf")
            .arg(img)
            .arg("-C")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success(), "bsdtar reads {}", img.display());
    }
    for i in 0..6u32 {
        let name = format!("IMG_{i}.jpg");
        if let Ok(b) = std::fs::read(out.join("Pictures").join(&name)) {
            assert_eq!(b, std::fs::read(pics.join(&name)).unwrap(), "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 2, "{seen} files in the plain images");
    env.ok(&["check", "--archives"], 0);
    let to = env.path().join("r");
    let restored = env.json(&["restore", "/", "--to", to.to_str().unwrap()], 0);
    assert!(
        restored
            .iter()
            .any(|v| v["from"].as_str().is_some_and(|f| f.starts_with("usb in "))),
        "{restored:?}"
    );
    for i in 0..6u32 {
        let name = format!("IMG_{i}.jpg");
        assert_eq!(
            std::fs::read(to.join("Pictures").join(&name)).unwrap(),
            std::fs::read(pics.join(&name)).unwrap()
        );
    }
}

/// `upload iso --force` after the local image changed (same size): the
/// changed bytes are never sealed under the copy's header, the good copy
/// on the site is not replaced, and the check still finds it intact.
#[test]
fn a_changed_local_image_is_never_sent_under_the_old_header() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let arch = env.path().join("arch");
    env.add_site(
        "arch",
        &format!("file://{}", arch.display()),
        &["--role", "archive"],
    );
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..3u32 {
        let data: Vec<u8> = (0..300_000 + i).map(|b| (b * 7 + i) as u8).collect();
        std::fs::write(pics.join(format!("IMG_{i}.jpg")), data).unwrap();
    }
    env.ok(&["scan", pics.to_str().unwrap()], 0);
    let imgs = env.path().join("imgs");
    env.ok(&["iso", "create", "-p", imgs.to_str().unwrap()], 0);
    let image = std::fs::read_dir(&imgs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    env.ok(&["upload", "iso"], 0);
    let remote = |env: &Env| {
        let dir = env.path().join("arch/lomob/archives");
        let f = std::fs::read_dir(dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::read(f).unwrap()
    };
    let before = remote(&env);

    // The same bytes sent again give the same ciphertext.
    env.ok(&["upload", "iso", image.to_str().unwrap(), "--force"], 0);
    assert!(
        remote(&env) == before,
        "identical plaintext, identical object"
    );

    // One byte of the image changed in place.
    let mut bytes = std::fs::read(&image).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&image, &bytes).unwrap();
    let out = env.run(&["upload", "iso", image.to_str().unwrap(), "--force"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("differs from the bytes sealed on the image's first pass"),
        "{err}"
    );
    assert!(remote(&env) == before, "the good copy was not replaced");
    assert_eq!(
        crate::util::count_files(&arch.join(lomo_remote::UPLOADS_DIR)),
        0,
        "no upload left behind"
    );
    env.ok(&["check", "--archives"], 0);
}
