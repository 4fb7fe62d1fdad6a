//! The native stream format (FORMAT.md section 2): a 76-byte authenticated
//! header, then 64 KiB chunks sealed with XChaCha20-Poly1305 under a per-object
//! key, STREAM nonces. Seekable: any chunk can be sealed or opened alone.

mod aead;
#[cfg(feature = "async")]
mod asynchronous;
mod read;
mod write;

#[cfg(feature = "async")]
pub use asynchronous::{decrypt_stream, encrypt_stream};
pub use read::{DecryptReader, SeekDecryptReader};
pub use write::{EncryptReader, EncryptWriter};

use chacha20poly1305::XNonce;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::key::{KeyId, MasterKey, random};

/// Header length in bytes.
pub const HEADER_LEN: usize = 76;
/// Authentication tag length per chunk.
pub const TAG_LEN: usize = 16;
/// Default chunk size exponent: 64 KiB chunks.
pub const DEFAULT_CHUNK_LOG2: u8 = 16;
const MAGIC: &[u8; 8] = b"LOMOBSTR";
const VERSION: u8 = 1;
const CTX_OBJECT_KEY: &str = "lomob 2026-11 stream v1 object key";

/// A stream header: which key, which salt, which chunk size.
///
/// Keep it (or its [`Header::to_bytes`]) to regenerate identical ciphertext
/// later, e.g. to resume an upload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    /// Id of the master key the object is sealed under.
    pub key_id: KeyId,
    /// Per-object random salt.
    pub salt: [u8; 32],
    /// Chunk size is `2^chunk_log2` bytes (12..=24).
    pub chunk_log2: u8,
    tag: [u8; 16],
}

impl Header {
    /// A header for a new object: random salt, 64 KiB chunks.
    pub fn new(key: &MasterKey) -> Header {
        Header::with_salt(key, random(), DEFAULT_CHUNK_LOG2)
    }

    /// A header with a given salt and chunk size (deterministic).
    ///
    /// # Panics
    /// Never for `chunk_log2` in 12..=24; other values are clamped into it.
    pub fn with_salt(key: &MasterKey, salt: [u8; 32], chunk_log2: u8) -> Header {
        let mut h = Header {
            key_id: key.id(),
            salt,
            chunk_log2: chunk_log2.clamp(12, 24),
            tag: [0; 16],
        };
        h.tag = tag_for(&object_key(key, &h.body()), &h.body());
        h
    }

    /// The 76 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..60].copy_from_slice(&self.body());
        b[60..].copy_from_slice(&self.tag);
        b
    }

    /// Parses header bytes (structure only; [`ObjectCipher::new`] authenticates).
    pub fn parse(b: &[u8]) -> Result<Header> {
        if b.len() < HEADER_LEN {
            return Err(if b.len() >= 8 && &b[..8] != MAGIC {
                Error::NotAStream
            } else {
                Error::Truncated
            });
        }
        if &b[..8] != MAGIC {
            return Err(Error::NotAStream);
        }
        if b[8] != VERSION {
            return Err(Error::UnsupportedVersion(b[8]));
        }
        if !(12..=24).contains(&b[9]) {
            return Err(Error::BadHeader("chunk size out of range"));
        }
        if b[10] != 0 || b[11] != 0 {
            return Err(Error::BadHeader("reserved bytes are not zero"));
        }
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&b[12..28]);
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&b[28..60]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&b[60..76]);
        Ok(Header {
            key_id: KeyId(key_id),
            salt,
            chunk_log2: b[9],
            tag,
        })
    }

    /// Chunk size in bytes.
    pub fn chunk_size(&self) -> usize {
        1 << self.chunk_log2
    }

    fn body(&self) -> [u8; 60] {
        let mut b = [0u8; 60];
        b[..8].copy_from_slice(MAGIC);
        b[8] = VERSION;
        b[9] = self.chunk_log2;
        b[12..28].copy_from_slice(&self.key_id.0);
        b[28..60].copy_from_slice(&self.salt);
        b
    }
}

fn object_key(key: &MasterKey, body: &[u8; 60]) -> Zeroizing<[u8; 32]> {
    let mut material = Zeroizing::new([0u8; 92]);
    material[..32].copy_from_slice(key.expose());
    material[32..].copy_from_slice(body);
    Zeroizing::new(blake3::derive_key(CTX_OBJECT_KEY, &material[..]))
}

