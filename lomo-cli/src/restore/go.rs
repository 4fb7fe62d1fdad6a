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

use futures::StreamExt as _;
use lomo_catalog::GoFile;
use lomo_remote::Backend;
use sha2::Digest as _;

use super::{RestoredFile, file_result};
use crate::error::{Error, IoContext as _, Result, fail};
use crate::secrets::Secrets;
use crate::target::Target;

/// Where the Go tool put a root's files inside its ISOs: the root's path
/// with `/` turned into `_`.
fn iso_dir(root: &Path) -> String {
    root.to_string_lossy().replace('/', "_")
}

/// One Go file to restore, as `name` (`<root folder>/<path>`) under the target.
pub(crate) struct GoWanted {
    pub(crate) name: PathBuf,
    pub(crate) file: GoFile,
}

type Wanted = GoWanted;

/// What happened to one file.
type Outcome = (PathBuf, Result<Option<String>>);

/// Restoring the Go tool's copies into `to`.
pub(crate) struct GoRestore<'a> {
    pub(crate) rt: &'a tokio::runtime::Runtime,
    pub(crate) to: &'a Target,
    pub(crate) tier: lomo_remote::RestoreTier,
    pub(crate) secrets: &'a dyn Secrets,
}

/// The Go files by where they are: `(site, ISO)` → files, files on
/// Drive, and the outcomes of those that are nowhere.
type Partition = (
    BTreeMap<(String, String), Vec<Wanted>>,
    Vec<Wanted>,
    Vec<Outcome>,
);

fn partition(wanted: Vec<Wanted>) -> Partition {
    let mut by_iso: BTreeMap<(String, String), Vec<Wanted>> = BTreeMap::new();
    let (mut on_drive, mut done) = (Vec::new(), Vec::new());
    for w in wanted {
        match (&w.file.iso, &w.file.site) {
            (Some(iso), Some(site)) => by_iso
                .entry((site.clone(), iso.clone()))
                .or_default()
                .push(w),
            (None, Some(_)) if w.file.on_drive => on_drive.push(w),
            _ if w.file.on_drive => done.push((
                w.name,
                Err(Error::failed(
                    "the Go tool uploaded it to Google Drive: import again with --drive-site NAME",
                )),
            )),
            _ => done.push((w.name, Err(Error::failed("the Go tool never uploaded it")))),
        }
    }
    (by_iso, on_drive, done)
}

/// The same error for every file of `files`.
fn fail_all(files: Vec<Wanted>, why: &str, done: &mut Vec<Outcome>) {
    for w in files {
        done.push((w.name, Err(Error::failed(why.to_owned()))));
    }
}

