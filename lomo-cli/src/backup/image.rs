//! An archive's ISO image generated on the fly from the files it holds, so
//! it streams to the sites without a local copy: readable at any offset
//! (a resumed upload starts mid-image), the same bytes every time (the
//! layout is a function of the recorded entries), and each file's bytes
//! checked against the catalog's BLAKE3 as they pass, before the part that
//! ends a file is handed out. A file that changed since its scan fails the
//! read, naming the file, and the upload is not completed.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use lomo_catalog::ArchiveEntry;
use lomo_iso::{Entry, EntryKind, Layout, WriteOptions};

use crate::error::{Result, fail};

/// The ISO options of an archive image named `name` (`….iso`).
pub(crate) fn image_options(name: &str, io_size: usize) -> WriteOptions {
    let base = name.trim_end_matches(".iso");
    WriteOptions {
        volume_id: base.chars().take(32).collect(),
        manifest: Some(base.to_string()),
        io_size,
        ..WriteOptions::default()
    }
}

/// The image entry of one file: its path in the image, size, hash, mtime, mode.
pub(crate) fn image_entry(
    path: Vec<u8>,
    size: u64,
    hash: Option<[u8; 32]>,
    mtime_ns: i64,
    mode: u32,
) -> Entry {
    Entry {
        path,
        kind: EntryKind::File { size, blake3: hash },
        mtime: mtime_ns.div_euclid(1_000_000_000),
        mode: mode & 0o7777,
    }
}

/// Why an image can no longer be generated as recorded.
#[derive(Debug, Clone)]
pub(crate) struct Stale {
    /// What changed, naming the file.
    pub(crate) why: String,
    /// The content a file was expected to hold and did not, if that was it.
    pub(crate) content: Option<[u8; 32]>,
}

struct Check {
    entry: usize,
    offset: u64,
    size: u64,
    /// Made when the file's first byte passes and dropped once it is
    /// checked: a hasher is 2 KB, and an image may hold 200,000 files.
    hasher: Option<Box<blake3::Hasher>>,
    /// Bytes of the file hashed so far.
    pos: u64,
    checked: bool,
}

/// Where an image's file is read from, and the content it must hold: all
/// an image keeps of each recorded entry (an image may hold 200,000).
struct Source {
    path: Box<Path>,
    hash: [u8; 32],
}

/// A generated image.
pub(crate) struct ImageSource {
    name: String,
    layout: Layout,
    entries: Vec<Source>,
    checks: Vec<Check>,
    /// The first file found changed (and the content it should have held),
    /// for the caller after a failed upload.
    stale: Arc<Mutex<Option<Stale>>>,
}

impl ImageSource {
    /// The image of archive `name` from its recorded entries. Fails (naming
    /// the file) when one has no readable source of the recorded size, or
    /// the archive predates the records an image needs.
    pub(crate) fn new(name: &str, entries: Vec<ArchiveEntry>) -> Result<ImageSource> {
        let mut list = Vec::with_capacity(entries.len());
        let mut sources = Vec::with_capacity(entries.len());
        for e in entries {
            let (Some(mtime), Some(mode)) = (e.mtime_ns, e.mode) else {
                fail!(
                    "archive {name} was recorded by an older lomob without what it takes to build its image again"
                );
            };
            let shown = String::from_utf8_lossy(&e.path).into_owned();
            let Some(src) = e.source else {
                fail!("{shown}: no file holds its content any more");
            };
            match std::fs::metadata(&src) {
                Ok(m) if m.len() == e.size => {}
                Ok(m) => fail!(
                    "{} changed since it was scanned ({} bytes, {} recorded)",
                    src.display(),
                    m.len(),
                    e.size
                ),
                Err(err) => fail!("{}: {err}", src.display()),
            }
            sources.push(Source {
                path: src.into_boxed_path(),
                hash: e.hash,
            });
            list.push(image_entry(e.path, e.size, Some(e.hash), mtime, mode));
        }
        let layout =
            Layout::new(&list, image_options(name, 1 << 20)).map_err(|e| crate::Error::Iso {
                what: format!("image {name}"),
                source: e,
            })?;
        let mut checks: Vec<Check> = layout
            .file_extents()
            .into_iter()
            .filter(|x| x.size > 0)
            .map(|x| Check {
                entry: x.entry,
                offset: x.offset,
                size: x.size,
                hasher: None,
                pos: 0,
                checked: false,
            })
            .collect();
        // A content stored once for several paths is checked once.
        checks.sort_by_key(|c| c.offset);
        checks.dedup_by_key(|c| c.offset);
        checks.shrink_to_fit();
        Ok(ImageSource {
            name: name.to_owned(),
            layout,
            entries: sources,
            checks,
            stale: Arc::new(Mutex::new(None)),
        })
    }

