//! The request ledger: requests made to each site per day, by price class,
//! with bytes moved. The storage crate counts; the catalog keeps the counts.

use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::{DbContext, Result};

/// Requests and bytes, as one site's day (or a sum of days).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    /// PUT, COPY, POST, LIST requests.
    pub class_a: u64,
    /// GET, HEAD and other reads.
    pub class_b: u64,
    /// DELETE requests.
    pub free: u64,
    /// Failed requests (transport errors, 5xx, 429).
    pub failed: u64,
    /// Request bytes sent.
    pub bytes_sent: u64,
    /// Response bytes received.
    pub bytes_received: u64,
}

impl Requests {
    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == Requests::default()
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerDay {
    /// Site name.
    pub site: String,
    /// UTC date, `YYYY-MM-DD`.
    pub day: String,
    /// What was counted that day.
    pub requests: Requests,
}

impl Catalog {
    /// Adds `r` to the ledger row of `site` on `day` (`YYYY-MM-DD`, UTC).
    pub fn record_requests(&mut self, site: &str, day: &str, r: &Requests) -> Result<()> {
        if r.is_empty() {
            return Ok(());
        }
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "INSERT INTO request_ledger (site, day, class_a, class_b, free, failed, bytes_sent, bytes_received)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (site, day) DO UPDATE SET
                    class_a = class_a + excluded.class_a,
                    class_b = class_b + excluded.class_b,
                    free = free + excluded.free,
                    failed = failed + excluded.failed,
                    bytes_sent = bytes_sent + excluded.bytes_sent,
                    bytes_received = bytes_received + excluded.bytes_received",
                params![
                    site,
                    day,
                    n(r.class_a),
                    n(r.class_b),
                    n(r.free),
                    n(r.failed),
                    n(r.bytes_sent),
                    n(r.bytes_received)
                ],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// Ledger rows from `since` (`YYYY-MM-DD`, inclusive), by site then day.
    pub fn ledger(&self, since: &str) -> Result<Vec<LedgerDay>> {
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        self.rows(
            "SELECT site, day, class_a, class_b, free, failed, bytes_sent, bytes_received
             FROM request_ledger WHERE day >= ?1 ORDER BY site, day",
            [since],
            |r| {
                Ok(LedgerDay {
                    site: r.get(0)?,
                    day: r.get(1)?,
                    requests: Requests {
                        class_a: u(r.get(2)?),
                        class_b: u(r.get(3)?),
                        free: u(r.get(4)?),
                        failed: u(r.get(5)?),
                        bytes_sent: u(r.get(6)?),
                        bytes_received: u(r.get(7)?),
                    },
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_site_and_day() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("c.db")).unwrap();
        let r = Requests {
            class_a: 2,
            class_b: 3,
            free: 1,
            failed: 0,
            bytes_sent: 100,
            bytes_received: 50,
        };
        c.record_requests("cold", "2026-11-23", &r).unwrap();
        c.record_requests("cold", "2026-11-23", &r).unwrap();
        c.record_requests("cold", "2026-11-24", &r).unwrap();
        c.record_requests("usb", "2026-11-23", &Requests::default())
            .unwrap();
        let rows = c.ledger("2026-11-01").unwrap();
        assert_eq!(rows.len(), 2, "empty counts add no row: {rows:?}");
        assert_eq!(rows[0].requests.class_a, 4);
        assert_eq!(rows[0].requests.bytes_sent, 200);
        assert_eq!(rows[1].day, "2026-11-24");
        assert!(c.ledger("2026-11-24").unwrap().len() == 1);
        drop(c);
        // Survives reopening (a real file).
        let c = Catalog::open(dir.path().join("c.db")).unwrap();
        assert_eq!(c.ledger("2000-01-01").unwrap()[0].requests.class_b, 6);
    }
}
