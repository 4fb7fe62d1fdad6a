//! The writer's own promises: exact size, determinism, shared extents, checks.

use lomo_iso::{Entry, EntryKind, Error, Layout, WriteOptions};

fn file(path: &str, data: &[u8]) -> Entry {
    Entry {
        path: path.as_bytes().to_vec(),
        kind: EntryKind::File {
            size: data.len() as u64,
            blake3: Some(*blake3::hash(data).as_bytes()),
        },
        mtime: 1_600_000_000,
        mode: 0o644,
    }
}

#[test]
fn same_entries_same_bytes_in_any_order_and_dups_share_an_extent() {
    let a = b"the same photo".to_vec();
    let entries = vec![
        file("x/a.jpg", &a),
        file("y/copy.jpg", &a),
        file("z.jpg", b"other"),
    ];
    let data = [a.clone(), a.clone(), b"other".to_vec()];
    let l1 = Layout::new(&entries, WriteOptions::default()).unwrap();
    let img1 = l1.write(Vec::new(), |i| Ok(&data[i][..])).unwrap();
    let mut rev = entries.clone();
    rev.reverse();
    let rdata = [data[2].clone(), data[1].clone(), data[0].clone()];
    let img2 = Layout::new(&rev, WriteOptions::default())
        .unwrap()
        .write(Vec::new(), |i| Ok(&rdata[i][..]))
        .unwrap();
    assert!(
        img1 == img2,
        "same entries in another order gave different bytes"
    );
    let ext = l1.file_extents();
    let off = |e: usize| ext.iter().find(|x| x.entry == e).unwrap().offset;
    assert_eq!(off(0), off(1), "identical contents share one extent");
    assert_ne!(off(0), off(2));
    assert_eq!(&img1[off(2) as usize..off(2) as usize + 5], b"other");
}

#[test]
fn a_source_that_changed_ends_the_build_with_its_name() {
    let entries = vec![file("album/photo.jpg", b"declared bytes")];
    let l = Layout::new(&entries, WriteOptions::default()).unwrap();
    for bad in [
        &b"declared"[..],
        b"declared bytes and more",
        b"DECLARED BYTES",
    ] {
        let err = l.write(Vec::new(), |_| Ok(bad)).unwrap_err();
        assert!(matches!(err, Error::SourceChanged { .. }), "{err}");
        assert!(err.to_string().contains("album/photo.jpg"), "{err}");
    }
}

#[test]
fn bad_entries_are_refused() {
    for p in ["", "/abs", "a/../b", "a//b", "./a"] {
        let e = vec![file(p, b"x")];
        assert!(
            matches!(
                Layout::new(&e, WriteOptions::default()),
                Err(Error::BadEntry { .. })
            ),
            "{p:?}"
        );
    }
    let twice = vec![file("a", b"x"), file("a", b"y")];
    assert!(Layout::new(&twice, WriteOptions::default()).is_err());
    let file_as_dir = vec![file("a", b"x"), file("a/b", b"y")];
    assert!(Layout::new(&file_as_dir, WriteOptions::default()).is_err());
}
