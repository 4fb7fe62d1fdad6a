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

/// Decrypts an object from any `Read`, authenticating every chunk before its
/// plaintext is returned. Truncation and trailing data are errors at the end.
pub struct DecryptReader<R> {
    inner: R,
    cipher: ObjectCipher,
    /// One chunk of ciphertext plus one byte of look-ahead; decrypted in place.
    buf: Vec<u8>,
    /// Valid bytes in `buf`.
    len: usize,
    /// The current chunk's plaintext is `buf[pos..end]`; look-ahead follows at `take`.
    pos: usize,
    end: usize,
    take: usize,
    index: u64,
    done: bool,
}

impl<R: Read> DecryptReader<R> {
    /// Reads and authenticates the header.
    ///
    /// # Errors
    /// Not a lomob object, wrong key, altered header, or I/O.
    pub fn new(key: &MasterKey, mut inner: R) -> Result<Self> {
        let cipher = read_header(&mut inner, key)?;
        let chunk = cipher.header().chunk_size();
        Ok(DecryptReader {
            inner,
            cipher,
            buf: vec![0; chunk + TAG_LEN + 1],
            len: 0,
            pos: 0,
            end: 0,
            take: 0,
            index: 0,
            done: false,
        })
    }

    /// The object's header.
    pub fn header(&self) -> &Header {
        self.cipher.header()
    }

    fn next_chunk(&mut self) -> Result<()> {
        // keep the look-ahead byte(s) of the previous read
        self.buf.copy_within(self.take..self.len, 0);
        self.len -= self.take;
        let want = self.buf.len();
        self.len += read_full(&mut self.inner, &mut self.buf[self.len..])?;
        let last = self.len < want;
        let take = if last { self.len } else { want - 1 };
        if take < TAG_LEN || (last && take == TAG_LEN && self.index > 0) {
            return Err(if take == 0 {
                Error::Truncated
            } else {
                Error::ChunkAuth { index: self.index }
            });
        }
        let n = self
            .cipher
            .open_chunk_in_place(self.index, last, &mut self.buf[..take])?;
        self.take = take;
        self.pos = 0;
        self.end = n;
        self.index += 1;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.end {
            if self.done {
                return Ok(0);
            }
            self.next_chunk().map_err(Error::into_io)?;
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
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
