//! A family cluster: one lomob site on a three-node Garage cluster (three
//! homes, replication factor 3), and the failures such a cluster has: a
//! home offline during a backup or a restore, a home's disk replaced, two
//! homes offline at once. lomob talks to node 0 (the family's own home);
//! the others come and go.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use lomo_remote::testing::{self as servers, GARAGE_KEY_ID, GARAGE_SECRET, Garage};

use crate::killproxy::{KillProxy, When};
use crate::util::{Env, same_tree};

const PART: &str = "5MiB";

/// `videos` 3 MB videos and a few photos: with a pack size of 20 MB per
/// eight videos, one image of four 5 MiB parts per eight, the rest staged.
fn make_tree(pics: &Path, videos: u32) {
    for i in 0..videos {
        let dir = pics.join(if i % 2 == 0 { "2019" } else { "2020" });
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|b| (b.wrapping_mul(2_654_435_761) >> (i % 7)) as u8 ^ i as u8)
            .collect();
        std::fs::write(dir.join(format!("VID_{i}.mp4")), data).unwrap();
    }
    for i in 0..6u32 {
        std::fs::write(pics.join(format!("2020/IMG_{i}.jpg")), vec![i as u8; 5000]).unwrap();
    }
}

struct Family {
    garage: Garage,
    env: Env,
    pics: PathBuf,
    pack: String,
}

/// The cluster, a bucket `family`, and a lomob whose only site is the
/// cluster through `port` (node 0, or a proxy in front of it).
fn family(garage: Garage, port: u16, videos: u32) -> Family {
    garage.create_bucket("family");
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_env("AWS_ACCESS_KEY_ID", GARAGE_KEY_ID)
        .with_env("AWS_SECRET_ACCESS_KEY", GARAGE_SECRET);
    let cfg = env.path().join("config/lomob");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        format!(
            "[[site]]\nname = \"family\"\n\
             url = \"s3://family/lomob?endpoint=http://127.0.0.1:{port}&region=garage\"\n\
             role = \"both\"\n\n[network]\nretry_for = \"5s\"\n"
        ),
    )
    .unwrap();
    let pics = env.path().join("Pictures");
    make_tree(&pics, videos);
    let pack = format!("{}MB", videos / 8 * 20);
    Family {
        garage,
        env,
        pics,
        pack,
    }
}

