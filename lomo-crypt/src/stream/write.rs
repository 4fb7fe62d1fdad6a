//! Encryption: a `Write` adapter and a `Read` adapter.

use std::io::{self, Read, Write};

use super::{Header, ObjectCipher, TAG_LEN};
use crate::error::Result;
use crate::key::MasterKey;

/// Chunks gathered before they are sealed together (on all cores with the
/// `parallel` feature): 16 × 64 KiB = 1 MiB. Writes of 1 MiB are sealed
/// 1.7 × one core on two cores with 16, 1.6 × with 64 (crypt-figures;
/// bigger writes are as fast with either).
const BATCH: usize = 16;

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
    /// Leading chunks of `buf` sealed already (more data followed them).
    sealed: usize,
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
            sealed: 0,
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

    /// Seals the chunks in `buf` not sealed yet (the final one as the
    /// object's last when `last`) and writes the batch.
    fn seal_and_write(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        let n = self.filled.div_ceil(self.chunk).max(1);
        let slot = self.chunk + TAG_LEN;
        let total = (n - 1) * slot + (self.filled - (n - 1) * self.chunk) + TAG_LEN;
        self.buf.resize(self.buf.len().max(total), 0);
        let (done, cipher, first) = (self.sealed, &self.cipher, self.index);
        let seal = |(k, s): (usize, &mut [u8])| {
            let j = done + k;
            cipher.seal_chunk_in_place(first + j as u64, last && j + 1 == n, s);
        };
        let open = &mut self.buf[done * slot..total];
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            open.par_chunks_mut(slot).enumerate().for_each(seal);
        }
        #[cfg(not(feature = "parallel"))]
        open.chunks_mut(slot).enumerate().for_each(seal);
        self.inner.write_all(&self.buf[..total])?;
        self.filled = 0;
        self.sealed = 0;
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
        let n = data.len().min(self.chunk * BATCH - self.filled);
        let end = slot_offset(self.filled + n, self.chunk);
        if self.buf.len() < end {
            // Grown as the data comes (a small object needs little), kept
            // for the next batches.
            self.buf.resize(end, 0);
        }
        let fill = Fill {
            cipher: &self.cipher,
            first: self.index,
            chunk: self.chunk,
            from: self.filled,
            sealed: self.sealed,
        };
        self.sealed = fill.copy(&mut self.buf, &data[..n]);
        self.filled += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where plaintext offset `pos` of a batch lies in its slot layout (each
/// chunk's plaintext followed by room for its tag).
fn slot_offset(pos: usize, chunk: usize) -> usize {
    pos / chunk * (chunk + TAG_LEN) + pos % chunk
}

/// One write's copy into a batch's slots.
struct Fill<'a> {
    cipher: &'a ObjectCipher,
    /// Object index of the batch's first chunk.
    first: u64,
    chunk: usize,
    /// Batch plaintext offset the write starts at.
    from: usize,
    /// Chunks of the batch sealed already.
    sealed: usize,
}

impl Fill<'_> {
    /// Copies `data` into its slots and returns how many of the batch's
    /// chunks are sealed now. A write of several chunks is copied on all
    /// cores (with `parallel`), and each chunk more data follows in the same
    /// write is sealed by the thread that copied it, while it is in that
    /// core's cache; the chunk the write ends in waits for the batch's seal.
    fn copy(&self, buf: &mut [u8], data: &[u8]) -> usize {
        let (chunk, slot) = (self.chunk, self.chunk + TAG_LEN);
        let to = self.from + data.len();
        let first = self.sealed.min(self.from / chunk);
        let last = to.div_ceil(chunk);
        let end = buf.len().min(last * slot);
        let slots = &mut buf[first * slot..end];
        #[cfg(feature = "parallel")]
        if last - first >= 4 {
            use rayon::prelude::*;
            let each = slots.par_chunks_mut(slot).enumerate();
            each.for_each(|(k, s)| self.copy_one(first + k, s, data, true));
            return self.sealed.max((to - 1) / chunk);
        }
        let each = slots.chunks_mut(slot).enumerate();
        each.for_each(|(k, s)| self.copy_one(first + k, s, data, false));
        self.sealed
    }

    /// Copies the part of `data` chunk `j` holds into its slot, and seals
    /// the chunk when `seal` and more data follows it in this write.
    fn copy_one(&self, j: usize, s: &mut [u8], data: &[u8], seal: bool) {
        let (chunk, to) = (self.chunk, self.from + data.len());
        let lo = (j * chunk).max(self.from);
        let hi = ((j + 1) * chunk).min(to);
        if lo < hi {
            s[lo - j * chunk..hi - j * chunk]
                .copy_from_slice(&data[lo - self.from..hi - self.from]);
        }
        if seal && j >= self.sealed && (j + 1) * chunk < to {
            self.cipher
                .seal_chunk_in_place(self.first + j as u64, false, s);
        }
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
            // small pieces (copied and sealed by batch), pieces of many
            // chunks (sealed as they are copied), and the two mixed
            let mixed = [1000, 17 * c + 3, 5, 2 * c, BATCH * c + 9];
            for pieces in [
                &[1000][..],
                &[c],
                &[3 * c + 5],
                &[17 * c + 3],
                &[2 * BATCH * c],
                &mixed,
            ] {
                let mut w = EncryptWriter::with_header(&key, &header, Vec::new()).unwrap();
                let mut rest = &plain[..];
                for &p in pieces.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (now, later) = rest.split_at(p.min(rest.len()));
                    w.write_all(now).unwrap();
                    rest = later;
                }
                assert!(w.finish().unwrap() == want, "len {len}, pieces {pieces:?}");
            }
        }
    }
}
