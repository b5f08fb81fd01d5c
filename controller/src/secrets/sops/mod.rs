//! SOPS decryption with age, compatible with files written by the real Go `sops`
//! (getsops/sops 3.x): dotenv, YAML, JSON, INI and binary stores, the MAC checked.
//!
//! ```no_run
//! use aegis::secrets::sops::{decrypt, Decrypted, Format, Identities};
//! let ids = Identities::from_env_and_file(None)?;
//! let bytes = std::fs::read("app.sops.env").unwrap();
//! if let Decrypted::Env(env) = decrypt(&bytes, Format::Dotenv, &ids)? {
//!     for (name, value) in env.vars() {
//!         // hand `value.expose()` to the container, never to a log
//!         let _ = (name, value);
//!     }
//! }
//! # Ok::<(), aegis::secrets::sops::SopsError>(())
//! ```
//!
//! The rules (which value is encrypted, the additional data of each value, the MAC) follow
//! `sops.go` (`Tree.Decrypt`, `walkBranch`, `shouldBeEncrypted`, `ToBytes`) and
//! `aes/cipher.go`; see `decrypt.rs` and `mac.rs`.

mod cipher;
mod data_key;
mod decrypt;
mod format_binary;
mod format_dotenv;
mod format_ini;
mod format_json;
mod format_yaml;
mod identity;
mod mac;
mod metadata;
pub mod tree;

use std::path::Path;

pub use cipher::seal as seal_for_tests;
pub use decrypt::{decrypt, decrypt_file, decrypt_named, Decrypted, Document, EnvFile, EnvLine};
pub use identity::Identities;
pub use tree::{Entry, ListItem, Node};

/// The sops store a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Dotenv,
    Yaml,
    Json,
    Ini,
    Binary,
}

impl Format {
    /// The format sops picks for a file name: `*.env` → dotenv, `*.yaml`/`*.yml`, `*.json`,
    /// `*.ini`, anything else binary.
    pub fn from_path(path: &Path) -> Format {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parse `dotenv|yaml|json|ini|binary` (sops's `--input-type` names).
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s.to_ascii_lowercase().as_str() {
            "dotenv" | "env" => Format::Dotenv,
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Dotenv => "dotenv",
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Ini => "INI",
            Format::Binary => "binary (JSON envelope)",
        }
    }
}

fn at(line: &Option<usize>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

/// Why a sops file could not be decrypted. Messages are for people: they name the file, the
/// line and the key, and never contain a secret value (nor a ciphertext or key material).
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error("cannot read `{file}`: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{file}`: {}not a valid {format} file: {reason}", at(.line))]
    Parse {
        file: String,
        format: &'static str,
        line: Option<usize>,
        reason: String,
    },
    #[error("`{file}` is not encrypted with sops (it has no `sops` metadata)")]
    NoMetadata { file: String },
    #[error("`{file}`: invalid sops metadata: {reason}")]
    Metadata { file: String, reason: String },
    #[error(
        "`{file}` has no age recipient ({others} key(s) of other kinds: pgp/kms/gcp_kms/azure_kv/hc_vault, which aegis does not use); re-encrypt it with an age recipient"
    )]
    NoAgeRecipient { file: String, others: usize },
    #[error("no age identity to decrypt `{file}` with (recipients: {recipients}); set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, or pass --age-key-file")]
    NoIdentities { file: String, recipients: String },
    #[error("no age identity matches any recipient of `{file}` (recipients: {recipients}; identities given: {identities}); set SOPS_AGE_KEY_FILE")]
    NoMatchingIdentity {
        file: String,
        recipients: String,
        identities: String,
    },
    #[error("`{file}`: only {have} of the {need} key groups needed (Shamir threshold) could be decrypted with the given age identities (recipients: {recipients})")]
    NotEnoughKeyGroups {
        file: String,
        have: usize,
        need: usize,
        recipients: String,
    },
    #[error("`{file}`: the data key cannot be recovered: {reason}")]
    DataKey { file: String, reason: &'static str },
    #[error("`{file}`: {}value of `{key}` does not decrypt (wrong key or tampered)", at(.line))]
    ValueDecrypt {
        file: String,
        line: Option<usize>,
        key: String,
    },
    #[error("`{file}`: {}value of `{key}` is malformed: {reason}", at(.line))]
    ValueMalformed {
        file: String,
        line: Option<usize>,
        key: String,
        reason: &'static str,
    },
    #[error("`{file}`: MAC mismatch — the file was changed after encryption (or is corrupt); re-encrypt it with sops")]
    MacMismatch { file: String },
    #[error("cannot write the decrypted tree as {format}: {reason}")]
    Emit { format: &'static str, reason: String },
    #[error("age identities in {origin}: {reason}")]
    Identity { origin: String, reason: String },
}
