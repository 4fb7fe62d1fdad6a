//! `lomob crypt` and `lomob key` through the binary; Python (tarfile + PyNaCl)
//! plays filecrypt on the other side.

use std::path::Path;
use std::process::Command;

use crate::util::Env;

fn python_ok() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import nacl"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("LOMO_TEST_INTEGRATION").is_none(),
        "PyNaCl missing: run scripts/test"
    );
    ok
}

fn box_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lomo-crypt/tests/vectors/pynacl_box.py")
}

/// Runs python3 -c CODE with args; panics on failure.
fn py(code: &str, args: &[&Path]) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_album(root: &Path) {
    std::fs::create_dir_all(root.join("album/家族")).unwrap();
    std::fs::write(root.join("album/IMG_0001.jpg"), b"jpeg bytes").unwrap();
    std::fs::write(root.join("album/家族/年夜饭.jpg"), b"dinner").unwrap();
}

#[test]
fn filecrypt_boxes_round_trip_with_an_independent_peer() {
    if !python_ok() {
        return;
    }
    let env = Env::new();
    let dir = env.path();
    make_album(dir);
    let pw = dir.join("pw");
    std::fs::write(&pw, "open sesame\n").unwrap();
    let pw_s = pw.to_str().unwrap();

    // lomob seals; Python opens the box and untars it
    let mut seal = env.cmd(&[
        "crypt",
        "seal",
        "album",
        "-o",
        "ours.fc",
        "--low",
        "--passphrase-file",
        pw_s,
    ]);
    assert!(seal.current_dir(dir).status().unwrap().success());
    std::fs::write(dir.join("pw-py"), "open sesame").unwrap();
    let st = Command::new("python3")
        .arg(box_script())
        .args(["open", "xsalsa", "15"])
        .args([dir.join("pw-py"), dir.join("ours.fc"), dir.join("ours.tgz")])
        .status()
        .unwrap();
    assert!(st.success());
    py(
        "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')",
        &[&dir.join("ours.tgz"), &dir.join("py-out")],
    );
    assert_eq!(
        std::fs::read(dir.join("py-out/album/家族/年夜饭.jpg")).unwrap(),
        b"dinner"
    );

    // Python makes a PAX tar.gz and seals it like filecrypt; lomob opens it
    py(
        "import sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz', format=tarfile.PAX_FORMAT) as t: t.add(sys.argv[2], arcname='album')",
        &[&dir.join("theirs.tgz"), &dir.join("album")],
    );
    let st = Command::new("python3")
        .arg(box_script())
        .args(["seal", "xsalsa", "15"])
        .args([
            dir.join("pw-py"),
            dir.join("theirs.tgz"),
            dir.join("theirs.fc"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let out = dir.join("lomob-out");
    env.ok(
        &[
            "crypt",
            "open",
            dir.join("theirs.fc").to_str().unwrap(),
            "-C",
            out.to_str().unwrap(),
            "--low",
            "--passphrase-file",
            pw_s,
        ],
        0,
    );
    assert_eq!(
        std::fs::read(out.join("album/IMG_0001.jpg")).unwrap(),
        b"jpeg bytes"
    );

    // wrong passphrase or damage: exit 2, one clear message, nothing written
    std::fs::write(dir.join("bad-pw"), "nope").unwrap();
    let nothing = dir.join("nothing");
    let r = env.run(&[
        "crypt",
        "open",
        dir.join("theirs.fc").to_str().unwrap(),
        "-C",
        nothing.to_str().unwrap(),
        "--low",
        "--passphrase-file",
        dir.join("bad-pw").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("wrong passphrase"));
    assert!(!nothing.exists());
    let mut damaged = std::fs::read(dir.join("theirs.fc")).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    std::fs::write(dir.join("damaged.fc"), damaged).unwrap();
    let r = env.run(&[
        "crypt",
        "open",
        dir.join("damaged.fc").to_str().unwrap(),
        "-C",
        nothing.to_str().unwrap(),
        "--low",
        "--passphrase-file",
        pw_s,
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(!nothing.exists());

    // --raw both ways, lomob's own XChaCha20 format
    let raw_out = dir.join("raw.out");
    env.ok(
        &[
            "crypt",
            "seal",
            "--raw",
            dir.join("album/IMG_0001.jpg").to_str().unwrap(),
            "-o",
            dir.join("raw.box").to_str().unwrap(),
            "--format",
            "lomob",
            "--low",
            "--passphrase-file",
            pw_s,
        ],
        0,
    );
    env.ok(
        &[
            "crypt",
            "open",
            "--raw",
            dir.join("raw.box").to_str().unwrap(),
            "-o",
            raw_out.to_str().unwrap(),
            "--format",
            "lomob",
            "--low",
            "--passphrase-file",
            pw_s,
        ],
        0,
    );
    assert_eq!(std::fs::read(raw_out).unwrap(), b"jpeg bytes");
}

#[test]
fn go_lomob_objects_open_and_a_wrong_key_leaves_no_file() {
    let ok = Command::new("python3")
        .args(["-c", "import argon2, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok || std::env::var_os("LOMO_TEST_INTEGRATION").is_none());
    if !ok {
        return;
    }
    let env = Env::new();
    let dir = env.path();
    std::fs::write(dir.join("mk"), "go master key").unwrap();
    std::fs::write(dir.join("plain.iso"), vec![7u8; 300_001]).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lomo-crypt/tests/vectors/go_lomob.py");
    let st = Command::new("python3")
        .arg(script)
        .arg("encrypt")
        .args([dir.join("mk"), dir.join("plain.iso"), dir.join("enc.iso")])
        .status()
        .unwrap();
    assert!(st.success());
    let enc = dir.join("enc.iso");
    let out = dir.join("dec.iso");
    let mut c = env.cmd(&[
        "crypt",
        "open",
        "--format",
        "lomob-go",
        enc.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        c.env("LOMOB_MASTER_KEY", "go master key")
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 300_001]);
    let wrong = dir.join("wrong.iso");
    let r = env
        .cmd(&[
            "crypt",
            "open",
            "--format",
            "lomob-go",
            enc.to_str().unwrap(),
            "-o",
            wrong.to_str().unwrap(),
        ])
        .env("LOMOB_MASTER_KEY", "not it")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("wrong master key"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!wrong.exists());
    assert_eq!(
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("lomob-tmp"))
            .count(),
        0
    );
}

#[test]
fn key_slots_through_the_cli() {
    let env = Env::new();
    let kf = env.path().join("k/lomob.key");
    let kf_s = kf.to_str().unwrap();
    let run = |args: &[&str], pass: &str, new: Option<&str>| {
        let mut c = env.cmd(&["key", "--key-file", kf_s]);
        c.args(args).env("LOMOB_PASSPHRASE", pass);
        if let Some(n) = new {
            c.env("LOMOB_NEW_PASSPHRASE", n);
        }
        c.output().unwrap()
    };
    assert!(run(&["init"], "one", None).status.success());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = run(&["init"], "one", None);
    assert_eq!(again.status.code(), Some(2), "init never replaces a key");
    assert!(
        run(&["add", "--label", "spouse"], "one", Some("two"))
            .status
            .success()
    );
    assert!(run(&["change"], "one", Some("uno")).status.success());
    let wrong = run(&["add"], "one", Some("x"));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"));
    let list = env.json(&["key", "--key-file", kf_s, "list"], 0);
    let labels: Vec<&str> = list.iter().map(|v| v["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["spouse", "first passphrase"]);
    // damage is not a wrong passphrase
    let text = std::fs::read_to_string(&kf).unwrap();
    std::fs::write(
        &kf,
        text.replacen("\"wrapped\": \"", "\"wrapped\": \"ff", 1),
    )
    .unwrap();
    let damaged = run(&["add"], "uno", Some("x"));
    assert_eq!(damaged.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("damaged"),
        "{}",
        String::from_utf8_lossy(&damaged.stderr)
    );
}
