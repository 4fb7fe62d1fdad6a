//! A file encrypted on the fly as lomo-crypt's stream format, readable at
//! any offset (a [`PartSource`] for multipart uploads), that checks the
//! plaintext against the catalog's hash when read through in order.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

use lomo_crypt::MasterKey;
use lomo_crypt::stream::{HEADER_LEN, Layout, ObjectCipher, TAG_LEN};
use lomo_remote::PartSource;

/// Plaintext readable at any offset: a file, or an image generated on the fly.
pub(crate) trait ReadAt: Send + 'static {
    /// Fills `buf` with the bytes at `offset`.
    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

/// A new random header (salt) for an object sealed under `key`.
pub(crate) fn fresh_header(key: &MasterKey) -> [u8; HEADER_LEN] {
    ObjectCipher::fresh(key).header().to_bytes()
}

/// The sealed form of one file (or other plaintext).
pub(crate) struct SealedFile<P = File> {
    file: P,
    cipher: ObjectCipher,
    header: [u8; HEADER_LEN],
    layout: Layout,
    cached: Option<(u64, Vec<u8>)>,
    hasher: blake3::Hasher,
    next_chunk: u64,
    sequential: bool,
    done: Arc<OnceLock<[u8; 32]>>,
}

impl<P: ReadAt> SealedFile<P> {
    pub(crate) fn new(key: &MasterKey, file: P, plain_len: u64) -> SealedFile<P> {
        let cipher = ObjectCipher::fresh(key);
        let header = cipher.header().to_bytes();
        let layout = Layout::new(plain_len, cipher.header().chunk_log2);
        SealedFile {
            file,
            cipher,
            header,
            layout,
            cached: None,
            hasher: blake3::Hasher::new(),
            next_chunk: 0,
            sequential: true,
            done: Arc::new(OnceLock::new()),
        }
    }

    /// The sealed form under a given (persisted) header, so a resumed upload
    /// produces the very bytes the first attempt did.
    pub(crate) fn with_header(
        key: &MasterKey,
        header: &[u8],
        file: P,
        plain_len: u64,
    ) -> Result<SealedFile<P>, lomo_crypt::Error> {
        let h = lomo_crypt::stream::Header::parse(header)?;
        let cipher = ObjectCipher::new(key, &h)?;
        let mut s = SealedFile::new(key, file, plain_len);
        s.header = cipher.header().to_bytes();
        s.layout = Layout::new(plain_len, cipher.header().chunk_log2);
        s.cipher = cipher;
        Ok(s)
    }

    /// Bytes of the sealed object.
    pub(crate) fn len(&self) -> u64 {
        self.layout.cipher_len()
    }

    fn chunk(&mut self, i: u64) -> std::io::Result<&[u8]> {
        if self.cached.as_ref().is_none_or(|(c, _)| *c != i) {
            let r = self.layout.plain_range(i);
            let mut buf = vec![0u8; (r.end - r.start) as usize];
            self.file.read_exact_at(&mut buf, r.start)?;
            if self.sequential && i == self.next_chunk {
                self.hasher.update(&buf);
                self.next_chunk += 1;
                if self.next_chunk == self.layout.chunks() {
                    let _ = self.done.set(*self.hasher.finalize().as_bytes());
                }
            } else if i > self.next_chunk {
                self.sequential = false;
            }
            buf.reserve(TAG_LEN);
            self.cipher
                .seal_chunk(i, i + 1 == self.layout.chunks(), &mut buf);
            self.cached = Some((i, buf));
        }
        Ok(self.cached.as_ref().map_or(&[][..], |(_, b)| b.as_slice()))
    }

    /// How many whole chunks from `first` fit in `room` bytes (at most 1024).
    fn whole_chunks(&self, first: u64, room: u64) -> u64 {
        let base = self.layout.cipher_range(first).start;
        let mut k = 0;
        while k < 1024
            && first + k < self.layout.chunks()
            && self.layout.cipher_range(first + k).end - base <= room
        {
            k += 1;
        }
        k
    }

    /// Chunks `first..first + k`, sealed straight into `out` (their
    /// plaintext read into place, hashed in order, then sealed on all
    /// cores): the bytes one chunk at a time makes, without a buffer per
    /// chunk. Returns the bytes written.
    fn seal_many(&mut self, first: u64, k: u64, out: &mut [u8]) -> std::io::Result<usize> {
        use rayon::prelude::*;
        let base = self.layout.cipher_range(first).start;
        let total = (self.layout.cipher_range(first + k - 1).end - base) as usize;
        let out = &mut out[..total];
        for c in first..first + k {
            let r = self.layout.cipher_range(c);
            let slot = &mut out[(r.start - base) as usize..(r.end - base) as usize - TAG_LEN];
            self.file
                .read_exact_at(slot, self.layout.plain_range(c).start)?;
            if self.sequential && c == self.next_chunk {
                self.hasher.update(slot);
                self.next_chunk += 1;
                if self.next_chunk == self.layout.chunks() {
                    let _ = self.done.set(*self.hasher.finalize().as_bytes());
                }
            } else if c > self.next_chunk {
                self.sequential = false;
            }
        }
        let stride = (self.layout.chunk_size() + TAG_LEN as u64) as usize;
        let last = self.layout.chunks() - 1;
        let cipher = &self.cipher;
        out.par_chunks_mut(stride)
            .enumerate()
            .for_each(|(j, slot)| {
                let c = first + j as u64;
                cipher.seal_chunk_in_place(c, c == last, slot);
            });
        Ok(total)
    }

