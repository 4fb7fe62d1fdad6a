//! The stream format: round trips, tamper detection, ranges, big streams.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use lomo_crypt::stream::{
    DecryptReader, EncryptReader, EncryptWriter, HEADER_LEN, Header, Layout, SeekDecryptReader,
    open_bytes,
};
use lomo_crypt::{Error, MasterKey};
use proptest::prelude::*;

/// 4 KiB chunks keep the property tests quick while exercising many chunks.
const LOG: u8 = 12;
const C: usize = 1 << LOG;

fn key() -> MasterKey {
    MasterKey::from_bytes([42; 32])
}

fn seal(key: &MasterKey, header: &Header, data: &[u8]) -> Vec<u8> {
    let mut w = EncryptWriter::with_header(key, header, Vec::new()).unwrap();
    // odd write sizes exercise the buffering
    for piece in data.chunks(C / 3 + 1) {
        w.write_all(piece).unwrap();
    }
    w.finish().unwrap()
}

fn open(key: &MasterKey, ct: &[u8]) -> Result<Vec<u8>, Error> {
    open_bytes(key, ct)
}

fn lengths() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(C - 1),
        Just(C),
        Just(C + 1),
        Just(3 * C - 1),
        Just(3 * C),
        Just(3 * C + 1),
        0..5 * C,
    ]
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_any_length(len in lengths(), seed: u8, salt: [u8; 32]) {
        let k = key();
        let h = Header::with_salt(&k, salt, LOG);
        let plain = data(len, seed);
        let ct = seal(&k, &h, &plain);
        prop_assert_eq!(ct.len() as u64, Layout::new(len as u64, LOG).cipher_len());
        prop_assert_eq!(&open(&k, &ct).unwrap(), &plain);
        // the pull-style encryptor produces the very same bytes
        let mut pulled = Vec::new();
        EncryptReader::with_header(&k, &h, &plain[..]).unwrap().read_to_end(&mut pulled).unwrap();
        prop_assert_eq!(&pulled, &ct);
    }

    #[test]
    fn any_bit_flip_is_detected(len in lengths(), seed: u8, pos: prop::sample::Index, bit in 0..8u8) {
        let k = key();
        let ct = seal(&k, &Header::with_salt(&k, [seed; 32], LOG), &data(len, seed));
        let mut bad = ct.clone();
        let i = pos.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(open(&k, &bad).is_err(), "flip at {} of {}", i, ct.len());
        let mut r = SeekDecryptReader::new(&k, Cursor::new(&bad));
        let whole = r.as_mut().map(|r| { let mut v = Vec::new(); r.read_to_end(&mut v).map(|_| v) });
        prop_assert!(!matches!(whole, Ok(Ok(_))), "seekable reader accepted a flip at {}", i);
    }

    #[test]
    fn any_truncation_or_extension_is_detected(len in lengths(), cut: prop::sample::Index, extra in 1..40usize) {
        let k = key();
        let ct = seal(&k, &Header::with_salt(&k, [1; 32], LOG), &data(len, 3));
        let at = cut.index(ct.len());
        prop_assert!(open(&k, &ct[..at]).is_err(), "truncated to {} of {}", at, ct.len());
        let mut longer = ct.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert!(open(&k, &longer).is_err());
    }

    #[test]
    fn range_decryption_equals_the_slice(len in lengths(), a: prop::sample::Index, b: prop::sample::Index) {
        let k = key();
        let plain = data(len, 9);
        let ct = seal(&k, &Header::with_salt(&k, [2; 32], LOG), &plain);
        let mut r = SeekDecryptReader::new(&k, Cursor::new(&ct)).unwrap();
        prop_assert_eq!(r.layout().plain_len, len as u64);
        let (x, y) = (a.index(len + 1), b.index(len + 1));
        let (x, y) = (x.min(y), x.max(y));
        r.seek(SeekFrom::Start(x as u64)).unwrap();
        let mut got = vec![0u8; y - x];
        r.read_exact(&mut got).unwrap();
        prop_assert_eq!(&got[..], &plain[x..y]);
    }
}

