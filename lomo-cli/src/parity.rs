//! Parity beside an archive copy, for a disk with no second copy nearby:
//! Reed–Solomon recovery data (reed-solomon-simd) over the copy's chunks,
//! enough to rebuild a set share of damaged chunks without any other copy.
//!
//! Units are the stored object's chunks after its header (sealed copies:
//! 64 KiB + tag each; plain images: 64 KiB), the last padded with zeros.
//! Units are grouped in blocks of `stride × k`; stripe `s` of a block is
//! units `s, s + stride, s + 2·stride, …`, so a burst of damaged units
//! (a bad run of sectors) costs each stripe only one unit per `stride`.
//! A stripe of `n` units gets `ceil(n × share)` recovery units: that many
//! of its units can be lost. The header is not covered: the catalog keeps it.
//!
//! The parity object (`KEY.par`): `LOMOBPAR`, version 1, then unit size,
//! `k`, `stride`, the share in ‰ (u32 LE each) and the object's length
//! (u64 LE), then the recovery units, block by block, stripe by stripe.

use std::collections::HashMap;
use std::sync::Arc;

use lomo_remote::Backend;

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"LOMOBPAR";
const HEADER: u64 = 8 + 1 + 3 + 4 * 4 + 8;
/// Data units per stripe.
const K: u32 = 100;
/// Stripes per block (the interleave).
const STRIDE: u32 = 8;

/// How a copy's parity is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Bytes per unit.
    pub(crate) unit: u64,
    /// Bytes before the first unit (the sealed header).
    pub(crate) skip: u64,
    /// The object's length.
    pub(crate) len: u64,
    /// Data units per stripe.
    pub(crate) k: u32,
    /// Stripes per block.
    pub(crate) stride: u32,
    /// Recovery data per unit of data, in ‰.
    pub(crate) permille: u32,
}

impl Geometry {
    /// The geometry of an object of `len` bytes, `skip` of them a header,
    /// in units of `unit` bytes, with `share` (0.05 = 5 %) of recovery data.
    pub(crate) fn new(len: u64, skip: u64, unit: u64, share: f64) -> Geometry {
        Geometry {
            unit,
            skip,
            len,
            k: K,
            stride: STRIDE,
            permille: ((share * 1000.0).round() as u32).clamp(1, 1000),
        }
    }

    /// Recovery units of a stripe of `n` units.
    fn m_of(&self, n: usize) -> u32 {
        if n == 0 {
            return 0;
        }
        ((n as u64 * u64::from(self.permille)).div_ceil(1000) as u32).max(1)
    }

    /// The most units a full stripe can lose.
    pub(crate) fn m(&self) -> u32 {
        self.m_of(self.k as usize)
    }

    /// Units in the object.
    pub(crate) fn units(&self) -> u64 {
        self.len.saturating_sub(self.skip).div_ceil(self.unit)
    }

    fn per_block(&self) -> u64 {
        u64::from(self.k) * u64::from(self.stride)
    }

    pub(crate) fn blocks(&self) -> u64 {
        self.units().div_ceil(self.per_block())
    }

    /// The object bytes of unit `u` (the last one short).
    pub(crate) fn unit_range(&self, u: u64) -> std::ops::Range<u64> {
        let start = self.skip + u * self.unit;
        start..(start + self.unit).min(self.len)
    }

    /// The units of stripe `s` of block `b`.
    fn stripe(&self, b: u64, s: u32) -> Vec<u64> {
        let base = b * self.per_block();
        (0..u64::from(self.k))
            .map(|j| base + u64::from(s) + j * u64::from(self.stride))
            .filter(|&u| u < self.units())
            .collect()
    }

    /// Where recovery unit `r` of stripe `s` of block `b` sits in the
    /// parity object (every block but the last is full).
    fn recovery_at(&self, b: u64, s: u32, r: u32) -> u64 {
        let full = b * u64::from(self.stride) * u64::from(self.m());
        let before: u64 = (0..s)
            .map(|t| u64::from(self.m_of(self.stripe(b, t).len())))
            .sum();
        HEADER + (full + before + u64::from(r)) * self.unit
    }

    /// The parity object's length.
    pub(crate) fn parity_len(&self) -> u64 {
        match self.blocks() {
            0 => HEADER,
            n => self.recovery_at(n - 1, self.stride, 0),
        }
    }

