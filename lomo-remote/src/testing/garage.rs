//! A three-node Garage cluster on 127.0.0.1: a real, distributed S3
//! implementation that checks every request's signature, for the family
//! cluster tests (three homes, replication factor 3, one zone each).
//!
//! Each node has its own RPC, S3 and admin ports and its own metadata and
//! data folders under one temp dir; the layout is applied, a key imported
//! and buckets created with the `garage` command itself. Nodes can be
//! stopped, started and have their data wiped while the others keep
//! serving. Everything is killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require, wait_port};

/// The access key id imported into every cluster (`GK` + 24 hex digits).
pub const GARAGE_KEY_ID: &str = "GK4c6f6d6f62207465737420";
/// Its secret (64 hex digits).
pub const GARAGE_SECRET: &str = "6c6f6d6f622074657374207365637265742c2066616d696c7920636c75737465";
/// The region Garage's S3 API is configured with.
pub const GARAGE_REGION: &str = "garage";
const RPC_SECRET: &str = "1f5d3c1e0b9a8f7e6d5c4b3a29181716151413121110f0e0d0c0b0a090807060";

/// One node: its config and folders, and its process while it runs.
struct Node {
    config: PathBuf,
    data: PathBuf,
    s3_port: u16,
    rpc_port: u16,
    child: Option<Child>,
}

/// The cluster; see the module docs.
pub struct Garage {
    bin: PathBuf,
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
    /// The layout is applied: starts and stops wait for the others to see.
    formed: bool,
}

/// Starts a three-node cluster with its layout applied and the key
/// [`GARAGE_KEY_ID`] imported; `None` (skip) without the `garage` binary
/// unless `LOMO_TEST_INTEGRATION` is set.
pub fn garage() -> Option<Garage> {
    let bin = require("garage", "LOMO_GARAGE", || None)?;
    let dir = tempfile::tempdir().unwrap();
    let nodes = (0..3).map(|i| node(dir.path(), i)).collect();
    let mut g = Garage {
        bin,
        nodes,
        dir,
        formed: false,
    };
    for i in 0..3 {
        g.start(i);
    }
    g.form_cluster();
    g.formed = true;
    g.cli(
        0,
        &[
            "key",
            "import",
            "--yes",
            "-n",
            "lomob",
            GARAGE_KEY_ID,
            GARAGE_SECRET,
        ],
    );
    Some(g)
}

fn node(dir: &Path, i: usize) -> Node {
    let home = dir.join(format!("home{i}"));
    let (meta, data) = (home.join("meta"), home.join("data"));
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let (s3_port, rpc_port, admin_port) = (free_port(), free_port(), free_port());
    let config = home.join("garage.toml");
    std::fs::write(
        &config,
        format!(
            r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{RPC_SECRET}"

[s3_api]
s3_region = "{GARAGE_REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
            meta = meta.display(),
            data = data.display(),
        ),
    )
    .unwrap();
    Node {
        config,
        data,
        s3_port,
        rpc_port,
        child: None,
    }
}

