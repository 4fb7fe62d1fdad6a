//! Scan a folder into a catalog with lomo-catalog alone and print what changed.
//!
//! ```sh
//! cargo run -p lomob-examples --example catalog_scan -- ~/Pictures /tmp/example.db
//! ```
//! Run it twice: the second scan reads nothing (every file is unchanged).

use lomo_catalog::{Catalog, FileQuery, NoProgress, ScanOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), db) = (args.next(), args.next()) else {
        eprintln!("usage: catalog_scan DIR [CATALOG.db]");
        std::process::exit(2);
    };
    let db = db.unwrap_or_else(|| "example.db".into());
    let mut catalog = Catalog::open(&db)?;
    let report = catalog.scan(&dir, &ScanOptions::default(), &NoProgress)?;
    println!(
        "{} new, {} changed, {} moved, {} deleted, {} unchanged; read {} bytes in {:?}",
        report.new,
        report.changed,
        report.moved,
        report.deleted,
        report.unchanged,
        report.bytes_hashed,
        report.elapsed
    );
    for issue in &report.issues {
        eprintln!("skipped {issue}");
    }
    let stats = catalog.stats()?;
    println!(
        "catalog: {} files, {} bytes, {} distinct contents ({} bytes)",
        stats.files, stats.bytes, stats.contents, stats.unique_bytes
    );
    let mut shown = 0;
    catalog.for_each_file(
        &FileQuery {
            largest_first: true,
            ..FileQuery::default()
        },
        |f| {
            if shown < 5 {
                println!("{:>12}  {}", f.size, f.path.display());
                shown += 1;
            }
            Ok::<_, lomo_catalog::Error>(())
        },
    )?;
    Ok(())
}
