//! Encrypt a file with lomo-crypt's stream format alone, then read a range back.
//!
//! ```sh
//! cargo run -p lomob-examples --example crypt_stream -- ~/Pictures/some.jpg
//! ```
//! Writes `FILE.lomob` (sealed under a fresh master key, printed in hex: this is
//! a demo, a real key lives in a key file) and decrypts its middle bytes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};

use lomo_crypt::MasterKey;
use lomo_crypt::stream::{EncryptWriter, Layout, SeekDecryptReader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: crypt_stream FILE");
        std::process::exit(2);
    };
    let key = MasterKey::generate();
    let mut out_name = path.clone();
    out_name.push(".lomob");

    let started = std::time::Instant::now();
    let mut src = BufReader::new(File::open(&path)?);
    let mut w = EncryptWriter::new(&key, BufWriter::new(File::create(&out_name)?));
    let n = std::io::copy(&mut src, &mut w)?;
    w.finish()?;
    let sealed = std::fs::metadata(&out_name)?.len();
    assert_eq!(sealed, Layout::new(n, 16).cipher_len());
    println!(
        "sealed {n} bytes into {} ({sealed} bytes) in {:?} under key {}",
        std::path::Path::new(&out_name).display(),
        started.elapsed(),
        key.id()
    );

    let mut r = SeekDecryptReader::new(&key, File::open(&out_name)?)?;
    let mid = n / 2;
    r.seek(SeekFrom::Start(mid))?;
    let mut buf = [0u8; 16];
    let got = r.read(&mut buf)?;
    println!("bytes at offset {mid}: {:02x?}", &buf[..got]);
    Ok(())
}
