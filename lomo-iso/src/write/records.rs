//! Byte encoders for ECMA-119 structures and SUSP/Rock Ridge entries.

/// Sector size.
pub(crate) const SECTOR: usize = 2048;

pub(crate) fn both16(v: u16) -> [u8; 4] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], b[0], b[1]]
}

pub(crate) fn both32(v: u32) -> [u8; 8] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

/// Days since 1970-01-01 -> (year, month, day) (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn split(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    (
        y,
        mo,
        d,
        (t / 3600) as u32,
        (t % 3600 / 60) as u32,
        (t % 60) as u32,
    )
}

/// 7-byte directory-record date (UTC), clamped to 1900..=2155.
pub(crate) fn rec_date(secs: i64) -> [u8; 7] {
    let (y, mo, d, h, mi, s) = split(secs);
    let y = (y - 1900).clamp(0, 255) as u8;
    [y, mo as u8, d as u8, h as u8, mi as u8, s as u8, 0]
}

/// 17-byte volume descriptor date (UTC).
pub(crate) fn vol_date(secs: i64) -> [u8; 17] {
    let (y, mo, d, h, mi, s) = split(secs);
    let text = format!("{:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00", y.clamp(1, 9999));
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(text.as_bytes());
    out
}

/// One directory record.
pub(crate) fn dir_record(
    extent: u32,
    size: u32,
    date: [u8; 7],
    flags: u8,
    name: &[u8],
    su: &[u8],
) -> Vec<u8> {
    let pad = usize::from(name.len().is_multiple_of(2));
    let len = 33 + name.len() + pad + su.len();
    let mut r = Vec::with_capacity(len);
    r.push(len as u8);
    r.push(0); // extended attribute record length
    r.extend_from_slice(&both32(extent));
    r.extend_from_slice(&both32(size));
    r.extend_from_slice(&date);
    r.push(flags);
    r.push(0); // file unit size
    r.push(0); // interleave gap
    r.extend_from_slice(&both16(1)); // volume sequence number
    r.push(name.len() as u8);
    r.extend_from_slice(name);
    if pad == 1 {
        r.push(0);
    }
    r.extend_from_slice(su);
    r
}

/// Length of a directory record with this name and system-use length.
pub(crate) fn record_len(name_len: usize, su_len: usize) -> usize {
    33 + name_len + usize::from(name_len.is_multiple_of(2)) + su_len
}

fn susp(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(4 + body.len());
    e.extend_from_slice(sig);
    e.push((4 + body.len()) as u8);
    e.push(1); // version
    e.extend_from_slice(body);
    e
}

/// SUSP "SP": marks SUSP use (root `.` record only).
pub(crate) fn sp() -> Vec<u8> {
    susp(b"SP", &[0xBE, 0xEF, 0])
}

/// SUSP "CE": where the rest of this record's system use lives.
pub(crate) fn ce(sector: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&both32(sector));
    b.extend_from_slice(&both32(offset));
    b.extend_from_slice(&both32(len));
    susp(b"CE", &b)
}

/// Length of a CE entry.
pub(crate) const CE_LEN: usize = 28;

/// SUSP "ER": the Rock Ridge extension reference.
pub(crate) fn er() -> Vec<u8> {
    let id = b"RRIP_1991A";
    let des =
        b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    let src = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
    let mut b = vec![id.len() as u8, des.len() as u8, src.len() as u8, 1];
    b.extend_from_slice(id);
    b.extend_from_slice(des);
    b.extend_from_slice(src);
    susp(b"ER", &b)
}

/// RRIP "PX" (1.12 form, with serial number).
pub(crate) fn px(mode: u32, links: u32, serial: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(40);
    for v in [mode, links, 0, 0, serial] {
        b.extend_from_slice(&both32(v));
    }
    susp(b"PX", &b)
}

/// Length of a PX entry.
pub(crate) const PX_LEN: usize = 44;

/// RRIP "TF": modification, access and attribute-change times (7-byte form).
pub(crate) fn tf(mtime: i64) -> Vec<u8> {
    let d = rec_date(mtime);
    let mut b = vec![0x0E]; // MODIFY | ACCESS | ATTRIBUTES
    for _ in 0..3 {
        b.extend_from_slice(&d);
    }
    susp(b"TF", &b)
}

