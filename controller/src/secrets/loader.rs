//! Decrypting the SOPS files a revision references, for the resolve stage.
//!
//! Identities are loaded on first use, so a source without encrypted files needs no key.
//! Every value comes back as a [`Secret`] with its keyed digest; errors name the file and the
//! key, never a value.

use std::{path::Path, sync::OnceLock};

use super::{
    sops::{self, Format, Identities},
    value::digest,
    Secret,
};
use crate::desired::EnvValue;

/// Decrypts for one revision; cheap to create.
#[derive(Default)]
pub struct SecretLoader {
    ids: OnceLock<Result<(Identities, [u8; 32]), String>>,
}

impl SecretLoader {
    fn keys(&self) -> Result<&(Identities, [u8; 32]), String> {
        self.ids
            .get_or_init(|| {
                let ids = super::keys::identities().map_err(|e| e.to_string())?;
                if ids.is_empty() {
                    return Err("no age identity is configured: set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY), or pass --age-key-file".into());
                }
                let key = ids.digest_key();
                Ok((ids, key))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A secret value with its digest, for specs.
    pub fn env_value(&self, value: Secret) -> Result<EnvValue, String> {
        let (_, key) = self.keys()?;
        let digest = digest(key, value.expose());
        Ok(EnvValue::Secret { value, digest })
    }

    /// Every variable of a SOPS dotenv file, as secret values. The caller reads the file
    /// (through the source root: see [`crate::source::root`]); `name` is how errors show it.
    pub fn env_file(&self, name: &Path, bytes: &[u8]) -> Result<Vec<(String, EnvValue)>, String> {
        let (ids, _) = self.keys()?;
        let decrypted = sops::decrypt_named(&name.display().to_string(), bytes, Format::Dotenv, ids)
            .map_err(|e| e.to_string())?;
        decrypted
            .env_pairs()
            .into_iter()
            .map(|(k, v)| Ok((k, self.env_value(v)?)))
            .collect()
    }

    /// The plaintext of a SOPS file of any format (told by `name`'s extension), as `sops -d`
    /// prints it (compose `secrets:`).
    pub fn file(&self, name: &Path, bytes: &[u8]) -> Result<(Secret, String), String> {
        let (ids, key) = self.keys()?;
        let format = Format::from_path(name);
        let decrypted = sops::decrypt_named(&name.display().to_string(), bytes, format, ids)
            .map_err(|e| e.to_string())?;
        let bytes = decrypted.to_plaintext(format).map_err(|e| e.to_string())?;
        let d = digest(key, &bytes);
        Ok((Secret::from_bytes(bytes), d))
    }
}

/// Whether a file's text is a SOPS-encrypted dotenv file (sops writes `sops_mac=` and
/// `sops_version=` lines into it).
pub fn is_sops_dotenv(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("sops_mac=")) && text.lines().any(|l| l.starts_with("sops_version="))
}
