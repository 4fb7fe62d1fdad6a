//! Where keys are on Drive: folders found by listing their parent and
//! comparing names exactly (Drive's `name =` search ignores case and lags
//! behind writes), cached per site and kept current by lomob's own creates
//! and deletes. Drive allows several folders and files with one name in
//! one folder: reads look in every folder at a path, writes go to the
//! oldest, and of several files with one name the newest is the object.

use std::collections::HashMap;

use super::{DriveFile, FOLDER, Inner};
use crate::error::{At, Result};

/// Listings by parent, and the folders found at each path.
#[derive(Debug, Default)]
pub(super) struct Tree {
    /// Folder id → its children as listed (since changed by lomob).
    listed: HashMap<String, Vec<DriveFile>>,
    /// Folder path from My Drive ("a/b") → every folder there, oldest first.
    dirs: HashMap<String, Vec<String>>,
}

impl Tree {
    /// Drops deleted ids from every listing.
    pub(super) fn forget(&mut self, ids: &[String]) {
        for v in self.listed.values_mut() {
            v.retain(|f| !ids.contains(&f.id));
        }
        for id in ids {
            self.listed.remove(id);
        }
        self.dirs
            .retain(|_, v| !v.iter().any(|id| ids.contains(id)));
    }

    /// Records a file lomob made in `parent`.
    pub(super) fn add(&mut self, parent: &str, f: DriveFile) {
        if let Some(v) = self.listed.get_mut(parent) {
            v.retain(|x| x.id != f.id);
            v.push(f);
        }
    }

    /// Forgets what was listed (another writer may have changed the site).
    pub(super) fn clear(&mut self) {
        self.listed.clear();
        self.dirs.clear();
    }
}

/// Oldest first: by `createdTime`, then id (a total, stable order).
fn oldest_first(v: &mut [DriveFile]) {
    v.sort_by(|a, b| (&a.created_time, &a.id).cmp(&(&b.created_time, &b.id)));
}

/// Newest first: by `modifiedTime`, then `createdTime`, then id.
pub(super) fn newest_first(v: &mut [(String, DriveFile)]) {
    v.sort_by(|(_, a), (_, b)| {
        (&b.modified_time, &b.created_time, &b.id).cmp(&(&a.modified_time, &a.created_time, &a.id))
    });
}

impl Inner {
    /// The children of folder `parent`, listed once, then from the cache.
    pub(super) async fn children(&self, at: At<'_>, parent: &str) -> Result<Vec<DriveFile>> {
        if let Some(v) = self.tree.lock().await.listed.get(parent) {
            return Ok(v.clone());
        }
        let v = self.list_folder(at, parent).await?;
        self.tree
            .lock()
            .await
            .listed
            .insert(parent.to_owned(), v.clone());
        Ok(v)
    }

    /// Every folder at `dirs` under the site root, oldest first; with
    /// `create`, missing ones are made (in the oldest parent), one at a
    /// time so that two uploads do not both make a folder.
    pub(super) async fn dir_ids(
        &self,
        at: At<'_>,
        dirs: &[&str],
        create: bool,
    ) -> Result<Vec<String>> {
        let _one_maker = if create {
            Some(self.mkdir.lock().await)
        } else {
            None
        };
        let full: Vec<&str> = self
            .root
            .iter()
            .map(String::as_str)
            .chain(dirs.iter().copied())
            .collect();
        let whole = full.join("/");
        let mut ids = vec!["root".to_owned()];
        let mut path = String::new();
        for name in full {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(name);
            if let Some(known) = self.tree.lock().await.dirs.get(&path) {
                ids.clone_from(known);
                continue;
            }
            let mut found = Vec::new();
            for p in &ids {
                found.extend(
                    self.children(at, p)
                        .await?
                        .into_iter()
                        .filter(|f| f.mime_type == FOLDER && f.name == name),
                );
            }
            oldest_first(&mut found);
            if found.is_empty() {
                if !create {
                    return Ok(Vec::new());
                }
                let f = self.create_folder(at, &ids[0], name).await?;
                let mut tree = self.tree.lock().await;
                tree.add(&ids[0], f.clone());
                tree.listed.insert(f.id.clone(), Vec::new());
                found.push(f);
            }
            ids = found.into_iter().map(|f| f.id).collect();
            self.tree
                .lock()
                .await
                .dirs
                .insert(path.clone(), ids.clone());
        }
        self.ids_of.set_dir(&whole, &ids);
        Ok(ids)
    }

    /// Every file named exactly `name` in any of `folders`, with its
    /// folder, newest first.
    pub(super) async fn named(
        &self,
        at: At<'_>,
        folders: &[String],
        name: &str,
    ) -> Result<Vec<(String, DriveFile)>> {
        let mut out = Vec::new();
        for p in folders {
            out.extend(
                self.children(at, p)
                    .await?
                    .into_iter()
                    .filter(|f| f.mime_type != FOLDER && f.name == name)
                    .map(|f| (p.clone(), f)),
            );
        }
        newest_first(&mut out);
        Ok(out)
    }

    /// The files at `key`, newest first (empty when there are none).
    pub(super) async fn resolve(&self, at: At<'_>, key: &str) -> Result<Vec<(String, DriveFile)>> {
        let (dirs, name) = super::split(key);
        let folders = self.dir_ids(at, &dirs, false).await?;
        self.named(at, &folders, name).await
    }

    /// As [`Self::resolve`], in the folders remembered from earlier runs
    /// when there are any (no walk from My Drive); for reads, which look
    /// again when nothing is found there.
    pub(super) async fn resolve_remembered(
        &self,
        at: At<'_>,
        key: &str,
    ) -> Result<Vec<(String, DriveFile)>> {
        let (dirs, name) = super::split(key);
        let whole: Vec<&str> = self
            .root
            .iter()
            .map(String::as_str)
            .chain(dirs.iter().copied())
            .collect();
        match self.ids_of.dir(&whole.join("/")) {
            Some(folders) => self.named(at, &folders, name).await,
            None => self.resolve(at, key).await,
        }
    }

    /// [`Self::resolve`] after forgetting the cache: for a cached id that
    /// Drive no longer knows.
    pub(super) async fn resolve_fresh(
        &self,
        at: At<'_>,
        key: &str,
    ) -> Result<Vec<(String, DriveFile)>> {
        self.tree.lock().await.clear();
        self.ids_of.forget_dirs();
        self.resolve(at, key).await
    }
}
