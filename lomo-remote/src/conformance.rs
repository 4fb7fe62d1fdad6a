//! The behaviour every [`Backend`] must show, as async checks that panic
//! with a message on the first difference. Run them against each backend's
//! real server (see this crate's `tests/`), each under its own key prefix.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt as _;

use crate::{Backend, Error, PutOptions, RestoreRequest, RestoreStatus, UploadState, Uploader};

/// Deterministic test bytes: `len` bytes from a simple generator.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

async fn read_all(site: &dyn Backend, key: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let chunks: Vec<Bytes> = site
        .get(key, range)
        .await
        .unwrap_or_else(|e| panic!("{site}: get {key}: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{site}: reading {key}: {e}"));
    chunks.concat()
}

async fn keys(site: &dyn Backend, prefix: &str) -> Vec<String> {
    let mut k: Vec<String> = site
        .list(prefix)
        .map_ok(|o| o.key)
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{site}: list {prefix}: {e}"));
    k.sort();
    k
}

/// The uploads pending under `prefix`, or `None` where the backend says it
/// cannot list them ([`Error::Unsupported`]); any other error fails the
/// suite, so a backend cannot pass by erroring.
async fn pending(site: &dyn Backend, prefix: &str) -> Option<Vec<crate::PendingUpload>> {
    match site.list_uploads(prefix).await {
        Ok(p) => Some(p),
        Err(Error::Unsupported { .. }) => None,
        Err(e) => panic!("{site}: list_uploads {prefix}: {e}"),
    }
}

/// Runs every check under `prefix`.
pub async fn run_all(site: Arc<dyn Backend>, prefix: &str) {
    put_get_list_delete(site.clone(), &format!("{prefix}/basic")).await;
    missing_objects(site.as_ref(), &format!("{prefix}/missing")).await;
    multipart_resume(site.clone(), &format!("{prefix}/multipart")).await;
    abort_leaves_nothing(site.clone(), &format!("{prefix}/abort")).await;
    part_streams(site.clone(), &format!("{prefix}/streamed")).await;
    names_people_use(site.as_ref(), &format!("{prefix}/names")).await;
}

/// Names as people and other programs give them.
pub const PEOPLE_NAMES: [&str; 5] = [
    "Photos 2024/Été à Paris/IMG 0001 (1).jpg",
    "写真/2024年 夏/家族 🎉.heic",
    "odd/a+b=c&d#e%20f?g.jpg",
    "odd/Mom's \"best\" photo; [1] ~ ü.jpg",
    "long/ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé.jpg",
];

/// Keys with spaces, accents, CJK, emoji, URL and shell punctuation and a
/// long name: put, head, whole and ranged get, list, delete, each the same
/// key it was given; and the keys no site may take are refused.
pub async fn names_people_use(site: &dyn Backend, prefix: &str) {
    let mut want = Vec::new();
    for (i, name) in PEOPLE_NAMES.iter().enumerate() {
        let key = format!("{prefix}/{name}");
        let data = pattern(1000 + i * 10, i as u32);
        site.put(&key, Bytes::from(data.clone()), &PutOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{site}: put {key:?}: {e}"));
        assert_eq!(site.head(&key).await.unwrap().key, key);
        assert_eq!(read_all(site, &key, None).await, data, "{site}: {key:?}");
        assert_eq!(read_all(site, &key, Some(5..9)).await, &data[5..9]);
        want.push(key);
    }
    want.sort();
    assert_eq!(keys(site, prefix).await, want, "{site}: listed as given");
    for k in &want {
        site.delete(k).await.unwrap();
    }
    assert!(keys(site, prefix).await.is_empty(), "{site}: deleted");
    let long = "x".repeat(300);
    for bad in ["a/../b", "a//b", "tab\there", long.as_str()] {
        let err = site
            .put(
                &format!("{prefix}/{bad}"),
                Bytes::new(),
                &PutOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidKey { .. }),
            "{site}: {bad:?}: {err}"
        );
    }
}

