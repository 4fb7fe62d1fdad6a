//! Sealed boxes: arbitrary blobs never panic; what opens re-seals and re-opens
//! to the same plaintext. The key is fixed (no scrypt in the loop).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lomo_crypt::filecrypt::{Cipher, open_with_key, salt_of, seal_with_key};

fuzz_target!(|data: &[u8]| {
    let key = [7u8; 32];
    for cipher in [Cipher::XSalsa20Poly1305, Cipher::XChaCha20Poly1305] {
        if let Ok(plain) = open_with_key(&key, data, cipher) {
            let salt = salt_of(data).unwrap();
            let again = seal_with_key(&key, &salt, &plain, cipher);
            assert_eq!(open_with_key(&key, &again, cipher).unwrap(), plain);
        }
    }
    // and the plaintext side: anything seals and opens back
    let blob = seal_with_key(&key, &[1; 32], data, Cipher::XChaCha20Poly1305);
    assert_eq!(open_with_key(&key, &blob, Cipher::XChaCha20Poly1305).unwrap(), data);
});
