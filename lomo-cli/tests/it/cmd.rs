//! init, config, exit codes, output plumbing.

use crate::util::Env;

#[test]
fn init_writes_a_config_that_scan_uses() {
    let env = Env::new();
    let photos = env.path().join("Photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("a.jpg"), b"a").unwrap();
    let cfg = env.path().join("lomob.toml");
    let cfg_s = cfg.to_str().unwrap();
    let out = env.ok(&["--config", cfg_s, "init", photos.to_str().unwrap()], 0);
    assert!(out.contains("lomob.toml"));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("[[site]]") && text.contains("file://"),
        "{text}"
    );
    assert!(text.contains(std::fs::canonicalize(&photos).unwrap().to_str().unwrap()));
    // never overwrites silently
    let again = env.run(&["--config", cfg_s, "init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    // scan with no folder named scans the config's roots (--db still wins over `db =`)
    let r = env.json(&["--config", cfg_s, "scan"], 0);
    assert_eq!(r[0]["new"], 1);
    // and the default site folder exists, so the first backup can use it
    // (a missing site folder is an unmounted disk, skipped).
    let out = env
        .cmd(&["--config", cfg_s, "backup"])
        .env("LOMOB_PASSPHRASE", "pw")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        env.path()
            .join("data/lomob/lomob-site/lomob/staging")
            .is_dir()
    );
    // default location: $XDG_CONFIG_HOME/lomob/config.toml
    env.ok(&["init"], 0);
    assert!(env.path().join("config/lomob/config.toml").is_file());
}

#[test]
fn bad_config_and_missing_things_exit_2_with_a_clear_message() {
    let env = Env::new();
    let out = env.run(&["list", "files"]);
    assert_eq!(out.status.code(), Some(2), "no catalog yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("lomob.db"));

    let cfg = env.path().join("bad.toml");
    std::fs::write(&cfg, "[scan]\nignore_file = []\n").unwrap();
    let out = env.run(&["--config", cfg.to_str().unwrap(), "scan", "."]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("ignore_file"),
        "{err}"
    );

    let out = env.run(&["scan", "/no/such/folder"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/folder"));

    let out = env.run(&["list", "bigfiles", "-s", "12 parsecs"]);
    assert_eq!(out.status.code(), Some(2));

    let out = env.run(&["scan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no folder to scan"));
}

#[test]
fn closed_stdout_is_not_an_error() {
    let env = Env::new();
    let tree = env.path().join("t");
    for i in 0..3000 {
        let d = tree.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("file-with-a-long-name-{i}.jpg")),
            i.to_string(),
        )
        .unwrap();
    }
    env.ok(&["scan", tree.to_str().unwrap()], 0);
    let mut child = env
        .cmd(&["list", "files"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn one_missing_root_does_not_stop_the_others() {
    let env = Env::new();
    let a = env.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::write(a.join("x.jpg"), b"x").unwrap();
    let out = env.run(&["--json", "scan", "/no/such/disk", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("\"new\":1"), "{stdout}");
}