/// Put, whole and ranged get, head, list (nested, with paging-sized
/// counts), delete, overwrite.
pub async fn put_get_list_delete(arc: Arc<dyn Backend>, prefix: &str) {
    let site = arc.as_ref();
    let data = pattern(100_000, 1);
    let key = format!("{prefix}/a/one.bin");
    let v = Uploader::new(arc.clone())
        .put(&key, Bytes::from(data.clone()), &PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{site}: put: {e}"));
    assert_eq!(v.size, 100_000);
    assert_eq!(read_all(site, &key, None).await, data, "{site}: whole get");
    assert_eq!(
        read_all(site, &key, Some(1000..1010)).await,
        &data[1000..1010],
        "{site}: range get"
    );
    assert_eq!(
        read_all(site, &key, Some(99_990..100_000)).await,
        &data[99_990..],
        "{site}: tail range"
    );
    let head = site.head(&key).await.unwrap();
    assert_eq!(head.key, key);
    assert_eq!(head.size, 100_000);
    assert!(
        head.modified > 1_600_000_000,
        "{site}: modified {}",
        head.modified
    );
    assert!(
        !matches!(
            head.restore,
            Some(RestoreStatus::NotRequested | RestoreStatus::InProgress)
        ),
        "{site}: a standard object needs no restore: {:?}",
        head.restore
    );
    if site.capabilities().stored_checksum {
        assert!(head.sha256.is_some(), "{site}: head reports no checksum");
    }
    // Empty object, and an overwrite.
    site.put(
        &format!("{prefix}/empty"),
        Bytes::new(),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(read_all(site, &format!("{prefix}/empty"), None).await, b"");
    site.put(&key, Bytes::from_static(b"v2"), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(read_all(site, &key, None).await, b"v2", "{site}: overwrite");
    for i in 0..25 {
        site.put(
            &format!("{prefix}/many/{i:03}"),
            Bytes::from(vec![i as u8; i]),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    }
    let listed = keys(site, prefix).await;
    assert_eq!(listed.len(), 27, "{site}: {listed:?}");
    assert_eq!(listed[0], key);
    let many = keys(site, &format!("{prefix}/many")).await;
    assert_eq!(many.len(), 25);
    assert_eq!(many[24], format!("{prefix}/many/024"));
    for k in &listed {
        site.delete(k).await.unwrap();
    }
    assert!(
        keys(site, prefix).await.is_empty(),
        "{site}: delete left objects"
    );
}

/// Missing objects: errors name the key, deletes succeed.
pub async fn missing_objects(site: &dyn Backend, prefix: &str) {
    let key = format!("{prefix}/nothing-here");
    let err = match site.get(&key, None).await {
        Ok(s) => s
            .try_collect::<Vec<Bytes>>()
            .await
            .expect_err("get of a missing object"),
        Err(e) => e,
    };
    assert!(
        matches!(err, Error::NotFound { .. }),
        "{site}: get missing: {err}"
    );
    assert!(err.to_string().contains(&key), "{err}");
    let err = site.head(&key).await.unwrap_err();
    assert!(err.is_not_found(), "{site}: head missing: {err}");
    site.delete(&key).await.unwrap();
    assert!(keys(site, prefix).await.is_empty());
    let err = site
        .put("bad/../key", Bytes::new(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
    if site.capabilities().restore {
        let r = site.restore(&key, RestoreRequest::default()).await;
        assert!(
            matches!(r, Err(Error::NotFound { .. })),
            "{site}: restore missing: {r:?}"
        );
    }
}

/// A multipart upload of four parts: two sent, the state serialised and
/// the uploader dropped; a fresh uploader resumes from the JSON, sends
/// only the other two, completes, and the bytes read back equal.
pub async fn multipart_resume(site: Arc<dyn Backend>, prefix: &str) {
    let part = site.capabilities().min_part_size.max(1 << 20);
    let size = part * 3 + 12_345;
    let data = pattern(size as usize, 7);
    let key = format!("{prefix}/big.bin");
    let src = tempfile::tempfile().unwrap();
    std::os::unix::fs::FileExt::write_all_at(&src, &data, 0).unwrap();

    let up = Uploader::new(site.clone()).with_concurrency(1);
    let mut state = up
        .start(&key, size, part, &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(state.part_count(), 4);
    let mut saved = String::new();
    // Stop after two parts by failing the persistence callback.
    let r = up
        .send_parts(&mut state, src.try_clone().unwrap(), |s| {
            saved = serde_json::to_string(s).unwrap();
            if s.parts.len() >= 2 {
                Err(std::io::Error::other("stop here"))
            } else {
                Ok(())
            }
        })
        .await;
    assert!(r.is_err(), "the callback's error must stop the upload");
    drop(up);
    let mut resumed: UploadState = serde_json::from_str(&saved).unwrap();
    assert_eq!(resumed.missing(), vec![2, 3]);
    if let Some(p) = pending(site.as_ref(), prefix).await {
        assert!(
            p.iter()
                .any(|u| u.upload_id == resumed.upload_id && u.key == key)
                || site.capabilities().max_parts == 50_000,
            "{site}: pending upload not listed: {p:?}"
        );
    }
    let before = site.usage();
    let up = Uploader::new(site.clone()).with_concurrency(2);
    let mut sent = Vec::new();
    up.send_parts(&mut resumed, src, |s| {
        sent.push(s.parts.len());
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(sent, vec![3, 4], "only the missing parts are sent");
    let used = site.usage().since(&before);
    assert!(
        used.bytes_sent >= part + 12_345 && used.bytes_sent < 2 * part + 12_345 + 100_000,
        "{site}: resumed upload sent {} bytes",
        used.bytes_sent
    );
    let v = up
        .complete(&resumed)
        .await
        .unwrap_or_else(|e| panic!("{site}: complete: {e}"));
    assert_eq!(v.size, size);
    if site.capabilities().stored_checksum {
        assert!(
            v.sha256.is_some(),
            "{site}: no stored checksum after a multipart upload"
        );
    }
    // Completing again (a lost answer) checks the stored object instead.
    up.complete(&resumed)
        .await
        .unwrap_or_else(|e| panic!("{site}: second complete: {e}"));
    assert_eq!(
        read_all(site.as_ref(), &key, None).await,
        data,
        "{site}: multipart bytes"
    );
    let r = (part * 2 - 5)..(part * 2 + 5);
    assert_eq!(
        read_all(site.as_ref(), &key, Some(r.clone())).await,
        &data[r.start as usize..r.end as usize],
        "{site}: range across parts"
    );
    if let Some(p) = pending(site.as_ref(), prefix).await {
        assert!(
            p.is_empty(),
            "{site}: completed upload still pending: {p:?}"
        );
    }
    assert_eq!(
        keys(site.as_ref(), prefix).await,
        vec![key.clone()],
        "{site}: upload debris listed"
    );
    site.delete(&key).await.unwrap();
}

/// `bytes` as a part stream of 300,000-byte pieces, with an error after
/// the first piece when `fail`.
fn pieces(bytes: &[u8], fail: bool) -> crate::PartStream {
    use futures::StreamExt as _;
    let mut items: Vec<std::io::Result<Bytes>> = bytes
        .chunks(300_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    if fail {
        items.insert(1, Err(std::io::Error::other("the disk went away")));
    }
    futures::stream::iter(items).boxed()
}

/// Parts sent as streams of pieces: a stream that fails, or gives more or
/// fewer bytes than the part's size, fails the part as a source error;
/// the parts sent again whole complete the object with the right bytes.
pub async fn part_streams(site: Arc<dyn Backend>, prefix: &str) {
    let part = site.capabilities().min_part_size.max(1 << 20);
    let size = part + 1000;
    let data = pattern(size as usize, 11);
    let key = format!("{prefix}/pieces.bin");
    let up = Uploader::new(site.clone());
    let mut state = up
        .start(&key, size, part, &PutOptions::default())
        .await
        .unwrap();
    let (id, p) = (state.upload_id.clone(), part as usize);
    let wrong = [
        ("a failing source", pieces(&data[..p], true)),
        ("too many bytes", pieces(&data[..p + 1], false)),
        ("too few bytes", pieces(&data[..p - 1], false)),
    ];
    for (what, stream) in wrong {
        match site.put_part_stream(&key, &id, 0, part, stream).await {
            Err(Error::Source { .. }) => {}
            other => panic!("{site}: part stream with {what}: {other:?}"),
        }
    }
    for (index, range) in [(0, 0..p), (1, p..size as usize)] {
        let len = (range.end - range.start) as u64;
        let stored = site
            .put_part_stream(&key, &id, index, len, pieces(&data[range], false))
            .await
            .unwrap_or_else(|e| panic!("{site}: part stream {index}: {e}"));
        assert_eq!((stored.index, stored.size), (index, len), "{site}");
        state.parts.push(stored);
    }
    up.complete(&state)
        .await
        .unwrap_or_else(|e| panic!("{site}: complete streamed parts: {e}"));
    assert_eq!(
        read_all(site.as_ref(), &key, None).await,
        data,
        "{site}: streamed parts' bytes"
    );
    site.delete(&key).await.unwrap();
}

/// An aborted upload leaves no object and no pending upload.
pub async fn abort_leaves_nothing(site: Arc<dyn Backend>, prefix: &str) {
    let part = site.capabilities().min_part_size.max(1 << 20);
    let key = format!("{prefix}/x.bin");
    let up = Uploader::new(site.clone());
    let mut state = up
        .start(&key, part * 2, part, &PutOptions::default())
        .await
        .unwrap();
    let src = tempfile::tempfile().unwrap();
    src.set_len(part * 2).unwrap();
    up.send_parts(&mut state, src, |s| {
        if s.parts.is_empty() {
            Ok(())
        } else {
            Err(std::io::Error::other("stop"))
        }
    })
    .await
    .unwrap_err();
    up.abort(&state).await.unwrap();
    up.abort(&state).await.unwrap();
    assert!(keys(site.as_ref(), prefix).await.is_empty());
    if let Some(p) = pending(site.as_ref(), prefix).await {
        assert!(p.is_empty(), "{site}: aborted upload still pending: {p:?}");
    }
    let err = up.complete(&state).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
}

/// More than one listing page (1,003 objects; S3's pages hold 1,000): every
/// key listed once, in order, in two LIST requests.
pub async fn lists_past_one_page(site: Arc<dyn Backend>, prefix: &str) {
    use futures::StreamExt as _;
    futures::stream::iter(0..1003)
        .map(|i| {
            let site = site.clone();
            async move {
                site.put(
                    &format!("{prefix}/{i:05}"),
                    Bytes::new(),
                    &PutOptions::default(),
                )
                .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_or_else(|e| panic!("{site}: put: {e}"));
    let before = site.usage();
    let listed = keys(site.as_ref(), prefix).await;
    assert_eq!(listed.len(), 1003, "{site}");
    assert_eq!(listed[1002], format!("{prefix}/01002"), "{site}");
    assert_eq!(
        site.usage().since(&before).class_a,
        2,
        "{site}: two LIST pages"
    );
}
