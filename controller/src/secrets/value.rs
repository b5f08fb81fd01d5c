//! [`Secret`]: a decrypted value that never prints itself.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// A secret value (text or bytes). `Debug` and `Display` print `<redacted>`; there is no
/// `Serialize`; the bytes are zeroed when it is dropped. [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// A secret from text.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into().into_bytes()))
    }

    /// A secret from raw bytes (a binary file may hold anything).
    pub fn from_bytes(value: Vec<u8>) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The value's bytes. Keep the borrow short, and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as text, when it is UTF-8 (every dotenv, YAML, JSON and INI value is).
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new(String::new())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret::new(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A keyed digest of a secret value for spec hashes: lowercase hex HMAC-SHA256 of `value`
/// under `key`. Without the key the digest says nothing about the value (no dictionary
/// attack on short passwords), yet it changes whenever the value does.
pub fn digest(key: &[u8; 32], value: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(value);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", vec![("A", s.clone())]), "[(\"A\", <redacted>)]");
        assert_eq!(s.expose(), b"hunter2");
        assert_eq!(s.expose_str(), Some("hunter2"));
    }

    #[test]
    fn digest_is_keyed_hmac_sha256() {
        // Known value, computed independently: python hmac.new(bytes(range(32)), b"value", "sha256").
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let d = digest(&key, b"value");
        assert_eq!(
            d,
            "864b4c7a15be9448736988ee5390bcdd2944f1a49edd4773ee7269e663a299cf"
        );
        assert_ne!(d, digest(&[0u8; 32], b"value"));
        assert_ne!(d, digest(&key, b"value2"));
        assert!(!d.contains("value"));
    }
}
