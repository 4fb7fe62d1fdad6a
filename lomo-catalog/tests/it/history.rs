//! Changes and deletions keep history; roots are guarded.

use lomo_catalog::{Catalog, Error};

use crate::util::{count, listing, put, scan, set_old_mtime};

#[test]
fn changed_and_deleted_files_keep_their_old_contents() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    let a = put(&root, "a.jpg", b"version 1");
    put(&root, "b.jpg", b"to be deleted");
    put(&root, "gone/c.jpg", b"whole folder deleted");
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    scan(&mut cat, &root);
    std::fs::write(&a, b"version 2 is longer").unwrap();
    set_old_mtime(&a, 50);
    std::fs::remove_file(root.join("b.jpg")).unwrap();
    std::fs::remove_dir_all(root.join("gone")).unwrap();
    let r = scan(&mut cat, &root);
    assert_eq!(
        (r.changed, r.deleted, r.new, r.moved),
        (1, 2, 0, 0),
        "{r:?}"
    );
    assert_eq!(listing(&cat).len(), 1);
    // every version and content stays in the catalog
    assert_eq!(count(&db, "SELECT count(*) FROM files"), 4);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM files WHERE deleted_at IS NOT NULL"
        ),
        3
    );
    assert_eq!(count(&db, "SELECT count(*) FROM contents"), 4);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM dirs WHERE deleted_at IS NOT NULL"
        ),
        1
    );
    // a file reappearing at a deleted path is new, the old row stays closed
    put(&root, "b.jpg", b"to be deleted");
    let r = scan(&mut cat, &root);
    assert_eq!(r.new, 1, "{r:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM files"), 5);
}

#[test]
fn missing_root_is_an_error_and_deletes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("disk");
    put(&root, "a.jpg", b"a");
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    scan(&mut cat, &root);
    let canon = std::fs::canonicalize(&root).unwrap();
    std::fs::rename(&root, t.path().join("unmounted")).unwrap();
    let err = cat
        .scan(&canon, &Default::default(), &lomo_catalog::NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Root { .. }), "{err}");
    assert!(err.to_string().contains("disk"), "{err}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM files WHERE deleted_at IS NULL"),
        1
    );
}

#[test]
fn nested_roots_are_refused() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "outer/inner/a.jpg", b"a");
    let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
    cat.add_root(t.path().join("outer")).unwrap();
    let err = cat.add_root(t.path().join("outer/inner")).unwrap_err();
    assert!(matches!(err, Error::NestedRoots { .. }), "{err}");
    // same folder name in two places gets distinct labels
    put(t.path(), "x/Photos/a.jpg", b"a");
    put(t.path(), "y/Photos/a.jpg", b"a");
    let a = cat.add_root(t.path().join("x/Photos")).unwrap();
    let b = cat.add_root(t.path().join("y/Photos")).unwrap();
    assert_eq!((a.label.as_str(), b.label.as_str()), ("Photos", "Photos-2"));
    assert_eq!(cat.add_root(t.path().join("x/Photos")).unwrap(), a);
}

#[test]
fn duplicates_are_one_content() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "Dups/original.jpg", &[5u8; 1000]);
    put(&root, "Dups/copy of original.jpg", &[5u8; 1000]);
    put(&root, "DCIM/dup.jpg", &[5u8; 1000]);
    put(&root, "unique.jpg", b"u");
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    scan(&mut cat, &root);
    let mut sets = Vec::new();
    cat.for_each_duplicate(|s| {
        sets.push(s);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!((sets[0].size, sets[0].paths.len()), (1000, 3));
    let s = cat.stats().unwrap();
    assert_eq!(
        (s.files, s.bytes, s.contents, s.unique_bytes),
        (4, 3001, 2, 1001)
    );
}

#[test]
fn a_second_scanner_gets_a_clear_busy_error() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "a.jpg", b"a");
    let db = t.path().join("c.db");
    let mut lock_name = db.clone().into_os_string();
    lock_name.push(".lock");
    let held = std::fs::File::create(&lock_name).unwrap();
    held.lock().unwrap(); // as another lomob mid-scan would
    let mut cat = Catalog::open(&db).unwrap();
    let err = cat
        .scan(&root, &Default::default(), &lomo_catalog::NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    held.unlock().unwrap();
    assert_eq!(scan(&mut cat, &root).new, 1);
}

