//! Encryption for lomob: the formats that keep a family's photos private and
//! tamper-evident for decades, and the keys behind them.
//!
//! - [`stream`]: the native format for big objects (archives, staged files):
//!   an authenticated header, then 64 KiB chunks sealed with
//!   XChaCha20-Poly1305 under a per-object key derived from the master key by
//!   BLAKE3 (a hash, not a password KDF), with STREAM nonces. Ciphertext
//!   length is a pure function of plaintext length and every chunk can be
//!   sealed or opened alone, so uploads resume mid-object and a single photo is
//!   read from a 5 GB archive with range reads of its chunks only.
//! - [`MasterKey`]: a random 256-bit key with a public [`KeyId`].
//! - [`filecrypt`]: the sealed box of kisom/filecrypt (XSalsa20-Poly1305,
//!   scrypt), bit-compatible both ways, and the same layout with
//!   XChaCha20-Poly1305 as lomob's own small-object seal.
//! - [`lomob_go`]: read-only decryption of objects written by the Go
//!   lomo-backup (AES-256-CTR, Argon2id per object), for restores and migration.
//! - [`KeyFile`]: the master key wrapped by one or more passphrases (key
//!   slots, Argon2id): add, remove or change a passphrase without
//!   re-encrypting any data. Holds no secret in clear; written 0600, atomically.
//!
//! The byte-level specification is `FORMAT.md` beside this crate.
//!
//! ```
//! use std::io::{Read, Write};
//! use lomo_crypt::MasterKey;
//! use lomo_crypt::stream::{DecryptReader, EncryptWriter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = MasterKey::generate();
//! let mut w = EncryptWriter::new(&key, Vec::new());
//! w.write_all(b"a photo's bytes")?;
//! let sealed = w.finish()?;
//!
//! let mut plain = Vec::new();
//! DecryptReader::new(&key, &sealed[..])?.read_to_end(&mut plain)?;
//! assert_eq!(plain, b"a photo's bytes");
//! # Ok(())
//! # }
//! ```
//!
//! Sync over `std::io` throughout; the `async` feature adds `Stream<Bytes>`
//! adapters.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod archive;
mod error;
pub mod filecrypt;
mod key;
mod keyfile;
pub mod lomob_go;
pub mod stream;

pub use error::{Error, Result};
pub use key::{KeyId, MasterKey};
pub use keyfile::{KdfParams, KeyFile, Slot};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
