//! Object Lock on archive sites: how long archives are locked
//! ([`LockDuration`]), what a check finds of an archive's retention, and
//! making sure one holds after an upload or before it runs out.

use std::sync::Arc;

use lomo_remote::{Backend, LockMode, ObjectInfo, ObjectLock};

use crate::error::{Error, Result};

/// Where locked, dated copies of the key file and catalog snapshots go on
/// a site that locks its archives (the unlocked ones are replaced and
/// pruned; these stay, so the site alone allows a recovery).
pub const LOCKED_PREFIX: &str = "lomob/locked";

/// How long an archive stays locked after it is written: `10y`, `3650d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockDuration {
    /// Calendar years.
    Years(u32),
    /// Days.
    Days(u32),
}

impl LockDuration {
    /// Reads `10y` or `90d`.
    pub fn parse(s: &str) -> std::result::Result<LockDuration, String> {
        let t = s.trim();
        let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let n: u32 = num
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{s:?} is not a lock duration (10y, 3650d)"))?;
        // S3 takes retention up to 100 years; more is a typo.
        match unit {
            "y" if n <= 100 => Ok(LockDuration::Years(n)),
            "d" if n <= 36_500 => Ok(LockDuration::Days(n)),
            "y" | "d" => Err(format!("{s:?}: a lock is at most 100 years (36500d)")),
            _ => Err(format!("{s:?}: unknown unit {unit:?} (y, d)")),
        }
    }

    /// The time (Unix seconds) this long after `from`.
    pub fn after(self, from: i64) -> i64 {
        let span = match self {
            LockDuration::Years(y) => jiff::Span::new().years(i64::from(y)),
            LockDuration::Days(d) => jiff::Span::new().days(i64::from(d)),
        };
        jiff::Timestamp::from_second(from)
            .ok()
            .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC).checked_add(span).ok())
            .map_or(i64::MAX, |z| z.timestamp().as_second())
    }

    /// Roughly, in days (for costs).
    pub fn days(self) -> u64 {
        match self {
            LockDuration::Years(y) => u64::from(y) * 365,
            LockDuration::Days(d) => u64::from(d),
        }
    }
}

impl std::fmt::Display for LockDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockDuration::Years(y) => write!(f, "{y}y"),
            LockDuration::Days(d) => write!(f, "{d}d"),
        }
    }
}

/// A site's lock setting: mode and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    /// The retention mode archives get.
    pub mode: LockMode,
    /// How long after its upload an archive stays locked.
    pub duration: LockDuration,
}

impl std::fmt::Display for LockPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.duration {
            LockDuration::Years(1) => write!(f, "{} for 1 year", self.mode),
            LockDuration::Years(y) => write!(f, "{} for {y} years", self.mode),
            LockDuration::Days(1) => write!(f, "{} for 1 day", self.mode),
            LockDuration::Days(d) => write!(f, "{} for {d} days", self.mode),
        }
    }
}

impl LockPolicy {
    /// The retention an object written at `from` gets.
    pub fn from(&self, from: i64) -> ObjectLock {
        ObjectLock::new(self.mode, self.duration.after(from))
    }

    /// What is wrong with an archive's retention as a HEAD reports it
    /// (`info.modified`: when it was written), at `now`, with the next
    /// check `period` seconds away; `None` when it holds as configured.
    pub fn problem(&self, info: &ObjectInfo, now: i64, period: i64) -> Option<String> {
        let Some(lock) = info.lock else {
            return Some(format!(
                "no Object Lock retention (the site locks archives {} for {})",
                self.mode, self.duration
            ));
        };
        let want = self.from(info.modified);
        // A minute's slack: the retention is set from the upload's start.
        if lock.retain_until + 60 < want.retain_until {
            return Some(format!(
                "locked {lock}, shorter than the {} configured (until {})",
                self.duration,
                want.until_text()
            ));
        }
        if self.mode == LockMode::Compliance && lock.mode == LockMode::Governance {
            return Some(format!(
                "locked {lock}: GOVERNANCE, which can be lifted, where the site is set to COMPLIANCE"
            ));
        }
        if lock.retain_until < now.saturating_add(period) {
            return Some(format!(
                "locked {lock}: it runs out before the next archive check"
            ));
        }
        None
    }

    /// The retention a repair gives an archive locked `current` at `now`:
    /// the full duration from now, never weaker than what it has.
    pub fn renewed(&self, current: Option<ObjectLock>, now: i64) -> ObjectLock {
        let mut want = self.from(now);
        if let Some(c) = current {
            want.retain_until = want.retain_until.max(c.retain_until);
            if c.mode == LockMode::Compliance {
                want.mode = LockMode::Compliance;
            }
        }
        want
    }
}

