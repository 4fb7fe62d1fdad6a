//! Reading an archive copy's bytes back and authenticating them: every
//! chunk's tag of a sealed copy (without decrypting, on all cores), every
//! block's recorded BLAKE3 of a plain one. What fails is reported as byte
//! ranges of the object and of the image, with the files they hold.

use std::ops::Range;
use std::sync::Arc;

use lomo_catalog::{ArchiveCopy, ArchiveEntry};
use lomo_crypt::MasterKey;
use lomo_crypt::stream::{Header, Layout, ObjectCipher};
use lomo_remote::Backend;

use crate::error::{CryptContext as _, Error, Result};
use crate::progress::Bar;

/// Ciphertext read per request when a copy is read whole (a folder
/// site's read piece: one buffer, no copy).
const READ: u64 = 4 << 20;
/// Ranges read ahead while the current one is checked.
const AHEAD: usize = 3;

/// A damaged stretch of an archive copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Bytes of the stored object.
    pub(crate) object: Range<u64>,
    /// Bytes of the plain image they hold.
    pub(crate) image: Range<u64>,
}

/// How a copy is authenticated: its cipher (sealed copies), or the block
/// hashes recorded on the image's first pass (plain copies).
pub(crate) enum Proof {
    /// Every chunk's tag.
    Sealed {
        /// The copy's cipher.
        cipher: Box<ObjectCipher>,
        /// The image's chunk layout.
        layout: Layout,
    },
    /// Every block's BLAKE3: (block, size, hash).
    Plain(Vec<(u64, u64, [u8; 32])>),
}

impl Proof {
    /// The proof for `copy` of an image of `image_size` bytes (`None`: a
    /// sealed copy and no key, or a plain one with no block recorded).
    pub(crate) fn of(
        key: Option<&MasterKey>,
        copy: &ArchiveCopy,
        image_size: u64,
        blocks: Vec<(u64, u64, [u8; 32])>,
    ) -> Result<Option<Proof>> {
        if copy.header.is_empty() {
            return Ok((!blocks.is_empty()).then_some(Proof::Plain(blocks)));
        }
        let Some(key) = key else { return Ok(None) };
        let what = || format!("archive copy {}", copy.key);
        let header = Header::parse(&copy.header).what(what)?;
        let cipher = ObjectCipher::new(key, &header).what(what)?;
        Ok(Some(Proof::Sealed {
            cipher: Box::new(cipher),
            layout: Layout::new(image_size, header.chunk_log2),
        }))
    }

    /// How many units (chunks or blocks) authenticate the copy.
    pub(crate) fn unit_count(&self, image_size: u64) -> u64 {
        self.units(image_size).len() as u64
    }

    /// The units authenticated one at a time: (object bytes, image bytes).
    fn units(&self, image_size: u64) -> Vec<(Range<u64>, Range<u64>)> {
        match self {
            Proof::Sealed { layout, .. } => (0..layout.chunks())
                .map(|i| (layout.cipher_range(i), layout.plain_range(i)))
                .collect(),
            Proof::Plain(blocks) => blocks
                .iter()
                .map(|&(b, size, _)| {
                    let start = b * crate::backup::BLOCK;
                    (start..start + size, start..(start + size).min(image_size))
                })
                .collect(),
        }
    }

    /// Whether unit `i`'s stored bytes are authentic (a rebuilt unit).
    pub(crate) fn check_unit(&self, i: usize, bytes: &[u8]) -> bool {
        self.check(i, bytes)
    }

    /// Whether unit `i`'s stored bytes are authentic.
    fn check(&self, i: usize, bytes: &[u8]) -> bool {
        match self {
            Proof::Sealed { cipher, layout } => {
                let last = i as u64 + 1 == layout.chunks();
                cipher.verify_chunk(i as u64, last, bytes)
            }
            Proof::Plain(blocks) => blake3::hash(bytes).as_bytes() == &blocks[i].2,
        }
    }
}

