//! Key files: slots, wrong passphrase vs damage, atomic 0600 writes.

use std::os::unix::fs::PermissionsExt;

use lomo_crypt::{Error, KdfParams, KeyFile, MasterKey};

fn quick() -> KdfParams {
    KdfParams::insecure_for_tests()
}

#[test]
fn slots_add_remove_change_without_touching_the_key() {
    let key = MasterKey::generate();
    let mut f = KeyFile::create(&key, b"first passphrase", "me", quick()).unwrap();
    let (k, slot) = f.unlock(b"first passphrase").unwrap();
    assert_eq!((k.expose(), slot), (key.expose(), 1));
    let second = f
        .add_slot(&key, "zweite Passphrase ✓".as_bytes(), "spouse", quick())
        .unwrap();
    assert_eq!(
        f.unlock("zweite Passphrase ✓".as_bytes()).unwrap().1,
        second
    );
    // change = add the new one, remove the old one
    let new = f.add_slot(&key, b"new first", "me", quick()).unwrap();
    f.remove_slot(1).unwrap();
    assert!(matches!(
        f.unlock(b"first passphrase"),
        Err(Error::WrongPassphrase { slots: 2 })
    ));
    assert_eq!(f.unlock(b"new first").unwrap().0.expose(), key.expose());
    f.remove_slot(second).unwrap();
    let err = f.remove_slot(new).unwrap_err();
    assert!(err.to_string().contains("only key slot"), "{err}");
    assert!(f.remove_slot(99).is_err());
    // a slot cannot be added with another key
    assert!(
        f.add_slot(&MasterKey::generate(), b"x", "x", quick())
            .is_err()
    );
}

#[test]
fn wrong_passphrase_and_damage_are_told_apart() {
    let key = MasterKey::generate();
    let f = KeyFile::create(&key, b"right", "me", quick()).unwrap();
    let json = f.to_json();
    assert!(matches!(
        KeyFile::from_json(&json).unwrap().unlock(b"wrong"),
        Err(Error::WrongPassphrase { .. })
    ));
    // flip one hex digit of each stored field: damage, not "wrong passphrase"
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for field in ["salt", "nonce", "wrapped", "check"] {
        let orig = v["slots"][0][field].as_str().unwrap().to_string();
        let flipped = format!(
            "{}{}",
            if orig.starts_with('0') { "1" } else { "0" },
            &orig[1..]
        );
        let bad = json.replace(&orig, &flipped);
        let err = KeyFile::from_json(&bad)
            .and_then(|f| f.unlock(b"right").map(|_| ()))
            .unwrap_err();
        assert!(matches!(err, Error::KeyFileDamaged(_)), "{field}: {err}");
    }
    for garbage in ["", "{}", "not json", &json[..json.len() / 2]] {
        assert!(matches!(
            KeyFile::from_json(garbage),
            Err(Error::KeyFileDamaged(_))
        ));
    }
    let no_key_in_clear = !json.contains(&format!(
        "{:02x}{:02x}{:02x}",
        key.expose()[0],
        key.expose()[1],
        key.expose()[2]
    ));
    assert!(no_key_in_clear);
}

#[test]
fn saved_atomically_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lomob.key");
    let key = MasterKey::generate();
    let f = KeyFile::create(&key, b"pw", "me", quick()).unwrap();
    f.save(&path).unwrap();
    f.save(&path).unwrap(); // replacing works too
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
    assert_eq!(
        KeyFile::load(&path)
            .unwrap()
            .unlock(b"pw")
            .unwrap()
            .0
            .expose(),
        key.expose()
    );
    std::fs::write(&path, "{").unwrap();
    let err = KeyFile::load(&path).unwrap_err();
    assert!(err.to_string().contains("lomob.key"), "{err}");
}

#[test]
fn default_parameters_are_rfc_9106() {
    assert_eq!(
        KdfParams::default(),
        KdfParams {
            m_kib: 65536,
            t: 3,
            p: 4
        }
    );
    let key = MasterKey::generate();
    let f = KeyFile::create(&key, b"pw", "me", KdfParams::default()).unwrap();
    let t = std::time::Instant::now();
    f.unlock(b"pw").unwrap();
    eprintln!("unlock with default parameters: {:?}", t.elapsed());
}

/// A key file planted on a site with absurd Argon2 parameters is refused
/// as damaged before any work: no 4 TiB allocation, no years of passes.
#[test]
fn fail_argon2_parameters_out_of_bounds_are_refused_before_any_work() {
    let key = lomo_crypt::MasterKey::generate();
    let file = lomo_crypt::KeyFile::create(
        &key,
        b"pw",
        "x",
        lomo_crypt::KdfParams::insecure_for_tests(),
    )
    .unwrap();
    let json = file.to_json();
    for (field, value) in [
        ("m_kib", "4294967295"),
        ("t", "4294967295"),
        ("p", "0"),
        ("p", "65"),
        ("m_kib", "7"),
    ] {
        let re = regex_lite(&json, field, value);
        let started = std::time::Instant::now();
        let err = match lomo_crypt::KeyFile::from_json(&re) {
            Err(e) => e,
            Ok(f) => f.unlock(b"pw").unwrap_err(),
        };
        assert!(
            matches!(err, lomo_crypt::Error::KeyFileDamaged(_)),
            "{field}={value}: {err}"
        );
        assert!(err.to_string().contains("out of bounds"), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "refused before deriving"
        );
    }
    let too_many = lomo_crypt::KdfParams {
        m_kib: 1 << 30,
        t: 1,
        p: 1,
    };
    assert!(lomo_crypt::KeyFile::create(&key, b"pw", "x", too_many).is_err());
}

/// `"field": N` replaced by `"field": value` in the first slot.
fn regex_lite(json: &str, field: &str, value: &str) -> String {
    let key = format!("\"{field}\": ");
    let at = json.find(&key).unwrap() + key.len();
    let end = at + json[at..].find([',', '\n']).unwrap();
    format!("{}{value}{}", &json[..at], &json[end..])
}
