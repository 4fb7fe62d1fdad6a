//! Uploads one file to an S3-compatible server with lomo-remote's
//! multipart uploader and prints the time, throughput and requests.
//!
//! `remote-figures ENDPOINT BUCKET FILE [PART_SIZE [CONCURRENCY]]`; the
//! credentials come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
//! benches/remote-figures.sh runs it next to rclone against moto.

use std::time::Instant;

use lomo_remote::{PutOptions, SiteOptions, Uploader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: remote-figures ENDPOINT BUCKET FILE [PART_SIZE [CONCURRENCY]]".into());
    }
    let part: u64 = args.get(4).map_or(Ok(32 << 20), |s| s.parse())?;
    let conc: usize = args.get(5).map_or(Ok(4), |s| s.parse())?;
    let url = format!("s3://{}?region=us-east-1&endpoint={}", args[2], args[1]).parse()?;
    let site = lomo_remote::open(&url, &SiteOptions::named("bench"))?;
    let file = std::fs::File::open(&args[3])?;
    let size = file.metadata()?.len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    let v = rt.block_on(Uploader::new(site.clone()).with_concurrency(conc).upload(
        "bench/lomob.bin",
        size,
        file,
        part,
        &PutOptions::default(),
        |_| Ok(()),
    ))?;
    let secs = start.elapsed().as_secs_f64();
    let u = site.usage();
    println!(
        "lomob: {:.2} s, {:.0} MB/s, part {} MiB x {} in flight; requests: {} PUT/POST/LIST, {} GET/HEAD, {} failed; sha256 checked: {}",
        secs,
        size as f64 / secs / 1e6,
        part >> 20,
        conc,
        u.class_a,
        u.class_b,
        u.failed,
        v.sha256.is_some()
    );
    Ok(())
}
