//! An image's plain bytes in fixed blocks, shared by the uploads of all its
//! sites and proven identical on every pass.
//!
//! The blocks come from the files the image holds (generated) or from a
//! local image file. Each is generated once while it is among the last
//! few, so the files are read once for all sites. Every block's BLAKE3 is
//! recorded in the catalog on the image's first pass, before the block is
//! handed out to be sealed; any later pass (a resumed upload, another site,
//! `upload iso --force`, a repair) checks each block against it first. So
//! a copy's header — its key and nonces — never seals two different
//! plaintexts: a changed byte stops the read before it is encrypted.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::image::{ImageSource, Stale};
use super::sealed::ReadAt;
use crate::error::Result;

/// Bytes per block (the unit the ledger hashes; fixed: recorded blocks are
/// checked against it).
pub(crate) const BLOCK: u64 = 8 << 20;

/// Where an image's plain bytes come from.
pub(crate) enum Producer {
    /// Generated from the files it holds.
    Generated(Box<ImageSource>),
    /// A local image file (`lomob iso create`, `--keep-iso`).
    File {
        /// The image file.
        file: File,
        /// Its size.
        len: u64,
    },
    /// Another site's copy, read by range and decrypted (a repair).
    Remote(Box<RemoteCopy>),
}

/// Another site's copy of an image: its object, and its cipher when sealed.
pub(crate) struct RemoteCopy {
    pub(crate) site: Arc<dyn lomo_remote::Backend>,
    pub(crate) key: String,
    pub(crate) cipher: Option<lomo_crypt::stream::ObjectCipher>,
    pub(crate) len: u64,
}

impl RemoteCopy {
    /// The image bytes `start..end`: the chunks holding them read in one
    /// request and opened (authenticated), or the plain range.
    fn read(&self, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
        let handle = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let get = |r: std::ops::Range<u64>| {
            handle
                .block_on(crate::sites::download(&self.site, &self.key, Some(r)))
                .map_err(std::io::Error::other)
        };
        let Some(cipher) = &self.cipher else {
            return get(start..end);
        };
        let layout = lomo_crypt::stream::Layout::new(self.len, cipher.header().chunk_log2);
        let (first, last) = (
            layout.chunk_of(start),
            layout.chunk_of(end.saturating_sub(1).max(start)),
        );
        let span = layout.cipher_range(first).start..layout.cipher_range(last).end;
        let bytes = get(span.clone())?;
        let mut out = Vec::with_capacity((end - start) as usize);
        for c in first..=last {
            let r = layout.cipher_range(c);
            let mut chunk = bytes
                .get((r.start - span.start) as usize..(r.end - span.start) as usize)
                .ok_or_else(|| std::io::Error::other("the site sent fewer bytes than asked"))?
                .to_vec();
            cipher
                .open_chunk(c, c + 1 == layout.chunks(), &mut chunk)
                .map_err(|e| std::io::Error::other(format!("{} chunk {c}: {e}", self.key)))?;
            let p = layout.plain_range(c);
            let (a, b) = (start.max(p.start) - p.start, end.min(p.end) - p.start);
            out.extend_from_slice(&chunk[a as usize..b as usize]);
        }
        Ok(out)
    }
}

impl Producer {
    fn len(&self) -> u64 {
        match self {
            Producer::Generated(s) => s.len(),
            Producer::File { len, .. } => *len,
            Producer::Remote(r) => r.len,
        }
    }

    /// The bytes `start..end` into `out`, a buffer reused from block to block.
    fn produce(&mut self, start: u64, end: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Producer::Generated(s) => s.generate(start, end, out),
            Producer::File { file, .. } => {
                out.resize((end - start) as usize, 0);
                std::os::unix::fs::FileExt::read_exact_at(file, out, start)
            }
            Producer::Remote(r) => {
                *out = r.read(start, end)?;
                Ok(())
            }
        }
    }

    /// What made `start..end` differ from its first pass, when a file did.
    fn diagnose(&self, start: u64, end: u64) -> Option<Stale> {
        match self {
            Producer::Generated(s) => s.diagnose(start, end),
            Producer::File { .. } | Producer::Remote(_) => None,
        }
    }

    fn stale(&self) -> Option<Stale> {
        match self {
            Producer::Generated(s) => s
                .stale()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            Producer::File { .. } | Producer::Remote(_) => None,
        }
    }
}

