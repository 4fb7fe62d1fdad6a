//! Reading images from any `Read + Seek`, defensively: every offset is checked
//! against the image, directories and continuation chains are bounded, loops
//! are detected, and names that could escape a target folder are refused.

mod extract;
mod susp;

pub use extract::{DEFAULT_ALLOWANCE, ExtractOptions, Extracted, SkippedLink, symlink_beneath};

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use susp::{Rr, date7};

use crate::error::{Error, Result};

const SECTOR: u64 = 2048;
/// Limits that keep a hostile image from costing unbounded memory or time.
const MAX_DIR_BYTES: u64 = 64 << 20;
const MAX_CE_HOPS: usize = 32;
const MAX_DEPTH: usize = 256;
const MAX_ENTRIES: usize = 10_000_000;

/// Which directory tree names come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    /// The primary tree with Rock Ridge names, modes, mtimes and symlinks.
    RockRidge,
    /// The Joliet tree (UCS-2 names).
    Joliet,
    /// The primary tree with plain ISO9660 names.
    Plain,
}

/// A file, directory or symlink in an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its name (exact bytes from Rock Ridge; UTF-8 from Joliet).
    pub name: Vec<u8>,
    /// Directory?
    pub is_dir: bool,
    /// Size in bytes (the directory extent's size for directories).
    pub size: u64,
    /// Modification time, Unix seconds.
    pub mtime: i64,
    /// POSIX mode bits, when Rock Ridge gives them.
    pub mode: Option<u32>,
    /// Symlink target (Rock Ridge SL).
    pub symlink: Option<Vec<u8>>,
    /// (first sector, bytes) of each extent, in order.
    pub extents: Vec<(u32, u64)>,
}

/// An ISO9660 image opened for reading.
pub struct Reader<R> {
    inner: R,
    len: u64,
    tree: Tree,
    root: Record,
    /// Bytes skipped at the start of each system-use area (SP).
    skip: usize,
}

impl<R: Read + Seek> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("len", &self.len)
            .field("tree", &self.tree)
            .finish_non_exhaustive()
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::BadImage(what.into())
}