    fn header(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(HEADER as usize);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&[1, 0, 0, 0]);
        for v in [self.unit as u32, self.k, self.stride, self.permille] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(&self.len.to_le_bytes());
        h
    }

    /// The geometry a parity object's header records.
    fn parse(h: &[u8], skip: u64) -> Result<Geometry> {
        let bad = || Error::failed("the parity object's header is damaged");
        if h.len() < HEADER as usize || &h[..8] != MAGIC || h[8] != 1 {
            return Err(bad());
        }
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&h[28..36]);
        let g = Geometry {
            unit: u64::from(u32_at(12)),
            k: u32_at(16),
            stride: u32_at(20),
            permille: u32_at(24),
            len: u64::from_le_bytes(len),
            skip,
        };
        let sane = g.unit > 0 && g.unit.is_multiple_of(2) && g.unit <= 1 << 24;
        if !sane || g.k == 0 || g.k > 32_768 || g.stride == 0 || !(1..=1000).contains(&g.permille) {
            return Err(bad());
        }
        Ok(g)
    }
}

/// Splits a block's bytes (units `first..`) into padded units.
fn padded(g: &Geometry, first: u64, bytes: &[u8], base: u64) -> HashMap<u64, Vec<u8>> {
    let mut out = HashMap::new();
    let mut u = first;
    loop {
        let r = g.unit_range(u);
        if r.start >= base + bytes.len() as u64 || u >= g.units() {
            break;
        }
        let mut v = bytes[(r.start - base) as usize..(r.end - base) as usize].to_vec();
        v.resize(g.unit as usize, 0);
        out.insert(u, v);
        u += 1;
    }
    out
}

fn rs_err(e: reed_solomon_simd::Error) -> Error {
    Error::failed(format!("Reed-Solomon: {e}"))
}

/// The recovery units of one block, given its units' bytes (`bytes` holds
/// the object from `base`).
pub(crate) fn encode_block(g: &Geometry, b: u64, bytes: &[u8], base: u64) -> Result<Vec<u8>> {
    let first = b * g.per_block();
    let units = padded(g, first, bytes, base);
    let mut out = Vec::new();
    for s in 0..g.stride {
        let stripe = g.stripe(b, s);
        if stripe.is_empty() {
            continue;
        }
        let shards: Vec<&Vec<u8>> = stripe.iter().map(|u| &units[u]).collect();
        let m = g.m_of(stripe.len()) as usize;
        let rec = reed_solomon_simd::encode(stripe.len(), m, shards).map_err(rs_err)?;
        for r in rec {
            out.extend_from_slice(&r);
        }
    }
    Ok(out)
}

/// The object bytes of block `b`.
pub(crate) fn block_range(g: &Geometry, b: u64) -> std::ops::Range<u64> {
    let first = b * g.per_block();
    let last = ((b + 1) * g.per_block()).min(g.units()) - 1;
    g.unit_range(first).start..g.unit_range(last).end
}

/// The parity object of `key` on `site`, computed from its stored bytes
/// read block by block, written to `out` (a temporary file: a 5 GB archive
/// has 250 MB of 5 % parity).
pub(crate) fn compute(
    rt: &tokio::runtime::Runtime,
    (site, key): (&Arc<dyn Backend>, &str),
    g: &Geometry,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let io = |e: std::io::Error| Error::failed(format!("writing the parity of {key}: {e}"));
    out.write_all(&g.header()).map_err(io)?;
    for b in 0..g.blocks() {
        let r = block_range(g, b);
        let bytes = rt.block_on(crate::sites::download(site, key, Some(r.clone())))?;
        out.write_all(&encode_block(g, b, &bytes, r.start)?)
            .map_err(io)?;
    }
    Ok(())
}

