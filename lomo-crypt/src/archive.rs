//! filecrypt's payload: a gzip (level 9) of a USTAR tar of the named files and
//! folders (PAX records for long or non-ASCII names, directories without a
//! trailing slash, permission bits only).
//!
//! filecrypt unpacks without checking paths, so a crafted `../x` escapes its
//! target. [`unpack`] refuses such entries before writing anything, caps the
//! decompressed size, never follows or creates links and never overwrites.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::error::{Error, Result};

/// Limits on what [`unpack`] accepts.
#[derive(Clone, Copy, Debug)]
pub struct UnpackLimits {
    /// Total bytes of file contents.
    pub max_bytes: u64,
    /// Number of entries.
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_bytes: 4 << 30,
            max_entries: 1_000_000,
        }
    }
}

/// Packs `paths` (files or folders, walked recursively in name order) into a
/// tar.gz. Relative paths are read under `base` and named as given, like
/// filecrypt run in `base`; absolute ones are named without their leading `/`.
pub fn pack(base: &Path, paths: &[PathBuf]) -> Result<Vec<u8>> {
    let gz = GzEncoder::new(Vec::new(), Compression::new(9));
    let mut tar = tar::Builder::new(gz);
    for p in paths {
        add(&mut tar, base, p)?;
    }
    let gz = tar.into_inner()?;
    Ok(gz.finish()?)
}

fn entry_name(p: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or_else(|| Error::Archive {
                entry: s.to_string_lossy().into_owned(),
                reason: "name is not UTF-8 (tar PAX names must be)".into(),
            })?),
            Component::ParentDir => {
                return Err(Error::Archive {
                    entry: p.display().to_string(),
                    reason: "paths with `..` cannot be packed".into(),
                });
            }
            _ => {}
        }
    }
    Ok(parts.join("/"))
}

fn add<W: Write>(tar: &mut tar::Builder<W>, base: &Path, p: &Path) -> Result<()> {
    let full = base.join(p);
    let meta = fs::symlink_metadata(&full).map_err(|e| Error::Archive {
        entry: p.display().to_string(),
        reason: e.to_string(),
    })?;
    let name = entry_name(p)?;
    let mut h = tar::Header::new_ustar();
    h.set_mtime(
        meta.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs()),
    );
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
    #[cfg(not(unix))]
    let mode = if meta.is_dir() { 0o755 } else { 0o644 };
    h.set_mode(mode);
    if meta.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        write_entry(tar, &mut h, &name, io::empty())?;
        let mut children: Vec<PathBuf> = fs::read_dir(&full)?
            .map(|e| e.map(|e| p.join(e.file_name())))
            .collect::<io::Result<_>>()?;
        children.sort();
        for c in children {
            add(tar, base, &c)?;
        }
    } else if meta.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        write_entry(tar, &mut h, &name, fs::File::open(&full)?)?;
    } else {
        return Err(Error::Archive {
            entry: name,
            reason: "only files and folders can be packed".into(),
        });
    }
    Ok(())
}

/// Writes one entry, with a PAX `path` record when the name does not fit USTAR.
fn write_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &str,
    data: impl Read,
) -> Result<()> {
    let fits = name.is_ascii() && name.len() <= 100;
    if !fits {
        tar.append_pax_extensions([("path", name.as_bytes())])?;
    }
    let short: String = name.chars().filter(char::is_ascii).take(100).collect();
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..short.len()].copy_from_slice(short.as_bytes());
    h.set_cksum();
    tar.append(h, data)?;
    Ok(())
}

