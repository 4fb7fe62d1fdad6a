//! S3 Object Lock on moto: the bucket's configuration, locked writes
//! (single PUT and multipart), retention read back and extended, and the
//! guard that refuses a delete or overwrite of a locked object before it
//! is sent — while the bucket itself refuses a plain client's delete.

use bytes::Bytes;
use lomo_remote::testing::{self as servers, lock as moto};
use lomo_remote::{Error, LockMode, ObjectLock, PutOptions, SiteUrl, Uploader};

fn site(port: u16, bucket: &str, guard: bool) -> std::sync::Arc<dyn lomo_remote::Backend> {
    let url: SiteUrl = format!("s3://{bucket}/p?region=us-east-1&endpoint=http://127.0.0.1:{port}")
        .parse()
        .unwrap();
    lomo_remote::open(&url, &servers::s3_options("locked").with_object_lock(guard)).unwrap()
}

fn in_days(d: i64) -> i64 {
    jiff::Timestamp::now().as_second() + d * 86_400
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_bucket_says_so_and_a_plain_one_does_not() {
    let Some(m) = servers::moto() else { return };
    moto::create_locked_bucket(m.port, "lockcfg");
    servers::create_bucket(m.port, "plaincfg");
    let locked = site(m.port, "lockcfg", false).object_lock().await.unwrap();
    assert!(
        locked.enabled && locked.default_retention.is_none(),
        "{locked:?}"
    );
    let plain = site(m.port, "plaincfg", false).object_lock().await.unwrap();
    assert!(!plain.enabled, "{plain:?}");
    // A locked write to a bucket without Object Lock is refused by S3.
    let lock = ObjectLock::new(LockMode::Compliance, in_days(1));
    let opts = PutOptions::default().with_lock(Some(lock));
    let e = site(m.port, "plaincfg", false)
        .put("a", Bytes::from_static(b"x"), &opts)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("InvalidRequest"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn locked_objects_cannot_be_deleted_and_lomob_does_not_try() {
    let Some(m) = servers::moto() else { return };
    moto::create_locked_bucket(m.port, "locked");
    let s = site(m.port, "locked", true);
    let lock = ObjectLock::new(LockMode::Compliance, in_days(30));
    let opts = PutOptions::default().with_lock(Some(lock));
    s.put("archives/a.lomo", Bytes::from_static(b"archive"), &opts)
        .await
        .unwrap();
    let h = s.head("archives/a.lomo").await.unwrap();
    assert_eq!(h.lock, Some(lock), "the retention read back");
    let version = h.version.clone().expect("a versioned bucket");

    // A plain S3 client with the same credentials cannot delete the version.
    let status = moto::delete_version(m.port, "locked", "p/archives/a.lomo", &version);
    assert_eq!(status, 403, "S3 refuses the delete of a locked version");

    // lomob refuses before sending anything: no DELETE, no PUT.
    let before = s.usage();
    for e in [
        s.delete("archives/a.lomo").await.unwrap_err(),
        s.put(
            "archives/a.lomo",
            Bytes::from_static(b"other"),
            &PutOptions::default(),
        )
        .await
        .unwrap_err(),
        s.create_upload("archives/a.lomo", &PutOptions::default())
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, Error::Locked { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("archives/a.lomo") && text.contains("COMPLIANCE until"),
            "{text}"
        );
    }
    let after = s.usage();
    assert_eq!(after.free, before.free, "no DELETE was sent");
    assert_eq!(after.class_a, before.class_a, "no PUT was sent");
    let all = moto::versions(m.port, "locked", "p/archives/");
    assert_eq!(all.len(), 1, "one version, no delete marker: {all:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unlocked_objects_on_a_locked_bucket_are_really_deleted() {
    let Some(m) = servers::moto() else { return };
    moto::create_locked_bucket(m.port, "staging");
    let s = site(m.port, "staging", true);
    let hot = PutOptions::default();
    s.put("staging/x", Bytes::from_static(b"one"), &hot)
        .await
        .unwrap();
    s.put("staging/x", Bytes::from_static(b"two"), &hot)
        .await
        .unwrap();
    let left = moto::versions(m.port, "staging", "p/staging/");
    assert_eq!(left.len(), 1, "the replaced version is gone: {left:?}");
    assert_eq!(s.head("staging/x").await.unwrap().lock, None, "not locked");
    s.delete("staging/x").await.unwrap();
    s.delete("staging/never-there").await.unwrap();
    let left = moto::versions(m.port, "staging", "p/staging/");
    assert!(
        left.is_empty(),
        "no version and no delete marker left: {left:?}"
    );

    // Without the guard, a DELETE on a versioned bucket only hides it.
    let plain = site(m.port, "staging", false);
    plain
        .put("staging/y", Bytes::from_static(b"y"), &hot)
        .await
        .unwrap();
    plain.delete("staging/y").await.unwrap();
    let hidden = moto::versions(m.port, "staging", "p/staging/y");
    assert_eq!(hidden.iter().filter(|v| v.marker).count(), 1, "{hidden:?}");
    assert_eq!(hidden.iter().filter(|v| !v.marker).count(), 1, "{hidden:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_archive_gets_its_lock_and_a_shortened_one_is_extended() {
    let Some(m) = servers::moto() else { return };
    moto::create_locked_bucket(m.port, "multi");
    let s = site(m.port, "multi", true);
    let lock = ObjectLock::new(LockMode::Governance, in_days(365));
    let opts = PutOptions::default().with_lock(Some(lock));
    let data: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = tempfile::tempfile().unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &data, 0).unwrap();
    Uploader::new(s.clone())
        .upload(
            "archives/big.lomo",
            data.len() as u64,
            file,
            5 << 20,
            &opts,
            |_| Ok(()),
        )
        .await
        .unwrap();
    // moto ignores the lock headers of CreateMultipartUpload (AWS keeps
    // them): PutObjectRetention sets what the create asked for.
    if s.head("archives/big.lomo").await.unwrap().lock.is_none() {
        s.set_retention("archives/big.lomo", lock).await.unwrap();
    }
    assert_eq!(s.head("archives/big.lomo").await.unwrap().lock, Some(lock));

    // Shortened behind lomob's back (GOVERNANCE, with the bypass header).
    let soon = lomo_remote::ObjectLock::new(LockMode::Governance, in_days(1));
    moto::shorten_retention(m.port, "multi", "p/archives/big.lomo", &soon.until_text());
    assert_eq!(s.head("archives/big.lomo").await.unwrap().lock, Some(soon));
    let longer = ObjectLock::new(LockMode::Compliance, in_days(3650));
    s.set_retention("archives/big.lomo", longer).await.unwrap();
    assert_eq!(
        s.head("archives/big.lomo").await.unwrap().lock,
        Some(longer)
    );
}
