//! The master key and its public id.

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use secrecy::{ExposeSecret, SecretBox};

/// Context strings for BLAKE3 `derive_key` (FORMAT.md).
pub(crate) const CTX_KEY_ID: &str = "lomob 2026-11 key id v1";

/// A 256-bit master key. Its bytes are zeroized on drop and never printed.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl MasterKey {
    /// A fresh random key from the OS.
    pub fn generate() -> MasterKey {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        MasterKey::from_bytes(k)
    }

    /// A key from its 32 bytes (e.g. unwrapped from a key file).
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(SecretBox::new(Box::new(bytes)))
    }

    /// The key's public id (FORMAT.md section 1).
    pub fn id(&self) -> KeyId {
        let d = blake3::derive_key(CTX_KEY_ID, self.expose());
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        KeyId(id)
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        MasterKey::from_bytes(*self.expose())
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", self.id())
    }
}

/// A master key's public 16-byte id, printed as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 16]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Random bytes from the OS.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_stable_and_debug_hides_the_key() {
        let k = MasterKey::from_bytes([7; 32]);
        assert_eq!(k.id(), k.clone().id());
        assert_ne!(k.id(), MasterKey::from_bytes([8; 32]).id());
        let dbg = format!("{k:?}");
        assert!(dbg.starts_with("MasterKey(id ") && !dbg.contains("7, 7"));
        assert_ne!(
            MasterKey::generate().expose(),
            MasterKey::generate().expose()
        );
    }
}
