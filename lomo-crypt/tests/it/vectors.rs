//! Cross-checks with independent implementations run in the test setup.

use std::path::{Path, PathBuf};
use std::process::Command;

use lomo_crypt::Error;
use lomo_crypt::filecrypt::{Cipher, Cost, open, seal};

/// python3 with the named modules, or `None` (skip) outside the integration suite.
pub fn python_with(modules: &[&str]) -> Option<()> {
    let check = format!("import {}", modules.join(", "));
    let ok = Command::new("python3")
        .args(["-c", &check])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("LOMO_TEST_INTEGRATION").is_none(),
            "python3 with {modules:?} is missing but LOMO_TEST_INTEGRATION is set: run scripts/test"
        );
        eprintln!("skipping: python3 with {modules:?} not available");
        return None;
    }
    Some(())
}

pub fn vector_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

fn pynacl(
    op: &str,
    cipher: Cipher,
    log_n: u8,
    pass: &[u8],
    input: &[u8],
) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().unwrap();
    let (pw, src, dst) = (
        dir.path().join("pw"),
        dir.path().join("in"),
        dir.path().join("out"),
    );
    std::fs::write(&pw, pass).unwrap();
    std::fs::write(&src, input).unwrap();
    let c = match cipher {
        Cipher::XSalsa20Poly1305 => "xsalsa",
        Cipher::XChaCha20Poly1305 => "xchacha",
    };
    let out = Command::new("python3")
        .arg(vector_script("pynacl_box.py"))
        .args([op, c, &log_n.to_string()])
        .args([&pw, &src, &dst])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(std::fs::read(dst).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const PASS: &[u8] = "correct horse battery staple — ünïcödé".as_bytes();

#[test]
fn boxes_made_by_pynacl_open_in_lomob_and_back() {
    if python_with(&["nacl"]).is_none() {
        return;
    }
    for cipher in [Cipher::XSalsa20Poly1305, Cipher::XChaCha20Poly1305] {
        for plain in [&b""[..], b"one byte? no, a few", &vec![0xabu8; 100_000]] {
            let theirs = pynacl("seal", cipher, 15, PASS, plain).unwrap();
            assert_eq!(open(PASS, &theirs, Some(Cost::Low), cipher).unwrap(), plain);
            let ours = seal(PASS, plain, Cost::Low, cipher).unwrap();
            assert_eq!(pynacl("open", cipher, 15, PASS, &ours).unwrap(), plain);
        }
    }
}

#[test]
fn full_cost_filecrypt_box_both_ways_and_cost_autodetect() {
    if python_with(&["nacl"]).is_none() {
        return;
    }
    // N = 2^20 takes ~1 GiB and seconds on each side: one vector each way.
    let theirs = pynacl("seal", Cipher::XSalsa20Poly1305, 20, PASS, b"full cost").unwrap();
    assert_eq!(
        open(PASS, &theirs, None, Cipher::XSalsa20Poly1305).unwrap(),
        b"full cost"
    );
    let ours = seal(
        PASS,
        b"ours, full cost",
        Cost::Standard,
        Cipher::XSalsa20Poly1305,
    )
    .unwrap();
    assert_eq!(
        pynacl("open", Cipher::XSalsa20Poly1305, 20, PASS, &ours).unwrap(),
        b"ours, full cost"
    );
}

#[test]
fn every_negative_vector_is_rejected_with_one_clear_error() {
    if python_with(&["nacl"]).is_none() {
        return;
    }
    let good = pynacl("seal", Cipher::XSalsa20Poly1305, 15, PASS, b"family photos").unwrap();
    let mut cases: Vec<(String, Vec<u8>, &[u8])> = Vec::new();
    for (name, at) in [("salt", 3), ("nonce", 40), ("tag", 60), ("ciphertext", 75)] {
        let mut b = good.clone();
        b[at] ^= 0x01;
        cases.push((format!("flipped bit in {name}"), b, PASS));
    }
    cases.push(("truncated".into(), good[..good.len() - 1].to_vec(), PASS));
    cases.push(("shorter than 72 bytes".into(), good[..71].to_vec(), PASS));
    cases.push(("empty".into(), Vec::new(), PASS));
    cases.push(("wrong passphrase".into(), good.clone(), b"incorrect horse"));
    for (name, blob, pass) in &cases {
        let err = open(pass, blob, Some(Cost::Low), Cipher::XSalsa20Poly1305).unwrap_err();
        assert!(matches!(err, Error::BoxOpen), "{name}: {err}");
        assert!(
            err.to_string().contains("wrong passphrase"),
            "{name}: {err}"
        );
    }
}

fn go_encrypt(master: &[u8], plain: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (mk, src, dst) = (
        dir.path().join("mk"),
        dir.path().join("in"),
        dir.path().join("out"),
    );
    std::fs::write(&mk, master).unwrap();
    std::fs::write(&src, plain).unwrap();
    let out = Command::new("python3")
        .arg(vector_script("go_lomob.py"))
        .arg("encrypt")
        .args([&mk, &src, &dst])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dst).unwrap()
}

#[test]
fn go_lomob_objects_decrypt_and_bad_ones_are_caught() {
    if python_with(&["argon2", "cryptography"]).is_none() {
        return;
    }
    let master = "my Go lomob master key ✓".as_bytes();
    // odd sizes cross AES blocks and the counter carry
    let plain: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let obj = go_encrypt(master, &plain);
    assert_eq!(
        lomo_crypt::lomob_go::open_bytes(master, &obj).unwrap(),
        plain
    );
    let empty = go_encrypt(master, b"");
    assert_eq!(
        lomo_crypt::lomob_go::open_bytes(master, &empty).unwrap(),
        b""
    );
    // wrong key, flipped bit, truncation: the SHA-256 prefix check fails
    let wrong = lomo_crypt::lomob_go::open_bytes(b"another key", &obj).unwrap_err();
    assert!(matches!(wrong, Error::GoCheckFailed), "{wrong}");
    let mut flipped = obj.clone();
    flipped[1000] ^= 4;
    assert!(matches!(
        lomo_crypt::lomob_go::open_bytes(master, &flipped),
        Err(Error::GoCheckFailed)
    ));
    assert!(matches!(
        lomo_crypt::lomob_go::open_bytes(master, &obj[..obj.len() - 1]),
        Err(Error::GoCheckFailed)
    ));
    assert!(matches!(
        lomo_crypt::lomob_go::open_bytes(master, &obj[..10]),
        Err(Error::Truncated)
    ));
}
