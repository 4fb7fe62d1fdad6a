//! Encryption: a `Write` adapter and a `Read` adapter.

use std::io::{self, Read, Write};

use super::{Header, ObjectCipher, TAG_LEN};
use crate::error::Result;
use crate::key::MasterKey;

/// Chunks gathered before they are sealed together (on all cores with the
/// `parallel` feature): 16 × 64 KiB.
const BATCH: usize = 64;

/// Encrypts everything written to it into `inner`. Call [`EncryptWriter::finish`]
/// at the end: without it the object lacks its final chunk, which readers
/// detect as truncation. Chunks are sealed 64 at a time, on all cores
/// with the `parallel` feature; the bytes are those of one chunk at a time.
pub struct EncryptWriter<W: Write> {
    inner: W,
    cipher: ObjectCipher,
    chunk: usize,
    /// The chunks not sealed yet, laid out as they will be written: each
    /// chunk's plaintext followed by room for its tag (sealed once we know
    /// whether the last of them is the object's last).
    buf: Vec<u8>,
    /// Plaintext bytes in `buf`.
    filled: usize,
    index: u64,
    header_written: bool,
    header: [u8; super::HEADER_LEN],
}

impl<W: Write> EncryptWriter<W> {
    /// An encryptor for a new object (random salt, 64 KiB chunks).
    pub fn new(key: &MasterKey, inner: W) -> Self {
        Self::from_cipher(ObjectCipher::fresh(key), inner)
    }

    /// An encryptor for an object with a given header (to regenerate the exact
    /// ciphertext of an earlier run).
    ///
    /// # Errors
    /// If `header` belongs to another key or was altered.
    pub fn with_header(key: &MasterKey, header: &Header, inner: W) -> Result<Self> {
        Ok(Self::from_cipher(ObjectCipher::new(key, header)?, inner))
    }

    fn from_cipher(cipher: ObjectCipher, inner: W) -> Self {
        let chunk = cipher.header().chunk_size();
        let header = cipher.header().to_bytes();
        EncryptWriter {
            inner,
            cipher,
            chunk,
            buf: Vec::new(),
            filled: 0,
            index: 0,
            header_written: false,
            header,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.inner.write_all(&self.header)?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Seals every chunk in `buf` (the final one as the object's last when
    /// `last`) and writes them.
    fn seal_and_write(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        let n = self.filled.div_ceil(self.chunk).max(1);
        let slot = self.chunk + TAG_LEN;
        let total = (n - 1) * slot + (self.filled - (n - 1) * self.chunk) + TAG_LEN;
        self.buf.resize(self.buf.len().max(total), 0);
        let (first, cipher) = (self.index, &self.cipher);
        let seal = |(j, s): (usize, &mut [u8])| {
            let i = first + j as u64;
            cipher.seal_chunk_in_place(i, last && j + 1 == n, s);
        };
        let sealed = &mut self.buf[..total];
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            sealed.par_chunks_mut(slot).enumerate().for_each(seal);
        }
        #[cfg(not(feature = "parallel"))]
        sealed.chunks_mut(slot).enumerate().for_each(seal);
        self.inner.write_all(sealed)?;
        self.filled = 0;
        self.index += n as u64;
        Ok(())
    }

    /// Seals the final chunk, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal_and_write(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.filled == self.chunk * BATCH {
            // More data follows full chunks: none of them was the last one.
            self.seal_and_write(false)?;
        }
        let (j, within) = (self.filled / self.chunk, self.filled % self.chunk);
        let n = data.len().min(self.chunk - within);
        let at = j * (self.chunk + TAG_LEN) + within;
        if self.buf.len() < at + n {
            // Grown as the data comes (a small object needs little), kept
            // for the next batches.
            self.buf.resize(at + n, 0);
        }
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.filled += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts what it reads from a plaintext source: `Read` in, ciphertext out.
/// Feeds uploads that pull their bytes.
pub struct EncryptReader<R: Read> {
    inner: R,
    cipher: ObjectCipher,
    chunk: usize,
    /// Ciphertext ready to hand out, and how much was handed out.
    out: Vec<u8>,
    pos: usize,
    /// Plaintext of the next chunk, read ahead to know whether the current is last.
    next: Vec<u8>,
    index: u64,
    state: State,
}

#[derive(PartialEq, Eq)]
enum State {
    Start,
    Body,
    Done,
}

impl<R: Read> EncryptReader<R> {
    /// An encrypting reader over `inner` for a new object (random salt).
    pub fn new(key: &MasterKey, inner: R) -> Self {
        Self::from_cipher(ObjectCipher::fresh(key), inner)
    }

    /// An encrypting reader with a given header (deterministic output).
    ///
    /// # Errors
    /// If `header` belongs to another key or was altered.
    pub fn with_header(key: &MasterKey, header: &Header, inner: R) -> Result<Self> {
        Ok(Self::from_cipher(ObjectCipher::new(key, header)?, inner))
    }

    fn from_cipher(cipher: ObjectCipher, inner: R) -> Self {
        let chunk = cipher.header().chunk_size();
        EncryptReader {
            inner,
            out: cipher.header().to_bytes().to_vec(),
            cipher,
            chunk,
            pos: 0,
            next: Vec::with_capacity(chunk),
            index: 0,
            state: State::Start,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        self.next.resize(self.chunk, 0);
        let mut n = 0;
        while n < self.chunk {
            match self.inner.read(&mut self.next[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.next.truncate(n);
        Ok(())
    }

    /// Produces the next ciphertext chunk into `out`.
    fn advance(&mut self) -> io::Result<()> {
        if self.state == State::Start {
            self.fill()?;
            self.state = State::Body;
        }
        // `next` holds the plaintext of chunk `index`; read the one after to
        // learn whether this is the last. The two buffers take turns.
        let mut cur = std::mem::replace(&mut self.next, std::mem::take(&mut self.out));
        let last = if cur.len() < self.chunk {
            true
        } else {
            self.fill()?;
            self.next.is_empty()
        };
        self.cipher.seal_chunk(self.index, last, &mut cur);
        self.index += 1;
        self.out = cur;
        self.pos = 0;
        if last {
            self.state = State::Done;
        }
        Ok(())
    }
}

impl<R: Read> Read for EncryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.state == State::Done {
                return Ok(0);
            }
            self.advance()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batched (parallel) writer makes the bytes the chunk-at-a-time
    /// reader makes, for every length around chunk and batch boundaries,
    /// whatever the write sizes.
    #[test]
    fn batched_sealing_makes_the_same_bytes_as_one_chunk_at_a_time() {
        let key = MasterKey::from_bytes([9; 32]);
        let header = *ObjectCipher::fresh(&key).header();
        let c = 1usize << 16;
        for len in [
            0,
            1,
            c - 1,
            c,
            c + 1,
            BATCH * c - 1,
            BATCH * c,
            BATCH * c + 1,
            3 * BATCH * c + 17,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let mut want = Vec::new();
            EncryptReader::with_header(&key, &header, &plain[..])
                .unwrap()
                .read_to_end(&mut want)
                .unwrap();
            for piece in [1000usize, c, 3 * c + 5] {
                let mut w = EncryptWriter::with_header(&key, &header, Vec::new()).unwrap();
                for p in plain.chunks(piece) {
                    w.write_all(p).unwrap();
                }
                assert!(w.finish().unwrap() == want, "len {len}, pieces of {piece}");
            }
        }
    }
}
