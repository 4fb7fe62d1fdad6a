//! Staged copies: what each staging site still needs, dedup, archive cover.

use lomo_catalog::{Catalog, Member, NewArchive, StagedCopy};

use crate::util::{put, scan};

#[test]
fn to_stage_is_one_file_per_content_and_shrinks_as_copies_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    put(&root, "a.jpg", b"alpha");
    put(&root, "dup/a-copy.jpg", b"alpha");
    put(&root, "b.jpg", b"beta");
    put(&root, "c.mov", b"gamma");
    put(&root, "empty", b"");
    std::os::unix::fs::symlink("a.jpg", root.join("link")).unwrap();
    let mut cat = Catalog::open(dir.path().join("c.db")).unwrap();
    scan(&mut cat, &root);

    let todo = cat.to_stage("drive").unwrap();
    let names: Vec<String> = todo
        .iter()
        .map(|t| {
            t.file
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(todo.len(), 4, "duplicates once, symlinks never: {names:?}");
    assert!(names.contains(&"empty".to_owned()));

    let a = todo
        .iter()
        .find(|t| t.file.hash == Some(*blake3::hash(b"alpha").as_bytes()))
        .unwrap();
    cat.record_staged(&StagedCopy {
        content_id: a.content_id,
        site: "drive".into(),
        key: "lomob/staging/aa/aaaa".into(),
        size: 120,
        sha256: Some("x".into()),
        staged_at: 1,
        etag: None,
    })
    .unwrap();
    assert_eq!(cat.to_stage("drive").unwrap().len(), 3);
    assert_eq!(cat.to_stage("nas").unwrap().len(), 4, "per site");
    assert_eq!(cat.to_stage_count("drive").unwrap(), 3);
    assert_eq!(cat.to_stage_count("nas").unwrap(), 4);
    // the streamed form: the same contents, in the same order, and an error stops it
    let mut streamed = Vec::new();
    cat.for_each_to_stage("drive", |t| {
        streamed.push((t.content_id, t.file.id));
        Ok::<_, lomo_catalog::Error>(())
    })
    .unwrap();
    let listed: Vec<(i64, i64)> = cat
        .to_stage("drive")
        .unwrap()
        .iter()
        .map(|t| (t.content_id, t.file.id))
        .collect();
    assert_eq!(streamed, listed);
    #[derive(Debug)]
    struct Stop;
    impl From<lomo_catalog::Error> for Stop {
        fn from(e: lomo_catalog::Error) -> Stop {
            panic!("{e}")
        }
    }
    let mut seen = 0;
    let stopped = cat.for_each_to_stage("drive", |_| {
        seen += 1;
        Err(Stop)
    });
    assert!(stopped.is_err() && seen == 1);
    let copies = cat
        .staged_copies(blake3::hash(b"alpha").as_bytes())
        .unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].key, "lomob/staging/aa/aaaa");
    assert_eq!(cat.staged_on("drive").unwrap().len(), 1);

    // An archived content needs no staging anywhere.
    let b = todo
        .iter()
        .find(|t| t.file.hash == Some(*blake3::hash(b"beta").as_bytes()))
        .unwrap();
    cat.record_archive(&NewArchive {
        name: "x.iso",
        size: 1,
        blake3: [0; 32],
        location: None,
        members: &[Member {
            file_id: b.file.id,
            path: b"r/b.jpg".to_vec(),
            offset: 0,
        }],
    })
    .unwrap();
    assert_eq!(cat.to_stage("nas").unwrap().len(), 3);
    assert_eq!(cat.to_stage_count("nas").unwrap(), 3);

    cat.remove_staged(a.content_id, "drive").unwrap();
    assert!(cat.staged_on("drive").unwrap().is_empty());
    assert!(
        cat.content_id(blake3::hash(b"gamma").as_bytes())
            .unwrap()
            .is_some()
    );
}
