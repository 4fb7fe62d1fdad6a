//! Running the real `lomob` binary in temp dirs, and finding the test tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Whether the full integration suite is asked for (the README's test command
/// sets it): then a missing tool is a failure, never a skip.
pub fn integration() -> bool {
    std::env::var_os("LOMO_TEST_INTEGRATION").is_some()
}

/// Finds `tool` on PATH; `None` (skip) only outside the integration suite.
pub fn require(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !integration(),
            "{tool} is missing but LOMO_TEST_INTEGRATION is set: run scripts/test, which installs it"
        );
        eprintln!("skipping: {tool} not installed (set LOMO_TEST_INTEGRATION to make this fail)");
    }
    found
}

/// shared/tools/mkdataset.py beside the checkout (or `LOMOB_MKDATASET`).
pub fn mkdataset() -> Option<PathBuf> {
    let p = std::env::var_os("LOMOB_MKDATASET").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/mkdataset.py"),
        PathBuf::from,
    );
    if p.is_file() {
        return Some(p);
    }
    assert!(
        !integration(),
        "{} is missing but LOMO_TEST_INTEGRATION is set",
        p.display()
    );
    eprintln!("skipping: {} not found", p.display());
    None
}

/// Makes a deterministic photo tree with mkdataset.py.
pub fn make_dataset(dir: &Path, args: &[&str]) -> Option<()> {
    let script = mkdataset()?;
    require("python3")?;
    let st = Command::new("python3")
        .arg(script)
        .arg(dir)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "mkdataset.py failed");
    Some(())
}

/// A temp home for lomob: its own catalog, no user config.
pub struct Env {
    pub dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            vars: Vec::new(),
        }
    }

    /// Sets an environment variable for every command this Env runs.
    pub fn with_env(mut self, key: &str, value: &str) -> Env {
        self.vars.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("lomob.db")
    }

    /// `lomob --db <tmp>/lomob.db ARGS` with HOME and XDG dirs inside the temp dir.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.cmd_without_db(&[]);
        c.arg("--db").arg(self.db()).args(args);
        c
    }

    /// `lomob ARGS` with HOME and XDG dirs inside the temp dir, and no
    /// `--db`; it runs in the temp dir, so the default site (`./lomob-site`)
    /// of a test that configures none is never made in the source tree.
    pub fn cmd_without_db(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lomob"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LOMOB_") {
                c.env_remove(k);
            }
        }
        c.current_dir(self.path())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects exit code `code`; returns stdout.
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "lomob {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with `--json` and parses every stdout line.
    pub fn json(&self, args: &[&str], code: i32) -> Vec<Value> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        self.ok(&a, code)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Sets `path`'s modification time.
pub fn set_mtime(path: &Path, when: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// `secs` seconds after the Unix epoch.
pub fn at(secs: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

/// Regular files below `dir` (0 when it does not exist).
pub fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

impl Env {
    /// The credentials moto accepts, for S3 sites on a test server.
    pub fn with_moto_credentials(self) -> Env {
        self.with_env("AWS_ACCESS_KEY_ID", "testing")
            .with_env("AWS_SECRET_ACCESS_KEY", "testing")
    }

    /// `lomob site add NAME URL EXTRA...`, which must succeed; its stdout.
    pub fn add_site(&self, name: &str, url: &str, extra: &[&str]) -> String {
        let mut args = vec!["site", "add", name, url];
        args.extend_from_slice(extra);
        self.ok(&args, 0)
    }
}

/// Everything below `dir` (links not followed) with its type, mode and
/// size, and the file contents' hash: a picture to compare before and
/// after a hostile input. `skip` names a subfolder left out (the target).
pub fn listing(dir: &Path, skip: Option<&Path>) -> std::collections::BTreeMap<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let m = std::fs::symlink_metadata(&d).unwrap();
        out.insert(d.clone(), format!("dir {:o}", m.permissions().mode()));
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if Some(p.as_path()) == skip {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode();
            if m.is_dir() {
                stack.push(p);
            } else if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(p, format!("link -> {}", t.display()));
            } else {
                let hash = blake3::hash(&std::fs::read(&p).unwrap());
                out.insert(p, format!("file {mode:o} {} {hash}", m.len()));
            }
        }
    }
    out
}

/// Every file under `a` equals the one under `b`, bytes and mtime.
pub fn same_tree(a: &Path, b: &Path) {
    let mut n = 0;
    for e in walk(a) {
        let rel = e.strip_prefix(a).unwrap();
        let other = b.join(rel);
        let (ma, mb) = (
            std::fs::symlink_metadata(&e).unwrap(),
            std::fs::symlink_metadata(&other)
                .unwrap_or_else(|_| panic!("missing {}", other.display())),
        );
        if ma.is_file() {
            assert!(
                std::fs::read(&e).unwrap() == std::fs::read(&other).unwrap(),
                "{} differs",
                rel.display()
            );
            assert_eq!(
                ma.modified().unwrap(),
                mb.modified().unwrap(),
                "{} mtime",
                rel.display()
            );
            n += 1;
        }
    }
    assert!(n > 0);
}

/// Every file and symlink under `p` (folders descended, links not followed).
/// A missing `p` has none.
pub fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
