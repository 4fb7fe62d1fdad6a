//! The TOML config file: roots, scan settings, sites.
//!
//! Precedence: command-line flags, then `LOMOB_*` environment variables (clap
//! reads both), then this file, then built-in defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The whole config file.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The catalog file.
    pub(crate) db: Option<PathBuf>,
    /// The passphrase-protected key file.
    pub(crate) key_file: Option<PathBuf>,
    /// Folders `scan` (and later `backup`) looks at when none are named.
    #[serde(default)]
    pub(crate) roots: Vec<PathBuf>,
    #[serde(default)]
    pub(crate) scan: ScanConfig,
    /// Where copies go. Read by the staging and archive steps.
    #[serde(default, rename = "site")]
    pub(crate) sites: Vec<SiteConfig>,
    /// Who hears about problems.
    #[serde(default)]
    pub(crate) alert: AlertConfig,
    /// Price table overrides for `lomob cost`, by storage class.
    #[serde(default)]
    pub(crate) prices: BTreeMap<String, crate::commands::cost::Prices>,
    /// When the watch daemon checks, rescans, and when silence is an alert.
    #[serde(default)]
    pub(crate) schedule: ScheduleConfig,
}

/// `[schedule]`: durations such as `12h`, `1d`, `30d`, or `off`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleConfig {
    /// How often `lomob watch` runs the staging check (default 1d).
    pub(crate) staging_check: Option<String>,
    /// How often `lomob watch` runs the archive check (default 30d).
    pub(crate) archive_check: Option<String>,
    /// How often `lomob watch` rescans every root whole (default 1d).
    pub(crate) full_rescan: Option<String>,
    /// Alert when a site has failed every attempt for this long (default 3d).
    pub(crate) site_offline_alert: Option<String>,
}

/// [`ScheduleConfig`] parsed: `None` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) staging_check: Option<Duration>,
    pub(crate) archive_check: Option<Duration>,
    pub(crate) full_rescan: Option<Duration>,
    pub(crate) site_offline_alert: Option<Duration>,
}

impl ScheduleConfig {
    /// The schedule with defaults filled in; a bad duration is an error naming its key.
    pub(crate) fn resolved(&self) -> Result<Schedule> {
        let get = |key: &str, v: &Option<String>, default: u64| -> Result<Option<Duration>> {
            match v.as_deref().map(str::trim) {
                None => Ok(Some(Duration::from_secs(default))),
                Some("off") => Ok(None),
                Some(s) => crate::units::parse_duration(s)
                    .map(Some)
                    .map_err(|e| anyhow::anyhow!("config [schedule] {key}: {e} (or \"off\")")),
            }
        };
        const DAY: u64 = 86_400;
        Ok(Schedule {
            staging_check: get("staging_check", &self.staging_check, DAY)?,
            archive_check: get("archive_check", &self.archive_check, 30 * DAY)?,
            full_rescan: get("full_rescan", &self.full_rescan, DAY)?,
            site_offline_alert: get("site_offline_alert", &self.site_offline_alert, 3 * DAY)?,
        })
    }
}

/// `[alert]`: email and webhook. Each is overridden by its `LOMOB_ALERT_*`
/// environment variable.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertConfig {
    /// `smtp://[user:password@]host[:port]` (STARTTLS when offered),
    /// `smtps://…` (TLS), `smtp+plain://…` (no TLS: a local relay).
    pub(crate) smtp_url: Option<String>,
    /// Recipient address.
    pub(crate) email_to: Option<String>,
    /// Sender address (default: `lomob@HOSTNAME`).
    pub(crate) email_from: Option<String>,
    /// URL that gets an HTTP POST with a JSON body.
    pub(crate) webhook_url: Option<String>,
}

impl AlertConfig {
    /// The settings with the environment's overrides applied.
    pub(crate) fn resolved(&self) -> AlertConfig {
        let env = |k: &str, v: &Option<String>| {
            std::env::var(k)
                .ok()
                .filter(|s| !s.is_empty())
                .or_else(|| v.clone())
        };
        AlertConfig {
            smtp_url: env("LOMOB_ALERT_SMTP_URL", &self.smtp_url),
            email_to: env("LOMOB_ALERT_EMAIL_TO", &self.email_to),
            email_from: env("LOMOB_ALERT_EMAIL_FROM", &self.email_from),
            webhook_url: env("LOMOB_ALERT_WEBHOOK_URL", &self.webhook_url),
        }
    }
}

/// `[scan]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScanConfig {
    pub(crate) ignore_files: Option<Vec<String>>,
    pub(crate) ignore_dirs: Option<Vec<String>>,
    pub(crate) threads: Option<usize>,
}

/// `[[site]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteConfig {
    /// Unique name, used on the command line.
    pub(crate) name: String,
    /// Site URL (`s3://`, `gs://`, `az://`, `file://`, `gdrive://`).
    pub(crate) url: String,
    /// What the site receives.
    #[serde(default)]
    pub(crate) role: Role,
    /// Storage class for archives, e.g. `DEEP_ARCHIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) storage_class: Option<String>,
    /// Never overwrite or delete anything there.
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) append_only: bool,
    /// Encrypt what goes there (off: plain ISO images that mount anywhere).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub(crate) encrypt: bool,
    /// Bandwidth limit per second, e.g. "2MB".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bandwidth_limit: Option<String>,
    /// Credentials and settings as object_store keys (`aws_access_key_id`, …).
    /// They override the environment; they are never printed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) credentials: BTreeMap<String, String>,
}

