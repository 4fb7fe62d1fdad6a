//! `lomob site add|list|remove|test`

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use lomob::lomo_remote::Location;
use lomob::units::parse_size;
use lomob::{Role, SiteConfig};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::cli::config::{add_to_file, config_path, remove_from_file};
use crate::cli::output::{Out, human_bytes};

/// What a site receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    /// New files, one encrypted object each, until they are archived.
    Staging,
    /// Packed ISO images.
    Archive,
    /// Both.
    Both,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Staging => Role::Staging,
            RoleArg::Archive => Role::Archive,
            RoleArg::Both => Role::Both,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum SiteCommand {
    /// Add a site to the config file.
    Add(AddArgs),
    /// List the configured sites.
    List,
    /// Remove a site from the config file (nothing on the site is deleted).
    Remove {
        /// The site's name
        name: String,
    },
    /// Write, read back, range-read, list and delete a probe object; print
    /// latencies and what the site supports.
    Test {
        /// The site's name
        name: String,
        /// Size of the probe object
        #[arg(long, default_value = "4MB", value_parser = parse_size)]
        size: u64,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// A name for the site (letters, digits, - _ .)
    name: String,
    /// s3://BUCKET/PREFIX?region=R&endpoint=URL, gs://BUCKET/PREFIX,
    /// az://CONTAINER/PREFIX?account=A, file:///PATH, gdrive://FOLDER
    url: String,
    /// What the site receives
    #[arg(long, value_enum, default_value_t = RoleArg::Both)]
    role: RoleArg,
    /// Storage class for archives (DEEP_ARCHIVE, GLACIER, STANDARD_IA; GCS ARCHIVE; Azure Archive)
    #[arg(long, value_name = "CLASS")]
    storage_class: Option<String>,
    /// Never overwrite or delete anything on the site
    #[arg(long)]
    append_only: bool,
    /// Store plain images that mount anywhere (no encryption)
    #[arg(long)]
    no_encrypt: bool,
    /// Lock each archive with S3 Object Lock for this long (10y, 3650d):
    /// nobody, these credentials included, can delete or overwrite it
    /// before then. The bucket must have Object Lock enabled.
    #[arg(long, value_name = "DURATION")]
    lock: Option<String>,
    /// The lock's mode: compliance (nobody can shorten it) or governance
    /// (a user allowed to bypass governance can)
    #[arg(long, value_name = "MODE", requires = "lock", value_parser = parse_lock_mode)]
    lock_mode: Option<lomob::lomo_remote::LockMode>,
    /// Reed–Solomon parity beside each archive, e.g. 5%: that share of
    /// damaged chunks is rebuilt without any other copy (a lone disk)
    #[arg(long, value_name = "SHARE")]
    parity: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, cmd: &SiteCommand) -> Result<Outcome> {
    match cmd {
        SiteCommand::Add(a) => add(ctx, a),
        SiteCommand::List => list(ctx),
        SiteCommand::Remove { name } => remove(ctx, name),
        SiteCommand::Test { name, size } => test(ctx, name, *size),
    }
}

fn config_file(ctx: &Ctx) -> Result<std::path::PathBuf> {
    config_path(ctx.global.config.as_deref())
        .context("no home directory for the config file: pass --config PATH")
}

fn add(ctx: &Ctx, a: &AddArgs) -> Result<Outcome> {
    let mut site = SiteConfig::new(&a.name, &a.url).with_role(a.role.into());
    site.storage_class.clone_from(&a.storage_class);
    site.append_only = a.append_only;
    site.encrypt = !a.no_encrypt;
    site.parity.clone_from(&a.parity);
    site.parity_share()?;
    site.lock.clone_from(&a.lock);
    site.lock_mode = a.lock_mode;
    let url = lomob::sites::validate(&ctx.config.sites, &site)?;
    let lock_note = match site.lock_policy()? {
        Some(policy) => {
            // Never a site set to lock whose bucket would store archives unlocked.
            let rt = lomob::sites::runtime()?;
            let backend = lomob::sites::open(&site, quick_retry())?;
            let note = lomob::sites::lock::check_bucket(&rt, &backend, &site)?;
            Some(format!(
                "archives locked {policy} from their upload; {note}"
            ))
        }
        None => None,
    };
    if let Location::Local { path } = url.location() {
        // Adding a folder site is the one moment lomob creates the folder:
        // later, a missing folder means an unmounted disk.
        if !path.is_dir() {
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create the site folder {}", path.display()))?;
            eprintln!("created folder {}", path.display());
        }
    }
    let file = config_file(ctx)?;
    add_to_file(&file, &site)?;
    println!(
        "added site {} ({}) to {}",
        site.name,
        site.url,
        file.display()
    );
    if let Some(note) = lock_note {
        println!("{note}");
    }
    Ok(Outcome::Clean)
}

/// Requests per site since the first of this month (UTC), from the ledger.
fn this_month(ctx: &Ctx) -> BTreeMap<String, lomob::lomo_catalog::Requests> {
    let mut out = BTreeMap::new();
    let path = ctx.db_path();
    if !path.exists() {
        return out;
    }
    let since = jiff::Timestamp::now().strftime("%Y-%m-01").to_string();
    if let Ok(rows) = lomob::lomo_catalog::Catalog::open(&path).and_then(|c| c.ledger(&since)) {
        for row in rows {
            let e: &mut lomob::lomo_catalog::Requests = out.entry(row.site).or_default();
            e.class_a += row.requests.class_a;
            e.class_b += row.requests.class_b;
            e.free += row.requests.free;
            e.failed += row.requests.failed;
            e.bytes_sent += row.requests.bytes_sent;
            e.bytes_received += row.requests.bytes_received;
        }
    }
    out
}

fn list(ctx: &Ctx) -> Result<Outcome> {
    let mut out = Out::new(ctx.global.json);
    let month = this_month(ctx);
    for s in &ctx.config.sites {
        let used = month.get(&s.name).copied().unwrap_or_default();
        if out.json() {
            out.record(&json!({
                "name": s.name, "url": s.url, "role": s.role.as_str(),
                "storage_class": s.storage_class, "append_only": s.append_only,
                "encrypt": s.encrypt, "bandwidth_limit": s.bandwidth_limit,
                "credentials": s.credentials.keys().collect::<Vec<_>>(),
                "requests_this_month": {
                    "class_a": used.class_a, "class_b": used.class_b, "free": used.free,
                    "failed": used.failed, "bytes_sent": used.bytes_sent,
                    "bytes_received": used.bytes_received,
                },
            }))?;
        } else {
            let mut flags = Vec::new();
            if let Some(c) = &s.storage_class {
                flags.push(c.clone());
            }
            if s.append_only {
                flags.push("append-only".into());
            }
            if !s.encrypt {
                flags.push("not encrypted".into());
            }
            if !used.is_empty() {
                flags.push(format!(
                    "this month: {} PUT/LIST + {} GET/HEAD requests, {} sent",
                    used.class_a,
                    used.class_b,
                    human_bytes(used.bytes_sent)
                ));
            }
            if !s.credentials.is_empty() {
                flags.push(format!(
                    "credentials: {}",
                    s.credentials.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            out.line(&format!(
                "{:<12} {:<8} {}{}",
                s.name,
                s.role.as_str(),
                s.url,
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", flags.join(", "))
                }
            ))?;
        }
    }
    if ctx.config.sites.is_empty() && !out.json() {
        eprintln!("no sites configured: add one with `lomob site add NAME URL`");
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

fn remove(ctx: &Ctx, name: &str) -> Result<Outcome> {
    lomob::sites::find(&ctx.config.sites, name)?;
    let file = config_file(ctx)?;
    if !remove_from_file(&file, name)? {
        bail!(
            "site {name:?} is not in {} (set elsewhere?)",
            file.display()
        );
    }
    println!(
        "removed site {name} from {}; nothing on the site was deleted",
        file.display()
    );
    Ok(Outcome::Clean)
}

fn parse_lock_mode(s: &str) -> Result<lomob::lomo_remote::LockMode, String> {
    s.parse()
}

/// A probe should answer quickly about a site that is down.
fn quick_retry() -> lomob::lomo_remote::RetryPolicy {
    lomob::lomo_remote::RetryPolicy {
        max_retries: 2,
        total_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(60),
        ..Default::default()
    }
}

fn test(ctx: &Ctx, name: &str, size: u64) -> Result<Outcome> {
    let all = ctx.sites(false)?;
    let cfg = lomob::sites::find(&all, name)?;
    let site = lomob::sites::open(cfg, quick_retry())?;
    let rt = lomob::sites::runtime()?;
    // On a site with an archive class (DEEP_ARCHIVE…), that class is tried too.
    let archive = cfg
        .archive_class()
        .filter(|_| site.capabilities().storage_classes)
        .map(|_| cfg.archive_options(None).with_lock(None));
    let mut report = lomob::sites::probe(&rt, &site, size, (&cfg.hot_options(), archive.as_ref()));
    if report.error.is_none() && cfg.lock.is_some() {
        lomob::sites::probe_lock(&rt, &site, cfg, &mut report);
    }
    ctx.record_usage(name, &report.usage);
    let mut out = Out::new(ctx.global.json);
    if out.json() {
        probe_json(&mut out, name, &report)?;
    } else {
        out.line(&format!("site {site}"))?;
        probe_text(&mut out, &report)?;
    }
    out.flush()?;
    match report.error {
        None => Ok(Outcome::Clean),
        Some(e) => Err(anyhow::Error::new(e).context(format!("site {name} failed its test"))),
    }
}

fn probe_json(out: &mut Out, name: &str, r: &lomob::ProbeReport) -> std::io::Result<()> {
    for s in &r.steps {
        out.record(&json!({"step": s.what, "ms": s.took.as_secs_f64() * 1000.0, "note": s.note}))?;
    }
    let (caps, usage) = (&r.capabilities, &r.usage);
    out.record(&json!({
        "site": name, "ok": r.error.is_none(), "error": r.error.as_ref().map(ToString::to_string),
        "capabilities": {
            "multipart": caps.multipart, "min_part_size": caps.min_part_size,
            "max_parts": caps.max_parts, "storage_classes": caps.storage_classes,
            "restore": caps.restore, "stored_checksum": caps.stored_checksum,
            "range_reads": caps.range_reads, "metered": caps.metered,
        },
        "requests": {"class_a": usage.class_a, "class_b": usage.class_b, "free": usage.free,
                     "failed": usage.failed, "bytes_sent": usage.bytes_sent,
                     "bytes_received": usage.bytes_received},
    }))
}

fn probe_text(out: &mut Out, r: &lomob::ProbeReport) -> std::io::Result<()> {
    for s in &r.steps {
        out.line(&format!(
            "  {:<28} {:>9.1} ms  {}",
            s.what,
            s.took.as_secs_f64() * 1000.0,
            s.note
        ))?;
    }
    let (caps, usage) = (&r.capabilities, &r.usage);
    let mut can = vec![if caps.max_parts == u32::MAX {
        "resumable multipart uploads (any part size)".to_owned()
    } else {
        format!(
            "resumable multipart uploads (parts of {} or more, up to {})",
            human_bytes(caps.min_part_size),
            caps.max_parts
        )
    }];
    if caps.storage_classes {
        can.push("storage classes".into());
    }
    if caps.restore {
        can.push("restores from cold tiers".into());
    }
    can.push(if caps.stored_checksum {
        "stored SHA-256 checksums (checks need no download)".into()
    } else {
        "no stored checksums (checks read the bytes)".into()
    });
    if caps.range_reads {
        can.push("range reads".into());
    }
    out.line(&format!("  supports: {}", can.join(", ")))?;
    out.line(&format!(
        "  requests: {} (PUT/LIST class {}, GET/HEAD class {}, free {}, failed {}), sent {}, received {}",
        usage.requests(), usage.class_a, usage.class_b, usage.free, usage.failed,
        human_bytes(usage.bytes_sent), human_bytes(usage.bytes_received)
    ))?;
    match &r.error {
        None => out.line("  OK"),
        Some(e) => out.line(&format!("  FAILED: {e}")),
    }
}
