//! Alerts: a real SMTP server (aiosmtpd) and a local HTTP receiver for the
//! webhook, both on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{Env, integration};

struct Smtp {
    child: Child,
    port: u16,
    out: Arc<Mutex<String>>,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd printing each message it receives.
fn smtp() -> Option<Smtp> {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !integration(),
            "aiosmtpd is required with LOMO_TEST_INTEGRATION set (pip install aiosmtpd)"
        );
        eprintln!("skipping: aiosmtpd not installed");
        return None;
    }
    let port = lomo_remote::testing::free_port();
    let mut child = Command::new("python3")
        .args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut o = o.lock().unwrap();
            o.push_str(&line);
            o.push('\n');
        }
    });
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Smtp { child, port, out })
}

/// An HTTP receiver that answers 200 and keeps each request's body.
pub fn webhook() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        g.lock().unwrap().push(body.to_owned());
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got)
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not arrive"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failed_staging_check_sends_one_email_and_one_webhook_a_day() {
    let Some(smtp) = smtp() else { return };
    let (hook, posts) = webhook();
    let env = Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_env(
            "LOMOB_ALERT_SMTP_URL",
            &format!("smtp+plain://127.0.0.1:{}", smtp.port),
        )
        .with_env("LOMOB_ALERT_EMAIL_TO", "family@example.com")
        .with_env("LOMOB_ALERT_EMAIL_FROM", "lomob@home.example")
        .with_env(
            "LOMOB_ALERT_WEBHOOK_URL",
            &format!("http://127.0.0.1:{hook}/hook"),
        );
    let run = |args: &[&str]| env.cmd(args).current_dir(env.path()).output().unwrap();

    let out = run(&["alert", "test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the test email", || {
        smtp.out
            .lock()
            .unwrap()
            .contains("Subject: lomob: test alert")
    });
    wait_for("the test webhook", || posts.lock().unwrap().len() == 1);

    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), vec![1u8; 5000]).unwrap();
    assert!(run(&["backup", pics.to_str().unwrap()]).status.success());
    assert!(run(&["check", "--staging"]).status.success());
    // A staged object disappears behind lomob's back.
    let staging = env.path().join("lomob-site/lomob/staging");
    let dir = std::fs::read_dir(&staging)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let obj = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(obj).unwrap();
    assert_eq!(run(&["check", "--staging"]).status.code(), Some(1));
    wait_for("the check email", || {
        smtp.out
            .lock()
            .unwrap()
            .contains("staging check found 1 difference")
    });
    let mail = smtp.out.lock().unwrap().clone();
    assert!(
        mail.contains("To: family@example.com") && mail.contains("Pictures/a.jpg"),
        "{mail}"
    );
    wait_for("the check webhook", || posts.lock().unwrap().len() == 2);
    let hookbody: serde_json::Value = serde_json::from_str(&posts.lock().unwrap()[1]).unwrap();
    assert_eq!(hookbody["kind"], "check-staging");
    assert_eq!(hookbody["details"][0]["kind"], "missing");

    // Same problem again today: no storm.
    assert_eq!(run(&["check", "--staging"]).status.code(), Some(1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        posts.lock().unwrap().len(),
        2,
        "one webhook per event kind per day"
    );
    let mail = smtp.out.lock().unwrap().clone();
    assert_eq!(
        mail.matches("Subject: lomob: the staging check found")
            .count(),
        1,
        "{mail}"
    );
}