impl Garage {
    /// `http://127.0.0.1:PORT` of node `i`'s S3 API.
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].s3_port)
    }

    /// A lomob site URL for `bucket`/`prefix` through node `i`.
    pub fn site_url(&self, i: usize, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&region={GARAGE_REGION}",
            self.endpoint(i)
        )
    }

    /// Node `i`'s data folder (where its blocks are).
    pub fn data_dir(&self, i: usize) -> &Path {
        &self.nodes[i].data
    }

    /// The temp dir holding every node's folders and logs.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Creates `bucket`, owned by and writable with the imported key.
    pub fn create_bucket(&self, bucket: &str) {
        self.cli(0, &["bucket", "create", bucket]);
        self.cli(
            0,
            &[
                "bucket", "allow", "--read", "--write", "--owner", bucket, "--key", "lomob",
            ],
        );
    }

    /// Runs `garage ARGS` against node `i`; panics with its output on failure.
    pub fn cli(&self, i: usize, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.nodes[i].config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts node `i` (again), with its log in `home{i}/log`.
    pub fn start(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} is running");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("home{i}/log")))
            .unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c")
            .arg(&self.nodes[i].config)
            .arg("server")
            .env("RUST_LOG", "garage=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = cmd.spawn().unwrap();
        wait_port(self.nodes[i].s3_port, &mut child, "garage");
        wait_port(self.nodes[i].rpc_port, &mut child, "garage");
        self.nodes[i].child = Some(child);
        if self.formed {
            self.wait_healthy();
        }
    }

    /// Kills node `i` (a home going offline, without warning; the others
    /// find out when their requests to it fail).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Node `i`'s disk replaced: stopped, its data folder emptied, started
    /// again (metadata kept, so it keeps its identity and layout role).
    ///
    /// Garage refuses to start on a data folder without its marker file
    /// (an unmounted disk looks the same); for a new disk, the operator
    /// removes `data_layout` from the metadata folder, as its message says.
    pub fn wipe_data(&mut self, i: usize) {
        self.stop(i);
        std::fs::remove_dir_all(&self.nodes[i].data).unwrap();
        std::fs::create_dir_all(&self.nodes[i].data).unwrap();
        let layout = self.nodes[i]
            .data
            .with_file_name("meta")
            .join("data_layout");
        std::fs::remove_file(layout).unwrap();
        self.start(i);
    }

    /// Bytes in node `i`'s data folder.
    pub fn data_bytes(&self, i: usize) -> u64 {
        walkdir(&self.nodes[i].data)
    }

    /// `garage repair --all-nodes --yes tables`, then `… blocks`, then waits
    /// until node `i` holds as many bytes as node `like` again (or 120 s
    /// pass). The resync runs without its default pauses (tranquility 0,
    /// four workers), and every 15 s the block repair is asked again (on a
    /// loaded two-core machine the first one may find little to do yet)
    /// and node `i`'s failed fetches are retried at once (Garage otherwise
    /// waits a minute or more before it tries a failed block again).
    pub fn repair_blocks(&self, i: usize, like: usize) {
        self.cli(like, &["worker", "set", "-a", "resync-tranquility", "0"]);
        self.cli(like, &["worker", "set", "-a", "resync-worker-count", "4"]);
        self.cli(like, &["repair", "--all-nodes", "--yes", "tables"]);
        self.cli(like, &["repair", "--all-nodes", "--yes", "blocks"]);
        let (start, mut asked) = (Instant::now(), Instant::now());
        while self.data_bytes(i) < self.data_bytes(like)
            && start.elapsed() < Duration::from_secs(120)
        {
            if asked.elapsed() > Duration::from_secs(15) {
                self.cli(like, &["repair", "--all-nodes", "--yes", "blocks"]);
                // A block whose fetch failed (its peers still rejoining on
                // a loaded machine) waits Garage's resync retry delay, a
                // minute and more: ask for it now.
                self.cli(i, &["block", "retry-now", "--all"]);
                asked = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if self.data_bytes(i) < self.data_bytes(like) {
            eprintln!(
                "node {i} not refilled; its resync errors:\n{}",
                self.cli(i, &["block", "list-errors"])
            );
        }
    }

    fn node_id(&self, i: usize) -> String {
        self.cli(i, &["node", "id", "-q"]).trim().to_owned()
    }

    /// Connects the nodes, one zone (home) each, 1 GB each, and applies the
    /// layout; returns once node 0 sees every node up.
    fn form_cluster(&self) {
        let ids: Vec<String> = (0..3).map(|i| self.node_id(i)).collect();
        for id in &ids[1..] {
            self.cli(0, &["node", "connect", id]);
        }
        for (i, id) in ids.iter().enumerate() {
            let short = id.split('@').next().unwrap();
            let zone = format!("home{i}");
            self.cli(0, &["layout", "assign", "-z", &zone, "-c", "1G", short]);
        }
        self.cli(0, &["layout", "apply", "--version", "1"]);
        self.wait_healthy();
    }

    /// Waits (up to 60 s) until every running node sees at least every
    /// running node up (`garage status`), so requests to any of them find
    /// their peers.
    pub fn wait_healthy(&self) {
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_some())
            .collect();
        let start = Instant::now();
        for &i in &running {
            loop {
                let out = Command::new(&self.bin)
                    .arg("-c")
                    .arg(&self.nodes[i].config)
                    .arg("status")
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                let healthy = text.split("==== FAILED NODES ====").next().unwrap_or("");
                let up = healthy.matches("127.0.0.1:").count();
                if out.status.success() && up >= running.len() {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "garage node {i} sees {up} of {} nodes up after 60 s: {text}{}",
                    running.len(),
                    String::from_utf8_lossy(&out.stderr)
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn walkdir(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walkdir(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

impl Drop for Garage {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
    }
}

/// Credentials for the imported key.
pub fn garage_options(name: &str) -> crate::SiteOptions {
    crate::SiteOptions::named(name)
        .with_credential("aws_access_key_id", GARAGE_KEY_ID)
        .with_credential("aws_secret_access_key", GARAGE_SECRET)
}

/// A site on `bucket`/`prefix` of a Garage S3 API (a node, or a proxy in
/// front of one) on 127.0.0.1:`port`.
pub fn garage_site(port: u16, bucket: &str, prefix: &str) -> std::sync::Arc<dyn crate::Backend> {
    let url: crate::SiteUrl =
        format!("s3://{bucket}/{prefix}?region={GARAGE_REGION}&endpoint=http://127.0.0.1:{port}")
            .parse()
            .unwrap();
    crate::open(&url, &garage_options("garage")).unwrap()
}

impl Garage {
    /// Node `i`'s S3 port.
    pub fn s3_port(&self, i: usize) -> u16 {
        self.nodes[i].s3_port
    }
}
