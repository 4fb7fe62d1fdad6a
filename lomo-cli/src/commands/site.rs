//! `lomob site add|list|remove|test`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use futures::TryStreamExt as _;
use lomo_remote::{Backend, Location, PutOptions, Uploader};
use serde_json::json;

use super::{Ctx, Outcome};
use crate::config::{Role, SiteConfig, config_path};
use crate::output::Out;
use crate::sites;
use crate::units::{human_bytes, parse_size};

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
    #[arg(long, value_enum, default_value_t = Role::Both)]
    role: Role,
    /// Storage class for archives (DEEP_ARCHIVE, GLACIER, STANDARD_IA; GCS ARCHIVE; Azure Archive)
    #[arg(long, value_name = "CLASS")]
    storage_class: Option<String>,
    /// Never overwrite or delete anything on the site
    #[arg(long)]
    append_only: bool,
    /// Store plain images that mount anywhere (no encryption)
    #[arg(long)]
    no_encrypt: bool,
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
    let site = SiteConfig {
        name: a.name.clone(),
        url: a.url.clone(),
        role: a.role,
        storage_class: a.storage_class.clone(),
        append_only: a.append_only,
        encrypt: !a.no_encrypt,
        bandwidth_limit: None,
        credentials: BTreeMap::new(),
    };
    let url = sites::validate(&ctx.config, &site)?;
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
    sites::add_to_file(&file, &site)?;
    println!(
        "added site {} ({}) to {}",
        site.name,
        site.url,
        file.display()
    );
    Ok(Outcome::Clean)
}

