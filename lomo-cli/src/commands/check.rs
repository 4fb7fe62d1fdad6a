//! `lomob check --staging|--archives`: every staging or archive site against
//! the catalog. Staging: from listings (one request per 1000 objects), plus
//! `--deep N` downloads that decrypt and hash N objects. Archives: a listing
//! (sizes, storage classes) and one HEAD per archive for the SHA-256 the
//! site keeps: no archive byte is read, nothing restored from a cold tier.
//! Exit 0 all good, 1 differences, 2 a site could not be checked. Each
//! site's check is recorded in the catalog.

use std::collections::HashMap;
use std::io::Read as _;

use anyhow::{Result, bail};
use clap::Args;
use futures::TryStreamExt as _;
use lomo_catalog::{CheckRecord, StagedCopy};
use lomo_remote::ObjectInfo;
use serde_json::{Value, json};

use super::{Ctx, Outcome};
use crate::config::Role;
use crate::output::Out;
use crate::pipeline::keys::unlock_or_create;
use crate::pipeline::stage::STAGING_PREFIX;
use crate::sites;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Check the staging sites
    #[arg(long)]
    staging: bool,
    /// Check the archive sites (metadata only: LIST and HEAD)
    #[arg(long)]
    archives: bool,
    /// Only this site
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Also download, decrypt and hash N staged objects per site
    #[arg(long, value_name = "N", default_value_t = 0)]
    deep: usize,
    /// Report staged copies older than this many days (they should be archived by then)
    #[arg(long, value_name = "DAYS", default_value_t = 60)]
    max_staged_age: u64,
}

impl CheckArgs {
    /// The scheduled check of one kind: listings and HEADs only.
    pub(crate) fn scheduled(staging: bool, archives: bool) -> CheckArgs {
        CheckArgs {
            staging,
            archives,
            site: None,
            deep: 0,
            max_staged_age: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Staging,
    Archives,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Staging => "staging",
            Kind::Archives => "archives",
        }
    }
}

