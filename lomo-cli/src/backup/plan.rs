//! Planning archive images: the catalog's unarchived files, oldest first,
//! grouped into images of at most the pack size, each laid out and
//! recorded with its members (path in the image, offset, mtime, mode) —
//! and, for `lomob iso create` or `--keep-iso`, written to a local file.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;

use lomo_catalog::{FileEntry, FileQuery, Member, NewArchive};
use lomo_iso::{Entry, Layout};
use serde::Serialize;

use super::image::{image_entry, image_options};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::progress::{Bar, Task, TaskKind};
use crate::units::human_bytes;

const SECTOR: u64 = 2048;
/// Metadata allowance per file when grouping (directory records in both trees,
/// path tables, manifest line); the exact layout is checked afterwards.
const PER_FILE: u64 = 1024;
const FIXED: u64 = 1 << 20;

/// How to plan images.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Largest image in bytes (a bigger file gets an image of its own).
    pub max_size: u64,
    /// Where local images go (with `write`).
    pub store: PathBuf,
    /// The image's name (only when everything fits in one).
    pub name: Option<String>,
    /// Leave the last group for later unless it is full (a backup packs
    /// only full images; a file bigger than an image fills its own).
    pub full_only: bool,
    /// Write each image to a file in `store` (else it is streamed to the
    /// sites later, generated from its records).
    pub write: bool,
}

/// An image planned and recorded.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedImage {
    /// Its name (`OLDEST--NEWEST.iso`).
    pub name: String,
    /// Image size in bytes.
    pub size: u64,
    /// Files in it.
    pub files: usize,
    /// The local file, when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// A BLAKE3 of everything written through it, moving a bar.
struct Hashing<'a, W> {
    inner: W,
    hasher: blake3::Hasher,
    bar: &'a dyn Bar,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hasher.update(&b[..n]);
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Splits files (oldest first) into groups whose images stay within `max`;
/// with the last group's estimated size (it is full when that reaches
/// `max`, e.g. one file bigger than an image).
#[cfg(test)]
fn group(files: Vec<FileEntry>, max: u64) -> (Vec<Vec<FileEntry>>, u64) {
    let mut groups = Vec::new();
    let mut g = Grouper::new(max);
    for f in files {
        let (size, hash) = (f.size, f.hash);
        groups.extend(g.push(f, size, hash));
    }
    let (last, used) = g.finish();
    groups.extend(last);
    (groups, used)
}

/// The grouping of `group` (the tests' reference), one file at a time:
/// what a planner that keeps only a little of each file (`T`) needs to walk
/// a million files.
struct Grouper<T> {
    max: u64,
    used: u64,
    seen: HashSet<[u8; 32]>,
    cur: Vec<T>,
}

impl<T> Grouper<T> {
    fn new(max: u64) -> Grouper<T> {
        Grouper {
            max,
            used: FIXED,
            seen: HashSet::new(),
            cur: Vec::new(),
        }
    }

    /// Adds a file of `size` bytes and content `hash`; returns the group it
    /// closed, if it did not fit there.
    fn push(&mut self, item: T, size: u64, hash: Option<[u8; 32]>) -> Option<Vec<T>> {
        let new_content = hash.is_some_and(|h| !self.seen.contains(&h));
        let data = size.div_ceil(SECTOR) * SECTOR;
        let cost = PER_FILE + if new_content { data } else { 0 };
        let mut closed = None;
        if !self.cur.is_empty() && self.used + cost > self.max {
            closed = Some(std::mem::take(&mut self.cur));
            self.used = FIXED;
            self.seen.clear();
        }
        if let Some(h) = hash {
            self.seen.insert(h);
        }
        self.used += PER_FILE + data;
        self.cur.push(item);
        closed
    }

    /// The last group (if any file is in it) and its estimated size.
    fn finish(self) -> (Option<Vec<T>>, u64) {
        ((!self.cur.is_empty()).then_some(self.cur), self.used)
    }
}

fn date(ns: i64) -> String {
    crate::units::local_time(ns.div_euclid(1_000_000_000))
        .chars()
        .take(10)
        .collect()
}

/// Image entries `<root label>/<path relative to its scan root>`.
fn entries_of(files: &[FileEntry], labels: &HashMap<PathBuf, String>) -> Vec<Entry> {
    files
        .iter()
        .map(|f| {
            let rel = f.path.strip_prefix(&f.root).unwrap_or(&f.path);
            let label = labels
                .get(&f.root)
                .cloned()
                .unwrap_or_else(|| "root".into());
            let mut path = label.into_bytes();
            path.push(b'/');
            path.extend(crate::units::path_bytes(rel));
            image_entry(path, f.size, f.hash, f.mtime_ns, f.mode)
        })
        .collect()
}

