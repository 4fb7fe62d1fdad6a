//! Files that appear whole or not at all.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext as _, Result};

/// A file written beside its final path and moved into place on
/// [`AtomicFile::commit`]; dropped uncommitted, it is removed. So a failed or
/// interrupted command never leaves a partial output file. The temporary
/// file has a random name and is created exclusively (`O_EXCL`): a planted
/// symlink or file of that name is never followed or truncated.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
    overwrite: bool,
}

impl AtomicFile {
    /// Creates the temporary file; refuses to replace an existing `dest` unless `overwrite`.
    pub fn create(dest: &Path, overwrite: bool) -> Result<AtomicFile> {
        if !overwrite && dest.symlink_metadata().is_ok() {
            return Err(Error::invalid(format!(
                "{} exists already: choose another name or remove it",
                dest.display()
            )));
        }
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".lomob-tmp-")
            .tempfile_in(dir)
            .at("create a file in", dir)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            overwrite,
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Flushes to disk and moves the file into place.
    pub fn commit(self) -> Result<()> {
        self.tmp.as_file().sync_all().at("write", &self.dest)?;
        let persisted = if self.overwrite {
            self.tmp.persist(&self.dest).map(drop)
        } else {
            self.tmp.persist_noclobber(&self.dest).map(drop)
        };
        persisted
            .map_err(|e| e.error)
            .at("move into place", &self.dest)
    }
}
