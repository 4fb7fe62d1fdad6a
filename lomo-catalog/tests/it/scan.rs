//! Scanning: what is recorded, what is re-read, what is recognised.

use std::os::unix::fs::symlink;

use lomo_catalog::{Catalog, EntryKind, FileQuery, NoProgress, ScanOptions};

use crate::util::{count, disk, listing, put, scan, set_old_mtime};

#[test]
fn first_scan_records_exactly_the_tree() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("Photos");
    put(&root, "DCIM/2021/IMG_0001.jpg", &vec![7u8; 300_000]);
    put(&root, "DCIM/2021/IMG_0002.jpg", b"second");
    put(&root, "Familie/Großmutter – 80/Torte.jpg", b"cake");
    put(&root, "家族/春节 2023/年夜饭.jpg", b"dinner");
    put(&root, "emoji/🎂 birthday.jpg", b"emoji");
    put(&root, "noext/empty.bin", b"");
    put(
        &root,
        &format!("long/{}.jpg", "n".repeat(250)),
        b"long name",
    );
    put(&root, "a/b/c/d/e/f/g/h/i/j/deep.jpg", b"deep");
    put(&root, "DCIM/.DS_Store", b"junk");
    put(&root, ".git/config", b"junk");
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    let r = scan(&mut cat, &root);
    assert_eq!(r.new, 8, "{r:?}");
    assert_eq!((r.changed, r.moved, r.deleted, r.unchanged), (0, 0, 0, 0));
    assert!(r.issues.is_empty());
    assert_eq!(listing(&cat), disk(&root));
    let stats = cat.stats().unwrap();
    assert_eq!(stats.files, 8);
    // the empty directory is recorded too
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM dirs WHERE rel = CAST('empty-dir' AS BLOB)"
        ),
        1
    );
}

#[test]
fn rescan_of_unchanged_tree_reads_nothing() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..200 {
        put(
            t.path(),
            &format!("d{}/f{i}.jpg", i % 7),
            format!("file {i}").as_bytes(),
        );
    }
    let dbdir = tempfile::tempdir().unwrap();
    let mut cat = Catalog::open(dbdir.path().join("c.db")).unwrap();
    let first = scan(&mut cat, t.path());
    assert_eq!(first.files_hashed, 200);
    let again = scan(&mut cat, t.path());
    assert_eq!(
        (again.unchanged, again.files_hashed, again.bytes_hashed),
        (200, 0, 0)
    );
    assert_eq!(
        (again.new, again.changed, again.deleted, again.moved),
        (0, 0, 0, 0)
    );
}

#[test]
fn renamed_folder_is_a_move_without_rehash() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    for i in 0..20 {
        put(
            &root,
            &format!("Trip 2022/day {i}.jpg"),
            &vec![i as u8; 10_000 + i],
        );
    }
    put(&root, "other.jpg", b"stays");
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    scan(&mut cat, &root);
    std::fs::rename(root.join("Trip 2022"), root.join("Road trip 2022")).unwrap();
    let r = scan(&mut cat, &root);
    assert_eq!(r.moved, 20, "{r:?}");
    assert_eq!((r.new, r.deleted, r.changed, r.unchanged), (0, 0, 0, 1));
    assert_eq!(r.bytes_hashed, 0, "a move must not re-read the files");
    assert_eq!(listing(&cat), disk(&root));
}

#[test]
fn copy_then_delete_counts_as_move_by_content() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "a/x.jpg", b"the same bytes");
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    scan(&mut cat, &root);
    put(&root, "b/x.jpg", b"the same bytes"); // a new inode: must be hashed
    std::fs::remove_file(root.join("a/x.jpg")).unwrap();
    let r = scan(&mut cat, &root);
    assert_eq!(
        (r.moved, r.new, r.deleted, r.files_hashed),
        (1, 0, 0, 1),
        "{r:?}"
    );
}

#[test]
fn symlinks_are_recorded_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    let outside = t.path().join("outside");
    put(&outside, "secret.jpg", b"not part of the root");
    put(&root, "real.jpg", b"real");
    symlink(&outside, root.join("link-to-dir")).unwrap();
    symlink("real.jpg", root.join("link.jpg")).unwrap();
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    let r = scan(&mut cat, &root);
    assert_eq!(r.new, 3, "{r:?}");
    let mut links = Vec::new();
    let q = FileQuery {
        symlinks: true,
        ..FileQuery::default()
    };
    cat.for_each_file(&q, |f| {
        if f.kind == EntryKind::Symlink {
            links.push((
                f.path.file_name().unwrap().to_owned(),
                f.link_target.unwrap(),
            ));
        }
        Ok::<_, lomo_catalog::Error>(())
    })
    .unwrap();
    links.sort();
    assert_eq!(links.len(), 2);
    assert_eq!(links[1].1, std::path::PathBuf::from("real.jpg"));
    // nothing from behind the directory link was scanned
    assert_eq!(listing(&cat).len(), 1);
    // retargeting a link is a change
    std::fs::remove_file(root.join("link.jpg")).unwrap();
    symlink("elsewhere.jpg", root.join("link.jpg")).unwrap();
    assert_eq!(scan(&mut cat, &root).changed, 1);
}

