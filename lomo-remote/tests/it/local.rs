//! A temp folder as a site.

use lomo_remote::{SiteOptions, SiteUrl};

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let site = lomo_remote::open(
        &SiteUrl::local(dir.path()).unwrap(),
        &SiteOptions::named("disk"),
    )
    .unwrap();
    lomo_remote::conformance::run_all(site, "t").await;
    // Nothing is left behind: no temp files, no upload folders.
    let mut left = Vec::new();
    for e in walk(dir.path()) {
        left.push(e);
    }
    assert!(left.iter().all(|p| !p.is_file()), "{left:?}");
}

#[test]
fn missing_folder_is_reported_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("unmounted-disk");
    let e =
        lomo_remote::open(&SiteUrl::local(&gone).unwrap(), &SiteOptions::named("usb")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("usb") && msg.contains("unmounted-disk") && msg.contains("not mounted"),
        "{msg}"
    );
    assert!(!gone.exists());
}

/// Reads a file like `std::fs::File` and remembers its longest read.
struct Counting(
    std::fs::File,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
);

impl lomo_remote::PartSource for Counting {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.1
            .fetch_max(buf.len(), std::sync::atomic::Ordering::Relaxed);
        lomo_remote::PartSource::read_at(&mut self.0, offset, buf)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parts_go_to_a_folder_in_pieces_not_whole() {
    let dir = tempfile::tempdir().unwrap();
    let site = lomo_remote::open(
        &SiteUrl::local(dir.path()).unwrap(),
        &SiteOptions::named("disk"),
    )
    .unwrap();
    assert!(site.capabilities().streamed_parts);
    let data = lomo_remote::conformance::pattern(5 << 20 | 12_345, 3);
    let src = tempfile::tempfile().unwrap();
    std::os::unix::fs::FileExt::write_all_at(&src, &data, 0).unwrap();
    let longest = std::sync::Arc::default();
    let up = lomo_remote::Uploader::new(site.clone()).with_piece_size(100_000);
    let mut parts = 0;
    let source = Counting(src, std::sync::Arc::clone(&longest));
    up.upload(
        "big.bin",
        data.len() as u64,
        source,
        1 << 20,
        &lomo_remote::PutOptions::default(),
        |_| {
            parts += 1;
            Ok(())
        },
    )
    .await
    .unwrap();
    assert_eq!(parts, 6);
    assert_eq!(longest.load(std::sync::atomic::Ordering::Relaxed), 100_000);
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap(), data);
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
