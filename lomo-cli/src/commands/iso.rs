//! `lomob iso build|dump|extract`: ISO9660 images without mkisofs.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lomo_iso::{Entry, EntryKind, Layout, Reader, WriteOptions};

use lomob::fsutil::AtomicFile;

use super::{Ctx, Outcome};
use crate::cli::output::{human_bytes, local_time};

#[derive(Debug, Subcommand)]
pub(crate) enum IsoCommand {
    /// Build an image of a folder (Rock Ridge + Joliet), like `mkisofs -R -J`.
    Build {
        /// The folder to put in the image (its contents become the image root)
        src: PathBuf,
        /// The image to write; `-` writes to standard output
        #[arg(short, value_name = "OUT.iso")]
        o: PathBuf,
        /// Volume identifier
        #[arg(long, default_value = "LOMOB")]
        volume_id: String,
        /// Replace OUT if it exists
        #[arg(long)]
        force: bool,
    },
    /// Pack the catalog's files not yet in any archive into images of at most SIZE.
    Create {
        /// Largest image (KB = 1000 bytes, as in the seed); a bigger file gets an image of its own
        #[arg(short, long, default_value = "5G", value_parser = lomob::units::parse_size)]
        size: u64,
        /// Folder to write the images to
        #[arg(short = 'p', long, default_value = ".")]
        store_dir: PathBuf,
        /// Image name [default: OLDEST--NEWEST.iso, from the file dates]
        name: Option<String>,
    },
    /// List the archives recorded in the catalog.
    List,
    /// Print an image's tree with sizes and dates.
    Dump {
        /// The image
        image: PathBuf,
    },
    /// Extract an image, or only some paths of it, into a folder.
    Extract {
        /// The image
        image: PathBuf,
        /// Where to put the files (created if missing; nothing is overwritten)
        dest: PathBuf,
        /// Paths inside the image to extract [default: everything]
        paths: Vec<String>,
        /// Allow the files to add up to this much [default: twice the
        /// image's size + 256 MiB; more only where files share extents]
        #[arg(long, value_name = "SIZE", value_parser = lomob::units::parse_size)]
        max_size: Option<u64>,
    },
}

pub(crate) fn run(ctx: &Ctx, cmd: &IsoCommand) -> Result<Outcome> {
    let progress = !ctx.global.no_progress;
    match cmd {
        IsoCommand::Create {
            size,
            store_dir,
            name,
        } => super::iso_create::create(ctx, *size, store_dir, name.as_deref()),
        IsoCommand::List => super::iso_create::list(ctx),
        IsoCommand::Build {
            src,
            o,
            volume_id,
            force,
        } => build(src, o, volume_id, *force, progress),
        IsoCommand::Dump { image } => dump(image),
        IsoCommand::Extract {
            image,
            dest,
            paths,
            max_size,
        } => extract(image, dest, paths, *max_size),
    }
}

fn extract(image: &Path, dest: &Path, paths: &[String], max: Option<u64>) -> Result<Outcome> {
    let f =
        std::fs::File::open(image).with_context(|| format!("cannot open {}", image.display()))?;
    let mut r = Reader::open(std::io::BufReader::new(f))
        .with_context(|| format!("cannot read {}", image.display()))?;
    let only: Vec<Vec<u8>> = paths.iter().map(|p| p.as_bytes().to_vec()).collect();
    let mut options = lomo_iso::ExtractOptions::default();
    options.max_bytes = max;
    let done = r
        .extract_with(dest, &only, &options)
        .with_context(|| format!("cannot extract {}", image.display()))?;
    if done.entries == 0 && done.skipped_links.is_empty() && !only.is_empty() {
        bail!("none of {paths:?} is in {}", image.display());
    }
    for s in &done.skipped_links {
        eprintln!(
            "warning: symlink {:?} -> {:?} not created: {}",
            s.entry, s.target, s.reason
        );
    }
    eprintln!(
        "extracted {} entries ({}) into {}",
        done.entries,
        human_bytes(done.bytes),
        dest.display()
    );
    Ok(Outcome::from_attention(!done.skipped_links.is_empty()))
}

