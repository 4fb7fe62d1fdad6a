//! Prints lomo-crypt's stream throughput for 1 GiB on one core and on all
//! cores, and the per-object cost, as plain figures (used by
//! `benches/crypt-figures.sh`).
//!
//! Shared machines are noisy: each figure is the best of seven rounds, and the
//! one-core and all-core runs alternate so that both see the same machine.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::time::Instant;

use lomo_crypt::MasterKey;
use lomo_crypt::stream::{DecryptReader, EncryptReader, EncryptWriter, seal_bytes};

const GIB: u64 = 1 << 30;
const ROUNDS: usize = 7;

/// Seconds to encrypt 1 GiB written in 1 MiB pieces.
fn encrypt(key: &MasterKey, plain: &[u8]) -> std::io::Result<f64> {
    let t = Instant::now();
    let mut w = EncryptWriter::new(key, std::io::sink());
    for _ in 0..GIB / plain.len() as u64 {
        w.write_all(plain)?;
    }
    w.finish()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Seconds to decrypt `sealed` (1 GiB of plaintext) read in 1 MiB pieces.
fn decrypt(key: &MasterKey, sealed: &[u8]) -> Result<f64, String> {
    let t = Instant::now();
    let mut r = DecryptReader::new(key, sealed).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).map_err(|e| e.to_string())?;
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    assert_eq!(n, GIB);
    Ok(t.elapsed().as_secs_f64())
}

fn gbps(secs: f64) -> f64 {
    GIB as f64 / secs / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = MasterKey::generate();
    let piece = std::env::var("PIECE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize);
    let plain = vec![0x5au8; piece << 20];
    let mut sealed = Vec::with_capacity((GIB + GIB / 4000 + 200) as usize);
    EncryptReader::new(&key, std::io::repeat(0x5a).take(GIB)).read_to_end(&mut sealed)?;

    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let all = rayon::ThreadPoolBuilder::new().build()?;
    let (mut enc1, mut dec1, mut enc_all, mut dec_all) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        enc1 = enc1.min(one.install(|| encrypt(&key, &plain))?);
        enc_all = enc_all.min(all.install(|| encrypt(&key, &plain))?);
        dec1 = dec1.min(one.install(|| decrypt(&key, &sealed))?);
        dec_all = dec_all.min(all.install(|| decrypt(&key, &sealed))?);
    }

    let small = vec![1u8; 1024];
    let t = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(seal_bytes(&key, &small));
    }
    let per_object = t.elapsed().as_secs_f64() / 1000.0;

    println!(
        "best of {ROUNDS} rounds, one thread and {} threads alternating",
        all.current_num_threads()
    );
    println!(
        "encrypt 1 GiB, one core: {enc1:.2} s = {:.2} GB/s",
        gbps(enc1)
    );
    println!(
        "decrypt 1 GiB, one core: {dec1:.2} s = {:.2} GB/s",
        gbps(dec1)
    );
    println!(
        "encrypt 1 GiB, all cores: {enc_all:.2} s = {:.2} GB/s",
        gbps(enc_all)
    );
    println!(
        "decrypt 1 GiB, all cores: {dec_all:.2} s = {:.2} GB/s",
        gbps(dec_all)
    );
    println!(
        "seal 1,000 objects of 1 KiB: {:.1} µs per object",
        per_object * 1e6
    );
    println!(
        "ENC_GBPS={:.3} DEC_GBPS={:.3} ALL_ENC={:.3} ALL_DEC={:.3}",
        gbps(enc1),
        gbps(dec1),
        gbps(enc_all),
        gbps(dec_all)
    );
    Ok(())
}