pub(crate) fn run(ctx: &Ctx, args: &CheckArgs) -> Result<Outcome> {
    if !args.staging && !args.archives {
        bail!("say what to check: --staging, --archives, or both");
    }
    let mut outcome = Outcome::Clean;
    let mut failed = None;
    for kind in [Kind::Staging, Kind::Archives] {
        if (kind == Kind::Staging && !args.staging) || (kind == Kind::Archives && !args.archives) {
            continue;
        }
        match run_kind(ctx, args, kind) {
            Ok(Outcome::Problems) => outcome = Outcome::Problems,
            Ok(Outcome::Clean) => {}
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

fn run_kind(ctx: &Ctx, args: &CheckArgs, kind: Kind) -> Result<Outcome> {
    let mut catalog = ctx.existing_catalog()?;
    let rt = sites::runtime()?;
    let key = if args.deep > 0 {
        Some(unlock_or_create(ctx)?)
    } else {
        None
    };
    let mut out = Out::new(ctx.global.json);
    let (mut differences, mut unchecked) = (0u64, 0u64);
    let mut report: Vec<Value> = Vec::new();
    let now = lomo_catalog::unix_now();
    let sites_list: Vec<_> = sites::configured_or_default(ctx, false)?
        .into_iter()
        .filter(|s| match kind {
            Kind::Staging => matches!(s.role, Role::Staging | Role::Both),
            Kind::Archives => matches!(s.role, Role::Archive | Role::Both),
        })
        .filter(|s| args.site.as_ref().is_none_or(|n| *n == s.name))
        .collect();
    if sites_list.is_empty() {
        bail!(
            "no {} site to check{}",
            match kind {
                Kind::Staging => "staging",
                Kind::Archives => "archive",
            },
            args.site
                .as_ref()
                .map(|n| format!(" named {n:?}"))
                .unwrap_or_default()
        );
    }
    for cfg in sites_list {
        let mut items: Vec<Value> = Vec::new();
        let mut checked = 0u64;
        let error = match sites::open(ctx, &cfg) {
            Err(e) => Some(format!("{e:#}")),
            Ok(site) if kind == Kind::Archives => {
                let listed: lomo_remote::Result<Vec<ObjectInfo>> =
                    rt.block_on(site.list(ARCHIVES_PREFIX).try_collect());
                let result = match listed {
                    Err(e) => Some(e.to_string()),
                    Ok(objects) => {
                        checked = check_archives(&rt, &catalog, &site, &cfg, objects, &mut items)?;
                        None
                    }
                };
                sites::record_usage(ctx, &cfg.name, &site.usage());
                result
            }
            Ok(site) => {
                let listed: lomo_remote::Result<Vec<ObjectInfo>> =
                    rt.block_on(site.list(STAGING_PREFIX).try_collect());
                let result = match listed {
                    Err(e) => Some(e.to_string()),
                    Ok(objects) => {
                        let expected = catalog.staged_on(&cfg.name)?;
                        checked = expected.len() as u64;
                        compare(
                            &catalog,
                            &expected,
                            objects,
                            now,
                            args.max_staged_age,
                            &mut items,
                        )?;
                        if let Some(key) = &key {
                            deep(&rt, &site, key, &catalog, &expected, args.deep, &mut items)?;
                        }
                        // Copies found as recorded are marked verified.
                        let bad: std::collections::HashSet<String> = items
                            .iter()
                            .filter(|i| i["kind"] != "old")
                            .filter_map(|i| i["key"].as_str().map(str::to_owned))
                            .collect();
                        for c in expected.iter().filter(|c| !bad.contains(&c.key)) {
                            catalog.mark_staged_verified(c.content_id, &c.site, now)?;
                        }
                        None
                    }
                };
                sites::record_usage(ctx, &cfg.name, &site.usage());
                result
            }
        };
        sites::record_contact(&mut catalog, &cfg.name, error.as_deref());
        let problems = items.len() as u64;
        for i in &items {
            let mut i = i.clone();
            i["site"] = json!(cfg.name);
            out.record_or_line(
                &i,
                &format!(
                    "{}: {} {} {}",
                    cfg.name,
                    i["kind"].as_str().unwrap_or(""),
                    i["path"].as_str().or(i["key"].as_str()).unwrap_or(""),
                    i["detail"].as_str().unwrap_or("")
                ),
            )?;
        }
        let summary = json!({"site": cfg.name, "kind": kind.name(), "checked": checked, "problems": problems, "error": error});
        let what = match kind {
            Kind::Staging => "staged objects",
            Kind::Archives => "archives",
        };
        let text = match &error {
            Some(e) => format!("{}: could not check: {e}", cfg.name),
            None if problems == 0 => format!(
                "{}: {checked} {what}, all present and as recorded",
                cfg.name
            ),
            None => format!("{}: {checked} {what}, {problems} differences", cfg.name),
        };
        out.record_or_line(&summary, &text)?;
        differences += problems;
        unchecked += u64::from(error.is_some());
        report.extend(items.iter().map(|i| {
            let mut i = i.clone();
            i["site"] = json!(cfg.name);
            i
        }));
        report.push(summary.clone());
        let report = items
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        catalog.record_check(&CheckRecord {
            kind: kind.name().into(),
            site: cfg.name.clone(),
            started_at: now,
            finished_at: lomo_catalog::unix_now(),
            checked,
            problems,
            error,
            report,
        })?;
    }
    out.flush()?;
    if differences > 0 || unchecked > 0 {
        let k = kind.name();
        let subject = match (differences, unchecked) {
            (d, 0) => format!("lomob: the {k} check found {d} difference(s)"),
            (0, u) => format!("lomob: {u} {k} site(s) could not be checked"),
            (d, u) => format!(
                "lomob: the {k} check found {d} difference(s); {u} site(s) could not be checked"
            ),
        };
        let mut text = format!("{subject}.\n\n");
        for r in report.iter().take(200) {
            if r.get("checked").is_some() {
                // A site's summary line.
                text.push_str(&match r["error"].as_str() {
                    Some(e) => format!(
                        "{}: could not check: {e}\n",
                        r["site"].as_str().unwrap_or("")
                    ),
                    None => format!(
                        "{}: {} checked, {} difference(s)\n",
                        r["site"].as_str().unwrap_or(""),
                        r["checked"],
                        r["problems"]
                    ),
                });
                continue;
            }
            text.push_str(&format!(
                "{} {} {} {}\n",
                r["site"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                r["path"].as_str().or(r["key"].as_str()).unwrap_or(""),
                r["detail"].as_str().or(r["error"].as_str()).unwrap_or("")
            ));
        }
        text.push_str(&format!("\nRun `lomob check --{k}` for the details.\n"));
        crate::alerts::notify(
            ctx,
            &crate::alerts::Alert {
                kind: match kind {
                    Kind::Staging => "check-staging",
                    Kind::Archives => "check-archives",
                },
                subject,
                text,
                details: json!(report),
            },
        );
    }
    if unchecked > 0 {
        sites::alert_offline(ctx, &catalog)?;
        bail!("{unchecked} site(s) could not be checked");
    }
    Ok(if differences > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

use crate::pipeline::pack::ARCHIVES_PREFIX;

/// Archive copies against a listing (size, storage class, unexpected
/// objects) and one HEAD each for the stored checksum; returns how many
/// copies were checked.
fn check_archives(
    rt: &tokio::runtime::Runtime,
    catalog: &lomo_catalog::Catalog,
    site: &std::sync::Arc<dyn lomo_remote::Backend>,
    cfg: &crate::config::SiteConfig,
    objects: Vec<ObjectInfo>,
    items: &mut Vec<Value>,
) -> Result<u64> {
    let mut found: HashMap<String, ObjectInfo> =
        objects.into_iter().map(|o| (o.key.clone(), o)).collect();
    let mut checked = 0;
    for a in catalog.archives()? {
        for c in catalog.archive_copies(a.id)? {
            if c.site != cfg.name || c.done_at.is_none() {
                continue;
            }
            checked += 1;
            let Some(o) = found.remove(&c.key) else {
                items.push(json!({"kind": "missing", "key": c.key, "path": a.name, "detail": "recorded as stored, not on the site"}));
                continue;
            };
            let size = c.size.unwrap_or(a.size);
            if o.size != size {
                items.push(json!({"kind": "size", "key": c.key, "path": a.name,
                    "detail": format!("{} bytes on the site, {size} recorded", o.size)}));
                continue;
            }
            if let (Some(want), Some(got)) = (&cfg.storage_class, &o.storage_class)
                && !want.eq_ignore_ascii_case(got)
            {
                items.push(json!({"kind": "class", "key": c.key, "path": a.name,
                    "detail": format!("storage class {got}, the site is set to {want}")}));
            }
            if let Some(recorded) = &c.sha256 {
                match rt.block_on(site.head(&c.key)) {
                    Ok(h) => match &h.sha256 {
                        Some(stored) if stored.split('-').next() != recorded.split('-').next() => {
                            items.push(json!({"kind": "checksum", "key": c.key, "path": a.name,
                                "detail": "the SHA-256 the site keeps differs from the one recorded at upload"}));
                        }
                        _ => {}
                    },
                    Err(e) => items.push(json!({"kind": "unreadable", "key": c.key, "path": a.name, "detail": e.to_string()})),
                }
            }
        }
    }
    let mut extra: Vec<String> = found.into_keys().collect();
    extra.sort();
    for k in extra {
        items.push(
            json!({"kind": "unexpected", "key": k, "detail": "on the site, not in the catalog"}),
        );
    }
    Ok(checked)
}

/// Listing against catalog: missing, size or checksum differences,
/// unexpected objects, copies staged too long ago.
fn compare(
    catalog: &lomo_catalog::Catalog,
    expected: &[StagedCopy],
    objects: Vec<ObjectInfo>,
    now: i64,
    max_age_days: u64,
    items: &mut Vec<Value>,
) -> Result<()> {
    let mut found: HashMap<String, ObjectInfo> =
        objects.into_iter().map(|o| (o.key.clone(), o)).collect();
    let path_of = |id: i64| -> Result<Option<String>> {
        Ok(catalog
            .live_file_of(id)?
            .map(|f| f.path.display().to_string()))
    };
    for c in expected {
        let path = path_of(c.content_id)?;
        match found.remove(&c.key) {
            None => items.push(json!({"kind": "missing", "key": c.key, "path": path, "detail": "recorded as staged, not on the site"})),
            Some(o) if o.size != c.size => items.push(json!({"kind": "size", "key": c.key, "path": path,
                "detail": format!("{} bytes on the site, {} recorded", o.size, c.size)})),
            Some(o) => {
                if let (Some(a), Some(b)) = (&o.sha256, &c.sha256)
                    && a.split('-').next() != b.split('-').next()
                {
                    items.push(json!({"kind": "checksum", "key": c.key, "path": path,
                        "detail": "the stored SHA-256 differs from the one recorded"}));
                }
            }
        }
        let age_days = (now - c.staged_at).max(0) as u64 / 86_400;
        if age_days > max_age_days {
            items.push(json!({"kind": "old", "key": c.key, "path": path,
                "detail": format!("staged {age_days} days ago and still not archived")}));
        }
    }
    let mut extra: Vec<String> = found.into_keys().collect();
    extra.sort();
    for k in extra {
        items.push(
            json!({"kind": "unexpected", "key": k, "detail": "on the site, not in the catalog"}),
        );
    }
    Ok(())
}

/// Downloads up to `n` copies, decrypts them and compares the BLAKE3.
fn deep(
    rt: &tokio::runtime::Runtime,
    site: &std::sync::Arc<dyn lomo_remote::Backend>,
    key: &lomo_crypt::MasterKey,
    catalog: &lomo_catalog::Catalog,
    expected: &[StagedCopy],
    n: usize,
    items: &mut Vec<Value>,
) -> Result<()> {
    let already_bad: std::collections::HashSet<String> = items
        .iter()
        .filter_map(|i| i["key"].as_str().map(str::to_owned))
        .collect();
    let mut pool: Vec<&StagedCopy> = expected
        .iter()
        .filter(|c| !already_bad.contains(&c.key))
        .collect();
    // A random sample, so daily checks cover everything over time.
    for i in (1..pool.len()).rev() {
        pool.swap(i, rand::random_range(0..=i));
    }
    for c in pool.into_iter().take(n) {
        let Some(hash) = catalog.content_hash(c.content_id)? else {
            continue;
        };
        let got = crate::sites::download(rt, site, &c.key, None);
        let verdict = match got {
            Err(e) => Some(format!("cannot read: {e}")),
            Ok(bytes) => {
                let mut plain = Vec::new();
                match lomo_crypt::stream::DecryptReader::new(key, std::io::Cursor::new(bytes))
                    .and_then(|mut r| r.read_to_end(&mut plain).map_err(lomo_crypt::Error::from))
                {
                    Err(e) => Some(format!("does not decrypt: {e}")),
                    Ok(_) if blake3::hash(&plain).as_bytes() != &hash => {
                        Some("decrypts to other bytes than the catalog's".into())
                    }
                    Ok(_) => None,
                }
            }
        };
        if let Some(detail) = verdict {
            let path = catalog
                .live_file_of(c.content_id)?
                .map(|f| f.path.display().to_string());
            items.push(json!({"kind": "corrupt", "key": c.key, "path": path, "detail": detail}));
        }
    }
    Ok(())
}
