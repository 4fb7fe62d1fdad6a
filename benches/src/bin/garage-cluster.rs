//! Starts the three-node Garage cluster the tests use (lomo_remote's
//! `testing::garage`), creates the buckets named on the command line, prints
//! `ENDPOINT=http://127.0.0.1:PORT` (node 0's S3 API), the key and region,
//! and keeps the cluster up until its standard input closes.
//! benches/garage-figures.sh runs it.

use std::io::Read as _;

use lomo_remote::testing::{GARAGE_KEY_ID, GARAGE_REGION, GARAGE_SECRET, garage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = garage().ok_or("garage not found: run scripts/test once, or put it on PATH")?;
    for bucket in std::env::args().skip(1) {
        cluster.create_bucket(&bucket);
    }
    println!("ENDPOINT={}", cluster.endpoint(0));
    println!("KEY_ID={GARAGE_KEY_ID}\nSECRET={GARAGE_SECRET}\nREGION={GARAGE_REGION}");
    println!("READY");
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest)?;
    Ok(())
}
