//! The seed's step-by-step commands on the backup's machinery: sending
//! images made by `lomob iso create` to the archive sites (sealed,
//! resumable multipart, verified, staged copies released once every
//! archive site holds an image), and staging what the staging sites lack
//! without scanning or packing. Both end with a catalog snapshot on every
//! site, as a backup does.

use std::path::PathBuf;

use serde::Serialize;

use crate::backup::{DEFAULT_PART, PackReport, SendOptions, SnapshotReport, StagingReport};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::keys::Names;

/// Which images to send, and how.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UploadIsoOptions {
    /// Images by path or name; empty: every recorded image with a local file.
    pub images: Vec<PathBuf>,
    /// Part size of the multipart uploads (default 32 MiB).
    pub part_size: Option<u64>,
    /// Parts in flight at once.
    pub threads: Option<usize>,
    /// Storage class instead of each site's own.
    pub storage_class: Option<String>,
    /// Send only to this archive site.
    pub site: Option<String>,
    /// Send again to sites that have a copy already (never to append-only sites).
    pub force: bool,
}

/// What `upload iso` did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UploadIsoReport {
    /// The archive copies sent.
    pub archives: PackReport,
    /// The key file and catalog snapshot on the sites.
    pub snapshot: SnapshotReport,
}

/// What `upload files` did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UploadFilesReport {
    /// One report per staging site.
    pub staging: Vec<StagingReport>,
    /// The key file and catalog snapshot on the sites.
    pub snapshot: SnapshotReport,
}

impl Context {
    /// Sends images `lomob iso create` recorded to the archive sites.
    pub fn upload_iso(&mut self, opts: &UploadIsoOptions) -> Result<UploadIsoReport> {
        let _lock = self.backup_lock()?;
        let key = self.key_or_create()?;
        if let Some(n) = &opts.site
            && !self
                .opts
                .sites
                .iter()
                .any(|s| s.name == *n && s.role.archives())
        {
            return Err(Error::Site(format!(
                "no archive site named {n} (`lomob site list`)"
            )));
        }
        if opts.threads == Some(0) {
            return Err(Error::invalid("--threads must be at least 1"));
        }
        let wanted = self.wanted_images(&opts.images)?;
        let send = SendOptions {
            part_size: opts.part_size.unwrap_or(DEFAULT_PART),
            concurrency: opts.threads,
            keep_iso: true, // the user's images: never deleted here
            force: opts.force,
            storage_class: opts.storage_class.clone(),
            only_site: opts.site.clone(),
            ..SendOptions::default()
        };
        let archives = self.send_images(&key, &send, |a| {
            a.location.as_ref().is_some_and(|image| {
                image.exists() && (wanted.is_empty() || wanted.iter().any(|w| w == image))
            })
        })?;
        let snapshot = self.publish_snapshot(&key)?;
        Ok(UploadIsoReport { archives, snapshot })
    }

    /// The local files of the images named (by path or name).
    fn wanted_images(&self, images: &[PathBuf]) -> Result<Vec<PathBuf>> {
        let archives = self.catalog.archives()?;
        let mut wanted = Vec::new();
        for f in images {
            let canon = std::fs::canonicalize(f).ok();
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(a) = archives.iter().find(|a| {
                (canon.is_some() && a.location == canon) || Some(&a.name) == name.as_ref()
            }) else {
                return Err(Error::invalid(format!(
                    "{} is not an image in the catalog (make images with `lomob iso create`)",
                    f.display()
                )));
            };
            let Some(loc) = a.location.clone().filter(|l| l.exists()) else {
                return Err(Error::invalid(format!(
                    "{}: its local file is gone ({}); only images on this disk can be sent",
                    a.name,
                    a.location
                        .as_ref()
                        .map_or("never kept".into(), |l| l.display().to_string())
                )));
            };
            wanted.push(loc);
        }
        Ok(wanted)
    }

    /// Stages the catalog's files that are not on the staging sites yet
    /// (only to `site` when named).
    pub fn upload_files(&mut self, site: Option<&str>) -> Result<UploadFilesReport> {
        let _lock = self.backup_lock()?;
        let key = self.key_or_create()?;
        let names = Names::new(&key);
        let sites: Vec<_> = self
            .opts
            .sites
            .iter()
            .filter(|s| s.role.stages())
            .filter(|s| site.is_none_or(|n| n == s.name))
            .cloned()
            .collect();
        if sites.is_empty() {
            return Err(Error::Site(format!(
                "no staging site{} (`lomob site list`)",
                site.map(|n| format!(" named {n}")).unwrap_or_default()
            )));
        }
        let mut staging = Vec::new();
        for cfg in &sites {
            staging.push(self.stage_to(&key, &names, cfg)?);
        }
        let snapshot = self.publish_snapshot(&key)?;
        Ok(UploadFilesReport { staging, snapshot })
    }
}
