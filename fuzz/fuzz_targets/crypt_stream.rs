//! Stream headers and chunks.
//!
//! Two kinds of input, chosen by the first byte:
//! - raw bytes as an object: no panic; header parse -> write -> equal; whatever
//!   decrypts re-encrypts (same header) to exactly the same bytes; the
//!   streaming and seekable readers agree;
//! - a plaintext and a mutation (flip, truncate, extend, splice): the genuine
//!   object decrypts to the plaintext, and any change to its bytes is refused.
#![no_main]

use std::io::{Cursor, Read, Write};

use libfuzzer_sys::fuzz_target;
use lomo_crypt::MasterKey;
use lomo_crypt::stream::{DecryptReader, EncryptWriter, Header, SeekDecryptReader};

fn decrypt(key: &MasterKey, object: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut a = Vec::new();
    let streamed = DecryptReader::new(key, object)
        .ok()
        .and_then(|mut r| r.read_to_end(&mut a).ok().map(|_| a));
    let mut b = Vec::new();
    let seeked = SeekDecryptReader::new(key, Cursor::new(object))
        .ok()
        .and_then(|mut r| r.read_to_end(&mut b).ok().map(|_| b));
    (streamed, seeked)
}

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_bytes([0x42; 32]);
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        if let Ok(h) = Header::parse(rest) {
            assert_eq!(&h.to_bytes()[..], &rest[..76]);
        }
        let (streamed, seeked) = decrypt(&key, rest);
        assert_eq!(streamed, seeked);
        if let Some(plain) = streamed {
            let header = Header::parse(rest).unwrap();
            let mut w = EncryptWriter::with_header(&key, &header, Vec::new()).unwrap();
            w.write_all(&plain).unwrap();
            assert_eq!(w.finish().unwrap(), rest);
        }
        return;
    }
    // [mode][op][pos u16][arg u8][plaintext...], 4 KiB chunks so the fuzzer crosses chunks
    if rest.len() < 4 {
        return;
    }
    let (op, pos, arg, plain) = (rest[0], u16::from_le_bytes([rest[1], rest[2]]) as usize, rest[3], &rest[4..]);
    let header = Header::with_salt(&key, [arg; 32], 12);
    let mut w = EncryptWriter::with_header(&key, &header, Vec::new()).unwrap();
    w.write_all(plain).unwrap();
    let good = w.finish().unwrap();
    let (s, k) = decrypt(&key, &good);
    assert_eq!(s.as_deref(), Some(plain));
    assert_eq!(k.as_deref(), Some(plain));
    let mut bad = good.clone();
    let at = pos % bad.len();
    match op % 4 {
        0 => bad[at] ^= arg | 1,
        1 => bad.truncate(at),
        2 => bad.extend(std::iter::repeat_n(arg, 1 + (pos % 64))),
        _ => {
            // splice: move a 4 KiB + 16 window elsewhere
            let w = 4096 + 16;
            if bad.len() > 76 + 2 * w {
                let from = 76 + (at % ((bad.len() - 76) / w)) * w;
                let piece: Vec<u8> = bad[from..from + w].to_vec();
                bad.drain(from..from + w);
                bad.extend_from_slice(&piece);
            }
        }
    }
    if bad != good {
        let (s, k) = decrypt(&key, &bad);
        assert!(s.is_none(), "streaming reader accepted an altered object");
        assert!(k.is_none(), "seekable reader accepted an altered object");
    }
});