    /// Image size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.layout.size()
    }

    /// Where a read failure caused by a changed file is described.
    pub(crate) fn stale(&self) -> Arc<Mutex<Option<Stale>>> {
        self.stale.clone()
    }

    fn source(&self, entry: usize) -> std::io::Result<&Path> {
        self.entries
            .get(entry)
            .map(|e| &*e.path)
            .ok_or_else(|| std::io::Error::other("no source"))
    }

    /// The image bytes `start..end` into `out` (cleared first; a block
    /// buffer reused from the last block), each file's bytes checked.
    pub(crate) fn generate(
        &mut self,
        start: u64,
        end: u64,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        out.clear();
        out.reserve((end - start) as usize);
        let entries = &self.entries;
        let written = self.layout.write_range(start..end, &mut *out, |i| {
            let p = entries
                .get(i)
                .map(|e| &*e.path)
                .ok_or_else(|| std::io::Error::other("no source for this entry"))?;
            File::open(p)
        });
        if let Err(e) = written {
            let msg = format!("image {}: {e}", self.name);
            if matches!(e, lomo_iso::Error::SourceChanged { .. }) {
                *self
                    .stale
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Stale {
                    why: msg.clone(),
                    content: None,
                });
            }
            return Err(std::io::Error::other(msg));
        }
        self.verify(start, out)
    }

    /// Which file made the bytes `start..end` differ from an earlier pass:
    /// each file with bytes there is hashed whole from disk and compared
    /// with the catalog (only when a difference was found).
    pub(crate) fn diagnose(&self, start: u64, end: u64) -> Option<Stale> {
        for c in &self.checks {
            if c.offset >= end || c.offset + c.size <= start {
                continue;
            }
            let e = &self.entries[c.entry];
            let path = &e.path;
            let same = File::open(path).ok().and_then(|f| {
                let mut h = blake3::Hasher::new();
                h.update_reader(f).ok()?;
                Some(*h.finalize().as_bytes() == e.hash)
            });
            if same != Some(true) {
                return Some(Stale {
                    why: format!(
                        "{} changed since it was scanned (its bytes no longer match the catalog); image {} is planned again",
                        path.display(),
                        self.name
                    ),
                    content: Some(e.hash),
                });
            }
        }
        None
    }

    /// Feeds the files' bytes in `bytes` (at image offset `start`) to their
    /// hashers; a file whose last byte passes is compared with the catalog.
    fn verify(&mut self, start: u64, bytes: &[u8]) -> std::io::Result<()> {
        let end = start + bytes.len() as u64;
        // Sorted by offset and disjoint: the files with bytes here are a run.
        let first = self.checks.partition_point(|c| c.offset + c.size <= start);
        for i in first..self.checks.len() {
            let (offset, size, pos) = {
                let c = &self.checks[i];
                (c.offset, c.size, c.pos)
            };
            if offset >= end {
                break;
            }
            let (lo, hi) = (start.max(offset), end.min(offset + size));
            if lo >= hi || self.checks[i].checked {
                continue;
            }
            let (from, to) = (lo - offset, hi - offset);
            if pos < from {
                // Resumed mid-file: hash the part of it sent before, from disk.
                let path = self.source(self.checks[i].entry)?.to_owned();
                let mut f = File::open(&path)?;
                f.seek(SeekFrom::Start(pos))?;
                let mut rest = f.take(from - pos);
                let hasher = self.checks[i].hasher.get_or_insert_with(Box::default);
                std::io::copy(&mut rest, hasher.as_mut())?;
                self.checks[i].pos = from;
            }
            let c = &mut self.checks[i];
            if c.pos < to {
                let a = (offset + c.pos - start) as usize;
                let b = (hi - start) as usize;
                let hasher = c.hasher.get_or_insert_with(Box::default);
                // big pieces (a video's share of a block) on all cores
                if b - a >= 1 << 20 {
                    hasher.update_rayon(&bytes[a..b]);
                } else {
                    hasher.update(&bytes[a..b]);
                }
                c.pos = to;
            }
            if c.pos == c.size {
                c.checked = true;
                let want = self.entries[c.entry].hash;
                let got = c.hasher.take().map(|h| *h.finalize().as_bytes());
                if got != Some(want) {
                    let path = self.entries[c.entry].path.display().to_string();
                    let msg = format!(
                        "{path} changed since it was scanned (its bytes no longer match the catalog); image {} is planned again",
                        self.name
                    );
                    *self
                        .stale
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Stale {
                        why: msg.clone(),
                        content: Some(want),
                    });
                    return Err(std::io::Error::other(msg));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::blocks::{Producer, SharedImage};
    use crate::backup::sealed::ReadAt as _;

    fn entries(dir: &std::path::Path) -> Vec<ArchiveEntry> {
        (0..5u8)
            .map(|i| {
                let data: Vec<u8> = (0..(3_000_000 + u32::from(i) * 777))
                    .map(|b| (b as u8) ^ i)
                    .collect();
                let p = dir.join(format!("f{i}"));
                std::fs::write(&p, &data).unwrap();
                ArchiveEntry {
                    path: format!("Pictures/f{i}.jpg").into_bytes(),
                    offset: 0,
                    size: data.len() as u64,
                    hash: *blake3::hash(&data).as_bytes(),
                    mtime_ns: Some(1_600_000_000_000_000_000 + i64::from(i)),
                    mode: Some(0o644),
                    source: Some(p),
                }
            })
            .collect()
    }

    #[test]
    fn generated_at_any_offset_equals_the_written_image() {
        let t = tempfile::tempdir().unwrap();
        let e = entries(t.path());
        let list: Vec<Entry> = e
            .iter()
            .map(|x| {
                image_entry(
                    x.path.clone(),
                    x.size,
                    Some(x.hash),
                    x.mtime_ns.unwrap(),
                    0o644,
                )
            })
            .collect();
        let layout = Layout::new(&list, image_options("a.iso", 1 << 20)).unwrap();
        let whole = layout
            .write(Vec::new(), |i| File::open(e[i].source.as_ref().unwrap()))
            .unwrap();
        let mut src = SharedImage::new(
            Producer::Generated(Box::new(ImageSource::new("a.iso", e.clone()).unwrap())),
            1,
            None,
        );
        // In order, in odd sizes (as an upload reads it).
        let mut got = vec![0u8; whole.len()];
        let mut pos = 0;
        while pos < got.len() {
            let n = (1_234_567).min(got.len() - pos);
            src.read_exact_at(&mut got[pos..pos + n], pos as u64)
                .unwrap();
            pos += n;
        }
        assert!(got == whole);
        // A fresh source starting mid-image (a resumed upload) gives the same bytes.
        let mut resumed = SharedImage::new(
            Producer::Generated(Box::new(ImageSource::new("a.iso", e).unwrap())),
            1,
            None,
        );
        let mut tail = vec![0u8; whole.len() - 7_000_000];
        resumed.read_exact_at(&mut tail, 7_000_000).unwrap();
        assert!(tail == whole[7_000_000..]);
    }

    #[test]
    fn two_sites_reading_together_read_the_files_once() {
        let t = tempfile::tempdir().unwrap();
        let e = entries(t.path());
        let whole = {
            let source = ImageSource::new("a.iso", e.clone()).unwrap();
            let mut v = vec![0u8; source.len() as usize];
            SharedImage::new(Producer::Generated(Box::new(source)), 1, None)
                .read_exact_at(&mut v, 0)
                .unwrap();
            v
        };
        let shared = SharedImage::new(
            Producer::Generated(Box::new(ImageSource::new("a.iso", e).unwrap())),
            2,
            None,
        );
        let (mut a, mut b) = (shared.clone(), shared.clone());
        let mut got = (vec![0u8; whole.len()], vec![0u8; whole.len()]);
        let mut pos = 0;
        while pos < whole.len() {
            let n = (3 << 20).min(whole.len() - pos);
            a.read_exact_at(&mut got.0[pos..pos + n], pos as u64)
                .unwrap();
            b.read_exact_at(&mut got.1[pos..pos + n], pos as u64)
                .unwrap();
            pos += n;
        }
        assert!(got.0 == whole && got.1 == whole);
        let generated = shared.generated();
        assert_eq!(
            generated,
            whole.len().div_ceil(crate::backup::blocks::BLOCK as usize) as u64
        );
    }

    #[test]
    fn a_file_edited_in_place_fails_the_read_naming_it() {
        let t = tempfile::tempdir().unwrap();
        let e = entries(t.path());
        let victim = e[3].source.clone().unwrap();
        let mut bytes = std::fs::read(&victim).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&victim, &bytes).unwrap();
        let source = ImageSource::new("a.iso", e.clone()).unwrap();
        let mut buf = vec![0u8; source.len() as usize];
        let mut src = SharedImage::new(Producer::Generated(Box::new(source)), 1, None);
        let err = src.read_exact_at(&mut buf, 0).unwrap_err().to_string();
        assert!(err.contains(&victim.display().to_string()), "{err}");
        let stale = src.stale().unwrap();
        assert_eq!(stale.content, Some(e[3].hash));
        // A size change is caught before a byte is generated.
        std::fs::write(&victim, b"short").unwrap();
        let err = ImageSource::new("a.iso", e).err().unwrap().to_string();
        assert!(err.contains("changed since it was scanned"), "{err}");
    }
}
