//! The TOML config file: roots, scan settings, sites, alerts, schedules,
//! prices — and adding or removing sites in it without losing its comments.
//!
//! Precedence: command-line flags, then `LOMOB_*` environment variables (clap
//! reads both), then this file, then built-in defaults.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lomob::fsutil::AtomicFile;
use lomob::{AlertSettings, Prices, Schedule, SiteConfig};
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
    pub(crate) alert: AlertSettings,
    /// Price table overrides for `lomob cost`, by storage class.
    #[serde(default)]
    pub(crate) prices: BTreeMap<String, Prices>,
    /// When the watch daemon checks, rescans, and when silence is an alert.
    #[serde(default)]
    pub(crate) schedule: ScheduleConfig,
    /// What the daemon does about damage a check finds.
    #[serde(default)]
    pub(crate) repair: RepairConfig,
    /// How lomob talks to sites.
    #[serde(default)]
    pub(crate) network: NetworkConfig,
}

/// `[network]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkConfig {
    /// How long one request is retried before the site counts as
    /// unavailable for this run (default 3m).
    pub(crate) retry_for: Option<String>,
}

impl NetworkConfig {
    /// `retry_for`, or the default; a bad value names the key.
    pub(crate) fn retry_for(&self) -> Result<Option<std::time::Duration>> {
        self.retry_for
            .as_deref()
            .map(|v| {
                lomob::units::parse_duration(v)
                    .map_err(|e| anyhow::anyhow!("config [network] retry_for: {e}"))
            })
            .transpose()
    }
}

/// `[repair]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepairConfig {
    /// The watch daemon repairs what a scheduled check found, at once.
    #[serde(default)]
    pub(crate) auto: bool,
}

/// `[schedule]`: durations such as `12h`, `1d`, `30d`, or `off`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleConfig {
    /// How often `lomob watch` runs the staging check (default 1d).
    pub(crate) staging_check: Option<String>,
    /// How often `lomob watch` runs the archive check (default 30d).
    pub(crate) archive_check: Option<String>,
    /// How often every archive on a folder site is read whole and
    /// authenticated (default 30d); each archive check reads the share due.
    pub(crate) archive_verify: Option<String>,
    /// How often `lomob watch` rescans every root whole (default 1d).
    pub(crate) full_rescan: Option<String>,
    /// Alert when a site has failed every attempt for this long (default 3d).
    pub(crate) site_offline_alert: Option<String>,
}

impl ScheduleConfig {
    /// The schedule with defaults filled in; a bad duration is an error naming its key.
    pub(crate) fn resolved(&self) -> Result<Schedule> {
        let get = |key: &str, v: &Option<String>, default: u64| -> Result<Option<Duration>> {
            match v.as_deref().map(str::trim) {
                None => Ok(Some(Duration::from_secs(default))),
                Some("off") => Ok(None),
                Some(s) => lomob::units::parse_duration(s)
                    .map(Some)
                    .map_err(|e| anyhow::anyhow!("config [schedule] {key}: {e} (or \"off\")")),
            }
        };
        const DAY: u64 = 86_400;
        Ok(Schedule {
            staging_check: get("staging_check", &self.staging_check, DAY)?,
            archive_check: get("archive_check", &self.archive_check, 30 * DAY)?,
            archive_verify: get("archive_verify", &self.archive_verify, 30 * DAY)?,
            full_rescan: get("full_rescan", &self.full_rescan, DAY)?,
            site_offline_alert: get("site_offline_alert", &self.site_offline_alert, 3 * DAY)?,
        })
    }
}

/// The `[alert]` settings with each `LOMOB_ALERT_*` environment
/// variable's override applied.
pub(crate) fn alert_settings(a: &AlertSettings) -> AlertSettings {
    let env = |k: &str, v: &Option<String>| {
        std::env::var(k)
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| v.clone())
    };
    AlertSettings {
        smtp_url: env("LOMOB_ALERT_SMTP_URL", &a.smtp_url),
        email_to: env("LOMOB_ALERT_EMAIL_TO", &a.email_to),
        email_from: env("LOMOB_ALERT_EMAIL_FROM", &a.email_from),
        webhook_url: env("LOMOB_ALERT_WEBHOOK_URL", &a.webhook_url),
    }
}

