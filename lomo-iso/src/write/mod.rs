//! Building images: the layout is computed first from the entries, then the
//! image is written strictly sequentially into any `Write` (no `Seek`).

mod manifest;
mod names;
mod records;

pub use manifest::MANIFEST_PATH;

use std::collections::{HashMap, HashSet, VecDeque};

use names::{iso_name, joliet_name};
use records::{CE_LEN, PX_LEN, SECTOR, TF_LEN, er, nm, px, record_len, tf};

use crate::error::{Error, Result};

/// The largest extent one directory record can describe (sector-aligned).
const MAX_EXTENT: u64 = 0xFFFF_F800;
const FIRST_FREE: u32 = 16;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory (parents of files are created implicitly too).
    Dir,
    /// A regular file of `size` bytes. With `blake3` set, files with the same
    /// hash share one extent, and the bytes written are checked against it.
    File {
        /// Size in bytes.
        size: u64,
        /// BLAKE3-256 of the content, if known.
        blake3: Option<[u8; 32]>,
    },
    /// A symbolic link (Rock Ridge only; Joliet has no links). At most 1024 bytes.
    Symlink {
        /// Where it points, as stored.
        target: Vec<u8>,
    },
}

/// One file or directory to put in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the image: relative, `/`-separated, any bytes but NUL.
    pub path: Vec<u8>,
    /// File or directory.
    pub kind: EntryKind,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// POSIX permission bits (`0o7777` mask).
    pub mode: u32,
}

/// How to build.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Volume identifier (d-characters, at most 32; others become `_`).
    pub volume_id: String,
    /// Add a Joliet tree (Windows' long names).
    pub joliet: bool,
    /// Add Rock Ridge (real names of any charset, modes, mtimes).
    pub rock_ridge: bool,
    /// Volume creation time (seconds); `None` uses the newest entry mtime, so
    /// the same entries always give the same bytes.
    pub created: Option<i64>,
    /// Add `/.lomob/manifest.json` listing every file with its BLAKE3, under
    /// this archive id. Its data goes last, after every file was hashed.
    pub manifest: Option<String>,
    /// Bytes per read and per write (clamped to 4 KiB..=8 MiB). The default,
    /// 32 KiB, suits pipes (bigger writes make a pipe writer sleep per 64 KiB
    /// and fall out of the CPU cache); 1 MiB is faster into a regular file.
    pub io_size: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            volume_id: "LOMOB".into(),
            joliet: true,
            rock_ridge: true,
            created: None,
            manifest: None,
            io_size: 32 * 1024,
        }
    }
}

#[derive(Debug)]
struct Node {
    // Boxed slices, not vectors: an image may hold 200,000 nodes, and
    // each name is fixed once made.
    name: Box<[u8]>,
    parent: usize,
    dir: bool,
    children: Vec<usize>,
    entry: Option<usize>,
    size: u64,
    mtime: i64,
    mode: u32,
    blake3: Option<[u8; 32]>,
    symlink: Option<Box<[u8]>>,
    iso: Box<[u8]>,
    jol: Box<[u8]>,
    /// Files: data sector. Dirs: primary directory extent.
    extent: u32,
    dir_size: u32,
    jextent: u32,
    jdir_size: u32,
    /// Primary record's continuation area (sector, offset, bytes); few
    /// nodes have one.
    ce: Option<Box<(u32, u32, Vec<u8>)>>,
    serial: u32,
}

// An image may hold 200,000 nodes: each byte here is 200 KB of a backup's memory.
const _: () = assert!(std::mem::size_of::<Node>() <= 200);

impl Node {
    /// A node with nothing placed yet; mode 0o755 until an entry says otherwise.
    fn new(name: &[u8], parent: usize, dir: bool, mtime: i64, id: usize) -> Node {
        Node {
            name: name.into(),
            parent,
            dir,
            children: Vec::new(),
            entry: None,
            size: 0,
            mtime,
            mode: 0o755,
            blake3: None,
            symlink: None,
            iso: Box::default(),
            jol: Box::default(),
            extent: 0,
            dir_size: 0,
            jextent: 0,
            jdir_size: 0,
            ce: None,
            serial: id as u32 + 1,
        }
    }
}

/// Where one file's bytes are in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileExtent {
    /// Index of the entry in the list given to [`Layout::new`].
    pub entry: usize,
    /// Byte offset of the file's data in the image.
    pub offset: u64,
    /// Its size.
    pub size: u64,
}

