//! Key files with any Argon2 parameters: `from_json` refuses the ones out of
//! the documented bounds (t 1–64, p 1–64, 8·p ≤ m ≤ 4 GiB), before any
//! derivation and naming the bounds; in-bounds changes fail the slot's
//! check value instead. Nothing here runs Argon2 with the fuzzer's
//! parameters — that is the point: `unlock` validates the same way first.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lomo_crypt::{KdfParams, KeyFile, MasterKey};

fn original() -> &'static KeyFile {
    static F: std::sync::OnceLock<KeyFile> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let key = MasterKey::from_bytes([7; 32]);
        KeyFile::create(&key, b"pw", "fuzz", KdfParams::insecure_for_tests()).unwrap()
    })
}

#[derive(Debug, Arbitrary)]
struct Params {
    m_kib: u64,
    t: u64,
    p: u64,
}

fuzz_target!(|p: Params| {
    let original = original();
    let mut v: serde_json::Value = serde_json::from_str(&original.to_json()).unwrap();
    let slot = &mut v["slots"][0];
    let same = slot["m_kib"] == p.m_kib && slot["t"] == p.t && slot["p"] == p.p;
    slot["m_kib"] = p.m_kib.into();
    slot["t"] = p.t.into();
    slot["p"] = p.p.into();
    let in_bounds = (1..=64).contains(&p.t)
        && (1..=64).contains(&p.p)
        && p.m_kib >= 8 * p.p
        && p.m_kib <= 4 << 20;
    let started = std::time::Instant::now();
    match KeyFile::from_json(&v.to_string()) {
        Ok(f) => assert!(same && f == *original, "accepted {p:?}"),
        Err(e) if in_bounds => assert!(e.to_string().contains("check value"), "{p:?}: {e}"),
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("out of bounds") || m.contains("invalid value"), "{p:?}: {m}");
        }
    }
    assert!(started.elapsed().as_secs() < 1, "parsing {p:?} did work");
});
