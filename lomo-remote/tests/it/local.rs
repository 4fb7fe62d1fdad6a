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
