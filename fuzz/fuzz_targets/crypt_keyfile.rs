//! Key files: any text parses or is refused cleanly; what parses writes back
//! and parses to the same value. Unlocking is not fuzzed (Argon2 per input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lomo_crypt::KeyFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(f) = KeyFile::from_json(text) {
        let again = KeyFile::from_json(&f.to_json()).unwrap();
        assert_eq!(again, f);
    }
});
