//! age identities: `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`, `--age-key-file`, and sops's default
//! `$XDG_CONFIG_HOME/sops/age/keys.txt` (`~/.config/sops/age/keys.txt`).

use std::{path::Path, str::FromStr};

use super::SopsError;

/// A set of age X25519 identities (secret keys). `Debug` shows only the public recipients.
pub struct Identities(pub(crate) Vec<age::x25519::Identity>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Identities").field(&self.recipients()).finish()
    }
}

impl Identities {
    /// Parse an age key file: one `AGE-SECRET-KEY-1…` per line; blank lines and `#` comment
    /// lines are allowed. An error names the line, never its content.
    pub fn parse(text: &str) -> Result<Self, SopsError> {
        Self::parse_from(text, "the age key text")
    }

    fn parse_from(text: &str, source: &str) -> Result<Self, SopsError> {
        let mut ids = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match age::x25519::Identity::from_str(line) {
                Ok(id) => ids.push(id),
                Err(_) => {
                    return Err(SopsError::Identity {
                        origin: source.to_string(),
                        reason: format!(
                            "line {} is not an age identity (expected `AGE-SECRET-KEY-1…`)",
                            i + 1
                        ),
                    })
                }
            }
        }
        Ok(Identities(ids))
    }

    /// Identities from `file` (e.g. `--age-key-file`), `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`,
    /// and, when none of those is set, sops's default key file if it exists.
    pub fn from_env_and_file(file: Option<&Path>) -> Result<Self, SopsError> {
        let mut ids = Vec::new();
        let mut any_source = false;
        let read = |p: &Path, ids: &mut Vec<_>| -> Result<(), SopsError> {
            let text = std::fs::read_to_string(p).map_err(|e| SopsError::Identity {
                origin: p.display().to_string(),
                reason: format!("cannot read it: {e}"),
            })?;
            ids.extend(Self::parse_from(&text, &p.display().to_string())?.0);
            Ok(())
        };
        if let Some(p) = file {
            any_source = true;
            read(p, &mut ids)?;
        }
        if let Some(p) = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()) {
            any_source = true;
            read(Path::new(&p), &mut ids)?;
        }
        if let Ok(k) = std::env::var("SOPS_AGE_KEY") {
            if !k.trim().is_empty() {
                any_source = true;
                ids.extend(Self::parse_from(&k, "SOPS_AGE_KEY")?.0);
            }
        }
        if !any_source {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")));
            if let Some(default) = base.map(|b| b.join("sops/age/keys.txt")) {
                if default.is_file() {
                    read(&default, &mut ids)?;
                }
            }
        }
        Ok(Identities(ids))
    }

    /// The public recipients (`age1…`) of these identities.
    pub fn recipients(&self) -> Vec<String> {
        self.0.iter().map(|i| i.to_public().to_string()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}
