//! The sealed note beside each catalog snapshot on a site
//! (`lomob/catalog/NAME.db.lomo.meta`): the snapshot's name, when it was
//! taken, its length and BLAKE3, sealed with the master key. Object names
//! and listing dates are whatever the site says; this note is what lomob
//! wrote. `recover` takes the newest snapshot by the note's time and checks
//! the snapshot against it; pruning keeps the newest by the same time, so a
//! planted or renamed object can neither roll a recovery back nor push
//! real snapshots out.

use std::sync::Arc;

use futures::TryStreamExt as _;
use lomo_crypt::MasterKey;
use lomo_remote::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sites::CATALOG_PREFIX;

/// The note's name: the snapshot's, plus this.
pub(crate) const META_SUFFIX: &str = ".meta";

/// Snapshot objects end so.
pub(crate) const SNAPSHOT_SUFFIX: &str = ".db.lomo";

/// Largest note read (a real one is ~300 bytes).
const MAX_META: u64 = 64 << 10;

/// What lomob recorded about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotMeta {
    /// The snapshot object's name.
    pub(crate) snapshot: String,
    /// When it was taken (Unix seconds).
    pub(crate) at: i64,
    /// Plaintext length.
    pub(crate) len: u64,
    /// Plaintext BLAKE3, hex.
    pub(crate) blake3: String,
}

impl SnapshotMeta {
    /// The note for the snapshot file `path` taken at `at`, to be stored
    /// as `snapshot`.
    pub(crate) fn of_file(snapshot: &str, at: i64, path: &std::path::Path) -> Result<Self> {
        use crate::error::IoContext as _;
        let mut h = blake3::Hasher::new();
        let len = h
            .update_reader(std::fs::File::open(path).at("read", path)?)
            .at("read", path)?
            .count();
        Ok(SnapshotMeta {
            snapshot: snapshot.to_owned(),
            at,
            len,
            blake3: h.finalize().to_hex().to_string(),
        })
    }

    /// Sealed with the master key.
    pub(crate) fn seal(&self, key: &MasterKey) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        lomo_crypt::stream::seal_bytes(key, &json)
    }

    /// Opened, or why it is not lomob's.
    pub(crate) fn open(key: &MasterKey, sealed: &[u8]) -> std::result::Result<Self, String> {
        let json = lomo_crypt::stream::open_bytes(key, sealed)
            .map_err(|e| format!("not sealed with this key ({e})"))?;
        serde_json::from_slice(&json).map_err(|e| format!("unreadable ({e})"))
    }

    /// Whether `plain` is the snapshot this note describes.
    pub(crate) fn matches(&self, plain: &[u8]) -> bool {
        plain.len() as u64 == self.len && blake3::hash(plain).to_hex().as_str() == self.blake3
    }
}

/// A site's snapshots as far as they can be trusted.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Snapshots with a note lomob sealed, newest first by its time.
    pub(crate) authentic: Vec<SnapshotMeta>,
    /// Snapshot objects without a valid note (made before notes existed,
    /// or planted).
    pub(crate) unvouched: Vec<String>,
    /// Notes that are not lomob's, or describe another name: (object, why).
    pub(crate) rejected: Vec<(String, String)>,
}

/// The time (Unix seconds) in a snapshot's dated name
/// (`…/20261202T190000Z.db.lomo`), if it has one.
pub(crate) fn stamp_of(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?.strip_suffix(SNAPSHOT_SUFFIX)?;
    let name = name.strip_suffix('Z')?;
    jiff::Timestamp::strptime("%Y%m%dT%H%M%S%z", format!("{name}+0000"))
        .ok()
        .map(jiff::Timestamp::as_second)
}

/// Lists `CATALOG_PREFIX` on `site` and opens every note with `key`.
pub(crate) async fn list(site: &Arc<dyn Backend>, key: &MasterKey) -> Result<Listing> {
    list_in(site, key, CATALOG_PREFIX).await
}

/// What a recovery may choose from: the snapshots under `CATALOG_PREFIX`
/// and the locked ones under `lomob/locked/catalog`, newest first.
pub(crate) async fn list_for_recovery(site: &Arc<dyn Backend>, key: &MasterKey) -> Result<Listing> {
    let mut all = list(site, key).await?;
    let locked = list_in(
        site,
        key,
        &format!("{}/catalog", crate::sites::LOCKED_PREFIX),
    )
    .await?;
    all.authentic.extend(locked.authentic);
    all.authentic
        .sort_by(|a, b| b.at.cmp(&a.at).then(b.snapshot.cmp(&a.snapshot)));
    all.unvouched.extend(locked.unvouched);
    all.rejected.extend(locked.rejected);
    Ok(all)
}

/// Lists `prefix` on `site` and opens every note with `key`.
async fn list_in(site: &Arc<dyn Backend>, key: &MasterKey, prefix: &str) -> Result<Listing> {
    let objects: Vec<lomo_remote::ObjectInfo> = site.list(prefix).try_collect().await?;
    let names: std::collections::HashSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let mut out = Listing::default();
    let mut vouched = std::collections::HashSet::new();
    for o in objects.iter().filter(|o| o.key.ends_with(META_SUFFIX)) {
        let snapshot = o.key.trim_end_matches(META_SUFFIX);
        let opened = if o.size > MAX_META {
            Err(format!("{} bytes: too large for a note", o.size))
        } else {
            let bytes = crate::sites::download(site, &o.key, None).await?;
            SnapshotMeta::open(key, &bytes)
        };
        match opened {
            Ok(m) if m.snapshot != snapshot => out.rejected.push((
                o.key.clone(),
                format!("it describes {}: renamed", m.snapshot),
            )),
            Ok(_) if !names.contains(snapshot) => {
                out.rejected
                    .push((o.key.clone(), "its snapshot is gone".into()));
            }
            Ok(m) => {
                vouched.insert(snapshot.to_owned());
                out.authentic.push(m);
            }
            Err(why) => out.rejected.push((o.key.clone(), why)),
        }
    }
    out.authentic
        .sort_by(|a, b| b.at.cmp(&a.at).then(b.snapshot.cmp(&a.snapshot)));
    out.unvouched = objects
        .iter()
        .map(|o| o.key.clone())
        .filter(|k| k.ends_with(SNAPSHOT_SUFFIX) && !vouched.contains(k))
        .collect();
    out.unvouched.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_names_give_their_time() {
        let t = stamp_of("lomob/locked/catalog/20261202T190000Z.db.lomo");
        assert_eq!(t, Some(1_796_238_000));
        assert_eq!(stamp_of("lomob/catalog/latest.db.lomo"), None);
        assert_eq!(
            stamp_of("lomob/catalog/20261202T190000Z.db.lomo.meta"),
            None
        );
    }
}
