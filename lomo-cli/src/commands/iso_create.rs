//! `lomob iso create` and `lomob iso list`: images from the catalog.

use std::path::Path;

use anyhow::Result;
use lomob::PlanOptions;
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::{Out, hex, human_bytes, local_time};

/// Packs the catalog's unarchived files into images of at most `max`
/// bytes in `store`, named `name` (else by date).
pub(crate) fn create(ctx: &Ctx, max: u64, store: &Path, name: Option<&str>) -> Result<Outcome> {
    let mut engine = ctx.engine(Open::EXISTING)?;
    let made = engine.plan_images(&PlanOptions {
        max_size: max,
        store: store.to_path_buf(),
        name: name.map(str::to_owned),
        full_only: false,
        write: true,
    })?;
    if made.is_empty() {
        eprintln!("every file is in an archive already: nothing to do");
    }
    let mut out = Out::new(ctx.global.json);
    for m in &made {
        out.record_or_line(
            &json!({"name": m.name, "size": m.size, "files": m.files}),
            &format!("{}  {}  {} files", m.name, human_bytes(m.size), m.files),
        )?;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

/// The image's BLAKE3 in hex; `None` while unknown (a streamed image
/// before its first whole pass).
fn known_hash(h: &[u8; 32]) -> Option<String> {
    (*h != [0; 32]).then(|| hex(h))
}

/// The archives the catalog records.
pub(crate) fn list(ctx: &Ctx) -> Result<Outcome> {
    let engine = ctx.engine(Open::EXISTING)?;
    let mut out = Out::new(ctx.global.json);
    for a in engine.catalog().archives()? {
        let status = match &a.location {
            Some(p) if p.exists() => "local",
            Some(_) => "local copy missing",
            None => "recorded",
        };
        if out.json() {
            out.record(&json!({
                "name": a.name, "status": status, "size": a.size, "files": a.files,
                "created": a.created_at, "blake3": known_hash(&a.blake3),
                "location": a.location.as_ref().map(|p| p.display().to_string()),
            }))?;
        } else {
            out.line(&format!(
                "{}  {:<18}  {:>10}  {:>6} files  {}  {}",
                a.name,
                status,
                human_bytes(a.size),
                a.files,
                local_time(a.created_at),
                known_hash(&a.blake3).map_or_else(|| "-".to_owned(), |h| h[..12].to_owned())
            ))?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
