//! Sites from the config: opening them, and adding or removing them in the
//! config file without losing its comments.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lomo_remote::{Backend, Location, RetryPolicy, SiteOptions, SiteUrl};

use crate::config::{Config, SiteConfig};
use crate::fsutil::AtomicFile;
use crate::units::parse_size;

/// The tokio runtime commands that talk to sites run on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The configured sites, else the default: a local folder `./lomob-site`
/// for both roles, so a first run needs no account (`create`: make the
/// folder if missing, as a backup does; a restore only looks).
pub(crate) fn configured_or_default(
    ctx: &crate::commands::Ctx,
    create: bool,
) -> Result<Vec<SiteConfig>> {
    if !ctx.config.sites.is_empty() {
        return Ok(ctx.config.sites.clone());
    }
    let dir = std::env::current_dir()?.join("lomob-site");
    if create && !dir.is_dir() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        eprintln!(
            "no site configured: using the local folder {} (add sites with `lomob site add`)",
            dir.display()
        );
    }
    let url = SiteUrl::local(&dir)?;
    Ok(vec![SiteConfig {
        name: DEFAULT_SITE.into(),
        url: url.to_string(),
        role: crate::config::Role::Both,
        storage_class: None,
        append_only: false,
        encrypt: true,
        bandwidth_limit: None,
        credentials: Default::default(),
    }])
}

/// Name of the default local site.
pub(crate) const DEFAULT_SITE: &str = "local";

/// Reads an object (or a byte range of it) into memory: for small objects
/// and ranges only.
pub(crate) fn download(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> lomo_remote::Result<Vec<u8>> {
    use futures::StreamExt as _;
    rt.block_on(async {
        let mut buf = Vec::new();
        let mut s = site.get(key, range).await?;
        while let Some(chunk) = s.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf)
    })
}

/// The site named `name`, or an error listing the configured ones.
pub(crate) fn find<'a>(config: &'a Config, name: &str) -> Result<&'a SiteConfig> {
    config.sites.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
        if names.is_empty() {
            anyhow::anyhow!("no site named {name:?}: no sites configured (add one with `lomob site add NAME URL`)")
        } else {
            anyhow::anyhow!("no site named {name:?}; configured sites: {}", names.join(", "))
        }
    })
}

/// Parses a site's URL, with the site name in the error.
pub(crate) fn url_of(site: &SiteConfig) -> Result<SiteUrl> {
    site.url
        .parse()
        .with_context(|| format!("site {:?} in the config", site.name))
}

/// The default Google credentials and token files: beside the config file.
pub(crate) fn gdrive_files(
    config: Option<&Path>,
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let file = crate::config::config_path(config)
        .context("no home directory for the config: pass --config PATH")?;
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((
        dir.join("gdrive-credentials.json"),
        dir.join("gdrive-token.json"),
    ))
}

/// Opens a configured site.
pub(crate) fn open(ctx: &crate::commands::Ctx, site: &SiteConfig) -> Result<Arc<dyn Backend>> {
    open_with(ctx, site, RetryPolicy::default())
}

/// Opens a configured site with a retry policy (interactive commands retry
/// less, to answer quickly about a site that is down).
pub(crate) fn open_with(
    ctx: &crate::commands::Ctx,
    site: &SiteConfig,
    retry: RetryPolicy,
) -> Result<Arc<dyn Backend>> {
    let url = url_of(site)?;
    let mut opts = SiteOptions::named(&site.name).with_retry(retry);
    if let Some(limit) = &site.bandwidth_limit {
        let bytes = parse_size(limit.trim_end_matches("/s"))
            .map_err(|e| anyhow::anyhow!("site {:?}: bandwidth_limit: {e}", site.name))?;
        opts = opts.with_bandwidth_limit(Some(bytes));
    }
    for (k, v) in &site.credentials {
        opts = opts.with_credential(k, v);
    }
    if matches!(url.location(), Location::Drive { .. }) {
        let (cred, token) = gdrive_files(ctx.global.config.as_deref())?;
        for (k, default) in [("gdrive_credentials", cred), ("gdrive_token", token)] {
            if !site.credentials.contains_key(k) {
                opts = opts.with_credential(k, default.display().to_string());
            }
        }
    }
    Ok(lomo_remote::open(&url, &opts)?)
}

/// Adds what `site` was asked to the catalog's request ledger (today, UTC),
/// when a catalog exists; a failure to record is a warning, not an error.
pub(crate) fn record_usage(ctx: &crate::commands::Ctx, site: &str, u: &lomo_remote::Usage) {
    let path = ctx.db_path();
    if !path.exists() || u.requests() == 0 {
        return;
    }
    let r = lomo_catalog::Requests {
        class_a: u.class_a,
        class_b: u.class_b,
        free: u.free,
        failed: u.failed,
        bytes_sent: u.bytes_sent,
        bytes_received: u.bytes_received,
    };
    let day = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let done =
        lomo_catalog::Catalog::open(&path).and_then(|mut c| c.record_requests(site, &day, &r));
    if let Err(e) = done {
        tracing::warn!("could not record the requests to site {site} in the catalog: {e}");
    }
}