/// A computed image: every byte's place is known before the first is written.
#[derive(Debug)]
pub struct Layout {
    nodes: Vec<Node>,
    primary_dirs: Vec<usize>,
    joliet_dirs: Vec<usize>,
    opts: WriteOptions,
    created: i64,
    /// (sectors) path tables: L, M primary; L, M joliet
    pt: [u32; 4],
    pt_size: u32,
    jpt_size: u32,
    ce_start: u32,
    ce_sectors: u32,
    data_start: u32,
    /// Unique file data extents in write order.
    data: Vec<usize>,
    total: u32,
    /// The manifest node, and the file nodes it lists (path order).
    manifest: Option<(usize, Vec<usize>)>,
}

fn validate(path: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.contains(&0) {
        return Err("NUL in path");
    }
    if path[0] == b'/' {
        return Err("absolute path");
    }
    let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == b"." || *p == b"..")
    {
        return Err("empty, `.` or `..` component");
    }
    if parts.iter().any(|p| p.len() > 255) {
        return Err("a name longer than 255 bytes");
    }
    Ok(parts)
}

/// How many directories the entries' paths name, at most (taken in path
/// `order`: each path's directories not shared with the path before it).
fn new_dirs(entries: &[Entry], order: &[usize]) -> usize {
    let mut prev: &[u8] = &[];
    let mut dirs = 0;
    for &i in order {
        let path = entries[i].path.as_slice();
        let same = path.iter().zip(prev).take_while(|(a, b)| a == b).count();
        // The shared part counts up to its last whole directory.
        let shared = path[..same]
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |p| p + 1);
        dirs += path[shared..].iter().filter(|&&b| b == b'/').count();
        prev = path;
    }
    dirs
}

fn sectors(bytes: u64) -> u64 {
    bytes.div_ceil(SECTOR as u64)
}

impl Layout {
    /// Lays out an image holding `entries`.
    ///
    /// # Errors
    /// [`Error::BadEntry`] for a malformed or repeated path or a file where a
    /// directory is needed; [`Error::TooLarge`] past ISO9660's limits.
    pub fn new(entries: &[Entry], opts: WriteOptions) -> Result<Layout> {
        let mut root = Node::new(&[], 0, true, 0, 0);
        (root.iso, root.jol) = (Box::new([0]), Box::new([0]));
        let newest = entries.iter().map(|e| e.mtime).max().unwrap_or(0);
        // Path order, whatever the caller's order: the image depends only on the set.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|a, b| entries[*a].path.cmp(&entries[*b].path));
        // Sized once (a million-file image's nodes are tens of MB: grown by
        // doubling, each step copies them and leaves the old block behind).
        let made = entries.len() + new_dirs(entries, &order) + 2;
        let mut nodes = Vec::with_capacity(made);
        nodes.push(root);
        // Each directory's and file's node by its path, a prefix of an
        // entry's path (borrowed: no copy of every path).
        let mut index: HashMap<&[u8], usize> = HashMap::with_capacity(made);
        // File nodes in the order they are made: path order, the manifest's.
        let mut listed = Vec::with_capacity(entries.len());
        for i in order {
            let e = &entries[i];
            let bad = |reason| Error::BadEntry {
                path: String::from_utf8_lossy(&e.path).into_owned(),
                reason,
            };
            let parts = validate(&e.path).map_err(bad)?;
            let mut parent = 0;
            let mut end = 0;
            for (k, part) in parts.iter().enumerate() {
                end += usize::from(k > 0) + part.len();
                let sofar = &e.path[..end];
                let last = k + 1 == parts.len();
                if let Some(&n) = index.get(sofar) {
                    if last {
                        if nodes[n].entry.is_some() || e.kind != EntryKind::Dir {
                            return Err(bad("appears twice"));
                        }
                        nodes[n].entry = Some(i);
                        nodes[n].mtime = e.mtime;
                        nodes[n].mode = e.mode & 0o7777;
                    } else if !nodes[n].dir {
                        return Err(bad("a file is used as a directory"));
                    }
                    parent = n;
                    continue;
                }
                let (dir, size, blake3, symlink) = match (&e.kind, last) {
                    (EntryKind::File { size, blake3 }, true) => (false, *size, *blake3, None),
                    (EntryKind::Symlink { target }, true) => {
                        if target.is_empty() || target.len() > 1024 || target.contains(&0) {
                            return Err(bad("symlink target empty, over 1024 bytes or with NUL"));
                        }
                        (false, 0, None, Some(target.as_slice().into()))
                    }
                    _ => (true, 0, None, None),
                };
                let id = nodes.len();
                let mut node =
                    Node::new(part, parent, dir, if last { e.mtime } else { newest }, id);
                if last {
                    node.entry = Some(i);
                    node.mode = e.mode & 0o7777;
                }
                if !dir && symlink.is_none() {
                    listed.push(id);
                }
                (node.size, node.blake3, node.symlink) = (size, blake3, symlink);
                nodes.push(node);
                nodes[parent].children.push(id);
                index.insert(sofar, id);
                parent = id;
            }
        }
        nodes[0].mtime = newest;
        let created = opts.created.unwrap_or(newest);
        let mut l = Layout {
            nodes,
            primary_dirs: Vec::new(),
            joliet_dirs: Vec::new(),
            opts,
            created,
            pt: [0; 4],
            pt_size: 0,
            jpt_size: 0,
            ce_start: 0,
            ce_sectors: 0,
            data_start: 0,
            data: Vec::new(),
            total: 0,
            manifest: None,
        };
        if let Some(id) = l.opts.manifest.clone() {
            l.add_manifest(&id, newest, &index, listed)?;
        }
        drop(index);
        // kept for the image's life: not up to twice its length
        l.nodes.shrink_to_fit();
        l.name_and_sort();
        l.allocate()?;
        Ok(l)
    }

