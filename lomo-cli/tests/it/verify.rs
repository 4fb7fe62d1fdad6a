//! Archives on folder sites are read back and authenticated: a byte
//! flipped on the disk (bit rot on a NAS or a USB disk) is found, named
//! with the archive, the byte range and the files it holds.

use crate::util::Env;

/// A tree of `n` photos of ~`size` bytes, distinct contents.
pub fn photos(env: &Env, n: u32, size: u32) -> std::path::PathBuf {
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(pics.join("2020")).unwrap();
    for i in 0..n {
        let data: Vec<u8> = (0..size + i)
            .map(|b| (b.wrapping_mul(2_654_435_761) >> 7) as u8 ^ i as u8)
            .collect();
        std::fs::write(pics.join(format!("2020/IMG_{i:03}.jpg")), data).unwrap();
    }
    pics
}

/// The first archive object under `site` (not its parity).
pub fn archive_object(site: &std::path::Path) -> std::path::PathBuf {
    archive_object_in(&site.join("lomob/archives"))
}

/// The first object below `dir` (in name order; parity objects left out).
pub fn archive_object_in(dir: &std::path::Path) -> std::path::PathBuf {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().ends_with(".par") {
                all.push(p);
            }
        }
    }
    all.sort();
    all.remove(0)
}

/// Flips one byte in place, keeping the file's size and mtime (bit rot).
pub fn flip(path: &std::path::Path, at: u64) {
    use std::os::unix::fs::FileExt as _;
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x04], at).unwrap();
    drop(f);
    crate::util::set_mtime(path, mtime);
}

#[test]
fn a_flipped_byte_on_a_folder_site_is_found_and_named() {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let usb = env.path().join("usb");
    env.add_site(
        "usb",
        &format!("file://{}", usb.display()),
        &["--role", "archive"],
    );
    let pics = photos(&env, 8, 300_000);
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "1.5MB"],
        0,
    );
    let first = env.json(&["check", "--archives"], 0);
    assert_eq!(first.last().unwrap()["problems"], 0, "{first:?}");
    // Read once: not read again within the verify period.
    let again = env.run(&["check", "--archives"]);
    assert!(again.status.success());

    let obj = archive_object(&usb);
    let len = std::fs::metadata(&obj).unwrap().len();
    flip(&obj, len / 2);
    // Due again (as a month later): found.
    let cfg = env.path().join("config/lomob/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[schedule]\narchive_verify = \"0s\"\n");
    std::fs::write(&cfg, text).unwrap();
    let out = env.json(&["check", "--archives"], 1);
    let damaged: Vec<_> = out.iter().filter(|l| l["kind"] == "damaged").collect();
    assert_eq!(damaged.len(), 1, "{out:?}");
    let d = damaged[0];
    let detail = d["detail"].as_str().unwrap();
    assert!(
        detail.contains("fail authentication") && detail.contains("Pictures/2020/IMG_"),
        "{d}"
    );
    assert!(d["path"].as_str().unwrap().ends_with(".iso"), "{d}");
    assert!(
        d["repair"]
            .as_str()
            .unwrap()
            .contains("files on this computer"),
        "{d}"
    );
    let text = env.ok(&["check", "--archives"], 1);
    assert!(text.contains("usb: damaged"), "{text}");
}
