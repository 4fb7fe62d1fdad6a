//! Writing a computed [`Layout`] sequentially.

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use super::records::{
    SECTOR, both16, both32, ce, dir_record, field, field_ucs2, path_record, px, rec_date, sp, tf,
    vol_date,
};
use super::{Layout, MAX_EXTENT};
use crate::error::{Error, Result};

fn io_err(context: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: context.to_string(),
        source,
    }
}

/// Counts what goes out, to check the layout's promises.
struct Out<W: Write> {
    w: BufWriter<W>,
    pos: u64,
    /// Largest single write (`WriteOptions::io_size`).
    piece: usize,
}

impl<W: Write> Out<W> {
    fn new(out: W, piece: usize, pos: u64) -> Self {
        Out {
            w: BufWriter::with_capacity(piece, out),
            pos,
            piece,
        }
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        for piece in b.chunks(self.piece) {
            self.w
                .write_all(piece)
                .map_err(io_err("writing the image"))?;
        }
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, sector: u32) -> Result<()> {
        self.zeros_to(u64::from(sector) * SECTOR as u64)
    }

    fn zeros_to(&mut self, target: u64) -> Result<()> {
        let zeros = [0u8; SECTOR];
        while self.pos < target {
            let n = (target - self.pos).min(SECTOR as u64) as usize;
            self.put(&zeros[..n])?;
        }
        Ok(())
    }
}

/// A writer that keeps only the bytes at positions `range` of what is
/// written through it.
struct Window {
    pos: u64,
    range: std::ops::Range<u64>,
    keep: Vec<u8>,
}

