//! Mass changes are news: the photo drive unmounted (its mount point left
//! empty) or most photos rewritten (ransomware) hold the root's backups,
//! with a warning, exit 1 and an alert, until the owner accepts the change.

use crate::util::{Env, count_files};

fn staged(env: &Env) -> usize {
    count_files(&env.path().join("nas/lomob/staging"))
}

#[test]
fn an_unmounted_drive_and_rewritten_photos_hold_the_root_until_accepted() {
    let (port, hooks) = crate::alert::webhook();
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw").with_env(
        "LOMOB_ALERT_WEBHOOK_URL",
        &format!("http://127.0.0.1:{port}/hook"),
    );
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    let drive = env.path().join("drive");
    let photos = drive.join("Photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..44u32 {
        std::fs::write(photos.join(format!("IMG_{i:04}.jpg")), format!("photo {i}")).unwrap();
    }
    let photos_s = photos.to_str().unwrap();
    env.ok(&["backup", photos_s], 0);
    assert_eq!(staged(&env), 44);

    // The drive is unmounted: its mount point stays, empty.
    let away = env.path().join("away");
    std::fs::rename(&photos, &away).unwrap();
    std::fs::create_dir_all(&photos).unwrap();
    let out = env.run(&["backup", photos_s]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is held: 44 of its 44 files deleted"), "{err}");
    assert!(err.contains("--accept-changes"), "{err}");
    let hook = hooks.lock().unwrap().clone();
    assert!(
        hook.iter().any(|h| h.contains("\"mass-change\"")),
        "{hook:?}"
    );

    // Mounted again, then most photos rewritten behind the owner's back.
    std::fs::remove_dir(&photos).unwrap();
    std::fs::rename(&away, &photos).unwrap();
    for i in 0..30u32 {
        std::fs::write(
            photos.join(format!("IMG_{i:04}.jpg")),
            format!("encrypted garbage {i}"),
        )
        .unwrap();
    }
    let out = env.run(&["backup", photos_s]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is held"), "{err}");
    // Nothing of the rewritten files was staged; the originals' copies stay.
    assert_eq!(staged(&env), 44);

    // The owner says the change is right: backed up again.
    let out = env.json(&["backup", photos_s, "--accept-changes", photos_s], 0);
    let line = out.iter().find(|l| l["site"] == "nas").unwrap();
    assert_eq!(line["staged"], 30, "{out:?}");
    env.ok(&["backup", photos_s], 0);
}
