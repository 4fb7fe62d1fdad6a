//! Per-root figures: one pass over the live files against which sites
//! hold each content.

use std::collections::HashMap;

use serde::Serialize;

use super::GRACE_SECS;
use crate::context::Context;
use crate::error::Result;

/// One scanned root.
#[derive(Debug, Clone, Serialize, Default)]
#[non_exhaustive]
pub struct RootStatus {
    /// Its path.
    pub root: String,
    /// The folder name restores land under.
    pub label: String,
    /// Live files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files with a copy on at least one site.
    pub on_a_site: u64,
    /// Files with copies on two or more sites.
    pub on_two_sites: u64,
    /// Files with a copy on at least one site away from this machine.
    pub off_site: u64,
    /// Files in an archive on a cold-class site.
    pub in_cold_archive: u64,
    /// Files not on every site the configuration sends them to (staging
    /// sites until archived, then every archive site), past the grace day.
    pub missing_copies: u64,
    /// Files on no site at all (new ones included).
    pub only_here: u64,
    /// Their bytes.
    pub only_here_bytes: u64,
    /// The oldest of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_only_here: Option<OldFile>,
    /// Versions deleted or replaced since, kept in the catalog's history.
    pub deleted_versions: u64,
    /// Why its backups are held, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// A file and since when the catalog has known it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OldFile {
    /// Its path.
    pub path: String,
    /// First seen (Unix seconds).
    pub since: i64,
}

/// Bit masks of the configured sites, by what they are.
pub(super) struct Masks {
    pub(super) staging: u64,
    pub(super) archive: u64,
    pub(super) off_site: u64,
    pub(super) cold: u64,
}

pub(super) fn masks(ctx: &Context) -> Masks {
    let mut m = Masks {
        staging: 0,
        archive: 0,
        off_site: 0,
        cold: 0,
    };
    for (i, s) in ctx
        .opts
        .sites
        .iter()
        .take(lomo_catalog::MAX_MASK_SITES)
        .enumerate()
    {
        let bit = 1u64 << i;
        if s.role.stages() {
            m.staging |= bit;
        }
        if s.role.archives() {
            m.archive |= bit;
        }
        if s.is_off_site() {
            m.off_site |= bit;
        }
        if s.is_cold() {
            m.cold |= bit;
        }
    }
    m
}

pub(super) fn roots(ctx: &Context, now: i64) -> Result<Vec<RootStatus>> {
    let catalog = ctx.catalog();
    let names: Vec<&str> = ctx.opts.sites.iter().map(|s| s.name.as_str()).collect();
    let held: HashMap<_, _> = catalog
        .held_roots()?
        .into_iter()
        .map(|h| (h.path, h.reason))
        .collect();
    let mut by_id: HashMap<i64, RootStatus> = HashMap::new();
    for r in catalog.roots()? {
        by_id.insert(
            r.id,
            RootStatus {
                root: r.path.display().to_string(),
                label: r.label.clone(),
                held: held.get(&r.path).cloned(),
                ..RootStatus::default()
            },
        );
    }
    let have = catalog.site_masks(&names)?;
    let m = masks(ctx);
    let mut oldest: HashMap<i64, (i64, i64)> = HashMap::new();
    catalog.for_each_file_version(|f| {
        let Some(r) = by_id.get_mut(&f.root_id) else {
            return;
        };
        if f.deleted {
            r.deleted_versions += 1;
            return;
        }
        let (staged, archived) = (have.staged(f.content_id), have.archived(f.content_id));
        let any = staged | archived;
        r.files += 1;
        r.bytes += f.size;
        if any != 0 {
            r.on_a_site += 1;
        }
        if any.count_ones() >= 2 {
            r.on_two_sites += 1;
        }
        if any & m.off_site != 0 {
            r.off_site += 1;
        }
        if archived & m.cold != 0 {
            r.in_cold_archive += 1;
        }
        let expected = if archived != 0 || m.staging == 0 {
            m.archive
        } else {
            m.staging
        };
        let settled = now - f.first_seen > GRACE_SECS;
        if settled && expected & !any != 0 {
            r.missing_copies += 1;
        }
        if any == 0 {
            r.only_here += 1;
            r.only_here_bytes += f.size;
            let o = oldest.entry(f.root_id).or_insert((f.first_seen, f.id));
            if (f.first_seen, f.id) < *o {
                *o = (f.first_seen, f.id);
            }
        }
    })?;
    for (root, (since, id)) in oldest {
        if let (Some(r), Some(path)) = (by_id.get_mut(&root), catalog.file_path(id)?) {
            r.oldest_only_here = Some(OldFile {
                path: path.display().to_string(),
                since,
            });
        }
    }
    let mut out: Vec<RootStatus> = by_id.into_values().collect();
    out.sort_by(|a, b| a.root.cmp(&b.root));
    Ok(out)
}
