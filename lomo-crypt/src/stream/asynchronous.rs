//! `Stream<Item = io::Result<Bytes>>` adapters (feature `async`): the same
//! format as the sync adapters, for callers that move bytes asynchronously.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::{HEADER_LEN, Header, ObjectCipher, TAG_LEN};
use crate::error::Error;
use crate::key::MasterKey;

struct State<S> {
    input: S,
    input_done: bool,
    buf: BytesMut,
    index: u64,
    done: bool,
}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> State<S> {
    /// Appends the next input piece to the buffer, or notes the end of input.
    /// An input error ends the stream.
    async fn pull(&mut self) -> io::Result<()> {
        match self.input.next().await {
            Some(Ok(b)) => self.buf.extend_from_slice(&b),
            Some(Err(e)) => {
                self.done = true;
                return Err(e);
            }
            None => self.input_done = true,
        }
        Ok(())
    }
}

/// Encrypts a stream of plaintext pieces into a stream of ciphertext pieces
/// (the header first, then one item per chunk). A new random header unless
/// `header` is given (to regenerate earlier output).
pub fn encrypt_stream<S>(
    key: &MasterKey,
    header: Option<&Header>,
    input: S,
) -> Result<impl Stream<Item = io::Result<Bytes>>, Error>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let cipher = match header {
        Some(h) => ObjectCipher::new(key, h)?,
        None => ObjectCipher::fresh(key),
    };
    let chunk = cipher.header().chunk_size();
    let head = Bytes::copy_from_slice(&cipher.header().to_bytes());
    let state = State {
        input,
        input_done: false,
        buf: BytesMut::new(),
        index: 0,
        done: false,
    };
    let body = futures::stream::unfold((state, cipher), move |(mut st, cipher)| async move {
        loop {
            if st.done {
                return None;
            }
            // A full chunk followed by at least one more byte is not the last.
            if st.buf.len() > chunk {
                let mut piece = st.buf.split_to(chunk).to_vec();
                cipher.seal_chunk(st.index, false, &mut piece);
                st.index += 1;
                return Some((Ok(Bytes::from(piece)), (st, cipher)));
            }
            if st.input_done {
                let mut piece = st.buf.split().to_vec();
                cipher.seal_chunk(st.index, true, &mut piece);
                st.done = true;
                return Some((Ok(Bytes::from(piece)), (st, cipher)));
            }
            if let Err(e) = st.pull().await {
                return Some((Err(e), (st, cipher)));
            }
        }
    });
    Ok(futures::stream::once(async move { Ok(head) }).chain(body))
}

/// Decrypts a stream of ciphertext pieces, yielding each chunk's plaintext once
/// it authenticates. Errors (wrong key, tampering, truncation) end the stream.
pub fn decrypt_stream<S>(key: &MasterKey, input: S) -> impl Stream<Item = io::Result<Bytes>>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let key = key.clone();
    let state = State {
        input,
        input_done: false,
        buf: BytesMut::new(),
        index: 0,
        done: false,
    };
    futures::stream::unfold(
        (state, None::<ObjectCipher>),
        move |(mut st, mut cipher)| {
            let key = key.clone();
            async move {
                loop {
                    if st.done {
                        return None;
                    }
                    let fail = |st: &mut State<S>, e: Error| {
                        st.done = true;
                        Err(e.into_io())
                    };
                    if cipher.is_none() && st.buf.len() >= HEADER_LEN {
                        let head = st.buf.split_to(HEADER_LEN);
                        match Header::parse(&head).and_then(|h| ObjectCipher::new(&key, &h)) {
                            Ok(c) => cipher = Some(c),
                            Err(e) => return Some((fail(&mut st, e), (st, cipher))),
                        }
                    }
                    if let Some(c) = &cipher {
                        let full = c.header().chunk_size() + TAG_LEN;
                        if st.buf.len() > full || (st.input_done && !st.buf.is_empty()) {
                            let last = st.buf.len() <= full;
                            let take = if last { st.buf.len() } else { full };
                            let mut piece = st.buf.split_to(take).to_vec();
                            if last && take == TAG_LEN && st.index > 0 {
                                let index = st.index;
                                return Some((
                                    fail(&mut st, Error::ChunkAuth { index }),
                                    (st, cipher),
                                ));
                            }
                            let res = c.open_chunk(st.index, last, &mut piece);
                            st.index += 1;
                            st.done = last;
                            let item = match res {
                                Ok(()) => Ok(Bytes::from(piece)),
                                Err(e) => fail(&mut st, e),
                            };
                            return Some((item, (st, cipher)));
                        }
                    }
                    if st.input_done {
                        let e =
                            if cipher.is_none() && st.buf.len() >= 8 && &st.buf[..8] != b"LOMOBSTR"
                            {
                                Error::NotAStream
                            } else {
                                Error::Truncated
                            };
                        return Some((fail(&mut st, e), (st, cipher)));
                    }
                    if let Err(e) = st.pull().await {
                        return Some((Err(e), (st, cipher)));
                    }
                }
            }
        },
    )
}
