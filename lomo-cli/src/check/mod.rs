//! Checking the sites against the catalog: staging sites from listings
//! (one request per 1000 objects; `deep` downloads, decrypts and hashes a
//! random sample), archive sites from a listing and one HEAD per archive
//! (sizes, storage classes, the checksum the site keeps). Each site's check
//! is recorded in the catalog; differences and sites that could not be
//! checked are alerted.

mod archives;
mod staging;
pub(crate) mod verify;

use serde::Serialize;
use serde_json::{Value, json};

use crate::alert::Alert;
use crate::context::Context;
use crate::error::Result;
use crate::sites::SiteConfig;

/// What to check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckOptions {
    /// Check the staging sites.
    pub staging: bool,
    /// Check the archive sites (metadata only: LIST and HEAD).
    pub archives: bool,
    /// Only this site.
    pub site: Option<String>,
    /// Also download, decrypt and hash this many staged objects per site.
    pub deep: usize,
    /// Report staged copies older than this many days (they should be
    /// archived by then).
    pub max_staged_age_days: u64,
    /// With `deep`, also thaw archives in a cold class to read them (the
    /// cost is said first); they are read by a later check.
    pub thaw: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            staging: true,
            archives: true,
            site: None,
            deep: 0,
            max_staged_age_days: 60,
            thaw: false,
        }
    }
}

impl CheckOptions {
    /// The scheduled check of one kind: listings and HEADs only.
    pub fn scheduled(kind: CheckKind) -> CheckOptions {
        CheckOptions {
            staging: kind == CheckKind::Staging,
            archives: kind == CheckKind::Archives,
            ..CheckOptions::default()
        }
    }
}

/// Which copies a check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// Staged objects.
    Staging,
    /// Archive copies.
    Archives,
}

impl CheckKind {
    /// `staging` or `archives`, as the catalog records checks.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Staging => "staging",
            CheckKind::Archives => "archives",
        }
    }
}

/// One difference between a site and the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `missing`, `size`, `checksum`, `class`, `unexpected`, `old`,
    /// `corrupt`, `unreadable`, `duplicate`.
    pub kind: &'static str,
    /// The object key on the site.
    pub key: String,
    /// The file (staged objects) or archive it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What differs.
    pub detail: String,
    /// Where it can be repaired from, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<String>,
}

impl Finding {
    fn new(
        kind: &'static str,
        key: &str,
        path: Option<String>,
        detail: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            key: key.to_owned(),
            path,
            detail: detail.into(),
            repair: None,
        }
    }
}

/// One site's check.
#[derive(Debug, Clone, Serialize)]
pub struct SiteCheck {
    /// The site.
    pub site: String,
    /// What was checked.
    pub kind: CheckKind,
    /// Objects compared.
    pub checked: u64,
    /// The differences.
    pub findings: Vec<Finding>,
    /// Why the site could not be checked, if it could not.
    pub error: Option<String>,
    /// The copies by the storage class (Azure: access tier) the site lists
    /// them in, where it reports one.
    pub classes: std::collections::BTreeMap<String, u64>,
    /// Each archive's Object Lock retention, on a site that locks them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<ArchiveLock>,
}

/// One archive's retention, as its site's HEAD reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveLock {
    /// The archive.
    pub archive: String,
    /// COMPLIANCE or GOVERNANCE.
    pub mode: lomo_remote::LockMode,
    /// Locked until (Unix seconds).
    pub until: i64,
}

/// The check of one kind over its sites.
#[derive(Debug, Clone, Serialize)]
pub struct KindCheck {
    /// What was checked.
    pub kind: CheckKind,
    /// Each site's check.
    pub sites: Vec<SiteCheck>,
    /// Why this kind failed as a whole (no site to check; sites that could
    /// not be checked).
    pub error: Option<String>,
}

/// What a check found.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// One entry per kind checked.
    pub kinds: Vec<KindCheck>,
}

impl CheckReport {
    /// Differences found on all sites.
    pub fn differences(&self) -> usize {
        self.kinds
            .iter()
            .flat_map(|k| &k.sites)
            .map(|s| s.findings.len())
            .sum()
    }

    /// The first kind-level failure, if any (exit code 2 for the CLI).
    pub fn error(&self) -> Option<&str> {
        self.kinds.iter().rev().find_map(|k| k.error.as_deref())
    }
}