/// The damaged `bad` units rebuilt from the rest of their stripes and the
/// parity object `par` (each result trimmed to the unit's real length);
/// an error when a stripe lost more than its parity can rebuild.
pub(crate) fn rebuild(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    (key, par): (&str, &str),
    (skip, bad): (u64, &[u64]),
) -> Result<HashMap<u64, Vec<u8>>> {
    let head = rt.block_on(crate::sites::download(site, par, Some(0..HEADER)))?;
    let g = Geometry::parse(&head, skip)?;
    let per_block = g.per_block();
    let mut by_stripe: HashMap<(u64, u32), Vec<u64>> = HashMap::new();
    for &u in bad {
        let b = u / per_block;
        let s = ((u - b * per_block) % u64::from(g.stride)) as u32;
        by_stripe.entry((b, s)).or_default().push(u);
    }
    for ((b, s), lost) in &by_stripe {
        let m = g.m_of(g.stripe(*b, *s).len());
        if lost.len() > m as usize {
            return Err(Error::failed(format!(
                "{} damaged chunks in one stripe of block {b}: more than its parity ({m}) rebuilds",
                lost.len()
            )));
        }
    }
    let mut blocks: std::collections::BTreeMap<u64, Vec<(u32, Vec<u64>)>> = Default::default();
    for ((b, s), lost) in by_stripe {
        blocks.entry(b).or_default().push((s, lost));
    }
    let mut out = HashMap::new();
    for (b, stripes) in blocks {
        // Each damaged block read once, its damaged stripes decoded from it.
        let r = block_range(&g, b);
        let bytes = rt.block_on(crate::sites::download(site, key, Some(r.clone())))?;
        let units = padded(&g, b * g.per_block(), &bytes, r.start);
        for (s, lost) in stripes {
            out.extend(rebuild_stripe(rt, (site, par), &g, &units, (b, s, &lost))?);
        }
    }
    Ok(out)
}

fn rebuild_stripe(
    rt: &tokio::runtime::Runtime,
    (site, par): (&Arc<dyn Backend>, &str),
    g: &Geometry,
    units: &HashMap<u64, Vec<u8>>,
    (b, s, lost): (u64, u32, &[u64]),
) -> Result<HashMap<u64, Vec<u8>>> {
    let stripe = g.stripe(b, s);
    let original: Vec<(usize, &Vec<u8>)> = stripe
        .iter()
        .enumerate()
        .filter(|(_, u)| !lost.contains(u))
        .map(|(i, u)| (i, &units[u]))
        .collect();
    let m = g.m_of(stripe.len());
    let first = g.recovery_at(b, s, 0);
    let rec = rt.block_on(crate::sites::download(
        site,
        par,
        Some(first..first + u64::from(m) * g.unit),
    ))?;
    let recovery: Vec<(usize, &[u8])> = rec.chunks(g.unit as usize).enumerate().collect();
    let restored =
        reed_solomon_simd::decode(stripe.len(), m as usize, original, recovery).map_err(rs_err)?;
    let mut out = HashMap::new();
    for (i, u) in stripe.iter().enumerate() {
        if let Some(mut bytes) = restored.get(&i).cloned() {
            let r = g.unit_range(*u);
            bytes.truncate((r.end - r.start) as usize);
            out.insert(*u, bytes);
        }
    }
    Ok(out)
}

/// The geometry of `copy` of an image of `image_size` bytes with `share`
/// of parity: units are its chunks (sealed) or 64 KiB of the image (plain).
pub(crate) fn geometry_of(
    copy: &lomo_catalog::ArchiveCopy,
    image_size: u64,
    share: f64,
) -> Geometry {
    use lomo_crypt::stream::{DEFAULT_CHUNK_LOG2, HEADER_LEN, Layout, TAG_LEN};
    if copy.header.is_empty() {
        return Geometry::new(image_size, 0, 1 << DEFAULT_CHUNK_LOG2, share);
    }
    let log2 = lomo_crypt::stream::Header::parse(&copy.header)
        .map_or(DEFAULT_CHUNK_LOG2, |h| h.chunk_log2);
    let layout = Layout::new(image_size, log2);
    Geometry::new(
        layout.cipher_len(),
        HEADER_LEN as u64,
        layout.chunk_size() + TAG_LEN as u64,
        share,
    )
}

/// Computes the parity of `copy` (read back from `site`) and stores it
/// beside it as `KEY.par`; the parity object's key.
pub(crate) fn store(
    rt: &tokio::runtime::Runtime,
    site: &Arc<dyn Backend>,
    (copy, image_size): (&lomo_catalog::ArchiveCopy, u64),
    share: f64,
    work: &std::path::Path,
) -> Result<String> {
    let g = geometry_of(copy, image_size, share);
    let mut tmp = tempfile::tempfile_in(work)
        .map_err(|e| Error::failed(format!("cannot write in {}: {e}", work.display())))?;
    compute(
        rt,
        (site, &copy.key),
        &g,
        &mut std::io::BufWriter::new(&mut tmp),
    )?;
    let len = g.parity_len();
    let key = format!("{}.par", copy.key);
    rt.block_on(crate::sites::uploader(site).upload(
        &key,
        len,
        tmp,
        32 << 20,
        &lomo_remote::PutOptions::default(),
        |_| Ok(()),
    ))?;
    Ok(key)
}