#[test]
fn ignore_patterns_are_globs_on_names() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "keep.jpg", b"1");
    put(&root, "skip.tmp", b"2");
    put(&root, "cache/x.jpg", b"3");
    put(&root, "sub/cache/y.jpg", b"4");
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    let opts = ScanOptions {
        ignore_files: vec!["*.tmp".into()],
        ignore_dirs: vec!["cache".into()],
        threads: 3,
    };
    let r = cat.scan(&root, &opts, &NoProgress).unwrap();
    assert_eq!(r.new, 1, "{r:?}");
    let bad = ScanOptions {
        ignore_files: vec!["a[".into()],
        ..ScanOptions::default()
    };
    let err = cat.scan(&root, &bad, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("a["), "{err}");
}

#[test]
fn catalog_inside_the_root_is_not_scanned() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "photo.jpg", b"p");
    let mut cat = Catalog::open(t.path().join("lomob.db")).unwrap();
    let r = scan(&mut cat, t.path());
    assert_eq!(r.new, 1, "{r:?}");
    assert!(r.issues.is_empty(), "{:?}", r.issues);
}

#[test]
fn touched_file_is_rehashed_but_unchanged() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    let p = put(&root, "a.jpg", b"same");
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    scan(&mut cat, &root);
    set_old_mtime(&p, 100);
    let r = scan(&mut cat, &root);
    assert_eq!((r.unchanged, r.changed, r.files_hashed), (1, 0, 1), "{r:?}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM files"),
        1,
        "no new version for a touch"
    );
}

#[test]
fn scan_under_rescans_only_the_named_folders() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    for d in ["2021/a", "2021/b", "2022/c"] {
        for i in 0..5 {
            put(
                &root,
                &format!("{d}/{i}.jpg"),
                format!("{d} {i}").as_bytes(),
            );
        }
    }
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    scan(&mut cat, &root);
    let opts = ScanOptions::default();

    // Changes in three places; only two are rescanned.
    put(&root, "2021/a/new.jpg", b"new in a");
    std::fs::rename(root.join("2021/a/0.jpg"), root.join("2021/b/moved.jpg")).unwrap();
    put(&root, "2022/c/unseen.jpg", b"outside the rescan");
    let r = cat
        .scan_under(
            &root,
            &[root.join("2021/a"), root.join("2021/b")],
            &opts,
            &NoProgress,
        )
        .unwrap();
    assert_eq!((r.new, r.moved, r.deleted), (1, 1, 0), "{r:?}");
    assert_eq!(r.dirs, 2, "only the two folders were listed: {r:?}");
    let cat_now = listing(&cat);
    assert!(!cat_now.keys().any(|p| p.ends_with("unseen.jpg")));
    assert_eq!(
        cat_now.len(),
        16,
        "nothing outside the folders was marked deleted"
    );

    // A folder that vanished is seen from its parent; a new nested folder
    // from its nearest catalogued ancestor.
    std::fs::remove_dir_all(root.join("2021/b")).unwrap();
    put(&root, "2021/new/deeper/x.jpg", b"x");
    let r = cat
        .scan_under(
            &root,
            &[root.join("2021/b"), root.join("2021/new/deeper")],
            &opts,
            &NoProgress,
        )
        .unwrap();
    assert_eq!((r.new, r.deleted), (1, 6), "{r:?}");
    let cat_now = listing(&cat);
    assert!(cat_now.keys().any(|p| p.ends_with("2021/new/deeper/x.jpg")));
    assert!(!cat_now.keys().any(|p| p.ends_with("unseen.jpg")));

    // The whole root again catches what the partial scans did not look at.
    scan(&mut cat, &root);
    assert_eq!(listing(&cat), disk(&root));

    let err = cat
        .scan_under(&root, &[t.path().to_path_buf()], &opts, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(err, lomo_catalog::Error::OutsideRoot { .. }),
        "{err}"
    );
}