/// What a site receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// New files, one encrypted object each, until they are archived.
    Staging,
    /// Packed ISO images.
    Archive,
    /// Both.
    #[default]
    Both,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Staging => "staging",
            Role::Archive => "archive",
            Role::Both => "both",
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

/// lomob's XDG directories.
pub(crate) fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "lomob")
}

/// The config file to use: `--config`/`LOMOB_CONFIG`, else the XDG location.
pub(crate) fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| project_dirs().map(|d| d.config_dir().join("config.toml")))
}

impl Config {
    /// Loads the config. A missing file is an error only when named explicitly.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Config> {
        let Some(path) = config_path(explicit) else {
            return Ok(Config::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read config file {}", path.display()));
            }
        };
        let config: Config =
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
        config
            .check()
            .with_context(|| format!("config file {}", path.display()))?;
        Ok(config)
    }

    /// What the file format cannot say: site names are unique.
    fn check(&self) -> Result<()> {
        for (i, s) in self.sites.iter().enumerate() {
            if self.sites[..i].iter().any(|o| o.name == s.name) {
                anyhow::bail!(
                    "two sites are named {:?}: site names must be unique",
                    s.name
                );
            }
        }
        Ok(())
    }
}

/// A commented config for `lomob init`.
pub(crate) fn template(db: &Path, roots: &[PathBuf], site: &Path) -> String {
    let q = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    let roots_toml = if roots.is_empty() {
        "roots = [\n    # \"/home/me/Pictures\",\n]".to_string()
    } else {
        let items: Vec<String> = roots.iter().map(|r| format!("    {},", q(r))).collect();
        format!("roots = [\n{}\n]", items.join("\n"))
    };
    let ignore = |v: &[&str]| {
        v.iter()
            .map(|s| toml::Value::String((*s).to_string()).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"# lomob configuration. Flags and LOMOB_* environment variables override it.

# The catalog: what exists under the roots, its hashes and where copies live.
db = {db}

# Folders to back up (`lomob scan` with no folder named scans these).
{roots_toml}

[scan]
# Names (glob patterns) skipped everywhere. Replacing a list replaces the defaults.
ignore_files = [{ignore_files}]
ignore_dirs = [{ignore_dirs}]
# Worker threads for scanning; 0 = one per CPU.
threads = 0

# Where copies go. The default is a local folder used for both staging and
# archives, so lomob works with no cloud account; point it at a NAS or a
# removable disk, and add cloud sites, for copies that survive the house.
[[site]]
name = "local"
url = {site_url}
role = "both"

# Who hears about problems (a check finding differences, a backup with
# problems), once per kind of event per day. LOMOB_ALERT_SMTP_URL,
# LOMOB_ALERT_EMAIL_TO, LOMOB_ALERT_EMAIL_FROM and LOMOB_ALERT_WEBHOOK_URL
# override these. Try them with `lomob alert test`.
[alert]
# smtp_url = "smtp://user:password@smtp.example.com:587"   # smtps:// for TLS, smtp+plain:// for a local relay
# email_to = "you@example.com"
# email_from = "lomob@example.com"
# webhook_url = "https://example.com/hooks/lomob"

# What `lomob watch` runs when (its last runs are kept in the catalog, so a
# restart neither repeats nor skips them), and how long a site may fail
# before an alert goes out. Durations like 12h, 1d, 30d; "off" disables.
[schedule]
# staging_check = "1d"
# archive_check = "30d"
# full_rescan = "1d"
# site_offline_alert = "3d"
"#,
        db = q(db),
        ignore_files = ignore(lomo_catalog::DEFAULT_IGNORE_FILES),
        ignore_dirs = ignore(lomo_catalog::DEFAULT_IGNORE_DIRS),
        site_url = toml::Value::String(format!("file://{}", site.display())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_back() {
        let t = template(
            Path::new("/data/lomob.db"),
            &[PathBuf::from("/home/me/Pictures \"x\"")],
            Path::new("/data/site"),
        );
        let c: Config = toml::from_str(&t).unwrap();
        assert_eq!(c.db.as_deref(), Some(Path::new("/data/lomob.db")));
        assert_eq!(c.roots, vec![PathBuf::from("/home/me/Pictures \"x\"")]);
        assert_eq!(c.sites[0].url, "file:///data/site");
        assert_eq!(c.scan.ignore_files.unwrap().len(), 3);
    }

    #[test]
    fn schedule_defaults_and_overrides() {
        let c: Config =
            toml::from_str("[schedule]\nstaging_check = \"12h\"\narchive_check = \"off\"\n")
                .unwrap();
        let s = c.schedule.resolved().unwrap();
        assert_eq!(s.staging_check, Some(Duration::from_secs(43_200)));
        assert_eq!(s.archive_check, None);
        assert_eq!(s.site_offline_alert, Some(Duration::from_secs(259_200)));
        let bad: Config = toml::from_str("[schedule]\nfull_rescan = \"daily\"\n").unwrap();
        let e = bad.schedule.resolved().unwrap_err().to_string();
        assert!(e.contains("full_rescan"), "{e}");
    }

    #[test]
    fn duplicate_site_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        let site = "[[site]]\nname = \"hot\"\nurl = \"file:///x\"\n";
        std::fs::write(&p, format!("{site}{site}")).unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("two sites are named \"hot\""), "{e}");
    }

    #[test]
    fn typos_are_errors() {
        assert!(toml::from_str::<Config>("[scan]\nignore_file = []\n").is_err());
    }
}
