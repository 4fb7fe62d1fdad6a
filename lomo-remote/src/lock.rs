//! S3 Object Lock as a site speaks it: the retention an object is written
//! with or carries ([`ObjectLock`]), and what a bucket allows
//! ([`BucketLock`]).
//!
//! A locked object version cannot be deleted or overwritten by anyone —
//! the credentials that wrote it included — until its retain-until date;
//! in [`LockMode::Compliance`] not even the account's root user can
//! shorten that date, in [`LockMode::Governance`] a user with the
//! `s3:BypassGovernanceRetention` permission can.

use std::fmt;

/// Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Nobody can shorten the retention or delete the version before it ends.
    #[default]
    Compliance,
    /// Users with `s3:BypassGovernanceRetention` can shorten or remove it.
    Governance,
}

impl LockMode {
    /// S3's name for the mode.
    pub fn as_s3(self) -> &'static str {
        match self {
            LockMode::Compliance => "COMPLIANCE",
            LockMode::Governance => "GOVERNANCE",
        }
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_s3())
    }
}

impl std::str::FromStr for LockMode {
    type Err = String;

    fn from_str(s: &str) -> Result<LockMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "compliance" => Ok(LockMode::Compliance),
            "governance" => Ok(LockMode::Governance),
            _ => Err(format!("unknown lock mode {s:?} (compliance, governance)")),
        }
    }
}

/// The retention of one object version: its mode and the time (Unix
/// seconds) before which it cannot be deleted or overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLock {
    /// Retention mode.
    pub mode: LockMode,
    /// Retain-until time, seconds since the Unix epoch.
    pub retain_until: i64,
}

impl ObjectLock {
    /// A lock of `mode` until `retain_until` (Unix seconds).
    pub fn new(mode: LockMode, retain_until: i64) -> ObjectLock {
        ObjectLock { mode, retain_until }
    }

    /// Whether the version is still protected at `now` (Unix seconds).
    pub fn holds_at(&self, now: i64) -> bool {
        self.retain_until > now
    }

    /// The retain-until time as S3 writes it (`2036-12-01T00:00:00Z`).
    pub fn until_text(&self) -> String {
        iso_time(self.retain_until)
    }
}

impl fmt::Display for ObjectLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} until {}", self.mode, self.until_text())
    }
}

/// What a bucket's Object Lock configuration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketLock {
    /// Object Lock is enabled (which also means versioning is on).
    pub enabled: bool,
    /// The retention every new object gets unless a write names its own:
    /// mode and days (a rule in years counts 365 days per year).
    pub default_retention: Option<(LockMode, u32)>,
}

/// `t` (Unix seconds) as an ISO 8601 UTC time, as S3 takes and gives it.
pub(crate) fn iso_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// Parses an ISO 8601 time (`2027-01-01T18:49:31.000Z`) to Unix seconds.
pub(crate) fn parse_iso_time(s: &str) -> Option<i64> {
    s.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_modes_read_as_s3_writes_them() {
        let t = parse_iso_time("2027-01-01T18:49:31.000Z").unwrap();
        assert_eq!(iso_time(t), "2027-01-01T18:49:31Z");
        assert_eq!(parse_iso_time("2027-01-01T18:49:31+00:00"), Some(t));
        assert_eq!(parse_iso_time("soon"), None);
        let l = ObjectLock::new("Governance".parse().unwrap(), t);
        assert_eq!(l.to_string(), "GOVERNANCE until 2027-01-01T18:49:31Z");
        assert!(l.holds_at(t - 1) && !l.holds_at(t));
        assert!("forever".parse::<LockMode>().is_err());
    }
}
