//! `lomob restore PATH... --to DIR`: files come back from the staging sites
//! as `DIR/<root folder name>/<path relative to its root>`, decrypted,
//! checked against the catalog's BLAKE3, with their mtimes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::StreamExt as _;
use lomo_catalog::{EntryKind, FileEntry, FileQuery};
use lomo_remote::Backend;
use serde_json::json;

use super::{Ctx, Outcome};
use crate::output::Out;
use crate::pipeline::keys::unlock_or_create;
use crate::sites;
use crate::units::human_bytes;

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// What to restore: `ROOT/PATH` as restores name it (e.g. Pictures/2019),
    /// an absolute original path, or `/` for everything. The seed's forms
    /// `restore gdrive [PATH...]` and `restore aws [PATH...]` restore from
    /// the Google Drive or S3 sites only.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// The files as they were at this time: a date (its end, local time),
    /// `YYYY-MM-DDTHH:MM[:SS]` local time, or an RFC 3339 timestamp
    #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
    as_of: Option<i64>,
    /// Folder to restore into (created; existing files are never overwritten)
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Retrieval tier for archives in a cold storage class: bulk (cheapest), standard, expedited
    #[arg(long, value_name = "TIER")]
    tier: Option<lomo_remote::RestoreTier>,
    /// Wait for cold restores to finish (checking every SECS seconds) instead of stopping
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "900")]
    wait: Option<u64>,
}

/// How cold copies are handled during one restore.
struct Cold {
    tier: lomo_remote::RestoreTier,
    wait: Option<std::time::Duration>,
    requested: std::collections::HashSet<String>,
}

/// What a restore from a cold tier costs and takes, from S3 Glacier Deep
/// Archive list prices (us-east-1, 2026): retrieval per GB and per 1000
/// requests by tier, and transfer out per GB, which dominates a full restore.
fn cold_estimate(
    archive: &str,
    site: &str,
    stored: u64,
    read: u64,
    tier: lomo_remote::RestoreTier,
) -> String {
    use lomo_remote::RestoreTier;
    let (per_gb, per_1000, hours) = match tier {
        RestoreTier::Bulk => (0.0025, 0.025, 48),
        RestoreTier::Standard => (0.02, 0.10, 12),
        // Not offered for Deep Archive; Glacier Flexible Retrieval prices.
        RestoreTier::Expedited => (0.03, 10.0, 1),
    };
    let gb = |b: u64| b as f64 / 1e9;
    format!(
        "{archive} on site {site} is in a cold storage class: restoring it ({:.2} GB, {tier:?} tier) costs about ${:.4} retrieval + ${:.4} request, plus ${:.4} transfer out for the {:.3} GB read; ready within {hours} h",
        gb(stored),
        gb(stored) * per_gb,
        per_1000 / 1000.0,
        gb(read) * 0.09,
        gb(read)
    )
}

impl RestoreArgs {
    /// Everything, into `to`.
    pub(crate) fn everything(to: PathBuf, tier: Option<lomo_remote::RestoreTier>) -> RestoreArgs {
        RestoreArgs {
            paths: vec!["/".into()],
            as_of: None,
            to,
            tier,
            wait: None,
        }
    }
}

/// `--as-of`: Unix seconds.
fn parse_as_of(s: &str) -> Result<i64, String> {
    let tz = jiff::tz::TimeZone::system();
    let zoned = if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_second());
    } else if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && s.contains(['T', ' '])
    {
        dt.to_zoned(tz)
    } else if let Ok(d) = s.parse::<jiff::civil::Date>() {
        d.at(23, 59, 59, 0).to_zoned(tz)
    } else {
        return Err(format!(
            "{s:?} is not a date (2026-11-01, 2026-11-01T18:30, or 2026-11-01T18:30:00Z)"
        ));
    };
    zoned
        .map(|z| z.timestamp().as_second())
        .map_err(|e| e.to_string())
}

/// The seed's `restore gdrive|aws` forms: the URL scheme of the sites to
/// restore from, and the paths that follow (everything when none). A root
/// folder really named so is a path, not an alias.
fn alias(
    paths: &[String],
    labels: &HashMap<PathBuf, String>,
) -> (Option<&'static str>, Vec<String>) {
    let scheme = match paths.first().map(String::as_str) {
        Some("gdrive") => "gdrive",
        Some("aws") => "s3",
        _ => return (None, paths.to_vec()),
    };
    if labels.values().any(|l| *l == paths[0]) {
        return (None, paths.to_vec());
    }
    let rest: Vec<String> = paths[1..].to_vec();
    (
        Some(scheme),
        if rest.is_empty() {
            vec!["/".into()]
        } else {
            rest
        },
    )
}

