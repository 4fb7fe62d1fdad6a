//! `lomob upload iso|files`: the seed's step-by-step commands on the
//! backup's machinery, with two local folder sites.

use crate::util::Env;

fn count(p: &std::path::Path) -> usize {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[test]
fn upload_files_then_iso_create_and_upload_iso() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let (nas, arch) = (env.path().join("nas"), env.path().join("arch"));
    for (name, dir, role) in [("nas", &nas, "staging"), ("arch", &arch, "archive")] {
        env.ok(
            &[
                "site",
                "add",
                name,
                &format!("file://{}", dir.display()),
                "--role",
                role,
            ],
            0,
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
