//! Restoring what the Go lomo-backup uploaded (imported with `lomob
//! import-lomob`): each Go ISO holding wanted files is downloaded once,
//! decrypted with the Go master key (`LOMOB_MASTER_KEY`; its AES-CTR
//! format, checked whole), and the files are read out of it; files it put
//! on Google Drive come from their own Go objects. Each is checked against
//! the SHA-256 the Go tool recorded and gets its mtime back.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures::StreamExt as _;
use lomo_catalog::GoFile;
use lomo_remote::Backend;
use sha2::Digest as _;

/// Where the Go tool put a root's files inside its ISOs: the root's path
/// with `/` turned into `_`.
fn iso_dir(root: &Path) -> String {
    root.to_string_lossy().replace('/', "_")
}

/// One Go file to restore, as `name` (`<root folder>/<path>`) under the target.
pub(crate) struct Wanted {
    pub(crate) name: PathBuf,
    pub(crate) file: GoFile,
}

/// What happened to one file.
pub(crate) type Outcome = (PathBuf, Result<Option<String>>);

/// Restores `wanted` under `to`, opening sites with `open`. Returns each
/// file's outcome: the site it came from, `None` when already there, or why
/// it failed.
pub(crate) fn restore(
    rt: &tokio::runtime::Runtime,
    wanted: Vec<Wanted>,
    to: &Path,
    tier: lomo_remote::RestoreTier,
    mut open: impl FnMut(&str) -> Option<Arc<dyn Backend>>,
) -> Vec<Outcome> {
    let mut done = Vec::new();
    let mut by_iso: BTreeMap<(String, String), Vec<Wanted>> = BTreeMap::new();
    let mut on_drive = Vec::new();
    for w in wanted {
        match (&w.file.iso, &w.file.site) {
            (Some(iso), Some(site)) => by_iso
                .entry((site.clone(), iso.clone()))
                .or_default()
                .push(w),
            (None, Some(_)) if w.file.on_drive => on_drive.push(w),
            _ if w.file.on_drive => done.push((
                w.name,
                Err(anyhow::anyhow!(
                    "the Go tool uploaded it to Google Drive: import again with --drive-site NAME"
                )),
            )),
            _ => done.push((
                w.name,
                Err(anyhow::anyhow!("the Go tool never uploaded it")),
            )),
        }
    }
    if by_iso.is_empty() && on_drive.is_empty() {
        return done;
    }
    let master =
        match crate::secrets::read_secret(None, "LOMOB_MASTER_KEY", "Go lomob master key: ") {
            Ok(m) => m,
            Err(e) => {
                let why = format!("{e:#}");
                for w in by_iso.into_values().flatten().chain(on_drive) {
                    done.push((w.name, Err(anyhow::anyhow!("{why}"))));
                }
                return done;
            }
        };
    // Google Drive: one Go object per file, at lomorage/<root with '/' →
    // '_', no leading '_'>/<path>, the site being the lomorage folder.
    for w in on_drive {
        let site_name = w.file.site.clone().unwrap_or_default();
        let r = open(&site_name)
            .with_context(|| format!("site {site_name} is offline or not configured"))
            .and_then(|site| fetch_drive_file(rt, &site, &w, &master, to))
            .map(|fresh| fresh.then(|| format!("{site_name} (Go tool's Drive copy)")));
        done.push((w.name, r));
    }
    for ((site, iso), files) in by_iso {
        let handle = open(&site);
        let image = handle
            .clone()
            .with_context(|| format!("site {site} is offline or not configured"))
            .and_then(|s| fetch_iso(rt, &s, &iso, &master, to));
        // An ISO in a cold storage class: ask for a readable copy first.
        let image = match (image, handle) {
            (Err(e), Some(s)) if is_not_restored(&e) => {
                let req = lomo_remote::RestoreRequest { days: 7, tier };
                match rt.block_on(s.restore(&iso, req)) {
                    Ok(_) => Err(anyhow::anyhow!(
                        "it is in a cold storage class: a restore ({tier:?} tier) was requested; run `lomob restore` again when it is ready"
                    )),
                    Err(r) => Err(anyhow::Error::new(r).context("requesting a restore")),
                }
            }
            (image, _) => image,
        };
        match image {
            Err(e) => {
                let why = format!("Go ISO {iso} on site {site}: {e:#}");
                for w in files {
                    done.push((w.name, Err(anyhow::anyhow!("{why}"))));
                }
            }
            Ok(plain) => {
                let reader = plain
                    .reopen()
                    .map_err(anyhow::Error::from)
                    .and_then(|f| Ok(lomo_iso::Reader::open(std::io::BufReader::new(f))?));
                let mut reader = match reader {
                    Ok(r) => r,
                    Err(e) => {
                        let why = format!("Go ISO {iso}: {e:#}");
                        for w in files {
                            done.push((w.name, Err(anyhow::anyhow!("{why}"))));
                        }
                        continue;
                    }
                };
                for w in files {
                    let r = extract(&mut reader, &w, to)
                        .map(|fresh| fresh.then(|| format!("{site} in Go ISO {iso}")));
                    done.push((w.name, r));
                }
            }
        }
    }
    done
}

