//! Files that appear whole or not at all.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file written beside its final path and renamed into place on
/// [`AtomicFile::commit`]; dropped uncommitted, it is removed. So a failed or
/// interrupted command never leaves a partial output file.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file; refuses to replace an existing `dest` unless `overwrite`.
    pub(crate) fn create(dest: &Path, overwrite: bool) -> Result<AtomicFile> {
        if !overwrite && dest.exists() {
            anyhow::bail!(
                "{} exists already: choose another name or remove it",
                dest.display()
            );
        }
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.lomob-tmp-{}", std::process::id()));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file,
            committed: false,
        })
    }

    /// The open temporary file.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes to disk and moves the file into place.
    pub(crate) fn commit(mut self) -> Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("cannot write {}", self.tmp.display()))?;
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot move {} into place", self.dest.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