#[test]
fn archived_contents_leave_the_unarchived_listing() {
    use lomo_catalog::{FileQuery, Member, NewArchive};
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "a.jpg", b"aaa");
    put(&root, "b.jpg", b"bbb");
    put(&root, "copy of a.jpg", b"aaa");
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    scan(&mut cat, &root);
    let q = FileQuery {
        unarchived: true,
        ..FileQuery::default()
    };
    let mut files = Vec::new();
    cat.for_each_file(&q, |f| {
        files.push(f);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(files.len(), 3);
    let a = files.iter().find(|f| f.path.ends_with("a.jpg")).unwrap();
    let members = [Member {
        file_id: a.id,
        path: b"r/a.jpg".to_vec(),
        offset: 40_960,
    }];
    cat.record_archive(&NewArchive {
        name: "x.iso",
        size: 1 << 20,
        blake3: [1; 32],
        location: None,
        members: &members,
    })
    .unwrap();
    let mut left = Vec::new();
    cat.for_each_file(&q, |f| {
        left.push(f.path.file_name().unwrap().to_string_lossy().into_owned());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        left,
        ["b.jpg"],
        "the copy of a.jpg has the same content: archived too"
    );
    let archives = cat.archives().unwrap();
    assert_eq!((archives[0].name.as_str(), archives[0].files), ("x.iso", 1));
    assert!(
        cat.record_archive(&NewArchive {
            name: "x.iso",
            size: 1,
            blake3: [0; 32],
            location: None,
            members: &[]
        })
        .is_err()
    );
    assert_eq!(count(&db, "SELECT count(*) FROM archive_members"), 1);
}

#[test]
fn as_of_lists_the_files_as_they_were() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    let a = put(&root, "a.jpg", b"version 1");
    put(&root, "b.jpg", b"deleted later");
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    scan(&mut cat, &root);
    // The first scan happened a day ago, as far as the catalog knows.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("UPDATE files SET first_seen = first_seen - 86400", [])
        .unwrap();
    let yesterday = lomo_catalog::unix_now() - 3600;
    std::fs::write(&a, b"version 2 is longer").unwrap();
    set_old_mtime(&a, 50);
    std::fs::remove_file(root.join("b.jpg")).unwrap();
    put(&root, "c.jpg", b"new today");
    scan(&mut cat, &root);
    let files = |as_of: Option<i64>| -> Vec<(String, u64)> {
        let mut v = Vec::new();
        let q = lomo_catalog::FileQuery {
            as_of,
            ..lomo_catalog::FileQuery::default()
        };
        cat.for_each_file(&q, |f| {
            v.push((
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                f.size,
            ));
            Ok::<_, Error>(())
        })
        .unwrap();
        v
    };
    assert_eq!(
        files(Some(yesterday)),
        [("a.jpg".to_owned(), 9), ("b.jpg".to_owned(), 13)]
    );
    assert_eq!(
        files(None),
        [("a.jpg".to_owned(), 19), ("c.jpg".to_owned(), 9)]
    );
    assert!(files(Some(yesterday - 2 * 86_400)).is_empty());
}

#[test]
fn archive_entries_find_live_sources_and_unsent_archives_can_be_forgotten() {
    use lomo_catalog::{ArchiveCopy, FileQuery, Member, NewArchive};
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    put(&root, "b.jpg", b"bbb");
    put(&root, "a.jpg", b"aaa");
    let db = t.path().join("c.db");
    let mut cat = Catalog::open(&db).unwrap();
    scan(&mut cat, &root);
    let mut files = Vec::new();
    cat.for_each_file(&FileQuery::default(), |f| {
        files.push(f);
        Ok::<_, Error>(())
    })
    .unwrap();
    // Recorded in this order (b before a): the image's order.
    let members: Vec<Member> = files
        .iter()
        .rev()
        .enumerate()
        .map(|(i, f)| Member {
            file_id: f.id,
            path: format!("r/{}", f.path.file_name().unwrap().to_string_lossy()).into_bytes(),
            offset: 40_960 + 2048 * i as u64,
        })
        .collect();
    let id = cat
        .record_archive(&NewArchive {
            name: "x.iso",
            size: 1 << 20,
            blake3: [0; 32],
            location: None,
            members: &members,
        })
        .unwrap();
    // a.jpg moves: its content is read from the new path.
    std::fs::rename(root.join("a.jpg"), root.join("moved.jpg")).unwrap();
    scan(&mut cat, &root);
    let e = cat.archive_entries(id).unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!((e[0].path.as_slice(), e[0].size), (&b"r/b.jpg"[..], 3));
    assert_eq!(e[1].path, b"r/a.jpg");
    assert!(
        e[1].source.as_ref().unwrap().ends_with("moved.jpg"),
        "{e:?}"
    );
    assert_eq!(e[1].hash, *blake3::hash(b"aaa").as_bytes());
    assert_eq!(e[1].mtime_ns, Some(files[0].mtime_ns));
    assert_eq!(e[1].mode, Some(files[0].mode));
    cat.set_archive_hash(id, &[9; 32]).unwrap();
    assert_eq!(cat.archives().unwrap()[0].blake3, [9; 32]);

    // A site holding it: not forgotten; none: forgotten with its members.
    let mut copy = ArchiveCopy {
        archive_id: id,
        site: "s".into(),
        key: "k".into(),
        header: vec![],
        upload: None,
        size: Some(1),
        sha256: None,
        done_at: Some(1),
        etag: None,
        verified_at: None,
        parity: None,
    };
    cat.save_archive_copy(&copy).unwrap();
    assert!(!cat.forget_archive(id).unwrap());
    copy.done_at = None;
    cat.save_archive_copy(&copy).unwrap();
    assert!(cat.forget_archive(id).unwrap());
    assert!(cat.archives().unwrap().is_empty());
    assert_eq!(count(&db, "SELECT count(*) FROM archive_members"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM archive_copies"), 0);
}
