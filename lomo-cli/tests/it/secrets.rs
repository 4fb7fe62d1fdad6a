//! What lomob keeps secret: the config (credentials, the SMTP password) is
//! private and never written through a planted link; staged objects tell a
//! provider nothing about the plaintext (checked with boto3 against moto).
//! SMTP and webhook secrets are tested in alert.rs.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use lomo_remote::testing as servers;

use crate::util::{Env, listing};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_config_is_private_when_written_and_rewritten() {
    let env = Env::new();
    let photos = env.path().join("Photos");
    std::fs::create_dir_all(&photos).unwrap();
    let cfg = env.path().join("conf/lomob.toml");
    let cfg_s = cfg.to_str().unwrap();
    env.ok(&["--config", cfg_s, "init", photos.to_str().unwrap()], 0);
    assert_eq!(mode(&cfg), 0o600);
    // a config an older lomob left readable to everyone
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let site = format!("file://{}", env.path().join("nas").display());
    env.ok(&["--config", cfg_s, "site", "add", "nas", &site], 0);
    assert_eq!(mode(&cfg), 0o600, "a rewrite makes it private");
    // init --force over a symlink replaces the link, never writes through it
    let elsewhere = env.path().join("elsewhere.toml");
    std::fs::write(&elsewhere, "someone else's file").unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &cfg).unwrap();
    let before = listing(env.path(), Some(&env.path().join("conf")));
    env.ok(
        &[
            "--config",
            cfg_s,
            "init",
            "--force",
            photos.to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(listing(env.path(), Some(&env.path().join("conf"))), before);
    assert!(std::fs::symlink_metadata(&cfg).unwrap().is_file());
    assert_eq!(mode(&cfg), 0o600);
    let left: Vec<_> = std::fs::read_dir(env.path().join("conf"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1, "no temp file left");
}

#[test]
fn staged_objects_tell_the_provider_nothing_about_the_plaintext() {
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "free");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_moto_credentials();
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    env.add_site(
        "free",
        &format!("s3://free/home?region=us-east-1&endpoint={endpoint}"),
        &["--role", "staging"],
    );
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    let photo = b"a photo a provider might know".repeat(100);
    std::fs::write(pics.join("IMG_0001.jpg"), &photo).unwrap();
    env.ok(&["backup", pics.to_str().unwrap()], 0);
    // boto3, not lomob, reads what the server holds
    let code = r#"
import boto3, json, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',
                  aws_access_key_id='testing', aws_secret_access_key='testing')
for o in s3.list_objects_v2(Bucket='free', Prefix='home/lomob/staging/')['Contents']:
    h = s3.head_object(Bucket='free', Key=o['Key'])
    print(json.dumps({'key': o['Key'], 'meta': h['Metadata']}))
"#;
    let out = Command::new("python3")
        .args(["-c", code, &endpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let hash = blake3::hash(&photo).to_hex().to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["meta"], serde_json::json!({}), "{line}");
        assert!(
            !line.contains(&hash[..6]) && !line.contains("IMG_0001"),
            "{line}"
        );
    }
}
