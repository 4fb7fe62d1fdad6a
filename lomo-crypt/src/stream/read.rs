//! Decryption: a streaming reader and a seekable one.

use std::io::{self, Read, Seek, SeekFrom};

use super::{HEADER_LEN, Header, Layout, ObjectCipher, TAG_LEN};
use crate::error::{Error, Result};
use crate::key::MasterKey;

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_header(r: &mut impl Read, key: &MasterKey) -> Result<ObjectCipher> {
    let mut hb = [0u8; HEADER_LEN];
    let n = read_full(r, &mut hb)?;
    let header = Header::parse(&hb[..n])?;
    ObjectCipher::new(key, &header)
}

/// Chunks a [`DecryptReader`] opens at once at most (on all cores with the
/// `parallel` feature): 64 × 64 KiB. It starts with one and grows by four
/// each time, so a small object costs one chunk's buffer.
const BATCH: usize = 64;

/// Decrypts an object from any `Read`, authenticating every chunk before its
/// plaintext is returned. Truncation and trailing data are errors at the end.
/// Chunks are read and opened in batches, on all cores with the `parallel`
/// feature.
pub struct DecryptReader<R> {
    inner: R,
    cipher: ObjectCipher,
    slot: usize,
    /// The batch's sealed chunks (`buf[..take]`, opened in place), then
    /// look-ahead bytes up to `len`.
    buf: Vec<u8>,
    len: usize,
    take: usize,
    /// Plaintext length of each opened chunk of the batch.
    lens: Vec<usize>,
    /// Reading chunk `cur` of the batch at plaintext offset `pos`.
    cur: usize,
    pos: usize,
    /// What stops the reader after the batch's good chunks.
    failed: Option<Error>,
    poisoned: bool,
    /// Object index of the next batch's first chunk, and its size in chunks.
    index: u64,
    batch: usize,
    done: bool,
}

impl<R: Read> DecryptReader<R> {
    /// Reads and authenticates the header.
    ///
    /// # Errors
    /// Not a lomob object, wrong key, altered header, or I/O.
    pub fn new(key: &MasterKey, mut inner: R) -> Result<Self> {
        let cipher = read_header(&mut inner, key)?;
        let slot = cipher.header().chunk_size() + TAG_LEN;
        Ok(DecryptReader {
            inner,
            cipher,
            slot,
            buf: Vec::new(),
            len: 0,
            take: 0,
            lens: Vec::new(),
            cur: 0,
            pos: 0,
            failed: None,
            poisoned: false,
            index: 0,
            batch: 1,
            done: false,
        })
    }

    /// The object's header.
    pub fn header(&self) -> &Header {
        self.cipher.header()
    }

    /// Reads the next batch (keeping one byte of look-ahead to know whether
    /// it ends the object) and opens its chunks.
    fn next_batch(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.take..self.len, 0);
        self.len -= self.take;
        let want = self.batch * self.slot + 1;
        self.buf.resize(want, 0);
        self.len += read_full(&mut self.inner, &mut self.buf[self.len..want])?;
        let last = self.len < want;
        self.take = if last { self.len } else { want - 1 };
        self.done = last;
        self.batch = (self.batch * 4).min(BATCH);
        let (n, rem) = match self.take {
            0 => (0, 0),
            t => (
                t.div_ceil(self.slot),
                t - (t.div_ceil(self.slot) - 1) * self.slot,
            ),
        };
        let final_index = self.index + n as u64;
        // the final chunk must hold a tag, and only an empty object ends in
        // an empty chunk
        let bad_end = n == 0 || rem < TAG_LEN || (last && rem == TAG_LEN && final_index > 1);
        let opened = if bad_end { n.saturating_sub(1) } else { n };
        self.open_batch(opened, last && !bad_end);
        if bad_end && self.failed.is_none() {
            self.failed = Some(if n == 0 {
                Error::Truncated
            } else {
                Error::ChunkAuth {
                    index: final_index - 1,
                }
            });
        }
        self.index = final_index;
        Ok(())
    }

    /// Opens the batch's first `n` chunks; `last` when the n-th ends the object.
    fn open_batch(&mut self, n: usize, last: bool) {
        let (cipher, first) = (&self.cipher, self.index);
        let open = |(k, s): (usize, &mut [u8])| {
            cipher.open_chunk_in_place(first + k as u64, last && k + 1 == n, s)
        };
        let end = self.take.min(n * self.slot);
        let sealed = &mut self.buf[..end];
        #[cfg(feature = "parallel")]
        let results: Vec<Result<usize>> = {
            use rayon::prelude::*;
            sealed
                .par_chunks_mut(self.slot)
                .enumerate()
                .map(open)
                .collect()
        };
        #[cfg(not(feature = "parallel"))]
        let results: Vec<Result<usize>> =
            sealed.chunks_mut(self.slot).enumerate().map(open).collect();
        self.lens.clear();
        self.cur = 0;
        self.pos = 0;
        for r in results {
            match r {
                Ok(len) => self.lens.push(len),
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            }
        }
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.poisoned {
                return Err(io::Error::other("lomob stream: read after a failed chunk"));
            }
            if let Some(&len) = self.lens.get(self.cur) {
                if self.pos == len {
                    (self.cur, self.pos) = (self.cur + 1, 0);
                    continue;
                }
                let at = self.cur * self.slot + self.pos;
                let n = out.len().min(len - self.pos);
                out[..n].copy_from_slice(&self.buf[at..at + n]);
                self.pos += n;
                return Ok(n);
            }
            if let Some(e) = self.failed.take() {
                self.poisoned = true;
                return Err(e.into_io());
            }
            if self.done {
                return Ok(0);
            }
            self.next_batch()?;
        }
    }
}

