//! lomob's Drive client against the fake's Google behaviours, one test
//! each; every one fails against the client before ids and listings by
//! parent (it searched by name, created without ids, and sent everything up
//! to 32 MiB as one multipart request).

use bytes::Bytes;
use futures::TryStreamExt as _;
use lomo_remote::testing::drive_fake::{DriveFake, FOLDER_MIME};
use lomo_remote::{Backend, PutOptions, SiteMemo as _};

use crate::gdrive::{open, read, sign_in};

async fn site(fake: &DriveFake) -> (tempfile::TempDir, std::sync::Arc<dyn Backend>) {
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(fake, dir.path());
    let site = open(fake.port, &cred, &token);
    (dir, site)
}

fn count(fake: &DriveFake, path: &str) -> usize {
    fake.state.lock().unwrap().find_all(path).len()
}

async fn keys(site: &dyn Backend, prefix: &str) -> Vec<String> {
    let mut k: Vec<String> = site
        .list(prefix)
        .map_ok(|o| o.key)
        .try_collect()
        .await
        .unwrap();
    k.sort();
    k
}

/// Drive acts, the answer is lost, the client retries: still one folder
/// and one file (the retry meets 409 on the reserved id).
#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_is_lost_makes_one_folder_and_one_file() {
    let fake = DriveFake::start().await;
    let (_d, site) = site(&fake).await;
    // lomorage, lomob, staging, ab: four folder creates, then the file.
    fake.state.lock().unwrap().faults.lose_answers = 5;
    let data = Bytes::from_static(b"sealed photo");
    site.put(
        "lomob/staging/ab/abcdef",
        data.clone(),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.state.lock().unwrap().faults.lose_answers,
        0,
        "all lost"
    );
    for p in [
        "lomorage",
        "lomorage/lomob",
        "lomorage/lomob/staging",
        "lomorage/lomob/staging/ab",
    ] {
        assert_eq!(count(&fake, p), 1, "{p}");
    }
    assert_eq!(count(&fake, "lomorage/lomob/staging/ab/abcdef"), 1);
    assert_eq!(
        read(site.as_ref(), "lomob/staging/ab/abcdef", None).await,
        data
    );
    // A resumable session whose last chunk's answer is lost.
    fake.state.lock().unwrap().faults.lose_answers = 1;
    let big = Bytes::from(lomo_remote::conformance::pattern(6_000_000, 1));
    site.put("lomob/staging/ab/big", big.clone(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(count(&fake, "lomorage/lomob/staging/ab/big"), 1);
    assert!(read(site.as_ref(), "lomob/staging/ab/big", None).await == big);
}

/// `name =` ignores case on Drive: `Foo` and `foo` are two objects, and
/// so are folders `X` and `x`.
#[tokio::test(flavor = "multi_thread")]
async fn names_differing_in_case_are_different_objects() {
    let fake = DriveFake::start().await;
    fake.state.lock().unwrap().quirks.name_index_lag = std::time::Duration::ZERO;
    let (_d, site) = site(&fake).await;
    let o = PutOptions::default();
    for (k, v) in [("X/Foo", "1"), ("X/foo", "2"), ("x/Foo", "3")] {
        site.put(k, Bytes::from(v), &o).await.unwrap();
    }
    assert_eq!(keys(site.as_ref(), "").await, ["X/Foo", "X/foo", "x/Foo"]);
    assert_eq!(read(site.as_ref(), "X/foo", None).await, b"2");
    site.put("X/FOO", Bytes::from("4"), &o).await.unwrap();
    assert_eq!(
        read(site.as_ref(), "X/Foo", None).await,
        b"1",
        "not replaced by FOO"
    );
    site.delete("x/foo").await.unwrap();
    assert_eq!(
        read(site.as_ref(), "x/Foo", None).await,
        b"3",
        "not deleted by foo"
    );
}

/// A file just written is found at once, by this process and by a new
/// one, though Drive's name search does not know it yet.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_is_found_before_the_search_index_knows_it() {
    let fake = DriveFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(&fake, dir.path());
    let first = open(fake.port, &cred, &token);
    let o = PutOptions::default();
    first
        .put("lomob/keys/k", Bytes::from("v1"), &o)
        .await
        .unwrap();
    first
        .put("lomob/keys/k", Bytes::from("v2"), &o)
        .await
        .unwrap();
    assert_eq!(read(first.as_ref(), "lomob/keys/k", None).await, b"v2");
    assert_eq!(
        count(&fake, "lomorage/lomob/keys/k"),
        1,
        "the old one replaced"
    );
    let second = open(fake.port, &cred, &token);
    assert_eq!(second.head("lomob/keys/k").await.unwrap().size, 2);
    // The second writes; the first's cached id is stale and is looked up again.
    second
        .put("lomob/keys/k", Bytes::from("v3!"), &o)
        .await
        .unwrap();
    assert_eq!(read(first.as_ref(), "lomob/keys/k", None).await, b"v3!");
    let log = fake.state.lock().unwrap().log.clone();
    assert!(
        !log.iter()
            .any(|l| l.contains("name%20%3D") || l.contains("name+%3D")),
        "no name searches: {log:?}"
    );
}

