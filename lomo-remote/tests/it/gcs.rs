//! Google Cloud Storage on fake-gcs-server, with OAuth switched off (the
//! emulator has none).
//!
//! What this proves: lomob's GCS backend (object_store's GCS client behind
//! lomob's trait and meter) reads objects whole and by range, heads, lists
//! and deletes them, and reports missing objects by key.
//! What it cannot prove offline: writes. Upstream fake-gcs-server does not
//! implement the XML API `PUT /bucket/object` and multipart calls that
//! object_store sends (object_store's own CI uses a patched fork), so puts
//! and multipart uploads to GCS are untested here; so are OAuth with real
//! service-account keys, storage classes as GCS applies them, and Google's
//! own error answers. The objects are created through the emulator's JSON
//! upload API instead.

use futures::TryStreamExt as _;
use lomo_remote::{SiteOptions, SiteUrl};

use lomo_remote::testing as servers;

#[tokio::test(flavor = "multi_thread")]
async fn reads_lists_and_deletes() {
    let Some(gcs) = servers::fake_gcs() else {
        return;
    };
    let (status, body) = servers::http(
        gcs.port,
        "POST",
        "/storage/v1/b?project=test",
        &[("Content-Type", "application/json")],
        br#"{"name":"lomob-test"}"#,
    );
    assert_eq!(status, 200, "creating the bucket: {body}");
    let data = lomo_remote::conformance::pattern(300_000, 5);
    for name in [
        "home/a/one.bin",
        "home/a/two.bin",
        "home/b/three.bin",
        "other/x",
    ] {
        let (status, body) = servers::http(
            gcs.port,
            "POST",
            &format!(
                "/upload/storage/v1/b/lomob-test/o?uploadType=media&name={}",
                name.replace('/', "%2F")
            ),
            &[("Content-Type", "application/octet-stream")],
            &data,
        );
        assert_eq!(status, 200, "uploading {name}: {body}");
    }
    let url: SiteUrl = format!(
        "gs://lomob-test/home?emulator=http://127.0.0.1:{}",
        gcs.port
    )
    .parse()
    .unwrap();
    let site = lomo_remote::open(&url, &SiteOptions::named("fake-gcs")).unwrap();

    let whole: Vec<bytes::Bytes> = site
        .get("a/one.bin", None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(whole.concat() == data);
    let part: Vec<bytes::Bytes> = site
        .get("a/two.bin", Some(1000..1100))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(part.concat(), &data[1000..1100]);
    let head = site.head("b/three.bin").await.unwrap();
    assert_eq!((head.key.as_str(), head.size), ("b/three.bin", 300_000));
    let mut keys: Vec<String> = site.list("").map_ok(|o| o.key).try_collect().await.unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["a/one.bin", "a/two.bin", "b/three.bin"],
        "the site prefix scopes the listing"
    );
    let under_a: Vec<String> = site
        .list("a")
        .map_ok(|o| o.key)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(under_a.len(), 2);
    site.delete("a/one.bin").await.unwrap();
    site.delete("a/one.bin").await.unwrap();
    let e = site.head("a/one.bin").await.unwrap_err();
    assert!(
        e.is_not_found() && e.to_string().contains("a/one.bin"),
        "{e}"
    );
    let usage = site.usage();
    assert!(
        usage.requests() >= 8 && usage.bytes_received >= 300_100,
        "{usage:?}"
    );
}
