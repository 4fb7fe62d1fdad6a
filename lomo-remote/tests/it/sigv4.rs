//! The requests lomob signs itself (not through object_store), signed for a
//! fixed time and credentials, equal what botocore's S3 SigV4 signer (the
//! Python package everyone's AWS tools use) makes of the same request:
//! Authorization, X-Amz-Date and X-Amz-Content-SHA256, with and without a
//! session token. The AWS test-suite vectors themselves are the aws-sigv4
//! crate's own tests; Garage (tests `garage.rs`) checks the same requests
//! on the wire.

use std::process::Command;
use std::time::{Duration, SystemTime};

use lomo_remote::testing as servers;

/// 2026-01-02T03:04:05Z.
fn when() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045)
}

const BOTOCORE: &str = r#"
import datetime, json, sys
import botocore.auth as auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
req = json.loads(sys.stdin.read())
auth.get_current_datetime = lambda: datetime.datetime(2026, 1, 2, 3, 4, 5)
r = AWSRequest(method=req["method"], url=req["url"], headers=req["headers"],
               data=bytes(req["body"], "latin-1"))
creds = Credentials(req["key"], req["secret"], req.get("token"))
auth.S3SigV4Auth(creds, "s3", req["region"]).add_auth(r)
print(json.dumps({k.lower(): v for k, v in r.headers.items()}))
"#;

fn botocore(
    req: &Request,
    creds: (&str, &str, Option<&str>),
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let input = serde_json::json!({
        "method": req.method,
        "url": req.url,
        "headers": req.headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "body": String::from_utf8(req.body.to_vec()).unwrap(),
        "region": "eu-west-3",
        "key": creds.0,
        "secret": creds.1,
        "token": creds.2,
    });
    let mut child = Command::new("python3")
        .args(["-c", BOTOCORE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if servers::integration() || !err.contains("No module named") {
            panic!("botocore: {err}");
        }
        eprintln!("skipping: botocore is not installed");
        return None;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Request {
    what: &'static str,
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static [u8],
}

/// Each kind of request lomob signs, as it sends them.
fn requests() -> Vec<Request> {
    let b = "http://127.0.0.1:3900/family";
    let restore = b"<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>2</Days><GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters></RestoreRequest>";
    vec![
        Request {
            what: "HEAD with checksum mode",
            method: "HEAD",
            url: format!("{b}/lomob/archives/2024-06-01T120000Z-1.iso.lomo"),
            headers: vec![("x-amz-checksum-mode", "ENABLED")],
            body: b"",
        },
        Request {
            what: "HEAD of a key with spaces, accents and an emoji, as lomob encodes it",
            method: "HEAD",
            url: format!(
                "{b}/{}",
                "upload/Été 2024 🎉 (1).iso"
                    .split('/')
                    .map(|s| url::form_urlencoded::byte_serialize(s.as_bytes())
                        .collect::<String>()
                        .replace('+', "%20"))
                    .collect::<Vec<_>>()
                    .join("/")
            ),
            headers: vec![("x-amz-checksum-mode", "ENABLED")],
            body: b"",
        },
        Request {
            what: "RestoreObject",
            method: "POST",
            url: format!("{b}/lomob/archives/a.iso.lomo?restore"),
            headers: vec![("content-type", "application/xml")],
            body: restore,
        },
        Request {
            what: "ListMultipartUploads, second page",
            method: "GET",
            url: format!(
                "{b}?uploads&prefix=lomob%2Farchives%2F&key-marker=lomob%2Farchives%2Fa.iso&upload-id-marker=abc-123"
            ),
            headers: vec![],
            body: b"",
        },
        Request {
            what: "ListObjectsV2, continued",
            method: "GET",
            url: format!(
                "{b}?list-type=2&prefix=lomob%2Fstaging%2F&continuation-token=1%2Fabc%3D%3D"
            ),
            headers: vec![],
            body: b"",
        },
        Request {
            what: "checksummed PUT in a storage class",
            method: "PUT",
            url: format!("{b}/lomob/staging/ab/abcdef0123"),
            headers: vec![
                (
                    "x-amz-checksum-sha256",
                    "zJw0AwGtS6XlSqJLRC/5ONHthPfzLExac3c8WK83vRs=",
                ),
                ("x-amz-sdk-checksum-algorithm", "SHA256"),
                ("content-type", "application/octet-stream"),
                ("x-amz-storage-class", "STANDARD_IA"),
            ],
            body: b"archive bytes",
        },
    ]
}

#[test]
fn every_request_lomob_signs_matches_botocore() {
    let plain = (
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
    );
    let session = (
        "ASIAEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("IQoJb3JpZ2luX2VjEXAMPLE//token+/="),
    );
    for creds in [plain, session] {
        for req in requests() {
            let Some(theirs) = botocore(&req, creds) else {
                return;
            };
            let ours = servers::signed_headers(
                req.method,
                &req.url,
                &req.headers,
                req.body,
                "eu-west-3",
                creds,
                when(),
            )
            .unwrap();
            let mut names = vec!["authorization", "x-amz-date", "x-amz-content-sha256"];
            if creds.2.is_some() {
                names.push("x-amz-security-token");
            }
            for name in names {
                let mine = ours
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str());
                let boto = theirs.get(name).and_then(|v| v.as_str());
                assert!(boto.is_some(), "{}: botocore set no {name}", req.what);
                assert_eq!(mine, boto, "{}: {name}", req.what);
            }
        }
    }
}
