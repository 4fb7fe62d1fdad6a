//! File identifiers: ISO9660 level 3 names for the primary tree (Rock Ridge
//! carries the real ones) and Joliet's UCS-2 names.

use std::collections::HashSet;

/// Longest primary identifier before `;1` (ISO level 2/3 allow 31 with the dot).
const ISO_MAX: usize = 30;
/// Joliet names: 103 UCS-2 units (`-joliet-long`, read by every current OS).
const JOLIET_MAX: usize = 103;

fn d_char(c: char) -> char {
    match c.to_ascii_uppercase() {
        u @ ('A'..='Z' | '0'..='9' | '_') => u,
        _ => '_',
    }
}

/// A unique ISO9660 name for `name` among `taken` (bytes, without `;1`).
pub(crate) fn iso_name(name: &[u8], is_dir: bool, taken: &mut HashSet<Vec<u8>>) -> Vec<u8> {
    let text = String::from_utf8_lossy(name);
    let (stem, ext) = match text.rfind('.') {
        Some(i) if !is_dir && i > 0 => (&text[..i], &text[i + 1..]),
        _ => (&text[..], ""),
    };
    let ext: String = ext.chars().map(d_char).take(8).collect();
    let room = ISO_MAX - ext.len() - usize::from(!ext.is_empty());
    let base: String = stem.chars().map(d_char).take(room).collect();
    let base = if base.is_empty() {
        "_".to_string()
    } else {
        base
    };
    for n in 0u32.. {
        let b = if n == 0 {
            base.clone()
        } else {
            let suffix = format!("~{n}");
            let keep = base.len().min(room.saturating_sub(suffix.len()));
            format!("{}{suffix}", &base[..keep])
        };
        let full = if ext.is_empty() {
            b
        } else {
            format!("{b}.{ext}")
        };
        if taken.insert(full.clone().into_bytes()) {
            return full.into_bytes();
        }
    }
    // u32::MAX candidates cannot all be taken in one directory.
    base.into_bytes()
}

/// A unique Joliet name (UTF-16BE bytes) for `name` among `taken`.
pub(crate) fn joliet_name(name: &[u8], taken: &mut HashSet<Vec<u8>>) -> Vec<u8> {
    let text = String::from_utf8_lossy(name);
    let text: String = text
        .chars()
        .map(|c| {
            if matches!(c, '*' | '/' | ':' | ';' | '?' | '\\') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let units: Vec<u16> = text.encode_utf16().collect();
    for n in 0u32.. {
        let mut u = units.clone();
        let suffix: Vec<u16> = if n == 0 {
            Vec::new()
        } else {
            format!("~{n}").encode_utf16().collect()
        };
        let keep = u.len().min(JOLIET_MAX - suffix.len());
        u.truncate(keep);
        // never split a surrogate pair
        if u.last().is_some_and(|&c| (0xD800..0xDC00).contains(&c)) {
            u.pop();
        }
        u.extend_from_slice(&suffix);
        let bytes: Vec<u8> = u.iter().flat_map(|c| c.to_be_bytes()).collect();
        if taken.insert(bytes.clone()) {
            return bytes;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_names_are_d_chars_and_unique() {
        let mut t = HashSet::new();
        assert_eq!(iso_name(b"IMG_0001.jpg", false, &mut t), b"IMG_0001.JPG");
        assert_eq!(iso_name(b"img_0001.JPG", false, &mut t), b"IMG_0001~1.JPG");
        assert_eq!(
            iso_name("Großmutter – 80".as_bytes(), true, &mut t),
            b"GRO_MUTTER___80"
        );
        let long = iso_name(&[b'a'; 200], false, &mut t);
        assert!(long.len() <= 30);
        assert_eq!(iso_name(b".hidden", false, &mut t), b"_HIDDEN");
    }

    #[test]
    fn joliet_names_are_utf16_and_bounded() {
        let mut t = HashSet::new();
        let n = joliet_name("🎂 birthday.jpg".as_bytes(), &mut t);
        assert_eq!(&n[..4], &[0xD8, 0x3C, 0xDF, 0x82]);
        let long = joliet_name("é".repeat(300).as_bytes(), &mut t);
        assert_eq!(long.len(), 2 * 103);
    }
}