#[test]
fn alert_test_without_settings_says_what_to_set() {
    let env = Env::new();
    let out = env.run(&["alert", "test"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOMOB_ALERT_SMTP_URL"));
}

/// Alert settings pointing at `smtp` and the webhook on `hook`.
fn alerting_env(smtp: &Smtp, hook: u16) -> Env {
    Env::new()
        .with_env("LOMOB_PASSPHRASE", "pw")
        .with_moto_credentials()
        .with_env(
            "LOMOB_ALERT_SMTP_URL",
            &format!("smtp+plain://127.0.0.1:{}", smtp.port),
        )
        .with_env("LOMOB_ALERT_EMAIL_TO", "family@example.com")
        .with_env(
            "LOMOB_ALERT_WEBHOOK_URL",
            &format!("http://127.0.0.1:{hook}/hook"),
        )
}

/// Stops a `lomob watch` with SIGTERM and waits for it to exit.
pub fn stop(mut daemon: std::process::Child) {
    let pid = daemon.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let t = Instant::now();
    while daemon.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(30) {
            let _ = daemon.kill();
            panic!("the daemon did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The scheduled checks of `lomob watch` on moto: an archive altered and a
/// staged object deleted behind lomob's back are each reported, by email
/// (aiosmtpd) and webhook, and recorded in the catalog.
#[test]
fn scheduled_checks_on_moto_alert_an_altered_archive_and_a_deleted_staged_object() {
    use lomo_remote::testing as servers;
    let Some(smtp) = smtp() else { return };
    let Some(moto) = servers::moto() else { return };
    servers::create_bucket(moto.port, "hot");
    servers::create_bucket(moto.port, "cold");
    let (hook, posts) = webhook();
    let env = alerting_env(&smtp, hook);
    let ep = format!("region=us-east-1&endpoint=http://127.0.0.1:{}", moto.port);
    let add = |name: &str, url: String, role: &str, class: Option<&str>| {
        let mut args = vec!["site", "add", name, &url, "--role", role];
        if let Some(c) = class {
            args.extend(["--storage-class", c]);
        }
        env.ok(&args, 0);
    };
    add("hot", format!("s3://hot/lomob?{ep}"), "staging", None);
    add(
        "cold",
        format!("s3://cold/lomob?{ep}"),
        "archive",
        Some("DEEP_ARCHIVE"),
    );
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    for i in 0..16u32 {
        let path = pics.join(format!("IMG_{i:02}.jpg"));
        let data: Vec<u8> = (0..150_000 + i * 1000)
            .map(|b| (b * (i + 3)) as u8)
            .collect();
        std::fs::write(&path, data).unwrap();
        let when = crate::util::at(1_546_300_800 + u64::from(i) * 86_400);
        crate::util::set_mtime(&path, when);
    }
    env.ok(
        &["backup", pics.to_str().unwrap(), "--pack-size", "2.5MB"],
        0,
    );
    let archives = env.json(&["list", "remote", "cold", "lomob/archives"], 0);
    let staged = env.json(&["list", "remote", "hot", "lomob/staging"], 0);
    assert!(
        !archives.is_empty() && !staged.is_empty(),
        "{archives:?} {staged:?}"
    );

    // Behind lomob's back: one archive rewritten (same size, same class,
    // other bytes), one staged object deleted.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cold = servers::s3_site(moto.port, "cold", "lomob", "");
    let hot = servers::s3_site(moto.port, "hot", "lomob", "");
    let key = |v: &serde_json::Value| v["key"].as_str().unwrap().to_owned();
    let archive = key(&archives[0]);
    let size = rt.block_on(cold.head(&archive)).unwrap().size;
    rt.block_on(cold.put(
        &archive,
        bytes::Bytes::from(vec![7u8; size as usize]),
        &lomo_remote::PutOptions::default().with_storage_class(Some("DEEP_ARCHIVE".into())),
    ))
    .unwrap();
    let gone = key(&staged[0]);
    rt.block_on(hot.delete(&gone)).unwrap();

    // The daemon's first round runs both scheduled checks (never run yet).
    let log = std::fs::File::create(env.path().join("watch.log")).unwrap();
    let daemon = env
        .cmd(&["watch", pics.to_str().unwrap(), "--stage-delay", "1s"])
        .current_dir(env.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let waited = std::panic::catch_unwind(|| {
        wait_for("the staging check email", || {
            smtp.out
                .lock()
                .unwrap()
                .contains("Subject: lomob: the staging check found 1 difference")
        });
        wait_for("the archive check email", || {
            smtp.out
                .lock()
                .unwrap()
                .contains("Subject: lomob: the archives check found")
        });
        wait_for("both webhooks", || posts.lock().unwrap().len() >= 2);
    });
    stop(daemon);
    if let Err(e) = waited {
        eprintln!(
            "{}",
            std::fs::read_to_string(env.path().join("watch.log")).unwrap_or_default()
        );
        std::panic::resume_unwind(e);
    }
    let mail = smtp.out.lock().unwrap().clone();
    assert!(
        mail.contains("hot missing ") && mail.contains("hot: "),
        "the staged object's file is named: {mail}"
    );
    let iso = archive
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".lomo");
    assert!(
        mail.contains(&format!("cold checksum {iso}")),
        "the altered archive is named: {mail}"
    );
    let hooks: Vec<serde_json::Value> = posts
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let kinds: Vec<&str> = hooks.iter().filter_map(|h| h["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"check-staging") && kinds.contains(&"check-archives"),
        "{kinds:?}"
    );
    let archive_hook = hooks
        .iter()
        .find(|h| h["kind"] == "check-archives")
        .unwrap();
    assert!(
        archive_hook["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "checksum"),
        "{archive_hook}"
    );
    let staging_hook = hooks.iter().find(|h| h["kind"] == "check-staging").unwrap();
    assert_eq!(
        staging_hook["details"][0]["kind"], "missing",
        "{staging_hook}"
    );
    // Both recorded with their findings, so a restart does not rerun them today.
    let db = rusqlite::Connection::open(env.db()).unwrap();
    for kind in ["staging", "archives"] {
        let problems: i64 = db
            .query_row(
                "SELECT problems FROM checks WHERE kind = ?1 AND error IS NULL",
                [kind],
                |r| r.get(0),
            )
            .unwrap();
        assert!(problems >= 1, "{kind}: {problems}");
    }
}

/// A site that fails every attempt for longer than `[schedule]
/// site_offline_alert` (3 days by default) is alerted, once a day.
#[test]
fn a_site_offline_too_long_is_alerted() {
    let Some(smtp) = smtp() else { return };
    let (hook, posts) = webhook();
    let env = alerting_env(&smtp, hook);
    let usb = env.path().join("usb");
    env.add_site("usb", &format!("file://{}", usb.display()), &[]);
    let pics = env.path().join("Pictures");
    std::fs::create_dir_all(&pics).unwrap();
    std::fs::write(pics.join("a.jpg"), b"a photo").unwrap();
    let backup = || env.run(&["backup", pics.to_str().unwrap()]);
    assert!(backup().status.success());

    // The disk is unplugged: a backup with problems (alerted as such), but
    // not yet "offline too long".
    std::fs::rename(&usb, env.path().join("usb-unplugged")).unwrap();
    std::fs::write(pics.join("b.jpg"), b"another").unwrap();
    assert_eq!(backup().status.code(), Some(1));
    wait_for("the backup alert", || posts.lock().unwrap().len() == 1);
    assert!(!smtp.out.lock().unwrap().contains("unreachable"));

    // Four days later (as the catalog remembers it), still unplugged.
    rusqlite::Connection::open(env.db())
        .unwrap()
        .execute(
            "UPDATE site_contact SET failing_since = failing_since - 4 * 86400",
            [],
        )
        .unwrap();
    let out = backup();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("site usb: failing since"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the offline email", || {
        smtp.out
            .lock()
            .unwrap()
            .contains("Subject: lomob: site usb unreachable for more than 3d")
    });
    wait_for("the offline webhook", || posts.lock().unwrap().len() == 2);
    let body: serde_json::Value = serde_json::from_str(&posts.lock().unwrap()[1]).unwrap();
    assert_eq!(body["kind"], "site-offline");
    assert_eq!(body["details"][0]["site"], "usb");
    assert!(body["details"][0]["last_ok"].is_i64());

    // Once a day, and it clears when the disk is back.
    assert_eq!(backup().status.code(), Some(1));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(posts.lock().unwrap().len(), 2);
    std::fs::rename(env.path().join("usb-unplugged"), &usb).unwrap();
    assert!(backup().status.success());
    let failing: Option<i64> = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(
            "SELECT failing_since FROM site_contact WHERE site = 'usb'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failing, None);
}

/// A server that offers AUTH but not STARTTLS — a misconfigured relay, or
/// one whose STARTTLS an attacker stripped — records every byte it gets.
fn smtp_without_starttls() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"220 relay.example ESMTP\r\n");
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                g.lock().unwrap().extend_from_slice(&buf[..n]);
                let line = String::from_utf8_lossy(&buf[..n]).to_ascii_uppercase();
                let reply: &[u8] = if line.starts_with("EHLO") {
                    b"250-relay.example\r\n250 AUTH PLAIN LOGIN\r\n"
                } else if line.starts_with("QUIT") {
                    b"221 bye\r\n"
                } else {
                    b"235 ok\r\n"
                };
                let _ = s.write_all(reply);
            }
        }
    });
    (port, got)
}

#[test]
fn smtp_without_starttls_never_gets_the_password() {
    let (port, got) = smtp_without_starttls();
    let env = Env::new()
        .with_env(
            "LOMOB_ALERT_SMTP_URL",
            &format!("smtp://family:s3cret-pw@127.0.0.1:{port}"),
        )
        .with_env("LOMOB_ALERT_EMAIL_TO", "family@example.com");
    let out = env.run(&["alert", "test"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("s3cret-pw"),
        "the password is never shown: {err}"
    );
    let seen = String::from_utf8_lossy(&got.lock().unwrap()).into_owned();
    assert!(!seen.to_ascii_uppercase().contains("AUTH"), "{seen}");
    assert!(!seen.contains("MAIL FROM"), "{seen}");
    // base64 of "\0family\0s3cret-pw", as AUTH PLAIN would send it
    assert!(!seen.contains("AGZhbWlseQBzM2NyZXQtcHc="), "{seen}");
}

#[test]
fn plain_smtp_only_to_this_machine() {
    let env = Env::new()
        .with_env(
            "LOMOB_ALERT_SMTP_URL",
            "smtp+plain://family:s3cret-pw@192.0.2.7:25",
        )
        .with_env("LOMOB_ALERT_EMAIL_TO", "family@example.com");
    let out = env.run(&["alert", "test"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("only to a relay on this machine"), "{err}");
    assert!(err.contains("smtps://"), "says how to fix it: {err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
}

#[test]
fn a_webhook_url_is_never_echoed() {
    // nothing listens on this port: the post fails
    let port = lomo_remote::testing::free_port();
    let env = Env::new().with_env(
        "LOMOB_ALERT_WEBHOOK_URL",
        &format!("http://127.0.0.1:{port}/services/T0/B0/hook-s3cret?token=t0k3n"),
    );
    let out = env.run(&["alert", "test"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("http://127.0.0.1:{port}/…")), "{err}");
    assert!(
        !err.contains("hook-s3cret") && !err.contains("t0k3n"),
        "{err}"
    );
}