fn both32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl<R: Read + Seek> Reader<R> {
    /// Opens an image, preferring Rock Ridge, then Joliet, then plain names.
    pub fn open(inner: R) -> Result<Self> {
        Self::open_tree(inner, None)
    }

    /// Opens an image reading names from a chosen tree (`None`: the best one).
    pub fn open_tree(mut inner: R, tree: Option<Tree>) -> Result<Self> {
        let len = inner
            .seek(SeekFrom::End(0))
            .map_err(io_ctx("sizing the image"))?;
        let mut primary = None;
        let mut joliet = None;
        for i in 16..16 + 64u64 {
            let mut vd = vec![0u8; SECTOR as usize];
            if read_at(&mut inner, len, i * SECTOR, &mut vd).is_err() {
                break;
            }
            if &vd[1..6] != b"CD001" {
                return Err(bad(format!("sector {i} is not a volume descriptor")));
            }
            match vd[0] {
                1 => primary = Some(vd),
                2 if &vd[88..90] == b"%/" && matches!(vd[90], b'@' | b'C' | b'E') => {
                    joliet = Some(vd);
                }
                255 => break,
                _ => {}
            }
        }
        let primary = primary.ok_or_else(|| bad("no primary volume descriptor"))?;
        let mut r = Reader {
            inner,
            len,
            tree: Tree::Plain,
            root: root_of(&primary)?,
            skip: 0,
        };
        // Rock Ridge: the root's `.` record carries SP.
        let root_dot = r.raw_records(&r.root.clone())?.into_iter().next();
        let has_rr = root_dot.is_some_and(|(_, su)| {
            let mut rr = Rr::default();
            rr.parse(&su);
            if let Some(skip) = rr.sp_skip {
                r.skip = usize::from(skip);
            }
            rr.sp_skip.is_some()
        });
        let want = tree.unwrap_or(if has_rr {
            Tree::RockRidge
        } else if joliet.is_some() {
            Tree::Joliet
        } else {
            Tree::Plain
        });
        match want {
            Tree::RockRidge if !has_rr => return Err(bad("the image has no Rock Ridge")),
            Tree::Joliet => {
                let j = joliet.ok_or_else(|| bad("the image has no Joliet tree"))?;
                r.root = root_of(&j)?;
            }
            _ => {}
        }
        r.tree = want;
        Ok(r)
    }

    /// The tree names come from.
    pub fn tree(&self) -> Tree {
        self.tree
    }

    /// The root directory.
    pub fn root(&self) -> &Record {
        &self.root
    }

    /// The image length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the image is empty (never, for a valid one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Raw records of a directory: (record bytes, system use).
    fn raw_records(&mut self, dir: &Record) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let &(sector, size) = dir
            .extents
            .first()
            .ok_or_else(|| bad("directory without extent"))?;
        if size > MAX_DIR_BYTES {
            return Err(bad(format!(
                "directory {:?} claims {size} bytes",
                String::from_utf8_lossy(&dir.name)
            )));
        }
        let mut data = vec![0u8; size as usize];
        read_at(
            &mut self.inner,
            self.len,
            u64::from(sector) * SECTOR,
            &mut data,
        )
        .map_err(|_| {
            bad(format!(
                "directory {:?} lies outside the image",
                String::from_utf8_lossy(&dir.name)
            ))
        })?;
        let mut out = Vec::new();
        let mut off = 0usize;
        while off < data.len() {
            let l = usize::from(data[off]);
            if l == 0 {
                off = (off / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            if l < 34 || off + l > data.len() {
                return Err(bad(format!(
                    "malformed directory record at byte {} of directory sector {sector}",
                    off
                )));
            }
            let rec = data[off..off + l].to_vec();
            let name_len = usize::from(rec[32]);
            if 33 + name_len > l {
                return Err(bad(format!(
                    "record name overruns its record in directory sector {sector}"
                )));
            }
            let su_start = 33 + name_len + usize::from(name_len % 2 == 0);
            let su = rec.get(su_start..).unwrap_or_default().to_vec();
            out.push((rec, su));
            off += l;
        }
        Ok(out)
    }

    /// Rock Ridge entries of a record, following CE continuations (bounded).
    fn rock_ridge(&mut self, su: &[u8]) -> Result<Rr> {
        let mut rr = Rr::default();
        rr.parse(su.get(self.skip..).unwrap_or_default());
        let mut hops = 0;
        let mut seen = HashSet::new();
        while let Some((sector, offset, len)) = rr.continuation.take() {
            hops += 1;
            if hops > MAX_CE_HOPS || !seen.insert((sector, offset)) || len > 64 << 10 {
                return Err(bad("Rock Ridge continuation chain too long or looping"));
            }
            let mut area = vec![0u8; len as usize];
            read_at(
                &mut self.inner,
                self.len,
                u64::from(sector) * SECTOR + u64::from(offset),
                &mut area,
            )
            .map_err(|_| bad("Rock Ridge continuation outside the image"))?;
            rr.parse(&area);
        }
        Ok(rr)
    }

    /// The entries of a directory (without `.` and `..`; multi-extent files joined;
    /// relocated directories shown where they belong).
    pub fn read_dir(&mut self, dir: &Record) -> Result<Vec<Record>> {
        let raw = self.raw_records(dir)?;
        let mut out: Vec<Record> = Vec::new();
        let mut names: HashSet<Vec<u8>> = HashSet::new();
        let mut pending_multi = false;
        for (rec, su) in raw {
            let name_len = usize::from(rec[32]);
            let ident = &rec[33..33 + name_len];
            if ident == [0] || ident == [1] {
                continue;
            }
            let flags = rec[25];
            let extent = both32(&rec[2..6]);
            let size = u64::from(both32(&rec[10..14]));
            let mut is_dir = flags & 0x02 != 0;
            let mut mtime = date7(&rec[18..25]);
            let (mut mode, mut symlink) = (None, None);
            let mut extent_sector = extent;
            let mut dir_size = size;
            let name = match self.tree {
                Tree::RockRidge => {
                    let rr = self.rock_ridge(&su)?;
                    if rr.relocated {
                        continue; // shown at its CL place instead
                    }
                    if let Some(target) = rr.child_link {
                        // the real directory: its own `.` record gives the size
                        let probe = Record {
                            name: Vec::new(),
                            is_dir: true,
                            size: SECTOR,
                            mtime: 0,
                            mode: None,
                            symlink: None,
                            extents: vec![(target, SECTOR)],
                        };
                        let first = self
                            .raw_records(&probe)?
                            .into_iter()
                            .next()
                            .ok_or_else(|| bad("relocated directory is empty"))?;
                        extent_sector = target;
                        dir_size = u64::from(both32(&first.0[10..14]));
                        is_dir = true;
                    }
                    mode = rr.mode;
                    symlink = rr.symlink;
                    if let Some(t) = rr.mtime {
                        mtime = t;
                    }
                    rr.name.unwrap_or_else(|| plain_name(ident))
                }
                Tree::Joliet => {
                    let units: Vec<u16> = ident
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    let text = String::from_utf16_lossy(&units);
                    strip_version(text.as_bytes()).to_vec()
                }
                Tree::Plain => plain_name(ident),
            };
            if name.is_empty()
                || name == b"."
                || name == b".."
                || name.contains(&b'/')
                || name.contains(&0)
            {
                return Err(bad(format!(
                    "unsafe entry name {:?}",
                    String::from_utf8_lossy(&name)
                )));
            }
            if pending_multi && let Some(last) = out.last_mut().filter(|l| l.name == name) {
                next_extent(last, extent, size, self.len)?;
                last.extents.push((extent, size));
                last.size += size;
                pending_multi = flags & 0x80 != 0;
                continue;
            }
            pending_multi = flags & 0x80 != 0;
            let (ext, sz) = if is_dir {
                (extent_sector, dir_size)
            } else {
                (extent, size)
            };
            if !is_dir && sz > 0 && u64::from(ext) * SECTOR + sz > self.len {
                return Err(bad(format!(
                    "{:?} lies outside the image",
                    String::from_utf8_lossy(&name)
                )));
            }
            if !names.insert(name.clone()) {
                return Err(bad(format!(
                    "duplicate entry {:?}",
                    String::from_utf8_lossy(&name)
                )));
            }
            out.push(Record {
                name,
                is_dir,
                size: sz,
                mtime,
                mode,
                symlink,
                extents: vec![(ext, sz)],
            });
            if out.len() > MAX_ENTRIES {
                return Err(bad("too many entries"));
            }
        }
        Ok(out)
    }

    /// Calls `f(path, record)` for every entry, depth first, parents first.
    /// Detects directory loops and absurd depths.
    pub fn walk(&mut self, mut f: impl FnMut(&[u8], &Record) -> Result<()>) -> Result<()> {
        let mut seen = HashSet::new();
        let mut stack = vec![(Vec::new(), self.root.clone(), 0usize)];
        let mut count = 0usize;
        while let Some((path, dir, depth)) = stack.pop() {
            if depth > MAX_DEPTH {
                return Err(bad(format!(
                    "directory depth over {MAX_DEPTH} at {:?}",
                    String::from_utf8_lossy(&path)
                )));
            }
            if !seen.insert(dir.extents[0].0) {
                return Err(bad(format!(
                    "directory loop at {:?}",
                    String::from_utf8_lossy(&path)
                )));
            }
            let mut entries = self.read_dir(&dir)?;
            entries.sort_by(|a, b| b.name.cmp(&a.name));
            for e in entries {
                count += 1;
                if count > MAX_ENTRIES {
                    return Err(bad("too many entries"));
                }
                let mut p = path.clone();
                if !p.is_empty() {
                    p.push(b'/');
                }
                p.extend_from_slice(&e.name);
                f(&p, &e)?;
                if e.is_dir {
                    stack.push((p, e, depth + 1));
                }
            }
        }
        Ok(())
    }

    /// Finds an entry by its `/`-separated path.
    pub fn lookup(&mut self, path: &[u8]) -> Result<Record> {
        let mut cur = self.root.clone();
        for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            if !cur.is_dir {
                return Err(Error::NotFound(String::from_utf8_lossy(path).into_owned()));
            }
            cur = self
                .read_dir(&cur)?
                .into_iter()
                .find(|e| e.name == part)
                .ok_or_else(|| Error::NotFound(String::from_utf8_lossy(path).into_owned()))?;
        }
        Ok(cur)
    }

    /// A reader of a file's bytes (all its extents, in order).
    pub fn open_file(&mut self, rec: &Record) -> FileReader<'_, R> {
        FileReader {
            reader: self,
            extents: rec.extents.clone(),
            index: 0,
            pos: 0,
        }
    }
}

