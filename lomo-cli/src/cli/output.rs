//! Writing results to stdout: human text or JSON Lines.

use std::io::{self, BufWriter, Stdout, Write};

use serde::Serialize;

pub(crate) use lomob::json_path;
pub(crate) use lomob::units::{hex, human_bytes, local_time};

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

/// An error and its causes on one line, each cause once: `a: b: c`. A
/// cause whose text the line already holds (many errors repeat their
/// source in their own message) is left out.
pub(crate) fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn hex_and_paths() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(json_path(Path::new("/a/b")), ("/a/b".into(), None));
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/a/caf\xe9"));
        let (text, raw) = json_path(p);
        assert_eq!(text, "/a/caf\u{fffd}");
        assert_eq!(raw.as_deref(), Some("2f612f636166e9"));
    }

    #[test]
    fn error_lines_say_each_cause_once() {
        let inner = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(inner).context("cannot write x: disk on fire");
        assert_eq!(error_line(&e), "cannot write x: disk on fire");
        let e = anyhow::anyhow!("root cause").context("outer");
        assert_eq!(error_line(&e), "outer: root cause");
    }
}
