//! Reading one file back: a whole staged object, or the chunks of an
//! archive copy that hold it (plain images: its byte range); decrypted,
//! checked against the catalog's BLAKE3 and moved into place only when
//! whole and right.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt as _;
use lomo_catalog::{ArchiveCopy, ArchivedAt, FileEntry};
use lomo_crypt::MasterKey;
use lomo_crypt::stream::{HEADER_LEN, Header, Layout, ObjectCipher};
use lomo_remote::Backend;

use crate::error::{CryptContext as _, Error, IoContext as _, Result, fail};
use crate::target::{NewFile, Target};

/// Ciphertext asked for per range request when restoring from an archive.
const RANGE_BATCH: u64 = 16 << 20;

/// One file to restore: the key, its content hash, its catalog entry and
/// where it goes (`name` beneath `target`).
pub(crate) struct Wanted<'a> {
    pub(crate) key: &'a MasterKey,
    pub(crate) hash: &'a [u8; 32],
    pub(crate) file: &'a FileEntry,
    pub(crate) target: &'a Target,
    pub(crate) name: &'a Path,
}

/// Whether `name` in `target` holds the content `hash` already; an error
/// when it holds another (lomob never overwrites).
pub(crate) fn already_there(target: &Target, name: &Path, hash: &[u8; 32]) -> Result<bool> {
    if !target.exists(name)? {
        return Ok(false);
    }
    let same = target.open_file(name).ok().and_then(|mut d| {
        let mut h = blake3::Hasher::new();
        std::io::copy(&mut d, &mut h).ok()?;
        Some(h.finalize().as_bytes() == hash)
    });
    if same == Some(true) {
        return Ok(true);
    }
    fail!(
        "{} exists already with other content; lomob never overwrites",
        target.shown(name).display()
    )
}

/// A symlink as the catalog recorded it, when it resolves inside the
/// target (left alone when something is there).
pub(crate) fn restore_link(f: &FileEntry, target: &Target, name: &Path) -> Result<Option<String>> {
    let link = f
        .link_target
        .as_ref()
        .ok_or_else(|| Error::failed("symlink without a target in the catalog"))?;
    if target.exists(name)? {
        return Ok(None);
    }
    target.symlink(name, link)?;
    Ok(Some("catalog".into()))
}

