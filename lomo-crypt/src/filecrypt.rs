//! The filecrypt-compatible sealed box (kisom/filecrypt), and lomob's own
//! small-object seal with the same layout.
//!
//! Blob: `salt(32) ‖ nonce(24) ‖ tag(16) ‖ ciphertext`, key =
//! scrypt(passphrase, salt, N = 2^20 — or 2^15 for filecrypt's `-l` — r = 8,
//! p = 1, 32 bytes). No magic, no version, N not recorded. One-shot in memory:
//! for small things only (key files, catalog snapshots, a few files).
//!
//! Every failure to open is the same [`Error::BoxOpen`]: a wrong passphrase,
//! a damaged blob and a blob that is not a box are indistinguishable by design.

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::key::random;

const SALT: usize = 32;
const NONCE: usize = 24;
const TAG: usize = 16;
/// The smallest valid blob: salt, nonce and tag of an empty payload.
pub const MIN_BLOB: usize = SALT + NONCE + TAG;

/// Which AEAD seals the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// NaCl secretbox, XSalsa20-Poly1305: what filecrypt writes.
    XSalsa20Poly1305,
    /// XChaCha20-Poly1305: lomob's own small-object seal.
    XChaCha20Poly1305,
}

/// scrypt cost: filecrypt's default N = 2^20 (≈1 GiB, seconds) or its `-l` N = 2^15.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// N = 2^20, r = 8, p = 1.
    Standard,
    /// N = 2^15, r = 8, p = 1 (filecrypt `-l`).
    Low,
}

impl Cost {
    fn log_n(self) -> u8 {
        match self {
            Cost::Standard => 20,
            Cost::Low => 15,
        }
    }
}

/// The box key for `passphrase` and `salt`. Exposed so callers that open many
/// boxes with one salt, or tests, can derive once.
pub fn derive_key(passphrase: &[u8], salt: &[u8; 32], cost: Cost) -> Result<Zeroizing<[u8; 32]>> {
    let params =
        scrypt::Params::new(cost.log_n(), 8, 1, 32).map_err(|e| Error::Kdf(e.to_string()))?;
    let mut k = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, &mut k[..]).map_err(|e| Error::Kdf(e.to_string()))?;
    Ok(k)
}

/// Seals `plain` with a passphrase (fresh random salt and nonce).
pub fn seal(passphrase: &[u8], plain: &[u8], cost: Cost, cipher: Cipher) -> Result<Vec<u8>> {
    let salt: [u8; 32] = random();
    let key = derive_key(passphrase, &salt, cost)?;
    Ok(seal_with_key(&key, &salt, plain, cipher))
}

/// Seals with an already derived key; `salt` is stored in the blob.
pub fn seal_with_key(key: &[u8; 32], salt: &[u8; 32], plain: &[u8], cipher: Cipher) -> Vec<u8> {
    let nonce: [u8; 24] = random();
    let mut out = Vec::with_capacity(MIN_BLOB + plain.len());
    out.extend_from_slice(salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&[0u8; TAG]);
    out.extend_from_slice(plain);
    let (head, body) = out.split_at_mut(MIN_BLOB);
    let tag = match cipher {
        Cipher::XSalsa20Poly1305 => XSalsa20Poly1305::new(key.into())
            .encrypt_in_place_detached((&nonce).into(), b"", body)
            .map(|t| t.to_vec()),
        Cipher::XChaCha20Poly1305 => XChaCha20Poly1305::new(key.into())
            .encrypt_in_place_detached((&nonce).into(), b"", body)
            .map(|t| t.to_vec()),
    }
    // Only fails past 256 GiB, far beyond what a one-shot box holds.
    .unwrap_or_default();
    head[SALT + NONCE..].copy_from_slice(&tag);
    out
}

/// The salt stored in a blob (to derive its key once with [`derive_key`]).
pub fn salt_of(blob: &[u8]) -> Result<[u8; 32]> {
    blob.get(..SALT)
        .filter(|_| blob.len() >= MIN_BLOB)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::BoxOpen)
}

/// Opens a blob with a passphrase. With `cost` `None`, tries N = 2^20 then 2^15
/// (the blob does not record which filecrypt used).
pub fn open(passphrase: &[u8], blob: &[u8], cost: Option<Cost>, cipher: Cipher) -> Result<Vec<u8>> {
    let salt = salt_of(blob)?;
    let costs: &[Cost] = match cost {
        Some(Cost::Standard) => &[Cost::Standard],
        Some(Cost::Low) => &[Cost::Low],
        None => &[Cost::Standard, Cost::Low],
    };
    for &c in costs {
        let key = derive_key(passphrase, &salt, c)?;
        if let Ok(plain) = open_with_key(&key, blob, cipher) {
            return Ok(plain);
        }
    }
    Err(Error::BoxOpen)
}

/// Opens a blob with an already derived key.
pub fn open_with_key(key: &[u8; 32], blob: &[u8], cipher: Cipher) -> Result<Vec<u8>> {
    if blob.len() < MIN_BLOB {
        return Err(Error::BoxOpen);
    }
    let nonce = &blob[SALT..SALT + NONCE];
    let tag = &blob[SALT + NONCE..MIN_BLOB];
    let mut body = blob[MIN_BLOB..].to_vec();
    let ok =
        match cipher {
            Cipher::XSalsa20Poly1305 => XSalsa20Poly1305::new(key.into())
                .decrypt_in_place_detached(nonce.into(), b"", &mut body, tag.into()),
            Cipher::XChaCha20Poly1305 => XChaCha20Poly1305::new(key.into())
                .decrypt_in_place_detached(nonce.into(), b"", &mut body, tag.into()),
        };
    ok.map(|()| body).map_err(|_| Error::BoxOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_ciphers_and_tamper() {
        let key = [9u8; 32];
        let salt = [3u8; 32];
        for cipher in [Cipher::XSalsa20Poly1305, Cipher::XChaCha20Poly1305] {
            for plain in [&b""[..], b"x", &[7u8; 1000]] {
                let blob = seal_with_key(&key, &salt, plain, cipher);
                assert_eq!(blob.len(), MIN_BLOB + plain.len());
                assert_eq!(open_with_key(&key, &blob, cipher).unwrap(), plain);
                for i in 0..blob.len() {
                    if i < SALT {
                        continue; // the salt only feeds the KDF, which this skips
                    }
                    let mut bad = blob.clone();
                    bad[i] ^= 0x10;
                    assert!(open_with_key(&key, &bad, cipher).is_err(), "byte {i}");
                }
                assert!(open_with_key(&key, &blob[..blob.len() - 1], cipher).is_err());
            }
        }
        let blob = seal_with_key(&key, &salt, b"abc", Cipher::XSalsa20Poly1305);
        assert!(open_with_key(&key, &blob, Cipher::XChaCha20Poly1305).is_err());
        assert!(open_with_key(&key, &[0u8; 71], Cipher::XSalsa20Poly1305).is_err());
    }

    #[test]
    fn low_cost_passphrase_round_trip() {
        let blob = seal(b"pw", b"hello", Cost::Low, Cipher::XSalsa20Poly1305).unwrap();
        assert_eq!(
            open(b"pw", &blob, Some(Cost::Low), Cipher::XSalsa20Poly1305).unwrap(),
            b"hello"
        );
        assert!(matches!(
            open(b"no", &blob, Some(Cost::Low), Cipher::XSalsa20Poly1305),
            Err(Error::BoxOpen)
        ));
    }
}