/// Objects over 5 MB go up as resumable uploads; a 308 that moves the
/// session is followed.
#[tokio::test(flavor = "multi_thread")]
async fn large_objects_are_resumable_and_a_moved_session_is_followed() {
    let fake = DriveFake::start().await;
    let (_d, site) = site(&fake).await;
    fake.state.lock().unwrap().faults.move_session = true;
    let small = Bytes::from(lomo_remote::conformance::pattern(4_900_000, 2));
    let big = Bytes::from(lomo_remote::conformance::pattern(20_000_000, 3));
    site.put("a/small", small.clone(), &PutOptions::default())
        .await
        .unwrap();
    site.put("a/big", big.clone(), &PutOptions::default())
        .await
        .unwrap();
    {
        let st = fake.state.lock().unwrap();
        assert!(!st.faults.move_session, "the session was moved");
        assert_eq!(
            st.multipart_sizes,
            [4_900_000],
            "only the small one as multipart"
        );
    }
    assert!(read(site.as_ref(), "a/big", None).await == big);
    assert!(read(site.as_ref(), "a/small", Some(10..20)).await == small[10..20]);
}

/// An expired session is "upload gone" (the caller starts over), not a
/// retry loop or a corrupt file.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_session_is_an_upload_gone() {
    let fake = DriveFake::start().await;
    let (_d, site) = site(&fake).await;
    let part = 256 * 1024;
    let opts = PutOptions::default()
        .with_part_size(part)
        .with_size(2 * part);
    let id = site.create_upload("a/v.mp4", &opts).await.unwrap();
    let chunk = Bytes::from(vec![5u8; part as usize]);
    site.put_part("a/v.mp4", &id, 0, chunk.clone())
        .await
        .unwrap();
    fake.state.lock().unwrap().expire_sessions();
    let e = site.put_part("a/v.mp4", &id, 1, chunk).await.unwrap_err();
    assert!(matches!(e, lomo_remote::Error::UploadGone { .. }), "{e}");
    assert!(site.head("a/v.mp4").await.is_err(), "no file made");
}