impl Context {
    /// Checks the sites of the kinds asked for.
    pub fn check(&mut self, opts: &CheckOptions) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        for kind in [CheckKind::Staging, CheckKind::Archives] {
            let asked = match kind {
                CheckKind::Staging => opts.staging,
                CheckKind::Archives => opts.archives,
            };
            if asked {
                report.kinds.push(self.check_kind(opts, kind)?);
            }
        }
        Ok(report)
    }

    fn check_kind(&mut self, opts: &CheckOptions, kind: CheckKind) -> Result<KindCheck> {
        let mut out = KindCheck {
            kind,
            sites: Vec::new(),
            error: None,
        };
        let sites: Vec<SiteConfig> = self
            .opts
            .sites
            .iter()
            .filter(|s| match kind {
                CheckKind::Staging => s.role.stages(),
                CheckKind::Archives => s.role.archives(),
            })
            .filter(|s| opts.site.as_ref().is_none_or(|n| *n == s.name))
            .cloned()
            .collect();
        if sites.is_empty() {
            out.error = Some(format!(
                "no {} site to check{}",
                match kind {
                    CheckKind::Staging => "staging",
                    CheckKind::Archives => "archive",
                },
                opts.site
                    .as_ref()
                    .map(|n| format!(" named {n:?}"))
                    .unwrap_or_default()
            ));
            return Ok(out);
        }
        let key = self.check_key(kind, opts, &sites)?;
        for cfg in &sites {
            let started = lomo_catalog::unix_now();
            let c = match kind {
                CheckKind::Staging => self.check_staging(cfg, opts, key.as_ref())?,
                CheckKind::Archives => self.check_archives(cfg, opts, key.as_ref())?,
            };
            self.record_site_check(&c, started)?;
            out.sites.push(c);
        }
        self.alert_check(&out);
        let unchecked = out.sites.iter().filter(|s| s.error.is_some()).count();
        if unchecked > 0 {
            self.alert_offline()?;
            out.error = Some(format!("{unchecked} site(s) could not be checked"));
        }
        Ok(out)
    }

    /// The key, when this check reads sealed bytes: a deep staging check,
    /// an archive check of a folder site (its bytes are read) or a deep
    /// one. Without it the archive check compares what the sites report,
    /// and says so.
    fn check_key(
        &mut self,
        kind: CheckKind,
        opts: &CheckOptions,
        sites: &[SiteConfig],
    ) -> Result<Option<lomo_crypt::MasterKey>> {
        match kind {
            CheckKind::Staging if opts.deep > 0 => Ok(Some(self.key()?)),
            CheckKind::Staging => Ok(None),
            CheckKind::Archives => {
                let reads = opts.deep > 0 || sites.iter().any(|s| s.url.starts_with("file://"));
                if !reads {
                    return Ok(None);
                }
                match self.key() {
                    Ok(k) => Ok(Some(k)),
                    Err(e) => {
                        self.warn(format!(
                            "the archives' bytes are not read without the key ({e}): only what the sites report is compared"
                        ));
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Records one site's check (and whether the site answered).
    fn record_site_check(&mut self, c: &SiteCheck, started: i64) -> Result<()> {
        self.record_contact(&c.site, c.error.as_deref());
        self.catalog.record_check(&lomo_catalog::CheckRecord {
            kind: c.kind.name().into(),
            site: c.site.clone(),
            started_at: started,
            finished_at: lomo_catalog::unix_now(),
            checked: c.checked,
            problems: c.findings.len() as u64,
            error: c.error.clone(),
            report: c
                .findings
                .iter()
                .map(|f| json!(f).to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        })?;
        Ok(())
    }

    /// Tells the owner what a check of one kind found, if anything.
    fn alert_check(&mut self, k: &KindCheck) {
        let differences: usize = k.sites.iter().map(|s| s.findings.len()).sum();
        let unchecked = k.sites.iter().filter(|s| s.error.is_some()).count();
        if differences == 0 && unchecked == 0 {
            return;
        }
        let name = k.kind.name();
        let subject = match (differences, unchecked) {
            (d, 0) => format!("lomob: the {name} check found {d} difference(s)"),
            (0, u) => format!("lomob: {u} {name} site(s) could not be checked"),
            (d, u) => format!(
                "lomob: the {name} check found {d} difference(s); {u} site(s) could not be checked"
            ),
        };
        let mut text = format!("{subject}.\n\n");
        let mut details: Vec<Value> = Vec::new();
        for s in &k.sites {
            for f in &s.findings {
                if details.len() < 200 {
                    text.push_str(&format!(
                        "{} {} {} {}\n",
                        s.site,
                        f.kind,
                        f.path.as_deref().unwrap_or(&f.key),
                        f.detail
                    ));
                }
                let mut v = json!(f);
                v["site"] = json!(s.site);
                details.push(v);
            }
            text.push_str(&match &s.error {
                Some(e) => format!("{}: could not check: {e}\n", s.site),
                None => format!(
                    "{}: {} checked, {} difference(s)\n",
                    s.site,
                    s.checked,
                    s.findings.len()
                ),
            });
            details.push(json!({"site": s.site, "kind": name, "checked": s.checked,
                "problems": s.findings.len(), "error": s.error}));
        }
        text.push_str(&format!("\nRun `lomob check --{name}` for the details.\n"));
        self.notify(&Alert {
            kind: match k.kind {
                CheckKind::Staging => "check-staging",
                CheckKind::Archives => "check-archives",
            },
            subject,
            text,
            details: json!(details),
        });
    }
}

/// A listing by key. A key listed more than once (Google Drive lets one
/// folder hold several files of one name: a create retried by another
/// program, an interrupted replace) is a `duplicate` finding; the newest
/// stands for the key, as the Drive site reads it.
pub(crate) fn by_key(
    objects: Vec<lomo_remote::ObjectInfo>,
    items: &mut Vec<Finding>,
) -> std::collections::HashMap<String, lomo_remote::ObjectInfo> {
    let mut found: std::collections::HashMap<String, (usize, lomo_remote::ObjectInfo)> =
        std::collections::HashMap::new();
    for o in objects {
        match found.get_mut(&o.key) {
            Some((n, kept)) => {
                *n += 1;
                if o.modified >= kept.modified {
                    *kept = o;
                }
            }
            None => {
                found.insert(o.key.clone(), (1, o));
            }
        }
    }
    let mut twice: Vec<(&String, usize)> = found
        .iter()
        .filter(|(_, (n, _))| *n > 1)
        .map(|(k, (n, _))| (k, *n))
        .collect();
    twice.sort();
    for (k, n) in twice {
        items.push(Finding::new(
            "duplicate",
            k,
            None,
            format!("{n} objects with this name on the site; lomob reads the newest, the others are left for you to remove"),
        ));
    }
    found.into_iter().map(|(k, (_, o))| (k, o)).collect()
}