/// Reads one file's bytes from an image.
pub struct FileReader<'a, R> {
    reader: &'a mut Reader<R>,
    extents: Vec<(u32, u64)>,
    index: usize,
    pos: u64,
}

impl<R: Read + Seek> Read for FileReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(&(sector, size)) = self.extents.get(self.index) {
            if self.pos == size {
                self.index += 1;
                self.pos = 0;
                continue;
            }
            let start = u64::from(sector) * SECTOR + self.pos;
            let n = (size - self.pos).min(buf.len() as u64) as usize;
            let r = &mut *self.reader;
            if start + n as u64 > r.len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file extent outside the image",
                ));
            }
            r.inner.seek(SeekFrom::Start(start))?;
            let got = r.inner.read(&mut buf[..n])?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "image ended inside a file",
                ));
            }
            self.pos += got as u64;
            return Ok(got);
        }
        Ok(0)
    }
}

fn io_ctx(context: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: context.to_string(),
        source,
    }
}

fn read_at<R: Read + Seek>(r: &mut R, len: u64, at: u64, buf: &mut [u8]) -> io::Result<()> {
    if at.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "outside the image",
        ));
    }
    r.seek(SeekFrom::Start(at))?;
    r.read_exact(buf)
}

fn root_of(vd: &[u8]) -> Result<Record> {
    let rec = &vd[156..190];
    if rec[0] < 34 {
        return Err(bad("malformed root directory record"));
    }
    let extent = both32(&rec[2..6]);
    let size = u64::from(both32(&rec[10..14]));
    Ok(Record {
        name: Vec::new(),
        is_dir: true,
        size,
        mtime: date7(&rec[18..25]),
        mode: None,
        symlink: None,
        extents: vec![(extent, size)],
    })
}

/// A multi-extent file's next extent must follow the previous one (as
/// every writer lays them out): one extent repeated would make a small
/// image extract to a huge file.
fn next_extent(file: &Record, sector: u32, size: u64, image: u64) -> Result<()> {
    let &(s, n) = file.extents.last().unwrap_or(&(0, 0));
    let start = u64::from(sector) * SECTOR;
    let name = String::from_utf8_lossy(&file.name);
    if start < u64::from(s) * SECTOR + n {
        return Err(bad(format!(
            "{name:?}: extent at sector {sector} overlaps or precedes the one before it"
        )));
    }
    if start + size > image {
        return Err(bad(format!("{name:?} lies outside the image")));
    }
    Ok(())
}

fn strip_version(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b';') {
        Some(i) => &name[..i],
        None => name,
    }
}

fn plain_name(ident: &[u8]) -> Vec<u8> {
    let n = strip_version(ident);
    let n = n.strip_suffix(b".").unwrap_or(n);
    n.to_vec()
}
