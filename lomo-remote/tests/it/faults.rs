//! A multipart upload through a proxy that resets or delays a share of the
//! connections still stores the right bytes.

use futures::TryStreamExt as _;
use lomo_remote::{PutOptions, RetryPolicy, Uploader};

use crate::proxy::{Faults, Proxy};
use lomo_remote::testing as servers;

#[tokio::test(flavor = "multi_thread")]
async fn multipart_survives_resets_and_delays() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "flaky");
    let faults = Faults {
        reset_at_start: 80,
        reset_mid_request: 80,
        reset_before_answer: 80,
        delay: 150,
    };
    let proxy = Proxy::start(moto.port, faults, 7).await;
    let retry = RetryPolicy {
        initial_backoff: std::time::Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let url = format!(
        "s3://flaky/x?region=us-east-1&endpoint=http://127.0.0.1:{}",
        proxy.port
    )
    .parse()
    .unwrap();
    let site = lomo_remote::open(&url, &servers::s3_options("flaky").with_retry(retry)).unwrap();
    let part = 5u64 << 20;
    let size = part * 7 + 1234;
    let data = lomo_remote::conformance::pattern(size as usize, 3);
    let src = tempfile::tempfile().unwrap();
    std::os::unix::fs::FileExt::write_all_at(&src, &data, 0).unwrap();

    let v = Uploader::new(site.clone())
        .with_concurrency(3)
        .upload("big.bin", size, src, part, &PutOptions::default(), |_| {
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(v.size, size);
    let got: Vec<bytes::Bytes> = site
        .get("big.bin", None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(got.concat() == data, "stored bytes differ");
    let log = proxy.log.lock().unwrap();
    assert!(
        log.resets >= 2 && log.delays >= 1,
        "faults were injected: {} resets, {} delays",
        log.resets,
        log.delays
    );
    let usage = site.usage();
    assert!(usage.failed >= 2, "failed requests are counted: {usage:?}");
    eprintln!(
        "{} resets, {} delays, usage {usage:?}",
        log.resets, log.delays
    );
}