/// `[scan]`
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScanConfig {
    pub(crate) ignore_files: Option<Vec<String>>,
    pub(crate) ignore_dirs: Option<Vec<String>>,
    pub(crate) threads: Option<usize>,
    /// The share of a root's files deleted or changed by one scan that
    /// holds its backups until accepted, e.g. `"20%"` (default), or `"off"`.
    pub(crate) alarm: Option<String>,
}

impl ScanConfig {
    /// `alarm` as a fraction (`None`: off); a bad value names the key.
    pub(crate) fn alarm_share(&self) -> Result<Option<f64>> {
        let Some(v) = self.alarm.as_deref().map(str::trim) else {
            return Ok(Some(0.2));
        };
        if v == "off" {
            return Ok(None);
        }
        let pct: f64 = v
            .strip_suffix('%')
            .and_then(|n| n.trim().parse().ok())
            .filter(|p: &f64| (0.0..=100.0).contains(p))
            .with_context(|| {
                format!("config [scan] alarm: {v:?} is not a share like \"20%\" (or \"off\")")
            })?;
        Ok(Some(pct / 100.0))
    }
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

    /// What the file format cannot say: site names are unique, lock
    /// durations read.
    fn check(&self) -> Result<()> {
        for (i, s) in self.sites.iter().enumerate() {
            s.lock_policy()?;
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
pub(crate) fn template(db: &Path, key_file: &Path, roots: &[PathBuf], site: &Path) -> String {
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

# The master key, protected by your passphrase (a copy is on every site).
# It belongs to this catalog: another catalog has its own.
key_file = {key_file}

# Folders to back up (`lomob scan` with no folder named scans these).
{roots_toml}

[scan]
# Names (glob patterns) skipped everywhere. Replacing a list replaces the defaults.
ignore_files = [{ignore_files}]
ignore_dirs = [{ignore_dirs}]
# Worker threads for scanning; 0 = one per CPU.
threads = 0
# A scan that deletes or changes more than this share of a root's files (an
# unmounted disk, ransomware) holds that root's backups until you accept it
# with `lomob backup --accept-changes ROOT`; "off" disables it.
# alarm = "20%"

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
# archive_verify = "30d"   # every archive on a folder site read and authenticated once in this period
# full_rescan = "1d"
# site_offline_alert = "3d"

# What the daemon does when a check finds a copy missing or damaged: with
# auto, it rebuilds it at once (from parity, the local files or another
# site), as `lomob repair` does.
[repair]
# auto = true

# How long one request to a site is retried before that site counts as
# unavailable for this run (it catches up on the next one).
[network]
# retry_for = "3m"
"#,
        db = q(db),
        key_file = q(key_file),
        ignore_files = ignore(lomo_catalog::DEFAULT_IGNORE_FILES),
        ignore_dirs = ignore(lomo_catalog::DEFAULT_IGNORE_DIRS),
        site_url = toml::Value::String(format!("file://{}", site.display())),
    )
}

/// Appends a `[[site]]` table to the config file (created if missing).
pub(crate) fn add_to_file(path: &Path, site: &SiteConfig) -> Result<()> {
    let (text, new) = match std::fs::read_to_string(path) {
        Ok(t) => (t, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), true),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("config file {}", path.display()))?;
    let mut t = toml_edit::Table::new();
    if new {
        t.decor_mut()
            .set_prefix("# lomob configuration (`lomob init` writes a commented template).\n\n");
    }
    t["name"] = toml_edit::value(&site.name);
    t["url"] = toml_edit::value(&site.url);
    t["role"] = toml_edit::value(site.role.as_str());
    if let Some(c) = &site.storage_class {
        t["storage_class"] = toml_edit::value(c);
    }
    if site.append_only {
        t["append_only"] = toml_edit::value(true);
    }
    if !site.encrypt {
        t["encrypt"] = toml_edit::value(false);
    }
    if let Some(p) = &site.parity {
        t["parity"] = toml_edit::value(p);
    }
    if let Some(l) = &site.lock {
        t["lock"] = toml_edit::value(l);
    }
    if let Some(m) = site.lock_mode {
        t["lock_mode"] = toml_edit::value(m.as_s3().to_ascii_lowercase());
    }
    let entry = doc
        .entry("site")
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()));
    let Some(list) = entry.as_array_of_tables_mut() else {
        bail!(
            "config file {}: `site` is not a list of [[site]] tables",
            path.display()
        );
    };
    list.push(t);
    write_private(path, &doc.to_string())
}