/// Decrypts any byte range of an object from a `Read + Seek` source, reading
/// and authenticating only the chunks that hold it.
pub struct SeekDecryptReader<R> {
    inner: R,
    cipher: ObjectCipher,
    layout: Layout,
    /// Plaintext position.
    pos: u64,
    /// Decrypted chunk cache.
    cached: Option<u64>,
    buf: Vec<u8>,
}

impl<R: Read + Seek> SeekDecryptReader<R> {
    /// Reads and authenticates the header, sizes the object, and authenticates
    /// its final chunk, so the length is proven and truncation is detected
    /// before any plaintext is returned.
    ///
    /// # Errors
    /// Not a lomob object, wrong key, altered header, impossible length,
    /// truncated or altered final chunk, or I/O.
    pub fn new(key: &MasterKey, inner: R) -> Result<Self> {
        let mut r = Self::new_lazy(key, inner)?;
        r.load(r.layout.chunks() - 1)?;
        Ok(r)
    }

    /// Like [`SeekDecryptReader::new`] but authenticates only the chunks that
    /// are read: for range reads of a big remote object that must fetch as
    /// little as possible. An object cut at a chunk boundary then shows only
    /// when its final chunk is read; check what you read by other means (lomob
    /// checks each file's BLAKE3 against the catalog).
    ///
    /// # Errors
    /// Not a lomob object, wrong key, altered header, impossible length, or I/O.
    pub fn new_lazy(key: &MasterKey, mut inner: R) -> Result<Self> {
        let total = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        let cipher = read_header(&mut inner, key)?;
        let layout = Layout::from_cipher_len(total, cipher.header().chunk_log2)?;
        Ok(SeekDecryptReader {
            inner,
            cipher,
            layout,
            pos: 0,
            cached: None,
            buf: Vec::new(),
        })
    }

    /// The object's layout (plaintext length, chunk size).
    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn load(&mut self, index: u64) -> Result<()> {
        if self.cached == Some(index) {
            return Ok(());
        }
        self.cached = None;
        let range = self.layout.cipher_range(index);
        self.inner.seek(SeekFrom::Start(range.start))?;
        self.buf.resize((range.end - range.start) as usize, 0);
        let n = read_full(&mut self.inner, &mut self.buf)?;
        if n < self.buf.len() {
            return Err(Error::Truncated);
        }
        let last = index + 1 == self.layout.chunks();
        self.cipher.open_chunk(index, last, &mut self.buf)?;
        self.cached = Some(index);
        Ok(())
    }
}

impl<R: Read + Seek> Read for SeekDecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.layout.plain_len || out.is_empty() {
            return Ok(0);
        }
        let index = self.layout.chunk_of(self.pos);
        self.load(index).map_err(Error::into_io)?;
        let start = self.layout.plain_range(index).start;
        let off = (self.pos - start) as usize;
        let n = out.len().min(self.buf.len() - off);
        out[..n].copy_from_slice(&self.buf[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekDecryptReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = i128::from(self.layout.plain_len);
        let target = match to {
            SeekFrom::Start(p) => i128::from(p),
            SeekFrom::End(d) => len + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            ));
        }
        self.pos = u64::try_from(target).unwrap_or(u64::MAX);
        Ok(self.pos)
    }
}