/// Requests per site since the first of this month (UTC), from the ledger.
fn this_month(ctx: &Ctx) -> BTreeMap<String, lomo_catalog::Requests> {
    let mut out = BTreeMap::new();
    let path = ctx.db_path();
    if !path.exists() {
        return out;
    }
    let since = jiff::Timestamp::now().strftime("%Y-%m-01").to_string();
    if let Ok(rows) = lomo_catalog::Catalog::open(&path).and_then(|c| c.ledger(&since)) {
        for row in rows {
            let e: &mut lomo_catalog::Requests = out.entry(row.site).or_default();
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
    sites::find(&ctx.config, name)?;
    let file = config_file(ctx)?;
    if !sites::remove_from_file(&file, name)? {
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

struct Step {
    what: String,
    took: Duration,
    note: String,
}

fn test(ctx: &Ctx, name: &str, size: u64) -> Result<Outcome> {
    let all = sites::configured_or_default(ctx, false)?;
    let cfg = all
        .iter()
        .find(|s| s.name == name)
        .map_or_else(|| sites::find(&ctx.config, name), Ok)?;
    // A probe should answer quickly about a site that is down.
    let retry = lomo_remote::RetryPolicy {
        max_retries: 2,
        total_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let site = sites::open_with(ctx, cfg, retry)?;
    let rt = sites::runtime()?;
    let mut out = Out::new(ctx.global.json);
    let result = rt.block_on(probe(site.clone(), size));
    let caps = site.capabilities();
    let usage = site.usage();
    sites::record_usage(ctx, name, &usage);
    let (steps, error) = match result {
        Ok(steps) => (steps, None),
        Err((steps, e)) => (steps, Some(e)),
    };
    if out.json() {
        for s in &steps {
            out.record(
                &json!({"step": s.what, "ms": s.took.as_secs_f64() * 1000.0, "note": s.note}),
            )?;
        }
        out.record(&json!({
            "site": name, "ok": error.is_none(), "error": error.as_ref().map(|e| format!("{e:#}")),
            "capabilities": {
                "multipart": caps.multipart, "min_part_size": caps.min_part_size,
                "max_parts": caps.max_parts, "storage_classes": caps.storage_classes,
                "restore": caps.restore, "stored_checksum": caps.stored_checksum,
                "range_reads": caps.range_reads, "metered": caps.metered,
            },
            "requests": {"class_a": usage.class_a, "class_b": usage.class_b, "free": usage.free,
                         "failed": usage.failed, "bytes_sent": usage.bytes_sent,
                         "bytes_received": usage.bytes_received},
        }))?;
    } else {
        out.line(&format!("site {site}"))?;
        for s in &steps {
            out.line(&format!(
                "  {:<28} {:>9.1} ms  {}",
                s.what,
                s.took.as_secs_f64() * 1000.0,
                s.note
            ))?;
        }
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
        match &error {
            None => out.line("  OK")?,
            Some(e) => out.line(&format!("  FAILED: {e:#}"))?,
        }
    }
    out.flush()?;
    match error {
        None => Ok(Outcome::Clean),
        Some(e) => Err(e.context(format!("site {name} failed its test"))),
    }
}

type Probe = std::result::Result<Vec<Step>, (Vec<Step>, anyhow::Error)>;

async fn probe(site: Arc<dyn Backend>, size: u64) -> Probe {
    let mut steps = Vec::new();
    match probe_steps(&site, size, &mut steps).await {
        Ok(()) => Ok(steps),
        Err(e) => Err((steps, e)),
    }
}

async fn probe_steps(site: &Arc<dyn Backend>, size: u64, steps: &mut Vec<Step>) -> Result<()> {
    let id: String = (0..8)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let key = format!("lomob/probe/{id}");
    let data: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let data = Bytes::from(data);
    let mut step = |what: String, t: Instant, note: String| {
        steps.push(Step {
            what,
            took: t.elapsed(),
            note,
        });
    };

    let t = Instant::now();
    let v = Uploader::new(site.clone())
        .put(&key, data.clone(), &PutOptions::default())
        .await?;
    let mbps = size as f64 / t.elapsed().as_secs_f64().max(1e-9) / 1e6;
    step(
        format!("put {}", human_bytes(size)),
        t,
        format!(
            "{mbps:.1} MB/s, size checked{}",
            if v.sha256.is_some() {
                ", stored SHA-256 checked"
            } else {
                ""
            }
        ),
    );

    let t = Instant::now();
    let head = site.head(&key).await?;
    step(
        "head".into(),
        t,
        format!(
            "{}{}",
            head.storage_class
                .as_deref()
                .map(|c| format!("class {c}, "))
                .unwrap_or_default(),
            head.restore.map(|r| r.to_string()).unwrap_or_default()
        ),
    );

    let t = Instant::now();
    let got: Vec<Bytes> = site.get(&key, None).await?.try_collect().await?;
    if got.concat() != data {
        bail!("the probe read back differs from what was written");
    }
    step(
        format!("get {}", human_bytes(size)),
        t,
        "bytes match".into(),
    );

    let t = Instant::now();
    let (a, b) = (size / 3, (size / 3 + 65_536).min(size));
    let got: Vec<Bytes> = site.get(&key, Some(a..b)).await?.try_collect().await?;
    if got.concat() != data[a as usize..b as usize] {
        bail!("the range read differs from what was written");
    }
    step(
        format!("range get {}", human_bytes(b - a)),
        t,
        "bytes match".into(),
    );

    let t = Instant::now();
    let listed: Vec<String> = site
        .list("lomob/probe")
        .map_ok(|o| o.key)
        .try_collect()
        .await?;
    if !listed.contains(&key) {
        bail!("the probe is missing from the listing");
    }
    step(
        "list".into(),
        t,
        format!("{} object(s) under lomob/probe", listed.len()),
    );

    let caps = site.capabilities();
    if caps.multipart {
        let part = caps.min_part_size.max(1 << 20);
        let t = Instant::now();
        let up = Uploader::new(site.clone());
        let mut state = up
            .start(&format!("{key}.mp"), part + 1, part, &PutOptions::default())
            .await?;
        let src = ProbeSource(part + 1);
        up.send_parts(&mut state, src, |_| Ok(())).await?;
        up.abort(&state).await?;
        let pending = match site.list_uploads("lomob/probe").await {
            Ok(p) => format!(", {} pending upload(s) left", p.len()),
            Err(_) => String::new(),
        };
        step(
            "multipart 2 parts, abort".into(),
            t,
            format!("{}{pending}", human_bytes(part + 1)),
        );
    }

    let t = Instant::now();
    site.delete(&key).await?;
    match site.head(&key).await {
        Err(e) if e.is_not_found() => {}
        Ok(_) => bail!("the probe is still there after delete"),
        Err(e) => return Err(e.into()),
    }
    step("delete".into(), t, "gone".into());
    Ok(())
}

/// Zero bytes of a given length.
struct ProbeSource(u64);

impl lomo_remote::PartSource for ProbeSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset + buf.len() as u64 > self.0 {
            return Err(std::io::Error::other("read past the probe"));
        }
        buf.fill(0);
        Ok(())
    }
}
