//! Writing results to stdout: human text or JSON Lines.

use std::io::{self, BufWriter, Stdout, Write};
use std::path::Path;

use serde::Serialize;

/// Where results go: stdout, buffered, as text or one JSON object per line.
pub(crate) struct Out {
    w: BufWriter<Stdout>,
    json: bool,
}

impl Out {
    pub(crate) fn new(json: bool) -> Out {
        Out {
            w: BufWriter::new(io::stdout()),
            json,
        }
    }

    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// One JSON object on its own line.
    pub(crate) fn record<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, v)?;
        self.w.write_all(b"\n")
    }

    /// One line of text.
    pub(crate) fn line(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())?;
        self.w.write_all(b"\n")
    }

    /// `v` as a JSON line, or `text` as a line of text.
    pub(crate) fn record_or_line<T: Serialize>(&mut self, v: &T, text: &str) -> io::Result<()> {
        if self.json {
            self.record(v)
        } else {
            self.line(text)
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Whether an error is stdout closed by the reader (`lomob list files | head`).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A path for JSON: its text, plus its exact bytes in hex when it is not UTF-8.
pub(crate) fn json_path(p: &Path) -> (String, Option<String>) {
    match p.to_str() {
        Some(s) => (s.to_string(), None),
        None => (p.to_string_lossy().into_owned(), Some(raw_hex(p))),
    }
}

#[cfg(unix)]
fn raw_hex(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    hex(p.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn raw_hex(p: &Path) -> String {
    hex(p.to_string_lossy().as_bytes())
}

/// A Unix time as local `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn local_time(secs: i64) -> String {
    match jiff::Timestamp::from_second(secs) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => format!("@{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_paths() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(json_path(Path::new("/a/b")), ("/a/b".into(), None));
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let p = Path::new(std::ffi::OsStr::from_bytes(b"/a/caf\xe9"));
            let (text, raw) = json_path(p);
            assert_eq!(text, "/a/caf\u{fffd}");
            assert_eq!(raw.as_deref(), Some("2f612f636166e9"));
        }
    }
}
