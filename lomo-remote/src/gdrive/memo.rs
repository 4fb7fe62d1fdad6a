//! What a Drive site remembers between runs ([`SiteMemo`]): the folder ids
//! at each path it walked, and the id of each object it wrote or read, so
//! that a new process reads a photo with one request instead of listing
//! every folder on its path first. Stale entries (a folder deleted in
//! Drive's web UI, a file replaced by another writer) surface as a 404 and
//! are looked up again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::open::SiteMemo;

/// Folder paths and object keys to Drive ids.
#[derive(Debug, Default)]
pub(super) struct Remembered {
    /// Folder path from My Drive → every folder there, oldest first.
    dirs: Mutex<HashMap<String, Vec<String>>>,
    /// Object key → the id of its file.
    files: Mutex<HashMap<String, String>>,
    changed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Remembered {
    /// What `memo` kept.
    pub(super) fn load(memo: &dyn SiteMemo) -> Self {
        let r = Self::default();
        for (name, value) in memo.load() {
            if let Some(path) = name.strip_prefix("d:") {
                let ids = value.split(',').map(str::to_owned).collect();
                lock(&r.dirs).insert(path.to_owned(), ids);
            } else if let Some(key) = name.strip_prefix("f:") {
                lock(&r.files).insert(key.to_owned(), value);
            }
        }
        r
    }

    /// Writes everything back, if anything changed.
    pub(super) fn save(&self, memo: &dyn SiteMemo) {
        if !self.changed.swap(false, Ordering::Relaxed) {
            return;
        }
        let mut out: Vec<(String, String)> = lock(&self.dirs)
            .iter()
            .map(|(p, ids)| (format!("d:{p}"), ids.join(",")))
            .collect();
        out.extend(
            lock(&self.files)
                .iter()
                .map(|(k, id)| (format!("f:{k}"), id.clone())),
        );
        memo.save(out);
    }

    pub(super) fn dir(&self, path: &str) -> Option<Vec<String>> {
        lock(&self.dirs).get(path).cloned()
    }

    pub(super) fn set_dir(&self, path: &str, ids: &[String]) {
        if lock(&self.dirs)
            .insert(path.to_owned(), ids.to_vec())
            .as_deref()
            != Some(ids)
        {
            self.changed.store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn file(&self, key: &str) -> Option<String> {
        lock(&self.files).get(key).cloned()
    }

    pub(super) fn set_file(&self, key: &str, id: &str) {
        if lock(&self.files)
            .insert(key.to_owned(), id.to_owned())
            .as_deref()
            != Some(id)
        {
            self.changed.store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn forget_file(&self, key: &str) {
        if lock(&self.files).remove(key).is_some() {
            self.changed.store(true, Ordering::Relaxed);
        }
    }

    /// Forgets every folder (one went stale).
    pub(super) fn forget_dirs(&self) {
        lock(&self.dirs).clear();
        self.changed.store(true, Ordering::Relaxed);
    }
}
