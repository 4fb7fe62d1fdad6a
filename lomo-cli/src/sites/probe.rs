//! The probe `lomob site test` runs: write, read back, range-read, list,
//! a two-part multipart upload aborted, delete — timing each step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt as _;
use lomo_remote::{Backend, Capabilities, PutOptions, Uploader, Usage};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::units::human_bytes;

/// One step of the probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeStep {
    /// What was done.
    #[serde(rename = "step")]
    pub what: String,
    /// How long it took.
    #[serde(skip)]
    pub took: Duration,
    /// What was found.
    pub note: String,
}

/// What the probe found.
#[derive(Debug)]
pub struct ProbeReport {
    /// The steps that ran, in order.
    pub steps: Vec<ProbeStep>,
    /// What the site says it supports.
    pub capabilities: Capabilities,
    /// The requests the probe made.
    pub usage: Usage,
    /// The step that failed, if one did.
    pub error: Option<Error>,
}

/// Runs the probe with an object of `size` bytes under `lomob/probe/`,
/// written in the site's hot class (`hot`, what staged objects get); with
/// `archive` (a cold site), a small object also goes in the archive
/// class, is read back by HEAD and deleted.
pub fn probe(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    size: u64,
    (hot, archive): (&PutOptions, Option<&PutOptions>),
) -> ProbeReport {
    let mut steps = Vec::new();
    let mut error = rt.block_on(steps_of(site, size, hot, &mut steps)).err();
    if let (None, Some(archive)) = (&error, archive) {
        error = rt.block_on(archive_class(site, archive, &mut steps)).err();
    }
    ProbeReport {
        steps,
        capabilities: site.capabilities(),
        usage: site.usage(),
        error,
    }
}

fn step(steps: &mut Vec<ProbeStep>, what: String, t: Instant, note: String) {
    steps.push(ProbeStep {
        what,
        took: t.elapsed(),
        note,
    });
}

async fn steps_of(
    site: &Arc<dyn Backend>,
    size: u64,
    opts: &PutOptions,
    steps: &mut Vec<ProbeStep>,
) -> Result<()> {
    let id: String = (0..8)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let key = format!("lomob/probe/{id}");
    let data: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let data = Bytes::from(data);
    write_read(site, &key, &data, opts, steps).await?;
    let t = Instant::now();
    let listed: Vec<String> = site
        .list("lomob/probe")
        .map_ok(|o| o.key)
        .try_collect()
        .await?;
    if !listed.contains(&key) {
        return Err(Error::failed("the probe is missing from the listing"));
    }
    step(
        steps,
        "list".into(),
        t,
        format!("{} object(s) under lomob/probe", listed.len()),
    );
    if site.capabilities().multipart {
        multipart(site, &key, opts, steps).await?;
    }
    if site.capabilities().restore {
        cold_classes(site, &key, steps).await?;
    }
    let t = Instant::now();
    site.delete(&key).await?;
    match site.head(&key).await {
        Err(e) if e.is_not_found() => {}
        Ok(_) => return Err(Error::failed("the probe is still there after delete")),
        Err(e) => return Err(e.into()),
    }
    step(steps, "delete".into(), t, "gone".into());
    Ok(())
}

/// A restore request for the (hot) probe: "not needed" where the server
/// has cold classes; a server without them (Garage, MinIO) says so, and
/// the site's capabilities no longer claim any.
async fn cold_classes(
    site: &Arc<dyn Backend>,
    key: &str,
    steps: &mut Vec<ProbeStep>,
) -> Result<()> {
    let t = Instant::now();
    let status = site
        .restore(key, lomo_remote::RestoreRequest::default())
        .await?;
    let note = match status {
        _ if !site.capabilities().restore => {
            "not implemented: the server has no cold classes".to_owned()
        }
        lomo_remote::RestoreStatus::NotNeeded => "not needed for a hot object".to_owned(),
        other => format!("{other:?} for the probe"),
    };
    step(steps, "restore request".into(), t, note);
    Ok(())
}

/// A small object in the archive class: put, HEAD (the class the site
/// reports), delete.
async fn archive_class(
    site: &Arc<dyn Backend>,
    opts: &PutOptions,
    steps: &mut Vec<ProbeStep>,
) -> Result<()> {
    let key = format!("lomob/probe/{:016x}.archive-class", rand::random::<u64>());
    let want = opts.storage_class.clone().unwrap_or_default();
    let t = Instant::now();
    Uploader::new(site.clone())
        .put(&key, Bytes::from_static(b"lomob archive-class probe"), opts)
        .await?;
    let head = site.head(&key).await;
    site.delete(&key).await?;
    // S3 leaves out the class of STANDARD objects; other services do not
    // report classes at all.
    let reported = head?
        .storage_class
        .or_else(|| site.capabilities().restore.then(|| "STANDARD".to_owned()));
    let note = match reported {
        Some(got) if !got.eq_ignore_ascii_case(&want) => {
            return Err(Error::failed(format!(
                "an object written in storage class {want} is reported as {got}"
            )));
        }
        Some(got) => format!("put, head (class {got}), delete"),
        None => "put, delete (the site does not report classes)".to_owned(),
    };
    step(steps, format!("archive class {want}"), t, note);
    Ok(())
}

