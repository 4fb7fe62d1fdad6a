//! The chunk AEAD: XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), sealed by
//! `chacha20poly1305`, or with the `asm` feature by AWS-LC's assembly (the
//! stitched ChaCha20-Poly1305 OpenSSL uses, about 1.6× faster on one core).
//!
//! Both make the same bytes. XChaCha20-Poly1305 is ChaCha20-Poly1305 (RFC
//! 8439) under the subkey `HChaCha20(key, nonce[..16])` with the 12-byte nonce
//! `0⁴ ‖ nonce[16..]`. A stream's chunk nonces start with 15 zero bytes and the
//! top byte of the chunk index, so below chunk 2⁵⁶ (far beyond any object)
//! every chunk of an object shares one subkey, derived once per object.

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};

use super::TAG_LEN;

/// Seals and opens chunks under one object key.
pub(super) struct ChunkAead {
    portable: XChaCha20Poly1305,
    #[cfg(feature = "asm")]
    fast: aws_lc_rs::aead::LessSafeKey,
}

impl ChunkAead {
    pub(super) fn new(key: &[u8; 32]) -> ChunkAead {
        ChunkAead {
            portable: XChaCha20Poly1305::new(key.into()),
            #[cfg(feature = "asm")]
            fast: fast_key(key),
        }
    }

    /// Encrypts `body` in place and returns its tag.
    pub(super) fn seal(&self, nonce: &XNonce, body: &mut [u8]) -> [u8; TAG_LEN] {
        #[cfg(feature = "asm")]
        if let Some(n) = ietf_nonce(nonce) {
            use aws_lc_rs::aead::Aad;
            if let Ok(tag) = self.fast.seal_in_place_separate_tag(n, Aad::empty(), body) {
                return tag_bytes(tag.as_ref());
            }
        }
        // Only fails for plaintexts over 256 GiB; chunks are at most 16 MiB.
        let tag = self
            .portable
            .encrypt_in_place_detached(nonce, b"", body)
            .unwrap_or_default();
        tag.into()
    }

    /// Authenticates `body` against `tag` and decrypts it in place. On
    /// failure `body` may be altered (AWS-LC decrypts while it authenticates).
    pub(super) fn open(&self, nonce: &XNonce, body: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        #[cfg(feature = "asm")]
        if let Some(n) = ietf_nonce(nonce) {
            use aws_lc_rs::aead::Aad;
            return self
                .fast
                .open_in_place_separate_tag(n, Aad::empty(), tag, body)
                .is_ok();
        }
        let tag = *Tag::from_slice(tag);
        self.portable
            .decrypt_in_place_detached(nonce, b"", body, &tag)
            .is_ok()
    }
}

#[cfg(feature = "asm")]
fn tag_bytes(t: &[u8]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(t);
    out
}

/// The ChaCha20-Poly1305 key for nonces whose first 16 bytes are zero.
#[cfg(feature = "asm")]
fn fast_key(key: &[u8; 32]) -> aws_lc_rs::aead::LessSafeKey {
    use aws_lc_rs::aead::{CHACHA20_POLY1305, LessSafeKey, UnboundKey};
    use zeroize::Zeroize as _;
    let mut sub: [u8; 32] =
        chacha20::hchacha::<chacha20::cipher::consts::U10>(key.into(), (&[0u8; 16]).into()).into();
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &sub);
    sub.zeroize();
    // A 32-byte key is always accepted.
    LessSafeKey::new(unbound.unwrap_or_else(|_| unreachable!("ChaCha20 takes 32-byte keys")))
}

/// `0⁴ ‖ nonce[16..]` when `nonce[..16]` is zero (the subkey `fast` holds).
#[cfg(feature = "asm")]
fn ietf_nonce(nonce: &XNonce) -> Option<aws_lc_rs::aead::Nonce> {
    if nonce[..16].iter().any(|&b| b != 0) {
        return None;
    }
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&nonce[16..]);
    Some(aws_lc_rs::aead::Nonce::assume_unique_for_key(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(prefix: u8, tail: u64) -> XNonce {
        let mut n = [0u8; 24];
        n[15] = prefix;
        n[16..].copy_from_slice(&tail.to_be_bytes());
        n.into()
    }

    #[test]
    fn both_implementations_make_and_open_the_same_bytes() {
        let key = [9u8; 32];
        let aead = ChunkAead::new(&key);
        let portable = XChaCha20Poly1305::new((&key).into());
        for (len, n) in [
            (0, nonce(0, 0)),
            (1000, nonce(0, 7)),
            (65536, nonce(0, 1 << 40 | 1)),
        ]
        .into_iter()
        .chain([(300, nonce(1, 3))])
        {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let (mut a, mut b) = (plain.clone(), plain.clone());
            let tag = aead.seal(&n, &mut a);
            let expected = portable.encrypt_in_place_detached(&n, b"", &mut b).unwrap();
            assert_eq!((a.as_slice(), &tag[..]), (b.as_slice(), &expected[..]));
            assert!(aead.open(&n, &mut a, &tag));
            assert_eq!(a, plain);
        }
    }

    #[test]
    fn a_wrong_tag_or_nonce_does_not_open() {
        let aead = ChunkAead::new(&[3u8; 32]);
        let mut body = vec![5u8; 100];
        let tag = aead.seal(&nonce(0, 1), &mut body);
        let mut bad = tag;
        bad[0] ^= 1;
        assert!(!aead.open(&nonce(0, 1), &mut body.clone(), &bad));
        assert!(!aead.open(&nonce(0, 2), &mut body.clone(), &tag));
        assert!(aead.open(&nonce(0, 1), &mut body, &tag));
    }
}