/// Length of a TF entry.
pub(crate) const TF_LEN: usize = 26;

/// RRIP "NM" entries for `name`, split into pieces that fit one entry each.
pub(crate) fn nm(name: &[u8]) -> Vec<u8> {
    const PIECE: usize = 250;
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = if name.is_empty() {
        vec![&[][..]]
    } else {
        name.chunks(PIECE).collect()
    };
    let n = pieces.len();
    for (i, p) in pieces.into_iter().enumerate() {
        let mut b = vec![u8::from(i + 1 < n)]; // CONTINUE flag
        b.extend_from_slice(p);
        out.extend(susp(b"NM", &b));
    }
    out
}

/// RRIP "SL" entries for a symlink target, split to fit.
pub(crate) fn sl(target: &[u8]) -> Vec<u8> {
    // components: (flags, bytes); pieces of long components carry CONTINUE (1)
    let mut comps: Vec<(u8, Vec<u8>)> = Vec::new();
    let rooted = target.first() == Some(&b'/');
    if rooted {
        comps.push((0x08, Vec::new()));
    }
    for part in target.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
        match part {
            b"." => comps.push((0x02, Vec::new())),
            b".." => comps.push((0x04, Vec::new())),
            _ => {
                let pieces: Vec<&[u8]> = part.chunks(200).collect();
                let n = pieces.len();
                for (i, p) in pieces.into_iter().enumerate() {
                    comps.push((u8::from(i + 1 < n), p.to_vec()));
                }
            }
        }
    }
    let mut entries: Vec<Vec<u8>> = vec![Vec::new()];
    for (flags, bytes) in comps {
        let c = [&[flags, bytes.len() as u8][..], &bytes].concat();
        if entries.last().is_some_and(|e| e.len() + c.len() > 240) {
            entries.push(Vec::new());
        }
        if let Some(last) = entries.last_mut() {
            last.extend(c);
        }
    }
    let n = entries.len();
    let mut out = Vec::new();
    for (i, body) in entries.into_iter().enumerate() {
        let mut b = vec![u8::from(i + 1 < n)];
        b.extend(body);
        out.extend(susp(b"SL", &b));
    }
    out
}

/// A path table record.
pub(crate) fn path_record(name: &[u8], extent: u32, parent: u16, big_endian: bool) -> Vec<u8> {
    let mut r = vec![name.len() as u8, 0];
    if big_endian {
        r.extend_from_slice(&extent.to_be_bytes());
        r.extend_from_slice(&parent.to_be_bytes());
    } else {
        r.extend_from_slice(&extent.to_le_bytes());
        r.extend_from_slice(&parent.to_le_bytes());
    }
    r.extend_from_slice(name);
    if name.len() % 2 == 1 {
        r.push(0);
    }
    r
}

/// Text padded with spaces into a fixed field.
pub(crate) fn field(dst: &mut [u8], text: &[u8]) {
    dst.fill(b' ');
    let n = text.len().min(dst.len());
    dst[..n].copy_from_slice(&text[..n]);
}

/// UCS-2BE text padded with UCS-2 spaces into a fixed field.
pub(crate) fn field_ucs2(dst: &mut [u8], text: &str) {
    dst.fill(0);
    for pair in dst.chunks_exact_mut(2) {
        pair.copy_from_slice(&[0, b' ']);
    }
    let units: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let n = units.len().min(dst.len()) & !1;
    dst[..n].copy_from_slice(&units[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rec_date(0), [70, 1, 1, 0, 0, 0, 0]);
        assert_eq!(rec_date(1_700_000_000), [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(&vol_date(951_782_400)[..16], b"2000022900000000");
    }

    #[test]
    fn entry_lengths() {
        assert_eq!(px(0o100644, 1, 7).len(), PX_LEN);
        assert_eq!(tf(0).len(), TF_LEN);
        assert_eq!(ce(1, 2, 3).len(), CE_LEN);
        assert_eq!(nm(&[b'a'; 255]).len(), 2 * 5 + 255);
        assert_eq!(
            dir_record(1, 2, rec_date(0), 0, b"AB", &[]).len(),
            record_len(2, 0)
        );
    }
}