/// The blocks' hashes of one archive: checked when recorded, recorded
/// when not, through a catalog connection of its own (the reader thread
/// writes while the uploads record their parts on the main one).
pub(crate) struct BlockLedger {
    catalog: lomo_catalog::Catalog,
    archive_id: i64,
    recorded: HashMap<u64, [u8; 32]>,
}

impl BlockLedger {
    /// The ledger of `archive_id` in the catalog at `db`.
    pub(crate) fn open(db: &Path, archive_id: i64) -> Result<BlockLedger> {
        let catalog = lomo_catalog::Catalog::open(db)?;
        let recorded = catalog
            .archive_blocks(archive_id)?
            .into_iter()
            .map(|(b, _, h)| (b, h))
            .collect();
        Ok(BlockLedger {
            catalog,
            archive_id,
            recorded,
        })
    }

    /// Whether every block of an image of `len` bytes is recorded.
    pub(crate) fn complete(&self, len: u64) -> bool {
        (0..len.div_ceil(BLOCK)).all(|b| self.recorded.contains_key(&b))
    }

    /// Checks block `index` against its first pass, or records it as the
    /// first pass; `Err` with what differs.
    fn check(&mut self, index: u64, bytes: &[u8]) -> std::result::Result<(), String> {
        // on all cores: with sealing on all cores too, one core hashing
        // every block would hold the archive back
        let hash = *blake3::Hasher::new()
            .update_rayon(bytes)
            .finalize()
            .as_bytes();
        match self.recorded.get(&index) {
            Some(first) if *first == hash => Ok(()),
            Some(_) => Err(format!(
                "block {index} (bytes {}..{}) differs from the bytes sealed on the image's first pass",
                index * BLOCK,
                index * BLOCK + bytes.len() as u64
            )),
            None => {
                self.catalog
                    .record_archive_block(self.archive_id, index, bytes.len() as u64, &hash)
                    .map_err(|e| format!("cannot record block {index}: {e}"))?;
                self.recorded.insert(index, hash);
                Ok(())
            }
        }
    }
}

/// Block buffers reused from block to block and from image to image of
/// one run. 8 MiB buffers made afresh each time land in whichever
/// thread's allocator arena made them, and a backup of many images grew by
/// tens of MB per arena that way.
#[derive(Clone, Default)]
pub(crate) struct BlockPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BlockPool {
    /// Buffers kept (the blocks a few sites' uploads hold at once).
    const KEEP: usize = 5;

    fn take(&self) -> Vec<u8> {
        self.lock().pop().unwrap_or_default()
    }

    /// Keeps `block`'s buffer when no reader holds it and the pool has room.
    fn put(&self, block: Arc<Vec<u8>>) {
        if let Ok(buf) = Arc::try_unwrap(block) {
            let mut pool = self.lock();
            if pool.len() < Self::KEEP {
                pool.push(buf);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for BlockPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockPool({} buffers)", self.lock().len())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        for (_, block) in self.blocks.drain(..) {
            self.pool.put(block);
        }
    }
}

/// An image read by several uploads at about the same pace (one per
/// archive site): each block is produced once while it is among the last
/// few; a reader that falls far behind gets its blocks produced again
/// (the same bytes, checked again).
#[derive(Clone)]
pub(crate) struct SharedImage {
    inner: Arc<Mutex<Shared>>,
}

struct Shared {
    name: String,
    producer: Producer,
    ledger: Option<BlockLedger>,
    blocks: VecDeque<(u64, Arc<Vec<u8>>)>,
    keep: usize,
    /// Buffers of blocks no reader holds any more, for the next blocks.
    pool: BlockPool,
    /// Blocks produced (read from the files) so far.
    generated: u64,
    /// The first block found to differ from the first pass, and why.
    differs: Option<Stale>,
}

impl SharedImage {
    /// Shares `producer` among `readers` uploads; with a ledger, every
    /// block is proven identical to the first pass.
    pub(crate) fn new(
        producer: Producer,
        readers: usize,
        ledger: Option<BlockLedger>,
    ) -> SharedImage {
        SharedImage {
            inner: Arc::new(Mutex::new(Shared {
                name: String::new(),
                producer,
                ledger,
                blocks: VecDeque::new(),
                keep: (readers * 2).clamp(2, 4),
                pool: BlockPool::default(),
                generated: 0,
                differs: None,
            })),
        }
    }