fn tag_for(k: &[u8; 32], body: &[u8; 60]) -> [u8; 16] {
    let h = blake3::keyed_hash(k, body);
    let mut t = [0u8; 16];
    t.copy_from_slice(&h.as_bytes()[..16]);
    t
}

/// Sizes and offsets of an object of known plaintext length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    /// Plaintext length.
    pub plain_len: u64,
    /// Chunk size exponent.
    pub chunk_log2: u8,
}

impl Layout {
    /// The layout of `plain_len` bytes in `chunk_log2` chunks.
    pub fn new(plain_len: u64, chunk_log2: u8) -> Layout {
        Layout {
            plain_len,
            chunk_log2,
        }
    }

    /// The layout for a ciphertext of `cipher_len` bytes (header included).
    pub fn from_cipher_len(cipher_len: u64, chunk_log2: u8) -> Result<Layout> {
        let c = 1u64 << chunk_log2;
        let body = cipher_len
            .checked_sub(HEADER_LEN as u64)
            .ok_or(Error::BadLength(cipher_len))?;
        let full = body / (c + 16);
        let rest = body % (c + 16);
        let plain = match (full, rest) {
            (0, 16) => 0,
            (f, 0) if f > 0 => f * c,
            (f, r) if r > 16 => f * c + (r - 16),
            _ => return Err(Error::BadLength(cipher_len)),
        };
        Ok(Layout::new(plain, chunk_log2))
    }

    /// Chunk size in bytes.
    pub fn chunk_size(&self) -> u64 {
        1 << self.chunk_log2
    }

    /// Number of chunks (at least 1).
    pub fn chunks(&self) -> u64 {
        self.plain_len.div_ceil(self.chunk_size()).max(1)
    }

    /// Total ciphertext length, header included.
    pub fn cipher_len(&self) -> u64 {
        HEADER_LEN as u64 + self.plain_len + TAG_LEN as u64 * self.chunks()
    }

    /// Plaintext byte range of chunk `i`.
    pub fn plain_range(&self, i: u64) -> std::ops::Range<u64> {
        let start = (i * self.chunk_size()).min(self.plain_len);
        start..((i + 1) * self.chunk_size()).min(self.plain_len)
    }

    /// Ciphertext byte range of chunk `i` (offsets in the whole object).
    pub fn cipher_range(&self, i: u64) -> std::ops::Range<u64> {
        let p = self.plain_range(i);
        let start = HEADER_LEN as u64 + i * (self.chunk_size() + TAG_LEN as u64);
        start..start + (p.end - p.start) + TAG_LEN as u64
    }

    /// The chunk holding plaintext offset `pos` (the last chunk for `pos == plain_len`).
    pub fn chunk_of(&self, pos: u64) -> u64 {
        (pos / self.chunk_size()).min(self.chunks() - 1)
    }
}

/// Seals and opens the chunks of one object. Cheap to create: one BLAKE3 call.
pub struct ObjectCipher {
    aead: aead::ChunkAead,
    key: Zeroizing<[u8; 32]>,
    header: Header,
}

impl ObjectCipher {
    /// The cipher for an object with `header` under `key`.
    ///
    /// # Errors
    /// [`Error::WrongKey`] if the header names another key,
    /// [`Error::HeaderTampered`] if its tag does not verify.
    pub fn new(key: &MasterKey, header: &Header) -> Result<ObjectCipher> {
        let expected = key.id();
        if header.key_id != expected {
            return Err(Error::WrongKey {
                expected,
                found: header.key_id,
            });
        }
        let body = header.body();
        let k = object_key(key, &body);
        let tag = tag_for(&k, &body);
        if !constant_time_eq(&tag, &header.tag) {
            return Err(Error::HeaderTampered);
        }
        Ok(ObjectCipher {
            aead: aead::ChunkAead::new(&k),
            key: k,
            header: *header,
        })
    }

    /// A cipher for a new object (fresh random header) under `key`.
    pub fn fresh(key: &MasterKey) -> ObjectCipher {
        let header = Header::new(key);
        let body = header.body();
        let k = object_key(key, &body);
        ObjectCipher {
            aead: aead::ChunkAead::new(&k),
            key: k,
            header,
        }
    }

    /// The header this cipher was made for.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Encrypts chunk `index` in place and appends its tag.
    pub fn seal_chunk(&self, index: u64, last: bool, buf: &mut Vec<u8>) {
        let tag = self.aead.seal(&nonce(index, last), buf);
        buf.extend_from_slice(&tag);
    }

