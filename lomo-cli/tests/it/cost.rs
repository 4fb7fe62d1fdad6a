//! `lomob cost`: the seed's scenario and a price override.

use crate::util::Env;

#[test]
fn the_seed_scenario_in_deep_archive() {
    let env = Env::new();
    env.add_site(
        "cold",
        "s3://b/lomob?region=us-east-1",
        &["--role", "archive", "--storage-class", "DEEP_ARCHIVE"],
    );
    let v = &env.json(&["cost", "--what-if", "250GB", "--files", "55000"], 0)[0];
    assert_eq!(v["archives"], 50);
    let storage = v["storage_per_month"].as_f64().unwrap();
    assert!((storage - 250.0 * 0.00099).abs() < 1e-9, "{v}");
    // 50 sealed 5 GB images cut as the pipeline cuts them (at most 90
    // parts each: 53 MiB), plus a create and a complete per archive.
    assert_eq!(v["upload_requests"], 50 * (90 + 2));
    assert_eq!(v["min_storage_days"], 180);
    let bulk = v["full_restore_bulk"].as_f64().unwrap();
    assert!(bulk > 22.5 && bulk < 24.0, "transfer out dominates: {v}");
    assert!(v["checks_per_month"].as_f64().unwrap() < 0.01);

    // Prices come from the config when it says so.
    let cfg = env.path().join("config/lomob/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[prices.DEEP_ARCHIVE]\nstorage_gb_month = 0.002\nput_per_1000 = 0.05\nget_per_1000 = 0.0004\nbulk_gb = 0.0025\nbulk_per_1000 = 0.025\nstandard_gb = 0.02\nstandard_per_1000 = 0.1\ntransfer_out_gb = 0.0\n");
    std::fs::write(&cfg, text).unwrap();
    let v = &env.json(&["cost", "--what-if", "250GB", "--files", "55000"], 0)[0];
    assert!(
        (v["storage_per_month"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{v}"
    );
    assert!(v["full_restore_bulk"].as_f64().unwrap() < 1.0, "{v}");
}
