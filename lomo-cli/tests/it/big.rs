//! A file over 4 GiB (a long 4K video) through the whole of lomob: packed
//! into an archive as a multi-extent ISO file, restored byte-identical, and
//! read whole out of the sealed archive by lomo-iso's own reader. Slow
//! (about 4.3 GB sealed, written and read back twice): run by the README's
//! test command, skipped outside it.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::util::{Env, integration, walk};

const SIZE: u64 = (4 << 30) + (300 << 20) + 12_345;
const PASS: &str = "correct horse battery staple";

fn hash(mut r: impl Read) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return h.finalize();
        }
        h.update(&buf[..n]);
    }
}

/// A sparse file of `SIZE` bytes with marks at its ends and around the
/// 4 GiB extent boundary (so a misplaced extent changes the hash).
fn sparse_video(p: &Path) -> blake3::Hash {
    let mut f = std::fs::File::create(p).unwrap();
    f.set_len(SIZE).unwrap();
    let marks = [
        (0u64, &b"start of a long 4K video"[..]),
        ((4 << 30) - 2048 - 3, b"before the first extent ends"),
        ((4 << 30) - 2048 + 5, b"in the second extent"),
        (SIZE - 4, b"end!"),
    ];
    for (at, mark) in marks {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(mark).unwrap();
    }
    drop(f);
    hash(std::fs::File::open(p).unwrap())
}

#[test]
fn a_file_over_4_gib_is_archived_restored_and_read_by_lomo_iso() {
    if !integration() {
        return;
    }
    let env = Env::new().with_env("LOMOB_PASSPHRASE", PASS);
    let videos = env.path().join("Videos");
    std::fs::create_dir_all(&videos).unwrap();
    let want = sparse_video(&videos.join("holiday 4K.mp4"));
    let nas = env.path().join("nas");
    env.add_site(
        "nas",
        &format!("file://{}", nas.display()),
        &["--role", "archive"],
    );
    let done = env.json(
        &["backup", videos.to_str().unwrap(), "--pack-size", "1GB"],
        0,
    );
    let packed = done.iter().find(|v| v.get("packed").is_some()).unwrap();
    assert_eq!(packed["packed"], 1, "{done:?}");

    // lomob's restore of it
    let back = env.path().join("back");
    env.ok(&["restore", "/", "--to", back.to_str().unwrap()], 0);
    let restored = walk(&back).into_iter().find(|p| p.is_file()).unwrap();
    assert_eq!(std::fs::metadata(&restored).unwrap().len(), SIZE);
    assert_eq!(
        hash(std::fs::File::open(&restored).unwrap()),
        want,
        "lomob restore"
    );
    std::fs::remove_dir_all(&back).unwrap();

    // lomo-iso's reader, over the sealed archive decrypted as it is read
    let object = walk(&nas.join("lomob/archives"))
        .into_iter()
        .find(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > SIZE)
        .unwrap();
    let keys = lomo_crypt::KeyFile::load(&env.path().join("lomob.db.key")).unwrap();
    let (key, _) = keys.unlock(PASS.as_bytes()).unwrap();
    let plain =
        lomo_crypt::stream::SeekDecryptReader::new(&key, std::fs::File::open(&object).unwrap())
            .unwrap();
    let mut iso = lomo_iso::Reader::open(BufReader::with_capacity(1 << 20, plain)).unwrap();
    let mut found = Vec::new();
    iso.walk(|path, rec| {
        if !rec.is_dir {
            found.push((path.to_vec(), rec.clone()));
        }
        Ok(())
    })
    .unwrap();
    // the video, and the image's manifest
    let (path, rec) = found.iter().find(|(_, r)| r.size == SIZE).unwrap();
    assert!(
        path.ends_with(b"holiday 4K.mp4"),
        "{}",
        String::from_utf8_lossy(path)
    );
    assert_eq!(rec.size, SIZE);
    assert!(rec.extents.len() >= 2, "multi-extent: {:?}", rec.extents);
    assert_eq!(
        hash(iso.open_file(rec)),
        want,
        "lomo-iso's multi-extent reader"
    );
}
