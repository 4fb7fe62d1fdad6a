//! A three-node Garage cluster (a real S3 implementation that checks every
//! signature): the conformance suite, paging, and what Garage keeps.

use lomo_remote::testing as servers;

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    let Some(garage) = servers::garage() else {
        return;
    };
    garage.create_bucket("conformance");
    let site = servers::garage_site(garage.s3_port(0), "conformance", "lomob/home");
    lomo_remote::conformance::run_all(site.clone(), "t").await;
    lomo_remote::conformance::lists_past_one_page(site, "many").await;
}

/// What Garage keeps and returns: the SHA-256 sent with a PUT (on HEAD
/// with checksum mode), the composite SHA-256 of a multipart upload, no
/// cold classes (RestoreObject is not implemented: lomob reads every
/// object as it is, and a missing one is still NotFound).
#[tokio::test(flavor = "multi_thread")]
async fn garage_keeps_checksums_and_has_no_cold_classes() {
    use base64::Engine as _;
    use lomo_remote::{Error, PutOptions, RestoreRequest, RestoreStatus, Uploader};
    use sha2::Digest as _;

    let Some(garage) = servers::garage() else {
        return;
    };
    garage.create_bucket("keeps");
    let site = servers::garage_site(garage.s3_port(1), "keeps", "p");
    let data = lomo_remote::conformance::pattern(300_000, 3);
    site.put(
        "one",
        bytes::Bytes::from(data.clone()),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let head = site.head("one").await.unwrap();
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&data));
    assert_eq!(head.sha256.as_deref(), Some(sha.as_str()), "{head:?}");
    assert_eq!(head.restore, Some(RestoreStatus::NotNeeded));
    assert!(
        site.capabilities().restore,
        "S3 until the server says otherwise"
    );
    assert_eq!(
        site.restore("one", RestoreRequest::default())
            .await
            .unwrap(),
        RestoreStatus::NotNeeded
    );
    let caps = site.capabilities();
    assert!(!caps.restore && !caps.storage_classes, "{caps:?}");
    let err = site
        .restore("none", RestoreRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    let part = 5u64 << 20;
    let big = lomo_remote::conformance::pattern((part * 2 + 1000) as usize, 4);
    let src = tempfile::tempfile().unwrap();
    std::os::unix::fs::FileExt::write_all_at(&src, &big, 0).unwrap();
    let up = Uploader::new(site.clone());
    let mut state = up
        .start("big", big.len() as u64, part, &PutOptions::default())
        .await
        .unwrap();
    up.send_parts(&mut state, src, |_| Ok(())).await.unwrap();
    let v = up.complete(&state).await.unwrap();
    let h = site.head("big").await.unwrap();
    let composite = h.sha256.clone().expect("Garage keeps a multipart checksum");
    assert!(
        composite.ends_with("-3"),
        "composite of 3 parts: {composite}"
    );
    assert_eq!(v.sha256.as_deref(), Some(composite.as_str()));
}

/// Garage keeps no object versions: a deleted object is gone, nothing is
/// ever hidden behind a delete marker, and asking says so cleanly
/// (unsupported, or nothing hidden) — never an error that would stop a
/// `recover`.
#[tokio::test(flavor = "multi_thread")]
async fn garage_hides_nothing_behind_delete_markers() {
    use lomo_remote::{Error, PutOptions};
    let Some(garage) = servers::garage() else {
        return;
    };
    garage.create_bucket("markers");
    let site = servers::garage_site(garage.s3_port(0), "markers", "p");
    let opts = PutOptions::default();
    site.put("gone", bytes::Bytes::from_static(b"x"), &opts)
        .await
        .unwrap();
    site.delete("gone").await.unwrap();
    match site.hidden("").await {
        Ok(keys) => assert!(keys.is_empty(), "{keys:?}"),
        Err(Error::Unsupported { .. }) => {}
        Err(e) => panic!("listing hidden objects on Garage: {e}"),
    }
    match site.undelete("gone").await {
        Ok(back) => assert!(!back),
        Err(Error::Unsupported { .. }) => {}
        Err(e) => panic!("undelete on Garage: {e}"),
    }
}
