//! S3 on moto: conformance, Deep Archive, restore, stored checksums.

use lomo_remote::testing as servers;

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "conformance");
    let site = servers::s3_site(moto.port, "conformance", "lomob/home", "");
    lomo_remote::conformance::run_all(site, "t").await;
}

/// Deep Archive: storage class on HEAD, GET refused with a clear error
/// naming the key, RestoreObject, restore status, then GET succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn deep_archive_needs_a_restore() {
    use futures::TryStreamExt as _;
    use lomo_remote::{Error, PutOptions, RestoreRequest, RestoreStatus, RestoreTier};

    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "cold");
    let site = servers::s3_site(moto.port, "cold", "p", "&storage_class=DEEP_ARCHIVE");
    let hot = servers::s3_site(moto.port, "cold", "p", "");
    site.put(
        "archives/a.iso",
        bytes::Bytes::from_static(b"archive bytes"),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    hot.put(
        "catalog/snap",
        bytes::Bytes::from_static(b"hot"),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let explicit = PutOptions::default().with_storage_class(Some("STANDARD".into()));
    site.put(
        "catalog/explicit",
        bytes::Bytes::from_static(b"x"),
        &explicit,
    )
    .await
    .unwrap();

    let h = site.head("archives/a.iso").await.unwrap();
    assert_eq!(h.storage_class.as_deref(), Some("DEEP_ARCHIVE"));
    assert_eq!(h.restore, Some(RestoreStatus::NotRequested));
    assert_eq!(
        h.sha256.as_deref(),
        Some("zJw0AwGtS6XlSqJLRC/5ONHthPfzLExac3c8WK83vRs="),
        "stored SHA-256"
    );
    let listed: Vec<lomo_remote::ObjectInfo> = site.list("").try_collect().await.unwrap();
    let class_of = |k: &str| {
        listed
            .iter()
            .find(|o| o.key == k)
            .and_then(|o| o.storage_class.clone())
    };
    assert_eq!(
        class_of("archives/a.iso").as_deref(),
        Some("DEEP_ARCHIVE"),
        "listing reports classes"
    );
    assert_eq!(class_of("catalog/snap").as_deref(), Some("STANDARD"));
    let hh = site.head("catalog/explicit").await.unwrap();
    assert_ne!(hh.storage_class.as_deref(), Some("DEEP_ARCHIVE"));
    assert_eq!(hh.restore, Some(RestoreStatus::NotNeeded));
    assert_eq!(
        hot.head("catalog/snap").await.unwrap().restore,
        Some(RestoreStatus::NotNeeded)
    );

    let err = match site.get("archives/a.iso", None).await {
        Ok(s) => s.try_collect::<Vec<_>>().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(err, Error::NotRestored { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("archives/a.iso") && msg.contains("moto") && msg.contains("restore"),
        "{msg}"
    );

    let before = site.usage();
    let req = RestoreRequest {
        days: 2,
        tier: RestoreTier::Bulk,
    };
    let st = site.restore("archives/a.iso", req).await.unwrap();
    assert!(
        matches!(st, RestoreStatus::InProgress | RestoreStatus::Ready { .. }),
        "{st:?}"
    );
    assert_eq!(
        site.usage().since(&before).class_a,
        1,
        "RestoreObject is one POST"
    );
    // moto finishes restores at once; AWS reports ongoing-request="true" for hours.
    let h = site.head("archives/a.iso").await.unwrap();
    assert!(
        matches!(h.restore, Some(RestoreStatus::Ready { expires: Some(_) })),
        "{:?}",
        h.restore
    );
    let again = site.restore("archives/a.iso", req).await.unwrap();
    assert!(matches!(again, RestoreStatus::Ready { .. }), "{again:?}");
    let got: Vec<bytes::Bytes> = site
        .get("archives/a.iso", None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got.concat(), b"archive bytes");
    // A hot object needs no restore.
    assert_eq!(
        hot.restore("catalog/snap", req).await.unwrap(),
        RestoreStatus::NotNeeded
    );
}

/// Requests are counted by price class, with bytes.
#[tokio::test(flavor = "multi_thread")]
async fn requests_are_counted_by_class() {
    use futures::TryStreamExt as _;
    use lomo_remote::PutOptions;

    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "ledger");
    let site = servers::s3_site(moto.port, "ledger", "", "");
    site.put(
        "a",
        bytes::Bytes::from(vec![1u8; 1000]),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let _: Vec<_> = site
        .get("a", None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    site.head("a").await.unwrap();
    let _: Vec<_> = site.list("").try_collect().await.unwrap();
    site.delete("a").await.unwrap();
    let u = site.usage();
    assert_eq!((u.class_a, u.class_b, u.free), (2, 2, 1), "{u:?}");
    assert!(u.bytes_sent >= 1000 && u.bytes_sent < 1100, "{u:?}");
    assert!(u.bytes_received >= 1000, "{u:?}");
}

/// A missing bucket and an unreachable server give errors naming site and key.
#[tokio::test(flavor = "multi_thread")]
async fn errors_name_site_and_key() {
    use lomo_remote::PutOptions;

    let Some(moto) = servers::moto() else { return };
    let site = servers::s3_site(moto.port, "no-such-bucket", "", "");
    let e = site
        .put("k1", bytes::Bytes::new(), &PutOptions::default())
        .await
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("moto") && m.contains("k1") && m.contains("NoSuchBucket"),
        "{m}"
    );
    assert!(!e.is_transient(), "{m}");

    let port = servers::free_port();
    let retry = lomo_remote::RetryPolicy {
        max_retries: 2,
        initial_backoff: std::time::Duration::from_millis(10),
        ..Default::default()
    };
    let url = format!("s3://b?region=us-east-1&endpoint=http://127.0.0.1:{port}")
        .parse()
        .unwrap();
    let down = lomo_remote::open(&url, &servers::s3_options("offline").with_retry(retry)).unwrap();
    let e = down.head("k2").await.unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("offline") && m.contains("k2") && m.contains("head"),
        "{m}"
    );
    assert!(e.is_transient(), "connection refused is transient: {m}");
    let e = down
        .put("k3", bytes::Bytes::new(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(e.is_transient() && e.to_string().contains("k3"), "{e}");
    assert_eq!(
        down.usage().failed,
        6,
        "3 attempts each: {:?}",
        down.usage()
    );
}

/// Listings page through more than 1000 objects (S3's page size).
#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_past_1000_objects() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "many");
    let site = servers::s3_site(moto.port, "many", "p", "");
    lomo_remote::conformance::lists_past_one_page(site, "d").await;
}
