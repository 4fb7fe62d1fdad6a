//! `lomob status`: one answer to "are my photos safe?", from the catalog
//! alone (no site is asked): per root, how many files have copies where
//! the configuration says they should be and how many are only here; per
//! site, what it holds, when it last answered, its last checks and when
//! the next are due, what it costs; and a verdict first, with the problems
//! in plain words. The report is a typed, serialisable value, rendered by
//! the CLI as a table, JSON or Prometheus text.

mod count;
mod prometheus;
mod verdict;

use serde::Serialize;

use crate::context::Context;
use crate::error::Result;

pub use count::RootStatus;

/// Files first seen this recently are not yet expected anywhere (a backup
/// runs at least daily: the staging promise is "off-site within a day").
pub const GRACE_SECS: i64 = 86_400;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// When it was made (Unix seconds).
    pub generated_at: i64,
    /// All protected as configured, or what needs attention.
    pub verdict: Verdict,
    /// Per scanned root.
    pub roots: Vec<RootStatus>,
    /// Per configured site.
    pub sites: Vec<SiteStatus>,
}

/// The verdict line and what it rests on.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Verdict {
    /// Everything protected as configured (exit code 0).
    pub ok: bool,
    /// One line in plain words.
    pub line: String,
    /// What needs attention, most important first.
    pub problems: Vec<Problem>,
}

/// One thing that needs attention.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// `only-here`, `missing-copies`, `site-offline`, `check-differences`,
    /// `check-failed`, `check-overdue`, `root-held`.
    pub kind: &'static str,
    /// The site it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The root it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// In plain words.
    pub detail: String,
}

/// One site.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SiteStatus {
    /// Its name.
    pub site: String,
    /// `folder`, `s3`, `gcs`, `azure` or `drive`.
    pub kind: &'static str,
    /// `staging`, `archive` or `both`.
    pub role: String,
    /// Away from this machine (every kind but a folder).
    pub off_site: bool,
    /// Its archives' storage class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Archives there need a restore before a read.
    pub cold: bool,
    /// Staged objects.
    pub staged: u64,
    /// Their stored bytes.
    pub staged_bytes: u64,
    /// Finished archive copies.
    pub archives: u64,
    /// Their stored bytes.
    pub archive_bytes: u64,
    /// Archive copies still uploading.
    pub uploading: u64,
    /// Last time it answered (Unix seconds).
    pub last_ok: Option<i64>,
    /// Since when every attempt has failed.
    pub failing_since: Option<i64>,
    /// The latest failure.
    pub last_error: Option<String>,
    /// The staging check (staging sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staging_check: Option<CheckStatus>,
    /// The archive check (archive sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_check: Option<CheckStatus>,
    /// What it costs a month (the cost model's storage figure, dollars).
    pub cost_per_month: Option<f64>,
    /// Parity stored beside its archives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parity: Option<String>,
    /// lomob never deletes or overwrites there.
    pub append_only: bool,
}

/// A site's last check of one kind, and the next.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckStatus {
    /// When it last finished (Unix seconds); `None`: never.
    pub last: Option<i64>,
    /// Objects it compared.
    pub checked: u64,
    /// Differences it found.
    pub differences: u64,
    /// Why it could not check, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the next is due (Unix seconds), per the schedule.
    pub next_due: Option<i64>,
    /// A whole period past due.
    pub overdue: bool,
}

impl Context {
    /// The status report, from the catalog only.
    pub fn status(&self) -> Result<StatusReport> {
        let now = lomo_catalog::unix_now();
        let roots = count::roots(self, now)?;
        let sites = verdict::sites(self, now)?;
        let verdict = verdict::verdict(&roots, &sites, self, now)?;
        Ok(StatusReport {
            generated_at: now,
            verdict,
            roots,
            sites,
        })
    }
}

impl StatusReport {
    /// The same figures in the Prometheus text exposition format (for
    /// node_exporter's textfile collector).
    pub fn prometheus(&self) -> String {
        prometheus::render(self)
    }
}

/// A duration in words: "3 days", "5 hours", "12 minutes", "1 minute",
/// "less than a minute".
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    let (n, unit) = if s >= 2 * 86_400 {
        (s / 86_400, "day")
    } else if s >= 2 * 3600 {
        (s / 3600, "hour")
    } else if s >= 60 {
        (s / 60, "minute")
    } else {
        return "less than a minute".to_owned();
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_as_words() {
        use super::age;
        assert_eq!(age(5), "less than a minute");
        assert_eq!(age(61), "1 minute");
        assert_eq!(age(7199), "119 minutes");
        assert_eq!(age(3 * 86_400 + 5), "3 days");
    }
}
