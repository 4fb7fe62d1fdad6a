//! Google Drive from the command line, against the local Drive v3 fake
//! (no offline Drive server exists; see lomo_remote::testing::drive_fake):
//! the OAuth loopback sign-in as a user does it, token refresh, a Drive
//! site's test and listing.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;

use lomo_remote::testing::drive_fake::DriveFake;

use crate::util::Env;

/// GET `url` (http://127.0.0.1:PORT/…) and return the Location header.
fn follow(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    // A browser turns "http://host:port?q" into "GET /?q".
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, path) = (&rest[..cut], rest[cut..].to_owned());
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let mut s = std::net::TcpStream::connect(host).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
                .map(str::to_owned)
        })
        .or(Some(out))
}

#[test]
fn sign_in_refresh_and_use_a_drive_site() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(DriveFake::start());
    let env = Env::new();
    let config_dir = env.path().join("config/lomob");
    std::fs::create_dir_all(&config_dir).unwrap();
    let cred = config_dir.join("gdrive-credentials.json");
    std::fs::write(&cred, fake.credentials_json()).unwrap();

    // Missing credentials: the error says where to get them.
    let out = env.run(&[
        "util",
        "gcloud-auth",
        "--cred",
        "/nonexistent.json",
        "--no-browser",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent.json") && err.contains("Desktop app"),
        "{err}"
    );

    // The loopback flow: lomob prints the consent URL; the "browser" (this
    // test) opens it, the fake consents and redirects to lomob's listener.
    let mut child = env
        .cmd(&["util", "gcloud-auth", "--no-browser"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut url = String::new();
    let mut seen = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        seen.push_str(&line);
        if line.starts_with("http") {
            url = line.trim().to_owned();
            break;
        }
    }
    if url.is_empty() {
        let out = child.wait_with_output().unwrap();
        panic!(
            "no consent URL; stderr: {seen:?}, status {:?}, stdout {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(url.contains("code_challenge_method=S256"), "{seen}");
    let redirect = follow(&url).expect("consent redirect");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let page = follow(&redirect).unwrap_or_default();
    assert!(page.contains("signed in"), "{page}");
    let status = child.wait().unwrap();
    assert!(status.success());
    let token = config_dir.join("gdrive-token.json");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let t1 = std::fs::read_to_string(&token).unwrap();
    assert!(t1.contains("refresh_token"));

    let out = env.ok(&["util", "gcloud-auth-refresh"], 0);
    assert!(out.contains("token refreshed"), "{out}");
    assert_ne!(std::fs::read_to_string(&token).unwrap(), t1);

    // A Drive site: test it, then list it (tokens expire in between).
    let url = format!("gdrive://lomorage?endpoint={}", fake.url());
    env.add_site("drive", &url, &["--role", "staging"]);
    let report = env.ok(&["site", "test", "drive", "--size", "600KB"], 0);
    assert!(
        report.contains("OK") && report.contains("stored SHA-256 checked"),
        "{report}"
    );
    fake.state.lock().unwrap().expire_tokens();
    assert!(
        fake.state.lock().unwrap().find("lomorage").is_some(),
        "the site test made the root folder"
    );
    // A staged file as the pipeline writes it (plaintext hash in appProperties).
    let rt_site = lomo_remote::open(
        &url.parse().unwrap(),
        &lomo_remote::SiteOptions::named("drive")
            .with_credential("gdrive_credentials", cred.to_str().unwrap())
            .with_credential("gdrive_token", token.to_str().unwrap()),
    )
    .unwrap();
    rt.block_on(async {
        let opts = lomo_remote::PutOptions::default().with_metadata("plain", "abcdef0123456789");
        rt_site
            .put(
                "lomob/staging/ab/abcdef01",
                bytes::Bytes::from_static(b"sealed bytes"),
                &opts,
            )
            .await
            .unwrap();
    });
    let tree = env.ok(&["list", "gdrive"], 0);
    assert!(
        tree.contains("lomob/") && tree.contains("staging/") && tree.contains("abcdef01"),
        "{tree}"
    );
    assert!(
        tree.contains("plain abcdef") && tree.contains("enc "),
        "{tree}"
    );
    let json = env.json(&["list", "gdrive", "lomob/staging"], 0);
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["metadata"]["plain"], "abcdef0123456789");

    // The pipeline stages to Drive: small files in one request, a 40 MB
    // video as a resumable upload; then everything comes back.
    let env = env.with_env("LOMOB_PASSPHRASE", "pw");
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(pics.join("2024")).unwrap();
    for i in 0..20u8 {
        std::fs::write(
            pics.join(format!("2024/IMG_{i:02}.jpg")),
            vec![i; 3000 + usize::from(i) * 100],
        )
        .unwrap();
    }
    let video: Vec<u8> = (0..40_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(pics.join("2024/VID.mp4"), &video).unwrap();
    let out = env.json(&["backup", pics.to_str().unwrap()], 0);
    let drive = out.iter().find(|v| v["site"] == "drive").unwrap();
    assert_eq!(drive["staged"], 21, "{out:?}");
    let tree = env.ok(&["list", "gdrive", "lomob/staging"], 0);
    assert!(
        tree.contains("22 objects"),
        "21 staged + the one put by hand: {tree}"
    );
    let to = env.path().join("restored");
    env.ok(&["restore", "Pictures", "--to", to.to_str().unwrap()], 0);
    assert!(std::fs::read(to.join("Pictures/2024/VID.mp4")).unwrap() == video);
    assert_eq!(
        std::fs::read(to.join("Pictures/2024/IMG_07.jpg")).unwrap(),
        vec![7u8; 3700]
    );
    // The object put by hand above is not lomob's: the check says so.
    let report = env.ok(&["check", "--staging", "--site", "drive", "--deep", "3"], 1);
    assert!(
        report.contains("unexpected lomob/staging/ab/abcdef01")
            && report.contains("21 staged objects, 1 differences"),
        "{report}"
    );
}

/// A Drive staging site with the fake's credentials, in a fresh `Env`.
pub(crate) fn drive_env(fake: &DriveFake) -> Env {
    let env = Env::new().with_env("LOMOB_PASSPHRASE", "pw");
    let config_dir = env.path().join("config/lomob");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("gdrive-credentials.json"),
        fake.credentials_json(),
    )
    .unwrap();
    std::fs::write(config_dir.join("gdrive-token.json"), fake.token_json()).unwrap();
    let url = format!("gdrive://lomorage?endpoint={}", fake.url());
    env.add_site("drive", &url, &["--role", "staging"]);
    env
}

/// The ids a run learned are kept in the catalog: the next process reads a
/// photo with one request; an id gone stale behind lomob's back is looked
/// up again.
#[test]
fn a_later_run_reads_a_photo_in_one_request_from_the_remembered_id() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(DriveFake::start());
    let env = drive_env(&fake);
    let pics = env.path().join("Pictures/2024");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..12u8 {
        std::fs::write(pics.join(format!("IMG {i:02}.jpg")), vec![i; 5000]).unwrap();
    }
    let out = env.json(
        &["backup", env.path().join("Pictures").to_str().unwrap()],
        0,
    );
    assert_eq!(
        out.iter().find(|v| v["site"] == "drive").unwrap()["staged"],
        12
    );
    let db = rusqlite::Connection::open(env.db()).unwrap();
    let kept: i64 = db
        .query_row(
            "SELECT count(*) FROM site_memo WHERE site = 'drive' AND name LIKE 'f:%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(kept >= 12, "object ids kept: {kept}");
    drop(db);

    let to = env.path().join("r");
    let before = fake.state.lock().unwrap().log.len();
    env.ok(
        &[
            "restore",
            "Pictures/2024/IMG 07.jpg",
            "--to",
            to.to_str().unwrap(),
        ],
        0,
    );
    let log: Vec<String> = fake.state.lock().unwrap().log[before..].to_vec();
    assert_eq!(log.len(), 1, "one request: {log:?}");
    assert!(
        log[0].starts_with("GET /drive/v3/files/") && log[0].ends_with("alt=media"),
        "{log:?}"
    );
    assert_eq!(
        std::fs::read(to.join("Pictures/2024/IMG 07.jpg")).unwrap(),
        vec![7u8; 5000]
    );

    // Every staged object re-made under a new id (another writer): the
    // remembered ids 404, and lomob finds the objects again.
    {
        let mut s = fake.state.lock().unwrap();
        let staged: Vec<String> = s
            .files
            .values()
            .filter(|f| s.path_of(&f.id).contains("/staging/") && !f.data.is_empty())
            .map(|f| f.id.clone())
            .collect();
        for id in staged {
            let mut f = s.files.remove(&id).unwrap();
            f.id = format!("{id}-new");
            s.files.insert(f.id.clone(), f);
        }
    }
    let to2 = env.path().join("r2");
    let before = fake.state.lock().unwrap().log.len();
    env.ok(&["restore", "Pictures", "--to", to2.to_str().unwrap()], 0);
    let stale = fake.state.lock().unwrap().log.len() - before;
    assert!(
        stale > 12,
        "each stale id met a 404 and was looked up: {stale}"
    );
    // Without the memo, a new process walks down from My Drive first.
    db_forget(&env);
    let before = fake.state.lock().unwrap().log.len();
    let r3 = env.path().join("r3");
    env.ok(
        &[
            "restore",
            "Pictures/2024/IMG 03.jpg",
            "--to",
            r3.to_str().unwrap(),
        ],
        0,
    );
    let walked = fake.state.lock().unwrap().log[before..].to_vec();
    assert!(
        walked.len() > 1 && walked[0].contains("%27root%27"),
        "{walked:?}"
    );
    for i in 0..12u8 {
        let p = to2.join(format!("Pictures/2024/IMG {i:02}.jpg"));
        assert_eq!(std::fs::read(p).unwrap(), vec![i; 5000]);
    }
}

fn db_forget(env: &Env) {
    rusqlite::Connection::open(env.db())
        .unwrap()
        .execute("DELETE FROM site_memo", [])
        .unwrap();
}

/// A second file of one name beside a staged object (Drive allows it) is
/// reported by the staging check; the newest stands for the key.
#[test]
fn a_duplicate_name_on_drive_is_reported_by_the_staging_check() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(DriveFake::start());
    let env = drive_env(&fake);
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("one.jpg"), vec![1u8; 4000]).unwrap();
    env.json(&["backup", pics.to_str().unwrap()], 0);
    let report = env.ok(&["check", "--staging", "--site", "drive"], 0);
    assert!(report.contains("1 staged objects, all present"), "{report}");
    let name = {
        let mut s = fake.state.lock().unwrap();
        let staged = s
            .files
            .values()
            .find(|f| s.path_of(&f.id).contains("/staging/") && !f.data.is_empty())
            .cloned()
            .unwrap();
        let mut twin = staged.clone();
        twin.id = format!("{}-twin", staged.id);
        s.files.insert(twin.id.clone(), twin);
        staged.name
    };
    let lines = env.json(&["check", "--staging", "--site", "drive"], 1);
    let dup = lines.iter().find(|l| l["kind"] == "duplicate").unwrap();
    assert!(dup["key"].as_str().unwrap().ends_with(&name), "{dup}");
    assert!(
        dup["detail"].as_str().unwrap().contains("2 objects"),
        "{dup}"
    );
    assert!(!lines.iter().any(|l| l["kind"] == "missing"), "{lines:?}");
}
