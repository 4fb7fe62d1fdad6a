//! Hashing a file while proving it did not change under us.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::Meta;

/// Read buffer per worker thread: big enough for BLAKE3's SIMD paths to shine.
const BUF_SIZE: usize = 256 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; BUF_SIZE]);
}

/// Why a file could not be hashed.
#[derive(Debug)]
pub(crate) enum HashError {
    /// Opening or reading failed.
    Io(io::Error),
    /// Size, mtime or inode differ before/after, or the bytes read differ from the size.
    Changed(String),
}

/// Hashes `path`, which `expected` (from `lstat`) describes, with BLAKE3.
///
/// The open file is `fstat`ed before and after reading and must match `expected`
/// both times, and exactly `expected.size` bytes must be read: otherwise the file
/// changed while it was hashed and [`HashError::Changed`] says how. `on_bytes` is
/// called with each block's length (for progress).
pub(crate) fn hash_stable(
    path: &Path,
    expected: &Meta,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<[u8; 32], HashError> {
    let mut file = File::open(path).map_err(HashError::Io)?;
    let before = Meta::from_metadata(&file.metadata().map_err(HashError::Io)?);
    if let Some(why) = expected.differs(&before) {
        return Err(HashError::Changed(format!(
            "changed before it was opened ({why})"
        )));
    }
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    BUF.with_borrow_mut(|buf| -> Result<(), HashError> {
        loop {
            let n = match file.read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HashError::Io(e)),
            };
            hasher.update(&buf[..n]);
            total += n as u64;
            on_bytes(n as u64);
            if total > expected.size {
                return Err(HashError::Changed("grew while it was read".into()));
            }
        }
    })?;
    if total != expected.size {
        return Err(HashError::Changed(format!(
            "read {total} bytes, expected {}",
            expected.size
        )));
    }
    let after = Meta::from_metadata(&file.metadata().map_err(HashError::Io)?);
    if let Some(why) = expected.differs(&after) {
        return Err(HashError::Changed(format!(
            "changed while it was read ({why})"
        )));
    }
    Ok(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn meta(path: &Path) -> Meta {
        Meta::from_metadata(&std::fs::symlink_metadata(path).unwrap())
    }

    #[test]
    fn hashes_like_blake3() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let mut seen = 0;
        let h = hash_stable(&p, &meta(&p), &mut |n| seen += n).unwrap();
        assert_eq!(h, *blake3::hash(&data).as_bytes());
        assert_eq!(seen, data.len() as u64);
    }

    #[test]
    fn detects_change_after_stat() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let m = meta(&p);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b" world")
            .unwrap();
        assert!(matches!(
            hash_stable(&p, &m, &mut |_| {}),
            Err(HashError::Changed(_))
        ));
    }

    #[test]
    fn detects_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let m = meta(&p);
        let q = dir.path().join("g");
        std::fs::write(&q, b"hallo").unwrap();
        std::fs::rename(&q, &p).unwrap();
        assert!(matches!(
            hash_stable(&p, &m, &mut |_| {}),
            Err(HashError::Changed(_))
        ));
    }
}