/// Duplicate folders (left by an older client or a lost answer) are read
/// as one; new files go to the oldest; duplicate files show in listings.
#[tokio::test(flavor = "multi_thread")]
async fn duplicate_folders_are_read_as_one_and_written_to_the_oldest() {
    let fake = DriveFake::start().await;
    let (older, newer) = {
        let mut s = fake.state.lock().unwrap();
        let root = s.seed_own("root", Some("lomorage"), None);
        let older = s.seed_own(&root, Some("lomob"), None);
        let newer = s.seed_own(&root, Some("lomob"), None);
        s.seed_own(&older, Some("one"), Some(Bytes::from("1")));
        s.seed_own(&newer, Some("two"), Some(Bytes::from("2")));
        s.seed_own(&newer, Some("one"), Some(Bytes::from("1 again")));
        (older, newer)
    };
    let (_d, site) = site(&fake).await;
    assert_eq!(read(site.as_ref(), "lomob/two", None).await, b"2");
    site.put("lomob/three", Bytes::from("3"), &PutOptions::default())
        .await
        .unwrap();
    {
        let st = fake.state.lock().unwrap();
        let three = st.files.values().find(|f| f.name == "three").unwrap();
        assert_eq!(
            three.parents,
            [older.as_str()],
            "written to the oldest folder"
        );
        assert_ne!(older, newer);
        assert_eq!(
            st.files.values().filter(|f| f.mime == FOLDER_MIME).count(),
            3,
            "no new folder"
        );
    }
    let listed: Vec<lomo_remote::ObjectInfo> = site.list("lomob").try_collect().await.unwrap();
    let mut names: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["lomob/one", "lomob/one", "lomob/three", "lomob/two"]
    );
    let ids: std::collections::HashSet<_> = listed.iter().map(|o| o.etag.clone()).collect();
    assert_eq!(ids.len(), 4, "each listed with its own Drive id");
}

/// Quota is refused at session start, before a byte is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_drive_refuses_a_large_upload_before_it_starts() {
    let fake = DriveFake::start().await;
    fake.state.lock().unwrap().quota = 10_000_000;
    let (_d, site) = site(&fake).await;
    let big = Bytes::from(vec![1u8; 12_000_000]);
    let e = site
        .put("a/big", big, &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, lomo_remote::Error::Full { .. }), "{e}");
    let log = fake.state.lock().unwrap().log.clone();
    assert!(
        !log.iter().any(|l| l.starts_with("PUT ")),
        "no chunk sent: {log:?}"
    );
}

/// A memo in memory, as a catalog keeps it between processes.
#[derive(Debug, Default)]
struct Memo(std::sync::Mutex<Vec<(String, String)>>);

impl lomo_remote::SiteMemo for Memo {
    fn load(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().clone()
    }
    fn save(&self, entries: Vec<(String, String)>) {
        *self.0.lock().unwrap() = entries;
    }
}

/// Remembered ids serve the next process, and only for the folder they
/// were learned in.
#[tokio::test(flavor = "multi_thread")]
async fn remembered_ids_serve_a_later_process_and_only_their_folder() {
    let fake = DriveFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cred, token) = sign_in(&fake, dir.path());
    let memo = std::sync::Arc::new(Memo::default());
    let at = |folder: &str| {
        let url = format!("gdrive://{folder}?endpoint=http://127.0.0.1:{}", fake.port)
            .parse()
            .unwrap();
        let opts = lomo_remote::SiteOptions::named("drive")
            .with_credential("gdrive_credentials", cred.to_str().unwrap())
            .with_credential("gdrive_token", token.to_str().unwrap())
            .with_memo(memo.clone());
        lomo_remote::open(&url, &opts).unwrap()
    };
    let first = at("lomorage");
    first
        .put(
            "lomob/staging/ab/x",
            Bytes::from("photo"),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    drop(first);
    assert!(!memo.load().is_empty(), "kept when the site is dropped");
    let before = fake.state.lock().unwrap().log.len();
    assert_eq!(
        read(at("lomorage").as_ref(), "lomob/staging/ab/x", None).await,
        b"photo"
    );
    assert_eq!(
        fake.state.lock().unwrap().log.len() - before,
        1,
        "one request"
    );
    let other = at("elsewhere");
    let e = other.get("lomob/staging/ab/x", None).await.err().unwrap();
    assert!(e.is_not_found(), "another folder's ids are not used: {e}");
}