impl Write for Window {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let (from, to) = (self.pos, self.pos + b.len() as u64);
        let (lo, hi) = (from.max(self.range.start), to.min(self.range.end));
        if lo < hi {
            self.keep
                .extend_from_slice(&b[(lo - from) as usize..(hi - from) as usize]);
        }
        self.pos = to;
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Layout {
    /// Writes the image into `out`, opening each file's source with
    /// `open(entry_index)`. Exactly [`Layout::size`] bytes are written.
    ///
    /// # Errors
    /// [`Error::SourceChanged`] if a source is shorter or longer than declared
    /// or its BLAKE3 differs from the declared one (the image is then
    /// incomplete and must be discarded); [`Error::Io`] on read/write failures.
    pub fn write<W, R, F>(&self, out: W, open: F) -> Result<W>
    where
        W: Write,
        R: Read,
        F: FnMut(usize) -> io::Result<R>,
    {
        let mut o = Out::new(out, self.io_size(), 0);
        o.put(&self.metadata()?)?;
        self.write_data(&mut o, open)?;
        o.pad_to(self.total)?;
        debug_assert_eq!(o.pos, self.size());
        o.w.into_inner().map_err(|e| Error::Io {
            context: "flushing the image".into(),
            source: e.into_error(),
        })
    }

    /// Writes only bytes `range` of the image (e.g. one multipart-upload
    /// part), seeking into the sources it needs. The bytes equal the same
    /// slice of [`Layout::write`]'s output; the files overlapping the range
    /// are checked for size (not hash, since they are read in part).
    pub fn write_range<W, R, F>(
        &self,
        range: std::ops::Range<u64>,
        out: W,
        mut open: F,
    ) -> Result<W>
    where
        W: Write,
        R: Read + Seek,
        F: FnMut(usize) -> io::Result<R>,
    {
        let end = range.end.min(self.size());
        let start = range.start.min(end);
        let mut o = Out::new(out, self.io_size(), start);
        // The metadata (every directory record: megabytes for a big image)
        // is built only for a range that reaches into it.
        let meta_len = u64::from(self.data_start) * SECTOR as u64;
        if start < meta_len {
            o.put(&self.metadata_range(start..end.min(meta_len))?)?;
        }
        let mut buf = vec![0u8; self.io_size()];
        let padded_end = |n: usize| {
            let node = &self.nodes[n];
            u64::from(node.extent) * SECTOR as u64
                + node.size.div_ceil(SECTOR as u64) * SECTOR as u64
        };
        // in extent order: skip the extents before the range at once
        let first = self.data.partition_point(|&n| padded_end(n) <= start);
        for &n in &self.data[first..] {
            let node = &self.nodes[n];
            let at = u64::from(node.extent) * SECTOR as u64;
            if at >= end {
                break;
            }
            if padded_end(n) <= o.pos {
                continue;
            }
            // zeros before this extent, within the range
            o.zeros_to(at.min(end))?;
            let from = o.pos.max(at) - at;
            let to = (end - at).min(node.size);
            if from < to
                && !self.put_manifest(n, &HashMap::new(), from as usize..to as usize, &mut o)?
            {
                let shown = self.path_of(n);
                let mut src =
                    open(node.entry.unwrap_or(usize::MAX)).map_err(|source| Error::Io {
                        context: format!("opening source of {shown:?}"),
                        source,
                    })?;
                let len = src.seek(SeekFrom::End(0)).map_err(|source| Error::Io {
                    context: format!("sizing source of {shown:?}"),
                    source,
                })?;
                if len != node.size {
                    return Err(Error::SourceChanged {
                        path: shown,
                        reason: format!("now {len} bytes, declared {}", node.size),
                    });
                }
                src.seek(SeekFrom::Start(from))
                    .map_err(|source| Error::Io {
                        context: format!("seeking source of {shown:?}"),
                        source,
                    })?;
                let mut left = to - from;
                while left > 0 {
                    let want = left.min(buf.len() as u64) as usize;
                    src.read_exact(&mut buf[..want])
                        .map_err(|source| Error::Io {
                            context: format!("reading source of {shown:?}"),
                            source,
                        })?;
                    o.put(&buf[..want])?;
                    left -= want as u64;
                }
            }
        }
        o.zeros_to(end)?;
        o.w.into_inner().map_err(|e| Error::Io {
            context: "flushing the image".into(),
            source: e.into_error(),
        })
    }

    /// Everything before the first file's data: system area, volume
    /// descriptors, path tables, directories, continuation areas.
    fn metadata(&self) -> Result<Vec<u8>> {
        self.metadata_into(Vec::with_capacity(self.data_start as usize * SECTOR))
    }

    /// The bytes `range` of the metadata, built without holding the rest
    /// (the metadata of 200,000 files is tens of megabytes).
    fn metadata_range(&self, range: std::ops::Range<u64>) -> Result<Vec<u8>> {
        let keep = Vec::with_capacity((range.end - range.start) as usize);
        let window = Window {
            pos: 0,
            range,
            keep,
        };
        Ok(self.metadata_into(window)?.keep)
    }

    fn metadata_into<W: Write>(&self, w: W) -> Result<W> {
        let mut o = Out::new(w, self.io_size(), 0);
        o.pad_to(super::FIRST_FREE)?;
        o.put(&self.volume_descriptor(false))?;
        if self.opts.joliet {
            o.put(&self.volume_descriptor(true))?;
        }
        let mut term = [0u8; SECTOR];
        term[0] = 255;
        term[1..6].copy_from_slice(b"CD001");
        term[6] = 1;
        o.put(&term)?;
        for (k, (joliet, big)) in [(false, false), (false, true), (true, false), (true, true)]
            .into_iter()
            .enumerate()
        {
            if joliet && !self.opts.joliet {
                continue;
            }
            o.pad_to(self.pt[k])?;
            o.put(&self.path_table(joliet, big))?;
        }
        for &d in &self.primary_dirs {
            o.pad_to(self.nodes[d].extent)?;
            o.put(&self.directory(d, false))?;
        }
        if self.opts.rock_ridge {
            let mut areas: Vec<&(u32, u32, Vec<u8>)> =
                self.nodes.iter().filter_map(|n| n.ce.as_deref()).collect();
            areas.sort_by_key(|(s, off, _)| (*s, *off));
            for (s, off, bytes) in areas {
                o.zeros_to(u64::from(*s) * SECTOR as u64 + u64::from(*off))?;
                o.put(bytes)?;
            }
        }
        if self.opts.joliet {
            for &d in &self.joliet_dirs {
                o.pad_to(self.nodes[d].jextent)?;
                o.put(&self.directory(d, true))?;
            }
        }
        o.pad_to(self.data_start)?;
        o.w.into_inner().map_err(|e| Error::Io {
            context: "building the image metadata".into(),
            source: e.into_error(),
        })
    }

    /// Streams every file's data in order (sequential reads, size and hash checks).
    fn write_data<W: Write, R: Read, F: FnMut(usize) -> io::Result<R>>(
        &self,
        o: &mut Out<W>,
        mut open: F,
    ) -> Result<()> {
        let mut buf = vec![0u8; self.io_size()];
        let mut computed: HashMap<usize, [u8; 32]> = HashMap::new();
        for &n in &self.data {
            let node = &self.nodes[n];
            o.pad_to(node.extent)?;
            if self.put_manifest(n, &computed, 0..usize::MAX, o)? {
                continue;
            }
            let shown = self.path_of(n);
            let entry = node.entry.unwrap_or(usize::MAX);
            let mut src = open(entry).map_err(|source| Error::Io {
                context: format!("opening source of {shown:?}"),
                source,
            })?;
            // hash only when something uses it: a declared hash or the manifest
            let mut hasher =
                (node.blake3.is_some() || self.manifest.is_some()).then(blake3::Hasher::new);
            let mut left = node.size;
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let got = match src.read(&mut buf[..want]) {
                    Ok(0) => {
                        return Err(Error::SourceChanged {
                            path: shown,
                            reason: format!("{left} bytes shorter than declared"),
                        });
                    }
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(Error::Io {
                            context: format!("reading source of {shown:?}"),
                            source,
                        });
                    }
                };
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..got]);
                }
                o.put(&buf[..got])?;
                left -= got as u64;
            }
            let mut probe = [0u8; 1];
            if matches!(src.read(&mut probe), Ok(k) if k > 0) {
                return Err(Error::SourceChanged {
                    path: shown,
                    reason: "longer than declared".into(),
                });
            }
            if let Some(h) = hasher {
                let got = *h.finalize().as_bytes();
                if node.blake3.is_some_and(|want| want != got) {
                    return Err(Error::SourceChanged {
                        path: shown,
                        reason: "content differs from its declared BLAKE3".into(),
                    });
                }
                computed.insert(n, got);
            }
        }
        Ok(())
    }

    /// Puts the manifest's bytes `window` into `o` if `n` is the manifest
    /// node (`false`: it is not), a line at a time: hashes come from the
    /// declared ones or those computed while writing.
    fn put_manifest<W: Write>(
        &self,
        n: usize,
        computed: &HashMap<usize, [u8; 32]>,
        window: std::ops::Range<usize>,
        o: &mut Out<W>,
    ) -> Result<bool> {
        let Some((m, listed)) = &self.manifest else {
            return Ok(false);
        };
        if *m != n {
            return Ok(false);
        }
        let hash = |f: usize| self.nodes[f].blake3.or_else(|| computed.get(&f).copied());
        if let Some(&f) = listed.iter().find(|&&f| hash(f).is_none()) {
            return Err(Error::BadEntry {
                path: self.path_of(f),
                reason: "its BLAKE3 is needed for the manifest: declare it to write this range",
            });
        }
        let id = self.opts.manifest.clone().unwrap_or_default();
        let (before, mut failed) = (o.pos, None);
        super::manifest::window(
            &id,
            self.manifest_lines(listed),
            |i| hash(listed[i]).unwrap_or_default(),
            window.clone(),
            |bytes| match o.put(bytes) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        let size = self.nodes[n].size as usize;
        debug_assert_eq!(
            (o.pos - before) as usize,
            window.end.min(size).saturating_sub(window.start)
        );
        Ok(true)
    }

    pub(super) fn path_of_bytes(&self, mut n: usize) -> Vec<u8> {
        let mut parts = Vec::new();
        while n != 0 {
            parts.push(&*self.nodes[n].name);
            n = self.nodes[n].parent;
        }
        parts.reverse();
        parts.join(&b'/')
    }

    fn io_size(&self) -> usize {
        self.opts.io_size.clamp(4096, 8 << 20)
    }

    fn path_of(&self, mut n: usize) -> String {
        let mut parts = Vec::new();
        while n != 0 {
            parts.push(String::from_utf8_lossy(&self.nodes[n].name).into_owned());
            n = self.nodes[n].parent;
        }
        parts.reverse();
        parts.join("/")
    }

    fn volume_descriptor(&self, joliet: bool) -> Vec<u8> {
        let mut v = vec![0u8; SECTOR];
        v[0] = if joliet { 2 } else { 1 };
        v[1..6].copy_from_slice(b"CD001");
        v[6] = 1;
        let vol: String = self
            .opts
            .volume_id
            .chars()
            .map(|c| match c.to_ascii_uppercase() {
                u @ ('A'..='Z' | '0'..='9' | '_') => u,
                _ => '_',
            })
            .take(32)
            .collect();
        if joliet {
            field_ucs2(&mut v[8..40], "");
            field_ucs2(
                &mut v[40..72],
                &self.opts.volume_id.chars().take(16).collect::<String>(),
            );
            v[88..91].copy_from_slice(b"%/E"); // UCS-2 level 3
        } else {
            field(&mut v[8..40], b"");
            field(&mut v[40..72], vol.as_bytes());
        }
        v[80..88].copy_from_slice(&both32(self.total));
        v[120..124].copy_from_slice(&both16(1));
        v[124..128].copy_from_slice(&both16(1));
        v[128..132].copy_from_slice(&both16(SECTOR as u16));
        let (size, l, m, root, rsize) = if joliet {
            (
                self.jpt_size,
                self.pt[2],
                self.pt[3],
                self.nodes[0].jextent,
                self.nodes[0].jdir_size,
            )
        } else {
            (
                self.pt_size,
                self.pt[0],
                self.pt[1],
                self.nodes[0].extent,
                self.nodes[0].dir_size,
            )
        };
        v[132..140].copy_from_slice(&both32(size));
        v[140..144].copy_from_slice(&l.to_le_bytes());
        v[148..152].copy_from_slice(&m.to_be_bytes());
        let rec = dir_record(root, rsize, rec_date(self.nodes[0].mtime), 0x02, &[0], &[]);
        v[156..156 + rec.len()].copy_from_slice(&rec);
        let app = b"LOMOB (LOMORAGE BACKUP)";
        for (range, text) in [
            (190..318, &b""[..]),
            (318..446, b""),
            (446..574, b""),
            (574..702, app),
            (702..739, b""),
            (739..776, b""),
            (776..813, b""),
        ] {
            if joliet {
                field_ucs2(&mut v[range], &String::from_utf8_lossy(text));
            } else {
                field(&mut v[range], text);
            }
        }
        let created = vol_date(self.created);
        v[813..830].copy_from_slice(&created);
        v[830..847].copy_from_slice(&created);
        v[847..863].copy_from_slice(b"0000000000000000");
        v[864..880].copy_from_slice(b"0000000000000000");
        v[881] = 1;
        v
    }

    fn path_table(&self, joliet: bool, big: bool) -> Vec<u8> {
        let dirs = if joliet {
            &self.joliet_dirs
        } else {
            &self.primary_dirs
        };
        let number: HashMap<usize, u16> = dirs
            .iter()
            .enumerate()
            .map(|(i, &d)| (d, i as u16 + 1))
            .collect();
        let mut t = Vec::new();
        for &d in dirs {
            let n = &self.nodes[d];
            let name: &[u8] = if d == 0 {
                &[0]
            } else if joliet {
                &n.jol
            } else {
                &n.iso
            };
            let extent = if joliet { n.jextent } else { n.extent };
            let parent = number.get(&n.parent).copied().unwrap_or(1);
            t.extend(path_record(name, extent, parent, big));
        }
        t
    }

    /// The directory extent of `d` in one tree.
    fn directory(&self, d: usize, joliet: bool) -> Vec<u8> {
        let rr = self.opts.rock_ridge && !joliet;
        let node = &self.nodes[d];
        let parent = &self.nodes[node.parent];
        let (ext, size, pext, psize) = if joliet {
            (
                node.jextent,
                node.jdir_size,
                parent.jextent,
                parent.jdir_size,
            )
        } else {
            (node.extent, node.dir_size, parent.extent, parent.dir_size)
        };
        let dot_su = |n: usize| -> Vec<u8> {
            if !rr {
                return Vec::new();
            }
            let x = &self.nodes[n];
            let links = 2 + x.children.iter().filter(|&&k| self.nodes[k].dir).count() as u32;
            let mut su = px(x.mode | 0o040000, links, x.serial);
            su.extend(tf(x.mtime));
            su
        };
        let mut recs = Vec::new();
        let mut dot = dot_su(d);
        if rr && d == 0 {
            let mut root = sp();
            root.extend(dot);
            if let Some((s, off, bytes)) = node.ce.as_deref() {
                root.extend(ce(*s, *off, bytes.len() as u32));
            }
            dot = root;
        }
        recs.push(dir_record(
            ext,
            size,
            rec_date(node.mtime),
            0x02,
            &[0],
            &dot,
        ));
        recs.push(dir_record(
            pext,
            psize,
            rec_date(parent.mtime),
            0x02,
            &[1],
            &dot_su(node.parent),
        ));
        for k in self.sorted_children(d, joliet) {
            let c = &self.nodes[k];
            let name: &[u8] = if joliet { &c.jol } else { &c.iso };
            let su = if rr {
                let (mut inline, cont) = self.rr_entries(k);
                if !cont.is_empty()
                    && let Some((s, off, bytes)) = c.ce.as_deref()
                {
                    inline.extend(ce(*s, *off, bytes.len() as u32));
                }
                inline
            } else {
                Vec::new()
            };
            let date = rec_date(c.mtime);
            if c.dir {
                let (ce_ext, ce_size) = if joliet {
                    (c.jextent, c.jdir_size)
                } else {
                    (c.extent, c.dir_size)
                };
                recs.push(dir_record(ce_ext, ce_size, date, 0x02, name, &su));
                continue;
            }
            let parts = Self::parts(c.size);
            let mut left = c.size;
            for p in 0..parts {
                let this = left.min(MAX_EXTENT);
                let extent = c.extent + (p * (MAX_EXTENT / SECTOR as u64)) as u32;
                let flags = if p + 1 < parts { 0x80 } else { 0 };
                recs.push(dir_record(extent, this as u32, date, flags, name, &su));
                left -= this;
            }
        }
        let mut out = Vec::with_capacity(size as usize);
        for r in recs {
            if out.len() % SECTOR + r.len() > SECTOR {
                out.resize(out.len().div_ceil(SECTOR) * SECTOR, 0);
            }
            out.extend(r);
        }
        out.resize(size as usize, 0);
        out
    }
}
