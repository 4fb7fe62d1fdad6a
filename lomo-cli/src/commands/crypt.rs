//! `lomob crypt seal|open`: filecrypt-compatible boxes, lomob's own seal, and
//! decryption of Go lomo-backup objects.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use lomo_crypt::archive::{UnpackLimits, pack, unpack};
use lomo_crypt::filecrypt::{self, Cipher, Cost};

use lomob::fsutil::AtomicFile;
use lomob::units::parse_size;

use super::Outcome;
use crate::cli::secrets::{read_new_secret, read_secret};

#[derive(Debug, Subcommand)]
pub(crate) enum CryptCommand {
    /// Seal files and folders into one encrypted file, as filecrypt does.
    Seal(SealArgs),
    /// Open a sealed file (filecrypt's, lomob's, or a Go lomo-backup object).
    Open(OpenArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// kisom/filecrypt's box: XSalsa20-Poly1305, scrypt (the default).
    Filecrypt,
    /// The same layout sealed with XChaCha20-Poly1305.
    Lomob,
    /// An object written by the Go lomo-backup (AES-256-CTR; open only).
    LomobGo,
}

#[derive(Debug, Args)]
pub(crate) struct SealArgs {
    /// Files and folders to seal (named inside as given)
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// The sealed file to write
    #[arg(short, value_name = "OUT")]
    o: PathBuf,
    /// scrypt N = 2^15 instead of 2^20 (filecrypt's -l)
    #[arg(long)]
    low: bool,
    /// Seal one file's bytes as the whole payload (no archive inside)
    #[arg(long)]
    raw: bool,
    #[arg(long, value_enum, default_value = "filecrypt")]
    format: Format,
    /// Read the passphrase from this file [default: LOMOB_PASSPHRASE, else ask]
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Replace OUT if it exists
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct OpenArgs {
    /// The sealed file
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Unpack the sealed files and folders into DIR
    #[arg(
        short = 'C',
        value_name = "DIR",
        conflicts_with = "o",
        required_unless_present = "o"
    )]
    dir: Option<PathBuf>,
    /// Write the payload to OUT (with --raw, or --format lomob-go)
    #[arg(short, value_name = "OUT")]
    o: Option<PathBuf>,
    /// The box was sealed with scrypt N = 2^15 (else 2^20 is tried, then 2^15)
    #[arg(long)]
    low: bool,
    /// The payload is one file's bytes, not an archive
    #[arg(long)]
    raw: bool,
    #[arg(long, value_enum, default_value = "filecrypt")]
    format: Format,
    /// Read the passphrase (or, for lomob-go, the master key) from this file
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Refuse archives that unpack to more than this
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_size)]
    max_size: u64,
}

fn cipher(f: Format) -> Cipher {
    match f {
        Format::Lomob => Cipher::XChaCha20Poly1305,
        Format::Filecrypt | Format::LomobGo => Cipher::XSalsa20Poly1305,
    }
}

pub(crate) fn run(cmd: &CryptCommand) -> Result<Outcome> {
    match cmd {
        CryptCommand::Seal(a) => seal(a),
        CryptCommand::Open(a) => open(a),
    }
}

fn seal(a: &SealArgs) -> Result<Outcome> {
    if a.format == Format::LomobGo {
        bail!(
            "lomob reads Go lomo-backup objects but does not write them: use --format filecrypt or lomob"
        );
    }
    let payload = if a.raw {
        let [one] = a.paths.as_slice() else {
            bail!("--raw seals exactly one file");
        };
        zeroize::Zeroizing::new(
            std::fs::read(one).with_context(|| format!("cannot read {}", one.display()))?,
        )
    } else {
        let cwd = std::env::current_dir()?;
        zeroize::Zeroizing::new(pack(&cwd, &a.paths).context("cannot pack the files")?)
    };
    let pass = read_new_secret(
        a.passphrase_file.as_deref(),
        "LOMOB_PASSPHRASE",
        "passphrase",
    )?;
    let cost = if a.low { Cost::Low } else { Cost::Standard };
    let blob = filecrypt::seal(&pass, &payload, cost, cipher(a.format))?;
    let mut out = AtomicFile::create(&a.o, a.force)?;
    out.file()
        .write_all(&blob)
        .with_context(|| format!("cannot write {}", a.o.display()))?;
    out.commit()?;
    eprintln!("sealed {} bytes into {}", payload.len(), a.o.display());
    Ok(Outcome::Clean)
}

fn open(a: &OpenArgs) -> Result<Outcome> {
    if a.format == Format::LomobGo {
        return open_go(a);
    }
    let blob =
        std::fs::read(&a.input).with_context(|| format!("cannot read {}", a.input.display()))?;
    let pass = read_secret(
        a.passphrase_file.as_deref(),
        "LOMOB_PASSPHRASE",
        "Passphrase: ",
    )?;
    let cost = a.low.then_some(Cost::Low);
    let payload = zeroize::Zeroizing::new(
        filecrypt::open(&pass, &blob, cost, cipher(a.format))
            .with_context(|| format!("cannot open {}", a.input.display()))?,
    );
    match (&a.o, &a.dir) {
        (Some(out), _) => {
            if !a.raw {
                bail!("-o writes a raw payload: add --raw, or unpack with -C DIR");
            }
            let mut f = AtomicFile::create(out, false)?;
            f.file().write_all(&payload)?;
            f.commit()?;
            eprintln!("wrote {} bytes to {}", payload.len(), out.display());
        }
        (None, Some(dir)) => {
            if a.raw {
                bail!("--raw writes one file: use -o OUT");
            }
            let limits = UnpackLimits {
                max_bytes: a.max_size,
                ..UnpackLimits::default()
            };
            let written = unpack(&payload, dir, limits).with_context(|| {
                format!("cannot unpack {} into {}", a.input.display(), dir.display())
            })?;
            eprintln!("unpacked {} entries into {}", written.len(), dir.display());
        }
        (None, None) => bail!("say where to put the contents: -C DIR or -o OUT"),
    }
    Ok(Outcome::Clean)
}

fn open_go(a: &OpenArgs) -> Result<Outcome> {
    let Some(out) = &a.o else {
        bail!("--format lomob-go writes one file: use -o OUT");
    };
    let master = read_secret(
        a.passphrase_file.as_deref(),
        "LOMOB_MASTER_KEY",
        "Go lomob master key: ",
    )?;
    let input = std::fs::File::open(&a.input)
        .with_context(|| format!("cannot read {}", a.input.display()))?;
    let mut reader =
        lomo_crypt::lomob_go::GoDecryptReader::new(&master, std::io::BufReader::new(input))
            .with_context(|| format!("cannot open {}", a.input.display()))?;
    let mut f = AtomicFile::create(out, false)?;
    let n = std::io::copy(&mut reader, f.file())
        .with_context(|| format!("cannot decrypt {}", a.input.display()))?;
    f.commit()?;
    eprintln!("decrypted {n} bytes to {}", out.display());
    Ok(Outcome::Clean)
}
