//! A TCP proxy between lomob and a test server that logs the first request
//! line of every connection and, if asked, resets or delays a share of the
//! connections (deterministically, from a seed).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to do to connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Per mille of connections reset right after accepting.
    pub reset_at_start: u32,
    /// Per mille reset after forwarding part of the request.
    pub reset_mid_request: u32,
    /// Per mille reset after the whole request went through, before the answer.
    pub reset_before_answer: u32,
    /// Per mille delayed by up to a second.
    pub delay: u32,
}

#[derive(Debug, Default)]
pub struct Log {
    /// First request line of each connection that reached the server.
    pub requests: Vec<String>,
    /// Connections reset on purpose.
    pub resets: u32,
    /// Connections delayed on purpose.
    pub delays: u32,
}

pub struct Proxy {
    pub port: u16,
    pub log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(target: u16, faults: Faults, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Log::default()));
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            let mut rng = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let roll = (rng % 1000) as u32;
                let delay_ms = (rng >> 20) % 1000;
                let log = log2.clone();
                tokio::spawn(async move {
                    let _ = handle(client, target, faults, roll, delay_ms, log).await;
                });
            }
        });
        Proxy { port, log, task }
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().requests.clone()
    }
}

async fn reset(s: TcpStream) {
    // SO_LINGER 0 makes the close send a RST; with a zero timeout the
    // drop cannot block, which is what the deprecation warns about.
    #[allow(deprecated)]
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

async fn handle(
    mut client: TcpStream,
    target: u16,
    f: Faults,
    roll: u32,
    delay_ms: u64,
    log: Arc<Mutex<Log>>,
) -> std::io::Result<()> {
    let mut edge = f.reset_at_start;
    if roll < edge {
        log.lock().unwrap().resets += 1;
        reset(client).await;
        return Ok(());
    }
    edge += f.reset_mid_request;
    let mid = roll < edge;
    edge += f.reset_before_answer;
    let before_answer = !mid && roll < edge;
    edge += f.delay;
    if !mid && !before_answer && roll < edge {
        log.lock().unwrap().delays += 1;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    // Read the request head.
    let mut buf = Vec::with_capacity(64 * 1024);
    let head_end = loop {
        let mut chunk = [0u8; 16 * 1024];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let line = head.lines().next().unwrap_or("").to_owned();
    let body_len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut server = TcpStream::connect(("127.0.0.1", target)).await?;
    if mid {
        server.write_all(&buf[..head_end]).await?;
        log.lock().unwrap().resets += 1;
        reset(client).await;
        reset(server).await;
        return Ok(());
    }
    log.lock().unwrap().requests.push(line);
    // Forward head and exactly body_len body bytes.
    server.write_all(&buf).await?;
    let mut left = (head_end + body_len).saturating_sub(buf.len());
    let mut chunk = vec![0u8; 256 * 1024];
    while left > 0 {
        let n = client.read(&mut chunk[..left.min(256 * 1024)]).await?;
        if n == 0 {
            return Ok(());
        }
        server.write_all(&chunk[..n]).await?;
        left -= n;
    }
    if before_answer {
        // The server gets the whole request; the client never hears back.
        let _ = server.read(&mut chunk).await;
        log.lock().unwrap().resets += 1;
        reset(client).await;
        return Ok(());
    }
    // One request per connection, so each is logged: the answer goes back
    // with `Connection: close` (moto closes anyway; Garage would keep the
    // connection for the client's next request), then the rest is piped
    // until either side closes.
    let mut answer = Vec::with_capacity(16 * 1024);
    let head_end = loop {
        let n = server.read(&mut chunk).await?;
        if n == 0 {
            client.write_all(&answer).await?;
            let _ = client.shutdown().await;
            return Ok(());
        }
        answer.extend_from_slice(&chunk[..n]);
        if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 2;
        }
    };
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let kept: String = head
        .split_inclusive("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    client.write_all(kept.as_bytes()).await?;
    client.write_all(b"connection: close\r\n").await?;
    client.write_all(&answer[head_end..]).await?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    Ok(())
}
