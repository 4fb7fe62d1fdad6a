//! Criterion benchmarks of lomo-crypt's stream format: encryption and
//! decryption throughput on one core (`Throughput::Bytes`), and the per-object
//! cost of sealing many small objects.
//!
//! `cargo bench -p lomob-benches --bench crypt`; `benches/crypt-figures.sh`
//! prints the 1 GiB figures next to `openssl speed` in one run.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{Read, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lomo_crypt::MasterKey;
use lomo_crypt::stream::{DecryptReader, EncryptWriter, seal_bytes};

const LEN: usize = 64 << 20;

fn stream(c: &mut Criterion) {
    let key = MasterKey::generate();
    let plain = vec![0x5au8; LEN];
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(10);
    g.bench_function("encrypt 64 MiB", |b| {
        b.iter(|| {
            let mut w = EncryptWriter::new(&key, std::io::sink());
            w.write_all(&plain).unwrap();
            w.finish().unwrap();
        });
    });
    let mut w = EncryptWriter::new(&key, Vec::with_capacity(LEN + LEN / 1000));
    w.write_all(&plain).unwrap();
    let sealed = w.finish().unwrap();
    let mut out = vec![0u8; 1 << 20];
    g.bench_function("decrypt 64 MiB", |b| {
        b.iter(|| {
            let mut r = DecryptReader::new(&key, &sealed[..]).unwrap();
            while r.read(&mut out).unwrap() > 0 {}
        });
    });
    let cipher = lomo_crypt::stream::ObjectCipher::fresh(&key);
    let mut chunk = Vec::with_capacity(65536 + 16);
    g.bench_function("raw chunk sealing, 64 MiB (no adapter)", |b| {
        b.iter(|| {
            for i in 0..(LEN / 65536) as u64 {
                chunk.clear();
                chunk.extend_from_slice(&plain[..65536]);
                cipher.seal_chunk(i, false, &mut chunk);
            }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("objects");
    let small = vec![1u8; 1024];
    g.throughput(Throughput::Elements(1000));
    g.bench_function("seal 1000 objects of 1 KiB", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                std::hint::black_box(seal_bytes(&key, &small));
            }
        });
    });
    g.finish();
}

criterion_group!(benches, stream);
criterion_main!(benches);
