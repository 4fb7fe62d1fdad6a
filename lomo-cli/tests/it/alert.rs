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
fn webhook() -> (u16, Arc<Mutex<Vec<String>>>) {
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
            &format!("smtp://127.0.0.1:{}", smtp.port),
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
