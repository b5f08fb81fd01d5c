//! The sops MAC (Go `Tree.Decrypt` + `cmd/sops/decrypt.go`).
//!
//! * SHA-512 over `ToBytes(value)` of every leaf in document order, *after* decryption:
//!   strings as they are, `int` via `strconv.Itoa`, `float64` via `FormatFloat(f, 'f', -1, 64)`,
//!   booleans as `True`/`False`, bytes raw. Comments and nulls are skipped. Map keys are not
//!   hashed (their order only matters through the values' order).
//! * With `mac_only_encrypted: true` the hash starts with a fixed 32-byte prefix
//!   (`MACOnlyEncryptedInitialization`, sha256("sops")) and only values that are encrypted
//!   are hashed.
//! * The digest, upper-case hex (`fmt.Sprintf("%X")`), is compared with the `mac` value,
//!   which is itself an `ENC[…]` string encrypted with the data key and the additional data
//!   `lastmodified` formatted as RFC 3339.

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use super::{cipher, metadata::rfc3339_normalized};

/// Go `sops.MACOnlyEncryptedInitialization`.
pub(crate) const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b,
    0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

pub(crate) struct MacHasher {
    hash: Sha512,
    only_encrypted: bool,
}

impl MacHasher {
    pub fn new(only_encrypted: bool) -> Self {
        let mut hash = Sha512::new();
        if only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        MacHasher { hash, only_encrypted }
    }

    /// Add one leaf (already decrypted) that was or was not encrypted.
    pub fn add(&mut self, bytes: &[u8], encrypted: bool) {
        if !self.only_encrypted || encrypted {
            self.hash.update(bytes);
        }
    }

    pub fn finish_hex_upper(self) -> String {
        hex::encode_upper(self.hash.finalize())
    }
}

/// Decrypt the stored MAC and compare it with `computed` in constant time.
pub(crate) fn verify(key: &[u8; 32], mac: &str, lastmodified: &str, computed: &str) -> bool {
    let Ok(enc) = cipher::parse(mac.as_bytes()) else {
        return false;
    };
    let Ok(stored) = cipher::open(key, &enc, rfc3339_normalized(lastmodified).as_bytes()) else {
        return false;
    };
    stored.len() == computed.len() && bool::from(stored.as_slice().ct_eq(computed.as_bytes()))
}