    /// Like [`ObjectCipher::seal_chunk`] on a slice laid out as the sealed
    /// chunk: the plaintext, then [`TAG_LEN`] bytes where the tag goes.
    /// Chunks are independent, so slices of one object can be sealed on
    /// several threads at once, into the very bytes a sequential seal makes.
    ///
    /// # Panics
    /// If `buf` is shorter than [`TAG_LEN`].
    pub fn seal_chunk_in_place(&self, index: u64, last: bool, buf: &mut [u8]) {
        let n = buf.len() - TAG_LEN;
        let (body, tag_slot) = buf.split_at_mut(n);
        tag_slot.copy_from_slice(&self.aead.seal(&nonce(index, last), body));
    }

    /// Authenticates and decrypts chunk `index` in place (removing its tag).
    ///
    /// A full-size chunk that fails as the final one but opens as a middle one
    /// is reported as [`Error::Truncated`]: the object was cut at a chunk boundary.
    pub fn open_chunk(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<()> {
        let full = buf.len() == self.header.chunk_size() + TAG_LEN;
        let probe = (last && full).then(|| buf.clone());
        let Err(e) = self.open_exact(index, last, buf) else {
            return Ok(());
        };
        if let Some(mut p) = probe
            && self.open_exact(index, false, &mut p).is_ok()
        {
            return Err(Error::Truncated);
        }
        Err(e)
    }

    /// Like [`ObjectCipher::open_chunk`] on a slice (ciphertext ‖ tag): decrypts
    /// in place and returns the plaintext length.
    pub fn open_chunk_in_place(&self, index: u64, last: bool, buf: &mut [u8]) -> Result<usize> {
        let n = buf
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::ChunkAuth { index })?;
        let (body, tag) = buf.split_at_mut(n);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::ChunkAuth { index })?;
        // cut at a chunk boundary? then the chunk opens as a middle one; a
        // failed open may leave `body` altered, so the probe needs a copy
        let full = n == self.header.chunk_size();
        let probe = (last && full).then(|| body.to_vec());
        if self.aead.open(&nonce(index, last), body, &tag) {
            return Ok(n);
        }
        if let Some(mut p) = probe
            && self.aead.open(&nonce(index, false), &mut p, &tag)
        {
            return Err(Error::Truncated);
        }
        Err(Error::ChunkAuth { index })
    }

    /// Whether chunk `index` (ciphertext ‖ tag, as stored) is authentic,
    /// without decrypting it: only its Poly1305 tag is computed, which is
    /// what an archive check needs and about twice as fast as opening it.
    pub fn verify_chunk(&self, index: u64, last: bool, sealed: &[u8]) -> bool {
        use chacha20::cipher::{KeyIvInit as _, StreamCipher as _};
        use poly1305::universal_hash::{KeyInit as _, UniversalHash as _};
        let Some(n) = sealed.len().checked_sub(TAG_LEN) else {
            return false;
        };
        let (body, tag) = sealed.split_at(n);
        // XChaCha20-Poly1305 (RFC 8439 over XChaCha20): the one-time
        // Poly1305 key is the first 32 bytes of the keystream's block 0.
        let nonce = nonce(index, last);
        let mut stream = chacha20::XChaCha20::new((&*self.key).into(), &nonce);
        let mut mac_key = Zeroizing::new([0u8; 32]);
        stream.apply_keystream(&mut mac_key[..]);
        let mut mac = poly1305::Poly1305::new((&*mac_key).into());
        mac.update_padded(body);
        let mut lengths = [0u8; 16];
        lengths[8..].copy_from_slice(&(body.len() as u64).to_le_bytes());
        mac.update(&[lengths.into()]);
        let computed: [u8; 16] = mac.finalize().into();
        let mut stored = [0u8; 16];
        stored.copy_from_slice(tag);
        constant_time_eq(&computed, &stored)
    }

    fn open_exact(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<()> {
        let n = buf
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::ChunkAuth { index })?;
        let (body, tag) = buf.split_at_mut(n);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::ChunkAuth { index })?;
        let ok = self.aead.open(&nonce(index, last), body, &tag);
        buf.truncate(n);
        ok.then_some(()).ok_or(Error::ChunkAuth { index })
    }
}

