//! `lomob iso create` and `lomob iso list`: images from the catalog.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lomo_catalog::{FileEntry, FileQuery, Member, NewArchive};
use lomo_iso::{Entry, Layout};
use serde_json::json;

use super::iso::Counting;
use super::{Ctx, Outcome};
use crate::fsutil::AtomicFile;
use crate::output::{Out, hex, local_time};
use crate::pipeline::image::{image_entry, image_options};
use crate::units::human_bytes;

const SECTOR: u64 = 2048;
/// Metadata allowance per file when grouping (directory records in both trees,
/// path tables, manifest line); the exact layout is checked afterwards.
const PER_FILE: u64 = 1024;
const FIXED: u64 = 1 << 20;

/// A BLAKE3 of everything written through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hasher.update(&b[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(unix)]
fn bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().into_owned().into_bytes()
}

/// Splits files (oldest first) into groups whose images stay within `max`.
fn group(files: Vec<FileEntry>, max: u64) -> Vec<Vec<FileEntry>> {
    let mut groups: Vec<Vec<FileEntry>> = Vec::new();
    let mut cur: Vec<FileEntry> = Vec::new();
    let mut used = FIXED;
    let mut seen: HashMap<[u8; 32], ()> = HashMap::new();
    for f in files {
        let new_content = f.hash.is_some_and(|h| !seen.contains_key(&h));
        let cost = PER_FILE
            + if new_content {
                f.size.div_ceil(SECTOR) * SECTOR
            } else {
                0
            };
        if !cur.is_empty() && used + cost > max {
            groups.push(std::mem::take(&mut cur));
            used = FIXED;
            seen.clear();
        }
        if let Some(h) = f.hash {
            seen.insert(h, ());
        }
        used += PER_FILE + f.size.div_ceil(SECTOR) * SECTOR;
        cur.push(f);
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    groups
}

fn date(ns: i64) -> String {
    local_time(ns.div_euclid(1_000_000_000))
        .chars()
        .take(10)
        .collect()
}

pub(crate) fn create(
    ctx: &Ctx,
    max: u64,
    store: &Path,
    name: Option<&str>,
    progress: bool,
) -> Result<Outcome> {
    let made = create_images(ctx, max, store, name, progress, false, true)?;
    let mut out = Out::new(ctx.global.json);
    for m in &made {
        if out.json() {
            out.record(&json!({"name": m.name, "size": m.size, "files": m.files}))?;
        } else {
            out.line(&format!(
                "{}  {}  {} files",
                m.name,
                human_bytes(m.size),
                m.files
            ))?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

/// An image made and recorded.
pub(crate) struct Made {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) files: usize,
}

/// Packs the unarchived files into images of at most `max` bytes in
/// `store` and records them. With `full_only`, the last, partly filled
/// group is left for later (the backup packs only full images).
pub(crate) fn create_images(
    ctx: &Ctx,
    max: u64,
    store: &Path,
    name: Option<&str>,
    progress: bool,
    full_only: bool,
    write: bool,
) -> Result<Vec<Made>> {
    let mut catalog = ctx.existing_catalog()?;
    let labels = catalog.root_labels()?;
    let mut files = Vec::new();
    let q = FileQuery {
        unarchived: true,
        oldest_first: true,
        ..FileQuery::default()
    };
    catalog.for_each_file(&q, |f| {
        files.push(f);
        Ok::<_, lomo_catalog::Error>(())
    })?;
    if files.is_empty() {
        if !full_only {
            eprintln!("every file is in an archive already: nothing to do");
        }
        return Ok(Vec::new());
    }
    let mut groups = group(files, max);
    if full_only {
        groups.pop();
    }
    if name.is_some() && groups.len() > 1 {
        bail!(
            "the files need {} images of at most {}: leave out NAME to name them by date",
            groups.len(),
            human_bytes(max)
        );
    }
    std::fs::create_dir_all(store).with_context(|| format!("cannot create {}", store.display()))?;
    let taken: Vec<String> = catalog.archives()?.into_iter().map(|a| a.name).collect();
    let mut made = Vec::new();
    let mut queue: std::collections::VecDeque<Vec<FileEntry>> = groups.into();
    while let Some(mut files) = queue.pop_front() {
        // entries: <root label>/<path relative to its scan root>
        let mut entries = Vec::new();
        let build = |files: &[FileEntry], entries: &mut Vec<Entry>| {
            entries.clear();
            for f in files {
                let rel = f.path.strip_prefix(&f.root).unwrap_or(&f.path);
                let label = labels
                    .get(&f.root)
                    .cloned()
                    .unwrap_or_else(|| "root".into());
                let mut path = label.into_bytes();
                path.push(b'/');
                path.extend(bytes(rel));
                entries.push(image_entry(path, f.size, f.hash, f.mtime_ns, f.mode));
            }
        };
        let oldest = files.iter().map(|f| f.mtime_ns).min().unwrap_or(0);
        let newest = files.iter().map(|f| f.mtime_ns).max().unwrap_or(0);
        let mut image_name = name.map_or_else(
            || format!("{}--{}.iso", date(oldest), date(newest)),
            str::to_string,
        );
        let base = image_name.trim_end_matches(".iso").to_string();
        let mut n = 2;
        while taken.contains(&image_name)
            || made.iter().any(|m: &Made| m.name == image_name)
            || store.join(&image_name).exists()
        {
            image_name = format!("{base}-{n}.iso");
            n += 1;
        }
        let opts = || image_options(&image_name, 1 << 20); // 1 MiB writes: into a file
        build(&files, &mut entries);
        let mut layout = Layout::new(&entries, opts())?;
        // the grouping estimate was generous; if metadata still overflows, move files on
        let mut spill = Vec::new();
        while layout.size() > max && files.len() > 1 {
            if let Some(last) = files.pop() {
                spill.push(last);
            }
            build(&files, &mut entries);
            layout = Layout::new(&entries, opts())?;
        }
        if !spill.is_empty() {
            spill.reverse();
            queue.push_front(spill);
        }
        let offsets: HashMap<usize, u64> = layout
            .file_extents()
            .into_iter()
            .map(|x| (x.entry, x.offset))
            .collect();
        let members: Vec<Member> = files
            .iter()
            .enumerate()
            .map(|(i, f)| Member {
                file_id: f.id,
                path: entries[i].path.clone(),
                offset: offsets.get(&i).copied().unwrap_or(0),
            })
            .collect();
        if !write {
            // Streamed to the sites later, generated from these records.
            catalog.record_archive(&NewArchive {
                name: &image_name,
                size: layout.size(),
                blake3: [0; 32],
                location: None,
                members: &members,
            })?;
            made.push(Made {
                name: image_name,
                size: layout.size(),
                files: files.len(),
            });
            continue;
        }
        let dest = store.join(&image_name);
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(layout.size()), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{prefix} {bar:30} {decimal_bytes}/{decimal_total_bytes} ({decimal_bytes_per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_prefix(image_name.clone());
            b
        });
        let mut file = AtomicFile::create(&dest, false)?;
        let mut w = Hashing {
            inner: Counting {
                inner: file.file(),
                bar: bar.clone(),
            },
            hasher: blake3::Hasher::new(),
        };
        let written = layout.write(&mut w, |i| std::fs::File::open(&files[i].path));
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        if let Err(e) = written {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot build {}: run `lomob scan` again if files changed since the last scan",
                dest.display()
            )));
        }
        let image_hash = *w.hasher.finalize().as_bytes();
        file.commit()?;
        let abs = std::fs::canonicalize(&dest).unwrap_or(dest.clone());
        catalog.record_archive(&NewArchive {
            name: &image_name,
            size: layout.size(),
            blake3: image_hash,
            location: Some(&abs),
            members: &members,
        })?;
        eprintln!(
            "created {} ({}, {} files)",
            dest.display(),
            human_bytes(layout.size()),
            files.len()
        );
        made.push(Made {
            name: image_name,
            size: layout.size(),
            files: files.len(),
        });
    }
    Ok(made)
}

/// The image's BLAKE3 in hex; `None` while unknown (a streamed image
/// before its first whole pass).
fn known_hash(h: &[u8; 32]) -> Option<String> {
    (*h != [0; 32]).then(|| hex(h))
}

pub(crate) fn list(ctx: &Ctx) -> Result<Outcome> {
    let catalog = ctx.existing_catalog()?;
    let mut out = Out::new(ctx.global.json);
    for a in catalog.archives()? {
        let status = match &a.location {
            Some(p) if p.exists() => "local",
            Some(_) => "local copy missing",
            None => "recorded",
        };
        if out.json() {
            out.record(&json!({
                "name": a.name, "status": status, "size": a.size, "files": a.files,
                "created": a.created_at, "blake3": known_hash(&a.blake3),
                "location": a.location.as_ref().map(|p| p.display().to_string()),
            }))?;
        } else {
            out.line(&format!(
                "{}  {:<18}  {:>10}  {:>6} files  {}  {}",
                a.name,
                status,
                human_bytes(a.size),
                a.files,
                local_time(a.created_at),
                known_hash(&a.blake3).map_or_else(|| "-".to_owned(), |h| h[..12].to_owned())
            ))?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