    /// The plaintext's BLAKE3, when every chunk was read once in order.
    pub(crate) fn plain_hash(&self) -> Option<[u8; 32]> {
        (self.sequential && self.next_chunk == self.layout.chunks())
            .then(|| *self.hasher.finalize().as_bytes())
    }

    /// Where the plaintext's BLAKE3 appears once every chunk was read in
    /// order (readable after the object moved into an upload).
    pub(crate) fn hash_slot(&self) -> Arc<OnceLock<[u8; 32]>> {
        self.done.clone()
    }

    /// The whole sealed object in memory (for small files).
    pub(crate) fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0u8; self.len() as usize];
        self.read_at(0, &mut out)?;
        Ok(out)
    }
}

impl<P: ReadAt> PartSource for SealedFile<P> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let stride = self.layout.chunk_size() + TAG_LEN as u64;
        let mut pos = offset;
        let mut filled = 0usize;
        while filled < buf.len() {
            let want = buf.len() - filled;
            if pos < HEADER_LEN as u64 {
                let n = (HEADER_LEN - pos as usize).min(want);
                buf[filled..filled + n]
                    .copy_from_slice(&self.header[pos as usize..pos as usize + n]);
                pos += n as u64;
                filled += n;
                continue;
            }
            let i = (pos - HEADER_LEN as u64) / stride;
            let start = HEADER_LEN as u64 + i * stride;
            if pos == start {
                let k = self.whole_chunks(i, want as u64);
                if k >= 2 {
                    let n = self.seal_many(i, k, &mut buf[filled..])?;
                    pos += n as u64;
                    filled += n;
                    continue;
                }
            }
            let chunk = self.chunk(i)?;
            let within = (pos - start) as usize;
            if within >= chunk.len() {
                return Err(std::io::Error::other(
                    "read past the end of the sealed object",
                ));
            }
            let n = (chunk.len() - within).min(want);
            buf[filled..filled + n].copy_from_slice(&chunk[within..within + n]);
            pos += n as u64;
            filled += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_reads_the_same_object_that_decrypts() {
        let key = MasterKey::generate();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let f = tempfile::tempfile().unwrap();
        f.write_all_at(&data, 0).unwrap();
        let mut s = SealedFile::new(&key, f.try_clone().unwrap(), data.len() as u64);
        let whole = s.read_all().unwrap();
        assert_eq!(s.plain_hash(), Some(*blake3::hash(&data).as_bytes()));
        assert_eq!(lomo_crypt::stream::open_bytes(&key, &whole).unwrap(), data);
        // Odd-sized reads at odd offsets give the same bytes.
        for (off, len) in [
            (0u64, 10usize),
            (70, 20),
            (65_000, 70_000),
            (whole.len() as u64 - 5, 5),
        ] {
            let mut b = vec![0u8; len];
            s.read_at(off, &mut b).unwrap();
            assert_eq!(b, whole[off as usize..off as usize + len]);
        }
        // A part-sized read (sealed on all cores) is the same bytes.
        let big: Vec<u8> = (0..1_000_003u32).map(|i| (i * 13) as u8).collect();
        let f = tempfile::tempfile().unwrap();
        f.write_all_at(&big, 0).unwrap();
        let mut one = SealedFile::new(&key, f.try_clone().unwrap(), big.len() as u64);
        let header = one.header;
        let mut by_chunk = vec![0u8; one.len() as usize];
        for (n, piece) in by_chunk.chunks_mut(4096).enumerate() {
            one.read_at(n as u64 * 4096, piece).unwrap();
        }
        let mut many = SealedFile::with_header(&key, &header, f, big.len() as u64).unwrap();
        let mut at_once = vec![0u8; many.len() as usize];
        many.read_at(0, &mut at_once[..100]).unwrap();
        many.read_at(100, &mut at_once[100..]).unwrap();
        assert!(by_chunk == at_once);
        assert_eq!(many.plain_hash(), Some(*blake3::hash(&big).as_bytes()));
        assert_eq!(lomo_crypt::stream::open_bytes(&key, &at_once).unwrap(), big);
        let empty = tempfile::tempfile().unwrap();
        let mut e = SealedFile::new(&key, empty, 0);
        let obj = e.read_all().unwrap();
        assert_eq!(lomo_crypt::stream::open_bytes(&key, &obj).unwrap(), b"");
        assert_eq!(e.plain_hash(), Some(*blake3::hash(b"").as_bytes()));
    }
}