#[test]
fn chunks_swapped_reordered_or_moved_between_objects_fail() {
    let k = key();
    let plain = data(4 * C, 5);
    let a = seal(&k, &Header::with_salt(&k, [1; 32], LOG), &plain);
    let b = seal(&k, &Header::with_salt(&k, [2; 32], LOG), &plain);
    let l = Layout::new(plain.len() as u64, LOG);
    let r0 = l.cipher_range(0);
    let r1 = l.cipher_range(1);
    let (r0, r1) = (
        r0.start as usize..r0.end as usize,
        r1.start as usize..r1.end as usize,
    );
    // reorder chunks 0 and 1
    let mut swapped = a.clone();
    swapped[r0.clone()].copy_from_slice(&a[r1.clone()]);
    swapped[r1.clone()].copy_from_slice(&a[r0.clone()]);
    assert!(matches!(
        open(&k, &swapped),
        Err(Error::ChunkAuth { index: 0 })
    ));
    // chunk 1 of another object under the same key
    let mut mixed = a.clone();
    mixed[r1.clone()].copy_from_slice(&b[r1.clone()]);
    assert!(matches!(
        open(&k, &mixed),
        Err(Error::ChunkAuth { index: 1 })
    ));
    // another object's header in front of these chunks
    let mut rehead = a.clone();
    rehead[..HEADER_LEN].copy_from_slice(&b[..HEADER_LEN]);
    assert!(matches!(
        open(&k, &rehead),
        Err(Error::ChunkAuth { index: 0 })
    ));
    // cut at a chunk boundary: reported as truncation
    let cut = &a[..l.cipher_range(1).end as usize];
    assert!(
        matches!(open(&k, cut), Err(Error::Truncated)),
        "{:?}",
        open(&k, cut)
    );
}

/// The reader opens chunks in growing batches (1, 4, 16, then 64 at a time):
/// lengths around every batch edge round-trip, a bad chunk deep in a batch
/// still lets exactly the chunks before it through, and a cut at a chunk
/// boundary inside a late batch is truncation.
#[test]
fn the_batched_reader_keeps_every_edge_and_error() {
    let k = key();
    let h = Header::with_salt(&k, [3; 32], LOG);
    for chunks in [1usize, 5, 21, 85, 86, 149] {
        for len in [chunks * C - 1, chunks * C, chunks * C + 1] {
            let plain = data(len, chunks as u8);
            let ct = seal(&k, &h, &plain);
            let mut got = Vec::new();
            let mut r = DecryptReader::new(&k, &ct[..]).unwrap();
            let mut piece = vec![0u8; 3 * C + 7];
            while let n @ 1.. = r.read(&mut piece).unwrap() {
                got.extend_from_slice(&piece[..n]);
            }
            assert!(got == plain, "{len} bytes");
        }
    }
    let plain = data(100 * C, 9);
    let ct = seal(&k, &h, &plain);
    let l = Layout::new(plain.len() as u64, LOG);
    let mut flipped = ct.clone();
    flipped[l.cipher_range(40).start as usize + 9] ^= 4;
    let mut r = DecryptReader::new(&k, &flipped[..]).unwrap();
    let mut got = Vec::new();
    let err = r.read_to_end(&mut got).unwrap_err();
    assert_eq!(got.len(), 40 * C, "the 40 good chunks before the bad one");
    assert!(err.to_string().contains("40"), "{err}");
    assert!(
        r.read(&mut [0u8; 10]).is_err(),
        "no reading on past a bad chunk"
    );
    let cut = &ct[..l.cipher_range(29).end as usize];
    assert!(matches!(open(&k, cut), Err(Error::Truncated)));
}

#[test]
fn wrong_key_and_garbage_get_clear_errors() {
    let k = key();
    let ct = seal(&k, &Header::new(&k), b"secret");
    let other = MasterKey::from_bytes([7; 32]);
    let err = open(&other, &ct).unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains(&k.id().to_string()));
    assert!(matches!(
        open(&k, b"PK\x03\x04 a zip file, not ours"),
        Err(Error::NotAStream)
    ));
    assert!(matches!(open(&k, b""), Err(Error::Truncated)));
    let mut v2 = ct.clone();
    v2[8] = 2;
    assert!(matches!(open(&k, &v2), Err(Error::UnsupportedVersion(2))));
}

