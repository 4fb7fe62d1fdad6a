//! Google Drive through lomob's Drive backend, against the local Drive v3
//! fake in `lomo_remote::testing::drive_fake` (no offline Drive server
//! exists; the fake follows Google's documentation, see its module docs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt as _;
use lomo_remote::testing::drive_fake::DriveFake;
use lomo_remote::{Backend, Error, PutOptions, SiteOptions, UploadState, Uploader};

/// Credentials and token files for the fake, in `dir`.
pub(crate) fn sign_in(fake: &DriveFake, dir: &Path) -> (PathBuf, PathBuf) {
    let cred = dir.join("gdrive-credentials.json");
    let token = dir.join("gdrive-token.json");
    std::fs::write(&cred, fake.credentials_json()).unwrap();
    std::fs::write(&token, fake.token_json()).unwrap();
    (cred, token)
}

pub(crate) fn open(port: u16, cred: &Path, token: &Path) -> Arc<dyn Backend> {
    let url = format!("gdrive://lomorage?endpoint=http://127.0.0.1:{port}")
        .parse()
        .unwrap();
    let retry = lomo_remote::RetryPolicy {
        initial_backoff: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let opts = SiteOptions::named("drive")
        .with_credential("gdrive_credentials", cred.to_str().unwrap())
        .with_credential("gdrive_token", token.to_str().unwrap())
        .with_retry(retry);
    lomo_remote::open(&url, &opts).unwrap()
}

pub(crate) async fn read(
    site: &dyn Backend,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let c: Vec<Bytes> = site
        .get(key, range)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    c.concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    let fake = DriveFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(&fake, dir.path());
    let site = open(fake.port, &cred, &token);
    lomo_remote::conformance::run_all(site, "t").await;
}

/// 200 small files staged with their hashes as appProperties, through
/// 429/503/403 bursts and a token expiry; listed and read back.
#[tokio::test(flavor = "multi_thread")]
async fn staging_200_files_through_rate_limits_and_token_expiry() {
    let fake = DriveFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(&fake, dir.path());
    let token_before = std::fs::read_to_string(&token).unwrap();
    let site = open(fake.port, &cred, &token);
    let mut expected = Vec::new();
    for i in 0..200u32 {
        if i == 50 {
            fake.state
                .lock()
                .unwrap()
                .faults
                .fail_next
                .extend([429, 503, 403, 429, 503]);
        }
        if i == 120 {
            fake.state.lock().unwrap().expire_tokens();
        }
        let data = lomo_remote::conformance::pattern(500 + (i as usize * 97) % 40_000, i);
        let key = format!("lomob/staging/{:02x}/{:08x}", i % 16, i);
        let opts = PutOptions::default().with_metadata("plain", format!("{i:064x}"));
        let v = Uploader::new(site.clone())
            .put(&key, Bytes::from(data.clone()), &opts)
            .await
            .unwrap();
        assert!(v.sha256.is_some(), "Drive reports sha256Checksum");
        expected.push((key, data));
    }
    let token_after = std::fs::read_to_string(&token).unwrap();
    assert_ne!(
        token_before, token_after,
        "the refreshed token is written back"
    );
    let listed: Vec<lomo_remote::ObjectInfo> =
        site.list("lomob/staging").try_collect().await.unwrap();
    assert_eq!(listed.len(), 200);
    let one = listed.iter().find(|o| o.key == expected[7].0).unwrap();
    assert_eq!(
        one.metadata.get("plain").map(String::as_str),
        Some(format!("{:064x}", 7).as_str())
    );
    assert_eq!(one.size, expected[7].1.len() as u64);
    for (key, data) in &expected {
        assert!(read(site.as_ref(), key, None).await == *data, "{key}");
    }
    let u = site.usage();
    // 429 and 503 count as failed requests; the 403 rate limit is backed off too.
    assert!(
        u.failed >= 4,
        "the injected failures were met and retried: {u:?}"
    );
    assert!(fake.state.lock().unwrap().faults.fail_next.is_empty());
    // The fake holds exactly these files under lomorage/lomob/staging.
    let st = fake.state.lock().unwrap();
    let files = st
        .files
        .values()
        .filter(|f| f.mime != lomo_remote::testing::drive_fake::FOLDER_MIME)
        .count();
    assert_eq!(files, 200);
    assert!(st.find("lomorage/lomob/staging/07/00000007").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn full_drive_is_a_clear_error() {
    let fake = DriveFake::start().await;
    fake.state.lock().unwrap().quota = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(&fake, dir.path());
    let site = open(fake.port, &cred, &token);
    site.put("a", Bytes::from(vec![1u8; 900_000]), &PutOptions::default())
        .await
        .unwrap();
    let e = site
        .put("b", Bytes::from(vec![1u8; 200_000]), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Full { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("drive")
            && m.contains(" b:")
            && m.contains("Google Drive is full")
            && m.contains("used"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_token_says_sign_in_again() {
    let fake = DriveFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(&fake, dir.path());
    let mut t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token).unwrap()).unwrap();
    t["refresh_token"] = "revoked".into();
    std::fs::write(&token, t.to_string()).unwrap();
    fake.state.lock().unwrap().expire_tokens();
    let site = open(fake.port, &cred, &token);
    let e = site.head("x").await.unwrap_err();
    let m = e.to_string();
    assert!(m.contains("gcloud-auth") && m.contains("drive"), "{m}");
}

const BIG: u64 = 300_000_000;
const PART: u64 = 8 << 20;

fn big_source(dir: &Path) -> PathBuf {
    let p = dir.join("big.mp4");
    if !p.exists() {
        let mut f = std::fs::File::create(&p).unwrap();
        let block = lomo_remote::conformance::pattern(1 << 20, 99);
        let mut left = BIG;
        let mut i = 0u8;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            let mut b = block[..n].to_vec();
            b[0] = i;
            i = i.wrapping_add(1);
            std::io::Write::write_all(&mut f, &b).unwrap();
            left -= n as u64;
        }
    }
    p
}

/// A 300 MB file: the connection is cut mid-chunk (the uploader asks Drive
/// what it has and goes on), then the process dies at 40 %; another process
/// resumes from the persisted state after the access token expired, and
/// Drive ends up with identical bytes.
#[tokio::test(flavor = "multi_thread")]
async fn big_upload_survives_a_cut_and_a_killed_process() {
    let fake = DriveFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(&fake, dir.path());
    let src = big_source(dir.path());
    let state_file = dir.path().join("upload.json");
    // Cut inside the third chunk.
    fake.state.lock().unwrap().faults.cut_at_offset = Some(2 * PART + 3_000_000);

    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "gdrive::child_uploads_big_file_then_dies",
            "--ignored",
            "--nocapture",
        ])
        .env("LOMO_CHILD_PORT", fake.port.to_string())
        .env("LOMO_CHILD_DIR", dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(
        child.status.code(),
        Some(86),
        "child: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    let mut state: UploadState =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let done = state.parts.len();
    assert!(
        done * 10 >= state.part_count() as usize * 4 && done < state.part_count() as usize,
        "{done}"
    );
    assert!(
        fake.state.lock().unwrap().faults.cut_at_offset.is_none(),
        "the cut happened"
    );

    fake.state.lock().unwrap().expire_tokens();
    let site = open(fake.port, &cred, &token);
    let up = Uploader::new(site.clone());
    let before = site.usage();
    up.send_parts(&mut state, std::fs::File::open(&src).unwrap(), |s| {
        std::fs::write(&state_file, serde_json::to_vec(s).unwrap())
    })
    .await
    .unwrap();
    let v = up.complete(&state).await.unwrap();
    assert_eq!(v.size, BIG);
    // The parts the dead process finished are not sent again; the first
    // chunk goes out twice, once answered 401 (expired token) and once
    // after the refresh.
    let sent = site.usage().since(&before).bytes_sent;
    let remaining = BIG - done as u64 * PART;
    assert!(
        sent >= remaining && sent <= remaining + PART + 65_536,
        "resumed without resending done parts: {sent}"
    );

    let source = std::fs::read(&src).unwrap();
    {
        let st = fake.state.lock().unwrap();
        let f = st.find("lomorage/lomob/archives/big.mp4").expect("stored");
        assert!(
            f.data.as_ref() == source.as_slice(),
            "Drive's bytes differ from the source"
        );
    }
    // Restore round trip: whole and a range across a chunk boundary.
    let back = read(site.as_ref(), "lomob/archives/big.mp4", None).await;
    assert!(back == source);
    let r = (PART * 5 - 10)..(PART * 5 + 10);
    assert_eq!(
        read(site.as_ref(), "lomob/archives/big.mp4", Some(r.clone())).await,
        &source[r.start as usize..r.end as usize]
    );
    let head = site.head("lomob/archives/big.mp4").await.unwrap();
    assert_eq!(head.size, BIG);
}

/// Run by the test above in a child process; does nothing on its own.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "helper process of big_upload_survives_a_cut_and_a_killed_process"]
async fn child_uploads_big_file_then_dies() {
    let (Ok(port), Ok(dir)) = (
        std::env::var("LOMO_CHILD_PORT"),
        std::env::var("LOMO_CHILD_DIR"),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let site = open(
        port.parse().unwrap(),
        &dir.join("gdrive-credentials.json"),
        &dir.join("gdrive-token.json"),
    );
    let up = Uploader::new(site);
    let mut state = up
        .start("lomob/archives/big.mp4", BIG, PART, &PutOptions::default())
        .await
        .unwrap();
    let state_file = dir.join("upload.json");
    let _ = up
        .send_parts(
            &mut state,
            std::fs::File::open(big_source(&dir)).unwrap(),
            |s| {
                std::fs::write(&state_file, serde_json::to_vec(s).unwrap())?;
                if s.parts.len() * 10 >= s.part_count() as usize * 4 {
                    std::process::exit(86);
                }
                Ok(())
            },
        )
        .await;
    panic!("the upload should not get past 40 %");
}