fn layout_of(entries: &[Entry], name: &str) -> Result<Layout> {
    // 1 MiB writes: into a file.
    Layout::new(entries, image_options(name, 1 << 20)).map_err(|e| Error::Iso {
        what: format!("image {name}"),
        source: e,
    })
}

/// The group laid out; files that do not fit after all (the grouping
/// estimate is generous, but metadata may still overflow) go back to the
/// front of the queue.
fn fit(
    mut files: Vec<FileEntry>,
    labels: &HashMap<PathBuf, String>,
    name: &str,
    max: u64,
    queue: &mut VecDeque<Vec<FileEntry>>,
) -> Result<(Vec<FileEntry>, Vec<Entry>, Layout)> {
    let mut entries = entries_of(&files, labels);
    let mut layout = layout_of(&entries, name)?;
    let mut spill = Vec::new();
    while layout.size() > max && files.len() > 1 {
        if let Some(last) = files.pop() {
            spill.push(last);
        }
        entries = entries_of(&files, labels);
        layout = layout_of(&entries, name)?;
    }
    if !spill.is_empty() {
        spill.reverse();
        queue.push_front(spill);
    }
    Ok((files, entries, layout))
}

/// Each file's member record: its path in the image and its offset.
fn members_of(files: &[FileEntry], entries: &[Entry], layout: &Layout) -> Vec<Member> {
    let offsets: HashMap<usize, u64> = layout
        .file_extents()
        .into_iter()
        .map(|x| (x.entry, x.offset))
        .collect();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| Member {
            file_id: f.id,
            path: entries[i].path.clone(),
            offset: offsets.get(&i).copied().unwrap_or(0),
        })
        .collect()
}

impl Context {
    /// Plans the unarchived files into images and records them (see
    /// [`PlanOptions`]). Nothing to pack is an empty list.
    pub fn plan_images(&mut self, opts: &PlanOptions) -> Result<Vec<PlannedImage>> {
        let labels = self.catalog.root_labels()?;
        let mut groups = self.group_unarchived(opts.max_size, |f| f.id)?;
        if opts.full_only && groups.last().is_some_and(|(_, used)| *used < opts.max_size) {
            groups.pop();
        }
        if opts.name.is_some() && groups.len() > 1 {
            return Err(Error::invalid(format!(
                "the files need {} images of at most {}: leave out NAME to name them by date",
                groups.len(),
                human_bytes(opts.max_size)
            )));
        }
        if opts.write {
            std::fs::create_dir_all(&opts.store).map_err(|source| Error::Io {
                action: "create",
                path: opts.store.clone(),
                source,
            })?;
        }
        let taken: HashSet<String> = self
            .catalog
            .archives()?
            .into_iter()
            .map(|a| a.name)
            .collect();
        let mut made: Vec<PlannedImage> = Vec::new();
        // one group's entries in memory at a time (and what spilled over)
        let mut queue: VecDeque<Vec<FileEntry>> = VecDeque::new();
        let mut pending = groups.into_iter().map(|(ids, _)| ids);
        loop {
            if queue.is_empty()
                && let Some(ids) = pending.next()
            {
                queue.push_back(self.catalog.files_by_id(&ids)?);
            }
            let Some(files) = queue.pop_front() else {
                break;
            };
            let name = self.image_name(opts, &files, &taken, &made);
            let (files, entries, layout) = fit(files, &labels, &name, opts.max_size, &mut queue)?;
            let members = members_of(&files, &entries, &layout);
            let image = if opts.write {
                self.write_image(opts, &name, &files, &layout, &members)?
            } else {
                // Streamed to the sites later, generated from these records.
                self.catalog.record_archive(&NewArchive {
                    name: &name,
                    size: layout.size(),
                    blake3: [0; 32],
                    location: None,
                    members: &members,
                })?;
                PlannedImage {
                    name,
                    size: layout.size(),
                    files: files.len(),
                    path: None,
                }
            };
            made.push(image);
        }
        Ok(made)
    }

    /// The unarchived files (oldest first) in groups of at most `max`, each
    /// file kept as `keep` makes it, with each group's estimated size (a
    /// closed group is full): a million files' entries would not fit the
    /// memory budget, their ids or sizes do.
    pub(super) fn group_unarchived<T>(
        &self,
        max: u64,
        keep: impl Fn(&FileEntry) -> T,
    ) -> Result<Vec<(Vec<T>, u64)>> {
        let mut groups = Vec::new();
        self.each_unarchived_group(max, keep, |g, used| {
            groups.push((g, used));
            Ok(())
        })?;
        Ok(groups)
    }

