//! Progress on stderr: an indicatif bar on a terminal, nothing otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lomo_catalog::{ScanIssue, ScanProgress};

use crate::units::human_bytes;

/// Scan progress: files and bytes listed, bytes hashed and their rate, issues.
pub(crate) struct ScanBar {
    bar: Option<ProgressBar>,
    files: AtomicU64,
    bytes: AtomicU64,
    issues: AtomicU64,
}

impl ScanBar {
    /// A bar for `label`, shown only when stderr is a terminal and `enabled`.
    pub(crate) fn new(label: &str, enabled: bool) -> ScanBar {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} {elapsed} · {msg} · hashed {decimal_bytes} ({decimal_bytes_per_sec})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        ScanBar {
            bar,
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            issues: AtomicU64::new(0),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl ScanProgress for ScanBar {
    fn listed(&self, files: u64, bytes: u64) {
        let f = self.files.fetch_add(files, Ordering::Relaxed) + files;
        let b = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            let issues = self.issues.load(Ordering::Relaxed);
            bar.set_message(format!(
                "{f} files, {} listed, {issues} issues",
                human_bytes(b)
            ));
        }
    }

    fn hashed(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn issue(&self, issue: &ScanIssue) {
        self.issues.fetch_add(1, Ordering::Relaxed);
        let line = format!("lomob: skipped {issue}");
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

/// A byte-count bar for `label` (hidden when stderr is not a terminal or
/// progress is off).
pub(crate) fn bytes_bar(label: &str, total: u64, enabled: bool) -> ProgressBar {
    if !(enabled && std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} ({decimal_bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(label.to_string());
    bar
}
