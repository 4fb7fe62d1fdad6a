//! Progress and events: how the engine tells its caller what is going on,
//! without printing anything itself.
//!
//! A caller implements [`Progress`] (every method has a no-op default, so
//! [`NoProgress`] is an empty impl): [`Progress::start`] hands out one
//! [`Bar`] per long task (a scan, staging to a site, sending an image, a
//! restore), and [`Progress::event`] receives what a person should hear
//! about — a warning, a notice, a skipped file, the daemon's log. The
//! `lomob` binary draws indicatif bars on a terminal and prints events to
//! stderr; the Lomorage server shows them in its UI.

use std::path::PathBuf;

/// What a progress bar measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskKind {
    /// Scanning a root: [`Bar::inc`] counts bytes hashed; the message
    /// says what was listed.
    Scan,
    /// Staging files to a site: bytes of files staged.
    Stage,
    /// Writing an ISO image to a local file: bytes written.
    Image,
    /// Restoring files: bytes restored.
    Restore,
    /// Reading archives to verify them: bytes read.
    Verify,
}

/// One long task.
#[derive(Debug, Clone, Copy)]
pub struct Task<'a> {
    /// What is measured.
    pub kind: TaskKind,
    /// A short label, e.g. the root or the site.
    pub label: &'a str,
    /// The total, when known (bytes for every kind but [`TaskKind::Scan`]).
    pub total: Option<u64>,
}

/// The progress of one task.
pub trait Bar: Send + Sync {
    /// `n` more units done.
    fn inc(&self, n: u64) {
        let _ = n;
    }
    /// A new status line.
    fn set_message(&self, msg: &str) {
        let _ = msg;
    }
    /// The task ended.
    fn finish(&self) {}
}

/// A bar that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBar;

impl Bar for NoBar {}

/// Something a person should hear about while the engine works.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A problem; the work goes on (a site skipped, a file that could not be
    /// staged). The same text also ends up in the operation's report.
    Warning(String),
    /// Something worth knowing (a key created, a default chosen, a cost
    /// before a cold restore, a wait).
    Notice(String),
    /// The scan skipped an entry (unreadable, changing).
    Skipped {
        /// The entry.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A line of the watch daemon's log.
    Watch(String),
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Warning(m) | Event::Notice(m) | Event::Watch(m) => f.write_str(m),
            Event::Skipped { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

/// Where progress and events go.
pub trait Progress: Send + Sync {
    /// A bar for a task that starts now.
    fn start(&self, task: &Task<'_>) -> Box<dyn Bar> {
        let _ = task;
        Box::new(NoBar)
    }
    /// Something happened.
    fn event(&self, event: &Event) {
        let _ = event;
    }
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Scan progress in the catalog's terms, drawn on one [`Bar`]: bytes
/// hashed move it, listings and skipped entries set its message.
pub(crate) struct ScanBar<'a> {
    bar: Box<dyn Bar>,
    progress: &'a dyn Progress,
    files: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    issues: std::sync::atomic::AtomicU64,
}

impl<'a> ScanBar<'a> {
    pub(crate) fn new(progress: &'a dyn Progress, root: &str) -> ScanBar<'a> {
        ScanBar {
            bar: progress.start(&Task {
                kind: TaskKind::Scan,
                label: root,
                total: None,
            }),
            progress,
            files: 0.into(),
            bytes: 0.into(),
            issues: 0.into(),
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish();
    }
}

impl lomo_catalog::ScanProgress for ScanBar<'_> {
    fn listed(&self, files: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let f = self.files.fetch_add(files, Relaxed) + files;
        let b = self.bytes.fetch_add(bytes, Relaxed) + bytes;
        let issues = self.issues.load(Relaxed);
        self.bar.set_message(&format!(
            "{f} files, {} listed, {issues} issues",
            crate::units::human_bytes(b)
        ));
    }

    fn hashed(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn issue(&self, issue: &lomo_catalog::ScanIssue) {
        self.issues
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.progress.event(&Event::Skipped {
            path: issue.path.clone(),
            message: issue.message.clone(),
        });
    }
}