/// Authenticates the units `which` (all when `None`) of `key` on `site`,
/// reading neighbouring units in one range request, the next ranges read
/// while the current one is checked; the damaged ones, merged into stretches.
pub(crate) fn verify(
    rt: &tokio::runtime::Runtime,
    (site, key): (&Arc<dyn Backend>, &str),
    proof: &Proof,
    image_size: u64,
    (which, bar): (Option<&[usize]>, &dyn Bar),
) -> Result<Vec<Damage>> {
    let units = proof.units(image_size);
    let picked: Vec<usize> = match which {
        Some(w) => w.iter().copied().filter(|&i| i < units.len()).collect(),
        None => (0..units.len()).collect(),
    };
    let spans = spans(&units, &picked);
    let (tx, mut rx) = tokio::sync::mpsc::channel(AHEAD);
    let reads: Vec<std::ops::Range<u64>> = spans.iter().map(|(_, r)| r.clone()).collect();
    let (s, k) = (site.clone(), key.to_owned());
    let reader = rt.spawn(async move {
        for r in reads {
            let got = crate::sites::download_bytes(&s, &k, r).await;
            let stop = got.is_err();
            if tx.send(got).await.is_err() || stop {
                return;
            }
        }
    });
    let mut bad = Vec::new();
    for (members, span) in &spans {
        let bytes = rx
            .blocking_recv()
            .ok_or_else(|| Error::failed(format!("{key}: the read stopped")))??;
        if bytes.len() as u64 != span.end - span.start {
            return Err(Error::failed(format!(
                "{key}: the site sent {} bytes of {}..{}",
                bytes.len(),
                span.start,
                span.end
            )));
        }
        bad.extend(check_all(proof, &units, members, span.start, &bytes));
        bar.inc(bytes.len() as u64);
    }
    drop(rx);
    let _ = rt.block_on(reader);
    Ok(merge(&units, &bad))
}

/// The picked units in runs of consecutive ones up to [`READ`] bytes:
/// each run's units and the object bytes it spans.
fn spans(units: &[(Range<u64>, Range<u64>)], picked: &[usize]) -> Vec<(Vec<usize>, Range<u64>)> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < picked.len() {
        let mut end = k + 1;
        while end < picked.len()
            && picked[end] == picked[end - 1] + 1
            && units[picked[end]].0.end - units[picked[k]].0.start <= READ
        {
            end += 1;
        }
        let span = units[picked[k]].0.start..units[picked[end - 1]].0.end;
        out.push((picked[k..end].to_vec(), span));
        k = end;
    }
    out
}

/// The units of `picked` (whose bytes start at `base` in `bytes`) that
/// fail, checked on all cores.
fn check_all(
    proof: &Proof,
    units: &[(Range<u64>, Range<u64>)],
    picked: &[usize],
    base: u64,
    bytes: &[u8],
) -> Vec<usize> {
    use rayon::prelude::*;
    picked
        .par_iter()
        .copied()
        .filter(|&i| {
            let r = &units[i].0;
            !proof.check(
                i,
                &bytes[(r.start - base) as usize..(r.end - base) as usize],
            )
        })
        .collect()
}

/// Consecutive failing units as stretches of object and image bytes.
fn merge(units: &[(Range<u64>, Range<u64>)], bad: &[usize]) -> Vec<Damage> {
    let mut bad = bad.to_vec();
    bad.sort_unstable();
    let mut out: Vec<Damage> = Vec::new();
    let mut prev: Option<usize> = None;
    for i in bad {
        let (o, p) = units[i].clone();
        match out.last_mut() {
            Some(d) if prev == Some(i - 1) => {
                d.object.end = o.end;
                d.image.end = p.end;
            }
            _ => out.push(Damage {
                object: o,
                image: p,
            }),
        }
        prev = Some(i);
    }
    out
}

/// The image paths with bytes in `image`, as a short list.
pub(crate) fn files_in(entries: &[ArchiveEntry], image: &Range<u64>) -> String {
    let hit: Vec<String> = entries
        .iter()
        .filter(|e| e.size > 0 && e.offset < image.end && e.offset + e.size > image.start)
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    match hit.len() {
        0 => "no file's data (the image's metadata)".to_owned(),
        n if n <= 5 => hit.join(", "),
        n => format!("{} and {} more", hit[..5].join(", "), n - 5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_bad_units_are_one_stretch() {
        let units: Vec<(Range<u64>, Range<u64>)> = (0..6u64)
            .map(|i| (i * 10..i * 10 + 10, i * 8..i * 8 + 8))
            .collect();
        let d = merge(&units, &[4, 1, 2]);
        assert_eq!(
            d,
            vec![
                Damage {
                    object: 10..30,
                    image: 8..24
                },
                Damage {
                    object: 40..50,
                    image: 32..40
                }
            ]
        );
    }
}
