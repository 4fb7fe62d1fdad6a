//! Encryption: a `Write` adapter and a `Read` adapter.

use std::io::{self, Read, Write};

use super::{Header, ObjectCipher, TAG_LEN};
use crate::error::Result;
use crate::key::MasterKey;

/// Encrypts everything written to it into `inner`. Call [`EncryptWriter::finish`]
/// at the end: without it the object lacks its final chunk, which readers
/// detect as truncation.
pub struct EncryptWriter<W: Write> {
    inner: W,
    cipher: ObjectCipher,
    chunk: usize,
    /// Plaintext of the current chunk (sealed once we know whether it is last).
    buf: Vec<u8>,
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
            buf: Vec::with_capacity(chunk + TAG_LEN),
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

    fn seal_and_write(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        self.cipher.seal_chunk(self.index, last, &mut self.buf);
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.index += 1;
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
        if self.buf.len() == self.chunk {
            // More data follows a full chunk: it was not the last one.
            self.seal_and_write(false)?;
        }
        let n = data.len().min(self.chunk - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
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
