//! A multipart upload cut off after 40 % of its parts by the death of its
//! process, resumed by another process from the persisted state, on moto
//! (into Deep Archive) and on a three-node Garage cluster (which checks the
//! signatures). A proxy logs every request that reaches the server: no part
//! the first process recorded as done is sent again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use futures::TryStreamExt as _;
use lomo_remote::{Backend, PutOptions, UploadState, Uploader};

use crate::proxy::{Faults, Proxy};
use lomo_remote::testing as servers;

const PART: u64 = 5 << 20;
const PARTS: u64 = 10;
const SIZE: u64 = PART * (PARTS - 1) + 777_777;

fn source(dir: &Path) -> (PathBuf, Vec<u8>) {
    let data = lomo_remote::conformance::pattern(SIZE as usize, 42);
    let path = dir.join("source.bin");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// The site the test uploads to: moto into Deep Archive, or Garage.
fn site(kind: &str, port: u16) -> Arc<dyn Backend> {
    match kind {
        "moto" => servers::s3_site(port, "resume", "arch", "&storage_class=DEEP_ARCHIVE"),
        _ => servers::garage_site(port, "resume", "arch"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_in_a_new_process_sends_only_missing_parts() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "resume");
    resume_through(moto.port, "moto").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_in_a_new_process_on_garage() {
    let Some(garage) = servers::garage() else {
        return;
    };
    garage.create_bucket("resume");
    resume_through(garage.s3_port(0), "garage").await;
}

async fn resume_through(upstream: u16, kind: &str) {
    let proxy = Proxy::start(upstream, Faults::default(), 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = source(dir.path());
    let state_file = dir.path().join("upload.json");

    // First process: uploads until 40 % of the parts are recorded, then dies.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "resume::child_uploads_then_dies",
            "--ignored",
            "--nocapture",
        ])
        .env("LOMO_CHILD_PORT", proxy.port.to_string())
        .env("LOMO_CHILD_KIND", kind)
        .env("LOMO_CHILD_SOURCE", &src)
        .env("LOMO_CHILD_STATE", &state_file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(86),
        "child: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut state: UploadState =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let done_first: Vec<u32> = state.parts.iter().map(|p| p.index).collect();
    assert_eq!(
        done_first.len(),
        4,
        "the child stops at 40 %: {done_first:?}"
    );

    // Second process (this one): a fresh site and uploader from the URL and the state file.
    let site = site(kind, proxy.port);
    let before = site.usage();
    let up = Uploader::new(site.clone()).with_concurrency(3);
    up.send_parts(&mut state, std::fs::File::open(&src).unwrap(), |s| {
        std::fs::write(&state_file, serde_json::to_vec(s).unwrap())
    })
    .await
    .unwrap();
    let v = up.complete(&state).await.unwrap();
    assert_eq!(v.size, SIZE);
    if site.capabilities().stored_checksum {
        assert!(
            v.sha256.is_some(),
            "{kind} keeps the composite SHA-256 of a multipart upload"
        );
    }
    let used = site.usage().since(&before);

    // Every part the first process recorded reached the server exactly once.
    let log = proxy.requests();
    let part_puts = |n: u64| {
        log.iter()
            .filter(|l| {
                l.starts_with("PUT ") && l.contains(&format!("partNumber={n}&"))
                    || l.starts_with("PUT ") && l.contains(&format!("partNumber={n} "))
            })
            .count()
    };
    for &i in &done_first {
        assert_eq!(
            part_puts(u64::from(i) + 1),
            1,
            "part {i} sent again: {log:#?}"
        );
    }
    for i in 0..PARTS {
        assert!(part_puts(i + 1) >= 1, "part {i} never sent");
    }
    let creates = log
        .iter()
        .filter(|l| l.starts_with("POST ") && l.contains("uploads"))
        .count();
    let completes = log
        .iter()
        .filter(|l| l.starts_with("POST ") && l.contains("uploadId="))
        .count();
    assert_eq!((creates, completes), (1, 1), "{log:#?}");
    // This process sent the remaining parts, their bytes, and no more.
    let resumed_parts = PARTS - done_first.len() as u64;
    assert!(
        used.class_a > resumed_parts && used.class_a <= resumed_parts + 3,
        "{used:?}"
    );
    assert!(used.bytes_sent <= SIZE - 4 * PART + 4096, "{used:?}");

    if kind == "moto" {
        // Deep Archive: the bytes come back only after a restore.
        let head = site.head("big.iso").await.unwrap();
        assert_eq!(head.storage_class.as_deref(), Some("DEEP_ARCHIVE"));
        site.restore("big.iso", lomo_remote::RestoreRequest::default())
            .await
            .unwrap();
    }
    let got: Vec<bytes::Bytes> = site
        .get("big.iso", None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        got.concat() == data,
        "resumed object differs from the source"
    );
    assert!(site.list_uploads("").await.unwrap().is_empty());
}

/// Run by the test above in a child process; does nothing on its own.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "helper process of resume_in_a_new_process_sends_only_missing_parts"]
async fn child_uploads_then_dies() {
    let (Ok(port), Ok(kind), Ok(src), Ok(state_file)) = (
        std::env::var("LOMO_CHILD_PORT"),
        std::env::var("LOMO_CHILD_KIND"),
        std::env::var("LOMO_CHILD_SOURCE"),
        std::env::var("LOMO_CHILD_STATE"),
    ) else {
        return;
    };
    let site = site(&kind, port.parse().unwrap());
    let up = Uploader::new(site).with_concurrency(3);
    let mut state = up
        .start("big.iso", SIZE, PART, &PutOptions::default())
        .await
        .unwrap();
    let _ = up
        .send_parts(&mut state, std::fs::File::open(src).unwrap(), |s| {
            std::fs::write(&state_file, serde_json::to_vec(s).unwrap())?;
            if s.parts.len() * 10 >= PARTS as usize * 4 {
                // Die like kill -9 would: parts in flight are abandoned.
                std::process::exit(86);
            }
            Ok(())
        })
        .await;
    panic!("the upload should not get past 40 %");
}
