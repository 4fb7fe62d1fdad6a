//! The self-describing manifest, `/.lomob/manifest.json`: every file's path,
//! size, mtime, mode and BLAKE3, and the archive id, so an image alone can be
//! verified and restored. Hashes are fixed-width hex, so the manifest's size
//! is known before any hash is.

use std::fmt::Write as _;

/// Where the manifest lives in the image.
pub const MANIFEST_PATH: &str = ".lomob/manifest.json";

/// One file as the manifest lists it.
pub(crate) struct Line {
    pub(crate) path: Vec<u8>,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) mode: u32,
}

fn json_str(out: &mut String, b: &[u8]) {
    out.push('"');
    for c in String::from_utf8_lossy(b).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(2 * b.len()), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// The manifest's bytes `window` (its JSON, sliced) handed to `put` a
/// piece at a time until `put` says stop; `hash(i)` is file `i`'s BLAKE3.
/// However long the manifest, only a line is held: the lines are rendered
/// one at a time and those past the window not at all.
pub(crate) fn window(
    archive_id: &str,
    lines: impl ExactSizeIterator<Item = Line>,
    hash: impl Fn(usize) -> [u8; 32],
    window: std::ops::Range<usize>,
    mut put: impl FnMut(&[u8]) -> bool,
) {
    let mut pos = 0;
    pieces(archive_id, lines, hash, |piece| {
        let (lo, hi) = (pos, pos + piece.len());
        pos = hi;
        let (a, b) = (lo.max(window.start), hi.min(window.end));
        (a >= b || put(&piece.as_bytes()[a - lo..b - lo])) && hi < window.end
    });
}

/// The manifest's length in bytes, whatever the hashes (fixed-width hex),
/// without holding it: a piece at a time.
pub(crate) fn rendered_len(archive_id: &str, lines: impl ExactSizeIterator<Item = Line>) -> usize {
    let mut len = 0;
    pieces(
        archive_id,
        lines,
        |_| [0; 32],
        |piece| {
            len += piece.len();
            true
        },
    );
    len
}

/// The manifest in pieces (its head, each file's line, its tail), each
/// handed to `put` from one reused buffer until `put` says it has enough.
fn pieces(
    archive_id: &str,
    lines: impl ExactSizeIterator<Item = Line>,
    hash: impl Fn(usize) -> [u8; 32],
    mut put: impl FnMut(&str) -> bool,
) {
    let mut s = String::from("{\"format\":\"lomob-manifest\",\"version\":1,\"archive_id\":");
    json_str(&mut s, archive_id.as_bytes());
    s.push_str(",\"files\":[\n");
    if !put(&s) {
        return;
    }
    let count = lines.len();
    for (i, l) in lines.enumerate() {
        s.clear();
        s.push('{');
        s.push_str("\"path\":");
        json_str(&mut s, &l.path);
        if std::str::from_utf8(&l.path).is_err() {
            let _ = write!(s, ",\"path_hex\":\"{}\"", hex(&l.path));
        }
        let _ = write!(
            s,
            ",\"size\":{},\"mtime\":{},\"mode\":{},\"blake3\":\"{}\"}}",
            l.size,
            l.mtime,
            l.mode,
            hex(&hash(i))
        );
        s.push_str(if i + 1 < count { ",\n" } else { "\n" });
        if !put(&s) {
            return;
        }
    }
    put("]}\n");
}
