//! Secrets: SOPS+age decryption and the [`Secret`] wrapper that keeps plaintext out of logs,
//! traces, status, diffs, events and errors (M6).
//!
//! Decrypted values only ever live inside [`Secret`]: its `Debug` and `Display` print
//! `<redacted>`, it has no `Serialize`, and its memory is zeroed on drop. A spec hash that must
//! change when a secret changes takes [`value::digest`] (a keyed HMAC-SHA256), never the value.

pub mod keys;
pub mod loader;
pub mod sops;
pub mod value;

pub use loader::SecretLoader;
pub use value::{digest, Secret};
