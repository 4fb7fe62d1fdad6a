//! `backup --dry-run`: what a backup would pack and stage, computed as the
//! backup computes it (the same grouping of unarchived files into images,
//! the same per-site staging query), with nothing recorded or uploaded.

use std::collections::HashSet;

use lomo_catalog::FileEntry;
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};

/// What a backup would do now.
#[derive(Debug, Default, Serialize)]
#[non_exhaustive]
pub struct BackupPlan {
    /// Full images it would pack (about: the exact layout may split one).
    pub images: usize,
    /// Files in those images.
    pub image_files: usize,
    /// Plaintext bytes in those images.
    pub image_bytes: u64,
    /// Archive sites the images would go to.
    pub archive_sites: Vec<String>,
    /// Unarchived files left for a later image (the partly filled last group).
    pub waiting_files: usize,
    /// Per staging site: files and bytes it would stage.
    pub staging: Vec<StagingPlan>,
}

impl BackupPlan {
    /// Counts one full image of `(size, hash)` files, keeping the hashes.
    fn pack(&mut self, files: Vec<(u64, Option<[u8; 32]>)>, packed: &mut HashSet<[u8; 32]>) {
        self.images += 1;
        self.image_files += files.len();
        self.image_bytes += files.iter().map(|(size, _)| size).sum::<u64>();
        packed.extend(files.into_iter().filter_map(|(_, h)| h));
    }
}

/// One staging site's share of a planned backup.
#[derive(Debug, Default, Serialize)]
#[non_exhaustive]
pub struct StagingPlan {
    /// Site name.
    pub site: String,
    /// Files it would stage (one per content).
    pub files: usize,
    /// Their bytes (the files'; sealed objects are a little bigger).
    pub bytes: u64,
}

impl Context {
    /// Plans a backup with images of `pack_size` bytes, recording nothing.
    pub fn plan_backup(&mut self, pack_size: u64) -> Result<BackupPlan> {
        let sites = self.opts.sites.clone();
        let mut plan = BackupPlan::default();
        // What the images take, which staging then skips: one group's
        // sizes and hashes at a time (the last may wait for a fuller
        // image), and the packed hashes only where a site stages.
        let stages = sites.iter().any(|s| s.role.stages());
        let mut packed: HashSet<[u8; 32]> = HashSet::new();
        let archive_sites: Vec<String> = sites
            .iter()
            .filter(|s| s.role.archives())
            .map(|s| s.name.clone())
            .collect();
        if !archive_sites.is_empty() {
            let mut last = None;
            let keep = |f: &FileEntry| (f.size, f.hash.filter(|_| stages));
            self.each_unarchived_group(pack_size, keep, |g, used| {
                if let Some(full) = last.replace((g, used)) {
                    plan.pack(full.0, &mut packed);
                }
                Ok(())
            })?;
            match last {
                Some((g, used)) if used < pack_size => plan.waiting_files = g.len(),
                Some((g, _)) => plan.pack(g, &mut packed),
                None => {}
            }
            plan.archive_sites = archive_sites;
        }
        for cfg in sites.iter().filter(|s| s.role.stages()) {
            let mut site = StagingPlan {
                site: cfg.name.clone(),
                ..StagingPlan::default()
            };
            self.catalog.for_each_to_stage(&cfg.name, |t| {
                if t.file.hash.is_none_or(|h| !packed.contains(&h)) {
                    site.files += 1;
                    site.bytes += t.file.size;
                }
                Ok::<_, Error>(())
            })?;
            plan.staging.push(site);
        }
        Ok(plan)
    }
}
