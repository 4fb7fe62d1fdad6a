//! Hostile trees: odd names, special files, unreadable entries, files that change.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lomo_catalog::{Catalog, IssueKind};

use crate::util::{disk, listing, put, scan};

fn is_root() -> bool {
    // SAFETY-free check: root can read anything, so permission tests need another user.
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn non_utf8_names_are_stored_losslessly() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    let dir = root.join(std::ffi::OsStr::from_bytes(b"dir-\xff"));
    std::fs::create_dir_all(&dir).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
    std::fs::write(dir.join(name), b"latin-1 name").unwrap();
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    let r = scan(&mut cat, &root);
    assert_eq!(r.new, 1);
    let l = listing(&cat);
    let (path, _) = l.iter().next().unwrap();
    assert!(
        path.as_os_str()
            .as_bytes()
            .ends_with(b"/dir-\xff/caf\xe9.jpg")
    );
    assert_eq!(std::fs::read(path).unwrap(), b"latin-1 name");
    // and a rescan sees it unchanged (the stored bytes match the OS's)
    assert_eq!(scan(&mut cat, &root).unchanged, 1);
}

#[test]
fn fifos_and_sockets_are_skipped() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "a.jpg", b"a");
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    let r = scan(&mut cat, &root);
    assert_eq!((r.new, r.skipped), (1, 2), "{r:?}");
}

#[test]
fn unreadable_entries_are_reported_and_kept() {
    if is_root() {
        // root reads everything; lomo-cli's tests cover this by running lomob as `nobody`.
        eprintln!("running as root: permission test covered by lomo-cli tests/it/hostile.rs");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "ok.jpg", b"ok");
    let locked_file = put(&root, "locked.jpg", b"locked");
    put(&root, "locked-dir/inside.jpg", b"inside");
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    scan(&mut cat, &root);
    std::fs::set_permissions(&locked_file, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(
        root.join("locked-dir"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    put(&root, "new.jpg", b"new");
    std::fs::write(&locked_file, b"x").ok();
    let r = scan(&mut cat, &root);
    std::fs::set_permissions(
        root.join("locked-dir"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_eq!(r.new, 1, "{r:?}");
    assert!(r.issues.iter().any(|i| i.kind == IssueKind::ReadDir));
    assert_eq!(r.deleted, 0, "an unreadable folder's files are not deleted");
    assert_eq!(listing(&cat).len(), 4);
}

/// A file appended to while the scan hashes it: either reported as changing, or
/// recorded with a hash that is exactly the hash of its first `size` bytes.
#[test]
fn file_growing_during_scan_is_never_recorded_with_a_wrong_hash() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    for i in 0..50 {
        put(&root, &format!("filler/{i}.jpg"), &vec![i as u8; 200_000]);
    }
    let growing = root.join("growing.mp4");
    std::fs::write(&growing, vec![1u8; 4 << 20]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let growing = growing.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .unwrap();
            let chunk = vec![2u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                f.write_all(&chunk).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    let r = scan(&mut cat, &root);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let data = std::fs::read(&growing).unwrap();
    let l = listing(&cat);
    let canon = std::fs::canonicalize(&growing).unwrap();
    eprintln!(
        "growing file: recorded={:?} issues={:?}",
        l.get(&canon).map(|x| x.0),
        r.issues
    );
    match l.get(&canon) {
        Some((size, hash)) => {
            let prefix = &data[..*size as usize];
            assert_eq!(*hash, blake3::hash(prefix).to_hex().to_string());
        }
        None => assert!(
            r.issues
                .iter()
                .any(|i| i.kind == IssueKind::Changed && i.path == canon),
            "{:?}",
            r.issues
        ),
    }
    assert_eq!(l.len(), 50 + usize::from(l.contains_key(&canon)));
    // once it stops changing, the next scan records it exactly
    crate::util::set_old_mtime(&growing, 7);
    scan(&mut cat, &root);
    assert_eq!(listing(&cat), disk(&root));
}
