//! The one way restored files are written: through a directory handle on
//! the restore folder ([`cap_std::fs::Dir`]) that resolves every name
//! beneath it and refuses to leave it — no `..`, no absolute name, no
//! symlink leading out, whether it was there before or made by this run.
//! Names come from catalogs, snapshots and foreign databases, all
//! untrusted: each is checked ([`Target::name`]) and a refused one is an
//! [`Error::Refused`] naming it. Files are written to a random, exclusively
//! created temp file beside their place and moved there only when whole
//! and checked, never over anything ([`NewFile::commit`]). Symlinks are
//! created only when they resolve inside ([`Target::symlink`]).

use std::ffi::OsString;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions};

use crate::error::{Error, IoContext as _, Result};

/// A restore folder, opened.
#[derive(Debug)]
pub(crate) struct Target {
    root: Dir,
    path: PathBuf,
}

impl Target {
    /// Opens `path` (created if missing: the user named it).
    pub(crate) fn open(path: &Path) -> Result<Target> {
        std::fs::create_dir_all(path).at("create", path)?;
        let root = Dir::open_ambient_dir(path, cap_std::ambient_authority()).at("open", path)?;
        Ok(Target {
            root,
            path: path.to_path_buf(),
        })
    }

    /// The folder as the user named it.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `name` if it is a plain relative path (no `..`, `.`, root or
    /// prefix; not empty), else why it is refused.
    pub(crate) fn name(name: &Path) -> Result<&Path> {
        let refuse = |reason: &str| Error::Refused {
            name: name.to_path_buf(),
            reason: reason.into(),
        };
        if name.as_os_str().is_empty() {
            return Err(refuse("an empty name"));
        }
        for c in name.components() {
            match c {
                Component::Normal(_) => {}
                Component::ParentDir => return Err(refuse("`..` would leave the restore folder")),
                Component::CurDir => return Err(refuse("a `.` component (not a normalised name)")),
                _ => return Err(refuse("an absolute name would leave the restore folder")),
            }
        }
        Ok(name)
    }

    /// Where `name` lands, for messages.
    pub(crate) fn shown(&self, name: &Path) -> PathBuf {
        self.path.join(name)
    }

    /// Whether `name` exists (a symlink counts, not followed).
    pub(crate) fn exists(&self, name: &Path) -> Result<bool> {
        Ok(self.root.symlink_metadata(Self::name(name)?).is_ok())
    }

    /// Opens the existing file `name` for reading (a symlink is followed
    /// only while it stays inside).
    pub(crate) fn open_file(&self, name: &Path) -> Result<File> {
        let shown = self.shown(name);
        Ok(self
            .root
            .open(Self::name(name)?)
            .at("read", &shown)?
            .into_std())
    }

    /// A new file to become `name`, its folders created beneath the target.
    pub(crate) fn create(&self, name: &Path) -> Result<NewFile> {
        let name = Self::name(name)?;
        let shown = self.shown(name);
        let file_name = name
            .file_name()
            .ok_or_else(|| Error::failed(format!("{}: no file name", shown.display())))?
            .to_owned();
        let dir = match name.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => {
                self.root
                    .create_dir_all(parent)
                    .at("create", &self.shown(parent))?;
                self.root.open_dir(parent).at("open", &self.shown(parent))?
            }
            None => self.root.try_clone().at("open", &self.path)?,
        };
        let (tmp, file) = exclusive_temp(&dir, &shown)?;
        Ok(NewFile {
            dir,
            tmp,
            file,
            name: file_name,
            shown,
            committed: false,
        })
    }

    /// An unnamed scratch file in the target (for downloads in transit).
    pub(crate) fn scratch(&self) -> Result<File> {
        tempfile::tempfile_in(&self.path).at("write in", &self.path)
    }

    /// The symlink `name` -> `target`, created only if `target` resolves
    /// inside the restore folder; its folders are created first.
    pub(crate) fn symlink(&self, name: &Path, target: &Path) -> Result<()> {
        let name = Self::name(name)?;
        if let Some(parent) = name.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.root
                .create_dir_all(parent)
                .at("create", &self.shown(parent))?;
        }
        lomo_iso::symlink_beneath(&self.root, name, target).map_err(|e| match e {
            lomo_iso::Error::Unsafe { reason, .. } => Error::Refused {
                name: name.to_path_buf(),
                reason: format!("a symlink to {}: {reason}", target.display()),
            },
            other => Error::from(other),
        })
    }
}

