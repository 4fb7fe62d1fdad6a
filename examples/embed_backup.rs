//! The lomob engine embedded in another program, as the Lomorage photo
//! server links it: open a catalog with a folder site, back up a folder
//! with the program's own progress display, then restore one file and one
//! folder — through the library alone, no `lomob` process — and print the
//! typed reports.
//!
//! `cargo run -p lomob-examples --example embed_backup [-- PHOTOS_DIR]`
//! (without a folder it makes a small sample tree in a temp dir; with one,
//! its files are backed up into a temp catalog and site, never changed).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use lomob::{
    BackupOptions, Bar, Context, ContextOptions, Event, Passphrase, Progress, RestoreOptions,
    SiteConfig, Task,
};

/// The embedding program's progress: one line per task when it ends, and
/// every event, prefixed the way its log wants them.
struct ServerLog {
    events: Mutex<Vec<String>>,
}

struct TaskLine {
    label: String,
    done: AtomicU64,
    total: Option<u64>,
}

impl Bar for TaskLine {
    fn inc(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    fn finish(&self) {
        let done = self.done.load(Ordering::Relaxed);
        match self.total {
            Some(t) => eprintln!("[server] {}: {done} of {t} bytes", self.label),
            None => eprintln!("[server] {}: {done} bytes hashed", self.label),
        }
    }
}

impl Progress for ServerLog {
    fn start(&self, task: &Task<'_>) -> Box<dyn Bar> {
        Box::new(TaskLine {
            label: format!("{:?} {}", task.kind, task.label),
            done: AtomicU64::new(0),
            total: task.total,
        })
    }

    fn event(&self, event: &Event) {
        let line = format!("[server] {event:?}");
        eprintln!("{line}");
        if let Ok(mut e) = self.events.lock() {
            e.push(line);
        }
    }
}

/// A few photo-like files in `dir`/Pictures.
fn sample_tree(dir: &Path) -> std::io::Result<PathBuf> {
    let pics = dir.join("Pictures");
    for (folder, n) in [("2023/summer", 3u32), ("2024", 2)] {
        std::fs::create_dir_all(pics.join(folder))?;
        for i in 0..n {
            let bytes: Vec<u8> = (0..200_000 + i * 977).map(|b| (b * 31 + i) as u8).collect();
            std::fs::write(pics.join(format!("{folder}/IMG_{i:04}.jpg")), bytes)?;
        }
    }
    Ok(pics)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    let photos = match std::env::args_os().nth(1) {
        Some(dir) => std::fs::canonicalize(dir)?,
        None => sample_tree(work.path())?,
    };
    let site_dir = work.path().join("nas");
    std::fs::create_dir_all(&site_dir)?;

    // The catalog, one folder site, the passphrase from the server's own
    // settings, and the server's progress sink.
    let opts = ContextOptions::new(work.path().join("lomob.db"))
        .site(SiteConfig::folder("nas", &site_dir)?);
    let mut ctx = Context::open(opts)?
        .with_secrets(Passphrase::new("correct horse battery staple"))
        .with_progress(ServerLog {
            events: Mutex::new(Vec::new()),
        });

    let backup = ctx.backup(&BackupOptions::of([&photos]))?;
    println!("backup report: {}", serde_json::to_string_pretty(&backup)?);
    assert!(!backup.needs_attention(), "{:?}", backup.problems);

    // One file and one folder back, by the names restores give them.
    let label = photos
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = {
        let mut all = Vec::new();
        ctx.catalog().for_each_file(&Default::default(), |f| {
            all.push(f.path);
            Ok::<_, lomob::lomo_catalog::Error>(())
        })?;
        all
    };
    let one = files.first().ok_or("the folder holds no file")?;
    let one_name = Path::new(&label).join(one.strip_prefix(&photos)?);
    let folder = one_name.parent().ok_or("no folder")?.to_owned();
    let to = work.path().join("restored");
    for what in [&one_name, &folder] {
        let report = ctx.restore(&RestoreOptions::new(
            [what.to_string_lossy().into_owned()],
            &to,
        ))?;
        println!(
            "restore {}: {}",
            what.display(),
            serde_json::to_string_pretty(&report)?
        );
        assert_eq!(report.failed, 0);
    }
    let back = std::fs::read(to.join(&one_name))?;
    assert_eq!(back, std::fs::read(one)?, "the restored file is identical");
    println!(
        "restored {} and the folder {} through the library; identical",
        one_name.display(),
        folder.display()
    );
    Ok(())
}
