//! `lomob repair`: a damaged archive on a folder site rebuilt from a
//! second site, or from the parity beside it with no other copy; a
//! truncated staged object staged again; nothing replaced before the
//! replacement is whole, and every repair checked again.

use crate::util::Env;
use crate::verify::{archive_object, flip, photos};

fn env() -> Env {
    Env::new().with_env("LOMOB_PASSPHRASE", "pw")
}

fn verify_every_time(env: &Env) {
    let cfg = env.path().join("config/lomob/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[schedule]\narchive_verify = \"0s\"\n");
    std::fs::write(&cfg, text).unwrap();
}

#[test]
fn a_damaged_archive_is_repaired_from_the_second_site() {
    let env = env();
    let (usb, nas) = (env.path().join("usb"), env.path().join("nas"));
    env.add_site(
        "usb",
        &format!("file://{}", usb.display()),
        &["--role", "archive"],
    );
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "archive"],
    );
    let pics = photos(&env, 8, 300_000);
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "1.5MB"],
        0,
    );
    verify_every_time(&env);
    let obj = archive_object(&usb);
    let good = std::fs::read(&obj).unwrap();
    flip(&obj, good.len() as u64 / 3);
    // The files changed since (so only the other site can help).
    for e in std::fs::read_dir(pics.join("2020")).unwrap().flatten() {
        std::fs::write(e.path(), b"edited afterwards").unwrap();
    }
    let out = env.json(&["check", "--archives"], 1);
    let d = out.iter().find(|l| l["kind"] == "damaged").unwrap();
    assert!(
        d["repair"]
            .as_str()
            .unwrap()
            .contains("the copy on site nas"),
        "{d}"
    );

    let plan = env.json(&["repair", "--dry-run"], 0);
    assert_eq!(plan[0]["outcome"], "planned", "{plan:?}");
    assert!(
        std::fs::read(&obj).unwrap() != good,
        "a dry run changes nothing"
    );
    let done = env.json(&["repair"], 0);
    let a = done.iter().find(|l| l["site"] == "usb").unwrap();
    assert_eq!(a["outcome"], "repaired", "{done:?}");
    assert_eq!(a["source"], "the copy on site nas");
    assert!(
        std::fs::read(&obj).unwrap() == good,
        "the very bytes it had"
    );
    env.ok(&["check", "--archives"], 0);
}

#[test]
fn a_lone_disk_repairs_itself_from_parity() {
    let env = env();
    let usb = env.path().join("usb");
    env.add_site(
        "usb",
        &format!("file://{}", usb.display()),
        &["--role", "archive", "--parity", "5%"],
    );
    // An image of some 300 chunks (parity overhead is about 5 % from there).
    let pics = photos(&env, 9, 2_500_000);
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "22MB"],
        0,
    );
    verify_every_time(&env);
    let obj = archive_object(&usb);
    let par = std::path::PathBuf::from(format!("{}.par", obj.display()));
    let good = std::fs::read(&obj).unwrap();
    let (plen, olen) = (std::fs::metadata(&par).unwrap().len(), good.len() as u64);
    assert!(plen * 100 < olen * 10, "parity {plen} of {olen}");
    // A few flipped bytes, and the files gone: only the parity is left.
    for at in [olen / 5, olen / 2, olen - 10] {
        flip(&obj, at);
    }
    std::fs::remove_dir_all(&pics).unwrap();
    let out = env.json(&["check", "--archives"], 1);
    let damaged: Vec<_> = out.iter().filter(|l| l["kind"] == "damaged").collect();
    assert_eq!(damaged.len(), 3, "{out:?}");
    let done = env.json(&["repair"], 0);
    assert_eq!(done[0]["source"], "the parity stored beside it", "{done:?}");
    assert_eq!(done[0]["outcome"], "repaired");
    assert!(std::fs::read(&obj).unwrap() == good);
    env.ok(&["check", "--archives"], 0);
}

#[test]
fn a_truncated_staged_object_is_found_and_staged_again() {
    let env = env();
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "staging"],
    );
    let pics = photos(&env, 4, 100_000);
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    let staged = crate::verify::archive_object_in(&nas.join("lomob/staging"));
    let full = std::fs::read(&staged).unwrap();
    std::fs::write(&staged, &full[..full.len() / 2]).unwrap();
    let out = env.json(&["check", "--staging"], 1);
    assert!(out.iter().any(|l| l["kind"] == "size"), "{out:?}");
    let done = env.json(&["repair"], 0);
    assert_eq!(done[0]["outcome"], "repaired", "{done:?}");
    assert_eq!(done[0]["source"], "the file on this computer");
    assert_eq!(std::fs::metadata(&staged).unwrap().len(), full.len() as u64);
    env.ok(&["check", "--staging", "--deep", "4"], 0);
}

/// Azure keeps no SHA-256 lomob can read, but an object replaced behind
/// lomob's back has another ETag than the one recorded at upload: found,
/// and rebuilt from the files on this computer.
#[test]
fn an_archive_replaced_on_azurite_is_found_and_rebuilt() {
    use lomo_remote::testing as servers;
    let Some(az) = servers::azurite() else { return };
    servers::azurite_container(az.port, "lomob");
    let env = env().with_env("AZURE_STORAGE_ACCOUNT_KEY", servers::AZURITE_KEY);
    let account = servers::AZURITE_ACCOUNT;
    let url = format!(
        "az://lomob/home?account={account}&endpoint=http://127.0.0.1:{}/{account}",
        az.port
    );
    env.add_site("az", &url, &["--role", "archive"]);
    let pics = photos(&env, 8, 300_000);
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "1.5MB"],
        0,
    );
    env.ok(&["check", "--archives"], 0);
    let listed = env.json(&["list", "remote", "az", "lomob/archives"], 0);
    let (key, size) = (
        listed[0]["key"].as_str().unwrap().to_owned(),
        listed[0]["size"].as_u64().unwrap(),
    );
    servers::azurite_overwrite(az.port, "lomob", &format!("home/{key}"), size, 0x42);
    let out = env.json(&["check", "--archives"], 1);
    let f = out.iter().find(|l| l["kind"] == "replaced").unwrap();
    assert_eq!(f["key"], key.as_str(), "{out:?}");
    let done = env.json(&["repair"], 0);
    assert_eq!(done[0]["outcome"], "repaired", "{done:?}");
    assert_eq!(done[0]["source"], "the files on this computer");
    env.ok(&["check", "--archives"], 0);
    let to = env.path().join("back");
    let name = key.trim_start_matches("lomob/archives/");
    assert!(name.ends_with(".iso.lomo"));
    env.ok(
        &[
            "restore",
            "Pictures/2020/IMG_000.jpg",
            "--to",
            to.to_str().unwrap(),
        ],
        0,
    );
    assert!(
        std::fs::read(to.join("Pictures/2020/IMG_000.jpg")).unwrap()
            == std::fs::read(pics.join("2020/IMG_000.jpg")).unwrap()
    );
}
