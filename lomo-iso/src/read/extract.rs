//! Extracting entries to a folder without ever writing outside it.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use super::{Reader, Record};
use crate::error::{Error, Result};

#[cfg(unix)]
fn os(p: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(p))
}

#[cfg(not(unix))]
fn os(p: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(p).into_owned())
}

/// Whether a symlink at `link` (relative path in the image) pointing to
/// `target` stays inside the extraction folder.
fn link_stays_inside(link: &[u8], target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return false;
    }
    let mut depth: i64 = link.split(|&b| b == b'/').count() as i64 - 1;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

fn set_times_and_mode(path: &Path, rec: &Record) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(rec.mtime.max(0) as u64);
    if let Ok(f) = std::fs::File::options()
        .write(true)
        .open(path)
        .or_else(|_| std::fs::File::open(path))
    {
        let _ = f.set_modified(t);
    }
    #[cfg(unix)]
    if let Some(mode) = rec.mode {
        use std::os::unix::fs::PermissionsExt;
        let extra = if rec.is_dir { 0o700 } else { 0 };
        let _ = std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode((mode & 0o777) | extra),
        );
    }
}

impl<R: Read + Seek> Reader<R> {
    /// Extracts everything (or the entries under `only`, image paths) into
    /// `dest`, created if missing. Never overwrites, never follows or creates
    /// a link that leaves `dest`. Returns the number of entries written.
    pub fn extract(&mut self, dest: &Path, only: &[Vec<u8>]) -> Result<u64> {
        std::fs::create_dir_all(dest).map_err(|source| Error::Io {
            context: format!("creating {}", dest.display()),
            source,
        })?;
        let mut todo: Vec<(Vec<u8>, Record)> = Vec::new();
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
        let mut written = 0;
        let mut dirs = Vec::new();
        for (rel, rec) in &todo {
            let target = dest.join(os(rel));
            let shown = String::from_utf8_lossy(rel).into_owned();
            let io = |source| Error::Io {
                context: format!("extracting {shown:?} to {}", target.display()),
                source,
            };
            if let Ok(m) = std::fs::symlink_metadata(&target) {
                if rec.is_dir && m.is_dir() {
                    dirs.push((target, rec));
                    continue;
                }
                return Err(Error::Unsafe {
                    entry: shown,
                    reason: format!("{} exists already", target.display()),
                });
            }
            if rec.is_dir {
                std::fs::create_dir(&target).map_err(io)?;
                dirs.push((target, rec));
            } else if let Some(link) = &rec.symlink {
                if !link_stays_inside(rel, link) {
                    return Err(Error::Unsafe {
                        entry: shown,
                        reason: format!(
                            "symlink to {:?} leaves the target folder",
                            String::from_utf8_lossy(link)
                        ),
                    });
                }
                #[cfg(unix)]
                std::os::unix::fs::symlink(os(link), &target).map_err(io)?;
            } else {
                let mut out = std::fs::File::options()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(io)?;
                let n = std::io::copy(&mut self.open_file(rec), &mut out).map_err(io)?;
                if n != rec.size {
                    return Err(Error::BadImage(format!(
                        "{shown:?}: read {n} of {} bytes",
                        rec.size
                    )));
                }
                drop(out);
                set_times_and_mode(&target, rec);
            }
            written += 1;
        }
        // directories last, deepest first, so writing into them does not touch their mtimes
        for (path, rec) in dirs.iter().rev() {
            set_times_and_mode(path, rec);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::link_stays_inside;

    #[test]
    fn links() {
        assert!(link_stays_inside(b"a/link", b"b"));
        assert!(link_stays_inside(b"a/link", b"../b"));
        assert!(!link_stays_inside(b"a/link", b"../../b"));
        assert!(!link_stays_inside(b"link", b"/etc/passwd"));
        assert!(link_stays_inside(b"a/b/link", b"../../c/./d"));
    }
}