    /// [`Context::group_unarchived`], each group handed to `f` as soon as
    /// it is closed (the last one, full or not, at the end).
    pub(super) fn each_unarchived_group<T>(
        &self,
        max: u64,
        keep: impl Fn(&FileEntry) -> T,
        mut f: impl FnMut(Vec<T>, u64) -> Result<()>,
    ) -> Result<()> {
        let q = FileQuery {
            unarchived: true,
            oldest_first: true,
            skip_held: true,
            ..FileQuery::default()
        };
        let mut g = Grouper::new(max);
        self.catalog
            .for_each_file(&q, |file| match g.push(keep(&file), file.size, file.hash) {
                Some(kept) => f(kept, max),
                None => Ok(()),
            })?;
        match g.finish() {
            (Some(kept), used) => f(kept, used),
            (None, _) => Ok(()),
        }
    }

    /// `OLDEST--NEWEST.iso` (or the name asked for), made unique.
    fn image_name(
        &self,
        opts: &PlanOptions,
        files: &[FileEntry],
        taken: &HashSet<String>,
        made: &[PlannedImage],
    ) -> String {
        let oldest = files.iter().map(|f| f.mtime_ns).min().unwrap_or(0);
        let newest = files.iter().map(|f| f.mtime_ns).max().unwrap_or(0);
        let mut name = opts
            .name
            .clone()
            .unwrap_or_else(|| format!("{}--{}.iso", date(oldest), date(newest)));
        let base = name.trim_end_matches(".iso").to_string();
        let mut n = 2;
        while taken.contains(&name)
            || made.iter().any(|m| m.name == name)
            || (opts.write && opts.store.join(&name).exists())
        {
            name = format!("{base}-{n}.iso");
            n += 1;
        }
        name
    }

    /// Writes the image to `store/name` atomically while hashing it, then
    /// records it with its local file.
    fn write_image(
        &mut self,
        opts: &PlanOptions,
        name: &str,
        files: &[FileEntry],
        layout: &Layout,
        members: &[Member],
    ) -> Result<PlannedImage> {
        let dest = opts.store.join(name);
        let bar = self.progress().start(&Task {
            kind: TaskKind::Image,
            label: name,
            total: Some(layout.size()),
        });
        let mut file = AtomicFile::create(&dest, false)?;
        let mut w = Hashing {
            inner: file.file(),
            hasher: blake3::Hasher::new(),
            bar: bar.as_ref(),
        };
        let written = layout.write(&mut w, |i| std::fs::File::open(&files[i].path));
        bar.finish();
        if let Err(e) = written {
            return Err(Error::Iso {
                what: format!(
                    "cannot build {}: run `lomob scan` again if files changed since the last scan",
                    dest.display()
                ),
                source: e,
            });
        }
        let image_hash = *w.hasher.finalize().as_bytes();
        file.commit()?;
        let abs = std::fs::canonicalize(&dest).unwrap_or(dest.clone());
        self.catalog.record_archive(&NewArchive {
            name,
            size: layout.size(),
            blake3: image_hash,
            location: Some(&abs),
            members,
        })?;
        self.notice(format!(
            "created {} ({}, {} files)",
            dest.display(),
            human_bytes(layout.size()),
            files.len()
        ));
        Ok(PlannedImage {
            name: name.to_owned(),
            size: layout.size(),
            files: files.len(),
            path: Some(abs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: i64, size: u64, hash: u8) -> FileEntry {
        FileEntry {
            id,
            path: PathBuf::from(format!("/r/f{id}")),
            root: PathBuf::from("/r"),
            kind: lomo_catalog::EntryKind::File,
            size,
            mtime_ns: id,
            mode: 0o644,
            hash: Some([hash; 32]),
            link_target: None,
        }
    }

    #[test]
    fn groups_stay_within_the_size() {
        let files = vec![
            file(1, 3_000_000, 1),
            file(2, 3_000_000, 2),
            file(3, 3_000_000, 3),
        ];
        let (g, last) = group(files, 8_000_000);
        assert_eq!(g.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
        assert!(last < 8_000_000, "the last group is partly filled");
        let big = vec![file(1, 20_000_000, 1), file(2, 10, 2)];
        let (g, _) = group(big, 8_000_000);
        assert_eq!(g.len(), 2, "a file bigger than an image gets its own");
        let (g, last) = group(vec![file(3, 20_000_000, 3)], 8_000_000);
        assert!(
            g.len() == 1 && last >= 8_000_000,
            "and fills it: it is packed at once"
        );
    }
}