    /// The same, its block buffers taken from and given back to `pool`.
    pub(crate) fn pooled(self, pool: &BlockPool) -> SharedImage {
        self.lock().pool = pool.clone();
        self
    }

    /// The same, naming the image in messages.
    pub(crate) fn named(self, name: &str) -> SharedImage {
        self.lock().name = name.to_owned();
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Image size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.lock().producer.len()
    }

    /// Blocks produced so far.
    #[cfg(test)]
    pub(crate) fn generated(&self) -> u64 {
        self.lock().generated
    }

    /// Why the image could not be produced as recorded, if that happened:
    /// a file changed, or a block differs from the first pass.
    pub(crate) fn stale(&self) -> Option<Stale> {
        let shared = self.lock();
        shared.producer.stale().or_else(|| shared.differs.clone())
    }

    fn block(&self, b: u64) -> std::io::Result<Arc<Vec<u8>>> {
        let mut shared = self.lock();
        if let Some((_, bytes)) = shared.blocks.iter().find(|(s, _)| *s == b) {
            return Ok(bytes.clone());
        }
        let end = (b + BLOCK).min(shared.producer.len());
        if b >= end {
            return Err(std::io::Error::other("read past the end of the image"));
        }
        let s = &mut *shared;
        let mut bytes = s.pool.take();
        s.producer.produce(b, end, &mut bytes)?;
        if let Some(ledger) = s.ledger.as_mut()
            && let Err(why) = ledger.check(b / BLOCK, &bytes)
        {
            let stale = s.producer.diagnose(b, end).unwrap_or_else(|| Stale {
                why: format!("image {}: {why}", s.name),
                content: None,
            });
            let msg = stale.why.clone();
            s.differs = Some(stale);
            return Err(std::io::Error::other(msg));
        }
        let bytes = Arc::new(bytes);
        s.generated += 1;
        s.blocks.push_back((b, bytes.clone()));
        if s.blocks.len() > s.keep
            && let Some((_, old)) = s.blocks.pop_front()
        {
            s.pool.put(old);
        }
        Ok(bytes)
    }
}

impl ReadAt for SharedImage {
    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let mut pos = offset;
        let mut filled = 0;
        while filled < buf.len() {
            let b = pos / BLOCK * BLOCK;
            let bytes = self.block(b)?;
            let within = (pos - b) as usize;
            if within >= bytes.len() {
                return Err(std::io::Error::other("read past the end of the image"));
            }
            let n = (bytes.len() - within).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&bytes[within..within + n]);
            filled += n;
            pos += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::sealed::SealedFile;
    use lomo_remote::PartSource as _;

    /// A catalog holding one archive, for its block ledger.
    fn catalog_with_archive(dir: &Path) -> (std::path::PathBuf, i64) {
        let db = dir.join("c.db");
        let mut c = lomo_catalog::Catalog::open(&db).unwrap();
        let id = c
            .record_archive(&lomo_catalog::NewArchive {
                name: "a.iso",
                size: 0,
                blake3: [0; 32],
                location: None,
                members: &[],
            })
            .unwrap();
        (db, id)
    }

    fn image_file(dir: &Path, seed: u8) -> (std::path::PathBuf, u64) {
        let p = dir.join("a.iso");
        let data: Vec<u8> = (0..(3 * BLOCK as usize + 1000))
            .map(|i| (i as u8) ^ seed)
            .collect();
        std::fs::write(&p, &data).unwrap();
        (p, data.len() as u64)
    }

    fn sealed_from(
        path: &Path,
        len: u64,
        db: &Path,
        id: i64,
        key: &lomo_crypt::MasterKey,
        header: &[u8],
    ) -> SealedFile<SharedImage> {
        let ledger = BlockLedger::open(db, id).unwrap();
        let file = File::open(path).unwrap();
        let img = SharedImage::new(Producer::File { file, len }, 1, Some(ledger)).named("a.iso");
        SealedFile::with_header(key, header, img, len).unwrap()
    }

