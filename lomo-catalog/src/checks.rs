//! Checks of sites against the catalog: what was checked, when, and what
//! was found, so schedules and reports can rely on them.

use rusqlite::{OptionalExtension as _, params};

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};

/// One finished check of one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    /// What was checked: `staging` or `archives`.
    pub kind: String,
    /// Site name.
    pub site: String,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// When it ended (Unix seconds).
    pub finished_at: i64,
    /// Objects compared.
    pub checked: u64,
    /// Differences found.
    pub problems: u64,
    /// Why the site could not be checked, if it could not.
    pub error: Option<String>,
    /// The differences, one JSON object per line.
    pub report: String,
}

/// Whether a site could be reached, as the last runs found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteContact {
    /// Site name.
    pub site: String,
    /// The last time it answered (Unix seconds), if ever.
    pub last_ok: Option<i64>,
    /// Since when every attempt has failed (Unix seconds); `None` while it answers.
    pub failing_since: Option<i64>,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
}

impl Catalog {
    /// Records an attempt to reach `site` at `at`: `error` is `None` when
    /// it answered. A failure keeps the first failure's time.
    pub fn record_site_contact(&mut self, site: &str, at: i64, error: Option<&str>) -> Result<()> {
        let sql = if error.is_none() {
            "INSERT INTO site_contact (site, last_ok, failing_since, last_error) VALUES (?1, ?2, NULL, NULL)
             ON CONFLICT (site) DO UPDATE SET last_ok = ?2, failing_since = NULL, last_error = NULL"
        } else {
            "INSERT INTO site_contact (site, last_ok, failing_since, last_error) VALUES (?1, NULL, ?2, ?3)
             ON CONFLICT (site) DO UPDATE SET failing_since = COALESCE(failing_since, ?2), last_error = ?3"
        };
        if let Some(e) = error {
            self.conn.execute(sql, params![site, at, e])
        } else {
            self.conn.execute(sql, params![site, at])
        }
        .db(&self.path)?;
        Ok(())
    }

    /// What the last runs found about each site they tried to reach.
    pub fn site_contacts(&self) -> Result<Vec<SiteContact>> {
        self.rows(
            "SELECT site, last_ok, failing_since, last_error FROM site_contact ORDER BY site",
            [],
            |r| {
                Ok(SiteContact {
                    site: r.get(0)?,
                    last_ok: r.get(1)?,
                    failing_since: r.get(2)?,
                    last_error: r.get(3)?,
                })
            },
        )
    }

    /// Records a finished check.
    pub fn record_check(&mut self, c: &CheckRecord) -> Result<()> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "INSERT INTO checks (kind, site, started_at, finished_at, checked, problems, error, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    c.kind,
                    c.site,
                    c.started_at,
                    c.finished_at,
                    n(c.checked),
                    n(c.problems),
                    c.error,
                    c.report
                ],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// The latest check of `kind` on `site`.
    pub fn last_check(&self, kind: &str, site: &str) -> Result<Option<CheckRecord>> {
        self.conn
            .query_row(
                "SELECT kind, site, started_at, finished_at, checked, problems, error, report
                 FROM checks WHERE kind = ?1 AND site = ?2 ORDER BY finished_at DESC, id DESC LIMIT 1",
                [kind, site],
                |r| {
                    Ok(CheckRecord {
                        kind: r.get(0)?,
                        site: r.get(1)?,
                        started_at: r.get(2)?,
                        finished_at: r.get(3)?,
                        checked: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                        problems: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                        error: r.get(6)?,
                        report: r.get(7)?,
                    })
                },
            )
            .optional()
            .db(&self.path)
    }

    /// Claims the alert of `kind` for `day`: true the first time (send it),
    /// false when one went out that day already.
    pub fn claim_alert(&mut self, kind: &str, day: &str, subject: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO alerts (kind, day, sent_at, subject) VALUES (?1, ?2, ?3, ?4)",
                params![kind, day, crate::scan::unix_now(), subject],
            )
            .db(&self.path)?;
        Ok(n == 1)
    }

    /// Gives back a claim whose alert could not be sent, so a later run retries.
    pub fn release_alert(&mut self, kind: &str, day: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM alerts WHERE kind = ?1 AND day = ?2",
                [kind, day],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// Marks a staged copy as found intact now.
    pub fn mark_staged_verified(&mut self, content_id: i64, site: &str, at: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE staged SET verified_at = ?3 WHERE content_id = ?1 AND site = ?2",
                params![content_id, site, at],
            )
            .db(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_check_per_site() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        let rec = |site: &str, at: i64, problems: u64| CheckRecord {
            kind: "staging".into(),
            site: site.into(),
            started_at: at - 1,
            finished_at: at,
            checked: 10,
            problems,
            error: None,
            report: String::new(),
        };
        c.record_check(&rec("a", 100, 0)).unwrap();
        c.record_check(&rec("a", 200, 2)).unwrap();
        c.record_check(&rec("b", 150, 0)).unwrap();
        assert_eq!(c.last_check("staging", "a").unwrap().unwrap().problems, 2);
        assert_eq!(
            c.last_check("staging", "b").unwrap().unwrap().finished_at,
            150
        );
        assert!(c.last_check("archives", "a").unwrap().is_none());
        assert!(c.claim_alert("check", "2026-11-23", "s").unwrap());
        assert!(
            !c.claim_alert("check", "2026-11-23", "s").unwrap(),
            "once a day"
        );
        assert!(c.claim_alert("check", "2026-11-24", "s").unwrap());
        c.release_alert("check", "2026-11-24").unwrap();
        assert!(c.claim_alert("check", "2026-11-24", "s").unwrap());
    }

    #[test]
    fn site_contact_keeps_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        c.record_site_contact("nas", 100, None).unwrap();
        c.record_site_contact("nas", 200, Some("not mounted"))
            .unwrap();
        c.record_site_contact("nas", 300, Some("still not"))
            .unwrap();
        c.record_site_contact("cloud", 300, Some("dns")).unwrap();
        let all = c.site_contacts().unwrap();
        assert_eq!(
            all[1],
            SiteContact {
                site: "nas".into(),
                last_ok: Some(100),
                failing_since: Some(200),
                last_error: Some("still not".into()),
            }
        );
        assert_eq!((all[0].last_ok, all[0].failing_since), (None, Some(300)));
        c.record_site_contact("nas", 400, None).unwrap();
        let nas = &c.site_contacts().unwrap()[1];
        assert_eq!((nas.last_ok, nas.failing_since), (Some(400), None));
    }
}