/// Makes sure `key` on `site` holds at least `want` (after its upload):
/// a server that took the lock headers has it already; one that did not
/// (moto ignores them on CreateMultipartUpload) gets it with
/// PutObjectRetention, and the HEAD after says whether it stuck.
pub(crate) async fn ensure(site: &Arc<dyn Backend>, key: &str, want: ObjectLock) -> Result<()> {
    let holds = |info: &ObjectInfo| {
        info.lock
            .is_some_and(|l| l.retain_until + 60 >= want.retain_until)
    };
    if holds(&site.head(key).await?) {
        return Ok(());
    }
    site.set_retention(key, want).await?;
    let info = site.head(key).await?;
    if holds(&info) {
        return Ok(());
    }
    Err(Error::failed(format!(
        "site {}: {key} was written with Object Lock {want}, yet the site reports {}: it is not locked",
        site.name(),
        info.lock
            .map_or_else(|| "no retention".to_owned(), |l| l.to_string())
    )))
}

/// Whether the bucket of `cfg`'s `site` can hold archives locked as the
/// site says: Object Lock enabled (GetObjectLockConfiguration), and no
/// default retention that would lock staged objects too. The answer in
/// words, or an error saying how to get a bucket that can.
pub fn check_bucket(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    cfg: &super::SiteConfig,
) -> Result<String> {
    let bucket = match cfg.parsed_url()?.location() {
        lomo_remote::Location::S3 { bucket, .. } => bucket.clone(),
        _ => return Err(Error::invalid("Object Lock applies to s3:// sites")),
    };
    let found = rt.block_on(site.object_lock())?;
    if !found.enabled {
        return Err(Error::Site(format!(
            "site {}: bucket {bucket} does not have S3 Object Lock enabled, so its archives cannot be locked (lomob never writes them unlocked on a site set to lock). \
             Create a bucket with it: `aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket` (it turns on versioning), \
             or enable it on this one: `aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled` then \
             `aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration ObjectLockEnabled=Enabled`",
            cfg.name
        )));
    }
    match found.default_retention {
        Some((mode, days)) if cfg.role.stages() => Err(Error::Site(format!(
            "site {}: bucket {bucket} locks every new object by default ({mode} for {days} days): staged objects, catalog snapshots and key files would be locked too and could not be released or pruned. \
             Remove the default rule (`aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration ObjectLockEnabled=Enabled`), or give this site --role archive and stage elsewhere",
            cfg.name
        ))),
        Some((mode, days)) => Ok(format!(
            "Object Lock enabled on bucket {bucket}; its default rule locks other objects {mode} for {days} days (catalog snapshots and key files too)"
        )),
        None => Ok(format!(
            "Object Lock enabled on bucket {bucket} (no default retention: only archives and their dated catalog copies are locked)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(lock: Option<ObjectLock>, modified: i64) -> ObjectInfo {
        ObjectInfo {
            key: "k".into(),
            size: 1,
            modified,
            etag: None,
            storage_class: None,
            sha256: None,
            restore: None,
            metadata: Default::default(),
            lock,
            version: None,
        }
    }

    #[test]
    fn durations_read_as_calendar_time() {
        let t0 = 1_767_225_600; // 2026-01-01T00:00:00Z
        assert_eq!(LockDuration::parse("10y"), Ok(LockDuration::Years(10)));
        assert_eq!(LockDuration::parse("90d"), Ok(LockDuration::Days(90)));
        assert!(LockDuration::parse("10w").is_err());
        assert!(LockDuration::parse("0d").is_err());
        assert!(LockDuration::parse("y").is_err());
        assert!(LockDuration::parse("101y").is_err() && LockDuration::parse("100y").is_ok());
        // Ten calendar years: 2036-01-01, two leap days more than 3650 days.
        assert_eq!(LockDuration::Years(10).after(t0), t0 + 3652 * 86_400);
        assert_eq!(LockDuration::Days(1).after(t0), t0 + 86_400);
    }

    #[test]
    fn a_missing_short_weak_or_expiring_lock_is_a_problem() {
        let p = LockPolicy {
            mode: LockMode::Compliance,
            duration: LockDuration::Days(100),
        };
        let (t0, day) = (1_767_225_600, 86_400);
        let good = p.from(t0);
        assert_eq!(p.problem(&info(Some(good), t0), t0, 30 * day), None);
        let none = p.problem(&info(None, t0), t0, 30 * day).unwrap();
        assert!(none.contains("no Object Lock"), "{none}");
        let short = ObjectLock::new(LockMode::Compliance, t0 + day);
        let s = p.problem(&info(Some(short), t0), t0, 30 * day).unwrap();
        assert!(s.contains("shorter than the 100d"), "{s}");
        let weak = ObjectLock::new(LockMode::Governance, good.retain_until);
        assert!(
            p.problem(&info(Some(weak), t0), t0, day)
                .unwrap()
                .contains("GOVERNANCE")
        );
        let late = t0 + 90 * day;
        let e = p.problem(&info(Some(good), t0), late, 30 * day).unwrap();
        assert!(e.contains("runs out before the next archive check"), "{e}");
        let renewed = p.renewed(Some(good), late);
        assert_eq!(renewed.retain_until, late + 100 * day);
        let kept = p.renewed(Some(ObjectLock::new(LockMode::Compliance, late * 2)), late);
        assert_eq!(kept.retain_until, late * 2, "never shortened");
        let g = LockPolicy {
            mode: LockMode::Governance,
            ..p
        };
        assert_eq!(g.renewed(Some(good), late).mode, LockMode::Compliance);
    }
}
