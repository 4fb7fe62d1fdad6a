//! Hand-made ECMA-119 images (plain names, no Rock Ridge) whose root holds
//! whatever records a test needs, as an attacker would write them.

const SECTOR: usize = 2048;

/// One root directory record.
pub struct Rec {
    /// ISO name as stored, e.g. `b"A.;1"`.
    pub name: Vec<u8>,
    /// First sector of its extent.
    pub sector: u32,
    /// Bytes in the extent.
    pub size: u32,
    /// File flags (0x80: more extents follow).
    pub flags: u8,
}

fn both32(v: u32) -> [u8; 8] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

fn record(name: &[u8], sector: u32, size: u32, flags: u8) -> Vec<u8> {
    let len = 33 + name.len() + usize::from(name.len().is_multiple_of(2));
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    r[2..10].copy_from_slice(&both32(sector));
    r[10..18].copy_from_slice(&both32(size));
    r[18..25].copy_from_slice(&[126, 1, 1, 0, 0, 0, 0]);
    r[25] = flags;
    r[28..32].copy_from_slice(&[1, 0, 0, 1]);
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    r
}

/// An image: PVD at 16, terminator at 17, the root directory from 18, then
/// `data` from the first sector after it (returned, for the records).
pub fn image(recs: impl Fn(u32) -> Vec<Rec>, data: &[u8]) -> Vec<u8> {
    // size the root first: records never depend on their own count's sector
    let probe = recs(0);
    let mut dir_len = 68; // `.` and `..`
    for r in &probe {
        let l = 33 + r.name.len() + usize::from(r.name.len().is_multiple_of(2));
        if dir_len % SECTOR + l > SECTOR {
            dir_len = (dir_len / SECTOR + 1) * SECTOR;
        }
        dir_len += l;
    }
    let dir_sectors = dir_len.div_ceil(SECTOR);
    let data_sector = 18 + dir_sectors as u32;
    let total = (data_sector as usize) * SECTOR + data.len().div_ceil(SECTOR) * SECTOR;
    let mut img = vec![0u8; total];
    let dir_size = (dir_sectors * SECTOR) as u32;
    let root = record(&[0], 18, dir_size, 2);
    let pvd = &mut img[16 * SECTOR..17 * SECTOR];
    pvd[0] = 1;
    pvd[1..6].copy_from_slice(b"CD001");
    pvd[6] = 1;
    pvd[80..88].copy_from_slice(&both32(total as u32 / SECTOR as u32));
    pvd[156..156 + 34].copy_from_slice(&root);
    let term = &mut img[17 * SECTOR..18 * SECTOR];
    term[0] = 255;
    term[1..6].copy_from_slice(b"CD001");
    let mut at = 18 * SECTOR;
    for r in [record(&[0], 18, dir_size, 2), record(&[1], 18, dir_size, 2)] {
        img[at..at + r.len()].copy_from_slice(&r);
        at += r.len();
    }
    for r in recs(data_sector) {
        let bytes = record(&r.name, r.sector, r.size, r.flags);
        if at % SECTOR + bytes.len() > SECTOR {
            at = (at / SECTOR + 1) * SECTOR;
        }
        img[at..at + bytes.len()].copy_from_slice(&bytes);
        at += bytes.len();
    }
    let start = data_sector as usize * SECTOR;
    img[start..start + data.len()].copy_from_slice(data);
    img
}
