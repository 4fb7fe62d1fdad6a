//! The passphrase-protected key file with key slots (FORMAT.md section 3).

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::key::{MasterKey, random};

const FORMAT: &str = "lomob-keyfile";
const AAD_PREFIX: &[u8] = b"lomob keyfile v1";

/// Argon2id cost parameters for a key slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 4,
        }
    }
}

impl KdfParams {
    /// Most memory a key file may ask for: 4 GiB.
    pub const MAX_M_KIB: u32 = 4 << 20;
    /// Most passes a key file may ask for.
    pub const MAX_T: u32 = 64;
    /// Most lanes a key file may ask for.
    pub const MAX_P: u32 = 64;

    /// Checks the parameters against the documented bounds (FORMAT.md §3):
    /// `1 ≤ t ≤ 64`, `1 ≤ p ≤ 64`, `8·p ≤ m_kib ≤ 4 GiB`. A key file is
    /// read from a site, so it is untrusted until a slot opens: this runs
    /// before any derivation, so a planted file cannot make lomob allocate
    /// terabytes or spin for years.
    pub fn check(&self) -> Result<()> {
        let ok = (1..=Self::MAX_T).contains(&self.t)
            && (1..=Self::MAX_P).contains(&self.p)
            && self.m_kib >= 8 * self.p
            && self.m_kib <= Self::MAX_M_KIB;
        if ok {
            return Ok(());
        }
        Err(Error::KeyFileDamaged(format!(
            "Argon2 parameters m = {} KiB, t = {}, p = {} are out of bounds (t 1–{}, p 1–{}, m 8·p–{} KiB)",
            self.m_kib,
            self.t,
            self.p,
            Self::MAX_T,
            Self::MAX_P,
            Self::MAX_M_KIB
        )))
    }

    /// Cheap parameters, for tests only.
    pub fn insecure_for_tests() -> Self {
        KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }

    fn derive(&self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| Error::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, salt, &mut out[..])
            .map_err(|e| Error::Kdf(e.to_string()))?;
        Ok(out)
    }
}

/// One passphrase's wrapping of the master key, as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// Slot number, unique in the file.
    pub id: u32,
    /// A note for humans (e.g. who holds this passphrase).
    pub label: String,
    kdf: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
    nonce: String,
    wrapped: String,
    check: String,
}

/// A key file: the master key's id and its slots. Holds no secret in clear.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    format: String,
    version: u32,
    key_id: String,
    slots: Vec<Slot>,
}

impl KeyFile {
    /// A key file for `key` with one slot for `passphrase`.
    pub fn create(
        key: &MasterKey,
        passphrase: &[u8],
        label: &str,
        params: KdfParams,
    ) -> Result<KeyFile> {
        let mut f = KeyFile {
            format: FORMAT.into(),
            version: 1,
            key_id: key.id().to_string(),
            slots: Vec::new(),
        };
        f.add_slot(key, passphrase, label, params)?;
        Ok(f)
    }

