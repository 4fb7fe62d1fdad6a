//! Extracting entries to a folder without ever writing outside it.
//!
//! Every write goes through a [`cap_std::fs::Dir`] handle on the target,
//! which resolves each path beneath it and refuses `..`, absolute paths and
//! symlinks leading out — including links already in the target. Everything
//! is checked before the first byte is written (names in the way, the size
//! budget); symlinks are created last, each only if it resolves inside the
//! target at that moment (see [`links`]).

mod links;

pub use links::symlink_beneath;

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use super::{Reader, Record};
use crate::error::{Error, Result};

/// Bytes an extraction may write beyond twice the image's size by default.
pub const DEFAULT_ALLOWANCE: u64 = 256 << 20;

/// How [`Reader::extract_with`] may write.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// Most bytes of file contents to write. `None`: twice the image's size
    /// plus [`DEFAULT_ALLOWANCE`]. Every byte of a file is in the image, but
    /// files may share extents (hard links, or identical contents stored
    /// once as lomo-iso does), so an honest image can extract to more than
    /// its size; a hostile one can point thousands of entries at one
    /// extent. Set this for images known to share a lot.
    pub max_bytes: Option<u64>,
}

impl ExtractOptions {
    /// Options allowing at most `max_bytes` of file contents.
    pub fn max_bytes(max_bytes: u64) -> Self {
        ExtractOptions {
            max_bytes: Some(max_bytes),
        }
    }
}

/// A symlink in the image that was not created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedLink {
    /// The link's path in the image.
    pub entry: String,
    /// What it points to.
    pub target: String,
    /// Why it was not created.
    pub reason: String,
}

/// What an extraction wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Entries written (folders, files and symlinks).
    pub entries: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
    /// Symlinks left out because they would lead outside the target.
    pub skipped_links: Vec<SkippedLink>,
}

#[cfg(unix)]
fn os(p: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(p))
}

#[cfg(not(unix))]
fn os(p: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(p).into_owned())
}

