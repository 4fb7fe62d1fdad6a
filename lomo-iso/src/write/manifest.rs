//! The self-describing manifest, `/.lomob/manifest.json`: every file's path,
//! size, mtime, mode and BLAKE3, and the archive id, so an image alone can be
//! verified and restored. Hashes are fixed-width hex, so the manifest's size
//! is known before any hash is.

use std::fmt::Write as _;

/// Where the manifest lives in the image.
pub const MANIFEST_PATH: &str = ".lomob/manifest.json";

/// One file as the manifest lists it.
pub(crate) struct Line<'a> {
    pub(crate) path: &'a [u8],
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

/// The manifest's JSON; `hashes[i]` is file `i`'s BLAKE3 (zeros as placeholders).
pub(crate) fn render(archive_id: &str, lines: &[Line<'_>], hashes: &[[u8; 32]]) -> Vec<u8> {
    // About the final length up front (a line is its path and ~170 bytes
    // of sizes, times and hash): 200,000 files do not double a 40 MB string.
    let guess = 128 + archive_id.len() + lines.iter().map(|l| l.path.len() + 176).sum::<usize>();
    let mut s = String::with_capacity(guess);
    s.push_str("{\"format\":\"lomob-manifest\",\"version\":1,\"archive_id\":");
    json_str(&mut s, archive_id.as_bytes());
    s.push_str(",\"files\":[\n");
    for (i, (l, h)) in lines.iter().zip(hashes).enumerate() {
        s.push('{');
        s.push_str("\"path\":");
        json_str(&mut s, l.path);
        if std::str::from_utf8(l.path).is_err() {
            let _ = write!(s, ",\"path_hex\":\"{}\"", hex(l.path));
        }
        let _ = write!(
            s,
            ",\"size\":{},\"mtime\":{},\"mode\":{},\"blake3\":\"{}\"}}",
            l.size,
            l.mtime,
            l.mode,
            hex(h)
        );
        s.push_str(if i + 1 < lines.len() { ",\n" } else { "\n" });
    }
    s.push_str("]}\n");
    s.into_bytes()
}
