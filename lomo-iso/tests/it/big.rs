//! A file over 4 GiB becomes a multi-extent file that xorriso, bsdtar and
//! lomo-iso's own reader extract whole. Slow (writes ~4.5 GB twice); run in CI by the test command.

use std::io::{Read, Seek, SeekFrom, Write};
use std::process::Command;

use crate::util::{build, run, tool};

const SIZE: u64 = (4 << 30) + (300 << 20) + 12_345;

fn hash_file(p: &std::path::Path) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    let mut f = std::fs::File::open(p).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize()
}

#[test]
fn file_over_4_gib_round_trips_through_every_reader() {
    for t in ["xorriso", "bsdtar", "7z", "isoinfo"] {
        if tool(t).is_none() {
            return;
        }
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let big = src.join("video 4K.mp4");
    // sparse, with marks around the 4 GiB extent boundary and at the ends
    let mut f = std::fs::File::create(&big).unwrap();
    f.set_len(SIZE).unwrap();
    for (at, mark) in [
        (0u64, &b"start"[..]),
        ((4 << 30) - 2048 - 3, b"boundary"),
        (SIZE - 3, b"end"),
    ] {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(mark).unwrap();
    }
    drop(f);
    std::fs::write(src.join("small.jpg"), b"a small neighbour").unwrap();
    let want = hash_file(&big);
    let img = t.path().join("big.iso");
    build(&src, &img);

    let x = t.path().join("x");
    run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&img)
        .args(["-extract", "/"])
        .arg(&x));
    assert_eq!(
        std::fs::metadata(x.join("video 4K.mp4")).unwrap().len(),
        SIZE
    );
    assert_eq!(hash_file(&x.join("video 4K.mp4")), want, "xorriso");
    assert_eq!(
        std::fs::read(x.join("small.jpg")).unwrap(),
        b"a small neighbour"
    );
    std::fs::remove_dir_all(&x).unwrap();

    let b = t.path().join("b");
    std::fs::create_dir(&b).unwrap();
    run(Command::new("bsdtar")
        .arg("-xf")
        .arg(&img)
        .arg("-C")
        .arg(&b));
    assert_eq!(hash_file(&b.join("video 4K.mp4")), want, "bsdtar");
    std::fs::remove_dir_all(&b).unwrap();

    // lomo-iso's own reader: the multi-extent record, and the extraction.
    let mut r = lomo_iso::Reader::open(std::fs::File::open(&img).unwrap()).unwrap();
    let rec = r.lookup(b"video 4K.mp4").unwrap();
    assert_eq!(rec.size, SIZE);
    assert!(rec.extents.len() >= 2, "{:?}", rec.extents);
    let mut h = blake3::Hasher::new();
    std::io::copy(&mut r.open_file(&rec), &mut h).unwrap();
    assert_eq!(h.finalize(), want, "lomo-iso's FileReader");
    let own = t.path().join("own");
    r.extract(&own, &[]).unwrap();
    assert_eq!(
        hash_file(&own.join("video 4K.mp4")),
        want,
        "lomo-iso extract"
    );
    assert_eq!(
        std::fs::read(own.join("small.jpg")).unwrap(),
        b"a small neighbour"
    );
}