#[cfg(unix)]
fn bytes_of(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn bytes_of(p: &Path) -> Vec<u8> {
    p.to_string_lossy().into_owned().into_bytes()
}

/// Entries for a folder, with the disk path of each; sockets, FIFOs and devices are skipped.
fn collect(src: &Path) -> Result<(Vec<Entry>, Vec<PathBuf>, u64)> {
    let (mut entries, mut paths, mut skipped) = (Vec::new(), Vec::new(), 0);
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for e in rd {
            let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
            let p = e.path();
            let m = std::fs::symlink_metadata(&p)
                .with_context(|| format!("cannot stat {}", p.display()))?;
            let kind = if m.is_dir() {
                stack.push(p.clone());
                EntryKind::Dir
            } else if m.is_file() {
                EntryKind::File {
                    size: m.len(),
                    blake3: None,
                }
            } else if m.file_type().is_symlink() {
                let target = std::fs::read_link(&p)
                    .with_context(|| format!("cannot read link {}", p.display()))?;
                EntryKind::Symlink {
                    target: bytes_of(&target),
                }
            } else {
                eprintln!("lomob: skipped {} (socket, FIFO or device)", p.display());
                skipped += 1;
                continue;
            };
            #[cfg(unix)]
            let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777;
            #[cfg(not(unix))]
            let mode = 0o644;
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            let rel = p.strip_prefix(src).unwrap_or(&p);
            entries.push(Entry {
                path: bytes_of(rel),
                kind,
                mtime,
                mode,
            });
            paths.push(p);
        }
    }
    Ok((entries, paths, skipped))
}

/// A writer that moves a progress bar.
struct Counting<W> {
    inner: W,
    bar: Option<ProgressBar>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn build(src: &Path, out: &Path, volume_id: &str, force: bool, progress: bool) -> Result<Outcome> {
    let (entries, paths, skipped) = collect(src)?;
    let opts = WriteOptions {
        volume_id: volume_id.to_string(),
        ..WriteOptions::default()
    };
    let layout = Layout::new(&entries, opts).context("cannot lay out the image")?;
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::with_draw_target(Some(layout.size()), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30} {decimal_bytes}/{decimal_total_bytes} ({decimal_bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let open = |i: usize| std::fs::File::open(&paths[i]);
    if out == Path::new("-") {
        let stdout = std::io::stdout().lock();
        layout.write(
            Counting {
                inner: stdout,
                bar: bar.clone(),
            },
            open,
        )?;
    } else {
        let mut file = AtomicFile::create(out, force)?;
        layout.write(
            Counting {
                inner: file.file(),
                bar: bar.clone(),
            },
            open,
        )?;
        file.commit()?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!(
        "wrote {} ({} files and folders) to {}",
        human_bytes(layout.size()),
        entries.len(),
        if out == Path::new("-") {
            "standard output".into()
        } else {
            out.display().to_string()
        }
    );
    Ok(if skipped > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn dump(image: &Path) -> Result<Outcome> {
    let f =
        std::fs::File::open(image).with_context(|| format!("cannot open {}", image.display()))?;
    let mut r = Reader::open(std::io::BufReader::new(f))
        .with_context(|| format!("cannot read {}", image.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{} ({:?} names, {})",
        image.display(),
        r.tree(),
        human_bytes(r.len())
    )?;
    let mut res = Ok(());
    r.walk(|path, rec| {
        let depth = path.iter().filter(|&&b| b == b'/').count();
        let name = String::from_utf8_lossy(&rec.name);
        let line = if rec.is_dir {
            format!("{}{name}/", "  ".repeat(depth + 1))
        } else {
            let link = rec
                .symlink
                .as_ref()
                .map(|t| format!(" -> {}", String::from_utf8_lossy(t)))
                .unwrap_or_default();
            format!(
                "{}{name}{link}  {}  {}",
                "  ".repeat(depth + 1),
                human_bytes(rec.size),
                local_time(rec.mtime)
            )
        };
        if let Err(e) = writeln!(out, "{line}") {
            res = Err(e);
        }
        Ok(())
    })
    .with_context(|| format!("cannot read {}", image.display()))?;
    res?;
    out.flush()?;
    Ok(Outcome::Clean)
}
