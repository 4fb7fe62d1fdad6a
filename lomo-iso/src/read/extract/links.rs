//! Symlinks from an image, created only when they resolve inside the target.
//!
//! A textual check is not enough: `d1/up -> ..` is harmless alone, but
//! `esc -> d1/up/..` then leads out, and so does a chain of such links. Each
//! target is therefore resolved the way the kernel would, component by
//! component against what is in the target folder at that moment (links
//! from earlier in the same run, and links that were there before),
//! following every symlink met. A `..` after a component that does not
//! exist yet is refused: a link created there later could turn it upwards.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::Dir;

/// Most symlinks followed resolving one target (as Linux's ELOOP limit).
const MAX_HOPS: usize = 40;

/// Creates the link `rel` -> `target` beneath `root` if it resolves inside;
/// otherwise says why not.
pub(super) fn create(root: &Dir, rel: &[u8], target: &[u8]) -> Result<(), String> {
    symlink_beneath(root, &super::os(rel), &super::os(target)).map_err(|e| match e {
        crate::Error::Unsafe { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// Creates the symlink `link` (a path beneath `root`, whose folder exists)
/// pointing to `target`, only if `target`, resolved as the kernel would
/// against what is beneath `root` now (following the links already there),
/// stays beneath `root`. A `..` after a component that does not exist yet is
/// refused too: a link made there later could turn it upwards. This is the
/// check [`Reader::extract`](crate::Reader::extract) makes; lomob's restore
/// uses it for the links it brings back.
pub fn symlink_beneath(root: &Dir, link: &Path, target: &Path) -> crate::Result<()> {
    let refused = |reason: String| crate::Error::Unsafe {
        entry: link.display().to_string(),
        reason,
    };
    stays_inside(root, link.parent().unwrap_or(Path::new("")), target).map_err(refused)?;
    #[cfg(unix)]
    return root
        .symlink_contents(target, link)
        .map_err(|source| crate::Error::Io {
            context: format!("creating the symlink {}", link.display()),
            source,
        });
    #[cfg(not(unix))]
    Err(refused("symlinks are not restored on this system".into()))
}

enum Part {
    Up,
    Name(OsString),
}

fn parts(target: &Path) -> Result<Vec<Part>, String> {
    if target.as_os_str().is_empty() {
        return Err("its target is empty".into());
    }
    target
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::ParentDir => Ok(Part::Up),
            Component::Normal(n) => Ok(Part::Name(n.to_owned())),
            _ => Err("it points to an absolute path".to_string()),
        })
        .collect()
}

/// Resolves `target` as seen from the folder `parent` (a path of real
/// folders beneath `root`) and fails if it would leave `root`.
fn stays_inside(root: &Dir, parent: &Path, target: &Path) -> Result<(), String> {
    let mut at: Vec<OsString> = parent.iter().map(ToOwned::to_owned).collect();
    let mut todo: VecDeque<Part> = parts(target)?.into();
    let (mut missing, mut hops) = (false, 0);
    while let Some(part) = todo.pop_front() {
        let name = match part {
            Part::Up if missing => {
                return Err("it climbs out of a folder that does not exist".into());
            }
            Part::Up => {
                at.pop().ok_or("it leads outside the target folder")?;
                continue;
            }
            Part::Name(n) => n,
        };
        at.push(name);
        if missing {
            continue;
        }
        let here: PathBuf = at.iter().collect();
        match root.symlink_metadata(&here) {
            Err(_) => missing = true,
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err("too many levels of symlinks".into());
                }
                let next = root
                    .read_link_contents(&here)
                    .map_err(|e| format!("cannot read the link {}: {e}", here.display()))?;
                at.pop();
                for p in parts(&next)?.into_iter().rev() {
                    todo.push_front(p);
                }
            }
            Ok(m) if !m.is_dir() => missing = true,
            Ok(_) => {}
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open_ambient_dir(t.path(), cap_std::ambient_authority()).unwrap();
        (t, d)
    }

    #[test]
    fn textual_cases() {
        let (_t, d) = dir();
        d.create_dir_all("a/b").unwrap();
        assert!(stays_inside(&d, Path::new("a"), Path::new("b")).is_ok());
        assert!(stays_inside(&d, Path::new("a"), Path::new("../x")).is_ok());
        assert!(stays_inside(&d, Path::new("a"), Path::new("../../x")).is_err());
        assert!(stays_inside(&d, Path::new(""), Path::new("/etc/passwd")).is_err());
        assert!(stays_inside(&d, Path::new("a/b"), Path::new("../.././a/./b")).is_ok());
    }

    #[test]
    fn links_already_there_are_followed() {
        let (_t, d) = dir();
        d.create_dir_all("d1").unwrap();
        d.symlink_contents("..", "d1/up").unwrap();
        // esc -> d1/up/.. is textually inside, really the parent of the target
        let e = stays_inside(&d, Path::new(""), Path::new("d1/up/..")).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(stays_inside(&d, Path::new(""), Path::new("d1/up")).is_ok());
        d.symlink_contents("loop", "loop").unwrap();
        let e = stays_inside(&d, Path::new(""), Path::new("loop/x")).unwrap_err();
        assert!(e.contains("levels"), "{e}");
    }

    #[test]
    fn up_through_a_missing_folder_is_refused() {
        let (_t, d) = dir();
        // y does not exist yet: a later `y -> .` would make this the parent
        let e = stays_inside(&d, Path::new(""), Path::new("y/..")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        assert!(stays_inside(&d, Path::new(""), Path::new("y/z")).is_ok());
    }
}