/// A random name, created with `O_EXCL` in `dir`: nothing planted there is
/// followed or truncated.
fn exclusive_temp(dir: &Dir, shown: &Path) -> Result<(OsString, File)> {
    let mut last = None;
    for _ in 0..16 {
        let tmp = OsString::from(format!(".lomob-tmp-{:016x}", rand::random::<u64>()));
        match dir.open_with(
            &tmp,
            OpenOptions::new().read(true).write(true).create_new(true),
        ) {
            Ok(f) => return Ok((tmp, f.into_std())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e).at("write beside", shown),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temp name")))
        .at("write beside", shown)
}

/// A file being restored: a temp file beside its place, removed unless
/// committed.
#[derive(Debug)]
pub(crate) struct NewFile {
    dir: Dir,
    tmp: OsString,
    file: File,
    name: OsString,
    shown: PathBuf,
    committed: bool,
}

impl NewFile {
    /// The open temp file.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Where it goes, for messages.
    pub(crate) fn shown(&self) -> &Path {
        &self.shown
    }

    /// Mode (permission bits only), mtime, sync, then into place — never
    /// over something already there.
    pub(crate) fn commit(
        mut self,
        mode: Option<u32>,
        mtime: Option<std::time::SystemTime>,
    ) -> Result<()> {
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt as _;
            self.file
                .set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
                .at("set the mode of", &self.shown)?;
        }
        if let Some(t) = mtime {
            self.file
                .set_modified(t)
                .at("set the mtime of", &self.shown)?;
        }
        self.file.sync_all().at("write", &self.shown)?;
        rename_noclobber(&self.dir, &self.tmp, &self.name).at("move into place", &self.shown)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.dir.remove_file(&self.tmp);
        }
    }
}

/// `from` renamed to `to` in `dir`, failing if `to` exists.
fn rename_noclobber(dir: &Dir, from: &OsString, to: &OsString) -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{RenameFlags, renameat_with};
        match renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    // elsewhere (or a file system without RENAME_NOREPLACE): a hard link
    // cannot replace either; FAT has none, so check, then rename
    match dir.hard_link(from, dir, to) {
        Ok(()) => dir.remove_file(from),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if dir.symlink_metadata(to).is_ok() => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists already",
        )),
        Err(_) => dir.rename(from, dir, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain_relative_paths() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(Target::name(Path::new(bad)).is_err(), "{bad:?}");
        }
        for good in ["a", "Pictures/2019/IMG 1.jpg", "a/b/"] {
            assert!(Target::name(Path::new(good)).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn files_land_whole_and_never_over_anything() -> Result<()> {
        let t = tempfile::tempdir().at("create", Path::new("tmp"))?;
        let target = Target::open(t.path())?;
        let mut f = target.create(Path::new("a/b.jpg"))?;
        std::io::Write::write_all(f.file(), b"photo").at("write", Path::new("b"))?;
        f.commit(Some(0o4755), None)?;
        let meta = std::fs::metadata(t.path().join("a/b.jpg")).at("stat", Path::new("b"))?;
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
            0o755
        );
        let mut again = target.create(Path::new("a/b.jpg"))?;
        std::io::Write::write_all(again.file(), b"other").at("write", Path::new("b"))?;
        assert!(again.commit(None, None).is_err());
        let bytes = std::fs::read(t.path().join("a/b.jpg")).at("read", Path::new("b"))?;
        assert_eq!(bytes, b"photo");
        let left: Vec<_> = std::fs::read_dir(t.path().join("a"))
            .at("list", Path::new("a"))?
            .collect();
        assert_eq!(left.len(), 1, "no temp file left behind");
        Ok(())
    }
}
