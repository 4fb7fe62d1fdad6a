//! Prints lomo-crypt's stream throughput on one core for 1 GiB, and the
#![allow(missing_docs)]
//! per-object cost, as plain figures (used by `benches/crypt-figures.sh`).

use std::io::{Read, Write};
use std::time::Instant;

use lomo_crypt::MasterKey;
use lomo_crypt::stream::{DecryptReader, EncryptReader, EncryptWriter, seal_bytes};

const GIB: u64 = 1 << 30;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = MasterKey::generate();
    let plain = vec![0x5au8; 1 << 20];

    let t = Instant::now();
    let mut w = EncryptWriter::new(&key, std::io::sink());
    for _ in 0..1024 {
        w.write_all(&plain)?;
    }
    w.finish()?;
    let enc = t.elapsed().as_secs_f64();

    let mut dec_src = EncryptReader::new(&key, std::io::repeat(0x5a).take(GIB));
    // encrypt ahead into memory in 64 MiB slices so decryption is timed alone
    let mut sealed = Vec::with_capacity((GIB + GIB / 4000 + 200) as usize);
    dec_src.read_to_end(&mut sealed)?;
    let t = Instant::now();
    let mut r = DecryptReader::new(&key, &sealed[..])?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    let dec = t.elapsed().as_secs_f64();
    assert_eq!(n, GIB);

    let small = vec![1u8; 1024];
    let t = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(seal_bytes(&key, &small));
    }
    let per_object = t.elapsed().as_secs_f64() / 1000.0;

    println!(
        "encrypt 1 GiB: {:.2} s = {:.2} GB/s",
        enc,
        GIB as f64 / enc / 1e9
    );
    println!(
        "decrypt 1 GiB: {:.2} s = {:.2} GB/s",
        dec,
        GIB as f64 / dec / 1e9
    );
    println!(
        "seal 1,000 objects of 1 KiB: {:.1} µs per object",
        per_object * 1e6
    );
    println!(
        "ENC_GBPS={:.3} DEC_GBPS={:.3}",
        GIB as f64 / enc / 1e9,
        GIB as f64 / dec / 1e9
    );
    Ok(())
}