/// The decrypted ISO in a temp file beside the target (the Go format's
/// check covers the whole object, so it is read through once).
fn fetch_iso(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    iso: &str,
    master: &[u8],
    to: &Path,
) -> Result<tempfile::NamedTempFile> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut sealed = tempfile::tempfile_in(to)?;
    rt.block_on(async {
        let mut s = site.get(iso, None).await?;
        while let Some(chunk) = s.next().await {
            sealed.write_all(&chunk?)?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    sealed.rewind()?;
    let mut plain = tempfile::NamedTempFile::new_in(to)?;
    let mut reader = lomo_crypt::lomob_go::GoDecryptReader::new(master, sealed)?;
    std::io::copy(&mut reader, plain.as_file_mut())
        .context("decrypting (a wrong LOMOB_MASTER_KEY, or a damaged object)")?;
    Ok(plain)
}

/// One file the Go tool put on Google Drive, decrypted into place; false
/// when it was there already.
fn fetch_drive_file(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    w: &Wanted,
    master: &[u8],
    to: &Path,
) -> Result<bool> {
    let dest = to.join(&w.name);
    if already_there(&dest, &w.file.sha256)? {
        return Ok(false);
    }
    let key = format!(
        "{}/{}",
        iso_dir(&w.file.root).trim_start_matches('_'),
        String::from_utf8_lossy(&w.file.rel)
    );
    let dir = dest.parent().context("no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut sealed = tempfile::tempfile_in(dir)?;
    rt.block_on(async {
        let mut s = site.get(&key, None).await?;
        while let Some(chunk) = s.next().await {
            sealed.write_all(&chunk?)?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    sealed.rewind()?;
    let mut reader = lomo_crypt::lomob_go::GoDecryptReader::new(master, sealed)?;
    place(&mut reader, w, &dest)
        .map(|()| true)
        .context("decrypting (a wrong LOMOB_MASTER_KEY, or a damaged object)")
}

/// Whether `dest` holds the content already; an error when it holds another.
fn already_there(dest: &Path, sha256: &str) -> Result<bool> {
    if !dest.exists() {
        return Ok(false);
    }
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(dest)?, &mut h)?;
    if hex(&h.finalize()) == sha256 {
        return Ok(true);
    }
    bail!(
        "{} exists already with other content; lomob never overwrites",
        dest.display()
    );
}

/// Copies `src` into place at `dest` via a temp file, checking the SHA-256
/// the Go tool recorded and giving the mtime back.
fn place(src: &mut impl Read, w: &Wanted, dest: &Path) -> Result<()> {
    let dir = dest.parent().context("no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        tmp.write_all(&buf[..n])?;
    }
    if hex(&h.finalize()) != w.file.sha256 {
        bail!("its bytes do not match the SHA-256 the Go tool recorded: not restored");
    }
    if let Some(t) = w.file.mtime {
        let when =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
        tmp.as_file().set_modified(when)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(dest)
        .map_err(|e| anyhow::anyhow!("cannot move into place: {}", e.error))?;
    Ok(())
}

/// Reads one file out of the image into place; false when it was there already.
fn extract<R: Read + Seek>(
    reader: &mut lomo_iso::Reader<R>,
    w: &Wanted,
    to: &Path,
) -> Result<bool> {
    let dest = to.join(&w.name);
    if already_there(&dest, &w.file.sha256)? {
        return Ok(false);
    }
    let inside = format!(
        "{}/{}",
        iso_dir(&w.file.root),
        String::from_utf8_lossy(&w.file.rel)
    );
    let rec = reader
        .lookup(inside.as_bytes())
        .with_context(|| format!("{inside} is not in the ISO"))?;
    place(&mut reader.open_file(&rec), w, &dest)?;
    Ok(true)
}

fn is_not_restored(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<lomo_remote::Error>(),
            Some(lomo_remote::Error::NotRestored { .. })
        )
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_map_to_iso_folders_as_the_go_tool_named_them() {
        assert_eq!(iso_dir(Path::new("/home/me/Pictures")), "_home_me_Pictures");
    }
}