impl GoRestore<'_> {
    /// Restores `wanted`, opening sites with `open`: each file's outcome.
    pub(crate) fn restore(
        &self,
        wanted: Vec<Wanted>,
        mut open: impl FnMut(&str) -> Option<Arc<dyn Backend>>,
    ) -> Vec<RestoredFile> {
        let sizes: std::collections::HashMap<PathBuf, u64> = wanted
            .iter()
            .map(|w| (w.name.clone(), w.file.size))
            .collect();
        // names are checked before any site is asked for anything
        let (wanted, refused): (Vec<_>, Vec<_>) = wanted
            .into_iter()
            .partition(|w| Target::name(&w.name).is_ok());
        let (by_iso, on_drive, mut done) = partition(wanted);
        for w in refused {
            let e = Target::name(&w.name).err();
            done.push((w.name, Err(e.unwrap_or_else(|| Error::failed("refused")))));
        }
        if !by_iso.is_empty() || !on_drive.is_empty() {
            match self.secrets.go_master_key() {
                Ok(master) => {
                    for w in on_drive {
                        done.push(self.drive_file(w, &master, &mut open));
                    }
                    for ((site, iso), files) in by_iso {
                        self.iso_files((&site, &iso), files, &master, &mut open, &mut done);
                    }
                }
                Err(e) => {
                    let files: Vec<Wanted> =
                        by_iso.into_values().flatten().chain(on_drive).collect();
                    fail_all(files, &e.to_string(), &mut done);
                }
            }
        }
        done.into_iter()
            .map(|(name, r)| {
                let size = sizes.get(&name).copied().unwrap_or(0);
                file_result(name, size, r)
            })
            .collect()
    }

    /// One Go object per file on Google Drive, at
    /// `lomorage/<root, '/' → '_', no leading '_'>/<path>`, the site being
    /// the lomorage folder.
    fn drive_file(
        &self,
        w: Wanted,
        master: &[u8],
        open: &mut impl FnMut(&str) -> Option<Arc<dyn Backend>>,
    ) -> Outcome {
        let site_name = w.file.site.clone().unwrap_or_default();
        let r = open(&site_name)
            .ok_or_else(|| Error::Site(format!("site {site_name} is offline or not configured")))
            .and_then(|site| fetch_drive_file(self.rt, &site, &w, master, self.to))
            .map(|fresh| fresh.then(|| format!("{site_name} (Go tool's Drive copy)")));
        (w.name, r)
    }

    /// The files of one Go ISO: it is downloaded and decrypted once, then
    /// each is read out of it.
    fn iso_files(
        &self,
        (site, iso): (&str, &str),
        files: Vec<Wanted>,
        master: &[u8],
        open: &mut impl FnMut(&str) -> Option<Arc<dyn Backend>>,
        done: &mut Vec<Outcome>,
    ) {
        let handle = open(site);
        let image = handle
            .clone()
            .ok_or_else(|| Error::Site(format!("site {site} is offline or not configured")))
            .and_then(|s| fetch_iso(self.rt, &s, iso, master, self.to));
        let image = match (image, handle) {
            (Err(e), Some(s)) if e.is_not_restored() => Err(self.thaw(&s, iso)),
            (image, _) => image,
        };
        let reader =
            image.and_then(|plain| Ok(lomo_iso::Reader::open(std::io::BufReader::new(plain))?));
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => return fail_all(files, &format!("Go ISO {iso} on site {site}: {e}"), done),
        };
        for w in files {
            let r = extract(&mut reader, &w, self.to)
                .map(|fresh| fresh.then(|| format!("{site} in Go ISO {iso}")));
            done.push((w.name, r));
        }
    }

    /// An ISO in a cold storage class: a readable copy is asked for; the
    /// error says to come back.
    fn thaw(&self, site: &Arc<dyn Backend>, iso: &str) -> Error {
        let tier = self.tier;
        let req = lomo_remote::RestoreRequest { days: 7, tier };
        match self.rt.block_on(site.restore(iso, req)) {
            Ok(_) => Error::failed(format!(
                "it is in a cold storage class: a restore ({tier:?} tier) was requested; run `lomob restore` again when it is ready"
            )),
            Err(r) => Error::from(r).context("requesting a restore"),
        }
    }
}

/// The decrypted ISO in a temp file in the target (the Go format's check
/// covers the whole object, so it is read through once).
fn fetch_iso(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    iso: &str,
    master: &[u8],
    to: &Target,
) -> Result<std::fs::File> {
    let mut sealed = to.scratch()?;
    download_into(rt, site, iso, &mut sealed, to.path())?;
    let mut plain = to.scratch()?;
    let mut reader = lomo_crypt::lomob_go::GoDecryptReader::new(master, sealed)
        .map_err(|e| Error::crypt(format!("Go ISO {iso}"), e))?;
    std::io::copy(&mut reader, &mut plain).map_err(|e| {
        Error::failed(format!(
            "decrypting (a wrong LOMOB_MASTER_KEY, or a damaged object): {e}"
        ))
    })?;
    plain.rewind().at("read", to.path())?;
    Ok(plain)
}

/// Where the Go tool may have put a file on Drive, under the site's
/// folder: `<root with '/' → '_', no leading '_'>/<path>`; a file at the
/// top of its root went into a folder the Go tool created without a name,
/// which Drive calls "Untitled" (the Go tool made one per run; the Drive
/// site reads all of them as one).
fn drive_keys(w: &Wanted) -> Vec<String> {
    let base = iso_dir(&w.file.root).trim_start_matches('_').to_owned();
    let rel = String::from_utf8_lossy(&w.file.rel).into_owned();
    let mut keys = vec![format!("{base}/{rel}")];
    if !rel.contains('/') {
        keys.push(format!("{base}/Untitled/{rel}"));
    }
    keys
}