/// Downloads, decrypts and checks one staged object into place (via temp
/// files beside it: a failure leaves nothing).
pub(crate) fn staged(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    object: &str,
    w: &Wanted<'_>,
) -> Result<()> {
    let mut sealed = w.target.scratch()?;
    let dir = w.target.path();
    rt.block_on(async {
        let mut s = site.get(object, None).await?;
        while let Some(chunk) = s.next().await {
            sealed.write_all(&chunk?).at("write in", dir)?;
        }
        Ok::<_, Error>(())
    })?;
    std::io::Seek::rewind(&mut sealed).at("read", dir)?;
    let mut plain = lomo_crypt::stream::DecryptReader::new(w.key, sealed)
        .what(|| format!("staged object {object}"))?;
    let mut tmp = w.target.create(w.name)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = plain
            .read(&mut buf)
            .map_err(|e| Error::failed(format!("decrypting: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        tmp.file()
            .write_all(&buf[..n])
            .at("write", &w.target.shown(w.name))?;
    }
    if h.finalize().as_bytes() != w.hash {
        fail!("the decrypted bytes do not match the catalog's BLAKE3: not restored");
    }
    finish_file(tmp, w.file)
}

/// A staged object of `stored` bytes decrypted as its bytes arrive (no
/// copy in transit): the header first, then each chunk opened once whole,
/// hashed and written; checked and moved into place at the end. A short
/// or damaged object is an error (the per-file path then reads it through
/// [`staged`], which names the damage).
pub(crate) fn staged_streamed(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    (object, stored): (&str, u64),
    w: &Wanted<'_>,
) -> Result<()> {
    let mut tmp = w.target.create(w.name)?;
    let mut hasher = blake3::Hasher::new();
    let shown = w.target.shown(w.name);
    let what = || format!("staged object {object}");
    rt.block_on(async {
        let mut s = site.get(object, None).await?;
        let mut head: Vec<u8> = Vec::with_capacity(HEADER_LEN);
        let mut open: Option<(ObjectCipher, Layout)> = None;
        let (mut buf, mut c) = (Vec::new(), 0u64);
        while let Some(piece) = s.next().await {
            let piece = piece?;
            let mut p = &piece[..];
            if open.is_none() {
                let take = (HEADER_LEN - head.len()).min(p.len());
                head.extend_from_slice(&p[..take]);
                p = &p[take..];
                if head.len() == HEADER_LEN {
                    let h = Header::parse(&head).what(what)?;
                    let layout = Layout::from_cipher_len(stored, h.chunk_log2).what(what)?;
                    open = Some((ObjectCipher::new(w.key, &h).what(what)?, layout));
                }
            }
            let Some((cipher, layout)) = &open else {
                continue;
            };
            while !p.is_empty() && c < layout.chunks() {
                let r = layout.cipher_range(c);
                let take = ((r.end - r.start) as usize - buf.len()).min(p.len());
                buf.extend_from_slice(&p[..take]);
                p = &p[take..];
                if buf.len() as u64 == r.end - r.start {
                    let n = cipher
                        .open_chunk_in_place(c, c + 1 == layout.chunks(), &mut buf)
                        .what(|| format!("staged object {object} chunk {c}"))?;
                    hasher.update(&buf[..n]);
                    tmp.file().write_all(&buf[..n]).at("write", &shown)?;
                    buf.clear();
                    c += 1;
                }
            }
        }
        match &open {
            Some((_, layout)) if c == layout.chunks() => Ok(()),
            _ => Err(Error::failed(format!("{}: shorter than recorded", what()))),
        }
    })?;
    if hasher.finalize().as_bytes() != w.hash {
        fail!("the decrypted bytes do not match the catalog's BLAKE3: not restored");
    }
    finish_file(tmp, w.file)
}

/// Reads only the chunks of an archive copy that hold the file, decrypts
/// them, checks the BLAKE3 and moves the file into place.
pub(crate) fn archived(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    copy: &ArchiveCopy,
    at: &ArchivedAt,
    w: &Wanted<'_>,
) -> Result<()> {
    if copy.header.is_empty() {
        return plain(rt, site, copy, at, w);
    }
    let header = Header::parse(&copy.header).what(|| format!("archive copy {}", copy.key))?;
    let cipher = ObjectCipher::new(w.key, &header).what(|| format!("archive copy {}", copy.key))?;
    let layout = Layout::new(at.archive.size, header.chunk_log2);
    let mut tmp = w.target.create(w.name)?;
    let mut hasher = blake3::Hasher::new();
    if at.size > 0 {
        let first = layout.chunk_of(at.offset);
        let last = layout.chunk_of(at.offset + at.size - 1);
        // In batches of chunks, so a video of any size needs little memory
        // and few requests.
        let per_batch = (RANGE_BATCH / layout.chunk_size()).max(1);
        let mut i = first;
        while i <= last {
            let end = (i + per_batch - 1).min(last);
            let range = layout.cipher_range(i).start..layout.cipher_range(end).end;
            let bytes =
                rt.block_on(crate::sites::download(site, &copy.key, Some(range.clone())))?;
            for c in i..=end {
                let r = layout.cipher_range(c);
                let slice = bytes
                    .get((r.start - range.start) as usize..(r.end - range.start) as usize)
                    .ok_or_else(|| Error::failed("the site sent fewer bytes than asked"))?;
                let mut chunk = slice.to_vec();
                cipher
                    .open_chunk(c, c + 1 == layout.chunks(), &mut chunk)
                    .what(|| format!("archive copy {} chunk {c}", copy.key))?;
                let p = layout.plain_range(c);
                let from = at.offset.max(p.start) - p.start;
                let to = (at.offset + at.size).min(p.end) - p.start;
                let part = &chunk[from as usize..to as usize];
                hasher.update(part);
                tmp.file()
                    .write_all(part)
                    .at("write", &w.target.shown(w.name))?;
            }
            i = end + 1;
        }
    }
    if hasher.finalize().as_bytes() != w.hash {
        fail!("the decrypted bytes do not match the catalog's BLAKE3: not restored");
    }
    finish_file(tmp, w.file)
}

/// A file out of a plain (unencrypted) image: its byte range, in pieces.
fn plain(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    copy: &ArchiveCopy,
    at: &ArchivedAt,
    w: &Wanted<'_>,
) -> Result<()> {
    let mut tmp = w.target.create(w.name)?;
    let mut hasher = blake3::Hasher::new();
    let end = at.offset + at.size;
    let mut pos = at.offset;
    while pos < end {
        let to = (pos + RANGE_BATCH).min(end);
        let bytes = rt.block_on(crate::sites::download(site, &copy.key, Some(pos..to)))?;
        if bytes.len() as u64 != to - pos {
            fail!("the site sent {} bytes, {} asked", bytes.len(), to - pos);
        }
        hasher.update(&bytes);
        tmp.file()
            .write_all(&bytes)
            .at("write", &w.target.shown(w.name))?;
        pos = to;
    }
    if hasher.finalize().as_bytes() != w.hash {
        fail!("the bytes in the plain image do not match the catalog's BLAKE3: not restored");
    }
    finish_file(tmp, w.file)
}

/// Mode, mtime, then into place without overwriting.
pub(super) fn finish_file(tmp: NewFile, f: &FileEntry) -> Result<()> {
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::from_nanos(u64::try_from(f.mtime_ns).unwrap_or(0));
    tmp.commit(Some(f.mode), Some(mtime))
}