    /// Two passes under one header: the second, over a changed image, gives
    /// no ciphertext for the changed block — and for every block it does
    /// give, the ciphertext equals the first pass's, byte for byte.
    #[test]
    fn one_header_never_seals_two_plaintexts() {
        let t = tempfile::tempdir().unwrap();
        let (db, id) = catalog_with_archive(t.path());
        let key = lomo_crypt::MasterKey::generate();
        let header = super::super::sealed::fresh_header(&key);
        let (path, len) = image_file(t.path(), 1);
        let mut first = sealed_from(&path, len, &db, id, &key, &header);
        let total = first.len();
        let mut c1 = vec![0u8; total as usize];
        first.read_at(0, &mut c1).unwrap();
        // The same bytes again: the very same ciphertext.
        let mut again = sealed_from(&path, len, &db, id, &key, &header);
        let mut c2 = vec![0u8; total as usize];
        again.read_at(0, &mut c2).unwrap();
        assert!(c1 == c2);
        // One byte changed in block 2: blocks 0 and 1 seal as before,
        // block 2 is refused before it is sealed.
        let mut data = std::fs::read(&path).unwrap();
        data[2 * BLOCK as usize + 5] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        let mut changed = sealed_from(&path, len, &db, id, &key, &header);
        let stride = (64 * 1024 + 16) as u64;
        let chunks_before_block2 = 2 * BLOCK / (64 * 1024);
        let upto = 76 + chunks_before_block2 * stride;
        let mut c3 = vec![0u8; upto as usize];
        changed.read_at(0, &mut c3).unwrap();
        assert!(
            c3[..] == c1[..upto as usize],
            "unchanged blocks: same ciphertext"
        );
        let mut rest = vec![0u8; 100];
        let e = changed.read_at(upto, &mut rest).unwrap_err();
        assert!(e.to_string().contains("block 2"), "{e}");
    }

    /// Images sent one after another share their block buffers, and a
    /// reused buffer holds only its new block's bytes (the last block of
    /// an image is shorter than the one before it in that buffer).
    #[test]
    fn block_buffers_go_from_image_to_image() {
        let t = tempfile::tempdir().unwrap();
        let pool = BlockPool::default();
        for seed in [3u8, 9] {
            let (path, len) = image_file(t.path(), seed);
            let mut img = SharedImage::new(
                Producer::File {
                    file: File::open(&path).unwrap(),
                    len,
                },
                1,
                None,
            )
            .pooled(&pool);
            let before = pool.lock().len();
            let mut whole = vec![0u8; len as usize];
            img.read_exact_at(&mut whole, 0).unwrap();
            assert!(whole == std::fs::read(&path).unwrap(), "seed {seed}");
            if seed == 9 {
                assert!(before > 0, "the first image left its buffers");
                assert!(pool.lock().len() < before, "the second image took them");
            }
            drop(img);
            let kept = pool.lock().len();
            assert!((1..=BlockPool::KEEP).contains(&kept), "{kept} buffers kept");
        }
    }

    #[test]
    fn the_first_pass_records_every_block_before_it_is_handed_out() {
        let t = tempfile::tempdir().unwrap();
        let (db, id) = catalog_with_archive(t.path());
        let (path, len) = image_file(t.path(), 7);
        let mut img = SharedImage::new(
            Producer::File {
                file: File::open(&path).unwrap(),
                len,
            },
            1,
            Some(BlockLedger::open(&db, id).unwrap()),
        );
        let mut buf = vec![0u8; 10];
        img.read_exact_at(&mut buf, BLOCK + 3).unwrap();
        let recorded = lomo_catalog::Catalog::open(&db)
            .unwrap()
            .archive_blocks(id)
            .unwrap();
        assert_eq!(recorded.len(), 1, "block 1 only");
        assert_eq!(recorded[0].0, 1);
        assert!(!BlockLedger::open(&db, id).unwrap().complete(len));
    }
}