fn backup(f: &Family) -> Child {
    f.env
        .cmd(&[
            "backup",
            f.pics.to_str().unwrap(),
            "--pack-size",
            &f.pack,
            "--part-size",
            PART,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn is_part(line: &str) -> bool {
    line.starts_with("PUT ") && line.contains("partNumber=")
}

/// Waits until the proxy has forwarded `n` archive part uploads, or (with
/// `acked`) until lomob has had the answer to `n` of them; returns those.
fn parts(proxy: &KillProxy, n: usize, acked: bool) -> Vec<String> {
    let start = Instant::now();
    loop {
        let seen: Vec<String> = proxy
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| is_part(&r.line) && (r.acked || !acked))
            .map(|r| r.line.clone())
            .collect();
        if seen.len() >= n {
            return seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {} parts sent",
            seen.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn restore_all(f: &Family, to: &str) {
    let to = f.env.path().join(to);
    f.env.ok(&["restore", "/", "--to", to.to_str().unwrap()], 0);
    same_tree(&f.pics, &to.join("Pictures"));
}

/// A proxy that only logs (it never kills).
fn logging_proxy(upstream: u16) -> KillProxy {
    KillProxy::start(upstream, usize::MAX, When::Before, |_, _| false)
}

/// (1) A home goes offline in the middle of an archive upload: the backup
/// completes on the other two (write quorum) and everything restores;
/// (2) with another home offline during the restore, it restores too.
#[test]
fn a_home_offline_mid_backup_or_during_a_restore_loses_nothing() {
    let Some(garage) = servers::garage() else {
        return;
    };
    let proxy = logging_proxy(garage.s3_port(0));
    let mut f = family(garage, proxy.port, 8);
    let child = backup(&f);
    parts(&proxy, 2, false);
    f.garage.stop(2);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    restore_all(&f, "with-home2-down");
    f.garage.start(2);
    f.garage.stop(1);
    restore_all(&f, "with-home1-down");
    f.env.ok(&["check", "--archives", "--deep", "3"], 0);
    f.env.ok(&["check", "--staging", "--deep", "3"], 0);
}

/// (3) A home's disk is replaced (its data folder emptied): after Garage's
/// own repair the node holds the blocks again, and with another home
/// offline lomob restores everything through it, every file's BLAKE3 and
/// every chunk's tag checked on the way.
#[test]
fn a_replaced_disk_is_refilled_by_garage_and_everything_checks() {
    let Some(garage) = servers::garage() else {
        return;
    };
    let port = garage.s3_port(2);
    let mut f = family(garage, port, 8);
    let out = backup(&f).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let full = f.garage.data_bytes(0);
    assert!(full > 20_000_000, "{full} bytes on node 0");
    // (emptied while stopped; Garage may start refilling it at once)
    f.garage.wipe_data(2);
    f.garage.repair_blocks(2, 0);
    let refilled = f.garage.data_bytes(2);
    assert!(refilled >= full * 9 / 10, "{refilled} of {full} bytes back");
    f.garage.stop(1);
    f.env.ok(&["check", "--archives", "--deep", "5"], 0);
    f.env.ok(&["check", "--staging", "--deep", "5"], 0);
    restore_all(&f, "after-repair");
}

/// (4) Two homes offline mid-upload: no quorum. lomob says the site is
/// unavailable with Garage's own error, keeps its state, and the next run
/// after the homes return completes without sending again any part the
/// cluster had acknowledged.
#[test]
fn two_homes_offline_then_back_resumes_without_resending() {
    let Some(garage) = servers::garage() else {
        return;
    };
    let proxy = logging_proxy(garage.s3_port(0));
    let mut f = family(garage, proxy.port, 16);
    let child = backup(&f);
    // Answered while the cluster was whole: these parts are stored.
    let acked = parts(&proxy, 2, true);
    f.garage.stop(1);
    f.garage.stop(2);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("family"), "the site is named: {err}");
    assert!(
        err.to_lowercase().contains("quorum"),
        "Garage's own error: {err}"
    );
    let first = proxy.log.lock().unwrap().len();
    f.garage.start(1);
    f.garage.start(2);
    let out = backup(&f).wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let without_id = |l: &str| {
        l.split(['?', '&'])
            .filter(|p| !p.starts_with("uploadId="))
            .collect::<Vec<_>>()
            .join("&")
    };
    let again: std::collections::HashSet<String> = proxy.log.lock().unwrap()[first..]
        .iter()
        .filter(|r| is_part(&r.line))
        .map(|r| without_id(&r.line))
        .collect();
    assert!(!again.is_empty(), "the second run sent the other parts");
    for line in acked {
        assert!(
            !again.contains(&without_id(&line)),
            "{line} was stored before the outage and sent again"
        );
    }
    restore_all(&f, "after-outage");
}

/// Garage keeps the SHA-256 each archive was sent with: an archive
/// rewritten behind lomob's back (same size, another client: boto3) is
/// found by `check --archives` from one HEAD, no byte read.
#[test]
fn an_archive_rewritten_on_the_cluster_is_found_by_its_stored_checksum() {
    let Some(garage) = servers::garage() else {
        return;
    };
    let port = garage.s3_port(0);
    let f = family(garage, port, 8);
    // `site test` says what Garage is: no cold classes, stored SHA-256s.
    let probe = f.env.ok(&["site", "test", "family"], 0);
    assert!(probe.contains("the server has no cold classes"), "{probe}");
    assert!(!probe.contains("restores from cold tiers"), "{probe}");
    assert!(probe.contains("stored SHA-256 checksums"), "{probe}");
    let out = backup(&f).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    f.env.ok(&["check", "--archives"], 0);
    let script = "import sys, boto3\n\
        s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='garage',\n\
            aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\n\
        keys = [o['Key'] for o in s3.list_objects_v2(Bucket='family', Prefix='lomob/lomob/archives/')['Contents']]\n\
        k = [k for k in keys if k.endswith('.iso.lomo')][0]\n\
        n = s3.head_object(Bucket='family', Key=k)['ContentLength']\n\
        s3.put_object(Bucket='family', Key=k, Body=b'\\x00' * n)\n\
        print(k)\n";
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            &f.garage.endpoint(1),
            GARAGE_KEY_ID,
            GARAGE_SECRET,
        ])
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let name = key.rsplit('/').next().unwrap().trim_end_matches(".lomo");
    let out = f.env.run(&["check", "--archives"]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(name) && text.contains("checksum"), "{text}");
}