/// Put, head, get and a range get of the probe object.
async fn write_read(
    site: &Arc<dyn Backend>,
    key: &str,
    data: &Bytes,
    opts: &PutOptions,
    steps: &mut Vec<ProbeStep>,
) -> Result<()> {
    let size = data.len() as u64;
    let t = Instant::now();
    let v = Uploader::new(site.clone())
        .put(key, data.clone(), opts)
        .await?;
    let mbps = size as f64 / t.elapsed().as_secs_f64().max(1e-9) / 1e6;
    let checked = if v.sha256.is_some() {
        ", stored SHA-256 checked"
    } else {
        ""
    };
    step(
        steps,
        format!("put {}", human_bytes(size)),
        t,
        format!("{mbps:.1} MB/s, size checked{checked}"),
    );
    let t = Instant::now();
    let head = site.head(key).await?;
    let class = head
        .storage_class
        .as_deref()
        .map(|c| format!("class {c}, "))
        .unwrap_or_default();
    let restore = head.restore.map(|r| r.to_string()).unwrap_or_default();
    step(steps, "head".into(), t, format!("{class}{restore}"));
    let t = Instant::now();
    let got: Vec<Bytes> = site.get(key, None).await?.try_collect().await?;
    if got.concat() != data[..] {
        return Err(Error::failed(
            "the probe read back differs from what was written",
        ));
    }
    step(
        steps,
        format!("get {}", human_bytes(size)),
        t,
        "bytes match".into(),
    );
    let t = Instant::now();
    let (a, b) = (size / 3, (size / 3 + 65_536).min(size));
    let got: Vec<Bytes> = site.get(key, Some(a..b)).await?.try_collect().await?;
    if got.concat() != data[a as usize..b as usize] {
        return Err(Error::failed(
            "the range read differs from what was written",
        ));
    }
    step(
        steps,
        format!("range get {}", human_bytes(b - a)),
        t,
        "bytes match".into(),
    );
    Ok(())
}

/// A two-part multipart upload, aborted; then the pending uploads listed.
async fn multipart(
    site: &Arc<dyn Backend>,
    key: &str,
    opts: &PutOptions,
    steps: &mut Vec<ProbeStep>,
) -> Result<()> {
    let part = site.capabilities().min_part_size.max(1 << 20);
    let t = Instant::now();
    let up = Uploader::new(site.clone());
    let mut state = up.start(&format!("{key}.mp"), part + 1, part, opts).await?;
    up.send_parts(&mut state, Zeros(part + 1), |_| Ok(()))
        .await?;
    up.abort(&state).await?;
    let pending = match site.list_uploads("lomob/probe").await {
        Ok(p) => format!(", {} pending upload(s) left", p.len()),
        Err(_) => String::new(),
    };
    step(
        steps,
        "multipart 2 parts, abort".into(),
        t,
        format!("{}{pending}", human_bytes(part + 1)),
    );
    Ok(())
}

/// Zero bytes of a given length.
struct Zeros(u64);

impl lomo_remote::PartSource for Zeros {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset + buf.len() as u64 > self.0 {
            return Err(std::io::Error::other("read past the probe"));
        }
        buf.fill(0);
        Ok(())
    }
}

/// On a site set to lock archives: the bucket's Object Lock configuration
/// (see [`super::lock::check_bucket`]), then a tiny object written
/// locked GOVERNANCE for one day and its retention read back by HEAD. S3
/// keeps that object until the day is over (nothing can delete it
/// earlier); its cost is nil, and the next test deletes it once its day
/// is over.
pub fn probe_lock(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    cfg: &super::SiteConfig,
    report: &mut ProbeReport,
) {
    let t = Instant::now();
    match super::lock::check_bucket(rt, site, cfg) {
        Ok(note) => step(&mut report.steps, "object lock".into(), t, note),
        Err(e) => {
            report.error = Some(e);
            return;
        }
    }
    let t = Instant::now();
    let key = format!("lomob/probe/{:016x}.locked", rand::random::<u64>());
    let until = jiff::Timestamp::now().as_second() + 86_400;
    let lock = lomo_remote::ObjectLock::new(lomo_remote::LockMode::Governance, until);
    let opts = cfg.hot_options().with_lock(Some(lock));
    let body = Bytes::from_static(b"lomob object lock probe (1 day)");
    let len = body.len();
    let written = rt.block_on(async {
        site.put(&key, body, &opts).await?;
        site.head(&key).await
    });
    match written {
        Ok(h) if h.lock.is_some_and(|l| l.retain_until + 60 >= until) => {
            let swept = sweep_locked_probes(rt, site, &key);
            let note = format!(
                "put {key}, head: {} ({len} bytes, kept until then); {swept} earlier probe(s) past their date deleted",
                h.lock.map(|l| l.to_string()).unwrap_or_default()
            );
            step(&mut report.steps, "locked write".into(), t, note);
        }
        Ok(h) => {
            report.error = Some(Error::Site(format!(
                "site {}: an object written with Object Lock {lock} is reported with {}: the server does not keep locks",
                cfg.name,
                h.lock
                    .map_or_else(|| "no retention".to_owned(), |l| l.to_string())
            )));
        }
        Err(e) => report.error = Some(e.into()),
    }
    report.usage = site.usage();
}

/// Deletes the locked probes of earlier tests whose day is over; those
/// still locked are refused by lomo-remote before any DELETE is sent.
fn sweep_locked_probes(rt: &tokio::runtime::Runtime, site: &Arc<dyn Backend>, keep: &str) -> usize {
    rt.block_on(async {
        let Ok(listed) = site.list("lomob/probe").try_collect::<Vec<_>>().await else {
            return 0;
        };
        let mut swept = 0;
        for o in listed {
            if o.key.ends_with(".locked") && o.key != keep && site.delete(&o.key).await.is_ok() {
                swept += 1;
            }
        }
        swept
    })
}
