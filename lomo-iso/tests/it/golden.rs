//! The bytes of an image are part of the format: an upload resumed by a
//! newer lomob, and every recorded archive hash, rely on the same entries
//! giving the same image in every version. These entries touch each
//! layout rule (names sorting around `/`, ISO and Joliet name clashes,
//! names long enough for a continuation area, symlinks, shared contents,
//! a deep tree, the manifest); the hash was taken from the layout code
//! before its nodes were compacted (d9b113d).

use lomo_iso::{Entry, EntryKind, Layout, WriteOptions};

fn file(path: &str, content: &[u8], mtime: i64) -> (Entry, Vec<u8>) {
    let entry = Entry {
        path: path.as_bytes().to_vec(),
        kind: EntryKind::File {
            size: content.len() as u64,
            blake3: Some(*blake3::hash(content).as_bytes()),
        },
        mtime,
        mode: 0o644,
    };
    (entry, content.to_vec())
}

fn entries() -> (Vec<Entry>, Vec<Vec<u8>>) {
    let long_x = "x".repeat(200);
    let long_y = format!("{}.jpg", "y".repeat(250));
    let deep = format!(
        "deep/{}/f",
        (0..12)
            .map(|i| format!("d{i}"))
            .collect::<Vec<_>>()
            .join("/")
    );
    let names = [
        "a.txt",
        "a b",
        "a!",
        "A",
        "aa",
        "a/b-x",
        "a/b.c",
        "a/b/c",
        "a.b/c",
        "a-b/c d",
        "Zeta",
        "éclair.jpg",
        "🎂 birthday.jpg",
        long_x.as_str(),
        long_y.as_str(),
        "img_0001.JPG",
        "IMG_0001.jpg",
        ".hidden",
        "dir.with.dots/file",
        deep.as_str(),
    ];
    let (mut list, mut data) = (Vec::new(), Vec::new());
    for (i, n) in names.iter().enumerate() {
        // contents repeat every fifth name: shared extents
        let content = vec![b'0' + (i % 5) as u8; 1000 + (i % 5) * 37];
        let (e, d) = file(n, &content, 1_600_000_000 + i as i64);
        list.push(e);
        data.push(d);
    }
    for i in 0..50u8 {
        let (e, d) = file(
            &format!("many/{i:03}-file.dat"),
            &vec![i; usize::from(i) * 100],
            1_700_000_000,
        );
        list.push(e);
        data.push(d);
    }
    for (path, target) in [
        ("link-to-a", "a.txt".to_owned()),
        ("longlink", "y".repeat(300)),
    ] {
        list.push(Entry {
            path: path.as_bytes().to_vec(),
            kind: EntryKind::Symlink {
                target: target.into_bytes(),
            },
            mtime: 1_650_000_000,
            mode: 0o777,
        });
        data.push(Vec::new());
    }
    list.push(Entry {
        path: b"emptydir".to_vec(),
        kind: EntryKind::Dir,
        mtime: 1_650_000_001,
        mode: 0o750,
    });
    data.push(Vec::new());
    (list, data)
}

#[test]
fn the_same_entries_give_the_bytes_of_earlier_versions() {
    let (list, data) = entries();
    let opts = WriteOptions {
        manifest: Some("golden-archive".into()),
        ..WriteOptions::default()
    };
    let layout = Layout::new(&list, opts).unwrap();
    let image = layout
        .write(Vec::new(), |i| Ok(std::io::Cursor::new(data[i].clone())))
        .unwrap();
    assert_eq!(image.len() as u64, layout.size());
    assert_eq!(blake3::hash(&image).to_hex().as_str(), GOLDEN);
}

const GOLDEN: &str = "bd209df9136481195739d011ac69429572d4c7134aacad93b277cdfa0ce5a44d";
