//! The Drive fake's own tests: the documented behaviours it claims, checked
//! with raw HTTP requests (not through lomob's client).

use base64::Engine as _;
use lomo_remote::testing::drive_fake::{DriveFake, Quirks, SCOPE_READONLY};
use lomo_remote::testing::raw;
use serde_json::Value;
use sha2::Digest as _;

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_pkce_refresh_and_bearer_tokens() {
    let fake = DriveFake::start().await;
    let p = fake.port;
    let (client, secret) = {
        let s = fake.state.lock().unwrap();
        (s.client_id.clone(), s.client_secret.clone())
    };
    blocking(move || {
        assert_eq!(raw(p, "GET", "/drive/v3/files", &[], b"").0, 401, "no bearer token");
        let verifier = "v".repeat(43);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let consent = |state: &str| {
            let (status, head, _) = raw(p, "GET", &format!("/auth?response_type=code&client_id={client}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9&code_challenge={challenge}&code_challenge_method=S256&state={state}&scope=s"), &[], b"");
            assert_eq!(status, 302);
            let loc = header(&head, "location").unwrap().to_owned();
            assert!(loc.starts_with(&format!("http://127.0.0.1:9?state={state}&code=")), "{loc}");
            loc.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned()
        };
        let ct = [("Content-Type", "application/x-www-form-urlencoded")];
        let exchange = |code: &str, verifier: &str| {
            let form = format!("grant_type=authorization_code&code={code}&code_verifier={verifier}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9&client_id={client}&client_secret={secret}");
            raw(p, "POST", "/token", &ct, form.as_bytes())
        };
        let code = consent("one");
        let (status, _, body) = exchange(&code, &"w".repeat(43));
        assert_eq!(status, 400, "a wrong PKCE verifier is refused");
        assert_eq!(json(&body)["error"], "invalid_grant");
        let (status, _, body) = exchange(&code, &verifier);
        assert_eq!(status, 400, "a code works once");
        let _ = body;
        let code = consent("two");
        let (status, _, body) = exchange(&code, &verifier);
        assert_eq!(status, 200);
        let t = json(&body);
        let refresh = t["refresh_token"].as_str().unwrap().to_owned();
        let access = t["access_token"].as_str().unwrap().to_owned();
        let bearer = format!("Bearer {access}");
        let (status, _, body) = raw(p, "GET", "/drive/v3/about?fields=storageQuota", &[("Authorization", &bearer)], b"");
        assert_eq!(status, 200);
        assert_eq!(json(&body)["storageQuota"]["limit"], "15000000000");
        (refresh, access)
    })
    .await;
    fake.state.lock().unwrap().expire_tokens();
    let (client, secret) = {
        let s = fake.state.lock().unwrap();
        (s.client_id.clone(), s.client_secret.clone())
    };
    let refresh = fake.state.lock().unwrap().grant().0;
    blocking(move || {
        let form = format!("grant_type=refresh_token&refresh_token={refresh}&client_id={client}&client_secret={secret}");
        let (status, _, body) = raw(p, "POST", "/token", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
        assert_eq!(status, 200);
        let access = json(&body)["access_token"].as_str().unwrap().to_owned();
        assert_eq!(raw(p, "GET", "/drive/v3/files", &[("Authorization", &format!("Bearer {access}"))], b"").0, 200);
        let bad = "grant_type=refresh_token&refresh_token=nope&client_id=x&client_secret=y";
        assert_eq!(raw(p, "POST", "/token", &[], bad.as_bytes()).0, 401, "unknown client");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_uploads_paging_masks_and_ranges() {
    let fake = DriveFake::start().await;
    let p = fake.port;
    let access = fake.state.lock().unwrap().grant().1;
    // Exact, current name searches here; Google's own are tested below.
    fake.state.lock().unwrap().quirks = Quirks::kind();
    blocking(move || {
        let bearer = format!("Bearer {access}");
        let auth = ("Authorization", bearer.as_str());
        for i in 0..5 {
            let body = format!("--b\r\nContent-Type: application/json\r\n\r\n{{\"name\":\"f{i}\",\"appProperties\":{{\"h\":\"{i}\"}}}}\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\nhello {i}\r\n--b--\r\n");
            let (status, _, b) = raw(p, "POST", "/upload/drive/v3/files?uploadType=multipart&fields=id,size,sha256Checksum", &[auth, ("Content-Type", "multipart/related; boundary=b")], body.as_bytes());
            assert_eq!(status, 200);
            let f = json(&b);
            assert_eq!(f["size"], "7");
            assert_eq!(f["sha256Checksum"], format!("{:x}", sha2::Sha256::digest(format!("hello {i}").as_bytes())));
        }
        // Default field mask, paging.
        let (_, _, b) = raw(p, "GET", "/drive/v3/files?pageSize=2", &[auth], b"");
        let page = json(&b);
        assert_eq!(page["files"].as_array().unwrap().len(), 2);
        assert!(page.get("nextPageToken").is_none(), "not in the default mask");
        assert!(page["files"][0].get("size").is_none(), "default file fields are kind,id,name,mimeType");
        let (_, _, b) = raw(p, "GET", "/drive/v3/files?pageSize=2&fields=nextPageToken,files(name,size)", &[auth], b"");
        let token = json(&b)["nextPageToken"].as_str().unwrap().to_owned();
        let (_, _, b) = raw(p, "GET", &format!("/drive/v3/files?pageSize=4&pageToken={token}&fields=nextPageToken,files(name)"), &[auth], b"");
        let last = json(&b);
        assert_eq!(last["files"].as_array().unwrap().len(), 3);
        assert!(last.get("nextPageToken").is_none());
        let (_, _, b) = raw(p, "GET", "/drive/v3/files?q=name%20%3D%20%27f3%27%20and%20trashed%20%3D%20false&fields=files(id,appProperties)", &[auth], b"");
        assert_eq!(json(&b)["files"][0]["appProperties"]["h"], "3");

        // Resumable upload of 256 KiB + 10 bytes.
        let (status, head, _) = raw(p, "POST", "/upload/drive/v3/files?uploadType=resumable", &[auth, ("Content-Type", "application/json"), ("X-Upload-Content-Length", "262154")], br#"{"name":"big"}"#);
        assert_eq!(status, 200);
        let session = header(&head, "location").unwrap().strip_prefix(&format!("http://127.0.0.1:{p}")).unwrap().to_owned();
        let (status, head, _) = raw(p, "PUT", &session, &[auth, ("Content-Range", "bytes */262154")], b"");
        assert_eq!(status, 308);
        assert!(header(&head, "range").is_none(), "nothing received yet");
        let (status, _, _) = raw(p, "PUT", &session, &[auth, ("Content-Range", "bytes 0-99999/262154")], &[7u8; 100_000]);
        assert_eq!(status, 400, "non-final chunks are multiples of 256 KiB");
        let (status, head, _) = raw(p, "PUT", &session, &[auth, ("Content-Range", "bytes 0-262143/262154")], &[7u8; 262_144]);
        assert_eq!(status, 308);
        assert_eq!(header(&head, "range"), Some("bytes=0-262143"));
        let (status, _, b) = raw(p, "PUT", &session, &[auth, ("Content-Range", "bytes 262144-262153/262154")], b"0123456789");
        assert_eq!(status, 200);
        let id = json(&b)["id"].as_str().unwrap().to_owned();
        let (status, _, _) = raw(p, "PUT", &session, &[auth, ("Content-Range", "bytes */262154")], b"");
        assert_eq!(status, 200, "a finished session answers with the file");
        let (status, head, b) = raw(p, "GET", &format!("/drive/v3/files/{id}?alt=media"), &[auth, ("Range", "bytes=262140-262149")], b"");
        assert_eq!(status, 206);
        assert_eq!(header(&head, "content-range"), Some("bytes 262140-262149/262154"));
        assert_eq!(b, b"\x07\x07\x07\x07012345");
        assert_eq!(raw(p, "DELETE", &format!("/drive/v3/files/{id}"), &[auth], b"").0, 204);
        assert_eq!(raw(p, "GET", &format!("/drive/v3/files/{id}"), &[auth], b"").0, 404);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_failures_and_quota() {
    let fake = DriveFake::start().await;
    let p = fake.port;
    let access = fake.state.lock().unwrap().grant().1;
    {
        let mut s = fake.state.lock().unwrap();
        s.faults.fail_next.extend([429, 403, 503]);
        s.quota = 10;
    }
    blocking(move || {
        let bearer = format!("Bearer {access}");
        let auth = ("Authorization", bearer.as_str());
        let (s1, _, b1) = raw(p, "GET", "/drive/v3/files", &[auth], b"");
        let (s2, _, b2) = raw(p, "GET", "/drive/v3/files", &[auth], b"");
        let (s3, _, _) = raw(p, "GET", "/drive/v3/files", &[auth], b"");
        let (s4, _, _) = raw(p, "GET", "/drive/v3/files", &[auth], b"");
        assert_eq!((s1, s2, s3, s4), (429, 403, 503, 200));
        assert_eq!(json(&b1)["error"]["errors"][0]["reason"], "rateLimitExceeded");
        assert_eq!(json(&b2)["error"]["errors"][0]["reason"], "userRateLimitExceeded");
        let body = "--b\r\nContent-Type: application/json\r\n\r\n{\"name\":\"x\"}\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n0123456789abc\r\n--b--\r\n";
        let (status, _, b) = raw(p, "POST", "/upload/drive/v3/files?uploadType=multipart", &[auth, ("Content-Type", "multipart/related; boundary=b")], body.as_bytes());
        assert_eq!(status, 403);
        assert_eq!(json(&b)["error"]["errors"][0]["reason"], "storageQuotaExceeded");
    })
    .await;
}

fn multipart(meta: &str, media: &str) -> String {
    format!(
        "--b\r\nContent-Type: application/json\r\n\r\n{meta}\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n{media}\r\n--b--\r\n"
    )
}

/// What Google does that a kind server would not: `name =` ignores case and
/// lags behind creates, duplicate names are allowed, ids come from
/// generateIds and a second create with one is a 409.
#[tokio::test(flavor = "multi_thread")]
async fn name_search_lags_and_ignores_case_and_ids_make_creates_idempotent() {
    let fake = DriveFake::start().await;
    let p = fake.port;
    let access = fake.state.lock().unwrap().grant().1;
    let st = fake.state.clone();
    blocking(move || {
        let bearer = format!("Bearer {access}");
        let auth = ("Authorization", bearer.as_str());
        let mp = [auth, ("Content-Type", "multipart/related; boundary=b")];
        let up = "/upload/drive/v3/files?uploadType=multipart";
        for name in ["Foo.jpg", "Foo.jpg"] {
            assert_eq!(
                raw(
                    p,
                    "POST",
                    up,
                    &mp,
                    multipart(&format!(r#"{{"name":"{name}"}}"#), "x").as_bytes()
                )
                .0,
                200
            );
        }
        let by_name = "/drive/v3/files?q=name%20%3D%20%27foo.JPG%27&fields=files(id,name)";
        let by_parent = "/drive/v3/files?q=%27root%27%20in%20parents&fields=files(id,name)";
        assert_eq!(
            json(&raw(p, "GET", by_name, &[auth], b"").2)["files"]
                .as_array()
                .unwrap()
                .len(),
            0,
            "not indexed yet"
        );
        assert_eq!(
            json(&raw(p, "GET", by_parent, &[auth], b"").2)["files"]
                .as_array()
                .unwrap()
                .len(),
            2,
            "listings by parent are current, duplicates kept"
        );
        st.lock().unwrap().quirks.name_index_lag = std::time::Duration::ZERO;
        assert_eq!(
            json(&raw(p, "GET", by_name, &[auth], b"").2)["files"]
                .as_array()
                .unwrap()
                .len(),
            2,
            "case ignored"
        );

        let (status, _, b) = raw(
            p,
            "GET",
            "/drive/v3/files/generateIds?count=2&space=drive&type=files",
            &[auth],
            b"",
        );
        assert_eq!(status, 200);
        let ids = json(&b)["ids"].as_array().unwrap().clone();
        assert_eq!(ids.len(), 2);
        let id = ids[0].as_str().unwrap();
        let folder = format!(
            r#"{{"id":"{id}","name":"F","mimeType":"application/vnd.google-apps.folder"}}"#
        );
        let ct = [auth, ("Content-Type", "application/json")];
        assert_eq!(
            raw(p, "POST", "/drive/v3/files", &ct, folder.as_bytes()).0,
            200
        );
        let (status, _, b) = raw(p, "POST", "/drive/v3/files", &ct, folder.as_bytes());
        assert_eq!(status, 409, "a retried create with the same id");
        assert_eq!(json(&b)["error"]["code"], 409);
        let made_up = r#"{"id":"notgenerated","name":"G"}"#;
        assert_eq!(
            raw(p, "POST", "/drive/v3/files", &ct, made_up.as_bytes()).0,
            400
        );
        // A lost answer: Drive made the file, the client heard nothing.
        st.lock().unwrap().faults.lose_answers = 1;
        let id2 = ids[1].as_str().unwrap();
        let (status, _, _) = raw(
            p,
            "POST",
            up,
            &mp,
            multipart(&format!(r#"{{"id":"{id2}","name":"lost"}}"#), "y").as_bytes(),
        );
        assert_eq!(status, 0, "connection cut without an answer");
        assert!(
            st.lock().unwrap().files.contains_key(id2),
            "but the file exists"
        );
        assert_eq!(
            raw(
                p,
                "POST",
                up,
                &mp,
                multipart(&format!(r#"{{"id":"{id2}","name":"lost"}}"#), "y").as_bytes()
            )
            .0,
            409
        );
        // A nameless create is "Untitled".
        let (_, _, b) = raw(p, "POST", "/drive/v3/files?fields=name", &ct, b"{}");
        assert_eq!(json(&b)["name"], "Untitled");
    })
    .await;
}

/// Resumable sessions: the quota is checked at the start, a misaligned
/// non-final chunk is refused and not kept, a 308 may move the session,
/// and an expired session is a 404.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_check_quota_refuse_misaligned_chunks_move_and_expire() {
    let fake = DriveFake::start().await;
    let p = fake.port;
    let access = fake.state.lock().unwrap().grant().1;
    let st = fake.state.clone();
    blocking(move || {
        let bearer = format!("Bearer {access}");
        let auth = ("Authorization", bearer.as_str());
        let start = |len: &str| {
            let (status, head, _) = raw(
                p,
                "POST",
                "/upload/drive/v3/files?uploadType=resumable",
                &[
                    auth,
                    ("Content-Type", "application/json"),
                    ("X-Upload-Content-Length", len),
                ],
                br#"{"name":"big"}"#,
            );
            (
                status,
                header(&head, "location").map(|l| {
                    l.strip_prefix(&format!("http://127.0.0.1:{p}"))
                        .unwrap()
                        .to_owned()
                }),
            )
        };
        assert_eq!(
            start("16000000000").0,
            403,
            "over the 15 GB quota at session start"
        );
        let session = start("600000").1.unwrap();
        let (status, _, _) = raw(
            p,
            "PUT",
            &session,
            &[auth, ("Content-Range", "bytes 0-299999/600000")],
            &[1u8; 300_000],
        );
        assert_eq!(status, 400);
        let (_, head, _) = raw(
            p,
            "PUT",
            &session,
            &[auth, ("Content-Range", "bytes */600000")],
            b"",
        );
        assert!(
            header(&head, "range").is_none(),
            "nothing of the refused chunk kept"
        );
        st.lock().unwrap().faults.move_session = true;
        let (status, head, _) = raw(
            p,
            "PUT",
            &session,
            &[auth, ("Content-Range", "bytes 0-262143/600000")],
            &[1u8; 262_144],
        );
        assert_eq!(status, 308);
        let moved = header(&head, "location")
            .unwrap()
            .strip_prefix(&format!("http://127.0.0.1:{p}"))
            .unwrap()
            .to_owned();
        assert_eq!(
            raw(
                p,
                "PUT",
                &session,
                &[auth, ("Content-Range", "bytes */600000")],
                b""
            )
            .0,
            404,
            "the old URI is gone"
        );
        let (status, head, _) = raw(
            p,
            "PUT",
            &moved,
            &[auth, ("Content-Range", "bytes */600000")],
            b"",
        );
        assert_eq!(
            (status, header(&head, "range")),
            (308, Some("bytes=0-262143"))
        );
        st.lock().unwrap().expire_sessions();
        assert_eq!(
            raw(
                p,
                "PUT",
                &moved,
                &[auth, ("Content-Range", "bytes */600000")],
                b""
            )
            .0,
            404
        );
    })
    .await;
}

/// `drive.file` sees only this app's files; `drive.readonly` sees all and
/// writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn scopes_limit_what_a_token_sees_and_does() {
    let fake = DriveFake::start().await;
    let p = fake.port;
    let (own, ro) = {
        let mut s = fake.state.lock().unwrap();
        s.seed("root", Some("lomorage"), None);
        (s.grant().1, s.grant_scope(SCOPE_READONLY).1)
    };
    blocking(move || {
        let list = |t: &str| {
            let b = format!("Bearer {t}");
            json(
                &raw(
                    p,
                    "GET",
                    "/drive/v3/files?fields=files(name)",
                    &[("Authorization", &b)],
                    b"",
                )
                .2,
            )["files"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(
            list(&own),
            0,
            "drive.file: another app's folder is invisible"
        );
        assert_eq!(list(&ro), 1);
        let b = format!("Bearer {ro}");
        let (status, _, body) = raw(
            p,
            "POST",
            "/drive/v3/files",
            &[("Authorization", &b), ("Content-Type", "application/json")],
            b"{}",
        );
        assert_eq!(status, 403);
        assert_eq!(
            json(&body)["error"]["errors"][0]["reason"],
            "insufficientPermissions"
        );
    })
    .await;
}