/// Records in `catalog` whether `site` could be reached now (`error`:
/// why not); a failure to record is a warning.
pub(crate) fn record_contact(catalog: &mut lomo_catalog::Catalog, site: &str, error: Option<&str>) {
    if let Err(e) = catalog.record_site_contact(site, lomo_catalog::unix_now(), error) {
        tracing::warn!("could not record whether site {site} answered: {e}");
    }
}

/// Alerts (once a day) about configured sites that have failed every
/// attempt for longer than `[schedule] site_offline_alert`. Returns their
/// names.
pub(crate) fn alert_offline(
    ctx: &crate::commands::Ctx,
    catalog: &lomo_catalog::Catalog,
) -> Result<Vec<String>> {
    let Some(limit) = ctx.config.schedule.resolved()?.site_offline_alert else {
        return Ok(Vec::new());
    };
    let now = lomo_catalog::unix_now();
    let configured = configured_or_default(ctx, false)?;
    let long: Vec<lomo_catalog::SiteContact> = catalog
        .site_contacts()?
        .into_iter()
        .filter(|c| configured.iter().any(|s| s.name == c.site))
        .filter(|c| {
            c.failing_since
                .is_some_and(|t| now - t >= i64::try_from(limit.as_secs()).unwrap_or(i64::MAX))
        })
        .collect();
    if long.is_empty() {
        return Ok(Vec::new());
    }
    let when = |t: Option<i64>| {
        t.and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map_or_else(
                || "never".to_owned(),
                |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            )
    };
    let lines: Vec<String> = long
        .iter()
        .map(|c| {
            format!(
                "site {}: failing since {} (last reached: {}): {}",
                c.site,
                when(c.failing_since),
                when(c.last_ok),
                c.last_error.as_deref().unwrap_or("?")
            )
        })
        .collect();
    for l in &lines {
        eprintln!("lomob: warning: {l}");
    }
    let names: Vec<String> = long.iter().map(|c| c.site.clone()).collect();
    crate::alerts::notify(
        ctx,
        &crate::alerts::Alert {
            kind: "site-offline",
            subject: format!(
                "lomob: {} unreachable for more than {}",
                if names.len() == 1 {
                    format!("site {}", names[0])
                } else {
                    format!("{} sites", names.len())
                },
                crate::units::human_duration(limit)
            ),
            text: format!(
                "{}\n\nNew files are not reaching {}. Mount the disk, fix the \
                 credentials or the network; the next backup catches up.",
                lines.join("\n"),
                if names.len() == 1 { "it" } else { "them" }
            ),
            details: serde_json::json!(
                long.iter()
                    .map(|c| serde_json::json!({
                        "site": c.site,
                        "failing_since": c.failing_since,
                        "last_ok": c.last_ok,
                        "error": c.last_error,
                    }))
                    .collect::<Vec<_>>()
            ),
        },
    );
    Ok(names)
}

/// Checks a new site's settings before it is written to the config.
pub(crate) fn validate(config: &Config, site: &SiteConfig) -> Result<SiteUrl> {
    if site.name.is_empty()
        || !site
            .name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        bail!("site name {:?}: use letters, digits, - _ .", site.name);
    }
    if config.sites.iter().any(|s| s.name == site.name) {
        bail!(
            "a site named {:?} exists already (remove it first)",
            site.name
        );
    }
    let url = url_of(site)?;
    if let Some(other) = config.sites.iter().find(|s| s.url == site.url) {
        bail!("site {:?} has the same URL already", other.name);
    }
    if site.storage_class.is_some() && matches!(url.location(), Location::Local { .. }) {
        bail!("--storage-class applies to cloud sites, not to a local folder");
    }
    Ok(url)
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
    write(path, &doc.to_string())
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
    write(path, &doc.to_string())?;
    Ok(true)
}

/// Replaces the config file atomically, keeping its permissions (0600 for a
/// new file: it may hold credentials).
fn write(path: &Path, text: &str) -> Result<()> {
    let text = if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o777);
    let mut f = AtomicFile::create(path, true)?;
    f.file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.file()
        .write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    fn site(name: &str, url: &str) -> SiteConfig {
        SiteConfig {
            name: name.into(),
            url: url.into(),
            role: Role::Archive,
            storage_class: Some("DEEP_ARCHIVE".into()),
            append_only: true,
            encrypt: false,
            bandwidth_limit: None,
            credentials: Default::default(),
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
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