    /// The id of the key this file wraps.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The slots (no secrets).
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Adds a slot for another passphrase; needs the unlocked key. Returns its id.
    pub fn add_slot(
        &mut self,
        key: &MasterKey,
        passphrase: &[u8],
        label: &str,
        params: KdfParams,
    ) -> Result<u32> {
        params.check()?;
        if key.id().to_string() != self.key_id {
            return Err(Error::Slot(format!(
                "this key file is for key {}, not {}",
                self.key_id,
                key.id()
            )));
        }
        let id = self.slots.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let salt: [u8; 32] = random();
        let nonce: [u8; 24] = random();
        let kek = params.derive(passphrase, &salt)?;
        let aead = XChaCha20Poly1305::new((&*kek).into());
        let wrapped = aead
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: key.expose(),
                    aad: &aad(&self.key_id, id)?,
                },
            )
            .map_err(|_| Error::Kdf("key wrapping failed".into()))?;
        let mut slot = Slot {
            id,
            label: label.into(),
            kdf: "argon2id".into(),
            m_kib: params.m_kib,
            t: params.t,
            p: params.p,
            salt: hex(&salt),
            nonce: hex(&nonce),
            wrapped: hex(&wrapped),
            check: String::new(),
        };
        slot.check = hex(&slot_check(&slot)?);
        self.slots.push(slot);
        Ok(id)
    }

    /// Removes slot `id`. The last slot cannot be removed (the key would be lost).
    pub fn remove_slot(&mut self, id: u32) -> Result<()> {
        if !self.slots.iter().any(|s| s.id == id) {
            return Err(Error::Slot(format!("no key slot {id}")));
        }
        if self.slots.len() == 1 {
            return Err(Error::Slot(
                "cannot remove the only key slot: the master key would be lost".into(),
            ));
        }
        self.slots.retain(|s| s.id != id);
        Ok(())
    }

    /// Unlocks the master key with a passphrase; returns it and the slot that opened.
    ///
    /// # Errors
    /// [`Error::KeyFileDamaged`] if the file is inconsistent (a slot's check
    /// fails, bad hex or lengths); [`Error::WrongPassphrase`] if every intact
    /// slot refuses the passphrase.
    pub fn unlock(&self, passphrase: &[u8]) -> Result<(MasterKey, u32)> {
        self.validate()?;
        for slot in &self.slots {
            let params = KdfParams {
                m_kib: slot.m_kib,
                t: slot.t,
                p: slot.p,
            };
            let kek = params.derive(passphrase, &unhex(&slot.salt, 32)?)?;
            let aead = XChaCha20Poly1305::new((&*kek).into());
            let nonce = unhex(&slot.nonce, 24)?;
            let opened = aead.decrypt(
                nonce.as_slice().into(),
                Payload {
                    msg: &unhex(&slot.wrapped, 48)?,
                    aad: &aad(&self.key_id, slot.id)?,
                },
            );
            if let Ok(bytes) = opened {
                let bytes = Zeroizing::new(bytes);
                let mut k = [0u8; 32];
                k.copy_from_slice(&bytes);
                let key = MasterKey::from_bytes(k);
                if key.id().to_string() != self.key_id {
                    return Err(Error::KeyFileDamaged(format!(
                        "slot {} holds a key whose id does not match the file",
                        slot.id
                    )));
                }
                return Ok((key, slot.id));
            }
        }
        Err(Error::WrongPassphrase {
            slots: self.slots.len(),
        })
    }

    /// Checks structure and every slot's check value.
    fn validate(&self) -> Result<()> {
        let damaged = |m: String| Err(Error::KeyFileDamaged(m));
        if self.format != FORMAT {
            return damaged(format!("format is {:?}, not {FORMAT:?}", self.format));
        }
        if self.version != 1 {
            return damaged(format!("unsupported key file version {}", self.version));
        }
        unhex(&self.key_id, 16)?;
        if self.slots.is_empty() {
            return damaged("no key slots".into());
        }
        for s in &self.slots {
            if s.kdf != "argon2id" {
                return damaged(format!("slot {}: unknown kdf {:?}", s.id, s.kdf));
            }
            let params = KdfParams {
                m_kib: s.m_kib,
                t: s.t,
                p: s.p,
            };
            if let Err(Error::KeyFileDamaged(m)) = params.check() {
                return damaged(format!("slot {}: {m}", s.id));
            }
            if hex(&slot_check(s)?) != s.check {
                return damaged(format!("slot {} fails its check value", s.id));
            }
        }
        Ok(())
    }

    /// Parses a key file.
    pub fn from_json(text: &str) -> Result<KeyFile> {
        let f: KeyFile =
            serde_json::from_str(text).map_err(|e| Error::KeyFileDamaged(e.to_string()))?;
        f.validate()?;
        Ok(f)
    }

    /// The key file as JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<KeyFile> {
        let text = std::fs::read_to_string(path)?;
        KeyFile::from_json(&text).map_err(|e| match e {
            Error::KeyFileDamaged(m) => Error::KeyFileDamaged(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Writes the key file atomically with mode 0600: a temp file with a
    /// random name created exclusively beside it (nothing planted there is
    /// followed or truncated), fsync, rename.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".lomob-key-")
            .tempfile_in(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        tmp.write_all(self.to_json().as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn aad(key_id: &str, slot: u32) -> Result<Vec<u8>> {
    let mut a = AAD_PREFIX.to_vec();
    a.extend_from_slice(&unhex(key_id, 16)?);
    a.extend_from_slice(&slot.to_be_bytes());
    Ok(a)
}

fn slot_check(s: &Slot) -> Result<[u8; 8]> {
    let mut h = blake3::Hasher::new();
    h.update(s.kdf.as_bytes());
    h.update(&s.m_kib.to_be_bytes());
    h.update(&s.t.to_be_bytes());
    h.update(&s.p.to_be_bytes());
    h.update(&unhex(&s.salt, 32)?);
    h.update(&unhex(&s.nonce, 24)?);
    h.update(&unhex(&s.wrapped, 48)?);
    let mut c = [0u8; 8];
    c.copy_from_slice(&h.finalize().as_bytes()[..8]);
    Ok(c)
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn unhex(s: &str, len: usize) -> Result<Vec<u8>> {
    let bad = || Error::KeyFileDamaged(format!("expected {len} bytes of hex, found {s:?}"));
    if s.len() != 2 * len {
        return Err(bad());
    }
    (0..len)
        .map(|i| {
            u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())
        })
        .collect()
}