    /// Adds the manifest node (size computed now, content rendered when written).
    fn add_manifest(
        &mut self,
        archive_id: &str,
        mtime: i64,
        index: &HashMap<&[u8], usize>,
        mut listed: Vec<usize>,
    ) -> Result<()> {
        if index.contains_key(MANIFEST_PATH.as_bytes())
            || index.contains_key(&b".lomob"[..]) && !self.nodes[index[&b".lomob"[..]]].dir
        {
            return Err(Error::BadEntry {
                path: MANIFEST_PATH.into(),
                reason: "reserved for the manifest",
            });
        }
        listed.shrink_to_fit();
        let size = manifest::rendered_len(archive_id, self.manifest_lines(&listed)) as u64;
        let dir = match index.get(&b".lomob"[..]) {
            Some(&d) => d,
            None => {
                let d = self.push_node(b".lomob", 0, true, mtime);
                self.nodes[0].children.push(d);
                d
            }
        };
        let m = self.push_node(b"manifest.json", dir, false, mtime);
        self.nodes[m].size = size;
        self.nodes[m].mode = 0o444;
        self.nodes[dir].children.push(m);
        self.manifest = Some((m, listed));
        Ok(())
    }

    fn push_node(&mut self, name: &[u8], parent: usize, dir: bool, mtime: i64) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node::new(name, parent, dir, mtime, id));
        id
    }

    /// The manifest's lines: listed file `n`'s path (built from its
    /// node's names), size, mtime and mode, one at a time.
    fn manifest_lines<'a>(
        &'a self,
        listed: &'a [usize],
    ) -> impl ExactSizeIterator<Item = manifest::Line> + 'a {
        listed.iter().map(|&n| manifest::Line {
            path: self.path_of_bytes(n),
            size: self.nodes[n].size,
            mtime: self.nodes[n].mtime,
            mode: self.nodes[n].mode,
        })
    }

    fn name_and_sort(&mut self) {
        let dirs: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].dir)
            .collect();
        for d in dirs {
            let mut kids = self.nodes[d].children.clone();
            // deterministic whatever the input order
            kids.sort_by(|a, b| self.nodes[*a].name.cmp(&self.nodes[*b].name));
            let (mut taken, mut jtaken) = (HashSet::new(), HashSet::new());
            for &k in &kids {
                let n = &self.nodes[k];
                let mut iso = iso_name(&n.name, n.dir, &mut taken);
                if !n.dir {
                    iso.extend_from_slice(b";1");
                }
                let jol = joliet_name(&n.name, &mut jtaken);
                let n = &mut self.nodes[k];
                n.iso = iso.into_boxed_slice();
                n.jol = jol.into_boxed_slice();
            }
            self.nodes[d].children = kids;
        }
        self.primary_dirs = self.bfs(|n| &n.iso);
        self.joliet_dirs = self.bfs(|n| &n.jol);
    }

    /// Directories in path-table order: by level, then parent number, then identifier.
    fn bfs(&self, key: impl Fn(&Node) -> &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut q = VecDeque::from([0usize]);
        while let Some(d) = q.pop_front() {
            out.push(d);
            let mut kids: Vec<usize> = self.nodes[d]
                .children
                .iter()
                .copied()
                .filter(|&k| self.nodes[k].dir)
                .collect();
            kids.sort_by(|a, b| key(&self.nodes[*a]).cmp(key(&self.nodes[*b])));
            q.extend(kids);
        }
        out
    }

    /// Children of `d` in identifier order for one tree.
    fn sorted_children(&self, d: usize, joliet: bool) -> Vec<usize> {
        let mut kids = self.nodes[d].children.clone();
        if joliet {
            kids.retain(|&k| self.nodes[k].symlink.is_none());
            kids.sort_by(|a, b| self.nodes[*a].jol.cmp(&self.nodes[*b].jol));
        } else {
            kids.sort_by(|a, b| self.nodes[*a].iso.cmp(&self.nodes[*b].iso));
        }
        kids
    }

    fn parts(size: u64) -> u64 {
        size.div_ceil(MAX_EXTENT).max(1)
    }

    /// System use of a node's primary record (entries that fit, and the continuation).
    fn rr_entries(&self, n: usize) -> (Vec<u8>, Vec<u8>) {
        let node = &self.nodes[n];
        let kind_bits = if node.dir {
            0o040000
        } else if node.symlink.is_some() {
            0o120000
        } else {
            0o100000
        };
        let mode = node.mode | kind_bits;
        let links = if node.dir {
            2 + node.children.iter().filter(|&&k| self.nodes[k].dir).count() as u32
        } else {
            1
        };
        let mut su = px(mode, links, node.serial);
        su.extend(tf(node.mtime));
        let mut name = nm(&node.name);
        if let Some(target) = &node.symlink {
            name.extend(records::sl(target));
        }
        if record_len(node.iso.len(), su.len() + name.len()) <= 255 {
            su.extend(name);
            (su, Vec::new())
        } else {
            (su, name)
        }
    }

    /// Byte sizes of the records of directory `d` in one tree, in order.
    fn record_sizes(&self, d: usize, joliet: bool) -> Vec<usize> {
        let rr = self.opts.rock_ridge && !joliet;
        let dot_su = if rr { PX_LEN + TF_LEN } else { 0 };
        let root_extra = if rr && d == 0 { 7 + CE_LEN } else { 0 };
        let mut v = vec![record_len(1, dot_su + root_extra), record_len(1, dot_su)];
        for k in self.sorted_children(d, joliet) {
            let n = &self.nodes[k];
            let name_len = if joliet { n.jol.len() } else { n.iso.len() };
            let su = if rr {
                let (inline, cont) = self.rr_entries(k);
                inline.len() + if cont.is_empty() { 0 } else { CE_LEN }
            } else {
                0
            };
            let count = if n.dir { 1 } else { Self::parts(n.size) };
            for _ in 0..count {
                v.push(record_len(name_len, su));
            }
        }
        v
    }

    fn extent_bytes(sizes: &[usize]) -> u32 {
        let mut off = 0usize;
        for &s in sizes {
            if off % SECTOR + s > SECTOR {
                off = off.div_ceil(SECTOR) * SECTOR;
            }
            off += s;
        }
        (off.div_ceil(SECTOR).max(1) * SECTOR) as u32
    }

    fn path_table_size(&self, dirs: &[usize], joliet: bool) -> u32 {
        dirs.iter()
            .map(|&d| {
                let len = if d == 0 {
                    1
                } else if joliet {
                    self.nodes[d].jol.len()
                } else {
                    self.nodes[d].iso.len()
                };
                8 + len + len % 2
            })
            .sum::<usize>() as u32
    }

    /// Gives each directory of one tree its extent, from sector `next` on; returns the next free sector.
    fn place_dirs(&mut self, joliet: bool, mut next: u32) -> u32 {
        let dirs = if joliet {
            self.joliet_dirs.clone()
        } else {
            self.primary_dirs.clone()
        };
        for d in dirs {
            let size = Self::extent_bytes(&self.record_sizes(d, joliet));
            let n = &mut self.nodes[d];
            if joliet {
                (n.jextent, n.jdir_size) = (next, size);
            } else {
                (n.extent, n.dir_size) = (next, size);
            }
            next += size / SECTOR as u32;
        }
        next
    }

    fn allocate(&mut self) -> Result<()> {
        let mut next = FIRST_FREE + 1 + u32::from(self.opts.joliet) + 1; // PVD, SVD, terminator
        self.pt_size = self.path_table_size(&self.primary_dirs, false);
        self.jpt_size = if self.opts.joliet {
            self.path_table_size(&self.joliet_dirs, true)
        } else {
            0
        };
        let pts = sectors(u64::from(self.pt_size)) as u32;
        let jpts = sectors(u64::from(self.jpt_size)) as u32;
        self.pt = [next, next + pts, next + 2 * pts, next + 2 * pts + jpts];
        next += 2 * pts + 2 * jpts;
        next = self.place_dirs(false, next);
        // continuation areas: each within one sector
        self.ce_start = next;
        let (mut sector, mut off) = (next, 0u32);
        if self.opts.rock_ridge {
            let mut areas: Vec<(usize, Vec<u8>)> = vec![(0, er())];
            for n in 1..self.nodes.len() {
                let (_, cont) = self.rr_entries(n);
                if !cont.is_empty() {
                    areas.push((n, cont));
                }
            }
            for (n, bytes) in areas {
                let len = bytes.len() as u32;
                if off + len > SECTOR as u32 {
                    sector += 1;
                    off = 0;
                }
                self.nodes[n].ce = Some(Box::new((sector, off, bytes)));
                off += len;
            }
            self.ce_sectors = sector - self.ce_start + u32::from(off > 0);
        }
        next = self.ce_start + self.ce_sectors;
        if self.opts.joliet {
            next = self.place_dirs(true, next);
        }
        self.data_start = next;
        let mut seen: HashMap<[u8; 32], u32> = HashMap::new();
        let mut cursor = u64::from(next);
        for n in 0..self.nodes.len() {
            let (dir, blake3, size) = (self.nodes[n].dir, self.nodes[n].blake3, self.nodes[n].size);
            if dir || self.nodes[n].symlink.is_some() {
                continue;
            }
            if let Some(&s) = blake3.and_then(|h| seen.get(&h)) {
                self.nodes[n].extent = s;
                continue;
            }
            let s = u32::try_from(cursor).map_err(|_| Error::TooLarge(cursor))?;
            if let Some(h) = blake3 {
                seen.insert(h, s);
            }
            self.nodes[n].extent = s;
            self.data.push(n);
            cursor += sectors(size);
        }
        if let Some((m, _)) = &self.manifest
            && let Some(pos) = self.data.iter().position(|x| x == m)
        {
            // the manifest's data goes last, after every file was hashed
            let m = self.data.remove(pos);
            let size = self.nodes[m].size;
            let last_end = self.data.last().map_or(u64::from(self.data_start), |&x| {
                u64::from(self.nodes[x].extent) + sectors(self.nodes[x].size)
            });
            self.nodes[m].extent =
                u32::try_from(last_end).map_err(|_| Error::TooLarge(last_end))?;
            cursor = last_end + sectors(size);
            self.data.push(m);
        }
        self.total = u32::try_from(cursor).map_err(|_| Error::TooLarge(cursor))?;
        Ok(())
    }

    /// Exact size of the image in bytes.
    pub fn size(&self) -> u64 {
        u64::from(self.total) * SECTOR as u64
    }

    /// Where each file's data lies in the image (shared extents appear once per entry).
    pub fn file_extents(&self) -> Vec<FileExtent> {
        self.nodes
            .iter()
            .filter(|n| !n.dir && n.symlink.is_none())
            .filter_map(|n| {
                n.entry.map(|entry| FileExtent {
                    entry,
                    offset: u64::from(n.extent) * SECTOR as u64,
                    size: n.size,
                })
            })
            .collect()
    }
}

mod emit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_dirs_counts_each_directory_once() {
        let entries: Vec<Entry> = ["a/b/c", "a/b/d", "a/bc/x", "a/b/e/f", "top", "z/y/x/w"]
            .iter()
            .map(|p| Entry {
                path: p.as_bytes().to_vec(),
                kind: EntryKind::File {
                    size: 0,
                    blake3: None,
                },
                mtime: 0,
                mode: 0o644,
            })
            .collect();
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|a, b| entries[*a].path.cmp(&entries[*b].path));
        // a, a/b, a/b/e, a/bc, z, z/y, z/y/x
        assert_eq!(new_dirs(&entries, &order), 7);
    }
}
