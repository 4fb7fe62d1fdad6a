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

mod ranges {
    use std::io::Cursor;

    use lomo_iso::{Entry, EntryKind, Layout, WriteOptions};
    use proptest::prelude::*;

    fn fixture() -> (Vec<Entry>, Vec<Vec<u8>>) {
        let sizes = [0usize, 1, 2047, 2048, 2049, 100_000, 5];
        let data: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|k| (k as u8) ^ (i as u8 * 37)).collect())
            .collect();
        let entries = data
            .iter()
            .enumerate()
            .map(|(i, d)| Entry {
                path: format!("d{}/f{i}.bin", i % 2).into_bytes(),
                kind: EntryKind::File {
                    size: d.len() as u64,
                    blake3: None,
                },
                mtime: 1_600_000_000,
                mode: 0o644,
            })
            .collect();
        (entries, data)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Any byte range produced alone equals the same slice of the whole image.
        #[test]
        fn any_range_equals_the_slice(a: prop::sample::Index, b: prop::sample::Index) {
            let (entries, data) = fixture();
            let l = Layout::new(&entries, WriteOptions::default()).unwrap();
            let whole = l.write(Vec::new(), |i| Ok(&data[i][..])).unwrap();
            let n = whole.len() + 1;
            let (x, y) = (a.index(n) as u64, b.index(n) as u64);
            let (x, y) = (x.min(y), x.max(y));
            let part = l.write_range(x..y, Vec::new(), |i| Ok(Cursor::new(&data[i][..]))).unwrap();
            prop_assert!(part == whole[x as usize..y as usize], "range {}..{}", x, y);
        }
    }

    #[test]
    fn parts_concatenate_to_the_image() {
        let (entries, data) = fixture();
        let l = Layout::new(&entries, WriteOptions::default()).unwrap();
        let whole = l.write(Vec::new(), |i| Ok(&data[i][..])).unwrap();
        let part = 5 * 2048 + 3;
        let mut joined = Vec::new();
        let mut at = 0;
        while at < l.size() {
            joined = l
                .write_range(at..at + part, joined, |i| Ok(Cursor::new(&data[i][..])))
                .unwrap();
            at += part;
        }
        assert!(joined == whole);
    }
}