/// Removes the `[[site]]` named `name`; false if there was none.
pub(crate) fn remove_from_file(path: &Path, name: &str) -> Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("config file {}", path.display()))?;
    let Some(list) = doc.get_mut("site").and_then(|i| i.as_array_of_tables_mut()) else {
        return Ok(false);
    };
    let before = list.len();
    list.retain(|t| t.get("name").and_then(|v| v.as_str()) != Some(name));
    if list.len() == before {
        return Ok(false);
    }
    write_private(path, &doc.to_string())?;
    Ok(true)
}

/// Writes the config file `path` whole (temp file, then renamed into
/// place), readable by its owner only (0600) whatever it was before: it
/// may hold credentials and the SMTP password.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    let text = if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut f = AtomicFile::create(path, true)?;
    f.file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.file()
        .write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(f.commit()?)
}

/// Sets the top-level `key_file` of the config file (created if missing).
pub(crate) fn set_key_file(path: &Path, key_file: &Path) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("config file {}", path.display()))?;
    doc["key_file"] = toml_edit::value(key_file.display().to_string());
    write_private(path, &doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_back() {
        let t = template(
            Path::new("/data/lomob.db"),
            Path::new("/data/lomob.db.key"),
            &[PathBuf::from("/home/me/Pictures \"x\"")],
            Path::new("/data/site"),
        );
        let c: Config = toml::from_str(&t).unwrap();
        assert_eq!(c.db.as_deref(), Some(Path::new("/data/lomob.db")));
        assert_eq!(c.key_file.as_deref(), Some(Path::new("/data/lomob.db.key")));
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
    fn alarm_shares() {
        let c = |t: &str| toml::from_str::<Config>(t).unwrap().scan.alarm_share();
        assert_eq!(c("").unwrap(), Some(0.2));
        assert_eq!(c("[scan]\nalarm = \"35%\"\n").unwrap(), Some(0.35));
        assert_eq!(c("[scan]\nalarm = \"off\"\n").unwrap(), None);
        let e = format!("{:#}", c("[scan]\nalarm = \"lots\"\n").unwrap_err());
        assert!(e.contains("[scan] alarm"), "{e}");
    }

    #[test]
    fn typos_are_errors() {
        assert!(toml::from_str::<Config>("[scan]\nignore_file = []\n").is_err());
    }

    use lomob::Role;

    fn site(name: &str, url: &str) -> SiteConfig {
        SiteConfig {
            name: name.into(),
            url: url.into(),
            role: Role::Archive,
            storage_class: Some("DEEP_ARCHIVE".into()),
            append_only: true,
            encrypt: false,
            bandwidth_limit: None,
            parity: None,
            lock: Some("10y".into()),
            lock_mode: Some(lomob::lomo_remote::LockMode::Governance),
            credentials: Default::default(),
            memo: None,
        }
    }

    #[test]
    fn add_and_remove_keep_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "# my comment\nroots = [\"/p\"]\n\n[[site]]\nname = \"a\"\nurl = \"file:///x\"\n",
        )
        .unwrap();
        add_to_file(&path, &site("b", "s3://bucket/p")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my comment"), "{text}");
        let c: Config = toml::from_str(&text).unwrap();
        assert_eq!(c.sites.len(), 2);
        assert_eq!(c.sites[1].storage_class.as_deref(), Some("DEEP_ARCHIVE"));
        assert!(c.sites[1].append_only && !c.sites[1].encrypt);
        assert!(remove_from_file(&path, "a").unwrap());
        assert!(!remove_from_file(&path, "a").unwrap());
        let c: Config = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(c.sites.len(), 1);
        assert_eq!(c.sites[0].name, "b");
    }

    #[test]
    fn new_config_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        add_to_file(&path, &site("b", "s3://bucket/p")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        // a config an older lomob left readable to all is private once rewritten
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        add_to_file(&path, &site("c", "s3://bucket/q")).unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
