//! Lossless conversion between OS paths and the byte strings stored in the catalog.
//!
//! On Unix a file name is any byte string without `/` and NUL; the catalog keeps
//! those bytes exactly, so names that are not UTF-8 survive a scan and a restore.
//! Relative paths inside a root are stored `/`-separated, the root itself as `""`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The bytes of an OS string, exactly as the OS gave them.
#[cfg(unix)]
pub(crate) fn os_to_bytes(s: &OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

/// The bytes of an OS string (lossy outside Unix, where names are UTF-16).
#[cfg(not(unix))]
pub(crate) fn os_to_bytes(s: &OsStr) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}

/// The OS string for stored bytes.
#[cfg(unix)]
pub(crate) fn bytes_to_os(b: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(b).to_os_string()
}

/// The OS string for stored bytes.
#[cfg(not(unix))]
pub(crate) fn bytes_to_os(b: &[u8]) -> OsString {
    OsString::from(String::from_utf8_lossy(b).into_owned())
}

/// `parent/name` for stored relative paths (`""` is the root).
pub(crate) fn join_rel(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        return name.to_vec();
    }
    let mut v = Vec::with_capacity(parent.len() + 1 + name.len());
    v.extend_from_slice(parent);
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

/// Whether stored relative path `rel` is `dir` or lies below it.
pub(crate) fn rel_is_within(rel: &[u8], dir: &[u8]) -> bool {
    dir.is_empty()
        || rel == dir
        || (rel.len() > dir.len() && rel.starts_with(dir) && rel[dir.len()] == b'/')
}

/// The absolute path of a stored relative path under `root`.
pub(crate) fn abs_path(root: &Path, rel_dir: &[u8], name: &[u8]) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in rel_dir.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
        p.push(bytes_to_os(part));
    }
    if !name.is_empty() {
        p.push(bytes_to_os(name));
    }
    p
}

/// The stored relative path of `dir` inside the canonical `root`, also for
/// a folder that no longer exists (its deepest existing ancestor is
/// resolved, the rest appended); `None` when it is not inside `root`.
pub(crate) fn rel_under(root: &Path, dir: &Path) -> Option<Vec<u8>> {
    let abs = std::path::absolute(dir).ok()?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    let canon = loop {
        if let Ok(c) = std::fs::canonicalize(existing) {
            break c;
        }
        rest.push(existing.file_name()?.to_os_string());
        existing = existing.parent()?;
    };
    let mut full = canon;
    for name in rest.iter().rev() {
        full.push(name);
    }
    let inside = full.strip_prefix(root).ok()?;
    let mut rel = Vec::new();
    for c in inside.components() {
        match c {
            std::path::Component::Normal(name) => rel = join_rel(&rel, &os_to_bytes(name)),
            _ => return None,
        }
    }
    Some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_within() {
        assert_eq!(join_rel(b"", b"a"), b"a");
        assert_eq!(join_rel(b"a/b", b"c"), b"a/b/c");
        assert!(rel_is_within(b"a/b", b"a"));
        assert!(rel_is_within(b"a", b"a"));
        assert!(rel_is_within(b"x", b""));
        assert!(!rel_is_within(b"ab", b"a"));
        assert!(!rel_is_within(b"a", b"a/b"));
    }

    #[test]
    fn rel_under_resolves_existing_and_vanished_folders() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        assert_eq!(rel_under(&root, &root).unwrap(), b"");
        assert_eq!(rel_under(&root, &root.join("a/b")).unwrap(), b"a/b");
        assert_eq!(
            rel_under(&root, &root.join("a/gone/x")).unwrap(),
            b"a/gone/x"
        );
        assert_eq!(rel_under(&root, &t.path().join("a/./b")).unwrap(), b"a/b");
        assert!(rel_under(&root, Path::new("/")).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_round_trip() {
        let raw = b"caf\xe9.jpg".to_vec();
        let os = bytes_to_os(&raw);
        assert_eq!(os_to_bytes(&os), raw);
        let p = abs_path(Path::new("/r"), b"d\xff/e", &raw);
        assert_eq!(os_to_bytes(p.as_os_str()), b"/r/d\xff/e/caf\xe9.jpg");
    }
}