fn shown(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn unsafe_entry(rel: &[u8], reason: impl Into<String>) -> Error {
    Error::Unsafe {
        entry: shown(rel),
        reason: reason.into(),
    }
}

/// mtime and mode of something already written, through its own handle.
fn finish(f: &std::fs::File, rec: &Record) -> std::io::Result<()> {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(rec.mtime.max(0) as u64);
    #[cfg(unix)]
    if let Some(mode) = rec.mode {
        use std::os::unix::fs::PermissionsExt;
        let extra = if rec.is_dir { 0o700 } else { 0 };
        f.set_permissions(std::fs::Permissions::from_mode((mode & 0o777) | extra))?;
    }
    f.set_modified(t)
}

impl<R: Read + Seek> Reader<R> {
    /// [`extract_with`](Self::extract_with) with the default options.
    pub fn extract(&mut self, dest: &Path, only: &[Vec<u8>]) -> Result<Extracted> {
        self.extract_with(dest, only, &ExtractOptions::default())
    }

    /// Extracts everything (or the entries under `only`, image paths) into
    /// `dest`, created if missing. Nothing is written unless every entry can
    /// be: none may exist already (folders excepted), none may lie behind a
    /// symlink in `dest`, and the contents must fit the budget of
    /// [`ExtractOptions::max_bytes`]. Writes never leave `dest`; symlinks
    /// come last and only those resolving inside `dest` are created, the
    /// others are listed in [`Extracted::skipped_links`].
    pub fn extract_with(
        &mut self,
        dest: &Path,
        only: &[Vec<u8>],
        options: &ExtractOptions,
    ) -> Result<Extracted> {
        let todo = self.wanted(only)?;
        let budget = options
            .max_bytes
            .unwrap_or_else(|| self.len.saturating_mul(2).saturating_add(DEFAULT_ALLOWANCE));
        check_budget(&todo, budget, self.len)?;
        let fresh = !dest.exists();
        std::fs::create_dir_all(dest).map_err(|source| Error::Io {
            context: format!("creating {}", dest.display()),
            source,
        })?;
        let root = Dir::open_ambient_dir(dest, cap_std::ambient_authority()).map_err(|source| {
            Error::Io {
                context: format!("opening {}", dest.display()),
                source,
            }
        })?;
        if !fresh {
            for (rel, rec) in &todo {
                check_free(&root, rel, rec)?;
            }
        }
        let mut done = self.write_entries(&root, dest, &todo)?;
        let links = todo
            .iter()
            .filter_map(|(rel, r)| Some((rel.as_slice(), r.symlink.as_deref()?)))
            .collect();
        links_last(&root, links, &mut done);
        Ok(done)
    }

    /// The entries to extract, parents first.
    fn wanted(&mut self, only: &[Vec<u8>]) -> Result<Vec<(Vec<u8>, Record)>> {
        let mut todo = Vec::new();
        self.walk(|p, r| {
            let wanted = only.is_empty()
                || only.iter().any(|o| {
                    let o = o.strip_prefix(b"/").unwrap_or(o);
                    p == o
                        || (p.starts_with(o) && p.get(o.len()) == Some(&b'/'))
                        || (o.starts_with(p) && o.get(p.len()) == Some(&b'/'))
                });
            if wanted {
                todo.push((p.to_vec(), r.clone()));
            }
            Ok(())
        })?;
        Ok(todo)
    }

    /// Folders and files, beneath `root`; folders' times and modes last,
    /// deepest first, so writing into them does not touch their mtimes.
    fn write_entries(
        &mut self,
        root: &Dir,
        dest: &Path,
        todo: &[(Vec<u8>, Record)],
    ) -> Result<Extracted> {
        let mut done = Extracted::default();
        let mut dirs = Vec::new();
        for (rel, rec) in todo.iter().filter(|(_, r)| r.symlink.is_none()) {
            let path = os(rel);
            let io = |source| Error::Io {
                context: format!(
                    "extracting {:?} to {}",
                    shown(rel),
                    dest.join(&path).display()
                ),
                source,
            };
            if rec.is_dir {
                match root.create_dir(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    r => r.map_err(io)?,
                }
                dirs.push((path, rec));
            } else {
                let mut out = root
                    .open_with(
                        &path,
                        cap_std::fs::OpenOptions::new().write(true).create_new(true),
                    )
                    .map_err(io)?
                    .into_std();
                let n = std::io::copy(&mut self.open_file(rec), &mut out).map_err(io)?;
                if n != rec.size {
                    return Err(Error::BadImage(format!(
                        "{:?}: read {n} of {} bytes",
                        shown(rel),
                        rec.size
                    )));
                }
                finish(&out, rec).map_err(io)?;
                done.bytes += n;
            }
            done.entries += 1;
        }
        for (path, rec) in dirs.iter().rev() {
            let d = root.open_dir(path).map_err(|source| Error::Io {
                context: format!("setting the mode of {}", dest.join(path).display()),
                source,
            })?;
            let _ = finish(&d.into_std_file(), rec);
        }
        Ok(done)
    }
}

/// The symlinks, in passes: a link refused because a folder on its way
/// did not exist yet (another link, later in the image) gets another chance
/// once that is there; what is still refused is reported.
fn links_last(root: &Dir, mut links: Vec<(&[u8], &[u8])>, done: &mut Extracted) {
    loop {
        let before = links.len();
        let mut refused = Vec::new();
        for (rel, target) in links {
            match links::create(root, rel, target) {
                Ok(()) => done.entries += 1,
                Err(reason) => refused.push((rel, target, reason)),
            }
        }
        if refused.is_empty() || refused.len() == before {
            done.skipped_links
                .extend(
                    refused
                        .into_iter()
                        .map(|(rel, target, reason)| SkippedLink {
                            entry: shown(rel),
                            target: shown(target),
                            reason,
                        }),
                );
            return;
        }
        links = refused.into_iter().map(|(r, t, _)| (r, t)).collect();
    }
}

/// The files' sizes add up to no more than `budget`.
fn check_budget(todo: &[(Vec<u8>, Record)], budget: u64, image: u64) -> Result<()> {
    let mut total = 0u64;
    for (rel, rec) in todo
        .iter()
        .filter(|(_, r)| !r.is_dir && r.symlink.is_none())
    {
        total = total.saturating_add(rec.size);
        if total > budget {
            return Err(unsafe_entry(
                rel,
                format!(
                    "the files would add up to more than {budget} bytes from a {image}-byte \
                     image (its files share extents); if that is expected, allow more \
                     (`--max-size`)"
                ),
            ));
        }
    }
    Ok(())
}

/// Nothing in the target is in the way of `rel`: no symlink on its path,
/// nothing at its place but a folder for a folder.
fn check_free(root: &Dir, rel: &[u8], rec: &Record) -> Result<()> {
    let path = os(rel);
    let mut at = PathBuf::new();
    let parts: Vec<_> = path.components().collect();
    for (i, c) in parts.iter().enumerate() {
        at.push(c);
        let Ok(m) = root.symlink_metadata(&at) else {
            return Ok(());
        };
        let last = i + 1 == parts.len();
        if m.file_type().is_symlink() {
            return Err(unsafe_entry(
                rel,
                format!("{} in the target is a symlink", at.display()),
            ));
        }
        if last && !(m.is_dir() && rec.is_dir && rec.symlink.is_none()) {
            return Err(unsafe_entry(rel, "exists already in the target"));
        }
        if !last && !m.is_dir() {
            return Err(unsafe_entry(
                rel,
                format!("{} in the target is a file", at.display()),
            ));
        }
    }
    Ok(())
}