#[test]
fn same_header_same_bytes_so_uploads_can_resume() {
    let k = key();
    let h = Header::with_salt(&k, Header::new(&k).salt, LOG);
    let plain = data(10 * C + 7, 1);
    assert_eq!(seal(&k, &h, &plain), seal(&k, &h, &plain));
    let fresh = Header::with_salt(&k, Header::new(&k).salt, LOG);
    assert_ne!(seal(&k, &fresh, &plain), seal(&k, &h, &plain));
    // a chunk sealed alone equals the same bytes of the whole object
    let whole = seal(&k, &h, &plain);
    let l = Layout::new(plain.len() as u64, LOG);
    let cipher = lomo_crypt::stream::ObjectCipher::new(&k, &h).unwrap();
    for i in [0, 5, l.chunks() - 1] {
        let p = l.plain_range(i);
        let mut buf = plain[p.start as usize..p.end as usize].to_vec();
        cipher.seal_chunk(i, i + 1 == l.chunks(), &mut buf);
        let c = l.cipher_range(i);
        assert_eq!(&buf[..], &whole[c.start as usize..c.end as usize]);
    }
}

/// Streams 2 GiB through encryption and decryption with bounded memory.
#[test]
fn two_gib_stream_through_both_directions() {
    const LEN: u64 = 2 << 30;
    let k = key();
    let enc = EncryptReader::new(&k, std::io::repeat(0xA5).take(LEN));
    let mut dec = DecryptReader::new(&k, enc).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = dec.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|&b| b == 0xA5));
        total += n as u64;
    }
    assert_eq!(total, LEN);
    // and the writer into a sink
    let mut w = EncryptWriter::new(&k, std::io::sink());
    std::io::copy(&mut std::io::repeat(1).take(LEN / 4), &mut w).unwrap();
    w.finish().unwrap();
}

/// The async adapters speak the same format as the sync ones.
#[cfg(feature = "async")]
#[test]
fn async_streams_match_the_sync_format() {
    use futures::{StreamExt, TryStreamExt, executor::block_on, stream};
    let k = key();
    for len in [0usize, 1, 65535, 65536, 65537, 300_000] {
        let plain = data(len, 4);
        let pieces: Vec<std::io::Result<bytes::Bytes>> = plain
            .chunks(7777)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let h = Header::new(&k);
        let enc = lomo_crypt::stream::encrypt_stream(&k, Some(&h), stream::iter(pieces)).unwrap();
        let ct: Vec<u8> = concat(&block_on(enc.try_collect::<Vec<_>>()).unwrap());
        assert_eq!(ct, seal_default(&k, &h, &plain), "len {len}");
        let ct_pieces: Vec<std::io::Result<bytes::Bytes>> = ct
            .chunks(1000)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let dec = lomo_crypt::stream::decrypt_stream(&k, stream::iter(ct_pieces));
        assert_eq!(
            concat(&block_on(dec.try_collect::<Vec<_>>()).unwrap()),
            plain
        );
        // truncated: an error, not a short plaintext
        let cut: Vec<std::io::Result<bytes::Bytes>> =
            vec![Ok(bytes::Bytes::copy_from_slice(&ct[..ct.len() - 1]))];
        let dec = lomo_crypt::stream::decrypt_stream(&k, stream::iter(cut));
        assert!(block_on(dec.collect::<Vec<_>>()).iter().any(Result::is_err));
    }
}

#[cfg(feature = "async")]
fn concat(pieces: &[bytes::Bytes]) -> Vec<u8> {
    pieces.iter().flat_map(|b| b.iter().copied()).collect()
}

#[cfg(feature = "async")]
fn seal_default(key: &MasterKey, header: &Header, data: &[u8]) -> Vec<u8> {
    let mut w = EncryptWriter::with_header(key, header, Vec::new()).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}
