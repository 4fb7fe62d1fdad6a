//! `lomob list remote SITE [PREFIX]`: a site's objects as a tree.

use anyhow::Result;
use lomob::lomo_remote::ObjectInfo;
use serde_json::json;

use super::{Ctx, Outcome};
use crate::cli::output::{Out, human_bytes, local_time};

/// Metadata key under which objects staged by earlier lomob versions carried
/// 24 bits of their plaintext BLAKE3 (no longer written: with the exact size
/// it let the provider confirm a known photo).
pub(crate) const PLAIN_HASH_KEY: &str = "plain";

fn b64_hex(b: &str) -> Option<String> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
    Some(crate::cli::output::hex(&raw))
}

/// Storage class, and the first 6 hex of the plaintext and stored hashes.
fn hashes(o: &ObjectInfo) -> String {
    let mut s = String::new();
    if let Some(c) = &o.storage_class {
        s.push_str(&format!("  {c}"));
    }
    if let Some(p) = o.metadata.get(PLAIN_HASH_KEY) {
        s.push_str(&format!("  plain {}", p.get(..6).unwrap_or(p)));
    }
    if let Some(h) = o.sha256.as_deref().and_then(b64_hex) {
        s.push_str(&format!("  enc {}", &h[..6]));
    }
    s
}

pub(crate) fn run(ctx: &Ctx, name: &str, prefix: &str) -> Result<Outcome> {
    let all = ctx.sites(false)?;
    let cfg = lomob::sites::find(&all, name)?;
    let site = lomob::sites::open(cfg, Default::default())?;
    let rt = lomob::sites::runtime()?;
    let listed = lomob::sites::list_objects(&rt, &site, prefix);
    ctx.record_usage(name, &site.usage());
    let objects = listed?;
    let mut out = Out::new(ctx.global.json);
    let total: u64 = objects.iter().map(|o| o.size).sum();
    if out.json() {
        for o in &objects {
            out.record(&json!({
                "key": o.key, "size": o.size, "modified": o.modified,
                "etag": o.etag, "storage_class": o.storage_class,
                "sha256": o.sha256.as_deref().and_then(b64_hex), "metadata": o.metadata,
            }))?;
        }
    } else {
        let mut open: Vec<&str> = Vec::new();
        for o in &objects {
            let parts: Vec<&str> = o.key.split('/').collect();
            let (dirs, file) = parts.split_at(parts.len() - 1);
            let same = open.iter().zip(dirs).take_while(|(a, b)| a == b).count();
            open.truncate(same);
            for d in &dirs[same..] {
                out.line(&format!("{}{d}/", "  ".repeat(open.len())))?;
                open.push(d);
            }
            let indent = "  ".repeat(open.len());
            out.line(&format!(
                "{indent}{:<w$} {:>10}  {}{}",
                file[0],
                human_bytes(o.size),
                local_time(o.modified),
                hashes(o),
                w = 48usize.saturating_sub(indent.len()),
            ))?;
        }
        out.line(&format!(
            "{} objects, {}",
            objects.len(),
            human_bytes(total)
        ))?;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
