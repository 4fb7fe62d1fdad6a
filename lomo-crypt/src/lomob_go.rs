//! Read-only compatibility with objects written by the Go lomo-backup.
//!
//! Its format: `IV(16) ‖ AES-256-CTR(plaintext)`, the whole IV being the first
//! 128-bit big-endian counter block; IV = the first 16 bytes of
//! SHA-256(plaintext), also the salt; key = Argon2id(password = the master key
//! as typed (UTF-8), salt = IV, t = 1, m = 64 MiB, p = 4, v1.3, 32 bytes). No
//! header, no MAC: the only check is that SHA-256 of the decrypted output
//! starts with the IV, which holds by construction and fails for a wrong key
//! or a damaged object. ISOs are one continuous stream across their parts.

use std::io::{self, Read};

use aes::cipher::{KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The Go tool's per-object key: Argon2id(master key, IV, t=1, m=64 MiB, p=4).
pub fn derive_key(master_key: &[u8], iv: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>> {
    let params =
        argon2::Params::new(64 * 1024, 1, 4, Some(32)).map_err(|e| Error::Kdf(e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut k = Zeroizing::new([0u8; 32]);
    a.hash_password_into(master_key, iv, &mut k[..])
        .map_err(|e| Error::Kdf(e.to_string()))?;
    Ok(k)
}

/// Decrypts a Go lomo-backup object as it is read.
///
/// The plaintext is only proven right at the end: the final `read` returning
/// 0 is preceded by an error (`InvalidData`, [`Error::GoCheckFailed`]) if
/// SHA-256 of the output does not start with the IV. Write the output to a
/// temporary file and keep it only when the reader reached a clean end.
pub struct GoDecryptReader<R> {
    inner: R,
    iv: [u8; 16],
    cipher: Aes256Ctr,
    sha: Sha256,
    checked: bool,
}

impl<R: Read> GoDecryptReader<R> {
    /// Reads the IV and derives the key (one 64 MiB Argon2id, ~0.1 s).
    pub fn new(master_key: &[u8], mut inner: R) -> Result<Self> {
        let mut iv = [0u8; 16];
        inner.read_exact(&mut iv).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::Truncated
            } else {
                Error::Io(e)
            }
        })?;
        let key = derive_key(master_key, &iv)?;
        Ok(GoDecryptReader {
            inner,
            cipher: Aes256Ctr::new((&*key).into(), (&iv).into()),
            iv,
            sha: Sha256::new(),
            checked: false,
        })
    }
}

impl<R: Read> Read for GoDecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if !self.checked {
                self.checked = true;
                let digest = self.sha.clone().finalize();
                if digest[..16] != self.iv {
                    return Err(Error::GoCheckFailed.into_io());
                }
            }
            return Ok(0);
        }
        self.cipher.apply_keystream(&mut buf[..n]);
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// Decrypts a whole Go lomo-backup object held in memory.
pub fn open_bytes(master_key: &[u8], object: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(object.len().saturating_sub(16));
    GoDecryptReader::new(master_key, object)?
        .read_to_end(&mut out)
        .map_err(crate::error::from_io)?;
    Ok(out)
}