/// `<label>/<rel>` for a file, as restores lay it out.
fn restore_name(f: &FileEntry, labels: &HashMap<PathBuf, String>) -> Option<PathBuf> {
    let label = labels.get(&f.root)?;
    let rel = f.path.strip_prefix(&f.root).ok()?;
    Some(Path::new(label).join(rel))
}

fn selected(name: &Path, abs: &Path, wanted: &[String]) -> bool {
    wanted.iter().any(|w| {
        let w = w.trim_end_matches('/');
        w.is_empty() || name.starts_with(w) || (Path::new(w).is_absolute() && abs.starts_with(w))
    })
}

pub(crate) fn run(ctx: &Ctx, args: &RestoreArgs) -> Result<Outcome> {
    let catalog = ctx.existing_catalog()?;
    let labels = catalog.root_labels()?;
    let (only_scheme, paths) = alias(&args.paths, &labels);
    let mut files = Vec::new();
    let q = FileQuery {
        symlinks: true,
        as_of: args.as_of,
        ..FileQuery::default()
    };
    catalog.for_each_file(&q, |f| {
        if let Some(name) = restore_name(&f, &labels)
            && selected(&name, &f.path, &paths)
        {
            files.push((name, f));
        }
        Ok::<_, anyhow::Error>(())
    })?;
    // What the Go lomo-backup uploaded (imported), where lomob has nothing.
    let mine: std::collections::HashSet<PathBuf> = files.iter().map(|(n, _)| n.clone()).collect();
    let mut go = Vec::new();
    for g in catalog.go_files()? {
        let label = labels
            .get(&g.root)
            .cloned()
            .or_else(|| g.root.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "root".into());
        let rel = PathBuf::from(String::from_utf8_lossy(&g.rel).into_owned());
        let name = Path::new(&label).join(&rel);
        if !mine.contains(&name) && selected(&name, &g.root.join(&rel), &paths) {
            go.push(super::restore_go::Wanted { name, file: g });
        }
    }
    if files.is_empty() && go.is_empty() {
        bail!(
            "nothing in the catalog matches {} (names look like {:?})",
            args.paths.join(", "),
            labels
                .values()
                .next()
                .map_or("Pictures/2019".to_owned(), |l| format!("{l}/…"))
        );
    }
    let key = if files.is_empty() {
        None
    } else {
        Some(unlock_or_create(ctx)?)
    };
    std::fs::create_dir_all(&args.to)
        .with_context(|| format!("cannot create {}", args.to.display()))?;
    let rt = sites::runtime()?;
    let mut known = sites::configured_or_default(ctx, false)?;
    if let Some(scheme) = only_scheme {
        known.retain(|s| s.url.starts_with(&format!("{scheme}://")));
        if known.is_empty() {
            bail!("no {scheme}:// site is configured (`lomob site list`)");
        }
    }
    let mut cold = Cold {
        tier: args.tier.unwrap_or_default(),
        wait: args.wait.map(std::time::Duration::from_secs),
        requested: std::collections::HashSet::new(),
    };
    let mut opened: HashMap<String, Option<Arc<dyn Backend>>> = HashMap::new();
    let mut out = Out::new(ctx.global.json);
    let (mut restored, mut bytes, mut failed) = (0u64, 0u64, 0u64);
    let mut results: Vec<(PathBuf, u64, Result<Option<String>>)> = Vec::new();
    for (name, f) in files {
        let dest = args.to.join(&name);
        let result = match (f.kind, &key) {
            (EntryKind::Symlink, _) => restore_link(&f, &dest),
            (_, Some(key)) => restore_file(
                ctx,
                &rt,
                &catalog,
                key,
                &mut cold,
                &known,
                &mut opened,
                &f,
                &dest,
            ),
            (_, None) => Err(anyhow::anyhow!("no key")),
        };
        results.push((name, f.size, result));
    }
    let sizes: HashMap<PathBuf, u64> = go.iter().map(|w| (w.name.clone(), w.file.size)).collect();
    for (name, result) in super::restore_go::restore(&rt, go, &args.to, cold.tier, |site| {
        site_named(ctx, &known, &mut opened, site)
    }) {
        let size = sizes.get(&name).copied().unwrap_or(0);
        results.push((name, size, result));
    }
    for (name, size, result) in results {
        match result {
            Ok(Some(site)) => {
                restored += 1;
                bytes += size;
                out.record_or_line(
                    &json!({"path": name.display().to_string(), "from": site, "bytes": size}),
                    &format!("restored {} (from {site})", name.display()),
                )?;
            }
            Ok(None) => {
                out.record_or_line(
                    &json!({"path": name.display().to_string(), "skipped": "already there"}),
                    &format!("already there: {}", name.display()),
                )?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("lomob: error: {}: {e:#}", name.display());
                if out.json() {
                    out.record(
                        &json!({"path": name.display().to_string(), "error": format!("{e:#}")}),
                    )?;
                }
            }
        }
    }
    for (site, s) in &opened {
        if let Some(s) = s {
            sites::record_usage(ctx, site, &s.usage());
        }
    }
    out.record_or_line(
        &json!({"restored": restored, "bytes": bytes, "failed": failed, "to": args.to.display().to_string()}),
        &format!("{restored} files restored ({}) into {}, {failed} failed", human_bytes(bytes), args.to.display()),
    )?;
    out.flush()?;
    Ok(if failed > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn restore_link(f: &FileEntry, dest: &Path) -> Result<Option<String>> {
    let target = f
        .link_target
        .as_ref()
        .context("symlink without a target in the catalog")?;
    if dest.symlink_metadata().is_ok() {
        return Ok(None);
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::os::unix::fs::symlink(target, dest)?;
    Ok(Some("catalog".into()))
}

/// Restores one regular file from the first staging site that has it.
fn is_not_restored(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<lomo_remote::Error>(),
            Some(lomo_remote::Error::NotRestored { .. })
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn restore_file(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    catalog: &lomo_catalog::Catalog,
    key: &lomo_crypt::MasterKey,
    cold: &mut Cold,
    known: &[crate::config::SiteConfig],
    opened: &mut HashMap<String, Option<Arc<dyn Backend>>>,
    f: &FileEntry,
    dest: &Path,
) -> Result<Option<String>> {
    let hash = f.hash.context("no content hash in the catalog")?;
    if dest.exists() {
        let same = std::fs::File::open(dest).ok().and_then(|mut d| {
            let mut h = blake3::Hasher::new();
            std::io::copy(&mut d, &mut h).ok()?;
            Some(*h.finalize().as_bytes() == hash)
        });
        if same == Some(true) {
            return Ok(None);
        }
        bail!(
            "{} exists already with other content; lomob never overwrites",
            dest.display()
        );
    }
    let copies = catalog.staged_copies(&hash)?;
    let mut last_err = None;
    if copies.is_empty() {
        for at in catalog.archived_at(&hash)? {
            // Cheapest and fastest first: copies in a cold storage class last.
            let mut copies = catalog.archive_copies(at.archive.id)?;
            copies.sort_by_key(|c| {
                let cold = known.iter().find(|s| s.name == c.site).is_some_and(|s| {
                    s.storage_class.as_deref().is_some_and(|k| {
                        matches!(
                            k.to_ascii_uppercase().as_str(),
                            "DEEP_ARCHIVE" | "GLACIER" | "ARCHIVE"
                        )
                    })
                });
                (cold, c.site.clone())
            });
            for copy in copies {
                if copy.done_at.is_none() {
                    continue;
                }
                let Some(site) = site_named(ctx, known, opened, &copy.site) else {
                    last_err = Some(anyhow::anyhow!(
                        "site {} is offline or not configured",
                        copy.site
                    ));
                    continue;
                };
                match fetch_archived(rt, &site, key, &copy, &at, &hash, f, dest) {
                    Ok(()) => return Ok(Some(format!("{} in {}", copy.site, at.archive.name))),
                    Err(e) if is_not_restored(&e) => {
                        // A cold copy: the cost first, one restore request per
                        // archive and run, then wait (--wait) or say what to do.
                        let req = lomo_remote::RestoreRequest {
                            days: 7,
                            tier: cold.tier,
                        };
                        if cold
                            .requested
                            .insert(format!("{}\0{}", copy.site, copy.key))
                        {
                            let stored = copy.size.unwrap_or(at.archive.size);
                            eprintln!(
                                "{}",
                                cold_estimate(
                                    &at.archive.name,
                                    &copy.site,
                                    stored,
                                    at.size,
                                    req.tier
                                )
                            );
                            if let Err(e) = rt.block_on(site.restore(&copy.key, req)) {
                                last_err = Some(anyhow::Error::new(e).context(format!(
                                    "requesting a restore of {} on site {}",
                                    at.archive.name, copy.site
                                )));
                                continue;
                            }
                        }
                        let Some(poll) = cold.wait else {
                            last_err = Some(anyhow::anyhow!(
                                "{} on site {} is being restored from its cold storage class; run `lomob restore` again when it is ready, or add --wait",
                                at.archive.name,
                                copy.site
                            ));
                            continue;
                        };
                        let mut ready = true;
                        loop {
                            match rt.block_on(site.head(&copy.key)).map(|i| i.restore) {
                                Ok(Some(
                                    lomo_remote::RestoreStatus::Ready { .. }
                                    | lomo_remote::RestoreStatus::NotNeeded,
                                )) => break,
                                Ok(_) => {
                                    eprintln!(
                                        "waiting for the restore of {} on site {}…",
                                        at.archive.name, copy.site
                                    );
                                    std::thread::sleep(poll);
                                }
                                Err(e) => {
                                    last_err =
                                        Some(anyhow::Error::new(e).context("checking the restore"));
                                    ready = false;
                                    break;
                                }
                            }
                        }
                        if !ready {
                            continue;
                        }
                        match fetch_archived(rt, &site, key, &copy, &at, &hash, f, dest) {
                            Ok(()) => {
                                return Ok(Some(format!("{} in {}", copy.site, at.archive.name)));
                            }
                            Err(e) => {
                                last_err = Some(e.context(format!(
                                    "from {} on site {}",
                                    at.archive.name, copy.site
                                )));
                            }
                        }
                    }
                    Err(e) => {
                        last_err = Some(
                            e.context(format!("from {} on site {}", at.archive.name, copy.site)),
                        );
                    }
                }
            }
        }
        return Err(last_err
            .unwrap_or_else(|| anyhow::anyhow!("no staged copy and no archive copy on any site")));
    }
    for c in copies {
        let Some(site) = site_named(ctx, known, opened, &c.site) else {
            last_err = Some(anyhow::anyhow!(
                "site {} is offline or not configured",
                c.site
            ));
            continue;
        };
        match fetch(rt, &site, &c.key, key, &hash, f, dest) {
            Ok(()) => return Ok(Some(c.site)),
            Err(e) => last_err = Some(e.context(format!("from site {}", c.site))),
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("no usable copy")))
}

/// The site called `name`, opened once (None, with a warning, when it is
/// not configured or cannot be opened).
fn site_named(
    ctx: &Ctx,
    known: &[crate::config::SiteConfig],
    opened: &mut HashMap<String, Option<Arc<dyn Backend>>>,
    name: &str,
) -> Option<Arc<dyn Backend>> {
    opened
        .entry(name.to_owned())
        .or_insert_with(|| match known.iter().find(|s| s.name == name) {
            Some(cfg) => match sites::open(ctx, cfg) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("lomob: warning: site {name} unusable: {e:#}");
                    None
                }
            },
            None => {
                eprintln!("lomob: warning: site {name} is not in the config");
                None
            }
        })
        .clone()
}

/// Reads only the chunks of an archive copy that hold the file, decrypts
/// them, checks the BLAKE3 and writes `dest` (temp file + rename).
#[allow(clippy::too_many_arguments)]
fn fetch_archived(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    key: &lomo_crypt::MasterKey,
    copy: &lomo_catalog::ArchiveCopy,
    at: &lomo_catalog::ArchivedAt,
    hash: &[u8; 32],
    f: &FileEntry,
    dest: &Path,
) -> Result<()> {
    use lomo_crypt::stream::{Header, Layout, ObjectCipher};
    if copy.header.is_empty() {
        return fetch_plain(rt, site, copy, at, hash, f, dest);
    }
    let header = Header::parse(&copy.header)?;
    let cipher = ObjectCipher::new(key, &header)?;
    let layout = Layout::new(at.archive.size, header.chunk_log2);
    let mut tmp = temp_beside(dest)?;
    let mut hasher = blake3::Hasher::new();
    if at.size > 0 {
        let first = layout.chunk_of(at.offset);
        let last = layout.chunk_of(at.offset + at.size - 1);
        // In batches of chunks, so a video of any size needs little memory
        // and few requests.
        let per_batch = (RANGE_BATCH / layout.chunk_size()).max(1);
        let mut i = first;
        while i <= last {
            let end = (i + per_batch - 1).min(last);
            let range = layout.cipher_range(i).start..layout.cipher_range(end).end;
            let bytes = crate::sites::download(rt, site, &copy.key, Some(range.clone()))?;
            for c in i..=end {
                let r = layout.cipher_range(c);
                let slice = bytes
                    .get((r.start - range.start) as usize..(r.end - range.start) as usize)
                    .context("the site sent fewer bytes than asked")?;
                let mut chunk = slice.to_vec();
                cipher.open_chunk(c, c + 1 == layout.chunks(), &mut chunk)?;
                let p = layout.plain_range(c);
                let from = at.offset.max(p.start) - p.start;
                let to = (at.offset + at.size).min(p.end) - p.start;
                let part = &chunk[from as usize..to as usize];
                hasher.update(part);
                tmp.write_all(part)?;
            }
            i = end + 1;
        }
    }
    if hasher.finalize().as_bytes() != hash {
        bail!("the decrypted bytes do not match the catalog's BLAKE3: not restored");
    }
    finish_file(tmp, f, dest)
}

/// A file out of a plain (unencrypted) image: its byte range, in pieces.
fn fetch_plain(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    copy: &lomo_catalog::ArchiveCopy,
    at: &lomo_catalog::ArchivedAt,
    hash: &[u8; 32],
    f: &FileEntry,
    dest: &Path,
) -> Result<()> {
    let mut tmp = temp_beside(dest)?;
    let mut hasher = blake3::Hasher::new();
    let end = at.offset + at.size;
    let mut pos = at.offset;
    while pos < end {
        let to = (pos + RANGE_BATCH).min(end);
        let bytes = crate::sites::download(rt, site, &copy.key, Some(pos..to))?;
        if bytes.len() as u64 != to - pos {
            bail!("the site sent {} bytes, {} asked", bytes.len(), to - pos);
        }
        hasher.update(&bytes);
        tmp.write_all(&bytes)?;
        pos = to;
    }
    if hasher.finalize().as_bytes() != hash {
        bail!("the bytes in the plain image do not match the catalog's BLAKE3: not restored");
    }
    finish_file(tmp, f, dest)
}

/// Ciphertext asked for per range request when restoring from an archive.
const RANGE_BATCH: u64 = 16 << 20;

/// A temporary file in `dest`'s folder (created), to move into place once whole.
fn temp_beside(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = dest.parent().context("no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))
}

/// Mode, mtime, sync, then into place without overwriting.
fn finish_file(tmp: tempfile::NamedTempFile, f: &FileEntry, dest: &Path) -> Result<()> {
    let file = tmp.as_file();
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(
        f.mode & 0o7777,
    ))?;
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::from_nanos(u64::try_from(f.mtime_ns).unwrap_or(0));
    file.set_modified(mtime)?;
    file.sync_all()?;
    tmp.persist_noclobber(dest)
        .map_err(|e| anyhow::anyhow!("cannot move into place: {}", e.error))?;
    Ok(())
}

/// Downloads, decrypts and checks one object into `dest` (via temp files
/// beside it: a failure leaves nothing).
fn fetch(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    object: &str,
    key: &lomo_crypt::MasterKey,
    hash: &[u8; 32],
    f: &FileEntry,
    dest: &Path,
) -> Result<()> {
    let dir = dest.parent().context("no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut sealed =
        tempfile::tempfile_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    rt.block_on(async {
        let mut s = site.get(object, None).await?;
        while let Some(chunk) = s.next().await {
            sealed.write_all(&chunk?)?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    std::io::Seek::rewind(&mut sealed)?;
    let mut plain = lomo_crypt::stream::DecryptReader::new(key, sealed)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = plain.read(&mut buf).context("decrypting")?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        tmp.write_all(&buf[..n])?;
    }
    if h.finalize().as_bytes() != hash {
        bail!("the decrypted bytes do not match the catalog's BLAKE3: not restored");
    }
    finish_file(tmp, f, dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_dates() {
        assert_eq!(parse_as_of("2026-11-01T00:00:00Z").unwrap(), 1_793_491_200);
        let day_end = parse_as_of("2026-11-01").unwrap();
        let evening = parse_as_of("2026-11-01T18:30").unwrap();
        assert!(evening < day_end && day_end - evening == 5 * 3600 + 29 * 60 + 59);
        assert!(parse_as_of("yesterday").is_err());
    }

    #[test]
    fn seed_aliases() {
        let labels: HashMap<PathBuf, String> =
            [(PathBuf::from("/home/me/Pictures"), "Pictures".to_owned())].into();
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(alias(&v(&["aws"]), &labels), (Some("s3"), v(&["/"])));
        assert_eq!(
            alias(&v(&["gdrive", "Pictures/2019"]), &labels),
            (Some("gdrive"), v(&["Pictures/2019"]))
        );
        assert_eq!(alias(&v(&["Pictures"]), &labels), (None, v(&["Pictures"])));
        let aws_root: HashMap<PathBuf, String> =
            [(PathBuf::from("/x/aws"), "aws".to_owned())].into();
        assert_eq!(alias(&v(&["aws"]), &aws_root), (None, v(&["aws"])));
    }
}