/// One file the Go tool put on Google Drive, decrypted into place; false
/// when it was there already.
fn fetch_drive_file(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    w: &Wanted,
    master: &[u8],
    to: &Target,
) -> Result<bool> {
    if already_there(to, &w.name, &w.file.sha256)? {
        return Ok(false);
    }
    let keys = drive_keys(w);
    let mut sealed = to.scratch()?;
    let mut found = None;
    for key in &keys {
        match download_into(rt, site, key, &mut sealed, to.path()) {
            Ok(()) => {
                found = Some(key);
                break;
            }
            Err(e) if e.is_not_found() => {
                sealed = to.scratch()?;
            }
            Err(e) => return Err(e),
        }
    }
    let Some(key) = found else {
        fail!(
            "not on Drive site {} at {} — if the Go lomo-backup put it there, a sign-in with \
             the drive.file scope cannot see it (Google shows an app only what it made): \
             sign in with `lomob util gcloud-auth --scope drive.readonly` and restore again",
            site.name(),
            keys.join(" or ")
        );
    };
    let mut reader = lomo_crypt::lomob_go::GoDecryptReader::new(master, sealed)
        .map_err(|e| Error::crypt(format!("Go object {key}"), e))?;
    place(&mut reader, w, to)
        .map(|()| true)
        .map_err(|e| e.context("decrypting (a wrong LOMOB_MASTER_KEY, or a damaged object)"))
}

/// Whether `name` holds the content already; an error when it holds another.
fn already_there(to: &Target, name: &Path, sha256: &str) -> Result<bool> {
    if !to.exists(name)? {
        return Ok(false);
    }
    let mut h = sha2::Sha256::new();
    let shown = to.shown(name);
    std::io::copy(&mut to.open_file(name)?, &mut h).at("read", &shown)?;
    if hex(&h.finalize()) == sha256 {
        return Ok(true);
    }
    fail!(
        "{} exists already with other content; lomob never overwrites",
        shown.display()
    );
}

/// Copies `src` into place via a temp file, checking the SHA-256 the Go
/// tool recorded and giving the mtime back.
fn place(src: &mut impl Read, w: &Wanted, to: &Target) -> Result<()> {
    let mut tmp = to.create(&w.name)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        let shown = tmp.shown().to_path_buf();
        tmp.file().write_all(&buf[..n]).at("write", &shown)?;
    }
    if hex(&h.finalize()) != w.file.sha256 {
        fail!("its bytes do not match the SHA-256 the Go tool recorded: not restored");
    }
    let when = w.file.mtime.map(|t| {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0))
    });
    tmp.commit(None, when)
}

/// Reads one file out of the image into place; false when it was there already.
fn extract<R: Read + Seek>(
    reader: &mut lomo_iso::Reader<R>,
    w: &Wanted,
    to: &Target,
) -> Result<bool> {
    if already_there(to, &w.name, &w.file.sha256)? {
        return Ok(false);
    }
    let inside = format!(
        "{}/{}",
        iso_dir(&w.file.root),
        String::from_utf8_lossy(&w.file.rel)
    );
    let rec = reader
        .lookup(inside.as_bytes())
        .map_err(|e| Error::failed(format!("{inside} is not in the ISO: {e}")))?;
    place(&mut reader.open_file(&rec), w, to)?;
    Ok(true)
}

fn hex(b: &[u8]) -> String {
    crate::units::hex(b)
}

/// Downloads `key` into `file` (a temp file in `dir`), rewound.
fn download_into(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    key: &str,
    file: &mut std::fs::File,
    dir: &Path,
) -> Result<()> {
    rt.block_on(async {
        let mut s = site.get(key, None).await?;
        while let Some(chunk) = s.next().await {
            file.write_all(&chunk?).at("write in", dir)?;
        }
        Ok::<_, Error>(())
    })?;
    file.rewind().at("read", dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_map_to_iso_folders_as_the_go_tool_named_them() {
        assert_eq!(iso_dir(Path::new("/home/me/Pictures")), "_home_me_Pictures");
    }
}