fn nonce(index: u64, last: bool) -> XNonce {
    let mut n = [0u8; 24];
    n[15..23].copy_from_slice(&index.to_be_bytes());
    n[23] = u8::from(last);
    n.into()
}

fn constant_time_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Encrypts `plain` whole into a new object (for small things held in memory).
pub fn seal_bytes(key: &MasterKey, plain: &[u8]) -> Vec<u8> {
    let len = Layout::new(plain.len() as u64, DEFAULT_CHUNK_LOG2).cipher_len();
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut w = EncryptWriter::new(key, &mut out);
    // Writing to a Vec cannot fail.
    let _ = std::io::Write::write_all(&mut w, plain);
    let _ = w.finish();
    out
}

/// Decrypts a whole object held in memory.
pub fn open_bytes(key: &MasterKey, object: &[u8]) -> Result<Vec<u8>> {
    let mut r = DecryptReader::new(key, object)?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut out).map_err(crate::error::from_io)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_math() {
        for log in [12u8, 16] {
            let c = 1u64 << log;
            for len in [0, 1, c - 1, c, c + 1, 3 * c, 3 * c + 5] {
                let l = Layout::new(len, log);
                let back = Layout::from_cipher_len(l.cipher_len(), log).unwrap();
                assert_eq!(back.plain_len, len);
                let last = l.cipher_range(l.chunks() - 1);
                assert_eq!(last.end, l.cipher_len());
            }
        }
        assert_eq!(Layout::new(0, 16).cipher_len(), 76 + 16);
        assert!(Layout::from_cipher_len(76 + 5, 16).is_err());
        assert!(Layout::from_cipher_len(76 + 65552 + 16, 16).is_err()); // empty chunk after a full one
        assert!(Layout::from_cipher_len(76 + 65552 + 10, 16).is_err());
        assert!(Layout::from_cipher_len(10, 16).is_err());
    }

    #[test]
    fn sealing_in_place_makes_the_same_bytes() {
        let c = ObjectCipher::fresh(&MasterKey::from_bytes([3; 32]));
        for (index, last, len) in [(0u64, false, 65_536usize), (7, true, 1234), (2, true, 0)] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let mut v = plain.clone();
            c.seal_chunk(index, last, &mut v);
            let mut slot = plain.clone();
            slot.extend_from_slice(&[0u8; TAG_LEN]);
            c.seal_chunk_in_place(index, last, &mut slot);
            assert_eq!(slot, v);
        }
    }

    #[test]
    fn header_round_trip_and_tamper() {
        let k = MasterKey::from_bytes([1; 32]);
        let h = Header::new(&k);
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b).unwrap(), h);
        ObjectCipher::new(&k, &h).unwrap();
        for i in 12..76 {
            let mut t = b;
            t[i] ^= 1;
            let parsed = Header::parse(&t).unwrap();
            assert!(ObjectCipher::new(&k, &parsed).is_err(), "byte {i}");
        }
        let other = MasterKey::from_bytes([2; 32]);
        assert!(matches!(
            ObjectCipher::new(&other, &h),
            Err(Error::WrongKey { .. })
        ));
    }
}

#[cfg(test)]
mod verify_tests {
    use super::*;

    /// Checking a tag alone agrees with opening the chunk, for good chunks
    /// and for any flipped bit, truncation, wrong index or wrong last flag.
    #[test]
    fn verify_chunk_agrees_with_open_chunk() {
        let key = MasterKey::generate();
        let c = ObjectCipher::fresh(&key);
        for (len, index, last) in [
            (0usize, 0u64, true),
            (1, 3, false),
            (65_536, 7, false),
            (1000, 9, true),
        ] {
            let mut buf: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            c.seal_chunk(index, last, &mut buf);
            assert!(c.verify_chunk(index, last, &buf));
            assert!(!c.verify_chunk(index + 1, last, &buf), "another index");
            assert!(!c.verify_chunk(index, !last, &buf), "another last flag");
            assert!(
                !c.verify_chunk(index, last, &buf[..buf.len() - 1]),
                "truncated"
            );
            for pos in [0, buf.len() / 2, buf.len() - 1] {
                let mut bad = buf.clone();
                bad[pos] ^= 0x10;
                assert!(!c.verify_chunk(index, last, &bad), "bit at {pos}");
                assert!(c.open_chunk(index, last, &mut bad).is_err());
            }
            let mut good = buf.clone();
            assert!(c.open_chunk(index, last, &mut good).is_ok());
        }
    }
}
