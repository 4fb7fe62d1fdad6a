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

/// Unpacks a tar.gz into `dest` (created if missing). Every entry is checked
/// first — safe relative path, file or folder only, within `limits` — and
/// nothing is written unless all pass. Existing files are never overwritten.
/// Returns the paths written.
pub fn unpack(targz: &[u8], dest: &Path, limits: UnpackLimits) -> Result<Vec<PathBuf>> {
    // Pass 1: check every header, reading contents only to count them.
    let mut count = 0u64;
    let mut total = 0u64;
    let mut archive = tar::Archive::new(Capped::new(
        GzDecoder::new(targz),
        limits.max_bytes + (1 << 20),
    ));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let shown = name.display().to_string();
        let refuse = |reason: &str| Error::Archive {
            entry: shown.clone(),
            reason: reason.into(),
        };
        if safe_relative(&name).is_none() {
            return Err(refuse(
                "path is absolute or leaves the target folder (`..`): refused",
            ));
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Directory => {}
            _ => return Err(refuse("links and special files are refused")),
        }
        count += 1;
        total += io::copy(&mut entry, &mut io::sink())?;
        if count > limits.max_entries {
            return Err(refuse("too many entries"));
        }
        if total > limits.max_bytes {
            return Err(refuse("unpacked size exceeds the limit"));
        }
    }
    // Pass 2: write.
    fs::create_dir_all(dest)?;
    let mut written = Vec::new();
    let mut archive = tar::Archive::new(GzDecoder::new(targz));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = safe_relative(&entry.path()?).ok_or_else(|| Error::Archive {
            entry: String::new(),
            reason: "changed between passes".into(),
        })?;
        let target = dest.join(&rel);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        if entry.header().entry_type() == tar::EntryType::Directory {
            fs::create_dir_all(&target)?;
        } else {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(|e| Error::Archive {
                    entry: rel.display().to_string(),
                    reason: format!("cannot create {}: {e}", target.display()),
                })?;
            io::copy(&mut entry, &mut f)?;
            if let Ok(m) = entry.header().mtime() {
                let _ = f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(m));
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(
                &target,
                fs::Permissions::from_mode(
                    mode | if entry.header().entry_type() == tar::EntryType::Directory {
                        0o700
                    } else {
                        0
                    },
                ),
            )?;
        }
        written.push(target);
    }
    Ok(written)
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
