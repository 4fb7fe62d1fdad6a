//! lomo-remote on its own: upload a file to a site as a resumable multipart
//! upload, list the site, read a range back.
//!
//! `cargo run -p lomob-examples --example remote_upload -- FILE SITE_URL`
//! e.g. `… -- photo.jpg file:///tmp/site` (the folder must exist) or
//! `… -- big.iso 's3://bucket/prefix?endpoint=http://127.0.0.1:9000'` with
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` set.

use futures::TryStreamExt as _;
use lomo_remote::{PutOptions, SiteOptions, SiteUrl, Uploader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, url] = args.as_slice() else {
        return Err("usage: remote_upload FILE SITE_URL".into());
    };
    let url: SiteUrl = url.parse()?;
    let site = lomo_remote::open(&url, &SiteOptions::named("example"))?;
    let src = std::fs::File::open(file)?;
    let size = src.metadata()?.len();
    let key = "example/upload.bin";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let checked = Uploader::new(site.clone())
            .upload(key, size, src, 8 << 20, &PutOptions::default(), |state| {
                // A real caller persists `state` (it is serde) to resume later.
                eprintln!(
                    "part {} of {} stored",
                    state.parts.len(),
                    state.part_count()
                );
                Ok(())
            })
            .await?;
        println!(
            "stored {key}: {} bytes, stored checksum {:?}",
            checked.size, checked.sha256
        );
        let objects: Vec<lomo_remote::ObjectInfo> = site.list("example").try_collect().await?;
        for o in objects {
            println!("{:>12}  {}", o.size, o.key);
        }
        let head: Vec<bytes::Bytes> = site
            .get(key, Some(0..size.min(16)))
            .await?
            .try_collect()
            .await?;
        println!("first bytes: {:02x?}", head.concat());
        let u = site.usage();
        println!(
            "requests: {} PUT-class, {} GET-class, {} bytes sent",
            u.class_a, u.class_b, u.bytes_sent
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
