#![allow(clippy::unwrap_used, missing_docs)]
//! Criterion benchmarks of lomo-catalog scanning on a generated tree of small
//! files: a first scan (everything hashed and inserted) and a rescan of the
//! unchanged tree (one `stat` per file, nothing read).
//!
//! `cargo bench -p lomob-benches --bench scan`. For the full figures
//! (100,000 files, a 2 GB tree, `cat` as the yardstick, peak RSS) run
//! `benches/scan-figures.sh`.

use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lomo_catalog::{Catalog, NoProgress, ScanOptions};

const FILES: u64 = 5_000;

fn make_tree(root: &Path) {
    for i in 0..FILES {
        let dir = root.join(format!("{:04}/{:02}", 2019 + i % 6, i % 12 + 1));
        std::fs::create_dir_all(&dir).unwrap();
        let size = 200 + (i * 7919) % 8000;
        let data: Vec<u8> = (0..size).map(|j| (i.wrapping_mul(31) ^ j) as u8).collect();
        std::fs::write(dir.join(format!("IMG_{i:06}.jpg")), data).unwrap();
    }
}

fn scan(c: &mut Criterion) {
    let tree = tempfile::tempdir().unwrap();
    make_tree(tree.path());
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(FILES));
    g.sample_size(10);
    g.bench_function("first scan, 5000 small files", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |db| {
                let mut cat = Catalog::open(db.path().join("c.db")).unwrap();
                let r = cat
                    .scan(tree.path(), &ScanOptions::default(), &NoProgress)
                    .unwrap();
                assert_eq!(r.new, FILES);
                db
            },
            BatchSize::PerIteration,
        );
    });
    let db = tempfile::tempdir().unwrap();
    let mut cat = Catalog::open(db.path().join("c.db")).unwrap();
    cat.scan(tree.path(), &ScanOptions::default(), &NoProgress)
        .unwrap();
    g.bench_function("rescan, 5000 unchanged files", |b| {
        b.iter(|| {
            let r = cat
                .scan(tree.path(), &ScanOptions::default(), &NoProgress)
                .unwrap();
            assert_eq!(r.unchanged, FILES);
        });
    });
    g.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
