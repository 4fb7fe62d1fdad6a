//! System Use Sharing Protocol and Rock Ridge entries of one directory record.

/// What Rock Ridge says about a record.
#[derive(Debug, Default, Clone)]
pub(crate) struct Rr {
    pub(crate) name: Option<Vec<u8>>,
    pub(crate) mode: Option<u32>,
    pub(crate) mtime: Option<i64>,
    pub(crate) symlink: Option<Vec<u8>>,
    /// CE: more entries at (sector, offset, length).
    pub(crate) continuation: Option<(u32, u32, u32)>,
    /// RE: this directory was relocated; its real place is given by a CL elsewhere.
    pub(crate) relocated: bool,
    /// CL: this "file" is really the directory at this sector.
    pub(crate) child_link: Option<u32>,
    /// SP seen (root `.` only): SUSP in use, with this many bytes to skip.
    pub(crate) sp_skip: Option<u8>,
    /// NM marked `.` or `..` (ignored) — and a pending CONTINUE for names.
    name_open: bool,
    sl_open: bool,
    /// The last SL component continues in the next one (possibly in the next SL entry).
    sl_component_open: bool,
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A 7-byte (or 17-byte) date to Unix seconds.
pub(crate) fn date7(b: &[u8]) -> i64 {
    if b.len() < 7 {
        return 0;
    }
    let days = days_from_civil(
        1900 + i64::from(b[0]),
        u32::from(b[1]).clamp(1, 12),
        u32::from(b[2]).clamp(1, 31),
    );
    let secs = days * 86_400 + i64::from(b[3]) * 3600 + i64::from(b[4]) * 60 + i64::from(b[5]);
    secs - gmt_offset(b[6])
}

/// Seconds east of UTC of an ECMA-119 offset byte (15-minute units). Only
/// -48..=52 is valid; genisoimage 1.1.11 writes -96 (a day) for dates from
/// about 2029 on (2038-01-19 and 2099-12-31 included), which readers such
/// as libarchive ignore as out of range: so do we.
fn gmt_offset(b: u8) -> i64 {
    let quarters = i64::from(b as i8);
    if (-48..=52).contains(&quarters) {
        quarters * 15 * 60
    } else {
        0
    }
}

fn date17(b: &[u8]) -> i64 {
    let num = |r: std::ops::Range<usize>| -> i64 {
        std::str::from_utf8(&b[r])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    if b.len() < 17 {
        return 0;
    }
    let days = days_from_civil(
        num(0..4),
        (num(4..6) as u32).clamp(1, 12),
        (num(6..8) as u32).clamp(1, 31),
    );
    days * 86_400 + num(8..10) * 3600 + num(10..12) * 60 + num(12..14) - gmt_offset(b[16])
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Rr {
    /// Parses one system-use area (the record's, or a continuation area).
    pub(crate) fn parse(&mut self, mut su: &[u8]) {
        self.continuation = None;
        while su.len() >= 4 {
            let len = usize::from(su[2]);
            if len < 4 || len > su.len() {
                break;
            }
            let (sig, body) = ([su[0], su[1]], &su[4..len]);
            match &sig {
                b"SP" if body.len() >= 3 && body[0] == 0xBE && body[1] == 0xEF => {
                    self.sp_skip = Some(body[2]);
                }
                b"CE" if body.len() >= 24 => {
                    self.continuation =
                        Some((le32(&body[0..4]), le32(&body[8..12]), le32(&body[16..20])));
                }
                b"ST" => break,
                b"NM" if !body.is_empty() => {
                    let flags = body[0];
                    if flags & 0x06 == 0 {
                        let name = self.name.get_or_insert_with(Vec::new);
                        if !self.name_open {
                            name.clear();
                        }
                        name.extend_from_slice(&body[1..]);
                        self.name_open = flags & 1 != 0;
                    }
                }
                b"PX" if body.len() >= 8 => self.mode = Some(le32(&body[0..4])),
                b"TF" if !body.is_empty() => {
                    let flags = body[0];
                    let width = if flags & 0x80 != 0 { 17 } else { 7 };
                    // times present, in order: creation, modify, access, ...
                    let mut at = 1;
                    for bit in 0..7 {
                        if flags & (1 << bit) == 0 {
                            continue;
                        }
                        if at + width > body.len() {
                            break;
                        }
                        if bit == 1 {
                            let t = &body[at..at + width];
                            self.mtime = Some(if width == 7 { date7(t) } else { date17(t) });
                        }
                        at += width;
                    }
                }
                b"SL" if !body.is_empty() => self.parse_sl(body),
                b"RE" => self.relocated = true,
                b"CL" if body.len() >= 4 => self.child_link = Some(le32(&body[0..4])),
                _ => {}
            }
            su = &su[len..];
        }
    }

    fn parse_sl(&mut self, body: &[u8]) {
        let target = self.symlink.get_or_insert_with(Vec::new);
        if !self.sl_open {
            target.clear();
        }
        let mut comps = &body[1..];
        let mut continued_component = self.sl_open && self.sl_component_open;
        while comps.len() >= 2 {
            let (flags, len) = (comps[0], usize::from(comps[1]));
            if 2 + len > comps.len() {
                break;
            }
            let data = &comps[2..2 + len];
            if !continued_component && !target.is_empty() && target.last() != Some(&b'/') {
                target.push(b'/');
            }
            match flags & 0x0E {
                0x02 => target.push(b'.'),
                0x04 => target.extend_from_slice(b".."),
                0x08 => {
                    target.clear();
                    target.push(b'/');
                }
                _ => target.extend_from_slice(data),
            }
            continued_component = flags & 1 != 0;
            comps = &comps[2 + len..];
        }
        self.sl_open = body[0] & 1 != 0;
        self.sl_component_open = continued_component;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_with_the_writer() {
        assert_eq!(date7(&[70, 1, 1, 0, 0, 0, 0]), 0);
        assert_eq!(date7(&[123, 11, 14, 22, 13, 20, 0]), 1_700_000_000);
        assert_eq!(date7(&[123, 11, 14, 23, 13, 20, 4]), 1_700_000_000); // UTC+1
        assert_eq!(date17(b"2000022900000000\0"), 951_782_400);
    }

    #[test]
    fn nm_continues_and_sl_builds_paths() {
        let mut r = Rr::default();
        let mut su = vec![b'N', b'M', 8, 1, 1, b'a', b'b', b'c'];
        su.extend([b'N', b'M', 6, 1, 0, b'd']);
        // SL: "../x/y"
        su.extend([b'S', b'L', 13, 1, 0, 0x04, 0, 0, 1, b'x', 0, 1, b'y']);
        r.parse(&su);
        assert_eq!(r.name.as_deref(), Some(&b"abcd"[..]));
        assert_eq!(r.symlink.as_deref(), Some(&b"../x/y"[..]));
    }
}
