//! The per-attempt confirm token.
//!
//! The token is `HMAC-SHA256(key, "aegis-rollback-confirm" || attempt id)`. Only its SHA-256
//! goes into the watchdog's labels, so whoever can read labels cannot confirm. Deriving it
//! from a key (instead of keeping a random token in memory) is what lets a controller that
//! restarted mid-attempt confirm the attempt it started: the key is kept in the state
//! directory ([`ConfirmKey::load_or_create`]). A one-shot `aegis apply` uses a key that dies
//! with the process: if it dies mid-attempt, the watchdog rolls back, as it should.

use std::{io::Read, path::Path};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secrets::Secret;

/// The controller's secret for confirm tokens.
#[derive(Clone)]
pub struct ConfirmKey(Secret);

impl std::fmt::Debug for ConfirmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfirmKey(<redacted>)")
    }
}

impl ConfirmKey {
    /// A fresh random key.
    pub fn generate() -> std::io::Result<Self> {
        Ok(ConfirmKey(Secret::from_bytes(random_bytes(32)?)))
    }

    /// The key in `path`, created (mode 0600) with a fresh random key if missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() >= 32 => return Ok(ConfirmKey(Secret::from_bytes(bytes))),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} holds fewer than 32 bytes; remove it and aegis makes a new one (pending rollback attempts then roll back)",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let key = random_bytes(32)?;
        use std::{fs::OpenOptions, io::Write, os::unix::fs::OpenOptionsExt};
        let tmp = path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(ConfirmKey(Secret::from_bytes(key)))
    }

    /// The token of one attempt (64 hex characters).
    pub fn token(&self, attempt: &str) -> Secret {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose()).expect("HMAC takes any key length");
        mac.update(b"aegis-rollback-confirm\0");
        mac.update(attempt.as_bytes());
        Secret::new(hex::encode(mac.finalize().into_bytes()))
    }
}

/// Hex SHA-256 of a token: what the watchdog's label holds and what it compares against.
pub fn token_sha256(token: &[u8]) -> String {
    hex::encode(Sha256::digest(token))
}

/// A new attempt id: 16 random hex characters.
pub fn new_attempt_id() -> std::io::Result<String> {
    Ok(hex::encode(random_bytes(8)?))
}

fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_attempt_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollback.key");
        let k1 = ConfirmKey::load_or_create(&path).unwrap();
        let k2 = ConfirmKey::load_or_create(&path).unwrap();
        assert_eq!(
            k1.token("a").expose(),
            k2.token("a").expose(),
            "same key after a restart"
        );
        assert_ne!(k1.token("a").expose(), k1.token("b").expose());
        assert_ne!(
            k1.token("a").expose(),
            ConfirmKey::generate().unwrap().token("a").expose()
        );
        assert_eq!(k1.token("a").len(), 64);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(format!("{k1:?}").contains("redacted"));
        assert_eq!(new_attempt_id().unwrap().len(), 16);
    }
}
