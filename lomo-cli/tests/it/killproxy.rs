//! An HTTP/1.1 proxy in front of moto that `kill -9`s the lomob process at
//! a chosen request: before it reaches the server, halfway through its
//! body, or after the server answered but before lomob hears the answer.
//! The kill points of a backup are requests, so this reaches each one
//! without any hook in lomob itself.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When, relative to the matching request, the process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The request never reaches the server.
    Before,
    /// The server gets the head and half the body, then the connection drops.
    MidBody,
    /// The server handles the request; its answer is lost.
    After,
}

type Matcher = dyn Fn(&str, &str) -> bool + Send + Sync;

struct Rule {
    matches: Box<Matcher>,
    nth: usize,
    when: When,
}

/// One request the proxy forwarded.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `METHOD target`.
    pub line: String,
    /// The client sent another request on the same connection afterwards,
    /// so it had this one's answer (HTTP/1.1 without pipelining).
    pub acked: bool,
}

/// The running proxy.
pub struct KillProxy {
    /// Where lomob should connect instead of moto.
    pub port: u16,
    /// The process to kill; setting it (right after spawning) arms the proxy.
    pub pid: Arc<AtomicU32>,
    fired: Arc<AtomicBool>,
    /// Every request seen, in order.
    pub log: Arc<Mutex<Vec<Seen>>>,
    /// The request the kill happened at, as `METHOD target`.
    pub killed: Arc<Mutex<Option<String>>>,
}

impl KillProxy {
    /// Proxies to `127.0.0.1:upstream`; kills at the `nth` (1-based)
    /// request for which `matches(method, target)` holds.
    pub fn start(
        upstream: u16,
        nth: usize,
        when: When,
        matches: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    ) -> KillProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let rule = Arc::new(Rule {
            matches: Box::new(matches),
            nth,
            when,
        });
        let pid = Arc::new(AtomicU32::new(0));
        let fired = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let killed = Arc::new(Mutex::new(None));
        let (p, f, l2, k2) = (pid.clone(), fired.clone(), log.clone(), killed.clone());
        std::thread::spawn(move || {
            for client in l.incoming().flatten() {
                let (rule, p, f, seen, log, k) = (
                    rule.clone(),
                    p.clone(),
                    f.clone(),
                    seen.clone(),
                    l2.clone(),
                    k2.clone(),
                );
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &rule, &p, &f, &seen, &log, &k);
                });
            }
        });
        KillProxy {
            port,
            pid,
            fired,
            log,
            killed,
        }
    }

    /// Whether the kill happened.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

fn kill(pid: &AtomicU32) {
    let pid = pid.load(Ordering::SeqCst);
    assert!(pid != 0, "no process to kill yet");
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

/// Reads until the end of a request head; returns (head, extra body bytes).
fn read_head(s: &mut TcpStream) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((buf, rest)));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[allow(clippy::too_many_arguments)]
fn serve(
    mut client: TcpStream,
    upstream: u16,
    rule: &Rule,
    pid: &AtomicU32,
    fired: &AtomicBool,
    seen: &AtomicUsize,
    log: &Mutex<Vec<Seen>>,
    killed: &Mutex<Option<String>>,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    // Answers flow back on their own thread; `hold` swallows them.
    let hold = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicBool::new(false));
    {
        let (mut from, mut to) = (server.try_clone()?, client.try_clone()?);
        let (hold, answered) = (hold.clone(), answered.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if hold.load(Ordering::SeqCst) {
                    answered.store(true, Ordering::SeqCst);
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    }
    let mut previous: Option<usize> = None;
    loop {
        let (head, mut body) = match read_head(&mut client)? {
            Some(h) => h,
            None => return Ok(()),
        };
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut words = text.split_whitespace();
        let (method, target) = (
            words.next().unwrap_or("").to_owned(),
            words.next().unwrap_or("").to_owned(),
        );
        let len: usize = text
            .lines()
            .find_map(|l| {
                let l = l.to_ascii_lowercase();
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        assert!(
            !text
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "the kill proxy does not handle chunked requests: {text}"
        );
        // The whole body of this request (pipelining is not used by lomob's clients).
        let mut chunk = vec![0u8; 64 * 1024];
        while body.len() < len {
            let n = client.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            body.extend_from_slice(&chunk[..n]);
        }
        {
            let mut log = log.lock().unwrap();
            if let Some(i) = previous {
                log[i].acked = true;
            }
            previous = Some(log.len());
            log.push(Seen {
                line: format!("{method} {target}"),
                acked: false,
            });
        }
        // Armed once the process to kill is known.
        let hit = pid.load(Ordering::SeqCst) != 0
            && !fired.load(Ordering::SeqCst)
            && (rule.matches)(&method, &target)
            && seen.fetch_add(1, Ordering::SeqCst) + 1 == rule.nth;
        if !hit {
            server.write_all(&head)?;
            server.write_all(&body)?;
            continue;
        }
        fired.store(true, Ordering::SeqCst);
        *killed.lock().unwrap() = Some(format!("{method} {target}"));
        match rule.when {
            When::Before => kill(pid),
            When::MidBody => {
                server.write_all(&head)?;
                server.write_all(&body[..body.len() / 2])?;
                server.flush()?;
                std::thread::sleep(Duration::from_millis(50));
                kill(pid);
                let _ = server.shutdown(Shutdown::Both);
            }
            When::After => {
                hold.store(true, Ordering::SeqCst);
                server.write_all(&head)?;
                server.write_all(&body)?;
                let t = Instant::now();
                while !answered.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(30) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                kill(pid);
            }
        }
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
}