/// A damaged object with its rebuilt units (and its header, from the
/// catalog) in place: what a parity repair writes back.
pub(crate) struct Patched {
    site: Arc<dyn Backend>,
    key: String,
    header: Vec<u8>,
    g: Geometry,
    units: HashMap<u64, Vec<u8>>,
}

impl Patched {
    pub(crate) fn new(
        site: Arc<dyn Backend>,
        copy: &lomo_catalog::ArchiveCopy,
        (g, units): (Geometry, HashMap<u64, Vec<u8>>),
    ) -> Patched {
        Patched {
            site,
            key: copy.key.clone(),
            header: copy.header.clone(),
            g,
            units,
        }
    }

    /// The object's length.
    pub(crate) fn len(&self) -> u64 {
        self.g.len
    }
}

impl lomo_remote::PartSource for Patched {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let end = offset + buf.len() as u64;
        let handle = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let bytes = handle
            .block_on(crate::sites::download(
                &self.site,
                &self.key,
                Some(offset..end),
            ))
            .map_err(std::io::Error::other)?;
        if bytes.len() != buf.len() {
            return Err(std::io::Error::other(
                "the site sent fewer bytes than asked",
            ));
        }
        buf.copy_from_slice(&bytes);
        let mut overlay = |at: u64, src: &[u8]| {
            let (a, b) = (at.max(offset), (at + src.len() as u64).min(end));
            if a < b {
                buf[(a - offset) as usize..(b - offset) as usize]
                    .copy_from_slice(&src[(a - at) as usize..(b - at) as usize]);
            }
        };
        overlay(0, &self.header);
        for (u, bytes) in &self.units {
            overlay(self.g.unit_range(*u).start, bytes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect()
    }

    #[test]
    fn a_burst_and_scattered_damage_are_rebuilt_from_parity_alone() {
        let rt = crate::sites::runtime().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = lomo_remote::SiteUrl::local(dir.path()).unwrap();
        let site = lomo_remote::open(&url, &lomo_remote::SiteOptions::named("t")).unwrap();
        let unit = 1000u64;
        let data = object(76 + 2500 * unit as usize + 333);
        let g = Geometry::new(data.len() as u64, 76, unit, 0.05);
        assert_eq!((g.m(), g.units(), g.blocks()), (5, 2501, 4));
        let put = |k: &str, b: Vec<u8>| {
            rt.block_on(site.put(k, bytes::Bytes::from(b), &Default::default()))
                .unwrap();
        };
        put("o", data.clone());
        let mut par = Vec::new();
        compute(&rt, (&site, "o"), &g, &mut par).unwrap();
        assert_eq!(par.len() as u64, g.parity_len());
        assert!((par.len() as f64) < 0.06 * data.len() as f64, "about 5 %");
        put("o.par", par);
        // A burst of 30 units in block 1, scattered units, the short last one.
        let mut bad: Vec<u64> = (850..880).collect();
        bad.extend([3, 400, 2500]);
        let mut broken = data.clone();
        for &u in &bad {
            let r = g.unit_range(u);
            for b in &mut broken[r.start as usize..r.end as usize] {
                *b ^= 0x5a;
            }
        }
        put("o", broken);
        let got = rebuild(&rt, &site, ("o", "o.par"), (76, &bad)).unwrap();
        for &u in &bad {
            let r = g.unit_range(u);
            assert_eq!(got[&u], data[r.start as usize..r.end as usize], "unit {u}");
        }
        // Six units of one stripe: beyond its parity.
        let stripe: Vec<u64> = (0..6).map(|j| 5 + j * 8).collect();
        let e = rebuild(&rt, &site, ("o", "o.par"), (76, &stripe)).unwrap_err();
        assert!(e.to_string().contains("more than its parity"), "{e}");
    }
}
