//! `backup --dry-run`: what a backup would pack and stage, computed as the
//! backup computes it (the same grouping of unarchived files into images,
//! the same per-site staging query), with nothing recorded or uploaded.

use std::collections::HashSet;

use serde::Serialize;

use crate::context::Context;
use crate::error::Result;

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
        let mut packed: HashSet<[u8; 32]> = HashSet::new();
        let archive_sites: Vec<String> = sites
            .iter()
            .filter(|s| s.role.archives())
            .map(|s| s.name.clone())
            .collect();
        if !archive_sites.is_empty() {
            // sizes and hashes only: a million files' entries would not fit
            let mut groups = self.group_unarchived(pack_size, |f| (f.size, f.hash))?;
            if groups.last().is_some_and(|(_, used)| *used < pack_size) {
                plan.waiting_files = groups.pop().map_or(0, |(g, _)| g.len());
            }
            for (g, _) in &groups {
                plan.images += 1;
                plan.image_files += g.len();
                plan.image_bytes += g.iter().map(|(size, _)| size).sum::<u64>();
                packed.extend(g.iter().filter_map(|(_, h)| *h));
            }
            plan.archive_sites = archive_sites;
        }
        for cfg in sites.iter().filter(|s| s.role.stages()) {
            let mut site = StagingPlan {
                site: cfg.name.clone(),
                ..StagingPlan::default()
            };
            for t in self.catalog.to_stage(&cfg.name)? {
                if t.file.hash.is_none_or(|h| !packed.contains(&h)) {
                    site.files += 1;
                    site.bytes += t.file.size;
                }
            }
            plan.staging.push(site);
        }
        Ok(plan)
    }
}