/// A checked relative path inside the target, or why it is refused.
fn safe_relative(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return None, // `..`, `/`, a Windows prefix
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Largest PAX or GNU long-name record accepted (a 1 GiB header would be
/// held in memory whole).
const MAX_EXTENSION: u64 = 1 << 20;

/// One checked entry: its safe relative path and whether it is a folder.
struct Planned {
    rel: PathBuf,
    dir: bool,
}

/// Unpacks a tar.gz into `dest` (created if missing). Every entry is checked
/// first — a safe relative path, a file or folder, named once, no file
/// that is also another entry's folder, within `limits`; nothing in `dest`
/// in the way (an existing file, or a symlink on the path) — and nothing
/// is written unless all pass. Writes go through a directory handle that
/// cannot leave `dest`. Existing files are never overwritten. Returns the
/// paths written.
pub fn unpack(targz: &[u8], dest: &Path, limits: UnpackLimits) -> Result<Vec<PathBuf>> {
    check_extensions(targz, limits)?;
    let planned = plan(targz, limits)?;
    check_target(dest, &planned)?;
    // What did not exist before (nothing planned did: `check_target`), so a
    // write pass that fails after all can take back everything it made.
    let mut made: Vec<PathBuf> = Vec::new();
    for p in &planned {
        for a in p.rel.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            if !made.iter().any(|m| m == a) && fs::symlink_metadata(dest.join(a)).is_err() {
                made.push(a.to_path_buf());
            }
        }
    }
    let dest_was_there = dest.exists();
    fs::create_dir_all(dest)?;
    let root = cap_std::fs::Dir::open_ambient_dir(dest, cap_std::ambient_authority())?;
    match write_all(targz, &root, &planned) {
        Ok(()) => Ok(planned.iter().map(|p| dest.join(&p.rel)).collect()),
        Err(e) => {
            // Deepest first: files, then the folders they were in.
            made.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
            for m in &made {
                let _ = root.remove_file(m).or_else(|_| root.remove_dir(m));
            }
            if !dest_was_there {
                let _ = fs::remove_dir(dest);
            }
            Err(e)
        }
    }
}

/// Pass 2: the planned entries written, in order.
fn write_all(targz: &[u8], root: &cap_std::fs::Dir, planned: &[Planned]) -> Result<()> {
    let mut archive = tar::Archive::new(GzDecoder::new(targz));
    let mut n = 0;
    for (entry, p) in archive.entries()?.zip(planned) {
        let mut entry = entry?;
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let mtime = entry.header().mtime().ok();
        write_one(root, p, (&mut entry, mode, mtime))?;
        n += 1;
    }
    if n < planned.len() {
        return Err(refused(
            &planned[n].rel,
            "the archive ended differently the second time it was read",
        ));
    }
    Ok(())
}

fn refused(entry: &Path, reason: &str) -> Error {
    Error::Archive {
        entry: entry.display().to_string(),
        reason: reason.into(),
    }
}

/// Pass 0, on the raw headers: PAX and GNU long-name records are small.
fn check_extensions(targz: &[u8], limits: UnpackLimits) -> Result<()> {
    let capped = Capped::new(GzDecoder::new(targz), limits.max_bytes + (4 << 20));
    let mut archive = tar::Archive::new(capped);
    for entry in archive.entries()?.raw(true) {
        let entry = entry?;
        let t = entry.header().entry_type();
        let extension = matches!(
            t,
            tar::EntryType::XHeader
                | tar::EntryType::XGlobalHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        );
        if extension && entry.header().size()? > MAX_EXTENSION {
            return Err(refused(
                &entry
                    .path()
                    .map(std::borrow::Cow::into_owned)
                    .unwrap_or_default(),
                "an extended header over 1 MiB is refused",
            ));
        }
    }
    Ok(())
}

/// Pass 1: every entry checked, contents only counted.
fn plan(targz: &[u8], limits: UnpackLimits) -> Result<Vec<Planned>> {
    let (mut total, mut out) = (0u64, Vec::new());
    let mut archive = tar::Archive::new(Capped::new(
        GzDecoder::new(targz),
        limits.max_bytes + (4 << 20),
    ));
    let mut seen: std::collections::HashMap<PathBuf, bool> = Default::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let Some(rel) = safe_relative(&name) else {
            return Err(refused(
                &name,
                "path is absolute or leaves the target folder (`..`): refused",
            ));
        };
        let dir = match entry.header().entry_type() {
            tar::EntryType::Regular => false,
            tar::EntryType::Directory => true,
            _ => return Err(refused(&name, "links and special files are refused")),
        };
        if seen.insert(rel.clone(), dir).is_some() {
            return Err(refused(&name, "the same path twice: refused"));
        }
        total += io::copy(&mut entry, &mut io::sink())?;
        if out.len() as u64 >= limits.max_entries {
            return Err(refused(&name, "too many entries"));
        }
        if total > limits.max_bytes {
            return Err(refused(&name, "unpacked size exceeds the limit"));
        }
        out.push(Planned { rel, dir });
    }
    for p in &out {
        if let Some(file) = p
            .rel
            .ancestors()
            .skip(1)
            .find(|a| seen.get(*a) == Some(&false))
        {
            return Err(refused(
                &p.rel,
                &format!(
                    "{} is a file and also a folder holding it: refused",
                    file.display()
                ),
            ));
        }
    }
    Ok(out)
}

/// Nothing already in `dest` may be in the way: a file an entry would
/// create, or a symlink on any entry's path (it could lead outside).
fn check_target(dest: &Path, planned: &[Planned]) -> Result<()> {
    for p in planned {
        let mut at = dest.to_path_buf();
        for c in p.rel.components() {
            at.push(c);
            match fs::symlink_metadata(&at) {
                Err(_) => break,
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refused(
                        &p.rel,
                        &format!("{} is a symlink in the target: refused", at.display()),
                    ));
                }
                Ok(m) if at == dest.join(&p.rel) && !(p.dir && m.is_dir()) => {
                    return Err(refused(&p.rel, "exists already in the target: refused"));
                }
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

/// Pass 2 for one entry, beneath `root` only.
fn write_one(
    root: &cap_std::fs::Dir,
    p: &Planned,
    (entry, mode, mtime): (&mut impl Read, u32, Option<u64>),
) -> Result<()> {
    use cap_std::fs::{OpenOptions, Permissions};
    let cannot = |e: io::Error| refused(&p.rel, &format!("cannot write: {e}"));
    if p.dir {
        root.create_dir_all(&p.rel).map_err(cannot)?;
        #[cfg(unix)]
        {
            use cap_std::fs::PermissionsExt as _;
            let perm = Permissions::from_mode(mode | 0o700);
            root.set_permissions(&p.rel, perm).map_err(cannot)?;
        }
        return Ok(());
    }
    if let Some(parent) = p.rel.parent().filter(|d| !d.as_os_str().is_empty()) {
        root.create_dir_all(parent).map_err(cannot)?;
    }
    let mut f = root
        .open_with(&p.rel, OpenOptions::new().write(true).create_new(true))
        .map_err(cannot)?;
    io::copy(entry, &mut f).map_err(cannot)?;
    let f = f.into_std();
    if let Some(m) = mtime {
        let _ = f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(m));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(cannot)?;
    }
    Ok(())
}

/// A reader that fails once more than `left` bytes came through (gzip bombs).
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Capped { inner, left: cap }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "decompressed data exceeds the size limit",
            )
        })?;
        Ok(n)
    }
}
