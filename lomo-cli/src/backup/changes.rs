//! Mass changes are news: a scan in which a root loses or changes more
//! than a share of its files (20 % by default), or a root that held files
//! and now holds none (an unmounted disk leaves its mount point empty;
//! ransomware rewrites every photo), completes its catalog work, but the
//! root is held: nothing new of it is staged or packed, the backup says so
//! (exit 1) and the owner is alerted, once a day, until the change is
//! accepted (`--accept-changes ROOT`). Nothing is lost meanwhile: history
//! and every copy stay.

use std::path::PathBuf;

use lomo_catalog::ScanReport;
use serde_json::json;

use crate::alert::Alert;
use crate::context::Context;
use crate::error::Result;

/// Fewer deleted or changed files than this never raise the alarm alone
/// (a root that became empty always does).
const MIN_FILES: u64 = 10;

/// Whether `r` (a scan of a root now holding `live` files) is a mass
/// change for `share` (0.2 = 20 %): its description if it is.
fn mass_change(r: &ScanReport, live: u64, share: f64) -> Option<String> {
    let before = (live + r.deleted).saturating_sub(r.new);
    let gone = r.changed + r.deleted;
    if before == 0 {
        return None;
    }
    let emptied = live == 0;
    let many = gone >= MIN_FILES && gone as f64 > share * before as f64;
    (emptied || many).then(|| {
        format!(
            "{} of its {before} files deleted and {} changed by the last scan",
            r.deleted, r.changed
        )
    })
}

impl Context {
    /// Holds the roots the scan found massively changed (unless accepted),
    /// releases the accepted ones, and reports every held root: the
    /// warnings for the backup's report.
    pub(crate) fn review_changes(
        &mut self,
        reports: &[ScanReport],
        accept: &[PathBuf],
    ) -> Result<Vec<String>> {
        let accepted: Vec<PathBuf> = accept
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        for root in &accepted {
            self.catalog.release_root(root)?;
        }
        if let Some(share) = self.opts.scan_alarm {
            for r in reports {
                let live = self.catalog.live_files_in_root(&r.root)?;
                if let Some(why) = mass_change(r, live, share)
                    && !accepted.contains(&r.root)
                {
                    self.catalog
                        .hold_root(&r.root, &why, lomo_catalog::unix_now())?;
                }
            }
        }
        let held = self.catalog.held_roots()?;
        let lines: Vec<String> = held
            .iter()
            .map(|h| {
                format!(
                    "{} is held: {}; nothing new of it is backed up. If that is right, run `lomob backup --accept-changes {}`; if not (an unmounted disk, files encrypted by malware), mount the disk or bring the files back with `lomob restore`",
                    h.path.display(),
                    h.reason,
                    h.path.display()
                )
            })
            .collect();
        if !lines.is_empty() {
            self.alert_held(&held, &lines);
        }
        Ok(lines)
    }

    fn alert_held(&mut self, held: &[lomo_catalog::HeldRoot], lines: &[String]) {
        let subject = match held {
            [one] => format!(
                "lomob: mass change in {}: backups of it are held",
                one.path.display()
            ),
            _ => format!(
                "lomob: mass changes in {} folders: backups of them are held",
                held.len()
            ),
        };
        self.notify(&Alert {
            kind: "mass-change",
            subject,
            text: lines.join("\n\n"),
            details: json!(
                held.iter()
                    .map(|h| json!({"root": h.path.display().to_string(), "since": h.since, "reason": h.reason}))
                    .collect::<Vec<_>>()
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(new: u64, changed: u64, deleted: u64) -> ScanReport {
        let mut r = ScanReport::default();
        r.new = new;
        r.changed = changed;
        r.deleted = deleted;
        r
    }

    #[test]
    fn what_is_a_mass_change() {
        // The unmounted disk: 44 files deleted, none left.
        assert!(mass_change(&report(0, 0, 44), 0, 0.2).is_some());
        // A root of 3 that became empty.
        assert!(mass_change(&report(0, 0, 3), 0, 0.2).is_some());
        // One photo deleted of 4: not news.
        assert!(mass_change(&report(0, 0, 1), 3, 0.2).is_none());
        // 30 of 100 rewritten: news; 15 of 100: not.
        assert!(mass_change(&report(0, 30, 0), 100, 0.2).is_some());
        assert!(mass_change(&report(0, 15, 0), 100, 0.2).is_none());
        // A first scan is never a mass change.
        assert!(mass_change(&report(50, 0, 0), 50, 0.2).is_none());
    }
}
