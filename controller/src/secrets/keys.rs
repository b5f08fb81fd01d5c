//! Where this process's age identities come from, and the key for spec digests.
//!
//! The binaries call [`set_key_file`] once with `--age-key-file`; otherwise sops's own
//! variables apply (`SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`, then sops's default key file).
//! Identities are read only when a source actually holds an encrypted file.

use std::{path::PathBuf, sync::OnceLock};

use age::secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::sops::{Identities, SopsError};

static KEY_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Use `path` (the `--age-key-file` flag) in addition to sops's environment variables.
pub fn set_key_file(path: PathBuf) {
    let _ = KEY_FILE.set(path);
}

/// The identities to decrypt with.
pub fn identities() -> Result<Identities, SopsError> {
    Identities::from_env_and_file(KEY_FILE.get().map(PathBuf::as_path))
}

impl Identities {
    /// The HMAC key for spec digests of secret values: derived from the identities' secret
    /// keys, so it is stable across runs and machines holding the same keys (no recreate after
    /// a restart) and unknown to anyone who can only read container labels.
    pub fn digest_key(&self) -> [u8; 32] {
        let mut keys: Vec<String> = self
            .0
            .iter()
            .map(|i| i.to_string().expose_secret().to_string())
            .collect();
        keys.sort();
        let mut h = Sha256::new();
        h.update(b"aegis/spec-digest/v1\0");
        for k in &keys {
            h.update(k.as_bytes());
            h.update([0]);
        }
        h.finalize().into()
    }
}
